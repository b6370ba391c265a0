#pragma once
// The Transformer body that model plugins share: token embedding (times sqrt(D) if
// scale_embedding) -> positions (sinusoidal | learned over block_size | none) -> dropout ->
// `layers` Transformer layers -> final layer norm (unless norm: none). Parameter names:
// embedding.weight, positions.weight, layers.N.<TransformerLayer's names>, norm.weight/bias, so
// that every model built on it (the language model, the classifier) can start from another's
// trained parameters with `init_from`.
//
// Two styles set the defaults of every knob; each knob can also be set alone:
//   wlm  PyTorch word_language_model's TransformerModel: sinusoidal positions, post-norm layers
//        with ReLU and dropout 0.1, d_ff = d_model, embedding uniform(-0.1, 0.1), the layers'
//        matrices Xavier uniform.
//   gpt  minGPT's GPT: learned positions over block_size (128 unless set), pre-norm blocks with
//        GELU and a 4 d_model MLP, dropout 0.1, N(0, 0.02) init, residual projections
//        N(0, 0.02 / sqrt(2 layers)).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loom/attention.hpp"
#include "loom/config.hpp"

namespace loom::nn {

enum class Positions { kSinusoidal, kLearned, kNone };

struct TransformerBodyOptions {
  std::string style = "wlm";  // wlm | gpt
  std::int64_t vocab = 0, d_model = 0, heads = 1, layers = 1, d_ff = 0, block_size = 0;
  float dropout = 0.0f;        // on embeddings + positions
  float layer_dropout = 0.0f;  // residuals and attention weights inside the layers
  Positions positions = Positions::kSinusoidal;
  NormPlacement norm = NormPlacement::kPost;
  Activation activation = Activation::kRelu;
  HeadMerge merge = HeadMerge::kConcat;
  std::int64_t relative_distance = 0;
  bool scale_embedding = true;
};

// The body's plugin parameters (style, d_model, heads, layers, d_ff, dropout, layer_dropout,
// block_size, positions, norm, activation, scale_embedding, head_merge, relative_bias), for a
// model's descriptor to list after its own.
std::vector<ParamSpec> transformer_body_params();
// Reads them (with the style's defaults) and checks them, failing at the value's location.
TransformerBodyOptions parse_transformer_body(const Params& p, std::int64_t vocab);
// A knob of kind string whose value may be "style": the style's choice (wlm or gpt) unless set.
std::string style_knob(const Params& p, const std::string& name, const std::string& wlm, const std::string& gpt);

// ids int32 [T, B] (the loaders' layout) -> [B, T] (the body's).
Tensor batch_major_ids(const Tensor& ids);

class TransformerBody {
 public:
  // Adds the body's parameters to `params` and sets their style's initialisation (before the
  // owner finalizes the arena).
  TransformerBody(Parameters& params, const TransformerBodyOptions& options, std::uint64_t seed);

  // ids int32 [B, T] at positions offset .. offset + T - 1 -> hidden states [B, T, D]. With
  // `row_positions` (int32 [B, T]) each token has its own position instead. `caches`: one per
  // layer, for incremental decoding. `weights` receives every layer's attention weights.
  Expr operator()(Graph& g, const Tensor& ids, const AttentionMask& mask, std::int64_t offset = 0,
                  std::vector<LayerCache>* caches = nullptr, std::vector<Expr>* weights = nullptr,
                  const Tensor& row_positions = {}) const;

  // The style's initialisation for a parameter the owner adds (an output layer, a head):
  // gpt N(0, 0.02) for matrices and zeros for biases; wlm uniform(-0.1, 0.1) for matrices.
  Init head_init(const Shape& shape) const;

  // Forward FLOPs of the layers for one sequence of T positions (nn::transformer_layer_flops;
  // the embedding and position lookups cost none).
  double flops(std::int64_t T) const;
  // Throws InputError when `positions` positions do not fit learned positions (block_size).
  void check_context(std::int64_t positions, const std::string& model, const std::string& what) const;

  const TransformerBodyOptions& options() const { return options_; }
  const Parameter& embedding_weight() const { return *embedding_weight_; }
  Parameter& embedding_weight() { return *embedding_weight_; }
  std::size_t layer_count() const { return layers_.size(); }
  // Names that count as embeddings (not in non-embedding parameter counts).
  static std::vector<std::string> embedding_names() { return {"embedding.weight", "positions.weight"}; }

 private:
  TransformerBodyOptions options_;
  Parameter* embedding_weight_ = nullptr;
  Parameter* positions_ = nullptr;
  std::vector<TransformerLayer> layers_;
  std::optional<LayerNorm> final_norm_;
};

}  // namespace loom::nn
