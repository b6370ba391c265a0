#include "loom/plugin.hpp"

#include <algorithm>
#include <cmath>

#include "loom/errors.hpp"
#include "loom/ops.hpp"

namespace loom {

const char* kind_folder(Kind kind) {
  switch (kind) {
    case Kind::kTokenizer: return "tokenizers";
    case Kind::kVocab: return "vocab";
    case Kind::kData: return "data";
    case Kind::kModel: return "models";
    case Kind::kOptimizer: return "optimizers";
    case Kind::kMetric: return "metrics";
  }
  return "?";
}

const char* kind_noun(Kind kind) {
  switch (kind) {
    case Kind::kTokenizer: return "tokenizer";
    case Kind::kVocab: return "vocabulary builder";
    case Kind::kData: return "data loader";
    case Kind::kModel: return "model";
    case Kind::kOptimizer: return "optimizer";
    case Kind::kMetric: return "metric";
  }
  return "?";
}

// The key functions of the plugin interfaces (see plugin.hpp): their vtables and typeinfo are
// emitted here, in libloom_core, and nowhere else.
Component::~Component() = default;
Tokenizer::~Tokenizer() = default;
VocabBuilder::~VocabBuilder() = default;
DataLoader::~DataLoader() = default;
EpochAware::~EpochAware() = default;
HasSides::~HasSides() = default;
LearnsFromText::~LearnsFromText() = default;
ComparesTexts::~ComparesTexts() = default;
SumsStatistics::~SumsStatistics() = default;
DecoderState::~DecoderState() = default;
IncrementalDecoder::~IncrementalDecoder() = default;
HasLabels::~HasLabels() = default;
BatchesTexts::~BatchesTexts() = default;
HasReferenceScores::~HasReferenceScores() = default;
Model::~Model() = default;
Stateful::~Stateful() = default;
LanguageModel::~LanguageModel() = default;
CountsFlops::~CountsFlops() = default;
TorchExport::~TorchExport() = default;
ShowsGradientThroughTime::~ShowsGradientThroughTime() = default;
ShowsAttention::~ShowsAttention() = default;
Optimizer::~Optimizer() = default;
Metric::~Metric() = default;
BuildContext::~BuildContext() = default;

const Tensor& Batch::get(const std::string& name) const {
  auto it = tensors.find(name);
  LOOM_ASSERT(it != tensors.end(), "batch has no tensor '" + name + "'");
  return it->second;
}

bool DataLoader::has_split(const std::string& split) const {
  auto s = splits_impl();
  return std::find(s.begin(), s.end(), split) != s.end();
}

namespace {
void require_split(const DataLoader& data, const std::string& split) {
  if (!data.has_split(split)) {
    std::string known;
    for (const auto& s : data.splits()) known += (known.empty() ? "" : ", ") + s;
    throw ConfigError("the data has no split '" + split + "' (it has: " + known + ")");
  }
}
}  // namespace

TokenCounts DataLoader::count_tokens(const std::string& split) const {
  require_split(*this, split);
  return count_tokens_impl(split);
}

std::int64_t DataLoader::num_batches(const std::string& split, Mode mode) const {
  require_split(*this, split);
  return num_batches_impl(split, mode);
}

Batch DataLoader::batch(const std::string& split, Mode mode, std::int64_t index) const {
  LOOM_ASSERT(index >= 0 && index < num_batches(split, mode),
              "batch " + std::to_string(index) + " of split '" + split + "' does not exist");
  return batch_impl(split, mode, index);
}

ModelOutput Model::forward(Graph& g, const Batch& batch) {
  LOOM_ASSERT(parameters_.finalized(), "model parameters were not finalized");
  ModelOutput out = forward_impl(g, batch);
  LOOM_ASSERT(out.loss.defined(), "model returned no loss");
  if (std::isnan(out.nll_sum)) out.nll_sum = out.loss_sum;
  return out;
}

}  // namespace loom

namespace loom {

ClassPredictions class_predictions(const Batch& batch, const ModelOutput& output, const std::string& metric) {
  auto labels = batch.tensors.find("labels");
  if (labels == batch.tensors.end() || labels->second.dtype() != DType::kInt32 || labels->second.rank() != 1)
    throw ConfigError("metric '" + metric + "' needs batches with class labels (int32 [batch]); this data loader has none");
  const Tensor& p = output.predictions;
  const std::int64_t rows = labels->second.dim(0);
  if (!p.defined() || p.dtype() != DType::kFloat32 || p.rank() != 2 || p.dim(0) != rows)
    throw ConfigError("metric '" + metric + "' needs a model that predicts classes (scores [batch, classes]); this model does not");
  ClassPredictions out;
  out.labels = labels->second.ids();
  out.classes = p.dim(1);
  out.predicted.resize(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = p.data() + r * out.classes;
    out.predicted[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(std::max_element(row, row + out.classes) - row);
  }
  return out;
}

std::vector<std::string> BuildContext::label_names(const std::string& param) const {
  auto* labelled = dynamic_cast<const HasLabels*>(&component<DataLoader>(param));
  if (labelled == nullptr) params_.fail(param, "names a data loader without labels (use text_classification)");
  return labelled->label_names();
}

std::int64_t class_count(const BuildContext& ctx, const std::string& param) {
  const Params& p = ctx.params();
  const auto classes = static_cast<std::int64_t>(ctx.label_names(param).size());
  if (classes < 2) p.fail(param, "the data has " + std::to_string(classes) + " label(s); a classifier needs 2 or more");
  return classes;
}

ModelOutput classification_output(const Expr& logits, const Batch& batch) {
  NllStats stats;
  ModelOutput out;
  out.loss = log_softmax_nll(logits, batch.get("labels"), -1, &stats);
  out.loss_sum = stats.loss_sum;
  out.count = stats.count;
  out.predictions = logits.value().clone();
  return out;
}

std::vector<AttentionMap> layer_attention_maps(const std::vector<Expr>& weights) {
  std::vector<AttentionMap> out;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    const Tensor& w = weights[l].value();
    LOOM_ASSERT(w.rank() == 4 && w.dim(0) == 1, "attention weights of one text are [1, H, Tq, Tk]");
    out.push_back({"layer " + std::to_string(l), w.view(Shape{w.dim(1), w.dim(2), w.dim(3)}).clone()});
  }
  return out;
}

}  // namespace loom
