// models/rnn_classifier through the real loader: padding does not change the logits (a
// sequence alone and padded inside a batch), finite-difference gradients for every cell,
// direction and pooling, PyTorch's parameter names and shapes, and the class count from the
// data's labels.
#define BOOST_TEST_MODULE rnn_classifier
#include <boost/test/unit_test.hpp>

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

loom::Registry& registry() { return loom::testing::contracts::build_tree_registry(); }

constexpr std::int64_t kVocab = loom::testing::contracts::ClassifierEnv::kVocab;

// The model over a 9-token vocabulary and a data set with `labels` labels.
struct Classifier : loom::testing::contracts::ClassifierEnv {
  explicit Classifier(const std::string& yaml, int labels = 3, std::uint64_t seed = 1)
      : ClassifierEnv(registry(), "rnn_classifier", yaml, labels, seed) {}
};

const std::vector<std::string> kConfigs = {
    "{cell: lstm, emsize: 4, nhid: 5}",
    "{cell: gru, emsize: 4, nhid: 5, pooling: mean}",
    "{cell: lstm, emsize: 4, nhid: 3, nlayers: 2, bidirectional: true}",
    "{cell: gru, emsize: 3, nhid: 4, nlayers: 2, bidirectional: true, pooling: max}",
    "{cell: lstm, emsize: 3, nhid: 4, bidirectional: true, pooling: mean}",
};

}  // namespace

// FLOPs by hand: E 4, H 5, 3 classes, 9-token vocabulary. LSTM: a step 2 * 20 * (4 + 5) =
// 360, the output layer 2 * 5 * 3 = 30; two texts padded to 6 steps: 2 * (6 * 360 + 30).
// Bidirectional, 2 layers of 3: layer 0 two directions of 2 * 12 * (4 + 3) = 168, layer 1
// two of 2 * 12 * (6 + 3) = 216, so 768 a step; the output layer 2 * 6 * 3 = 36.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  const auto batch = classification_batch({{1, 2, 3, 4, 5, 6}, {7, 8}});
  Classifier one("{cell: lstm, emsize: 4, nhid: 5}");
  const auto& f = dynamic_cast<const loom::CountsFlops&>(*one.model);
  BOOST_TEST(f.forward_flops(batch) == 2 * (6 * 360.0 + 30), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.non_embedding_parameters() == one.model->parameters().count() - kVocab * 4);
  Classifier two("{cell: lstm, emsize: 4, nhid: 3, nlayers: 2, bidirectional: true}");
  BOOST_TEST(dynamic_cast<const loom::CountsFlops&>(*two.model).forward_flops(batch) == 2 * (6 * 768.0 + 36),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(padding_does_not_change_the_logits) {
  const std::vector<std::vector<std::int32_t>> seqs = {{1, 2, 3, 4, 5, 6}, {7, 8}, {3}, {5, 1, 2, 8}};
  for (const auto& yaml : kConfigs) {
    BOOST_TEST_CONTEXT(yaml) {
      Classifier c(yaml);
      loom::Graph g(loom::Mode::kEval);
      loom::ModelOutput together = c.model->forward(g, classification_batch(seqs));
      BOOST_REQUIRE(together.predictions.shape().str() == loom::Shape({4, 3}).str());
      for (std::size_t j = 0; j < seqs.size(); ++j) {
        loom::Graph g1(loom::Mode::kEval);
        loom::ModelOutput alone = c.model->forward(g1, classification_batch({seqs[j]}));
        for (int k = 0; k < 3; ++k) {
          // Equal up to float rounding: batch width changes only the order of GEMM sums.
          const float a = together.predictions.data()[j * 3 + k], b = alone.predictions.data()[k];
          BOOST_TEST(std::abs(a - b) <= 1e-6f + 1e-4f * std::abs(b), a << " in the batch, " << b << " alone");
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const loom::Batch batch = classification_batch({{1, 2, 3, 4}, {7, 8}, {3}});
  for (const auto& yaml : kConfigs) {
    BOOST_TEST_CONTEXT(yaml) {
      Classifier c(yaml);
      auto r = loom::testing::check_model_gradients(*c.model, batch);
      BOOST_TEST(r.ok(2e-2), "worst error " << r.worst_error << " at " << r.worst_at);
    }
  }
}

BOOST_AUTO_TEST_CASE(names_shapes_and_classes) {
  Classifier c("{cell: lstm, emsize: 4, nhid: 5, nlayers: 2, bidirectional: true}");
  auto& p = c.model->parameters();
  BOOST_REQUIRE(p.find("rnn.weight_ih_l0") != nullptr);
  BOOST_TEST(p.find("rnn.weight_ih_l0")->shape.str() == loom::Shape({20, 4}).str());
  BOOST_TEST(p.find("rnn.weight_ih_l1_reverse")->shape.str() == loom::Shape({20, 10}).str());  // both directions in
  BOOST_TEST(p.find("rnn.weight_hh_l1")->shape.str() == loom::Shape({20, 5}).str());
  BOOST_TEST(p.find("fc.weight")->shape.str() == loom::Shape({3, 10}).str());  // 3 labels in the data
  BOOST_TEST(p.find("embedding.weight")->shape.str() == loom::Shape({kVocab, 4}).str());
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{pooling: first}"); }, "pooling");
}
