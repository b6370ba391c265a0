// models/transformer_classifier: a Transformer text classifier over padded batches (ids [T, B],
// lengths [B], labels [B]; see data/text_classification):
//   nn::TransformerBody (embedding, positions, layers, final norm: loom/transformer.hpp)
//   -> pooling of the hidden states [B, T, D] -> dropout -> head (linear D -> classes) -> logits.
//
// The body is transformer_lm's, with the same knobs, styles and parameter names (embedding.weight,
// positions.weight, layers.N.*, norm.*), so `init_from: {run: <a transformer_lm run>}` loads a
// pre-trained language model into it and leaves only head.weight and head.bias at their
// initialisation. `causal` chooses the attention:
//   false  an encoder: every position sees every real token of its text (padding masked)
//   true   GPT-style: position t sees tokens 0 .. t, as the language model was trained
// and `pooling` how a text becomes one vector:
//   first  the hidden state at position 0
//   mean   the mean over the real positions
//   last   the hidden state at each text's last real token (under a causal mask the only
//          position that has read the whole text)
// Padding never changes the answer: padded keys are masked and pooling reads real positions.
// The style sets the defaults: wlm an encoder with mean pooling, gpt causal with last pooling.
#include <algorithm>
#include <memory>
#include <vector>

#include "loom/errors.hpp"
#include "loom/plugin.hpp"
#include "loom/transformer.hpp"

namespace {

namespace nn = loom::nn;
using loom::Expr;
using loom::Shape;
using loom::Tensor;

enum class Pooling { kFirst, kMean, kLast };

struct Options : nn::TransformerBodyOptions {
  std::int64_t classes = 2;
  bool causal = false;
  Pooling pooling = Pooling::kMean;
};

class TransformerClassifier : public loom::Model, public loom::CountsFlops, public loom::ShowsAttention {
 public:
  TransformerClassifier(const Options& o, std::uint64_t seed) : o_(o), body_(parameters_, o, seed) {
    const Shape head{o.classes, o.d_model};
    head_weight_ = parameters_.add("head.weight", head, body_.head_init(head));
    head_bias_ = parameters_.add("head.bias", Shape{o.classes}, loom::Init::zeros());
    parameters_.finalize(seed);
  }

  // ---- CountsFlops --------------------------------------------------------------------------
  // A text padded to T positions: the layers' nn::transformer_layer_flops(T) (the products run
  // over the padding too) plus the head's 2 D C; pooling (at most T D additions) is not counted.
  // Non-embedding parameters: all but the token table and learned positions.
  double flops_per_token(std::int64_t length) const override {
    return length > 0 ? text_flops(length) / static_cast<double>(length) : 0.0;
  }
  double forward_flops(const loom::Batch& batch) const override {
    const Tensor& ids = batch.get("ids");  // [T, B]
    return static_cast<double>(ids.dim(1)) * text_flops(ids.dim(0));
  }
  std::int64_t non_embedding_parameters() const override {
    return parameters_.count_except(nn::TransformerBody::embedding_names());
  }

  // ---- ShowsAttention: every layer's weights over one text ----------------------------------
  std::vector<loom::AttentionMap> attention_maps(loom::Graph& g, const Tensor& ids) override {
    check_length(ids.dim(0));
    std::vector<Expr> weights;
    body_(g, nn::batch_major_ids(ids), loom::AttentionMask{o_.causal}, 0, nullptr, &weights);
    return loom::layer_attention_maps(weights);
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const Tensor& ids = batch.get("ids");
    const Tensor& lengths = batch.get("lengths");
    const std::int64_t T = ids.dim(0), B = ids.dim(1), D = o_.d_model;
    check_length(T);
    for (std::int64_t b = 0; b < B; ++b)
      if (lengths.ids()[b] < 1 || lengths.ids()[b] > T)
        throw loom::InputError("transformer_classifier: text " + std::to_string(b) + " of the batch has length " +
                               std::to_string(lengths.ids()[b]) + " (expected 1 .. " + std::to_string(T) +
                               "); an empty text has nothing to classify");
    Expr h = body_(g, nn::batch_major_ids(ids), loom::AttentionMask{o_.causal, lengths});  // [B, T, D]
    Expr pooled;
    if (o_.pooling == Pooling::kMean) {
      pooled = loom::masked_mean_time(loom::swap_axes(h, 0, 1), lengths);
    } else {
      // Row b * T + position of every text, gathered from h seen as [B T, D].
      Tensor rows = Tensor::empty(Shape{B}, loom::DType::kInt32);
      for (std::int64_t b = 0; b < B; ++b)
        rows.ids()[b] = static_cast<std::int32_t>(b * T + (o_.pooling == Pooling::kLast ? lengths.ids()[b] - 1 : 0));
      pooled = loom::embedding(loom::reshape(h, Shape{B * T, D}), rows);
    }
    Expr logits = loom::linear(loom::dropout(pooled, o_.dropout), g.param(*head_weight_), g.param(*head_bias_));
    return loom::classification_output(logits, batch);
  }

 private:
  void check_length(std::int64_t T) const {
    body_.check_context(T, "transformer_classifier", "a batch padded to a length");
  }
  double text_flops(std::int64_t T) const {
    return body_.flops(T) + 2.0 * static_cast<double>(o_.d_model) * static_cast<double>(o_.classes);
  }

  Options o_;
  nn::TransformerBody body_;
  loom::Parameter *head_weight_ = nullptr, *head_bias_ = nullptr;
};

std::vector<loom::ParamSpec> params() {
  using T = loom::ParamType;
  std::vector<loom::ParamSpec> out = {
      {"vocab", T::kComponent, "", "vocabulary of the inputs", {"vocab"}},
      {"data", T::kComponent, "", "data loader whose labels give the classes", {"data"}}};
  for (auto& spec : nn::transformer_body_params()) out.push_back(std::move(spec));
  out.push_back({"causal", T::kString, "style",
                 "causal attention, as a GPT-style language model (wlm false: an encoder, gpt true)",
                 {"style", "true", "false"}});
  out.push_back({"pooling", T::kString, "style",
                 "first: position 0; mean: over the real positions; last: the last real token (wlm mean, gpt last)",
                 {"style", "first", "mean", "last"}});
  return out;
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "transformer_classifier",
      "1.0",
      "Transformer text classifier (encoder or GPT-style body, as transformer_lm's) with first, mean or last pooling",
      params(),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        static_cast<nn::TransformerBodyOptions&>(o) =
            nn::parse_transformer_body(p, static_cast<std::int64_t>(ctx.vocab("vocab").size()));
        o.classes = loom::class_count(ctx, "data");
        o.causal = nn::style_knob(p, "causal", "false", "true") == "true";
        const std::string pooling = nn::style_knob(p, "pooling", "mean", "last");
        o.pooling = pooling == "first" ? Pooling::kFirst : pooling == "last" ? Pooling::kLast : Pooling::kMean;
        return std::make_unique<TransformerClassifier>(o, ctx.seed());
      },
      "a text padded to T: layers x (6 T D^2 + 2 T^2 D + 3 H T^2 + 2 T^2 D + 2 T D^2 + 4 T D F) + 2 D C (D d_model, H heads, F d_ff, C classes)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
