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

class RnnClassifier : public loom::Model, public loom::CountsFlops {
 public:
  RnnClassifier(const Options& o, std::uint64_t seed)
      : o_(o),
        embedding_(parameters_, "embedding", o.vocab, o.emsize, loom::Init::normal(1.0f)),
        dropout_(o.dropout),
        rnn_(parameters_, "rnn", o.cell, o.emsize, o.nhid, o.nlayers, o.bidirectional, o.dropout,
             loom::Init::uniform(1.0f / std::sqrt(static_cast<float>(o.nhid)))) {
    const std::int64_t H = o.nhid, D = o.bidirectional ? 2 : 1;
    const std::int64_t features = D * H;
    const loom::Init out_init = loom::Init::uniform(1.0f / std::sqrt(static_cast<float>(features)));
    out_weight_ = parameters_.add("fc.weight", loom::Shape{o.classes, features}, out_init);
    out_bias_ = parameters_.add("fc.bias", loom::Shape{o.classes}, out_init);
    parameters_.finalize(seed);
  }

  // CountsFlops: T steps of the recurrent layers (nn::PaddedRnn::flops_per_step, padded steps
  // included: the products run over them) and the output layer's 2 F C per text (F = nhid,
  // times 2 when bidirectional). Non-embedding: all but embedding.weight.
  double flops_per_token(std::int64_t length) const override {
    return length > 0 ? text_flops(length) / static_cast<double>(length) : 0.0;
  }
  double forward_flops(const loom::Batch& batch) const override {
    const loom::Tensor& ids = batch.get("ids");  // [T, B]
    return static_cast<double>(ids.dim(1)) * text_flops(ids.dim(0));
  }
  std::int64_t non_embedding_parameters() const override { return parameters_.count_except({"embedding.weight"}); }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const loom::Tensor& ids = batch.get("ids");
    const loom::Tensor& lengths = batch.get("lengths");
    const loom::Tensor& mask = batch.get("mask");
    const std::int64_t D = o_.bidirectional ? 2 : 1;
    loom::nn::PaddedRnn::State final;
    loom::Expr x = rnn_(g, dropout_(embedding_(g, ids)), lengths, mask, nullptr, &final);
    // The top layer's final state per direction.
    std::vector<loom::Expr> last(final.h.end() - D, final.h.end());
    loom::Expr pooled = o_.pooling == Pooling::kLast ? (D == 1 ? last[0] : loom::concat(last, 1))
                        : o_.pooling == Pooling::kMean ? loom::masked_mean_time(x, lengths)
                                                       : loom::masked_max_time(x, lengths);
    loom::Expr logits = loom::linear(dropout_(pooled), g.param(*out_weight_), g.param(*out_bias_));
    return loom::classification_output(logits, batch);
  }

 private:
  double text_flops(std::int64_t T) const {
    return static_cast<double>(T) * rnn_.flops_per_step() + 2.0 * static_cast<double>(out_weight_->shape.numel());
  }

  Options o_;
  loom::nn::Embedding embedding_;
  loom::nn::Dropout dropout_;
  loom::nn::PaddedRnn rnn_;
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
      },
      "a text padded to T: T x 2 G H (in + H) per layer and direction + 2 F C (H nhid, G gates: LSTM 4, GRU 3; in emsize, then H or 2 H; F H, 2 H bidirectional; C classes)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
