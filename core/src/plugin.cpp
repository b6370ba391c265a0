#include "loom/plugin.hpp"

#include <algorithm>

#include "loom/errors.hpp"

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
  return out;
}

}  // namespace loom
