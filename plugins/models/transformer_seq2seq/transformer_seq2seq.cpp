// models/transformer_seq2seq: a Transformer encoder-decoder (Vaswani et al. 2017) for
// translation over the encoder_decoder batch layout (loom/batch_layout.hpp).
//
//   encoder: src [B, S] -> embedding x sqrt(D) (if scale_embedding) -> + positions -> dropout
//            -> `encoder_layers` layers (self attention over the real source positions)
//            -> final layer norm (unless norm: none)
//   decoder: tgt_in [B, T] -> embedding (x sqrt(D)) -> + positions -> dropout
//            -> `decoder_layers` layers (causal self attention, cross attention over the
//            encoder's outputs) -> final layer norm -> linear to the target vocabulary
//   loss:    NLL of tgt_out (padding ignored), optionally label-smoothed; perplexity is always
//            measured on the plain NLL.
// The layers are loom/attention.hpp's (nn.TransformerEncoderLayer / DecoderLayer), post-norm
// by default as nn.Transformer, which also ends encoder and decoder with a layer norm. The
// single-head, no-layer-norm blocks of course starter code are `heads: 1, norm: none`.
// `share_embeddings` uses one table for both sides (a joint vocabulary); `tie_weights` makes
// the output layer the decoder's embedding.
//
// As an IncrementalDecoder it encodes once, then steps with each decoder layer's self-attention
// keys and values cached and the encoder's keys and values computed at the first step; beams
// reorder the caches' rows.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "loom/attention.hpp"
#include "loom/batch_layout.hpp"
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
  std::int64_t src_vocab = 0, tgt_vocab = 0, d_model = 0, heads = 0, encoder_layers = 0, decoder_layers = 0, d_ff = 0,
               max_length = 0;
  float dropout = 0.1f, attention_dropout = 0.1f, label_smoothing = 0.0f;
  Positions positions = Positions::kSinusoidal;
  nn::NormPlacement norm = nn::NormPlacement::kPost;
  nn::Activation activation = nn::Activation::kRelu;
  bool share_embeddings = false, tie_weights = false, scale_embedding = true;
  std::int32_t bos = 0, eos = 0, unk = loom::Vocab::kNone;
};

class TransformerSeq2Seq : public loom::Model, public loom::IncrementalDecoder, public loom::CountsFlops {
 public:
  TransformerSeq2Seq(const Options& o, std::uint64_t seed) : o_(o) {
    const loom::Init embedding_init = loom::Init::normal(1.0f / std::sqrt(static_cast<float>(o.d_model)));
    src_embedding_.emplace(parameters_, o.share_embeddings ? "embedding" : "encoder.embedding", o.src_vocab, o.d_model,
                           embedding_init);
    if (!o.share_embeddings)
      tgt_embedding_.emplace(parameters_, "decoder.embedding", o.tgt_vocab, o.d_model, embedding_init);
    if (o.positions == Positions::kLearned) {
      src_positions_ = parameters_.add("encoder.positions", Shape{o.max_length, o.d_model}, loom::Init::normal(0.02f));
      tgt_positions_ = parameters_.add("decoder.positions", Shape{o.max_length, o.d_model}, loom::Init::normal(0.02f));
    }
    nn::TransformerLayerOptions lo;
    lo.d_model = o.d_model;
    lo.heads = o.heads;
    lo.d_ff = o.d_ff;
    lo.dropout = o.dropout;
    lo.norm = o.norm;
    lo.activation = o.activation;
    lo.attention.seed = seed;
    lo.attention_dropout = o.attention_dropout;
    for (std::int64_t l = 0; l < o.encoder_layers; ++l)
      encoder_.emplace_back(parameters_, "encoder.layers." + std::to_string(l), lo);
    lo.cross = true;
    for (std::int64_t l = 0; l < o.decoder_layers; ++l)
      decoder_.emplace_back(parameters_, "decoder.layers." + std::to_string(l), lo);
    if (o.norm != nn::NormPlacement::kNone) {
      encoder_norm_.emplace(parameters_, "encoder.norm", o.d_model);
      decoder_norm_.emplace(parameters_, "decoder.norm", o.d_model);
    }
    if (!o.tie_weights)
      out_weight_ = parameters_.add("decoder.output.weight", Shape{o.tgt_vocab, o.d_model},
                                    loom::Init::uniform(1.0f / std::sqrt(static_cast<float>(o.d_model))));
    out_bias_ = parameters_.add("decoder.output.bias", Shape{o.tgt_vocab}, loom::Init::zeros());
    // nn.Transformer's _reset_parameters: Xavier uniform for every matrix of the layers.
    for (auto& p : parameters_)
      if (p.name.find(".layers.") != std::string::npos && p.shape.rank() == 2)
        p.init = loom::Init::uniform(std::sqrt(6.0f / static_cast<float>(p.shape[0] + p.shape[1])));
    parameters_.finalize(seed);
  }

  // ---- IncrementalDecoder ------------------------------------------------------------------
  std::unique_ptr<loom::DecoderState> start(loom::Graph& g, const loom::Batch& batch, Tensor& log_probs) override {
    auto s = std::make_unique<State>();
    s->src_lengths = batch.get("src_lengths");
    s->memory = encode(g, batch.get("src"), s->src_lengths).value().clone();
    s->caches.resize(decoder_.size());
    const std::int64_t B = s->memory.dim(0);
    s->sources = loom::SourceRows(B);
    Tensor bos = Tensor::empty(Shape{B}, loom::DType::kInt32);
    std::fill(bos.ids(), bos.ids() + B, o_.bos);
    g.clear();
    log_probs = step(g, *s, bos);
    return s;
  }

  Tensor step(loom::Graph& g, loom::DecoderState& state, const Tensor& ids) override {
    auto& s = dynamic_cast<State&>(state);
    const std::int64_t R = ids.numel();
    std::vector<Expr> weights;
    Expr h = decode(g, ids.view(Shape{R, 1}), s.position, g.constant(s.memory), s.src_lengths, &s.caches, &weights);
    ++s.position;
    // The last layer's cross attention [R, H, 1, S], averaged over heads.
    const Tensor& w = weights.back().value();
    const std::int64_t H = w.dim(1), S = w.dim(3);
    s.attention = Tensor::zeros(Shape{R, S});
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t k = 0; k < H; ++k)
        for (std::int64_t j = 0; j < S; ++j) s.attention.data()[r * S + j] += w.data()[(r * H + k) * S + j] / H;
    Tensor logits =
        loom::linear(loom::reshape(h, Shape{R, o_.d_model}), g.param(output_weight()), g.param(*out_bias_)).value();
    loom::log_softmax_rows(logits);
    return logits;
  }

  void reorder(loom::DecoderState& state, const Tensor& rows) override {
    auto& s = dynamic_cast<State&>(state);
    for (auto& c : s.caches) c.self.reorder(rows);
    if (s.attention.defined()) s.attention = loom::take_rows(s.attention, rows);
    // What comes from the source alone changes only when rows change sentences; the cached
    // keys and values of the source stay where they are (the caches look rows up).
    if (!s.sources.reorder(rows)) return;
    for (auto& c : s.caches) c.memory.reorder(rows);
    s.src_lengths = loom::take_rows(s.src_lengths, rows);
  }
  Tensor last_attention(const loom::DecoderState& state) const override {
    return dynamic_cast<const State&>(state).attention;
  }
  std::int64_t vocab_size() const override { return o_.tgt_vocab; }
  std::int32_t eos_id() const override { return o_.eos; }
  std::int32_t unk_id() const override { return o_.unk; }

  // ---- CountsFlops --------------------------------------------------------------------------
  // A source of S tokens and a target of T: the encoder layers' nn::transformer_layer_flops(S),
  // the decoder layers' (T, memory S) and the output layer's 2 T V D. Per token: per target
  // token, with S = T. Non-embedding parameters: all but the embedding tables and positions.
  double flops_per_token(std::int64_t length) const override {
    return length > 0 ? pair_flops(length, length) / static_cast<double>(length) : 0.0;
  }
  double forward_flops(const loom::Batch& batch) const override {
    const Tensor& src = batch.get("src");     // [B, S]
    const Tensor& tgt = batch.get("tgt_in");  // [B, T]
    return static_cast<double>(src.dim(0)) * pair_flops(src.dim(1), tgt.dim(1));
  }
  std::int64_t non_embedding_parameters() const override {
    return parameters_.count_except({"embedding.weight", "encoder.embedding.weight", "decoder.embedding.weight",
                                     "encoder.positions", "decoder.positions"});
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const Tensor& tgt_in = batch.get("tgt_in");
    const Tensor& tgt_out = batch.get("tgt_out");
    const Tensor& src_lengths = batch.get("src_lengths");
    const std::int64_t B = tgt_in.dim(0), T = tgt_in.dim(1);
    Expr memory = encode(g, batch.get("src"), src_lengths);
    Expr h = decode(g, tgt_in, 0, memory, src_lengths, nullptr, nullptr);
    loom::NllStats stats;
    loom::ModelOutput out;
    out.loss = loom::linear_log_softmax_nll(loom::reshape(h, Shape{B * T, o_.d_model}), g.param(output_weight()),
                                            g.param(*out_bias_), tgt_out, loom::kIgnoreTarget, &stats,
                                            o_.label_smoothing);
    out.loss_sum = stats.loss_sum;
    out.nll_sum = stats.nll_sum;
    out.count = stats.count;
    return out;
  }

 private:
  struct State : loom::DecoderState {
    // The encoder's outputs [B, S, D], one row per sentence in the batch's order: read by the
    // first step only, which fills the caches' keys and values of the source.
    Tensor memory;
    Tensor src_lengths;                  // [R]
    std::vector<nn::LayerCache> caches;  // per decoder layer
    std::int64_t position = 0;           // of the next target token
    Tensor attention;                    // the last step's cross attention [R, S]
    loom::SourceRows sources;            // each row's sentence
    std::int64_t rows() const override { return src_lengths.defined() ? src_lengths.dim(0) : 0; }
  };

  const nn::Embedding& tgt_embedding() const { return tgt_embedding_ ? *tgt_embedding_ : *src_embedding_; }
  const loom::Parameter& output_weight() const { return o_.tie_weights ? *tgt_embedding().weight() : *out_weight_; }

  // ids [B, T] at positions offset .. -> embedded, positioned and dropped out [B, T, D].
  Expr embed(loom::Graph& g, const nn::Embedding& table, loom::Parameter* learned, const Tensor& ids,
             std::int64_t offset, const char* side) const {
    const std::int64_t T = ids.dim(1), D = o_.d_model;
    if (o_.positions == Positions::kLearned && offset + T > o_.max_length)
      throw loom::InputError("transformer_seq2seq: a " + std::string(side) + " of " + std::to_string(offset + T) +
                             " positions is longer than max_length " + std::to_string(o_.max_length) +
                             " (raise max_length, or filter with the data's max_length)");
    Expr x = table(g, ids);
    if (o_.scale_embedding) x = loom::scale(x, std::sqrt(static_cast<float>(D)));
    if (o_.positions == Positions::kSinusoidal)
      x = loom::add_positions(x, g.constant(nn::sinusoidal_positions(offset, T, D)));
    else if (o_.positions == Positions::kLearned)
      x = loom::add_positions(x, loom::slice(g.param(*learned), 0, offset, offset + T));
    return loom::dropout(x, o_.dropout);
  }

  Expr encode(loom::Graph& g, const Tensor& src, const Tensor& src_lengths) const {
    Expr x = embed(g, *src_embedding_, src_positions_, src, 0, "source");
    const loom::AttentionMask mask{false, src_lengths};
    for (const auto& layer : encoder_) x = layer(g, x, mask);
    return encoder_norm_ ? (*encoder_norm_)(g, x) : x;
  }

  // tgt [B, T] at positions offset.. -> [B, T, D]. With caches, tgt holds the new positions.
  Expr decode(loom::Graph& g, const Tensor& tgt, std::int64_t offset, const Expr& memory, const Tensor& src_lengths,
              std::vector<nn::LayerCache>* caches, std::vector<Expr>* weights) const {
    Expr x = embed(g, tgt_embedding(), tgt_positions_, tgt, offset, "target");
    const loom::AttentionMask causal{true, {}};
    const loom::AttentionMask source{false, src_lengths};
    for (std::size_t l = 0; l < decoder_.size(); ++l)
      x = decoder_[l](g, x, causal, memory, source, caches ? &(*caches)[l] : nullptr, weights);
    return decoder_norm_ ? (*decoder_norm_)(g, x) : x;
  }

  double pair_flops(std::int64_t S, std::int64_t T) const {
    double f = 2.0 * static_cast<double>(T) * static_cast<double>(o_.tgt_vocab) * static_cast<double>(o_.d_model);
    for (const auto& layer : encoder_) f += nn::transformer_layer_flops(layer.options(), S);
    for (const auto& layer : decoder_) f += nn::transformer_layer_flops(layer.options(), T, S);
    return f;
  }

  Options o_;
  std::optional<nn::Embedding> src_embedding_, tgt_embedding_;
  loom::Parameter* src_positions_ = nullptr;
  loom::Parameter* tgt_positions_ = nullptr;
  std::vector<nn::TransformerLayer> encoder_, decoder_;
  std::optional<nn::LayerNorm> encoder_norm_, decoder_norm_;
  loom::Parameter* out_weight_ = nullptr;
  loom::Parameter* out_bias_ = nullptr;
};

bool same_tokens(const loom::Vocab& a, const loom::Vocab& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a.token(static_cast<std::int32_t>(i)) != b.token(static_cast<std::int32_t>(i))) return false;
  return true;
}

const loom::PluginDescriptor& descriptor() {
  using T = loom::ParamType;
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "transformer_seq2seq",
      "1.0",
      "Transformer encoder-decoder (nn.Transformer's layers), label smoothing, shared or tied embeddings",
      {{"src_vocab", T::kComponent, "", "vocabulary of the source side", {"vocab"}},
       {"tgt_vocab", T::kComponent, "", "vocabulary of the target side (needs bos and eos)", {"vocab"}},
       {"d_model", T::kInt, "256", "model width (embedding size)", {}, 1},
       {"heads", T::kInt, "4", "attention heads (d_model must be divisible by it)", {}, 1},
       {"encoder_layers", T::kInt, "3", "encoder layers", {}, 1},
       {"decoder_layers", T::kInt, "3", "decoder layers", {}, 1},
       {"d_ff", T::kInt, "0", "feed-forward width (0: 4 d_model)", {}, 0},
       {"dropout", T::kFloat, "0.1", "dropout on embeddings + positions and on every residual branch", {}, 0.0},
       {"attention_dropout", T::kFloat, "-1", "dropout on the attention weights (-1: as dropout)"},
       {"norm", T::kString, "post", "layer norm placement (post: Vaswani and nn.Transformer; pre; none: no layer norm)",
        {"post", "pre", "none"}},
       {"activation", T::kString, "relu", "feed-forward activation", {"relu", "gelu"}},
       {"positions", T::kString, "sinusoidal", "position encoding", {"sinusoidal", "learned", "none"}},
       {"max_length", T::kInt, "256", "longest source or target with learned positions", {}, 1},
       {"scale_embedding", T::kBool, "true", "multiply embeddings by sqrt(d_model)"},
       {"share_embeddings", T::kBool, "false", "one embedding table for both sides (needs one joint vocabulary)"},
       {"tie_weights", T::kBool, "false", "the output layer uses the decoder's embedding"},
       {"label_smoothing", T::kFloat, "0.1", "target distribution (1 - eps) onehot + eps / vocabulary, in training", {}, 0.0}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        const loom::Vocab& src = ctx.vocab("src_vocab");
        const loom::Vocab& tgt = ctx.vocab("tgt_vocab");
        o.src_vocab = static_cast<std::int64_t>(src.size());
        o.tgt_vocab = static_cast<std::int64_t>(tgt.size());
        if (tgt.bos_id() == loom::Vocab::kNone || tgt.eos_id() == loom::Vocab::kNone)
          p.fail("tgt_vocab", "names a vocabulary without bos and eos tokens, which decoding starts and ends with");
        o.bos = tgt.bos_id();
        o.eos = tgt.eos_id();
        o.unk = tgt.unk_id();
        o.d_model = p.get_int("d_model");
        o.heads = p.get_int("heads");
        if (o.d_model % o.heads != 0)
          p.fail("heads", "d_model " + std::to_string(o.d_model) + " is not divisible by " + std::to_string(o.heads) + " heads");
        o.encoder_layers = p.get_int("encoder_layers");
        o.decoder_layers = p.get_int("decoder_layers");
        o.d_ff = p.get_int("d_ff") > 0 ? p.get_int("d_ff") : 4 * o.d_model;
        o.dropout = static_cast<float>(p.get_float("dropout"));
        if (o.dropout >= 1.0f) p.fail("dropout", "must be below 1, got " + p.get_string("dropout"));
        const double attention_dropout = p.get_float("attention_dropout");
        o.attention_dropout = attention_dropout == -1.0 ? o.dropout : static_cast<float>(attention_dropout);
        if (o.attention_dropout < 0.0f || o.attention_dropout >= 1.0f)
          p.fail("attention_dropout", "must be in [0, 1) (or -1 for dropout's), got " + p.get_string("attention_dropout"));
        o.norm = nn::parse_norm(p.get_string("norm"));
        o.activation = nn::parse_activation(p.get_string("activation"));
        const std::string positions = p.get_string("positions");
        o.positions = positions == "learned" ? Positions::kLearned
                      : positions == "none"  ? Positions::kNone
                                             : Positions::kSinusoidal;
        o.max_length = p.get_int("max_length");
        o.scale_embedding = p.get_bool("scale_embedding");
        o.share_embeddings = p.get_bool("share_embeddings");
        if (o.share_embeddings && !same_tokens(src, tgt))
          p.fail("share_embeddings", "needs one vocabulary for both sides, but src_vocab has " + std::to_string(src.size()) +
                                         " tokens and tgt_vocab " + std::to_string(tgt.size()) +
                                         " (give both the same builder)");
        o.tie_weights = p.get_bool("tie_weights");
        o.label_smoothing = static_cast<float>(p.get_float("label_smoothing"));
        if (o.label_smoothing >= 1.0f)
          p.fail("label_smoothing", "must be below 1, got " + p.get_string("label_smoothing"));
        return std::make_unique<TransformerSeq2Seq>(o, ctx.seed());
      },
      "source S, target T: encoder layers x (6 S D^2 + 4 S^2 D + 3 H S^2 + 2 S D^2 + 4 S D F) + decoder layers x (6 T D^2 + 4 T^2 D + 3 H T^2 + 2 T D^2 + cross 4 T D^2 + 4 S D^2 + 4 T S D + 3 H T S + 4 T D F) + 2 T V D (D d_model, H heads, F d_ff, V target vocabulary)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
