#pragma once
// A language-modelling data loader: each split is one token stream (every line tokenised,
// end-of-line tokens as the tokenizer adds them), cut into `batch_size` equal columns
// (the remainder dropped, as PyTorch's word_language_model does) and read in windows of
// `bptt` steps. Batch tensors, time-major: "ids" [T, B] and "targets" [T, B] (the next
// token). Training batches use batch_size columns, evaluation batches eval_batch_size.
// Shared by the lm_stream plugin and the generated-corpus loaders.
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "loom/plugin.hpp"
#include "loom/text.hpp"

namespace loom {

class LOOM_API LmStreamLoader : public DataLoader {
 public:
  struct Options {
    std::map<std::string, std::filesystem::path> files;  // split -> text file
    const Tokenizer* tokenizer = nullptr;
    std::int64_t batch_size = 20;
    std::int64_t eval_batch_size = 10;
    std::int64_t bptt = 35;
    // When set (train, valid, test shares summing to 1): `files` holds the one file "train",
    // whose lines are cut in order into the three splits (the first share of the lines to
    // train, the next to valid, the rest to test); a split with share 0 does not exist.
    std::vector<double> shares;
  };
  explicit LmStreamLoader(Options options);

  // Tokens of a split after prepare() (the whole stream, before batchifying).
  std::int64_t stream_tokens(const std::string& split) const;

 protected:
  std::vector<std::string> splits_impl() const override;
  TokenCounts count_tokens_impl(const std::string& split) const override;
  void prepare_impl(const Vocab& vocab) override;
  std::int64_t num_batches_impl(const std::string& split, Mode mode) const override;
  Batch batch_impl(const std::string& split, Mode mode, std::int64_t index) const override;
  std::int64_t unknown_tokens_impl(const std::string& split) const override;

 private:
  // [rows, columns] time-major matrix of a split for a batch size.
  struct Columns {
    std::vector<std::int32_t> data;
    std::int64_t rows = 0, columns = 0;
  };
  const Columns& columns(const std::string& split, Mode mode) const;
  const TextFile& text(const std::string& split) const;
  // The lines of a split (its file's, or its share of the one file's).
  std::vector<std::string_view> lines(const std::string& split) const;
  // The file a split is read from, for messages ("x.txt (lines 1001-1100)" for a share).
  std::string source(const std::string& split) const;

  Options options_;
  mutable std::map<std::string, TextFile> texts_;
  std::map<std::string, std::vector<std::int32_t>> streams_;
  std::map<std::string, std::int64_t> unknown_;
  mutable std::map<std::pair<std::string, int>, Columns> columns_;
  mutable std::mutex mutex_;
};

}  // namespace loom
