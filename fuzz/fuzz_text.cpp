// Fuzz target: the text readers. The input is a text file, read with TextFile::read from a
// temporary file; its lines are counted and numericalised with the word tokenizer
// ({eos: <eos>}) and vocabularies from the frequency builder, both loaded from the build
// tree's plugin folder through the real loader.
//
// Properties:
//   - find_invalid_utf8 agrees with an independent validator (Unicode's table of well-formed
//     byte sequences); TextFile::read refuses exactly the invalid files, naming the line and
//     offset of the first bad byte, and throws nothing but InputError;
//   - the lines are the text split at '\n', one '\r' before the break dropped, no empty last
//     line after a final '\n';
//   - count_tokens equals a sequential count; each vocabulary follows the frequency
//     builder's rules (specials first, then by count, min_freq, max_size);
//   - numericalize gives every token's id in order (the unk id for unknown tokens, and their
//     number), or an InputError when a token is unknown and there is no unk token.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loom/plugin.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/text.hpp"
#include "support.hpp"

namespace {

// Unicode 15, table 3-7, "Well-Formed UTF-8 Byte Sequences": the range of the first byte, the
// length, and the range of the second byte; later bytes are 80..BF.
struct Row {
  unsigned char first_min, first_max;
  std::size_t length;
  unsigned char second_min, second_max;
};
constexpr Row kWellFormed[] = {
    {0x00, 0x7F, 1, 0, 0},       {0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
    {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF},
    {0xF0, 0xF0, 4, 0x90, 0xBF}, {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F},
};

// The offset of the first byte of the first ill-formed sequence, or npos.
std::size_t reference_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const Row* row = nullptr;
    for (const Row& r : kWellFormed)
      if (s[i] >= r.first_min && s[i] <= r.first_max) row = &r;
    if (row == nullptr || i + row->length > n) return i;
    for (std::size_t k = 1; k < row->length; ++k) {
      unsigned char min = k == 1 ? row->second_min : 0x80;
      unsigned char max = k == 1 ? row->second_max : 0xBF;
      if (s[i + k] < min || s[i + k] > max) return i;
    }
    i += row->length;
  }
  return std::string_view::npos;
}

std::vector<std::string_view> reference_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

struct VocabCase {
  const char* yaml;
  std::int64_t min_freq;
  std::int64_t max_size;
};

// unk from the builder's default ("<unk>") unless set empty.
const std::vector<VocabCase> kVocabCases = {
    {"{}", 1, 0},
    {"{min_freq: 2, max_size: 8, lowercase: true, pad: <pad>, eos: <eos>}", 2, 8},
    {"{min_freq: 2, unk: ''}", 2, 0},
};

struct Components {
  Components() : env(loom::fuzz::plugins()) {
    env.add("tok", "word", "{eos: <eos>}");
    tokenizer = &env.get<loom::Tokenizer>("tok");
    for (std::size_t i = 0; i < kVocabCases.size(); ++i) {
      env.add("vocab" + std::to_string(i), "frequency", kVocabCases[i].yaml);
      builders.push_back(&env.get<loom::VocabBuilder>("vocab" + std::to_string(i)));
    }
  }
  loom::testing::Env env;
  const loom::Tokenizer* tokenizer;
  std::vector<const loom::VocabBuilder*> builders;
};

const Components& components() {
  static const Components c;
  return c;
}

void check_vocab(const loom::Vocab& v, const VocabCase& spec, const loom::TokenCounts& counts) {
  const std::string what = std::string("frequency ") + spec.yaml;
  std::size_t specials = 0;
  for (auto role :
       {loom::Special::kPad, loom::Special::kUnk, loom::Special::kBos, loom::Special::kEos})
    if (v.special(role) != loom::Vocab::kNone) ++specials;
  for (std::size_t i = 0; i < specials; ++i) {
    auto id = static_cast<std::int32_t>(i);
    LOOM_FUZZ_CHECK(id == v.pad_id() || id == v.unk_id() || id == v.bos_id() || id == v.eos_id(),
                    what + ": id " + std::to_string(id) + " should be a special token");
  }
  LOOM_FUZZ_CHECK(
      spec.max_size == 0 || v.size() <= specials + static_cast<std::size_t>(spec.max_size),
      what + ": " + std::to_string(v.size()) + " tokens");
  for (std::size_t i = specials; i < v.size(); ++i) {
    auto id = static_cast<std::int32_t>(i);
    LOOM_FUZZ_CHECK(v.count(id) >= spec.min_freq,
                    what + ": token " + loom::fuzz::printable(v.token(id)) + " seen " +
                        std::to_string(v.count(id)) + " times");
    if (i > specials) {
      auto prev = static_cast<std::int32_t>(i - 1);
      bool ordered = v.count(prev) > v.count(id) ||
                     (v.count(prev) == v.count(id) && v.token(prev) < v.token(id));
      LOOM_FUZZ_CHECK(ordered, what + ": ids " + std::to_string(prev) + " and " +
                                   std::to_string(id) + " out of order");
    }
    if (!v.lowercase()) {
      auto it = counts.find(v.token(id));
      LOOM_FUZZ_CHECK(
          it != counts.end() && it->second == v.count(id),
          what + ": token " + loom::fuzz::printable(v.token(id)) + " has the wrong count");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  components();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::size_t bad = reference_invalid_utf8(bytes);
  std::size_t found = loom::find_invalid_utf8(bytes);
  LOOM_FUZZ_CHECK(found == bad, "find_invalid_utf8 gave " + std::to_string(found) + ", expected " +
                                    std::to_string(bad) + " on " + loom::fuzz::printable(bytes));

  std::filesystem::path file = loom::fuzz::write_temp("text.txt", bytes);
  std::optional<loom::TextFile> text;
  std::string error;
  try {
    text.emplace(loom::TextFile::read(file));
  } catch (const loom::InputError& e) {
    error = e.what();
  } catch (const std::exception& e) {
    loom::fuzz::fail(std::string("TextFile::read: unexpected exception: ") + e.what());
  }
  if (bad != std::string_view::npos) {
    auto line =
        1 + std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    std::string expected = file.string() + ":" + std::to_string(line) +
                           ": not UTF-8 text (invalid byte at offset " + std::to_string(bad) + ")";
    LOOM_FUZZ_CHECK(error == expected, "read gave '" + error + "', expected '" + expected + "'");
    return 0;
  }
  LOOM_FUZZ_CHECK(text.has_value(), "a UTF-8 file was refused: " + error);
  const auto& lines = text->lines();
  LOOM_FUZZ_CHECK(lines == reference_lines(bytes), "lines differ from the reference split");

  const Components& c = components();
  std::vector<std::string> tokens;  // every token of every line, in order
  loom::TokenCounts expected_counts;
  for (auto line : lines) {
    std::size_t before = tokens.size();
    c.tokenizer->tokenize(line, tokens);
    for (std::size_t i = before; i < tokens.size(); ++i) ++expected_counts[tokens[i]];
  }
  loom::TokenCounts counts = loom::count_tokens(lines, *c.tokenizer);
  LOOM_FUZZ_CHECK(counts == expected_counts, "count_tokens differs from a sequential count");

  for (std::size_t k = 0; k < kVocabCases.size(); ++k) {
    loom::Vocab vocab = c.builders[k]->build(counts);
    check_vocab(vocab, kVocabCases[k], counts);
    std::vector<std::int32_t> expected_ids;
    std::int64_t expected_unknown = 0;
    bool fails = false;
    for (const auto& t : tokens) {
      std::int32_t id = vocab.find(t);
      if (id == loom::Vocab::kNone) {
        ++expected_unknown;
        id = vocab.unk_id();
        fails = fails || id == loom::Vocab::kNone;
      }
      expected_ids.push_back(id);
    }
    std::int64_t unknown = -1;
    std::vector<std::int32_t> ids;
    bool ok = loom::fuzz::user_errors_only(
        "numericalize", [&] { ids = loom::numericalize(lines, *c.tokenizer, vocab, &unknown); });
    const std::string what = std::string("numericalize with frequency ") + kVocabCases[k].yaml;
    LOOM_FUZZ_CHECK(ok != fails, what + (fails ? ": an unknown token without unk passed"
                                               : ": refused tokens it can number"));
    if (!ok) continue;
    LOOM_FUZZ_CHECK(ids == expected_ids, what + ": ids differ from a sequential lookup");
    LOOM_FUZZ_CHECK(unknown == expected_unknown, what + ": " + std::to_string(unknown) +
                                                     " unknown tokens, expected " +
                                                     std::to_string(expected_unknown));
  }
  return 0;
}
