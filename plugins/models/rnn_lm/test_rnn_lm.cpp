// models/rnn_lm through the real loader: finite-difference gradients for every cell, tied
// weights, checkpoints, carried state, the loss at initialisation and evaluation mode.
#define BOOST_TEST_MODULE rnn_lm
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::testing::expect_error;

namespace {

namespace contracts = loom::testing::contracts;
using loom::Mode;

constexpr std::int64_t kVocabSize = 7;

// <unk> <eos> w2 .. w6
loom::Vocab small_vocab() { return loom::testing::numbered_vocab(kVocabSize); }

// ids [T, B] and targets [T, B] (the next token); width 2 or 3.
loom::Batch lm_batch(std::int64_t width = 2) {
  loom::Batch b;
  if (width == 2) {
    b.tensors["ids"] = loom::Tensor::from_ids(loom::Shape{3, 2}, {2, 3, 4, 5, 6, 1});
    b.tensors["targets"] = loom::Tensor::from_ids(loom::Shape{3, 2}, {4, 5, 6, 1, 0, 2});
  } else {
    b.tensors["ids"] = loom::Tensor::from_ids(loom::Shape{2, 3}, {1, 2, 3, 4, 5, 6});
    b.tensors["targets"] = loom::Tensor::from_ids(loom::Shape{2, 3}, {4, 5, 6, 0, 1, 2});
  }
  b.target_tokens = 6;
  return b;
}

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

// A model built from YAML parameters over small_vocab(), with the env that owns it.
struct Lm {
  Lm(const loom::Registry& registry, const std::string& yaml, std::uint64_t seed = 1) : env(registry, seed) {
    env.set_vocab("vocab", small_vocab());
    env.add("model", "rnn_lm", yaml);
    model = &env.get<loom::Model>("model");
  }
  void reset() { dynamic_cast<loom::Stateful&>(*model).reset_state(); }
  // The loss on `batch` without resetting the carried state.
  loom::ModelOutput run(const loom::Batch& batch, Mode mode = Mode::kTrain) {
    graph = std::make_unique<loom::Graph>(mode, 3);
    return model->forward(*graph, batch);
  }
  double loss(const loom::Batch& batch, Mode mode = Mode::kTrain) { return run(batch, mode).loss.value().item(); }
  double fresh_loss(const loom::Batch& batch, Mode mode = Mode::kTrain) {
    reset();
    return loss(batch, mode);
  }
  loom::testing::Env env;
  loom::Model* model;
  std::unique_ptr<loom::Graph> graph;
};

std::string tiny(const std::string& cell, int emsize = 4, int nhid = 5, int nlayers = 2, bool tie = false) {
  return "{cell: " + cell + ", emsize: " + std::to_string(emsize) + ", nhid: " + std::to_string(nhid) +
         ", nlayers: " + std::to_string(nlayers) + ", dropout: 0, tie_weights: " + (tie ? "true" : "false") +
         ", init_range: 0.5, rnn_init_range: 0.5}";
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(rnn_lm, Loaded)

// Central differences with a step of 1e-2 in float32; the error is
// |analytic - numeric| / max(1, |numeric|) (loom/testing/gradcheck.hpp). Weights start in
// [-0.5, 0.5] so that gradients are large enough for a wrong one to show.
BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  struct Case {
    const char* cell;
    int emsize, nhid, nlayers;
    bool tie;
    double tolerance;
  };
  const std::vector<Case> cases = {
      {"lstm", 4, 5, 2, false, 2e-2},     {"gru", 4, 5, 2, false, 2e-2},
      {"rnn_tanh", 4, 5, 2, false, 2e-2}, {"rnn_relu", 4, 5, 2, false, 2e-2},
      {"lstm", 5, 5, 1, true, 2e-2},      {"gru", 5, 5, 1, true, 2e-2},
      {"rnn_relu", 3, 3, 3, false, 2e-2},
  };
  for (const auto& c : cases) {
    const std::string yaml = tiny(c.cell, c.emsize, c.nhid, c.nlayers, c.tie);
    BOOST_TEST_CONTEXT(yaml) {
      Lm lm(registry, yaml);
      // ReLU has a kink at 0: a step of 1e-2 across it gives the central difference a slope
      // the function does not have at the point, so those cells take a smaller step.
      const double step = std::string(c.cell) == "rnn_relu" ? 1e-3 : 1e-2;
      loom::testing::GradCheck r = loom::testing::check_model_gradients(*lm.model, lm_batch(), 8, step);
      BOOST_TEST_MESSAGE(yaml << ": " << r.checked << " values, worst error " << r.worst_error << " at " << r.worst_at);
      BOOST_TEST(r.checked >= 8 * 5);
      BOOST_TEST(r.ok(c.tolerance), "worst error " << r.worst_error << " at " << r.worst_at);
      // The gradients are not all tiny (a check of near-zero values would prove little).
      lm.model->parameters().zero_grad();
      lm.reset();
      lm.graph = std::make_unique<loom::Graph>(Mode::kTrain, 3);
      loom::ModelOutput out = lm.model->forward(*lm.graph, lm_batch());
      lm.graph->backward(out.loss);
      BOOST_TEST(lm.model->parameters().grad_norm() > 0.1);
    }
  }
}

// FLOPs by hand, V 7, E 4, H 5, 2 layers, per token: layer 0 2 G H (E + H) = 18 G H, layer 1
// 2 G H (H + H) = 20 G H, output 2 V H = 70: LSTM (G 4) 760 + 70, GRU (G 3) 570 + 70, plain RNN
// 190 + 70. A batch of T x B ids costs T B times that. Non-embedding: all but the 28 of the
// encoder table.
// d loss_T / d h_t by hand for a 2-layer tanh RNN (in double): the forward pass, the output
// layer's W_dec^T (softmax - onehot) at the last step, then g_t = W_hh^T ((1 - h_{t+1}^2) g_{t+1})
// back through the top layer. The model's norms (per column, averaged) must agree, and the
// parameters' gradients must be left as they were.
BOOST_AUTO_TEST_CASE(gradient_through_time_matches_a_hand_backpropagation) {
  Lm lm(registry, tiny("rnn_tanh", 3, 4, 2));
  auto& gtt = dynamic_cast<loom::ShowsGradientThroughTime&>(*lm.model);
  BOOST_TEST(gtt.recurrent_cell() == "rnn_tanh");
  const std::int64_t T = 6, B = 2, E = 3, H = 4, V = kVocabSize;
  loom::Batch w;
  w.tensors["ids"] = loom::Tensor::from_ids(loom::Shape{T, B}, {2, 3, 4, 5, 6, 1, 1, 2, 3, 3, 5, 4});
  w.tensors["targets"] = loom::Tensor::from_ids(loom::Shape{T, B}, {4, 5, 6, 1, 1, 2, 3, 3, 5, 4, 6, 2});
  auto& params = lm.model->parameters();
  params.grads().fill(0.25f);
  const std::vector<double> norms = gtt.gradient_through_time(w);
  for (std::int64_t i = 0; i < params.grads().numel(); ++i) BOOST_REQUIRE(params.grads().data()[i] == 0.25f);
  BOOST_REQUIRE(norms.size() == static_cast<std::size_t>(T));
  auto at = [&](const std::string& name, std::int64_t i) { return static_cast<double>(params.find(name)->value.data()[i]); };
  std::vector<double> expected(T, 0.0);
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::vector<double>> in(T), hs;
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t e = 0; e < E; ++e) in[t].push_back(at("encoder.weight", w.get("ids").ids()[t * B + b] * E + e));
    for (int l = 0; l < 2; ++l) {
      const std::string p = "rnn.l" + std::to_string(l) + ".";
      const std::int64_t n = static_cast<std::int64_t>(in[0].size());
      std::vector<double> h(H, 0.0);
      hs.clear();
      for (std::int64_t t = 0; t < T; ++t) {
        std::vector<double> next(H);
        for (std::int64_t j = 0; j < H; ++j) {
          double a = at(p + "b_ih", j) + at(p + "b_hh", j);
          for (std::int64_t k = 0; k < n; ++k) a += at(p + "w_ih", j * n + k) * in[t][k];
          for (std::int64_t k = 0; k < H; ++k) a += at(p + "w_hh", j * H + k) * h[k];
          next[j] = std::tanh(a);
        }
        h = next;
        hs.push_back(h);
      }
      in = hs;
    }
    std::vector<double> logits(V), g(H, 0.0);
    double z = 0.0;
    for (std::int64_t v = 0; v < V; ++v) {
      logits[v] = at("decoder.bias", v);
      for (std::int64_t k = 0; k < H; ++k) logits[v] += at("decoder.weight", v * H + k) * hs[T - 1][k];
      z += std::exp(logits[v]);
    }
    const std::int32_t target = w.get("targets").ids()[(T - 1) * B + b];
    for (std::int64_t v = 0; v < V; ++v) {
      const double d = std::exp(logits[v]) / z - (v == target ? 1.0 : 0.0);
      for (std::int64_t k = 0; k < H; ++k) g[k] += at("decoder.weight", v * H + k) * d;
    }
    for (std::int64_t t = T - 1; t >= 0; --t) {
      double sq = 0.0;
      for (double x : g) sq += x * x;
      expected[t] += std::sqrt(sq) / B;
      if (t == 0) break;
      std::vector<double> prev(H, 0.0);
      for (std::int64_t j = 0; j < H; ++j) {
        const double da = (1.0 - hs[t][j] * hs[t][j]) * g[j];
        for (std::int64_t k = 0; k < H; ++k) prev[k] += at("rnn.l1.w_hh", j * H + k) * da;
      }
      g = prev;
    }
  }
  for (std::int64_t t = 0; t < T; ++t)
    BOOST_TEST(norms[t] == expected[t], boost::test_tools::tolerance(1e-4) << "step " << t);
  BOOST_TEST(norms[0] != norms[T - 1]);
}

BOOST_AUTO_TEST_CASE(flops_by_hand) {
  for (const auto& [cell, per_token] : std::vector<std::pair<std::string, double>>{{"lstm", 830}, {"gru", 640}, {"rnn_tanh", 260}}) {
    BOOST_TEST_CONTEXT(cell) {
      Lm lm(registry, "{cell: " + cell + ", emsize: 4, nhid: 5, nlayers: 2}");
      const auto& f = dynamic_cast<const loom::CountsFlops&>(*lm.model);
      BOOST_TEST(f.flops_per_token(35) == per_token, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(f.forward_flops(lm_batch()) == 6 * per_token, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(f.non_embedding_parameters() == lm.model->parameters().count() - 28);
    }
  }
}

BOOST_AUTO_TEST_CASE(parameter_count_by_cell) {
  struct Case {
    const char* cell;
    std::int64_t values;
  };
  // V 7, E 4, H 5, 2 layers: encoder 7*4 + layer 0 (G*H*4 + G*H*5 + 2*G*H)
  // + layer 1 (G*H*5 + G*H*5 + 2*G*H) + decoder 7*5 + 7.
  const std::vector<Case> cases = {
      {"lstm", 28 + (80 + 100 + 40) + (100 + 100 + 40) + 42},     // 530
      {"gru", 28 + (60 + 75 + 30) + (75 + 75 + 30) + 42},         // 415
      {"rnn_tanh", 28 + (20 + 25 + 10) + (25 + 25 + 10) + 42},    // 185
      {"rnn_relu", 185},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.cell) {
      Lm lm(registry, tiny(c.cell));
      BOOST_TEST(lm.model->parameters().count() == c.values);
      BOOST_TEST(lm.model->parameters().size() == 11u);  // encoder, 2 x 4 rnn, decoder weight and bias
      BOOST_TEST(lm.model->parameters().find("rnn.l1.w_hh") != nullptr);
    }
  }
}

BOOST_AUTO_TEST_CASE(tie_weights_shares_the_embedding) {
  Lm tied(registry, tiny("lstm", 5, 5, 1, true));
  Lm untied(registry, tiny("lstm", 5, 5, 1, false));
  auto& tp = tied.model->parameters();
  BOOST_TEST(tp.find("decoder.weight") == nullptr);
  BOOST_TEST(tp.find("encoder.weight") != nullptr);
  BOOST_TEST(tp.find("decoder.bias") != nullptr);
  // encoder 7*5 + w_ih 20*5 + w_hh 20*5 + biases 2*20 + decoder bias 7; untied adds 7*5.
  BOOST_TEST(tp.count() == 282);
  BOOST_TEST(tp.size() == 6u);
  BOOST_TEST(untied.model->parameters().count() == 317);
  BOOST_TEST(untied.model->parameters().size() == 7u);
  // Row 0 (<unk>) of the embedding is never an input of lm_batch(), only a target: it moves
  // the loss only when it is also the output weight.
  for (Lm* lm : {&tied, &untied}) {
    const double before = lm->fresh_loss(lm_batch());
    lm->model->parameters().find("encoder.weight")->value.data()[0] += 1.0f;
    const double after = lm->fresh_loss(lm_batch());
    BOOST_TEST((after != before) == (lm == &tied), (lm == &tied ? "tied" : "untied"));
  }
  expect_error<loom::ConfigError>([&] { Lm bad(registry, tiny("lstm", 4, 5, 1, true)); },
                      {"test:model:1:", "needs emsize (4) equal to nhid (5)"});
}

BOOST_AUTO_TEST_CASE(save_load_round_trip) {
  contracts::TempDir dir;
  Lm a(registry, tiny("gru"), 1);
  Lm b(registry, tiny("gru"), 2);
  const double loss_a = a.fresh_loss(lm_batch(), Mode::kEval);
  BOOST_TEST(b.fresh_loss(lm_batch(), Mode::kEval) != loss_a);  // another seed, other values
  a.model->parameters().save(dir / "model.bin");
  b.model->parameters().load(dir / "model.bin");
  BOOST_TEST(b.fresh_loss(lm_batch(), Mode::kEval) == loss_a);
  BOOST_TEST(b.fresh_loss(lm_batch(), Mode::kTrain) == a.fresh_loss(lm_batch(), Mode::kTrain));
  auto failures = contracts::model_save_load(*a.model, lm_batch(), dir / "again.bin", b.model);
  BOOST_TEST(failures.empty(), contracts::join(failures));
  // Another shape does not load, and the message names the file.
  Lm wider(registry, tiny("gru", 4, 6));
  try {
    wider.model->parameters().load(dir / "model.bin");
    BOOST_ERROR("no InputError");
  } catch (const loom::InputError& e) {
    BOOST_TEST(std::string(e.what()).find("model.bin") != std::string::npos, e.what());
  }
}

// The hidden state carries from one batch to the next (Stateful) until reset_state().
BOOST_AUTO_TEST_CASE(state_is_carried_between_batches) {
  for (const char* cell : {"lstm", "gru", "rnn_tanh"}) {
    BOOST_TEST_CONTEXT(cell) {
      Lm lm(registry, tiny(cell));
      BOOST_REQUIRE(dynamic_cast<loom::Stateful*>(lm.model) != nullptr);
      const double fresh = lm.fresh_loss(lm_batch());
      loom::ModelOutput out = lm.run(lm_batch());
      const double carried = out.loss.value().item();
      BOOST_TEST(carried != fresh);
      lm.graph->backward(out.loss);  // the carried state is detached: backward still works
      BOOST_TEST(lm.fresh_loss(lm_batch()) == fresh);
      // A batch of another width starts from a fresh state.
      const double wide_fresh = lm.fresh_loss(lm_batch(3));
      lm.reset();
      lm.loss(lm_batch(2));
      BOOST_TEST(lm.loss(lm_batch(3)) == wide_fresh);
    }
  }
}

// With every weight the decoder sees at zero the logits are all zero, so each target costs
// log V: log 7 = 1.945910149. With weights within +-1e-3 the loss stays close to it.
BOOST_AUTO_TEST_CASE(initial_loss_is_log_vocab_size) {
  const double log_v = std::log(static_cast<double>(kVocabSize));
  BOOST_TEST(log_v == 1.945910149, boost::test_tools::tolerance(1e-9));
  struct Case {
    const char* cell;
    const char* init_range;
    double tolerance;  // absolute
  };
  const std::vector<Case> cases = {
      {"lstm", "0", 1e-6}, {"gru", "0", 1e-6}, {"rnn_relu", "0", 1e-6},
      {"lstm", "0.001", 1e-3}, {"gru", "0.001", 1e-3}, {"rnn_tanh", "0.001", 1e-3},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.cell << " init_range " << c.init_range) {
      Lm lm(registry, std::string("{cell: ") + c.cell + ", emsize: 6, nhid: 6, nlayers: 2, dropout: 0, init_range: " +
                          c.init_range + "}");
      lm.reset();
      loom::ModelOutput out = lm.run(lm_batch());
      BOOST_TEST(out.count == 6);
      BOOST_TEST(std::fabs(out.loss.value().item() - log_v) <= c.tolerance, out.loss.value().item());
      BOOST_TEST(std::fabs(out.loss_sum - 6 * log_v) <= 6 * c.tolerance, out.loss_sum);
    }
  }
}

BOOST_AUTO_TEST_CASE(evaluation_mode) {
  for (const char* cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}) {
    BOOST_TEST_CONTEXT(cell) {
      // Without dropout, training and evaluation compute the same loss.
      Lm lm(registry, tiny(cell));
      loom::ModelOutput train = (lm.reset(), lm.run(lm_batch(), Mode::kTrain));
      const double train_loss = train.loss.value().item();
      loom::ModelOutput eval = (lm.reset(), lm.run(lm_batch(), Mode::kEval));
      BOOST_TEST(eval.loss.value().item() == train_loss, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(eval.loss_sum == train.loss_sum, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(eval.count == train.count);
      BOOST_TEST(train_loss == train.loss_sum / static_cast<double>(train.count), boost::test_tools::tolerance(1e-5));
      // With dropout, training differs and evaluation ignores it (same seed, same weights).
      Lm dropped(registry, std::string("{cell: ") + cell +
                               ", emsize: 4, nhid: 5, nlayers: 2, dropout: 0.5, init_range: 0.5, rnn_init_range: 0.5}");
      BOOST_TEST(dropped.fresh_loss(lm_batch(), Mode::kEval) == eval.loss.value().item(),
                 boost::test_tools::tolerance(1e-6));
      BOOST_TEST(dropped.fresh_loss(lm_batch(), Mode::kTrain) != train_loss);
    }
  }
}

BOOST_AUTO_TEST_CASE(frozen_parameters_get_no_gradient) {
  Lm lm(registry, tiny("lstm"));
  auto& params = lm.model->parameters();
  BOOST_TEST(params.freeze("encoder.*") == 1);
  params.zero_grad();
  lm.reset();
  loom::ModelOutput out = lm.run(lm_batch());
  lm.graph->backward(out.loss);
  const loom::Tensor& enc = params.find("encoder.weight")->grad;
  const loom::Tensor& dec = params.find("decoder.weight")->grad;
  BOOST_TEST(std::all_of(enc.data(), enc.data() + enc.numel(), [](float g) { return g == 0.0f; }));
  BOOST_TEST(std::any_of(dec.data(), dec.data() + dec.numel(), [](float g) { return g != 0.0f; }));
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{cell: lstn}"); },
                      {"'cell' must be one of lstm, gru, rnn_tanh, rnn_relu", "did you mean 'lstm'"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{dropout: 1}"); }, {"test:model:1:", "must be below 1, got 1"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{nhid: 0}"); }, {"'nhid' must be at least 1"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{nlayer: 2}"); }, {"did you mean 'nlayers'"});
}

BOOST_AUTO_TEST_SUITE_END()

// As a LanguageModel: every row of next_log_probs is a distribution, its log-probabilities of
// the targets give the loss forward computes, and the state carries from call to call as it
// does in forward.
BOOST_AUTO_TEST_CASE(next_log_probs_agree_with_the_loss) {
  Loaded loaded;
  for (const char* cell : {"lstm", "gru"}) {
    BOOST_TEST_CONTEXT(cell) {
      Lm lm(loaded.registry, std::string("{cell: ") + cell + ", emsize: 4, nhid: 5, nlayers: 2, dropout: 0.3}");
      auto* as_lm = dynamic_cast<loom::LanguageModel*>(lm.model);
      BOOST_REQUIRE(as_lm != nullptr);
      BOOST_TEST(as_lm->vocab_size() == kVocabSize);
      const loom::Batch batch = lm_batch();
      const auto* targets = batch.get("targets").ids();
      lm.reset();
      const double first = lm.loss(batch, Mode::kEval), second = lm.loss(batch, Mode::kEval);
      lm.reset();
      for (double expected : {first, second}) {
        loom::Graph g(Mode::kEval);
        loom::Tensor lp = as_lm->next_log_probs(g, batch.get("ids"));
        BOOST_REQUIRE(lp.dim(0) == 6);
        BOOST_REQUIRE(lp.dim(1) == kVocabSize);
        double nll = 0.0;
        for (int r = 0; r < 6; ++r) {
          double z = 0.0;
          for (int v = 0; v < kVocabSize; ++v) z += std::exp(static_cast<double>(lp.data()[r * kVocabSize + v]));
          BOOST_TEST(z == 1.0, boost::test_tools::tolerance(1e-5));
          nll -= lp.data()[r * kVocabSize + targets[r]];
        }
        BOOST_TEST(nll / 6.0 == expected, boost::test_tools::tolerance(1e-5));
      }
    }
  }
}
