// models/bow_classifier: a fastText-style bag-of-words baseline over padded batches (ids
// [T, B], lengths [B], labels [B]; see data/text_classification):
//   embedding [T, B, E] -> mean over each text's real steps [B, E] -> dropout -> linear
//   -> logits [B, classes]; cross-entropy against labels.
// The mean ignores padding and word order, so a text's logits depend only on its bag of
// words (up to float rounding of the sum): a reference for what word order adds.
// Parameter names follow rnn_classifier's (embedding.weight, fc.weight, fc.bias).
#include <cmath>

#include "loom/nn.hpp"
#include "loom/ops.hpp"
#include "loom/plugin.hpp"

namespace {

struct Options {
  std::int64_t vocab = 0, emsize = 100, classes = 2;
  float dropout = 0.0f;
};

class BowClassifier : public loom::Model, public loom::CountsFlops {
 public:
  BowClassifier(const Options& o, std::uint64_t seed)
      : embedding_(parameters_, "embedding", o.vocab, o.emsize, loom::Init::normal(1.0f)),
        dropout_(o.dropout),
        fc_(parameters_, "fc", o.emsize, o.classes) {
    parameters_.finalize(seed);
  }

 public:
  // CountsFlops: the mean is additions only (not counted); the output layer costs 2 E C per
  // text, so a batch of B texts 2 E C B and a token of a T-token text 2 E C / T.
  double flops_per_token(std::int64_t length) const override {
    return length > 0 ? text_flops() / static_cast<double>(length) : 0.0;
  }
  double forward_flops(const loom::Batch& batch) const override {
    return static_cast<double>(batch.get("lengths").numel()) * text_flops();
  }
  std::int64_t non_embedding_parameters() const override { return parameters_.count_except({"embedding.weight"}); }

 protected:
  loom::ModelOutput forward_impl(loom::Graph& g, const loom::Batch& batch) override {
    const loom::Tensor& ids = batch.get("ids");
    const loom::Tensor& lengths = batch.get("lengths");
    loom::Expr mean = loom::masked_mean_time(embedding_(g, ids), lengths);
    loom::Expr logits = fc_(g, dropout_(mean));
    return loom::classification_output(logits, batch);
  }

 private:
  double text_flops() const { return 2.0 * static_cast<double>(fc_.weight()->shape.numel()); }

  loom::nn::Embedding embedding_;
  loom::nn::Dropout dropout_;
  loom::nn::Linear fc_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kModel,
      "bow_classifier",
      "1.0",
      "fastText-style bag-of-words text classifier: the mean of the word embeddings, then a linear layer",
      {{"vocab", loom::ParamType::kComponent, "", "vocabulary of the inputs", {"vocab"}},
       {"data", loom::ParamType::kComponent, "", "data loader whose labels give the classes", {"data"}},
       {"emsize", loom::ParamType::kInt, "100", "embedding size", {}, 1},
       {"dropout", loom::ParamType::kFloat, "0", "dropout on the mean embedding", {}, 0.0}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        o.vocab = static_cast<std::int64_t>(ctx.vocab("vocab").size());
        o.classes = loom::class_count(ctx, "data");
        o.emsize = p.get_int("emsize");
        o.dropout = static_cast<float>(p.get_float("dropout"));
        if (o.dropout >= 1.0f) p.fail("dropout", "dropout must be below 1, got " + p.get_string("dropout"));
        return std::make_unique<BowClassifier>(o, ctx.seed());
      },
      "2 E C per text (E emsize, C classes; the mean over tokens is additions, not counted)"};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
