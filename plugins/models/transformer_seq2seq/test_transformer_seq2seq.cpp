// models/transformer_seq2seq: gradients against finite differences for every norm placement,
// positions, shared and tied embeddings and label smoothing; the incremental decoder gives
// exactly the log-probabilities of the teacher-forced forward pass, token by token, and its
// attention covers the real source only; reordering rows moves the caches with them; label
// smoothing changes the training loss but not the measured NLL; the parameter errors.
#define BOOST_TEST_MODULE transformer_seq2seq
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "loom/batch_layout.hpp"
#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/search.hpp"
#include "loom/testing/contracts_decoding.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/random.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::expect_error;

namespace {

// <pad> 0, <unk> 1, <s> 2, </s> 3, then w4 .. w<n-1>.
loom::Vocab vocab(std::int64_t n) {
  loom::Vocab v;
  v.set_special(loom::Special::kPad, "<pad>");
  v.set_special(loom::Special::kUnk, "<unk>");
  v.set_special(loom::Special::kBos, "<s>");
  v.set_special(loom::Special::kEos, "</s>");
  for (std::int64_t i = 4; i < n; ++i) v.add("w" + std::to_string(i));
  return v;
}

loom::Tensor ints(const loom::Shape& shape, const std::vector<std::int32_t>& values) {
  loom::Tensor t = loom::Tensor::empty(shape, loom::DType::kInt32);
  std::copy(values.begin(), values.end(), t.ids());
  return t;
}

// Three pairs as data/parallel batches them: sources of 3, 1 and 2 tokens (eos added), targets
// of 2, 3 and 1 tokens; padding where a row is shorter.
loom::Batch pairs() {
  loom::Batch b;
  b.tensors["src"] = ints({3, 4}, {5, 6, 7, 3, /**/ 8, 3, 0, 0, /**/ 9, 5, 3, 0});
  b.tensors["src_lengths"] = ints({3}, {4, 2, 3});
  b.tensors["tgt_in"] = ints({3, 4}, {2, 10, 11, 0, /**/ 2, 4, 12, 6, /**/ 2, 7, 0, 0});
  b.tensors["tgt_out"] = ints({3, 4}, {10, 11, 3, -1, /**/ 4, 12, 6, 3, /**/ 7, 3, -1, -1});
  b.tensors["tgt_lengths"] = ints({3}, {3, 4, 2});
  b.target_tokens = 9;
  return b;
}

// A tiny model's parameters: `params`, then every default it does not set. Shared embeddings
// take one vocabulary for both sides.
std::string with_defaults(const std::string& params) {
  const bool joint = params.find("share_embeddings: true") != std::string::npos;
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"src_vocab", joint ? "'@joint'" : "'@vs'"}, {"tgt_vocab", joint ? "'@joint'" : "'@vt'"}, {"d_model", "8"},
      {"heads", "2"}, {"d_ff", "12"}, {"encoder_layers", "2"}, {"decoder_layers", "2"}};
  std::string out = "{" + params;
  for (const auto& [key, value] : defaults)
    if (params.find(key + ":") == std::string::npos) out += (out.size() > 1 ? ", " : "") + key + ": " + value;
  return out + "}";
}

struct Model {
  explicit Model(const std::string& params, std::uint64_t seed = 1) : env(registry(), seed) {
    env.set_vocab("vs", vocab(12));
    env.set_vocab("vt", vocab(14));
    env.set_vocab("joint", vocab(14));
    env.add("model", "transformer_seq2seq", with_defaults(params));
    model = &env.get<loom::Model>("model");
    decoder = dynamic_cast<loom::IncrementalDecoder*>(model);
  }
  static const loom::Registry& registry() { return loom::testing::registry_of(LOOM_TEST_PLUGIN_FILE); }
  loom::testing::Env env;
  loom::Model* model = nullptr;
  loom::IncrementalDecoder* decoder = nullptr;
};

const std::vector<std::string> kVariants = {
    "norm: post",
    "norm: pre, activation: gelu",
    "norm: none, heads: 1",
    "positions: learned, max_length: 6",
    "share_embeddings: true, tie_weights: true",
    "label_smoothing: 0.2, scale_embedding: false",
};

}  // namespace

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const auto& v : kVariants) {
    BOOST_TEST_CONTEXT(v) {
      // GELU: a ReLU unit near its kink has no central-difference derivative.
      const bool gelu = v.find("gelu") != std::string::npos;
      Model m("dropout: 0, " + v + (gelu ? "" : ", activation: gelu"));
      // Weights spread out, so that gradients are large enough for a wrong one to show.
      loom::Tensor& values = m.model->parameters().values();
      for (std::int64_t i = 0; i < values.numel(); ++i)
        values.data()[i] = 0.5f * (2.0f * loom::random_uniform(17, static_cast<std::uint64_t>(i)) - 1.0f);
      auto r = loom::testing::check_model_gradients(*m.model, pairs(), 6, 1e-2);
      BOOST_TEST(r.checked > 0);
      BOOST_TEST(r.largest > 0.05, "the largest gradient is " << r.largest);
      BOOST_TEST(r.ok(2e-2), "worst " << r.worst_error << " at " << r.worst_at);
    }
  }
}

BOOST_AUTO_TEST_CASE(incremental_decoding_matches_the_forward_pass) {
  for (const auto& v : kVariants) {
    BOOST_TEST_CONTEXT(v) {
      Model m("dropout: 0.3, " + v);
      loom::Batch batch = pairs();
      loom::Graph g(loom::Mode::kEval);
      loom::ModelOutput out = m.model->forward(g, batch);
      // Feed each reference target token by token; sum the log-probabilities of tgt_out.
      loom::Graph gi(loom::Mode::kEval);
      loom::Tensor logp;
      auto state = m.decoder->start(gi, batch, logp);
      const loom::Tensor& tgt_out = batch.get("tgt_out");
      const std::int64_t B = 3, T = 4, V = m.decoder->vocab_size();
      double total = 0.0;
      std::int64_t count = 0;
      for (std::int64_t t = 0; t < T; ++t) {
        loom::Tensor next = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
        for (std::int64_t b = 0; b < B; ++b) {
          const std::int32_t y = tgt_out.ids()[b * T + t];
          if (y != loom::kIgnoreTarget) {
            total += logp.data()[b * V + y];
            ++count;
          }
          next.ids()[b] = y == loom::kIgnoreTarget ? 3 : y;  // past the end: anything
        }
        if (t + 1 < T) {
          gi.clear();
          logp = m.decoder->step(gi, *state, next);
        }
      }
      BOOST_TEST(count == out.count);
      BOOST_TEST(std::abs(-total - out.nll_sum) < 1e-4 * std::max(1.0, out.nll_sum), -total << " vs " << out.nll_sum);
      {
        loom::Tensor a = m.decoder->last_attention(*state);
        BOOST_REQUIRE(a.defined());
        // Rows sum to 1 over the real source positions, 0 on padding.
        for (std::int64_t b = 0; b < B; ++b) {
          double sum = 0;
          for (std::int64_t j = 0; j < a.dim(1); ++j) sum += a.data()[b * a.dim(1) + j];
          BOOST_TEST(std::abs(sum - 1.0) < 1e-5);
        }
        BOOST_TEST(a.data()[1 * a.dim(1) + 3] == 0.0f);  // sentence 1 has 2 source positions
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(reorder_moves_rows_with_their_state) {
  Model m("dropout: 0");
  const auto f = loom::testing::contracts::decoder_reorder_moves_rows(*m.decoder, pairs());
  BOOST_TEST(f.empty(), loom::testing::contracts::join(f));
}

BOOST_AUTO_TEST_CASE(greedy_search_takes_the_likeliest_token) {
  Model m("dropout: 0");
  const auto f = loom::testing::contracts::greedy_search_takes_the_likeliest_token(*m.decoder, pairs());
  BOOST_TEST(f.empty(), loom::testing::contracts::join(f));
}

BOOST_AUTO_TEST_CASE(label_smoothing_trains_on_a_smoothed_loss_and_reports_the_nll) {
  Model plain("dropout: 0, label_smoothing: 0");
  Model smoothed("dropout: 0, label_smoothing: 0.3");
  loom::Graph g1(loom::Mode::kTrain), g2(loom::Mode::kTrain);
  loom::ModelOutput a = plain.model->forward(g1, pairs());
  loom::ModelOutput b = smoothed.model->forward(g2, pairs());
  // Same seed, same parameters: the same NLL, a different loss to minimise, which loss and
  // loss_sum both carry.
  BOOST_TEST(a.nll_sum == b.nll_sum, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(a.loss_sum == a.nll_sum);
  BOOST_TEST(a.loss.value().item() == a.loss_sum / a.count, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(b.loss.value().item() == b.loss_sum / b.count, boost::test_tools::tolerance(1e-5));
  // Smoothing moves 0.3 of the target's weight onto every class alike: unless the model is
  // uniform, the loss is no longer the NLL.
  BOOST_TEST(std::abs(b.loss_sum - b.nll_sum) > 1e-2);
}

BOOST_AUTO_TEST_CASE(attention_dropout_is_its_own_setting) {
  // With residual dropout off, attention_dropout alone makes a training pass differ from an
  // evaluation pass; at 0 the two agree.
  for (const double p : {0.0, 0.5}) {
    Model m("dropout: 0, attention_dropout: " + std::to_string(p));
    loom::Graph train(loom::Mode::kTrain), eval(loom::Mode::kEval);
    const double a = m.model->forward(train, pairs()).loss_sum, b = m.model->forward(eval, pairs()).loss_sum;
    BOOST_TEST_CONTEXT("attention_dropout " << p) { BOOST_TEST((std::abs(a - b) > 1e-6) == (p > 0), a << " vs " << b); }
  }
}

// Forward FLOPs by hand: D 4, one head, F 6, one layer each side, target vocabulary 14, pairs()
// (3 pairs padded to S 4, T 4). Per pair: encoder layer at S = 4: 6 S D^2 384 + scores 2 S^2 D
// 128 + softmax 3 S^2 48 + weights x values 128 + output 2 S D^2 128 + feed-forward 4 S D F 384
// = 1,200; decoder layer at T = 4: self attention the same 816, cross attention 2 T D^2 128 +
// 4 S D^2 256 + 2 T S D 128 + 3 T S 48 + 128 + 2 T D^2 128 = 816, feed-forward 384; output
// layer 2 T V D 448. Non-embedding parameters leave out both embedding tables.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  Model m("d_model: 4, heads: 1, d_ff: 6, encoder_layers: 1, decoder_layers: 1");
  const auto& f = dynamic_cast<const loom::CountsFlops&>(*m.model);
  const double pair = 1200 + (816 + 816 + 384) + 448;
  BOOST_TEST(f.forward_flops(pairs()) == 3 * pair, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.flops_per_token(4) == pair / 4, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(f.non_embedding_parameters() == m.model->parameters().count() - 12 * 4 - 14 * 4);
  Model shared("d_model: 4, heads: 1, d_ff: 6, encoder_layers: 1, decoder_layers: 1, share_embeddings: true");
  BOOST_TEST(dynamic_cast<const loom::CountsFlops&>(*shared.model).non_embedding_parameters() ==
             shared.model->parameters().count() - 14 * 4);
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([] { Model m("d_model: 9"); }, {"heads", "not divisible"});
  expect_error<loom::ConfigError>([] { Model m("share_embeddings: true, src_vocab: '@vs'"); }, {"share_embeddings", "12 tokens"});
  expect_error<loom::ConfigError>([] { Model m("label_smoothing: 1"); }, {"label_smoothing"});
  expect_error<loom::ConfigError>([] { Model m("norm: sandwich"); }, {"sandwich"});
  // Learned positions end at max_length: a longer target is a clear error.
  Model m("positions: learned, max_length: 3");
  loom::Graph g(loom::Mode::kEval);
  expect_error<loom::InputError>([&] { m.model->forward(g, pairs()); }, {"max_length 3"});
  loom::testing::Env env(Model::registry());
  loom::Vocab no_bos;
  no_bos.set_special(loom::Special::kEos, "</s>");
  no_bos.add("a");
  env.set_vocab("vs", vocab(8));
  env.set_vocab("vt", no_bos);
  env.add("model", "transformer_seq2seq", "{src_vocab: '@vs', tgt_vocab: '@vt'}");
  expect_error<loom::ConfigError>([&] { env.get<loom::Model>("model"); }, {"tgt_vocab", "bos and eos"});
}
