// models/transformer_lm: a causal Transformer language model over lm_stream windows.
//
//   ids [T, B] -> (batch-major) embedding [B, T, D] (x sqrt(D) if scale_embedding)
//   -> + positions (sinusoidal | learned | none) -> dropout
//   -> `layers` Transformer layers with a causal mask (loom/attention.hpp)
//   -> final layer norm (unless norm: none) -> linear to the vocabulary -> log-softmax + NLL.
//
// The body (embedding, positions, layers, final norm) is the core's nn::TransformerBody
// (loom/transformer.hpp), shared with models/transformer_classifier. Two styles set the
// defaults of every knob; each knob can also be set alone:
//   wlm  PyTorch word_language_model's TransformerModel: sinusoidal positions with dropout
//        `dropout`, post-norm layers with ReLU and dropout 0.1 (nn.Transformer's default),
//        the final encoder norm of nn.Transformer, untied decoder with a bias, d_ff = d_model
//        (main.py's nhid = emsize), embedding and decoder uniform(-0.1, 0.1), the layers'
//        matrices Xavier uniform (nn.Transformer's _reset_parameters).
//   gpt  minGPT's GPT: learned positions over `block_size`, pre-norm blocks with GELU and a
//        4 d_model MLP (no dropout inside it), dropout 0.1 everywhere, final norm, head
//        without bias; N(0, 0.02) init, residual projections N(0, 0.02 / sqrt(2 layers)).
//
// Windows are independent in training (no state between batches). As a LanguageModel the
// model keeps the keys and values of the text fed so far (a cache per layer), so generation
// and scoring cost one position per token. When a context limit (block_size) is reached, the
// cache is rebuilt from the last block_size / 2 tokens (the stride of the sliding window).
//
// As an IncrementalDecoder it is a decoder-only translator over the parallel loader's
// decoder_only layout ("bos src sep tgt eos", the loss on the target): it reads the prompt
// "bos src sep" once and writes the target a token at a time from cached keys and values.
//
// `loom export` writes the parameters under the names of the PyTorch module mirrored
// (TransformerModel's input_emb, encoder.layers.N.*, encoder.norm, decoder; minGPT's
// transformer.wte/wpe, transformer.h.N.ln_1/attn.c_attn/attn.c_proj/ln_2/mlp.c_fc/mlp.c_proj,
// transformer.ln_f, lm_head).
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "loom/attention.hpp"
#include "loom/errors.hpp"
#include "loom/nn.hpp"
#include "loom/plugin.hpp"
#include "loom/transformer.hpp"

namespace {

namespace nn = loom::nn;
using loom::Expr;
using loom::Shape;
using loom::Tensor;

using nn::Positions;

struct Options : nn::TransformerBodyOptions {
  bool tie_weights = false, output_bias = true, kv_cache = true;
  std::int32_t eos = loom::Vocab::kNone, unk = loom::Vocab::kNone;
};

class TransformerLm : public loom::Model,
                      public loom::Stateful,
                      public loom::LanguageModel,
                      public loom::TorchExport,
                      public loom::ShowsAttention,
                      public loom::IncrementalDecoder,
                      public loom::CountsFlops {
 public:
  TransformerLm(const Options& o, std::uint64_t seed) : o_(o), body_(parameters_, o, seed) {
    const Shape out{o.vocab, o.d_model};
    decoder_weight_ = o.tie_weights ? &body_.embedding_weight() : parameters_.add("decoder.weight", out, body_.head_init(out));
    if (o.output_bias) decoder_bias_ = parameters_.add("decoder.bias", Shape{o.vocab}, loom::Init::zeros());
    parameters_.finalize(seed);
  }

  // ---- Stateful: the key/value cache of inference; training carries nothing ----------------
  void reset_state() override {
    caches_.clear();
    history_.clear();
  }
  void save_state(loom::StateDict&) const override {}
  void load_state(const loom::StateDict&) override { reset_state(); }

  // ---- LanguageModel -----------------------------------------------------------------------
  std::int64_t vocab_size() const override { return o_.vocab; }

  Tensor next_log_probs(loom::Graph& g, const Tensor& ids) override {
    const std::int64_t T = ids.dim(0), B = ids.dim(1), V = o_.vocab;
    if (!history_.empty() && static_cast<std::int64_t>(history_.size()) != B) reset_state();
    if (history_.empty()) history_.assign(static_cast<std::size_t>(B), {});
    const std::int64_t limit = o_.block_size;
    Tensor out = Tensor::empty(Shape{T * B, V});
    for (std::int64_t t = 0; t < T;) {
      std::int64_t n = 1, from = 0;
      if (o_.kv_cache) {
        // The cache holds the history; full, it restarts from the last half of the context.
        if (limit > 0 && length() >= limit) refill(g, limit / 2);
        n = T - t;
        if (limit > 0) n = std::min(n, limit - length());
        from = length();
      } else {
        caches_.clear();  // recompute every kept position for each new token
      }
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t b = 0; b < B; ++b) history_[b].push_back(ids.ids()[(t + k) * B + b]);
      if (!o_.kv_cache && limit > 0 && length() > limit)
        for (auto& row : history_) row.erase(row.begin(), row.end() - limit);
      const std::int64_t width = length() - from;
      Tensor lp = run_cached(g, from, width);
      // Rows of the last n positions, from [B, width] to position-major.
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t b = 0; b < B; ++b)
          std::copy_n(lp.data() + (b * width + width - n + k) * V, V, out.data() + ((t + k) * B + b) * V);
      t += n;
    }
    return out;
  }

  // ---- IncrementalDecoder: translation from prompts "bos src sep" ---------------------------
  // Prompts of different lengths are right-aligned in one key cache: row b's L_b tokens fill
  // slots Lmax - L_b .. Lmax - 1, the slots before them are masked (key_starts), and each row's
  // tokens keep their own positions 0, 1, ..., so every row sees exactly the sequence it was
  // trained on. Every later step appends one slot to every row.
  std::unique_ptr<loom::DecoderState> start(loom::Graph& g, const loom::Batch& batch, Tensor& log_probs) override {
    if (o_.eos == loom::Vocab::kNone)
      throw loom::ConfigError("transformer_lm: translating needs a vocabulary with an end-of-sequence token (eos), "
                              "which ends every output; this one has none");
    if (batch.tensors.count("prompt_lengths") == 0)
      throw loom::ConfigError("transformer_lm translates the prompts of parallel data with layout: decoder_only; "
                              "this batch has none (no prompt_lengths)");
    const Tensor& ids = batch.get("ids");  // [T, B]
    const Tensor& lengths = batch.get("prompt_lengths");
    const std::int64_t B = ids.dim(1);
    std::int64_t longest = 0;
    for (std::int64_t b = 0; b < B; ++b) longest = std::max<std::int64_t>(longest, lengths.ids()[b]);
    auto s = std::make_unique<DecodeState>();
    s->starts = Tensor::empty(Shape{B}, loom::DType::kInt32);
    s->next = Tensor::empty(Shape{B}, loom::DType::kInt32);
    Tensor prompt = Tensor::empty(Shape{B, longest}, loom::DType::kInt32);
    Tensor positions = Tensor::empty(Shape{B, longest}, loom::DType::kInt32);
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int32_t len = lengths.ids()[b];
      const std::int64_t first = longest - len;
      for (std::int64_t j = 0; j < longest; ++j) {
        // Slots before the prompt hold its first token at position 0; no real query sees them.
        const std::int64_t t = std::max<std::int64_t>(j - first, 0);
        prompt.ids()[b * longest + j] = ids.ids()[t * B + b];
        positions.ids()[b * longest + j] = static_cast<std::int32_t>(t);
      }
      s->starts.ids()[b] = static_cast<std::int32_t>(first);
      s->next.ids()[b] = len;
    }
    s->prompt_end = longest;
    s->caches.resize(body_.layer_count());
    std::vector<Expr> weights;
    Expr h = body(g, prompt, 0, &s->caches, &weights, positions, s->starts);
    // The last slot of every row is its sep: its output predicts the first target token.
    log_probs = output_log_probs(g, loom::slice(h, 1, longest - 1, longest), B);
    keep_source_attention(weights.back().value(), longest - 1, *s);
    return s;
  }

  Tensor step(loom::Graph& g, loom::DecoderState& state, const Tensor& ids) override {
    auto& s = dynamic_cast<DecodeState&>(state);
    const std::int64_t R = ids.numel();
    std::vector<Expr> weights;
    Expr h = body(g, ids.view(Shape{R, 1}), 0, &s.caches, &weights, s.next.clone().view(Shape{R, 1}), s.starts);
    for (std::int64_t r = 0; r < R; ++r) ++s.next.ids()[r];
    keep_source_attention(weights.back().value(), 0, s);
    return output_log_probs(g, h, R);
  }

  Tensor last_attention(const loom::DecoderState& state) const override {
    return dynamic_cast<const DecodeState&>(state).attention;
  }

  void reorder(loom::DecoderState& state, const Tensor& rows) override {
    auto& s = dynamic_cast<DecodeState&>(state);
    for (auto& c : s.caches)
      c.self.reorder(rows);
    s.starts = loom::take_rows(s.starts, rows);
    s.next = loom::take_rows(s.next, rows);
    if (s.attention.defined()) s.attention = loom::take_rows(s.attention, rows);
  }
  std::int32_t eos_id() const override { return o_.eos; }
  std::int32_t unk_id() const override { return o_.unk; }

  // ---- ShowsAttention ----------------------------------------------------------------------
  std::vector<loom::AttentionMap> attention_maps(loom::Graph& g, const Tensor& ids) override {
    const std::int64_t T = ids.dim(0);
    if (o_.block_size > 0 && T > o_.block_size)
      throw loom::InputError("transformer_lm: " + std::to_string(T) + " tokens are more than block_size " +
                             std::to_string(o_.block_size));
    std::vector<Expr> weights;
    body(g, nn::batch_major_ids(ids), 0, nullptr, &weights);
    return loom::layer_attention_maps(weights);
  }

  // ---- CountsFlops --------------------------------------------------------------------------
  // A window of T tokens: every layer's nn::transformer_layer_flops(T) plus the output layer's
  // 2 T V D. With one head and no feed-forward term this is the course formula
  // L (6 T D^2 + 2 T^2 D + 3 T^2 + 2 T^2 D + 2 T D^2) + 2 T V D; the feed-forward adds L 4 T D F.
  // Non-embedding parameters: all but the token table and learned positions (a tied output
  // layer is the token table).
  double flops_per_token(std::int64_t length) const override {
    if (length <= 0) return 0.0;
    return sequence_flops(length) / static_cast<double>(length);
  }
  double forward_flops(const loom::Batch& batch) const override {
    const Tensor& ids = batch.get("ids");  // [T, B]
    return static_cast<double>(ids.dim(1)) * sequence_flops(ids.dim(0));
  }
  std::int64_t non_embedding_parameters() const override {
    return parameters_.count_except(nn::TransformerBody::embedding_names());
  }

  // ---- TorchExport -------------------------------------------------------------------------
  // wlm mirrors word_language_model's TransformerModel, gpt minGPT's GPT, when every knob has
  // that module's setting (tying aside: the file then holds the shared matrix twice).
  std::string torch_module() const override {
    const bool plain = o_.merge == nn::HeadMerge::kConcat && o_.relative_distance == 0;
    if (plain && o_.positions == Positions::kSinusoidal && o_.norm == nn::NormPlacement::kPost &&
        o_.activation == nn::Activation::kRelu && o_.output_bias && o_.scale_embedding)
      return "word_language_model.TransformerModel";
    if (plain && o_.positions == Positions::kLearned && o_.norm == nn::NormPlacement::kPre &&
        o_.activation == nn::Activation::kGelu && !o_.output_bias && !o_.scale_embedding && o_.d_ff == 4 * o_.d_model)
      return "minGPT.GPT";
    return "";
  }

  std::vector<loom::NamedTensor> torch_tensors() const override {
    const bool gpt = torch_module() == "minGPT.GPT";
    // loom's layer suffixes -> the module's
    const std::vector<std::pair<std::string, std::string>> gpt_layer = {
        {"norm1.", "ln_1."}, {"self_attn.in_proj_weight", "attn.c_attn.weight"}, {"self_attn.in_proj_bias", "attn.c_attn.bias"},
        {"self_attn.out_proj.", "attn.c_proj."}, {"norm2.", "ln_2."}, {"linear1.", "mlp.c_fc."}, {"linear2.", "mlp.c_proj."}};
    std::vector<loom::NamedTensor> out;
    for (const auto& p : parameters_) {
      std::string name = p.name;
      if (name.rfind("layers.", 0) == 0) {
        const auto dot = name.find('.', 7);
        std::string layer = name.substr(7, dot - 7), rest = name.substr(dot + 1);
        if (gpt) {
          for (const auto& [from, to] : gpt_layer)
            if (rest.rfind(from, 0) == 0) {
              rest = to + rest.substr(from.size());
              break;
            }
          name = "transformer.h." + layer + "." + rest;
        } else {
          name = "encoder.layers." + layer + "." + rest;
        }
      } else if (name == "embedding.weight") {
        name = gpt ? "transformer.wte.weight" : "input_emb.weight";
      } else if (name == "positions.weight") {
        name = "transformer.wpe.weight";
      } else if (name.rfind("norm.", 0) == 0) {
        name = (gpt ? "transformer.ln_f." : "encoder.norm.") + name.substr(5);
      } else if (name == "decoder.weight") {
        name = gpt ? "lm_head.weight" : "decoder.weight";
      }
      out.push_back({name, p.value.clone()});
    }
    if (o_.tie_weights) out.push_back({gpt ? "lm_head.weight" : "decoder.weight", decoder_weight_->value.clone()});
    return out;
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const Tensor& ids = batch.get("ids");
    const Tensor& targets = batch.get("targets");
    const std::int64_t T = ids.dim(0), B = ids.dim(1);
    if (o_.block_size > 0 && T > o_.block_size)
      throw loom::InputError("transformer_lm: a window of " + std::to_string(T) + " tokens is longer than block_size " +
                             std::to_string(o_.block_size) + " (lower the data's bptt or max_length, or raise block_size)");
    Expr h = body(g, nn::batch_major_ids(ids), 0, nullptr);
    loom::NllStats stats;
    loom::ModelOutput out;
    out.loss = loom::linear_log_softmax_nll(loom::reshape(h, Shape{B * T, o_.d_model}), g.param(*decoder_weight_),
                                            decoder_bias_ ? g.param(*decoder_bias_) : Expr(), nn::batch_major_ids(targets), -1,
                                            &stats);
    out.loss_sum = stats.loss_sum;
    out.count = stats.count;
    return out;
  }

 private:
  struct DecodeState : loom::DecoderState {
    std::vector<nn::LayerCache> caches;  // per layer, every row's slots
    Tensor starts;                       // int32 [R]: the first slot of each row's prompt
    Tensor next;                         // int32 [R]: the position of each row's next token
    std::int64_t prompt_end = 0;         // the slot after every prompt (they are right-aligned)
    Tensor attention;                    // the last step's source attention [R, S]
    std::int64_t rows() const override { return starts.defined() ? starts.dim(0) : 0; }
  };

  // Where query `q` of the last layer's weights w [R, H, Tq, slots] looked in its source,
  // averaged over heads: the slots of "src sep" (the sep in the place of an encoder's eos),
  // left-aligned per row, 0 past a shorter source; into s.attention [R, S].
  static void keep_source_attention(const Tensor& w, std::int64_t q, DecodeState& s) {
    const std::int64_t R = w.dim(0), H = w.dim(1), Tq = w.dim(2), slots = w.dim(3);
    std::int64_t first = s.prompt_end;
    for (std::int64_t r = 0; r < R; ++r) first = std::min<std::int64_t>(first, s.starts.ids()[r]);
    const std::int64_t S = std::max<std::int64_t>(s.prompt_end - 1 - first, 0);
    s.attention = Tensor::zeros(Shape{R, S});
    for (std::int64_t r = 0; r < R; ++r) {
      const std::int64_t from = s.starts.ids()[r] + 1;
      for (std::int64_t k = 0; k < H; ++k) {
        const float* row = w.data() + ((r * H + k) * Tq + q) * slots;
        for (std::int64_t j = 0; from + j < s.prompt_end; ++j)
          s.attention.data()[r * S + j] += row[from + j] / static_cast<float>(H);
      }
    }
  }

  // Hidden states [R, 1, D] -> log-probabilities of the next token [R, V].
  Tensor output_log_probs(loom::Graph& g, const Expr& h, std::int64_t rows) const {
    Tensor logits = loom::linear(loom::reshape(h, Shape{rows, o_.d_model}), g.param(*decoder_weight_),
                                 decoder_bias_ ? g.param(*decoder_bias_) : Expr())
                        .value();
    loom::log_softmax_rows(logits);
    return logits;
  }

  // ids [B, T] -> hidden states [B, T, D] under the causal mask (nn::TransformerBody);
  // `key_starts` masks each row's keys before it (loom::AttentionMask).
  Expr body(loom::Graph& g, const Tensor& ids, std::int64_t offset, std::vector<nn::LayerCache>* caches,
            std::vector<Expr>* weights = nullptr, const Tensor& row_positions = {}, const Tensor& key_starts = {}) {
    if (row_positions.defined()) {
      const std::int64_t n = row_positions.numel();
      check_context(*std::max_element(row_positions.ids(), row_positions.ids() + n) + 1, "a prompt and its translation");
    }
    return body_(g, ids, loom::AttentionMask{true, {}, key_starts}, offset, caches, weights, row_positions);
  }

  // Runs history positions [from, from + n) of every row through the cached layers (the
  // cache holds positions before `from`); log-probabilities [B * n, V], row b * n + k.
  Tensor run_cached(loom::Graph& g, std::int64_t from, std::int64_t n) {
    const std::int64_t B = static_cast<std::int64_t>(history_.size());
    if (caches_.empty()) caches_.resize(body_.layer_count());
    Tensor ids = Tensor::empty(Shape{B, n}, loom::DType::kInt32);
    for (std::int64_t b = 0; b < B; ++b)
      std::copy_n(history_[b].data() + from, n, ids.ids() + b * n);
    g.clear();
    Expr h = body(g, ids, from, &caches_);
    Tensor logits = loom::linear(loom::reshape(h, Shape{B * n, o_.d_model}), g.param(*decoder_weight_),
                                 decoder_bias_ ? g.param(*decoder_bias_) : Expr())
                        .value();
    loom::log_softmax_rows(logits);
    return logits;
  }

  // Learned positions end at block_size.
  void check_context(std::int64_t positions, const char* what) const {
    body_.check_context(positions, "transformer_lm", what);
  }

  // Tokens in the history (the same for every row).
  std::int64_t length() const { return history_.empty() ? 0 : static_cast<std::int64_t>(history_[0].size()); }

  // Rebuilds the cache from the last `keep` tokens of the history (positions restart at 0).
  void refill(loom::Graph& g, std::int64_t keep) {
    for (auto& row : history_) row.erase(row.begin(), row.end() - keep);
    caches_.assign(body_.layer_count(), {});
    if (keep > 0) run_cached(g, 0, keep);
  }

  double sequence_flops(std::int64_t T) const {
    double f = 2.0 * static_cast<double>(T) * static_cast<double>(o_.vocab) * static_cast<double>(o_.d_model);
    return f + body_.flops(T);
  }

  Options o_;
  nn::TransformerBody body_;
  loom::Parameter* decoder_weight_ = nullptr;
  loom::Parameter* decoder_bias_ = nullptr;
  std::vector<nn::LayerCache> caches_;
  std::vector<std::vector<std::int32_t>> history_;  // per batch row, the tokens in the cache
};

// vocab, the body's knobs (loom/transformer.hpp), then the output layer's and inference's.
std::vector<loom::ParamSpec> params() {
  using T = loom::ParamType;
  std::vector<loom::ParamSpec> out = {{"vocab", T::kComponent, "", "vocabulary of inputs and outputs", {"vocab"}}};
  for (auto& spec : nn::transformer_body_params()) out.push_back(std::move(spec));
  out.push_back({"output_bias", T::kString, "style", "a bias in the output layer (wlm true, gpt false)", {"style", "true", "false"}});
  out.push_back({"tie_weights", T::kBool, "false", "share the embedding and output weights"});
  out.push_back({"kv_cache", T::kBool, "true",
                 "keep keys and values between tokens in generation and scoring (false: recompute the prefix)"});
  return out;
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "transformer_lm",
      "1.0",
      "causal Transformer language model (word_language_model's TransformerModel or minGPT's GPT)",
      params(),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        const loom::Vocab& vocab = ctx.vocab("vocab");
        Options o;
        static_cast<nn::TransformerBodyOptions&>(o) = nn::parse_transformer_body(p, static_cast<std::int64_t>(vocab.size()));
        o.eos = vocab.eos_id();
        o.unk = vocab.unk_id();
        o.output_bias = nn::style_knob(p, "output_bias", "true", "false") == "true";
        o.tie_weights = p.get_bool("tie_weights");
        o.kv_cache = p.get_bool("kv_cache");
        return std::make_unique<TransformerLm>(o, ctx.seed());
      },
      "a window of T tokens: layers x (6 T D^2 + 2 T^2 D + 3 H T^2 + 2 T^2 D + 2 T D^2 + 4 T D F) + 2 T V D (D d_model, H heads, F d_ff, V vocabulary; with one head and no feed-forward the course formula L (6Th^2 + 2T^2h + 3T^2 + 2T^2h + 2Th^2) + 2TVh)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
