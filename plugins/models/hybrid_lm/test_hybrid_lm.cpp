// models/hybrid_lm through the real loader: gradients, the carried RNN state, checkpoints,
// and next-token log-probabilities that see the windows training sees.
#define BOOST_TEST_MODULE hybrid_lm
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/random.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::expect_error;

namespace {

namespace contracts = loom::testing::contracts;
using loom::Mode;
namespace tt = boost::test_tools;

constexpr std::int64_t kVocabSize = 7;

loom::Vocab small_vocab() { return loom::testing::numbered_vocab(kVocabSize); }

// A stream of 8 steps over 2 columns, cut into windows of `T` rows.
loom::Batch window(std::int64_t begin, std::int64_t T) {
  static const std::int32_t stream[9][2] = {{2, 3}, {4, 5}, {6, 1}, {1, 2}, {3, 6}, {5, 4}, {2, 2}, {6, 3}, {4, 1}};
  loom::Batch b;
  b.tensors["ids"] = loom::Tensor::empty(loom::Shape{T, 2}, loom::DType::kInt32);
  b.tensors["targets"] = loom::Tensor::empty(loom::Shape{T, 2}, loom::DType::kInt32);
  for (std::int64_t t = 0; t < T; ++t)
    for (int c = 0; c < 2; ++c) {
      b.tensors["ids"].ids()[t * 2 + c] = stream[begin + t][c];
      b.tensors["targets"].ids()[t * 2 + c] = stream[begin + t + 1][c];
    }
  b.target_tokens = T * 2;
  return b;
}

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

struct Lm {
  Lm(const loom::Registry& registry, const std::string& yaml, std::uint64_t seed = 1) : env(registry, seed) {
    env.set_vocab("vocab", small_vocab());
    env.add("model", "hybrid_lm", yaml);
    model = &env.get<loom::Model>("model");
  }
  void reset() { dynamic_cast<loom::Stateful&>(*model).reset_state(); }
  loom::LanguageModel& lm() { return dynamic_cast<loom::LanguageModel&>(*model); }
  double loss(const loom::Batch& batch, Mode mode = Mode::kEval) {
    graph = std::make_unique<loom::Graph>(mode, 3);
    return model->forward(*graph, batch).loss.value().item();
  }
  loom::testing::Env env;
  loom::Model* model;
  std::unique_ptr<loom::Graph> graph;
};

const std::string kTiny = "emsize: 4, nhid: 4, heads: 2, d_ff: 6, dropout: 0, layer_dropout: 0";

double nll_of(const loom::Tensor& lp, const loom::Tensor& targets) {
  double nll = 0.0;
  for (std::int64_t r = 0; r < targets.numel(); ++r) nll -= lp.data()[r * lp.dim(1) + targets.ids()[r]];
  return nll;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(hybrid_lm, Loaded)

// GELU and smooth cells only: a central difference across a ReLU kink is not a derivative.
BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const std::string extra : {"cell: lstm, norm: pre", "cell: gru, norm: post, layers: 2", "cell: lstm, norm: none, positions: sinusoidal, tie_weights: true"}) {
    const std::string yaml = "{" + extra + ", " + kTiny + "}";
    BOOST_TEST_CONTEXT(yaml) {
      Lm lm(registry, yaml);
      loom::Tensor& values = lm.model->parameters().values();
      for (std::int64_t i = 0; i < values.numel(); ++i)
        values.data()[i] = 0.5f * (2.0f * loom::random_uniform(23, static_cast<std::uint64_t>(i)) - 1.0f);
      loom::testing::GradCheck r = loom::testing::check_model_gradients(*lm.model, window(0, 4), 6, 1e-2);
      BOOST_TEST(r.largest > 0.05, "the largest gradient is " << r.largest);
      BOOST_TEST(r.ok(2e-2), "worst error " << r.worst_error << " at " << r.worst_at);
    }
  }
}

// The RNN state carries from one window to the next (the second window's loss depends on the
// first), and reset_state forgets it.
BOOST_AUTO_TEST_CASE(state_is_carried_between_windows) {
  Lm lm(registry, "{" + kTiny + "}");
  lm.reset();
  lm.loss(window(0, 4));
  const double carried = lm.loss(window(4, 4));
  lm.reset();
  const double fresh = lm.loss(window(4, 4));
  BOOST_TEST(carried != fresh);
  lm.reset();
  lm.loss(window(0, 4));
  BOOST_TEST(lm.loss(window(4, 4)) == carried);
}

// Scoring with context 4 sees the windows [0, 4) and [4, 8) that training with bptt 4 sees:
// the log-probabilities of 8 tokens fed at once, or one at a time, give the loss of the two
// windows in turn.
BOOST_AUTO_TEST_CASE(next_log_probs_see_the_training_windows) {
  Lm lm(registry, "{context: 4, layers: 2, " + kTiny + "}");
  lm.reset();
  const double expected = 4 * 2 * (lm.loss(window(0, 4)) + lm.loss(window(4, 4)));
  const loom::Batch all = window(0, 8);
  lm.reset();
  loom::Graph g(Mode::kEval);
  loom::Tensor whole = lm.lm().next_log_probs(g, all.get("ids")).clone();
  BOOST_TEST(nll_of(whole, all.get("targets")) == expected, tt::tolerance(1e-5));
  lm.reset();
  for (std::int64_t t = 0; t < 8; ++t) {
    loom::Tensor step = loom::Tensor::from_ids(loom::Shape{1, 2}, {all.get("ids").ids()[2 * t], all.get("ids").ids()[2 * t + 1]});
    loom::Graph gs(Mode::kEval);
    loom::Tensor lp = lm.lm().next_log_probs(gs, step);
    for (std::int64_t v = 0; v < 2 * kVocabSize; ++v)
      BOOST_TEST(lp.data()[v] == whole.data()[t * 2 * kVocabSize + v], tt::tolerance(1e-4f));
  }
}

BOOST_AUTO_TEST_CASE(save_load_round_trip) {
  contracts::TempDir dir;
  Lm a(registry, "{" + kTiny + "}", 1), b(registry, "{" + kTiny + "}", 2);
  auto failures = contracts::model_save_load(*a.model, window(0, 4), dir / "hybrid.bin", b.model);
  BOOST_TEST(failures.empty(), contracts::join(failures));
}

// V 7, E 4, H 4, LSTM of one layer (4*4*4 + 4*4*4 + 2*16 = 160), one pre-norm layer (in_proj
// 48 + 12, out_proj 16 + 4, linear1 24 + 6, linear2 24 + 4, norms 16), final norm 8, decoder 28 + 7.
BOOST_AUTO_TEST_CASE(parameter_count_by_hand) {
  Lm lm(registry, "{" + kTiny + "}");
  BOOST_TEST(lm.model->parameters().count() == 28 + 160 + 154 + 8 + 35);
}

// FLOPs of a window of T 3 by hand (V 7, E 4, H 4, 2 heads, F 6, one layer): per token the
// LSTM step 2 * 16 * (4 + 4) = 256 and the output layer 2 * 7 * 4 = 56; the layer over the
// window 6 T H^2 288 + 2 T^2 H 72 + softmax 3 * 2 * T^2 54 + 2 T^2 H 72 + 2 T H^2 96 + feed-
// forward 4 T H F 288 = 870. A window: 3 * 312 + 870 = 1806; two columns twice that.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  Lm lm(registry, "{" + kTiny + "}");
  const auto& f = dynamic_cast<const loom::CountsFlops&>(*lm.model);
  BOOST_TEST(f.forward_flops(window(0, 3)) == 2 * 1806.0, tt::tolerance(1e-12));
  BOOST_TEST(f.flops_per_token(3) == 1806.0 / 3, tt::tolerance(1e-12));
  BOOST_TEST(f.non_embedding_parameters() == lm.model->parameters().count() - 28);
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{nhid: 6, heads: 4}"); }, {"nhid 6 is not divisible by 4 heads"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{emsize: 4, nhid: 8, tie_weights: true}"); },
                                  {"needs emsize (4) equal to nhid (8)"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{layer_dropout: 1}"); }, {"must be below 1, got 1"});
}

BOOST_AUTO_TEST_SUITE_END()
