#pragma once
// Reading and numericalising text in parallel. Files are read whole and split into lines;
// tokenising, counting and numericalising run over chunks of lines on TBB with the order
// kept, so results are identical at any thread count.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loom/plugin.hpp"

namespace loom {

// A text file held in memory with a view of each line (without the line break).
class TextFile {
 public:
  // Throws InputError naming the file: missing, unreadable, or not UTF-8 (with the line).
  static TextFile read(const std::filesystem::path& path);
  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::string_view>& lines() const { return lines_; }

 private:
  std::filesystem::path path_;
  // On the heap so that moving a TextFile keeps the line views valid (a short std::string
  // keeps its bytes inside the object, and a move would copy them elsewhere).
  std::shared_ptr<const std::string> text_;
  std::vector<std::string_view> lines_;
};

// The byte offset of the first invalid UTF-8 sequence in `text`, or npos.
std::size_t find_invalid_utf8(std::string_view text);
// Appends code point `cp` (at most 0x10FFFF, not a surrogate) encoded as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp);

// Token counts over all lines.
TokenCounts count_tokens(const std::vector<std::string_view>& lines, const Tokenizer& tokenizer);

// All tokens of all lines as ids, in order (unknown tokens map to the vocabulary's unk id;
// a vocabulary without one makes an unknown token an InputError). `unknown` receives the
// count of tokens that were not in the vocabulary.
std::vector<std::int32_t> numericalize(const std::vector<std::string_view>& lines,
                                       const Tokenizer& tokenizer, const Vocab& vocab,
                                       std::int64_t* unknown = nullptr);

}  // namespace loom
