// models/transformer_lm through the real loader: finite-difference gradients for both styles
// and the knobs, parameter counts worked by hand, checkpoints, causality, the loss at
// initialisation, and next-token log-probabilities with and without the key/value cache.
#define BOOST_TEST_MODULE transformer_lm
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/gradcheck.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::expect_error;

namespace {

namespace contracts = loom::testing::contracts;
using loom::Mode;

constexpr std::int64_t kVocabSize = 7;

loom::Vocab small_vocab() { return loom::testing::numbered_vocab(kVocabSize); }

// ids [T, B] and targets [T, B] (the next token), T = 4, B = 2.
loom::Batch lm_batch() {
  loom::Batch b;
  b.tensors["ids"] = loom::Tensor::from_ids(loom::Shape{4, 2}, {2, 3, 4, 5, 6, 1, 1, 2});
  b.tensors["targets"] = loom::Tensor::from_ids(loom::Shape{4, 2}, {4, 5, 6, 1, 1, 2, 3, 6});
  b.target_tokens = 8;
  return b;
}

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

struct Lm {
  Lm(const loom::Registry& registry, const std::string& yaml, std::uint64_t seed = 1,
     const loom::Vocab& vocab = small_vocab())
      : env(registry, seed) {
    env.set_vocab("vocab", vocab);
    env.add("model", "transformer_lm", yaml);
    model = &env.get<loom::Model>("model");
  }
  loom::LanguageModel& lm() { return dynamic_cast<loom::LanguageModel&>(*model); }
  void reset() { dynamic_cast<loom::Stateful&>(*model).reset_state(); }
  double loss(const loom::Batch& batch, Mode mode = Mode::kEval) {
    graph = std::make_unique<loom::Graph>(mode, 3);
    return model->forward(*graph, batch).loss.value().item();
  }
  loom::testing::Env env;
  loom::Model* model;
  std::unique_ptr<loom::Graph> graph;
};

const std::string kTiny = "d_model: 4, heads: 2, layers: 2, d_ff: 6, dropout: 0, layer_dropout: 0";

// A decoder-only translator's vocabulary: <unk> 0, <eos> 1, <s> 2, <sep> 3, w4 .. w9.
loom::Vocab translation_vocab() {
  loom::Vocab v;
  v.set_special(loom::Special::kUnk, "<unk>");
  v.set_special(loom::Special::kEos, "<eos>");
  v.set_special(loom::Special::kBos, "<s>");
  v.set_special(loom::Special::kSep, "<sep>");
  for (int i = 4; i < 10; ++i) v.add("w" + std::to_string(i));
  return v;
}

// Three pairs in the decoder_only layout (loom/batch_layout.hpp), "<s> src <sep> tgt <eos>":
// prompts of 4, 3 and 5 tokens, targets of 2, 4 and 1 tokens (eos included: 3, 5, 2).
const std::vector<std::vector<std::int32_t>> kSources = {{4, 5}, {6}, {7, 8, 9}};
const std::vector<std::vector<std::int32_t>> kTargets = {{9, 4}, {5, 5, 6, 7}, {8}};

loom::Batch decoder_only_batch() {
  const std::int64_t B = 3;
  std::vector<std::vector<std::int32_t>> seqs;
  std::int64_t T = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int32_t> s = {2};
    s.insert(s.end(), kSources[b].begin(), kSources[b].end());
    s.push_back(3);
    s.insert(s.end(), kTargets[b].begin(), kTargets[b].end());
    s.push_back(1);
    T = std::max<std::int64_t>(T, static_cast<std::int64_t>(s.size()) - 1);
    seqs.push_back(s);
  }
  loom::Batch batch;
  loom::Tensor ids = loom::Tensor::empty(loom::Shape{T, B}, loom::DType::kInt32);
  loom::Tensor targets = loom::Tensor::empty(loom::Shape{T, B}, loom::DType::kInt32);
  loom::Tensor lengths = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
  loom::Tensor prompts = loom::Tensor::empty(loom::Shape{B}, loom::DType::kInt32);
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& s = seqs[b];
    const auto prompt = static_cast<std::int64_t>(kSources[b].size()) + 2;
    const auto len = static_cast<std::int64_t>(s.size()) - 1;
    for (std::int64_t t = 0; t < T; ++t) {
      ids.ids()[t * B + b] = t < len ? s[t] : 1;
      targets.ids()[t * B + b] = t < len && t + 1 >= prompt ? s[t + 1] : loom::kIgnoreTarget;
    }
    lengths.ids()[b] = static_cast<std::int32_t>(len);
    prompts.ids()[b] = static_cast<std::int32_t>(prompt);
    batch.target_tokens += static_cast<std::int64_t>(kTargets[b].size()) + 1;
  }
  batch.tensors["ids"] = ids;
  batch.tensors["targets"] = targets;
  batch.tensors["lengths"] = lengths;
  batch.tensors["prompt_lengths"] = prompts;
  return batch;
}

loom::Tensor int_row(std::initializer_list<std::int32_t> v) {
  return loom::Tensor::from_ids(loom::Shape{static_cast<std::int64_t>(v.size())}, v);
}

// Mean of -log p(target) over the rows of next_log_probs [T * B, V].
double nll_of(const loom::Tensor& lp, const loom::Tensor& targets) {
  double nll = 0.0;
  for (std::int64_t r = 0; r < targets.numel(); ++r) nll -= lp.data()[r * lp.dim(1) + targets.ids()[r]];
  return nll / static_cast<double>(targets.numel());
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(transformer_lm, Loaded)

// Every style and knob: the model's own loss against central differences. ReLU's kink makes
// a central difference across it meaningless, so the checks use GELU (ReLU is checked as an
// op, away from its kink). Weights in [-0.5, 0.5]: large enough for gradients to show, small
// enough that a step of 1e-2 stays in the linear range of two layers.
BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const std::vector<std::string> configs = {
      "{style: wlm, activation: gelu, " + kTiny + "}",
      "{style: gpt, block_size: 8, " + kTiny + "}",
      "{style: gpt, block_size: 4, tie_weights: true, " + kTiny + "}",
      "{norm: none, positions: none, activation: gelu, heads: 1, d_model: 4, layers: 1, d_ff: 6, dropout: 0, layer_dropout: 0}",
      "{head_merge: reweight, relative_bias: 2, activation: gelu, " + kTiny + "}",
      "{head_merge: shuffle, norm: pre, activation: gelu, positions: learned, block_size: 4, " + kTiny + "}",
  };
  for (const auto& yaml : configs) {
    BOOST_TEST_CONTEXT(yaml) {
      Lm lm(registry, yaml);
      // Weights spread out, so that gradients are large enough for a wrong one to show.
      loom::Tensor& values = lm.model->parameters().values();
      for (std::int64_t i = 0; i < values.numel(); ++i)
        values.data()[i] = 0.5f * (2.0f * loom::random_uniform(17, static_cast<std::uint64_t>(i)) - 1.0f);
      loom::testing::GradCheck r = loom::testing::check_model_gradients(*lm.model, lm_batch(), 6, 1e-2);
      BOOST_TEST(r.checked >= 6 * 10);
      BOOST_TEST(r.largest > 0.05, "the largest gradient is " << r.largest);
      BOOST_TEST(r.ok(2e-2), "worst error " << r.worst_error << " at " << r.worst_at);
    }
  }
}

// V 7, D 4, F 6, one layer. wlm: embedding 28; layer: in_proj 48 + 12, out_proj 16 + 4,
// linear1 24 + 6, linear2 24 + 4, norm1 8, norm2 8 (154); final norm 8; decoder 28 + 7.
// gpt (block 8, F = 4 D = 16, no output bias): 28 + positions 32 + layer (60 + 20 + 80 + 68 + 16)
// + final norm 8 + decoder 28.
BOOST_AUTO_TEST_CASE(parameter_counts_by_hand) {
  Lm wlm(registry, "{style: wlm, d_model: 4, heads: 2, layers: 1, d_ff: 6}");
  BOOST_TEST(wlm.model->parameters().count() == 28 + 154 + 8 + 35);
  Lm gpt(registry, "{style: gpt, d_model: 4, heads: 2, layers: 1, block_size: 8}");
  BOOST_TEST(gpt.model->parameters().count() == 28 + 32 + 244 + 8 + 28);
  Lm tied(registry, "{style: gpt, d_model: 4, heads: 2, layers: 1, block_size: 8, tie_weights: true}");
  BOOST_TEST(tied.model->parameters().count() == 28 + 32 + 244 + 8);
  Lm relative(registry, "{style: wlm, d_model: 4, heads: 2, layers: 1, d_ff: 6, relative_bias: 3}");
  BOOST_TEST(relative.model->parameters().count() == 28 + 154 + 2 * 7 + 8 + 35);
  Lm plain(registry, "{norm: none, d_model: 4, heads: 2, layers: 1, d_ff: 6}");
  BOOST_TEST(plain.model->parameters().count() == 28 + 154 - 16 + 35);
}

// Non-embedding parameters leave out the token table (28) and learned positions (32); a tied
// output layer is the token table.
BOOST_AUTO_TEST_CASE(non_embedding_parameters_by_hand) {
  auto counts = [&](const std::string& yaml) { return dynamic_cast<loom::CountsFlops&>(*Lm(registry, yaml).model).non_embedding_parameters(); };
  BOOST_TEST(counts("{style: wlm, d_model: 4, heads: 2, layers: 1, d_ff: 6}") == 154 + 8 + 35);
  BOOST_TEST(counts("{style: gpt, d_model: 4, heads: 2, layers: 1, block_size: 8}") == 244 + 8 + 28);
  BOOST_TEST(counts("{style: gpt, d_model: 4, heads: 2, layers: 1, block_size: 8, tie_weights: true}") == 244 + 8);
}

// Forward FLOPs of a window of T tokens, worked by hand for V 7, D 4, F 6, one head, one layer,
// T 3: queries, keys, values 6 T D^2 = 288; scores 2 T^2 D = 72; softmax 3 T^2 = 27; weights x
// values 72; output projection 2 T D^2 = 96 (555 in all: the course formula's layer);
// feed-forward 4 T D F = 288; output layer 2 T V D = 168. A batch of B windows costs B times.
BOOST_AUTO_TEST_CASE(flops_by_hand) {
  Lm lm(registry, "{style: wlm, d_model: 4, heads: 1, layers: 1, d_ff: 6}");
  const auto& f = dynamic_cast<loom::CountsFlops&>(*lm.model);
  BOOST_TEST(f.flops_per_token(3) * 3 == 555.0 + 288.0 + 168.0, boost::test_tools::tolerance(1e-12));
  loom::Batch b = lm_batch();  // T 4, B 2
  const double T = 4, D = 4, F = 6, V = kVocabSize;
  const double layer = 6 * T * D * D + 2 * T * T * D + 3 * T * T + 2 * T * T * D + 2 * T * D * D + 4 * T * D * F;
  BOOST_TEST(f.forward_flops(b) == 2 * (layer + 2 * T * V * D), boost::test_tools::tolerance(1e-12));
  // Two heads: the softmax runs over twice the scores, nothing else changes.
  Lm two(registry, "{style: wlm, d_model: 4, heads: 2, layers: 1, d_ff: 6}");
  BOOST_TEST(dynamic_cast<loom::CountsFlops&>(*two.model).forward_flops(b) == f.forward_flops(b) + 2 * 3 * T * T,
             boost::test_tools::tolerance(1e-12));
}

// The course formula for a decoder-only Transformer of L layers, width h, vocabulary V and
// length T: L (6 T h^2 + 2 T^2 h + 3 T^2 + 2 T^2 h + 2 T h^2) + 2 T V h, for one head and
// without the feed-forward block; loom's count adds the feed-forward's L 4 T h F.
BOOST_AUTO_TEST_CASE(flops_match_the_course_formula) {
  for (const std::int64_t L : {1, 4}) {
    for (const std::int64_t h : {16, 48}) {
      const std::int64_t F = 4 * h, T = 64;
      Lm lm(registry, "{style: gpt, heads: 1, block_size: 64, d_model: " + std::to_string(h) + ", layers: " +
                          std::to_string(L) + "}");
      const double t = T, w = h, V = kVocabSize;
      const double course = L * (6 * t * w * w + 2 * t * t * w + 3 * t * t + 2 * t * t * w + 2 * t * w * w) + 2 * t * V * w;
      const double mine = dynamic_cast<loom::CountsFlops&>(*lm.model).flops_per_token(T) * t;
      BOOST_TEST(mine - L * 4.0 * t * w * F == course, boost::test_tools::tolerance(1e-12));
    }
  }
}

BOOST_AUTO_TEST_CASE(save_load_round_trip) {
  contracts::TempDir dir;
  for (const char* style : {"wlm", "gpt"}) {
    const std::string yaml = std::string("{style: ") + style + ", block_size: 8, " + kTiny + "}";
    Lm a(registry, yaml, 1), b(registry, yaml, 2);
    auto failures = contracts::model_save_load(*a.model, lm_batch(), dir / (std::string(style) + ".bin"), b.model);
    BOOST_TEST(failures.empty(), contracts::join(failures));
  }
}

// At initialisation the next-token distribution is near uniform: the loss is near log V.
BOOST_AUTO_TEST_CASE(initial_loss_is_near_log_vocab_size) {
  for (const char* style : {"wlm", "gpt"}) {
    Lm lm(registry, std::string("{style: ") + style + ", d_model: 16, heads: 2, layers: 2, block_size: 8}");
    BOOST_TEST(lm.loss(lm_batch()) == std::log(static_cast<double>(kVocabSize)), boost::test_tools::tolerance(0.15));
  }
}

// Changing a later token changes nothing before it, with every head merge.
BOOST_AUTO_TEST_CASE(the_model_is_causal) {
 for (const char* merge : {"concat", "shuffle", "shift", "reweight"}) {
  BOOST_TEST_CONTEXT(merge) {
  Lm lm(registry, std::string("{style: gpt, block_size: 8, head_merge: ") + merge + ", " + kTiny + "}");
  loom::Batch a = lm_batch(), b = lm_batch();
  b.tensors["ids"] = a.get("ids").clone();
  b.tensors["ids"].ids()[3 * 2 + 1] = 6;  // the last position of column 1
  lm.reset();
  loom::Graph g1(Mode::kEval), g2(Mode::kEval);
  loom::Tensor la = lm.lm().next_log_probs(g1, a.get("ids")).clone();
  lm.reset();
  loom::Tensor lb = lm.lm().next_log_probs(g2, b.get("ids"));
  for (std::int64_t r = 0; r < 8; ++r)
    for (std::int64_t v = 0; v < kVocabSize; ++v) {
      const bool changed_row = r == 7;
      if (!changed_row) BOOST_TEST(la.data()[r * kVocabSize + v] == lb.data()[r * kVocabSize + v]);
    }
  BOOST_TEST(la.data()[7 * kVocabSize] != lb.data()[7 * kVocabSize]);
  }
 }
}

// next_log_probs on a window gives the loss forward computes; fed a token at a time (with the
// cache, and recomputing the prefix without it) it gives the same rows.
BOOST_AUTO_TEST_CASE(next_log_probs_agree_with_the_loss_in_pieces_and_whole) {
  for (const char* extra : {"kv_cache: true", "kv_cache: false", "kv_cache: true, head_merge: reweight"}) {
    for (const char* style : {"wlm", "gpt"}) {
      const std::string yaml = std::string("{style: ") + style + ", block_size: 8, relative_bias: 2, " + extra + ", " + kTiny + "}";
      BOOST_TEST_CONTEXT(yaml) {
        Lm lm(registry, yaml);
        const loom::Batch batch = lm_batch();
        const double expected = lm.loss(batch);
        lm.reset();
        loom::Graph g(Mode::kEval);
        loom::Tensor whole = lm.lm().next_log_probs(g, batch.get("ids")).clone();
        BOOST_TEST(nll_of(whole, batch.get("targets")) == expected, boost::test_tools::tolerance(1e-5));
        lm.reset();
        for (std::int64_t t = 0; t < 4; ++t) {
          loom::Tensor step = loom::Tensor::from_ids(loom::Shape{1, 2}, {batch.get("ids").ids()[t * 2], batch.get("ids").ids()[t * 2 + 1]});
          loom::Graph gs(Mode::kEval);
          loom::Tensor lp = lm.lm().next_log_probs(gs, step);
          for (std::int64_t v = 0; v < 2 * kVocabSize; ++v)
            BOOST_TEST(lp.data()[v] == whole.data()[t * 2 * kVocabSize + v], boost::test_tools::tolerance(1e-4f));
        }
      }
    }
  }
}

// Past block_size the context slides: the first block_size positions are those of a window,
// later ones stay distributions, with or without the cache.
BOOST_AUTO_TEST_CASE(text_longer_than_the_context_slides) {
  for (const char* cache : {"true", "false"}) {
    Lm lm(registry, std::string("{style: gpt, block_size: 4, kv_cache: ") + cache + ", " + kTiny + "}");
    loom::Tensor ids = loom::Tensor::empty(loom::Shape{11, 1}, loom::DType::kInt32);
    for (int t = 0; t < 11; ++t) ids.ids()[t] = (t * 3) % kVocabSize;
    loom::Graph g(Mode::kEval);
    lm.reset();
    loom::Tensor lp = lm.lm().next_log_probs(g, ids).clone();
    BOOST_TEST(lp.dim(0) == 11);
    for (std::int64_t r = 0; r < 11; ++r) {
      double z = 0.0;
      for (std::int64_t v = 0; v < kVocabSize; ++v) z += std::exp(double(lp.data()[r * kVocabSize + v]));
      BOOST_TEST(z == 1.0, boost::test_tools::tolerance(1e-5));
    }
    loom::Tensor first = loom::Tensor::empty(loom::Shape{4, 1}, loom::DType::kInt32);
    std::copy_n(ids.ids(), 4, first.ids());
    lm.reset();
    loom::Tensor head = lm.lm().next_log_probs(g, first);
    for (std::int64_t i = 0; i < 4 * kVocabSize; ++i) BOOST_TEST(head.data()[i] == lp.data()[i], boost::test_tools::tolerance(1e-5f));
  }
}

BOOST_AUTO_TEST_CASE(window_longer_than_block_size_is_an_input_error) {
  Lm lm(registry, "{style: gpt, block_size: 3, " + kTiny + "}");
  expect_error<loom::InputError>([&] { lm.loss(lm_batch()); }, {"window of 4 tokens is longer than block_size 3"});
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{d_model: 6, heads: 4}"); },
                                  {"test:model:1:", "d_model 6 is not divisible by 4 heads"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{positions: learned}"); },
                                  {"learned positions need a block_size"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{dropout: 1}"); }, {"must be in [0, 1)"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{head_merge: mix}"); }, {"'head_merge' must be one of"});
  expect_error<loom::ConfigError>([&] { Lm lm(registry, "{style: bert}"); }, {"'style' must be one of wlm, gpt"});
}

// The decoder-only translator: reading the prompts once and writing the targets a token at a
// time from the cache gives the log-probabilities the training forward pass scores, for
// prompts of different lengths in one batch and every kind of position.
BOOST_AUTO_TEST_CASE(incremental_translation_matches_the_forward_pass) {
  const std::vector<std::string> configs = {
      "{style: wlm, dropout: 0.3, d_model: 8, heads: 2, layers: 2}",
      "{style: gpt, block_size: 12, d_model: 8, heads: 2, layers: 2}",
      "{style: gpt, block_size: 12, relative_bias: 3, d_model: 8, heads: 2, layers: 1}",
      "{positions: none, norm: pre, d_model: 8, heads: 1, layers: 2}",
  };
  for (const auto& yaml : configs) {
    BOOST_TEST_CONTEXT(yaml) {
      Lm lm(registry, yaml, 5, translation_vocab());
      auto& decoder = dynamic_cast<loom::IncrementalDecoder&>(*lm.model);
      const loom::Batch batch = decoder_only_batch();
      loom::Graph g(Mode::kEval);
      const loom::ModelOutput out = lm.model->forward(g, batch);
      BOOST_TEST(out.count == 3 + 5 + 2);
      loom::Graph gi(Mode::kEval);
      loom::Tensor logp;
      auto state = decoder.start(gi, batch, logp);
      BOOST_TEST(state->rows() == 3);
      const std::int64_t V = decoder.vocab_size();
      double total = 0.0;
      for (std::size_t k = 0; k < 5; ++k) {
        std::vector<std::int32_t> next;
        for (std::int64_t b = 0; b < 3; ++b) {
          std::vector<std::int32_t> tgt = kTargets[b];
          tgt.push_back(1);
          if (k < tgt.size()) total += logp.data()[b * V + tgt[k]];
          next.push_back(k < tgt.size() ? tgt[k] : 1);
        }
        gi.clear();
        loom::Tensor ids = loom::Tensor::empty(loom::Shape{3}, loom::DType::kInt32);
        std::copy(next.begin(), next.end(), ids.ids());
        logp = decoder.step(gi, *state, ids);
      }
      BOOST_TEST(-total == out.nll_sum, boost::test_tools::tolerance(1e-4));
    }
  }
}

BOOST_AUTO_TEST_CASE(reorder_moves_translation_rows_with_their_cache) {
  Lm lm(registry, "{style: gpt, block_size: 12, d_model: 8, heads: 2, layers: 2}", 5, translation_vocab());
  auto& decoder = dynamic_cast<loom::IncrementalDecoder&>(*lm.model);
  const std::int64_t V = decoder.vocab_size();
  loom::Graph g(Mode::kEval);
  loom::Tensor logp;
  auto state = decoder.start(g, decoder_only_batch(), logp);
  decoder.reorder(*state, int_row({2, 0, 2, 1}));
  BOOST_TEST(state->rows() == 4);
  g.clear();
  loom::Tensor after = decoder.step(g, *state, int_row({5, 6, 7, 8})).clone();
  // The same tokens on a fresh state, row by row.
  const std::vector<std::int32_t> from = {2, 0, 2, 1}, token = {5, 6, 7, 8};
  for (std::int64_t r = 0; r < 4; ++r) {
    loom::Graph gf(Mode::kEval);
    auto fresh = decoder.start(gf, decoder_only_batch(), logp);
    decoder.reorder(*fresh, int_row({from[r]}));
    gf.clear();
    loom::Tensor direct = decoder.step(gf, *fresh, int_row({token[r]}));
    for (std::int64_t v = 0; v < V; ++v)
      BOOST_TEST(after.data()[r * V + v] == direct.data()[v], boost::test_tools::tolerance(1e-5f));
  }
}

// The source attention a translation page draws: after start, row b is where sentence b's
// sep (which predicts the first target token) looked over "src sep" in the last layer,
// averaged over heads, as the full forward pass of that prompt alone has it; 0 past a
// shorter source.
BOOST_AUTO_TEST_CASE(source_attention_matches_the_forward_pass_of_each_prompt) {
  Lm lm(registry, "{style: gpt, block_size: 12, d_model: 8, heads: 2, layers: 2}", 5, translation_vocab());
  auto& decoder = dynamic_cast<loom::IncrementalDecoder&>(*lm.model);
  auto& shows = dynamic_cast<loom::ShowsAttention&>(*lm.model);
  loom::Graph g(Mode::kEval);
  loom::Tensor logp;
  auto state = decoder.start(g, decoder_only_batch(), logp);
  const loom::Tensor att = decoder.last_attention(*state).clone();
  BOOST_REQUIRE(att.rank() == 2);
  BOOST_TEST(att.dim(0) == 3);
  BOOST_TEST(att.dim(1) == 4);  // the longest source (3 tokens) and its sep
  for (std::int64_t b = 0; b < 3; ++b) {
    const auto& src = kSources[static_cast<std::size_t>(b)];
    std::vector<std::int32_t> prompt = {2};
    prompt.insert(prompt.end(), src.begin(), src.end());
    prompt.push_back(3);
    const auto P = static_cast<std::int64_t>(prompt.size());
    loom::Tensor ids = loom::Tensor::empty(loom::Shape{P, 1}, loom::DType::kInt32);
    std::copy(prompt.begin(), prompt.end(), ids.ids());
    loom::Graph ga(Mode::kEval);
    const loom::Tensor w = shows.attention_maps(ga, ids).back().weights;  // [H, P, P]
    const std::int64_t H = w.dim(0);
    for (std::int64_t j = 0; j < att.dim(1); ++j) {
      double expected = 0.0;
      if (j < P - 1)
        for (std::int64_t h = 0; h < H; ++h) expected += w.data()[(h * P + P - 1) * P + 1 + j] / static_cast<double>(H);
      BOOST_TEST(att.data()[b * att.dim(1) + j] == expected, boost::test_tools::tolerance(1e-5));
    }
  }
  // A step keeps one row per live row, over the same source slots.
  g.clear();
  decoder.step(g, *state, int_row({5, 6, 7}));
  const loom::Tensor after = decoder.last_attention(*state);
  BOOST_TEST(after.dim(0) == 3);
  BOOST_TEST(after.dim(1) == 4);
  BOOST_TEST(after.data()[1 * 4 + 2] == 0.0f);  // sentence 1 has one source token and its sep
}

BOOST_AUTO_TEST_CASE(translation_errors) {
  Lm lm(registry, "{style: gpt, block_size: 6, d_model: 8, heads: 2, layers: 1}", 5, translation_vocab());
  auto& decoder = dynamic_cast<loom::IncrementalDecoder&>(*lm.model);
  loom::Graph g(Mode::kEval);
  loom::Tensor logp;
  // Language-model windows are not prompts.
  expect_error<loom::ConfigError>([&] { decoder.start(g, lm_batch(), logp); }, {"layout: decoder_only", "prompt_lengths"});
  // Learned positions end at block_size: the 5-token prompt has room for one more token.
  auto state = decoder.start(g, decoder_only_batch(), logp);
  g.clear();
  decoder.step(g, *state, int_row({4, 4, 4}));
  g.clear();
  expect_error<loom::InputError>([&] { decoder.step(g, *state, int_row({4, 4, 4})); }, {"longer than block_size 6"});
  // Without an end token there is no way to end a translation.
  loom::Vocab no_eos;
  no_eos.set_special(loom::Special::kUnk, "<unk>");
  for (int i = 0; i < 6; ++i) no_eos.add("w" + std::to_string(i));
  Lm plain(registry, "{" + kTiny + "}", 1, no_eos);
  expect_error<loom::ConfigError>(
      [&] { dynamic_cast<loom::IncrementalDecoder&>(*plain.model).start(g, decoder_only_batch(), logp); },
      {"end-of-sequence"});
}

BOOST_AUTO_TEST_SUITE_END()
