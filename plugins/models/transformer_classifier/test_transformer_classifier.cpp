// models/transformer_classifier through the real loader: FLOPs by hand, padding does not change
// the logits for every pooling and mask, finite-difference gradients, the body's parameter
// names and shapes equal transformer_lm's (what init_from relies on), the class count from the
// data's labels, and errors for texts longer than learned positions reach.
#define BOOST_TEST_MODULE transformer_classifier
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/random.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::contracts::classification_batch;

namespace {

loom::Registry& registry() { return loom::testing::contracts::build_tree_registry(); }

constexpr std::int64_t kVocab = loom::testing::contracts::ClassifierEnv::kVocab;

struct Classifier : loom::testing::contracts::ClassifierEnv {
  explicit Classifier(const std::string& yaml, int labels = 3, std::uint64_t seed = 1)
      : ClassifierEnv(registry(), "transformer_classifier", yaml, labels, seed) {}
};

// GELU: a central difference across ReLU's kink is not the derivative.
const std::string kTiny = "d_model: 4, heads: 2, layers: 2, d_ff: 6, dropout: 0, layer_dropout: 0, activation: gelu";

const std::vector<std::string> kConfigs = {
    "{" + kTiny + "}",                                         // wlm: encoder, mean pooling
    "{" + kTiny + ", pooling: first}",                         // encoder, position 0
    "{" + kTiny + ", pooling: last}",                          // encoder, the last real token
    "{style: gpt, " + kTiny + ", block_size: 8}",              // causal, last
    "{style: gpt, " + kTiny + ", block_size: 8, pooling: mean}",
    "{style: gpt, " + kTiny + ", block_size: 8, causal: false, pooling: first}",
};

}  // namespace

// One layer, D 4, one head, F 6, 3 classes, texts padded to T 3: the layer's
// 6 T D^2 + 2 T^2 D + 3 H T^2 + 2 T^2 D + 2 T D^2 = 288 + 72 + 27 + 72 + 96 = 555, the
// feed-forward's 4 T D F = 288, the head's 2 D C = 24: 867 per text.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  Classifier c("{d_model: 4, heads: 1, layers: 1, d_ff: 6}");
  const auto& f = dynamic_cast<const loom::CountsFlops&>(*c.model);
  const auto batch = classification_batch({{1, 2, 3}, {4}});
  BOOST_TEST(f.forward_flops(batch) == 2 * 867.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.flops_per_token(3) == 867.0 / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.non_embedding_parameters() == c.model->parameters().count() - kVocab * 4);
  Classifier gpt("{style: gpt, d_model: 4, heads: 1, layers: 1, d_ff: 6, block_size: 5}");
  BOOST_TEST(dynamic_cast<const loom::CountsFlops&>(*gpt.model).non_embedding_parameters() ==
             gpt.model->parameters().count() - kVocab * 4 - 5 * 4);
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
          const float a = together.predictions.data()[j * 3 + k], b = alone.predictions.data()[k];
          BOOST_TEST(std::abs(a - b) <= 1e-6f + 1e-4f * std::abs(b), a << " in the batch, " << b << " alone");
        }
      }
    }
  }
}

// Pooling chooses different positions: the three poolings of one encoder differ on a text of
// several tokens, and on a one-token text first and last are the same position.
BOOST_AUTO_TEST_CASE(poolings_read_different_positions) {
  std::map<std::string, std::vector<float>> logits;
  for (const std::string pooling : {"first", "mean", "last"}) {
    Classifier c("{" + kTiny + ", pooling: " + pooling + "}");
    loom::Graph g(loom::Mode::kEval);
    const auto out = c.model->forward(g, classification_batch({{1, 2, 3, 4}, {5}}));
    logits[pooling].assign(out.predictions.data(), out.predictions.data() + 6);
  }
  for (int k = 0; k < 3; ++k) {
    BOOST_TEST(logits["first"][k] != logits["last"][k]);
    BOOST_TEST(logits["first"][k] != logits["mean"][k]);
    BOOST_TEST(logits["first"][3 + k] == logits["last"][3 + k]);  // one token: the same state
    BOOST_TEST(logits["mean"][3 + k] == logits["last"][3 + k], boost::test_tools::tolerance(1e-6f));
  }
}

// Under a causal mask position 0 sees only the first token: `first` pooling of two texts that
// share their first token gives the same logits, whatever follows; an encoder's does not.
BOOST_AUTO_TEST_CASE(causal_mask_hides_later_tokens) {
  const auto batch = classification_batch({{2, 5, 6}, {2, 7, 1, 8}});
  for (const std::string causal : {"true", "false"}) {
    Classifier c("{" + kTiny + ", causal: " + causal + ", pooling: first}");
    loom::Graph g(loom::Mode::kEval);
    const float* p = c.model->forward(g, batch).predictions.data();
    for (int k = 0; k < 3; ++k) {
      if (causal == "true") BOOST_TEST(p[k] == p[3 + k], boost::test_tools::tolerance(1e-6f));
      else BOOST_TEST(std::abs(p[k] - p[3 + k]) > 1e-6f);
    }
  }
}

// Weights in [-0.5, 0.5], as in transformer_lm's check: gpt's N(0, 0.02) makes a step of 1e-2
// as large as the residual stream, far outside the linear range of the final layer norm.
BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const loom::Batch batch = classification_batch({{1, 2, 3, 4}, {7, 8}, {3}});
  for (const auto& yaml : kConfigs) {
    BOOST_TEST_CONTEXT(yaml) {
      Classifier c(yaml);
      loom::Tensor& values = c.model->parameters().values();
      for (std::int64_t i = 0; i < values.numel(); ++i)
        values.data()[i] = 0.5f * (2.0f * loom::random_uniform(17, static_cast<std::uint64_t>(i)) - 1.0f);
      auto r = loom::testing::check_model_gradients(*c.model, batch);
      BOOST_TEST(r.checked >= 6 * 10);
      BOOST_TEST(r.largest > 0.05, "the largest gradient is " << r.largest);
      BOOST_TEST(r.ok(2e-2), "worst error " << r.worst_error << " at " << r.worst_at);
    }
  }
}

// The body's parameters are transformer_lm's, name for name and shape for shape; only the
// output layers differ (decoder.* there, head.* here).
BOOST_AUTO_TEST_CASE(body_names_and_shapes_are_the_language_models) {
  for (const std::string style : {"wlm", "gpt"}) {
    const std::string knobs = "style: " + style + ", d_model: 8, heads: 2, layers: 2, block_size: 16";
    Classifier c("{" + knobs + "}", 4);
    loom::testing::Env lm_env(registry(), 1);
    lm_env.set_vocab("vocab", loom::testing::numbered_vocab(kVocab));
    lm_env.add("model", "transformer_lm", "{" + knobs + "}");
    std::map<std::string, std::string> lm, cls;
    for (const auto& p : lm_env.get<loom::Model>("model").parameters())
      if (p.name.rfind("decoder.", 0) != 0) lm[p.name] = p.shape.str();
    for (const auto& p : c.model->parameters())
      if (p.name.rfind("head.", 0) != 0) cls[p.name] = p.shape.str();
    BOOST_TEST(lm.size() >= 14u);
    BOOST_TEST(cls == lm, style);
    BOOST_TEST(c.model->parameters().find("head.weight")->shape.str() == loom::Shape({4, 8}).str());  // 4 labels
    BOOST_TEST(c.model->parameters().find("head.bias")->shape.str() == loom::Shape({4}).str());
  }
}

BOOST_AUTO_TEST_CASE(errors_name_the_setting_or_the_text) {
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{pooling: max}"); }, "pooling");
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{d_model: 6, heads: 4}"); }, "not divisible");
  loom::testing::expect_error<loom::ConfigError>([] { Classifier("{positions: learned}"); }, "block_size");
  Classifier c("{style: gpt, " + kTiny + ", block_size: 4}");
  loom::Graph g(loom::Mode::kEval);
  loom::testing::expect_error<loom::InputError>(
      [&] { c.model->forward(g, classification_batch({{1, 2, 3, 4, 5}})); }, {"a batch padded to a length of 5 positions is longer than block_size 4", "max_length"});
}
