// models/transformer_lm: a causal Transformer language model over lm_stream windows.
//
//   ids [T, B] -> (batch-major) embedding [B, T, D] (x sqrt(D) if scale_embedding)
//   -> + positions (sinusoidal | learned | none) -> dropout
//   -> `layers` Transformer layers with a causal mask (loom/attention.hpp)
//   -> final layer norm (unless norm: none) -> linear to the vocabulary -> log-softmax + NLL.
//
// Two styles set the defaults of every knob; each knob can also be set alone:
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

namespace {

namespace nn = loom::nn;
using loom::Expr;
using loom::Shape;
using loom::Tensor;

enum class Positions { kSinusoidal, kLearned, kNone };

struct Options {
  std::string style;
  std::int64_t vocab = 0, d_model = 0, heads = 0, layers = 0, d_ff = 0, block_size = 0;
  float dropout = 0.0f, layer_dropout = 0.0f;
  Positions positions = Positions::kSinusoidal;
  nn::NormPlacement norm = nn::NormPlacement::kPost;
  nn::Activation activation = nn::Activation::kRelu;
  nn::HeadMerge merge = nn::HeadMerge::kConcat;
  std::int64_t relative_distance = 0;
  bool tie_weights = false, output_bias = true, scale_embedding = true, kv_cache = true;
  std::int32_t eos = loom::Vocab::kNone, unk = loom::Vocab::kNone;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

class TransformerLm : public loom::Model,
                      public loom::Stateful,
                      public loom::LanguageModel,
                      public loom::TorchExport,
                      public loom::ShowsAttention,
                      public loom::IncrementalDecoder,
                      public loom::CountsFlops {
 public:
  TransformerLm(const Options& o, std::uint64_t seed) : o_(o) {
    embedding_.emplace(parameters_, "embedding", o.vocab, o.d_model);
    if (o.positions == Positions::kLearned)
      positions_ = parameters_.add("positions.weight", Shape{o.block_size, o.d_model}, loom::Init::normal(0.02f));
    nn::TransformerLayerOptions lo;
    lo.d_model = o.d_model;
    lo.heads = o.heads;
    lo.d_ff = o.d_ff;
    lo.dropout = o.layer_dropout;
    lo.ff_dropout = o.style == "wlm";
    lo.norm = o.norm;
    lo.activation = o.activation;
    lo.attention.merge = o.merge;
    lo.attention.seed = seed;
    lo.attention.relative_distance = o.relative_distance;
    for (std::int64_t l = 0; l < o.layers; ++l)
      layers_.emplace_back(parameters_, "layers." + std::to_string(l), lo);
    if (o.norm != nn::NormPlacement::kNone) final_norm_.emplace(parameters_, "norm", o.d_model);
    decoder_weight_ = o.tie_weights ? embedding_->weight()
                                    : parameters_.add("decoder.weight", Shape{o.vocab, o.d_model}, loom::Init::zeros());
    if (o.output_bias) decoder_bias_ = parameters_.add("decoder.bias", Shape{o.vocab}, loom::Init::zeros());
    set_initialisation();
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
    s->caches.resize(layers_.size());
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
    body(g, batch_major(ids), 0, nullptr, &weights);
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
    return parameters_.count_except({"embedding.weight", "positions.weight"});
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
    Expr h = body(g, batch_major(ids), 0, nullptr);
    loom::NllStats stats;
    loom::ModelOutput out;
    out.loss = loom::linear_log_softmax_nll(loom::reshape(h, Shape{B * T, o_.d_model}), g.param(*decoder_weight_),
                                            decoder_bias_ ? g.param(*decoder_bias_) : Expr(), batch_major(targets), -1,
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
                        .value()
                        .clone();
    loom::log_softmax_rows(logits);
    return logits;
  }

  // [T, B] -> [B, T]
  static Tensor batch_major(const Tensor& ids) {
    const std::int64_t T = ids.dim(0), B = ids.dim(1);
    Tensor out = Tensor::empty(Shape{B, T}, loom::DType::kInt32);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t b = 0; b < B; ++b) out.ids()[b * T + t] = ids.ids()[t * B + b];
    return out;
  }

  // ids [B, T] at positions offset .. offset + T - 1 -> hidden states [B, T, D]. With
  // `row_positions` (int32 [B, T]) each token has its own position instead; `key_starts` masks
  // each row's keys before it (loom::AttentionMask).
  Expr body(loom::Graph& g, const Tensor& ids, std::int64_t offset, std::vector<nn::LayerCache>* caches,
            std::vector<Expr>* weights = nullptr, const Tensor& row_positions = {}, const Tensor& key_starts = {}) {
    const std::int64_t T = ids.dim(1), D = o_.d_model;
    Expr x = (*embedding_)(g, ids);
    if (o_.scale_embedding) x = loom::scale(x, std::sqrt(static_cast<float>(D)));
    if (row_positions.defined() && o_.positions != Positions::kNone) {
      const std::int64_t n = row_positions.numel();
      const std::int64_t last = *std::max_element(row_positions.ids(), row_positions.ids() + n);
      if (o_.positions == Positions::kLearned) {
        check_context(last + 1, "a prompt and its translation");
        x = loom::add(x, loom::embedding(g.param(*positions_), row_positions));
      } else {
        const Tensor table = nn::sinusoidal_positions(0, last + 1, D);
        Tensor rows = Tensor::empty(Shape{ids.dim(0), T, D});
        for (std::int64_t i = 0; i < n; ++i) std::copy_n(table.data() + row_positions.ids()[i] * D, D, rows.data() + i * D);
        x = loom::add(x, g.constant(rows));
      }
    } else if (o_.positions == Positions::kSinusoidal) {
      x = loom::add_positions(x, g.constant(nn::sinusoidal_positions(offset, T, D)));
    } else if (o_.positions == Positions::kLearned) {
      x = loom::add_positions(x, loom::slice(g.param(*positions_), 0, offset, offset + T));
    }
    x = loom::dropout(x, o_.dropout);
    const loom::AttentionMask causal{true, {}, key_starts};
    for (std::size_t l = 0; l < layers_.size(); ++l)
      x = layers_[l](g, x, causal, Expr(), {}, caches ? &(*caches)[l] : nullptr, weights);
    if (final_norm_) x = (*final_norm_)(g, x);
    return x;
  }

  // Runs history positions [from, from + n) of every row through the cached layers (the
  // cache holds positions before `from`); log-probabilities [B * n, V], row b * n + k.
  Tensor run_cached(loom::Graph& g, std::int64_t from, std::int64_t n) {
    const std::int64_t B = static_cast<std::int64_t>(history_.size());
    if (caches_.empty()) caches_.resize(layers_.size());
    Tensor ids = Tensor::empty(Shape{B, n}, loom::DType::kInt32);
    for (std::int64_t b = 0; b < B; ++b)
      std::copy_n(history_[b].data() + from, n, ids.ids() + b * n);
    g.clear();
    Expr h = body(g, ids, from, &caches_);
    Tensor logits = loom::linear(loom::reshape(h, Shape{B * n, o_.d_model}), g.param(*decoder_weight_),
                                 decoder_bias_ ? g.param(*decoder_bias_) : Expr())
                        .value()
                        .clone();
    loom::log_softmax_rows(logits);
    return logits;
  }

  // Learned positions end at block_size.
  void check_context(std::int64_t positions, const char* what) const {
    if (o_.block_size > 0 && o_.positions == Positions::kLearned && positions > o_.block_size)
      throw loom::InputError("transformer_lm: " + std::string(what) + " of " + std::to_string(positions) +
                             " positions is longer than block_size " + std::to_string(o_.block_size) +
                             " (raise block_size, or lower the data's max_length or the search's maximum length)");
  }

  // Tokens in the history (the same for every row).
  std::int64_t length() const { return history_.empty() ? 0 : static_cast<std::int64_t>(history_[0].size()); }

  // Rebuilds the cache from the last `keep` tokens of the history (positions restart at 0).
  void refill(loom::Graph& g, std::int64_t keep) {
    for (auto& row : history_) row.erase(row.begin(), row.end() - keep);
    caches_.assign(layers_.size(), {});
    if (keep > 0) run_cached(g, 0, keep);
  }

  // The style's initialisation, set by name before the arena is filled.
  void set_initialisation() {
    const float xavier_base = 6.0f;
    for (auto& p : parameters_) {
      const std::string& n = p.name;
      const bool matrix = p.shape.rank() == 2;
      if (o_.style == "gpt") {
        if (ends_with(n, ".bias")) p.init = loom::Init::zeros();
        else if (n.find("norm") != std::string::npos) continue;  // ones (weights) from LayerNorm
        else if (ends_with(n, "out_proj.weight") || ends_with(n, "linear2.weight"))
          p.init = loom::Init::normal(0.02f / std::sqrt(2.0f * static_cast<float>(o_.layers)));
        else if (!ends_with(n, "relative_bias")) p.init = loom::Init::normal(0.02f);
      } else {
        if (n == "embedding.weight" || n == "decoder.weight") p.init = loom::Init::uniform(0.1f);
        else if (n.rfind("layers.", 0) == 0 && matrix && !ends_with(n, "relative_bias"))
          p.init = loom::Init::uniform(std::sqrt(xavier_base / static_cast<float>(p.shape[0] + p.shape[1])));
      }
    }
  }

  double sequence_flops(std::int64_t T) const {
    double f = 2.0 * static_cast<double>(T) * static_cast<double>(o_.vocab) * static_cast<double>(o_.d_model);
    for (const auto& layer : layers_) f += nn::transformer_layer_flops(layer.options(), T);
    return f;
  }

  Options o_;
  std::optional<nn::Embedding> embedding_;
  loom::Parameter* positions_ = nullptr;
  std::vector<nn::TransformerLayer> layers_;
  std::optional<nn::LayerNorm> final_norm_;
  loom::Parameter* decoder_weight_ = nullptr;
  loom::Parameter* decoder_bias_ = nullptr;
  std::vector<nn::LayerCache> caches_;
  std::vector<std::vector<std::int32_t>> history_;  // per batch row, the tokens in the cache
};

// "style" or an explicit value: the style's choice unless the knob is set.
std::string knob(const loom::Params& p, const std::string& name, const std::string& wlm, const std::string& gpt) {
  const std::string v = p.get_string(name);
  if (v != "style") return v;
  return p.get_string("style") == "gpt" ? gpt : wlm;
}

const loom::PluginDescriptor& descriptor() {
  using T = loom::ParamType;
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "transformer_lm",
      "1.0",
      "causal Transformer language model (word_language_model's TransformerModel or minGPT's GPT)",
      {{"vocab", T::kComponent, "", "vocabulary of inputs and outputs", {"vocab"}},
       {"style", T::kString, "wlm", "defaults of the knobs below: wlm (word_language_model) or gpt (minGPT)", {"wlm", "gpt"}},
       {"d_model", T::kInt, "200", "model width (embedding size)", {}, 1},
       {"heads", T::kInt, "2", "attention heads (d_model must be divisible by it)", {}, 1},
       {"layers", T::kInt, "2", "Transformer layers", {}, 1},
       {"d_ff", T::kInt, "0", "feed-forward width (0: the style's, wlm d_model, gpt 4 d_model)", {}, 0},
       {"dropout", T::kFloat, "-1", "dropout on embeddings + positions (-1: the style's, wlm 0.2, gpt 0.1)"},
       {"layer_dropout", T::kFloat, "-1", "dropout in the layers: residuals and attention weights (-1: the style's, wlm 0.1, gpt 0.1)"},
       {"block_size", T::kInt, "0", "longest context (0: none; needed by learned positions; gpt's default 128)", {}, 0},
       {"positions", T::kString, "style", "position encoding (wlm sinusoidal, gpt learned)", {"style", "sinusoidal", "learned", "none"}},
       {"norm", T::kString, "style", "layer norm placement (wlm post, gpt pre; none: no layer norm at all)", {"style", "post", "pre", "none"}},
       {"activation", T::kString, "style", "feed-forward activation (wlm relu, gpt gelu)", {"style", "relu", "gelu"}},
       {"output_bias", T::kString, "style", "a bias in the output layer (wlm true, gpt false)", {"style", "true", "false"}},
       {"scale_embedding", T::kString, "style", "embedding times sqrt(d_model) (wlm true, gpt false)", {"style", "true", "false"}},
       {"tie_weights", T::kBool, "false", "share the embedding and output weights"},
       {"head_merge", T::kString, "concat", "how head outputs are merged", {"concat", "shuffle", "shift", "reweight"}},
       {"relative_bias", T::kInt, "0", "> 0: a learned bias per head and offset, offsets clipped at this distance", {}, 0},
       {"kv_cache", T::kBool, "true", "keep keys and values between tokens in generation and scoring (false: recompute the prefix)"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        o.style = p.get_string("style");
        const bool gpt = o.style == "gpt";
        const loom::Vocab& vocab = ctx.vocab("vocab");
        o.vocab = static_cast<std::int64_t>(vocab.size());
        o.eos = vocab.eos_id();
        o.unk = vocab.unk_id();
        o.d_model = p.get_int("d_model");
        o.heads = p.get_int("heads");
        if (o.d_model % o.heads != 0)
          p.fail("heads", "d_model " + std::to_string(o.d_model) + " is not divisible by " + std::to_string(o.heads) + " heads");
        o.layers = p.get_int("layers");
        o.d_ff = p.get_int("d_ff") > 0 ? p.get_int("d_ff") : (gpt ? 4 * o.d_model : o.d_model);
        auto rate = [&](const char* name, double style_value) {
          double v = p.get_float(name);
          if (v == -1.0) v = style_value;
          if (v < 0.0 || v >= 1.0) p.fail(name, "must be in [0, 1) (or -1 for the style's), got " + p.get_string(name));
          return static_cast<float>(v);
        };
        o.dropout = rate("dropout", gpt ? 0.1 : 0.2);
        o.layer_dropout = rate("layer_dropout", 0.1);
        o.block_size = p.get_int("block_size");
        const std::string positions = knob(p, "positions", "sinusoidal", "learned");
        o.positions = positions == "learned" ? Positions::kLearned
                      : positions == "none"  ? Positions::kNone
                                             : Positions::kSinusoidal;
        if (gpt && o.block_size == 0) o.block_size = 128;
        if (o.positions == Positions::kLearned && o.block_size == 0)
          p.fail("block_size", "learned positions need a block_size (the longest context)");
        o.norm = nn::parse_norm(knob(p, "norm", "post", "pre"));
        o.activation = nn::parse_activation(knob(p, "activation", "relu", "gelu"));
        o.output_bias = knob(p, "output_bias", "true", "false") == "true";
        o.scale_embedding = knob(p, "scale_embedding", "true", "false") == "true";
        o.tie_weights = p.get_bool("tie_weights");
        o.merge = nn::parse_head_merge(p.get_string("head_merge"));
        o.relative_distance = p.get_int("relative_bias");
        o.kv_cache = p.get_bool("kv_cache");
        return std::make_unique<TransformerLm>(o, ctx.seed());
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
