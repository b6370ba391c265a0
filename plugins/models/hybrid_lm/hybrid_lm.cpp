// models/hybrid_lm: the "LSTM + Transformer" language model.
//
//   ids [T, B] -> embedding [T, B, E] -> dropout -> RNN (state carried and detached across
//   batches, as rnn_lm) [T, B, H] -> batch-major [B, T, H] -> `layers` causal Transformer
//   layers over the window (width H) -> final layer norm (unless norm: none) -> dropout
//   -> linear to the vocabulary -> log-softmax + NLL.
//
// The recurrence carries information across windows; attention looks back within the window
// (the data's bptt). As a LanguageModel the model feeds text a token at a time with the RNN
// state carried and the attention layers' keys and values cached, restarting the cache every
// `context` tokens: with `context` equal to the training bptt, scoring a text sees exactly the
// windows training saw. The RNN needs no positions; `positions: sinusoidal` adds them.
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

struct Options {
  loom::CellType cell = loom::CellType::kLstm;
  std::int64_t vocab = 0, emsize = 0, nhid = 0, rnn_layers = 1, layers = 1, heads = 1, d_ff = 0, context = 0;
  float dropout = 0.0f, layer_dropout = 0.0f;
  bool sinusoidal = false, tie_weights = false;
  nn::NormPlacement norm = nn::NormPlacement::kPre;
  nn::Activation activation = nn::Activation::kGelu;
};

class HybridLm : public loom::Model,
                 public loom::Stateful,
                 public loom::LanguageModel,
                 public loom::ShowsAttention,
                 public loom::CountsFlops {
 public:
  HybridLm(const Options& o, std::uint64_t seed)
      : o_(o),
        encoder_(parameters_, "encoder", o.vocab, o.emsize, loom::Init::uniform(0.1f)),
        rnn_(parameters_, "rnn", o.cell, o.emsize, o.nhid, static_cast<int>(o.rnn_layers), o.dropout) {
    nn::TransformerLayerOptions lo;
    lo.d_model = o.nhid;
    lo.heads = o.heads;
    lo.d_ff = o.d_ff;
    lo.dropout = o.layer_dropout;
    lo.norm = o.norm;
    lo.activation = o.activation;
    lo.attention.seed = seed;
    for (std::int64_t l = 0; l < o.layers; ++l) layers_.emplace_back(parameters_, "layers." + std::to_string(l), lo);
    if (o.norm != nn::NormPlacement::kNone) norm_.emplace(parameters_, "norm", o.nhid);
    decoder_weight_ = o.tie_weights ? encoder_.weight()
                                    : parameters_.add("decoder.weight", Shape{o.vocab, o.nhid}, loom::Init::uniform(0.1f));
    decoder_bias_ = parameters_.add("decoder.bias", Shape{o.vocab}, loom::Init::zeros());
    parameters_.finalize(seed);
  }

  // ---- CountsFlops --------------------------------------------------------------------------
  // A window of T tokens: T steps of the recurrent layers (nn::Rnn::flops_per_step), the
  // Transformer layers' nn::transformer_layer_flops(T) at width H = nhid, and the output
  // layer's 2 T V H. Non-embedding parameters: all but encoder.weight (a tied output layer is
  // that table).
  double flops_per_token(std::int64_t length) const override {
    return length > 0 ? window_flops(length) / static_cast<double>(length) : 0.0;
  }
  double forward_flops(const loom::Batch& batch) const override {
    const Tensor& ids = batch.get("ids");  // [T, B]
    return static_cast<double>(ids.dim(1)) * window_flops(ids.dim(0));
  }
  std::int64_t non_embedding_parameters() const override { return parameters_.count_except({"encoder.weight"}); }

  void reset_state() override {
    state_.reset();
    caches_.clear();
    cached_ = 0;
  }
  void save_state(loom::StateDict& out) const override { nn::save_rnn_state(state_, out); }
  void load_state(const loom::StateDict& in) override {
    nn::load_rnn_state(state_, in, rnn_);
    caches_.clear();
    cached_ = 0;
  }

  std::int64_t vocab_size() const override { return o_.vocab; }

  Tensor next_log_probs(loom::Graph& g, const Tensor& ids) override {
    const std::int64_t T = ids.dim(0), B = ids.dim(1), V = o_.vocab;
    if (!state_.empty() && state_.h[0].dim(0) != B) reset_state();
    Tensor out = Tensor::empty(Shape{T * B, V});
    for (std::int64_t t = 0; t < T;) {
      if (cached_ >= o_.context) {  // a new window: attention restarts, the RNN state carries on
        caches_.clear();
        cached_ = 0;
      }
      const std::int64_t n = std::min(T - t, o_.context - cached_);
      if (caches_.empty()) caches_.resize(layers_.size());
      Tensor piece = Tensor::empty(Shape{n, B}, loom::DType::kInt32);
      std::copy_n(ids.ids() + t * B, n * B, piece.ids());
      g.clear();
      Expr h = body(g, piece, cached_, &caches_);  // [B, n, H]
      Tensor logits = loom::linear(loom::reshape(loom::swap_axes(h, 0, 1), Shape{n * B, o_.nhid}),
                                   g.param(*decoder_weight_), g.param(*decoder_bias_))
                          .value()
                          .clone();
      loom::log_softmax_rows(logits);
      std::copy_n(logits.data(), n * B * V, out.data() + t * B * V);
      cached_ += n;
      t += n;
    }
    return out;
  }

  // The weights of a fresh pass over ids [T, 1]; the carried state is left as it was.
  std::vector<loom::AttentionMap> attention_maps(loom::Graph& g, const Tensor& ids) override {
    nn::RnnState saved = state_;
    state_.reset();
    std::vector<Expr> weights;
    body(g, ids, 0, nullptr, &weights);
    state_ = saved;
    return loom::layer_attention_maps(weights);
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const Tensor& ids = batch.get("ids");
    const Tensor& targets = batch.get("targets");
    const std::int64_t T = ids.dim(0), B = ids.dim(1);
    if (!state_.empty() && state_.h[0].dim(0) != B) state_.reset();
    Expr h = loom::dropout(body(g, ids, 0, nullptr), o_.dropout);  // [B, T, H]
    // Back to time-major rows, to match targets [T, B].
    Expr flat = loom::reshape(loom::swap_axes(h, 0, 1), Shape{T * B, o_.nhid});
    loom::NllStats stats;
    loom::ModelOutput out;
    out.loss = loom::linear_log_softmax_nll(flat, g.param(*decoder_weight_), g.param(*decoder_bias_), targets, -1, &stats);
    out.loss_sum = stats.loss_sum;
    out.count = stats.count;
    return out;
  }

 private:
  // ids [T, B] at window positions offset.. -> [B, T, H]; the RNN state carries on.
  Expr body(loom::Graph& g, const Tensor& ids, std::int64_t offset, std::vector<nn::LayerCache>* caches,
            std::vector<Expr>* weights = nullptr) {
    Expr x = loom::dropout(encoder_(g, ids), o_.dropout);
    Expr h = loom::swap_axes(rnn_(g, x, &state_), 0, 1);  // [B, T, H]
    if (o_.sinusoidal) h = loom::add_positions(h, g.constant(nn::sinusoidal_positions(offset, ids.dim(0), o_.nhid)));
    const loom::AttentionMask causal{true, {}};
    for (std::size_t l = 0; l < layers_.size(); ++l)
      h = layers_[l](g, h, causal, Expr(), {}, caches ? &(*caches)[l] : nullptr, weights);
    return norm_ ? (*norm_)(g, h) : h;
  }

  double window_flops(std::int64_t T) const {
    double f = static_cast<double>(T) * (rnn_.flops_per_step() + 2.0 * static_cast<double>(o_.vocab * o_.nhid));
    for (const auto& layer : layers_) f += nn::transformer_layer_flops(layer.options(), T);
    return f;
  }

  Options o_;
  nn::Embedding encoder_;
  nn::Rnn rnn_;
  std::vector<nn::TransformerLayer> layers_;
  std::optional<nn::LayerNorm> norm_;
  loom::Parameter* decoder_weight_;
  loom::Parameter* decoder_bias_;
  nn::RnnState state_;
  std::vector<nn::LayerCache> caches_;
  std::int64_t cached_ = 0;  // positions in the attention caches
};

const loom::PluginDescriptor& descriptor() {
  using T = loom::ParamType;
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "hybrid_lm",
      "1.0",
      "LSTM (state carried across windows) followed by causal Transformer layers within the window",
      {{"vocab", T::kComponent, "", "vocabulary of inputs and outputs", {"vocab"}},
       {"cell", T::kString, "lstm", "recurrent cell", {"lstm", "gru", "rnn_tanh", "rnn_relu"}},
       {"emsize", T::kInt, "200", "embedding size", {}, 1},
       {"nhid", T::kInt, "200", "recurrent units, and the width of the Transformer layers", {}, 1},
       {"rnn_layers", T::kInt, "1", "recurrent layers", {}, 1},
       {"layers", T::kInt, "1", "Transformer layers after the RNN", {}, 1},
       {"heads", T::kInt, "2", "attention heads (nhid must be divisible by it)", {}, 1},
       {"d_ff", T::kInt, "0", "feed-forward width (0: 2 nhid)", {}, 0},
       {"dropout", T::kFloat, "0.2", "dropout on embeddings, between RNN layers and on outputs", {}, 0.0},
       {"layer_dropout", T::kFloat, "0.1", "dropout in the Transformer layers", {}, 0.0},
       {"norm", T::kString, "pre", "layer norm placement in the Transformer layers", {"post", "pre", "none"}},
       {"activation", T::kString, "gelu", "feed-forward activation", {"relu", "gelu"}},
       {"positions", T::kString, "none", "positions added before attention (the RNN already orders tokens)",
        {"none", "sinusoidal"}},
       {"context", T::kInt, "35", "in generation and scoring, attention restarts every this many tokens (the training bptt)", {}, 1},
       {"tie_weights", T::kBool, "false", "share the embedding and output weights (needs emsize = nhid)"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        o.cell = nn::parse_cell(p.get_string("cell"));
        o.vocab = static_cast<std::int64_t>(ctx.vocab("vocab").size());
        o.emsize = p.get_int("emsize");
        o.nhid = p.get_int("nhid");
        o.rnn_layers = p.get_int("rnn_layers");
        o.layers = p.get_int("layers");
        o.heads = p.get_int("heads");
        if (o.nhid % o.heads != 0)
          p.fail("heads", "nhid " + std::to_string(o.nhid) + " is not divisible by " + std::to_string(o.heads) + " heads");
        o.d_ff = p.get_int("d_ff") > 0 ? p.get_int("d_ff") : 2 * o.nhid;
        o.dropout = static_cast<float>(p.get_float("dropout"));
        if (o.dropout >= 1.0f) p.fail("dropout", "must be below 1, got " + p.get_string("dropout"));
        o.layer_dropout = static_cast<float>(p.get_float("layer_dropout"));
        if (o.layer_dropout >= 1.0f) p.fail("layer_dropout", "must be below 1, got " + p.get_string("layer_dropout"));
        o.norm = nn::parse_norm(p.get_string("norm"));
        o.activation = nn::parse_activation(p.get_string("activation"));
        o.sinusoidal = p.get_string("positions") == "sinusoidal";
        o.context = p.get_int("context");
        o.tie_weights = p.get_bool("tie_weights");
        if (o.tie_weights && o.emsize != o.nhid)
          p.fail("tie_weights", "needs emsize (" + std::to_string(o.emsize) + ") equal to nhid (" + std::to_string(o.nhid) + ")");
        return std::make_unique<HybridLm>(o, ctx.seed());
      },
      "a window of T tokens: T (2 G H (in + H) per recurrent layer + 2 V H) + layers x (6 T H^2 + 2 T^2 H + 3 heads T^2 + 2 T^2 H + 2 T H^2 + 4 T H F) (H nhid, G gates: LSTM 4, GRU 3, RNN 1; in emsize for the first layer, H after; F d_ff; V vocabulary)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
