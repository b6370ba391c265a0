#pragma once
// Vocabulary: token <-> id, with optional special tokens (pad, unk, bos, eos, and sep: the
// separator between source and target in a decoder-only translator's sequence) whose ids are
// recorded so that loaders and models can find them. Immutable once built; safe to read from
// many threads.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loom {

enum class Special { kPad, kUnk, kBos, kEos, kSep };
constexpr int kSpecialRoles = 5;

class Vocab {
 public:
  static constexpr std::int32_t kNone = -1;

  // Adds a token (if new) and returns its id.
  std::int32_t add(const std::string& token);
  // Marks an existing or new token as a special one.
  void set_special(Special role, const std::string& token);

  // Lookups lowercase ASCII letters of the query first (a vocabulary built from lowercased
  // counts). Saved with the vocabulary.
  void set_lowercase(bool on) { lowercase_ = on; }
  bool lowercase() const { return lowercase_; }

  std::size_t size() const { return tokens_.size(); }
  bool contains(std::string_view token) const;
  // The id of `token`, or the unk id (kNone when there is no unk token).
  std::int32_t id(std::string_view token) const;
  // kNone when absent.
  std::int32_t find(std::string_view token) const;
  const std::string& token(std::int32_t id) const;
  std::int32_t special(Special role) const { return specials_[static_cast<int>(role)]; }
  std::int32_t unk_id() const { return special(Special::kUnk); }
  std::int32_t pad_id() const { return special(Special::kPad); }
  std::int32_t eos_id() const { return special(Special::kEos); }
  std::int32_t bos_id() const { return special(Special::kBos); }
  std::int32_t sep_id() const { return special(Special::kSep); }
  // Counts seen when built (0 for specials and loaded-without-counts).
  std::int64_t count(std::int32_t id) const { return counts_[static_cast<std::size_t>(id)]; }
  void set_count(std::int32_t id, std::int64_t count) { counts_[static_cast<std::size_t>(id)] = count; }

  // Text file: a header line "#loom-vocab 1" with the special roles, then one
  // "token<TAB>count" line per id in order. Saved atomically.
  void save(const std::filesystem::path& path) const;
  // The text save() writes.
  std::string to_text() const;
  // Throws InputError naming the file and line (duplicate or empty entries, bad header).
  static Vocab load(const std::filesystem::path& path);
  // The same from text that to_text() wrote; `origin` names it in errors.
  static Vocab parse(const std::string& text, const std::string& origin);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::vector<std::string> tokens_;
  std::vector<std::int64_t> counts_;
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> ids_;
  std::int32_t specials_[kSpecialRoles] = {kNone, kNone, kNone, kNone, kNone};
  bool lowercase_ = false;
};

const char* special_name(Special role);  // "pad", "unk", "bos", "eos", "sep"

// ASCII letters lowercased, other bytes (UTF-8 included) unchanged: the folding a vocabulary
// with lowercase() applies to its queries, and that builders must apply to their counts.
std::string ascii_lower(std::string_view token);

}  // namespace loom
