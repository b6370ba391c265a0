// models/rnn_classifier: a recurrent text classifier over padded batches (ids [T, B],
// lengths [B], labels [B]; see data/text_classification):
//   embedding -> dropout -> LSTM | GRU layers (bidirectional: a forward and a backward
//   direction per layer, their outputs concatenated for the next layer, as PyTorch does)
//   -> pooling -> dropout -> linear -> logits [B, classes]; cross-entropy against labels.
// Padded steps keep the state (the fused layer's mask), so `last` pooling takes each
// direction's state after its last real step, as packed sequences do; `mean` and `max` pool
// the top layer's outputs over the real steps. Padding therefore does not change the answer.
// Parameters are named as PyTorch's nn.LSTM names them (rnn.weight_ih_l0, ..._reverse).
#include <cmath>
#include <vector>

#include "loom/nn.hpp"
#include "loom/plugin.hpp"

namespace {

enum class Pooling { kLast, kMean, kMax };

struct Options {
  loom::CellType cell = loom::CellType::kLstm;
  std::int64_t vocab = 0, emsize = 100, nhid = 100, classes = 2;
  int nlayers = 1;
  bool bidirectional = false;
  float dropout = 0.0f;
  Pooling pooling = Pooling::kLast;
};

class RnnClassifier : public loom::Model {
 public:
  RnnClassifier(const Options& o, std::uint64_t seed)
      : o_(o), embedding_(parameters_, "embedding", o.vocab, o.emsize, loom::Init::normal(1.0f)), dropout_(o.dropout) {
    const std::int64_t G = loom::gate_count(o.cell), H = o.nhid, D = o.bidirectional ? 2 : 1;
    const loom::Init init = loom::Init::uniform(1.0f / std::sqrt(static_cast<float>(H)));
    for (int l = 0; l < o.nlayers; ++l)
      for (int d = 0; d < D; ++d) {
        std::string suffix = "_l" + std::to_string(l) + (d ? "_reverse" : "");
        const std::int64_t in = l == 0 ? o.emsize : D * H;
        layers_.push_back({parameters_.add("rnn.weight_ih" + suffix, loom::Shape{G * H, in}, init),
                           parameters_.add("rnn.weight_hh" + suffix, loom::Shape{G * H, H}, init),
                           parameters_.add("rnn.bias_ih" + suffix, loom::Shape{G * H}, init),
                           parameters_.add("rnn.bias_hh" + suffix, loom::Shape{G * H}, init)});
      }
    const std::int64_t features = D * H;
    const loom::Init out_init = loom::Init::uniform(1.0f / std::sqrt(static_cast<float>(features)));
    out_weight_ = parameters_.add("fc.weight", loom::Shape{o.classes, features}, out_init);
    out_bias_ = parameters_.add("fc.bias", loom::Shape{o.classes}, out_init);
    parameters_.finalize(seed);
  }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const loom::Tensor& ids = batch.get("ids");
    const loom::Tensor& lengths = batch.get("lengths");
    const loom::Tensor& mask = batch.get("mask");
    const std::int64_t T = ids.dim(0), B = ids.dim(1), H = o_.nhid, D = o_.bidirectional ? 2 : 1;
    const bool lstm = o_.cell == loom::CellType::kLstm;
    loom::Expr x = dropout_(embedding_(g, ids));
    std::vector<loom::Expr> last;  // the top layer's final state per direction
    for (int l = 0; l < o_.nlayers; ++l) {
      std::vector<loom::Expr> outputs;
      last.clear();
      for (int d = 0; d < D; ++d) {
        const Layer& p = layers_[static_cast<std::size_t>(l * D + d)];
        loom::Expr input = d ? loom::reverse_sequences(x, lengths) : x;
        const std::int64_t in = input.value().dim(2);
        loom::Expr proj = loom::reshape(
            loom::linear(loom::reshape(input, loom::Shape{T * B, in}), g.param(*p.w_ih), g.param(*p.b_ih)),
            loom::Shape{T, B, p.w_ih->shape[0]});
        loom::Expr h0 = g.constant(loom::Tensor::zeros(loom::Shape{B, H}));
        loom::Expr c0 = lstm ? g.constant(loom::Tensor::zeros(loom::Shape{B, H})) : loom::Expr();
        auto r = loom::recurrent_layer(o_.cell, proj, g.param(*p.w_hh), g.param(*p.b_hh), h0, c0, mask);
        outputs.push_back(d ? loom::reverse_sequences(r.outputs, lengths) : r.outputs);
        last.push_back(r.h_last);
      }
      x = D == 1 ? outputs[0] : loom::concat(outputs, 2);
      if (l + 1 < o_.nlayers) x = dropout_(x);
    }
    loom::Expr pooled = o_.pooling == Pooling::kLast ? (D == 1 ? last[0] : loom::concat(last, 1))
                        : o_.pooling == Pooling::kMean ? loom::masked_mean_time(x, lengths)
                                                       : loom::masked_max_time(x, lengths);
    loom::Expr logits = loom::linear(dropout_(pooled), g.param(*out_weight_), g.param(*out_bias_));
    return loom::classification_output(logits, batch);
  }

 private:
  struct Layer {
    loom::Parameter *w_ih, *w_hh, *b_ih, *b_hh;
  };
  Options o_;
  loom::nn::Embedding embedding_;
  loom::nn::Dropout dropout_;
  std::vector<Layer> layers_;
  loom::Parameter *out_weight_, *out_bias_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "rnn_classifier",
      "1.0",
      "LSTM or GRU text classifier over padded batches: last, mean or max pooling, optionally bidirectional",
      {{"vocab", loom::ParamType::kComponent, "", "vocabulary of the inputs", {"vocab"}},
       {"data", loom::ParamType::kComponent, "", "data loader whose labels give the classes", {"data"}},
       {"cell", loom::ParamType::kString, "lstm", "recurrent cell", {"lstm", "gru"}},
       {"emsize", loom::ParamType::kInt, "100", "embedding size", {}, 1},
       {"nhid", loom::ParamType::kInt, "100", "hidden units per direction and layer", {}, 1},
       {"nlayers", loom::ParamType::kInt, "1", "recurrent layers", {}, 1},
       {"bidirectional", loom::ParamType::kBool, "false", "a backward direction too; outputs concatenated"},
       {"dropout", loom::ParamType::kFloat, "0", "dropout on embeddings, between layers and before the output layer", {}, 0.0},
       {"pooling", loom::ParamType::kString, "last", "last: final states; mean or max over the real steps", {"last", "mean", "max"}}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        o.cell = loom::nn::parse_cell(p.get_string("cell"));
        o.vocab = static_cast<std::int64_t>(ctx.vocab("vocab").size());
        o.classes = loom::class_count(ctx, "data");
        o.emsize = p.get_int("emsize");
        o.nhid = p.get_int("nhid");
        o.nlayers = static_cast<int>(p.get_int("nlayers"));
        o.bidirectional = p.get_bool("bidirectional");
        o.dropout = static_cast<float>(p.get_float("dropout"));
        if (o.dropout >= 1.0f) p.fail("dropout", "must be below 1, got " + p.get_string("dropout"));
        std::string pooling = p.get_string("pooling");
        o.pooling = pooling == "mean" ? Pooling::kMean : pooling == "max" ? Pooling::kMax : Pooling::kLast;
        return std::make_unique<RnnClassifier>(o, ctx.seed());
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
