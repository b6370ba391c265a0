#include "loom/lm_stream.hpp"

#include <algorithm>
#include <cmath>

#include "loom/errors.hpp"

namespace loom {

LmStreamLoader::LmStreamLoader(Options options) : options_(std::move(options)) {
  LOOM_ASSERT(options_.tokenizer != nullptr, "LmStreamLoader needs a tokenizer");
  LOOM_ASSERT(options_.batch_size > 0 && options_.eval_batch_size > 0 && options_.bptt > 0,
              "batch sizes and bptt must be positive");
}

namespace {
const char* const kShareSplits[] = {"train", "valid", "test"};

// Line range [begin, end) of share k of n lines: boundaries at the rounded cumulative shares.
std::pair<std::size_t, std::size_t> share_range(const std::vector<double>& shares, int k, std::size_t n) {
  double before = 0.0;
  for (int i = 0; i < k; ++i) before += shares[static_cast<std::size_t>(i)];
  const double upto = before + shares[static_cast<std::size_t>(k)];
  auto at = [&](double f) { return std::min(n, static_cast<std::size_t>(std::llround(f * static_cast<double>(n)))); };
  return {at(before), k == 2 ? n : at(upto)};
}
}  // namespace

std::vector<std::string> LmStreamLoader::splits_impl() const {
  std::vector<std::string> out;
  if (!options_.shares.empty()) {
    for (int k = 0; k < 3; ++k)
      if (options_.shares[static_cast<std::size_t>(k)] > 0) out.push_back(kShareSplits[k]);
    return out;
  }
  for (const auto& [split, path] : options_.files) out.push_back(split);
  return out;
}

const TextFile& LmStreamLoader::text(const std::string& split) const {
  const std::string file_split = options_.shares.empty() ? split : "train";
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = texts_.find(file_split);
  if (it == texts_.end()) it = texts_.emplace(file_split, TextFile::read(options_.files.at(file_split))).first;
  return it->second;
}

std::vector<std::string_view> LmStreamLoader::lines(const std::string& split) const {
  const auto& all = text(split).lines();
  if (options_.shares.empty()) return all;
  const int k = split == "train" ? 0 : split == "valid" ? 1 : 2;
  const auto [begin, end] = share_range(options_.shares, k, all.size());
  return {all.begin() + static_cast<std::ptrdiff_t>(begin), all.begin() + static_cast<std::ptrdiff_t>(end)};
}

std::string LmStreamLoader::source(const std::string& split) const {
  if (options_.shares.empty()) return options_.files.at(split).string();
  const int k = split == "train" ? 0 : split == "valid" ? 1 : 2;
  const auto [begin, end] = share_range(options_.shares, k, text(split).lines().size());
  return options_.files.at("train").string() + " (lines " + std::to_string(begin + 1) + "-" + std::to_string(end) + ")";
}

TokenCounts LmStreamLoader::count_tokens_impl(const std::string& split) const {
  return ::loom::count_tokens(lines(split), *options_.tokenizer);
}

void LmStreamLoader::prepare_impl(const Vocab& vocab) {
  streams_.clear();
  columns_.clear();
  for (const auto& split : splits_impl()) {
    std::int64_t unknown = 0;
    streams_[split] = numericalize(lines(split), *options_.tokenizer, vocab, &unknown);
    unknown_[split] = unknown;
    if (streams_[split].size() < 2)
      throw InputError(source(split) + ": split '" + split + "' has fewer than two tokens");
  }
  texts_.clear();  // the text is not needed once numericalised
}

std::int64_t LmStreamLoader::stream_tokens(const std::string& split) const {
  auto it = streams_.find(split);
  LOOM_ASSERT(it != streams_.end(), "data not prepared");
  return static_cast<std::int64_t>(it->second.size());
}

std::int64_t LmStreamLoader::unknown_tokens_impl(const std::string& split) const {
  auto it = unknown_.find(split);
  return it == unknown_.end() ? 0 : it->second;
}

const LmStreamLoader::Columns& LmStreamLoader::columns(const std::string& split, Mode mode) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(split, static_cast<int>(mode));
  auto it = columns_.find(key);
  if (it != columns_.end()) return it->second;
  auto s = streams_.find(split);
  LOOM_ASSERT(s != streams_.end(), "data not prepared before reading batches");
  const auto& stream = s->second;
  std::int64_t bsz = mode == Mode::kTrain ? options_.batch_size : options_.eval_batch_size;
  Columns c;
  c.columns = bsz;
  c.rows = static_cast<std::int64_t>(stream.size()) / bsz;
  if (c.rows < 2)
    throw InputError(source(split) + ": split '" + split + "' has " +
                     std::to_string(stream.size()) + " tokens, too few for " +
                     std::to_string(bsz) + " columns");
  // Column j holds stream[j*rows, (j+1)*rows); stored time-major.
  c.data.resize(static_cast<std::size_t>(c.rows * bsz));
  for (std::int64_t j = 0; j < bsz; ++j)
    for (std::int64_t i = 0; i < c.rows; ++i)
      c.data[static_cast<std::size_t>(i * bsz + j)] = stream[static_cast<std::size_t>(j * c.rows + i)];
  return columns_.emplace(key, std::move(c)).first->second;
}

std::int64_t LmStreamLoader::num_batches_impl(const std::string& split, Mode mode) const {
  const Columns& c = columns(split, mode);
  return (c.rows - 1 + options_.bptt - 1) / options_.bptt;
}

Batch LmStreamLoader::batch_impl(const std::string& split, Mode mode, std::int64_t index) const {
  const Columns& c = columns(split, mode);
  std::int64_t start = index * options_.bptt;
  std::int64_t len = std::min(options_.bptt, c.rows - 1 - start);
  Batch b;
  Tensor ids = Tensor::empty(Shape{len, c.columns}, DType::kInt32);
  Tensor targets = Tensor::empty(Shape{len, c.columns}, DType::kInt32);
  std::copy_n(c.data.data() + start * c.columns, len * c.columns, ids.ids());
  std::copy_n(c.data.data() + (start + 1) * c.columns, len * c.columns, targets.ids());
  b.tensors["ids"] = ids;
  b.tensors["targets"] = targets;
  b.target_tokens = len * c.columns;
  return b;
}

}  // namespace loom
