// models/bow_classifier through the real loader: the model contract (gradients by finite
// differences, save and load), padding and word order do not change the logits, the class
// count comes from the data's labels, and a few steps of Adam fit labels that the bag of
// words decides but can never separate two orders of the same words.
#define BOOST_TEST_MODULE bow_classifier
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::contracts::classification_batch;

namespace {

namespace c = loom::testing::contracts;

loom::Registry& registry() { return loom::testing::contracts::build_tree_registry(); }

constexpr std::int64_t kVocab = loom::testing::contracts::ClassifierEnv::kVocab;

// The model over a 9-token vocabulary and a data set with `labels` labels.
struct Classifier : loom::testing::contracts::ClassifierEnv {
  explicit Classifier(const std::string& yaml, int labels = 3, std::uint64_t seed = 1)
      : ClassifierEnv(registry(), "bow_classifier", yaml, labels, seed) {}
};

std::vector<float> logits_of(loom::Model& model, const loom::Batch& batch) {
  loom::Graph g(loom::Mode::kEval);
  const loom::Tensor p = model.forward(g, batch).predictions;
  return std::vector<float>(p.data(), p.data() + p.numel());
}

// Equal up to float rounding: the order of a sum changes only its last bits.
void check_close(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  BOOST_REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k)
    BOOST_TEST(std::abs(a[k] - b[k]) <= 1e-6f + 1e-5f * std::abs(b[k]), what << " [" << k << "]: " << a[k] << " and " << b[k]);
}

const std::vector<std::string> kConfigs = {"{emsize: 4}", "{emsize: 7}", "{emsize: 1}"};

}  // namespace

BOOST_AUTO_TEST_CASE(model_contract_gradients_and_save_load) {
  const loom::Batch batch = classification_batch({{1, 2, 3, 4}, {7, 8}, {3}, {5, 5, 6}});
  for (const auto& yaml : kConfigs) {
    BOOST_TEST_CONTEXT(yaml) {
      Classifier a(yaml), b(yaml, 3, 2);
      auto r = loom::testing::check_model_gradients(*a.model, batch);
      BOOST_TEST(r.ok(2e-2), "worst error " << r.worst_error << " at " << r.worst_at);
      const c::Failures gradients = c::model_gradients(*a.model, batch);
      BOOST_TEST(gradients.empty(), c::join(gradients));
      const c::Failures save_load = c::model_save_load(*a.model, batch, a.tmp / "model.bin", b.model);
      BOOST_TEST(save_load.empty(), c::join(save_load));
    }
  }
}

// FLOPs by hand: the mean is additions; the output layer E 4 x 3 classes costs 2 * 4 * 3 = 24
// per text, whatever its length.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  Classifier c("{emsize: 4}");
  const auto& f = dynamic_cast<const loom::CountsFlops&>(*c.model);
  BOOST_TEST(f.forward_flops(classification_batch({{1, 2, 3, 4, 5, 6}, {7, 8}, {3}})) == 3 * 24.0,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.flops_per_token(6) == 4.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.non_embedding_parameters() == 4 * 3 + 3);
}

BOOST_AUTO_TEST_CASE(padding_does_not_change_the_logits) {
  const std::vector<std::vector<std::int32_t>> seqs = {{1, 2, 3, 4, 5, 6}, {7, 8}, {3}, {5, 1, 2, 8}};
  for (const auto& yaml : kConfigs) {
    BOOST_TEST_CONTEXT(yaml) {
      Classifier c(yaml);
      const std::vector<float> together = logits_of(*c.model, classification_batch(seqs));
      BOOST_REQUIRE(together.size() == seqs.size() * 3);
      for (std::size_t j = 0; j < seqs.size(); ++j) {
        const std::vector<float> alone = logits_of(*c.model, classification_batch({seqs[j]}));
        check_close({together.begin() + static_cast<std::ptrdiff_t>(3 * j), together.begin() + static_cast<std::ptrdiff_t>(3 * j + 3)},
                    alone, "sequence " + std::to_string(j));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(word_order_does_not_change_the_logits) {
  const std::vector<std::int32_t> text = {1, 2, 3, 4, 5, 6, 2, 8};
  for (const auto& yaml : kConfigs) {
    BOOST_TEST_CONTEXT(yaml) {
      Classifier c(yaml);
      const std::vector<float> original = logits_of(*c.model, classification_batch({text}));
      std::vector<std::int32_t> permuted = text;
      std::reverse(permuted.begin(), permuted.end());
      check_close(logits_of(*c.model, classification_batch({permuted})), original, "reversed");
      for (int k = 0; k < 5; ++k) {
        std::next_permutation(permuted.begin(), permuted.end());
        check_close(logits_of(*c.model, classification_batch({permuted})), original, "permutation " + std::to_string(k));
      }
      // Another bag of the same length does change them: the check above can fail.
      std::vector<std::int32_t> other = text;
      other[0] = 7;
      const std::vector<float> changed = logits_of(*c.model, classification_batch({other}));
      BOOST_TEST((changed != original));
    }
  }
}

// Adam on one batch: labels decided by the bag ({1, 4} vs {2, 4}) are learnt; labels decided
// only by the order ({1, 2, 3} vs {3, 2, 1}) stay at chance, a loss of log 2 for that pair.
BOOST_AUTO_TEST_CASE(learns_bags_but_not_order) {
  Classifier c("{emsize: 8}", 2);
  c.env.add("adam", "adam", "{lr: 0.05}");
  auto& adam = c.env.get<loom::Optimizer>("adam");
  const loom::Batch bags = classification_batch({{1, 4}, {2, 4}, {4, 1, 1}, {2, 2, 4}}, {0, 1, 0, 1});
  const loom::Batch orders = classification_batch({{1, 2, 3}, {3, 2, 1}}, {0, 1});
  auto& params = c.model->parameters();
  for (int step = 0; step < 200; ++step) {
    for (const loom::Batch* batch : {&bags, &orders}) {
      loom::Graph g(loom::Mode::kTrain, static_cast<std::uint64_t>(step));
      g.backward(c.model->forward(g, *batch).loss);
    }
    adam.step(params);
    params.zero_grad();
  }
  loom::Graph g(loom::Mode::kEval);
  const double bag_loss = c.model->forward(g, bags).loss.value().item();
  loom::Graph g2(loom::Mode::kEval);
  const loom::ModelOutput order = c.model->forward(g2, orders);
  BOOST_TEST(bag_loss < 0.05, "loss on the bag-decided batch " << bag_loss);
  // The two orders get the same logits, so their mean loss is log 2 at best.
  const float* logits = order.predictions.data();
  check_close({logits[0], logits[1]}, {logits[2], logits[3]}, "{1, 2, 3} and {3, 2, 1}");
  BOOST_TEST(order.loss.value().item() >= std::log(2.0) - 1e-5, "loss on the order-decided batch " << order.loss.value().item());
}

BOOST_AUTO_TEST_CASE(names_shapes_classes_and_bad_parameters) {
  Classifier c("{emsize: 4}");
  auto& p = c.model->parameters();
  BOOST_REQUIRE(p.find("embedding.weight") != nullptr);
  BOOST_TEST(p.find("embedding.weight")->shape.str() == loom::Shape({kVocab, 4}).str());
  BOOST_TEST(p.find("fc.weight")->shape.str() == loom::Shape({3, 4}).str());  // 3 labels in the data
  BOOST_TEST(p.find("fc.bias")->shape.str() == loom::Shape({3}).str());
  BOOST_TEST(p.count() == static_cast<std::int64_t>(kVocab * 4 + 3 * 4 + 3));
  BOOST_TEST(Classifier("{emsize: 4}", 5).model->parameters().find("fc.weight")->shape.str() == loom::Shape({5, 4}).str());
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{dropout: 1}"); }, "dropout");
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{emsize: 0}"); }, "emsize");
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{pooling: max}"); }, "pooling");
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{emsize: 4}", 1); }, "1 label");
}
