#include "loom/text.hpp"

#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"

namespace loom {

namespace {
constexpr std::int64_t kLineGrain = 2048;
}

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return i;
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return i;
    i += len;
  }
  return std::string_view::npos;
}

TextFile TextFile::read(const std::filesystem::path& path) {
  TextFile f;
  f.path_ = path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path.string() + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  auto text = std::make_shared<std::string>(buffer.str());
  f.text_ = text;
  std::size_t bad = find_invalid_utf8(*text);
  if (bad != std::string::npos) {
    std::size_t line = 1 + static_cast<std::size_t>(
                               std::count(text->begin(), text->begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
    throw InputError(path.string() + ":" + std::to_string(line) +
                     ": not UTF-8 text (invalid byte at offset " + std::to_string(bad) + ")");
  }
  std::string_view all(*text);
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\n', start);
    if (end == std::string_view::npos) end = all.size();
    std::string_view line = all.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f.lines_.push_back(line);
    start = end + 1;
  }
  return f;
}

TokenCounts count_tokens(const std::vector<std::string_view>& lines, const Tokenizer& tokenizer) {
  auto n = static_cast<std::int64_t>(lines.size());
  std::int64_t chunks = (n + kLineGrain - 1) / kLineGrain;
  std::vector<TokenCounts> partial(static_cast<std::size_t>(chunks));
  parallel_chunks(n, kLineGrain, [&](std::int64_t b, std::int64_t e) {
    TokenCounts& counts = partial[static_cast<std::size_t>(b / kLineGrain)];
    std::vector<std::string> tokens;
    for (std::int64_t i = b; i < e; ++i) {
      tokens.clear();
      tokenizer.tokenize(lines[static_cast<std::size_t>(i)], tokens);
      for (auto& t : tokens) ++counts[t];
    }
  });
  // Integer sums: the merge order cannot change the result.
  TokenCounts total;
  for (auto& p : partial)
    for (auto& [token, count] : p) total[token] += count;
  return total;
}

std::vector<std::int32_t> numericalize(const std::vector<std::string_view>& lines,
                                       const Tokenizer& tokenizer, const Vocab& vocab,
                                       std::int64_t* unknown) {
  auto n = static_cast<std::int64_t>(lines.size());
  std::int64_t chunks = (n + kLineGrain - 1) / kLineGrain;
  std::vector<std::vector<std::int32_t>> parts(static_cast<std::size_t>(chunks));
  std::vector<std::int64_t> unknowns(static_cast<std::size_t>(chunks), 0);
  std::vector<std::string> missing(static_cast<std::size_t>(chunks));
  parallel_chunks(n, kLineGrain, [&](std::int64_t b, std::int64_t e) {
    auto c = static_cast<std::size_t>(b / kLineGrain);
    std::vector<std::string> tokens;
    for (std::int64_t i = b; i < e; ++i) {
      tokens.clear();
      tokenizer.tokenize(lines[static_cast<std::size_t>(i)], tokens);
      for (auto& t : tokens) {
        std::int32_t id = vocab.find(t);
        if (id == Vocab::kNone) {
          ++unknowns[c];
          id = vocab.unk_id();
          if (id == Vocab::kNone && missing[c].empty()) missing[c] = t;
        }
        parts[c].push_back(id);
      }
    }
  });
  for (const auto& m : missing)
    if (!m.empty())
      throw InputError("token '" + m + "' is not in the vocabulary, which has no unk token");
  std::size_t total = 0;
  for (auto& p : parts) total += p.size();
  std::vector<std::int32_t> ids;
  ids.reserve(total);
  for (auto& p : parts) ids.insert(ids.end(), p.begin(), p.end());
  std::int64_t u = 0;
  for (auto x : unknowns) u += x;
  if (unknown) *unknown = u;
  return ids;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace loom
