// models/rnn_seq2seq: gradients against finite differences for every attention score, with
// and without input feeding, LSTM and GRU, one or two directions and layers; the incremental
// decoder gives exactly the log-probabilities of the teacher-forced forward pass, token by
// token; reordering rows moves the state with them; greedy search takes the likeliest token;
// without the source the model is a language model of the target; the parameter errors.
#define BOOST_TEST_MODULE rnn_seq2seq
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "loom/batch_layout.hpp"
#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/search.hpp"
#include "loom/testing/contracts_decoding.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::expect_error;

namespace {

// The sizes of a variant: emsize = nhid where the weights are tied.
std::string sizes(const std::string& variant) {
  return variant.find("tie_weights") != std::string::npos ? "emsize: 6, nhid: 6, " : "emsize: 5, nhid: 6, ";
}

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

struct Model {
  explicit Model(const std::string& params, std::uint64_t seed = 1) : env(registry(), seed) {
    env.set_vocab("vs", vocab(12));
    env.set_vocab("vt", vocab(14));
    env.add("model", "rnn_seq2seq", "{src_vocab: '@vs', tgt_vocab: '@vt', " + params + "}");
    model = &env.get<loom::Model>("model");
    decoder = dynamic_cast<loom::IncrementalDecoder*>(model);
  }
  static const loom::Registry& registry() { return loom::testing::registry_of(LOOM_TEST_PLUGIN_FILE); }
  loom::testing::Env env;
  loom::Model* model = nullptr;
  loom::IncrementalDecoder* decoder = nullptr;
};

const std::vector<std::string> kVariants = {
    "attention: none, input_feeding: false",
    "attention: dot, input_feeding: false",
    "attention: general, input_feeding: false",
    "attention: concat, input_feeding: false",
    "attention: general, input_feeding: true",
    "attention: dot, input_feeding: true, cell: gru",
    "attention: concat, input_feeding: true, bidirectional: true, nlayers: 2",
    "attention: none, bidirectional: true, cell: gru",
    "attention: general, tie_weights: true",
    "attention: none, use_source: false",
    "attention: none, use_source: false, cell: gru, nlayers: 2",
};

}  // namespace

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const auto& v : kVariants) {
    BOOST_TEST_CONTEXT(v) {
      Model m(sizes(v) + "dropout: 0, init: 0.5, " + v);
      auto r = loom::testing::check_model_gradients(*m.model, pairs(), 6);
      BOOST_TEST(r.checked > 0);
      BOOST_TEST(r.largest > 1e-3);
      BOOST_TEST(r.ok(2e-2), "worst " << r.worst_error << " at " << r.worst_at);
    }
  }
}

BOOST_AUTO_TEST_CASE(incremental_decoding_matches_the_forward_pass) {
  for (const auto& v : kVariants) {
    BOOST_TEST_CONTEXT(v) {
      Model m(sizes(v) + "dropout: 0.3, init: 0.5, " + v);
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
      BOOST_TEST(std::abs(-total - out.loss_sum) < 1e-4 * std::max(1.0, out.loss_sum), -total << " vs " << out.loss_sum);
      if (v.find("none") == std::string::npos) {
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
  Model m("emsize: 5, nhid: 6, dropout: 0, init: 0.5, attention: general, input_feeding: true");
  const auto f = loom::testing::contracts::decoder_reorder_moves_rows(*m.decoder, pairs());
  BOOST_TEST(f.empty(), loom::testing::contracts::join(f));
}

BOOST_AUTO_TEST_CASE(greedy_search_takes_the_likeliest_token) {
  Model m("emsize: 5, nhid: 6, dropout: 0, init: 1.0, attention: dot");
  const auto f = loom::testing::contracts::greedy_search_takes_the_likeliest_token(*m.decoder, pairs());
  BOOST_TEST(f.empty(), loom::testing::contracts::join(f));
}

BOOST_AUTO_TEST_CASE(without_the_source_the_decoder_is_a_target_language_model) {
  // Another source changes the loss of the conditional model, not that of use_source: false,
  // which has no encoder parameters.
  loom::Batch other = pairs();
  other.tensors["src"] = ints({3, 4}, {7, 7, 9, 3, /**/ 5, 6, 3, 0, /**/ 11, 3, 0, 0});
  other.tensors["src_lengths"] = ints({3}, {4, 3, 2});
  for (const bool use_source : {true, false}) {
    Model m(std::string("emsize: 5, nhid: 6, dropout: 0, init: 0.5, attention: none, use_source: ") +
            (use_source ? "true" : "false"));
    loom::Graph g1(loom::Mode::kEval), g2(loom::Mode::kEval);
    const double a = m.model->forward(g1, pairs()).loss_sum, b = m.model->forward(g2, other).loss_sum;
    std::int64_t encoder_params = 0;
    for (const auto& p : m.model->parameters())
      if (p.name.rfind("encoder.", 0) == 0) ++encoder_params;
    BOOST_TEST_CONTEXT("use_source " << use_source) {
      BOOST_TEST((std::abs(a - b) > 1e-6) == use_source, a << " vs " << b);
      BOOST_TEST((encoder_params > 0) == use_source);
    }
  }
}

// FLOPs by hand: E 3, H 4, one LSTM layer each side, target vocabulary 14, pairs() (3 pairs
// padded to S 4, T 4). Per pair: encoder 4 steps of 2 * 16 * (3 + 4) = 224 (896); decoder
// with input feeding 4 steps of 2 * 16 * (7 + 4) = 352 (1,408); dot attention per target step
// 2 S H + 3 S + 2 S H = 76 (304); combination 4 H^2 = 64 per step (256); output 2 V H = 112 per
// step (448): 3,312. General adds 2 H^2 = 32 per step (128). Without attention or feeding the
// decoder step is 224 and there is no attention or combination: 896 + 896 + 448 = 2,240.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  auto flops = [](const std::string& params) {
    Model m("emsize: 3, nhid: 4, nlayers: 1, bidirectional: false, " + params);
    return dynamic_cast<const loom::CountsFlops&>(*m.model).forward_flops(pairs());
  };
  BOOST_TEST(flops("attention: dot, input_feeding: true") == 3 * 3312.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(flops("attention: general, input_feeding: true") == 3 * (3312.0 + 128), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(flops("attention: none, input_feeding: false") == 3 * 2240.0, boost::test_tools::tolerance(1e-12));
  // Without the source there is no encoder.
  BOOST_TEST(flops("attention: none, input_feeding: false, use_source: false") == 3 * (2240.0 - 896),
             boost::test_tools::tolerance(1e-12));
  Model m("emsize: 3, nhid: 4, nlayers: 1, bidirectional: false");
  BOOST_TEST(dynamic_cast<const loom::CountsFlops&>(*m.model).non_embedding_parameters() ==
             m.model->parameters().count() - 12 * 3 - 14 * 3);
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([] { Model m("attention: dot, use_source: false"); }, {"use_source", "attention to none"});
  expect_error<loom::ConfigError>([] { Model m("nhid: 7, bidirectional: true"); }, {"nhid", "even"});
  expect_error<loom::ConfigError>([] { Model m("emsize: 4, nhid: 6, tie_weights: true"); }, {"tie_weights", "emsize (4)"});
  expect_error<loom::ConfigError>([] { Model m("attention: luong"); }, {"luong"});
  loom::testing::Env env(Model::registry());
  loom::Vocab no_bos;
  no_bos.set_special(loom::Special::kEos, "</s>");
  no_bos.add("a");
  env.set_vocab("vs", vocab(8));
  env.set_vocab("vt", no_bos);
  env.add("model", "rnn_seq2seq", "{src_vocab: '@vs', tgt_vocab: '@vt'}");
  expect_error<loom::ConfigError>([&] { env.get<loom::Model>("model"); }, {"tgt_vocab", "bos and eos"});
}
