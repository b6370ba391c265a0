#include "loom/transformer.hpp"

#include <algorithm>
#include <cmath>

#include "loom/errors.hpp"

namespace loom::nn {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool starts_with(const std::string& s, const std::string& head) { return s.rfind(head, 0) == 0; }

bool owned_by_body(const std::string& name) {
  return name == "embedding.weight" || name == "positions.weight" || starts_with(name, "layers.") ||
         starts_with(name, "norm.");
}

}  // namespace

std::vector<ParamSpec> transformer_body_params() {
  using T = ParamType;
  return {
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
      {"scale_embedding", T::kString, "style", "embedding times sqrt(d_model) (wlm true, gpt false)", {"style", "true", "false"}},
      {"head_merge", T::kString, "concat", "how head outputs are merged", {"concat", "shuffle", "shift", "reweight"}},
      {"relative_bias", T::kInt, "0", "> 0: a learned bias per head and offset, offsets clipped at this distance", {}, 0},
  };
}

std::string style_knob(const Params& p, const std::string& name, const std::string& wlm, const std::string& gpt) {
  const std::string v = p.get_string(name);
  if (v != "style") return v;
  return p.get_string("style") == "gpt" ? gpt : wlm;
}

TransformerBodyOptions parse_transformer_body(const Params& p, std::int64_t vocab) {
  TransformerBodyOptions o;
  o.style = p.get_string("style");
  const bool gpt = o.style == "gpt";
  o.vocab = vocab;
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
  const std::string positions = style_knob(p, "positions", "sinusoidal", "learned");
  o.positions = positions == "learned" ? Positions::kLearned
                : positions == "none"  ? Positions::kNone
                                       : Positions::kSinusoidal;
  if (gpt && o.block_size == 0) o.block_size = 128;
  if (o.positions == Positions::kLearned && o.block_size == 0)
    p.fail("block_size", "learned positions need a block_size (the longest context)");
  o.norm = parse_norm(style_knob(p, "norm", "post", "pre"));
  o.activation = parse_activation(style_knob(p, "activation", "relu", "gelu"));
  o.scale_embedding = style_knob(p, "scale_embedding", "true", "false") == "true";
  o.merge = parse_head_merge(p.get_string("head_merge"));
  o.relative_distance = p.get_int("relative_bias");
  return o;
}

TransformerBody::TransformerBody(Parameters& params, const TransformerBodyOptions& o, std::uint64_t seed)
    : options_(o) {
  embedding_weight_ = params.add("embedding.weight", Shape{o.vocab, o.d_model}, Init::normal(1.0f));
  if (o.positions == Positions::kLearned)
    positions_ = params.add("positions.weight", Shape{o.block_size, o.d_model}, Init::normal(0.02f));
  TransformerLayerOptions lo;
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
  for (std::int64_t l = 0; l < o.layers; ++l) layers_.emplace_back(params, "layers." + std::to_string(l), lo);
  if (o.norm != NormPlacement::kNone) final_norm_.emplace(params, "norm", o.d_model);

  // The style's initialisation, by name.
  for (auto& p : params) {
    const std::string& n = p.name;
    if (!owned_by_body(n)) continue;
    if (o.style == "gpt") {
      if (ends_with(n, ".bias")) p.init = Init::zeros();
      else if (n.find("norm") != std::string::npos) continue;  // LayerNorm's ones
      else if (ends_with(n, "out_proj.weight") || ends_with(n, "linear2.weight"))
        p.init = Init::normal(0.02f / std::sqrt(2.0f * static_cast<float>(o.layers)));
      else if (!ends_with(n, "relative_bias")) p.init = Init::normal(0.02f);
    } else {
      if (n == "embedding.weight") p.init = Init::uniform(0.1f);
      else if (starts_with(n, "layers.") && p.shape.rank() == 2 && !ends_with(n, "relative_bias"))
        p.init = Init::uniform(std::sqrt(6.0f / static_cast<float>(p.shape[0] + p.shape[1])));
    }
  }
}

Tensor batch_major_ids(const Tensor& ids) {
  const std::int64_t T = ids.dim(0), B = ids.dim(1);
  Tensor out = Tensor::empty(Shape{B, T}, DType::kInt32);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t b = 0; b < B; ++b) out.ids()[b * T + t] = ids.ids()[t * B + b];
  return out;
}

Init TransformerBody::head_init(const Shape& shape) const {
  if (shape.rank() < 2) return Init::zeros();
  return options_.style == "gpt" ? Init::normal(0.02f) : Init::uniform(0.1f);
}

Expr TransformerBody::operator()(Graph& g, const Tensor& ids, const AttentionMask& mask, std::int64_t offset,
                                 std::vector<LayerCache>* caches, std::vector<Expr>* weights,
                                 const Tensor& row_positions) const {
  const std::int64_t T = ids.dim(1), D = options_.d_model;
  Expr x = embedding(g.param(*embedding_weight_), ids);
  if (options_.scale_embedding) x = scale(x, std::sqrt(static_cast<float>(D)));
  if (row_positions.defined() && options_.positions != Positions::kNone) {
    const std::int64_t n = row_positions.numel();
    const std::int64_t last = *std::max_element(row_positions.ids(), row_positions.ids() + n);
    if (options_.positions == Positions::kLearned) {
      if (last >= options_.block_size)
        throw InputError("a position of " + std::to_string(last) + " is past block_size " +
                         std::to_string(options_.block_size));
      x = add(x, embedding(g.param(*positions_), row_positions));
    } else {
      const Tensor table = sinusoidal_positions(0, last + 1, D);
      Tensor rows = Tensor::empty(Shape{ids.dim(0), T, D});
      for (std::int64_t i = 0; i < n; ++i) std::copy_n(table.data() + row_positions.ids()[i] * D, D, rows.data() + i * D);
      x = add(x, g.constant(rows));
    }
  } else if (options_.positions == Positions::kSinusoidal) {
    x = add_positions(x, g.constant(sinusoidal_positions(offset, T, D)));
  } else if (options_.positions == Positions::kLearned) {
    x = add_positions(x, slice(g.param(*positions_), 0, offset, offset + T));
  }
  x = dropout(x, options_.dropout);
  for (std::size_t l = 0; l < layers_.size(); ++l)
    x = layers_[l](g, x, mask, Expr(), {}, caches ? &(*caches)[l] : nullptr, weights);
  if (final_norm_) x = (*final_norm_)(g, x);
  return x;
}

double TransformerBody::flops(std::int64_t T) const {
  double f = 0.0;
  for (const auto& layer : layers_) f += transformer_layer_flops(layer.options(), T);
  return f;
}

void TransformerBody::check_context(std::int64_t positions, const std::string& model, const std::string& what) const {
  if (options_.block_size > 0 && options_.positions == Positions::kLearned && positions > options_.block_size)
    throw InputError(model + ": " + what + " of " + std::to_string(positions) + " positions is longer than block_size " +
                     std::to_string(options_.block_size) +
                     " (raise block_size, or lower the data's max_length or the search's maximum length)");
}

}  // namespace loom::nn
