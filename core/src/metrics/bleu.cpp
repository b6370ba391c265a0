#include "loom/bleu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <unordered_map>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/text.hpp"

namespace loom {

BleuOptions BleuOptions::sacrebleu() {
  BleuOptions o;
  o.tokenize = BleuTokenize::k13a;
  o.smooth = BleuSmooth::kExp;
  o.raw_denominators = true;
  return o;
}

std::string BleuOptions::signature(std::size_t references) const {
  return "nrefs:" + std::to_string(references) + "|case:" + (lowercase ? "lc" : "mixed") +
         "|tok:" + (tokenize == BleuTokenize::k13a ? "13a" : "none") +
         "|smooth:" + (smooth == BleuSmooth::kExp ? "exp" : "none") +
         "|denominators:" + (raw_denominators ? "raw" : "textbook");
}

BleuStats& BleuStats::operator+=(const BleuStats& other) {
  for (int n = 0; n < kBleuOrder; ++n) {
    matches[n] += other.matches[n];
    totals[n] += other.totals[n];
  }
  sys_len += other.sys_len;
  ref_len += other.ref_len;
  sentences += other.sentences;
  return *this;
}

namespace {

// The length in bytes of a character Python's str.isspace() accepts at s[i], or 0.
std::size_t space_at(std::string_view s, std::size_t i) {
  auto u = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  unsigned c = u(0);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
  if (c == 0xC2 && (u(1) == 0x85 || u(1) == 0xA0)) return 2;                 // U+0085, U+00A0
  if (c == 0xE1 && u(1) == 0x9A && u(2) == 0x80) return 3;                   // U+1680
  if (c == 0xE2 && u(1) == 0x80 && ((u(2) >= 0x80 && u(2) <= 0x8A) || u(2) == 0xA8 || u(2) == 0xA9 || u(2) == 0xAF))
    return 3;                                                                // U+2000-200A, 2028, 2029, 202F
  if (c == 0xE2 && u(1) == 0x81 && u(2) == 0x9F) return 3;                   // U+205F
  if (c == 0xE3 && u(1) == 0x80 && u(2) == 0x80) return 3;                   // U+3000
  return 0;
}

std::vector<std::string> split_spaces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0, start = std::string::npos;
  while (i < s.size()) {
    std::size_t w = space_at(s, i);
    if (w > 0) {
      if (start != std::string::npos) out.emplace_back(s.substr(start, i - start));
      start = std::string::npos;
      i += w;
    } else {
      if (start == std::string::npos) start = i;
      ++i;
    }
  }
  if (start != std::string::npos) out.emplace_back(s.substr(start));
  return out;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [\{-\~\[-\` -\&\(-\+\:-\@\/]: the characters 13a sets apart wherever they are.
bool is_13a_symbol(char ch) {
  unsigned c = static_cast<unsigned char>(ch);
  return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
         (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == '/';
}

// re.sub of a two-character pattern (a)(b) -> replacement, left to right without overlaps,
// as Python does it. Working on UTF-8 bytes gives the same text: the classes that match a
// non-ASCII character match each of its bytes, and only spaces are inserted.
template <class First, class Second, class Emit>
std::string substitute_pairs(const std::string& s, First first, Second second, Emit emit) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  std::size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && first(s[i]) && second(s[i + 1])) {
      emit(out, s[i], s[i + 1]);
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::uint32_t lower_code_point(std::uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return c;
  if (c <= 0xDE && c != 0xD7) return c + 32;                            // Latin-1: À..Þ
  if (c >= 0x100 && c <= 0x137 && c % 2 == 0) return c + 1;             // Latin Extended-A pairs
  if (c >= 0x139 && c <= 0x148 && c % 2 == 1) return c + 1;
  if (c >= 0x14A && c <= 0x177 && c % 2 == 0) return c + 1;
  if (c == 0x178) return 0xFF;                                          // Ÿ
  if (c == 0x179 || c == 0x17B || c == 0x17D) return c + 1;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;            // Greek capitals
  if (c >= 0x400 && c <= 0x40F) return c + 80;                          // Cyrillic Ѐ..Џ
  if (c >= 0x410 && c <= 0x42F) return c + 32;                          // Cyrillic А..Я
  if (c == 0x1E9E) return 0xDF;                                         // capital sharp s
  return c;
}

// The n-grams of a sentence with their counts, tokens interned as ids; the key is the ids'
// bytes, so any number of distinct tokens works.
using NgramCounts = std::unordered_map<std::string, std::int64_t>;

NgramCounts count_ngrams(const std::vector<std::int32_t>& ids, int n) {
  NgramCounts counts;
  if (static_cast<std::int64_t>(ids.size()) < n) return counts;
  counts.reserve(ids.size());
  for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= ids.size(); ++i)
    ++counts[std::string(reinterpret_cast<const char*>(ids.data() + i), sizeof(std::int32_t) * static_cast<std::size_t>(n))];
  return counts;
}

}  // namespace

std::string lowercase_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    bool valid = len > 1 && i + len <= text.size();
    std::uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; valid && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      valid = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!valid) {  // not UTF-8: the byte as it is
      out += text[i++];
      continue;
    }
    std::uint32_t lower = lower_code_point(cp);
    if (lower == cp)
      out.append(text.substr(i, len));
    else
      append_utf8(out, lower);
    i += len;
  }
  return out;
}

std::string tokenize_13a(std::string_view line) {
  std::string s(line);
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replace_all(s, "&quot;", "\"");
    replace_all(s, "&amp;", "&");
    replace_all(s, "&lt;", "<");
    replace_all(s, "&gt;", ">");
  }
  std::string spaced = " ";
  spaced.reserve(s.size() * 2 + 2);
  for (char c : s) {
    if (is_13a_symbol(c)) {
      spaced += ' ';
      spaced += c;
      spaced += ' ';
    } else {
      spaced += c;
    }
  }
  spaced += ' ';
  auto period_comma = [](char c) { return c == '.' || c == ','; };
  auto not_digit = [](char c) { return !is_digit(c); };
  // ([^0-9])([\.,]) -> "\1 \2 "
  spaced = substitute_pairs(spaced, not_digit, period_comma, [](std::string& o, char a, char b) {
    o += a;
    o += ' ';
    o += b;
    o += ' ';
  });
  // ([\.,])([^0-9]) -> " \1 \2"
  spaced = substitute_pairs(spaced, period_comma, not_digit, [](std::string& o, char a, char b) {
    o += ' ';
    o += a;
    o += ' ';
    o += b;
  });
  // ([0-9])(-) -> "\1 \2 "
  spaced = substitute_pairs(spaced, is_digit, [](char c) { return c == '-'; }, [](std::string& o, char a, char b) {
    o += a;
    o += ' ';
    o += b;
    o += ' ';
  });
  std::string out;
  for (const auto& t : split_spaces(spaced)) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

std::vector<std::string> bleu_tokens(std::string_view line, const BleuOptions& options) {
  std::string text = options.lowercase ? lowercase_utf8(line) : std::string(line);
  if (options.tokenize == BleuTokenize::k13a) text = tokenize_13a(text);
  return split_spaces(text);
}

BleuStats bleu_sentence_stats(const std::vector<std::string>& hypothesis,
                              const std::vector<std::vector<std::string>>& references, bool raw_denominators) {
  BleuStats s;
  s.sentences = 1;
  const auto hyp_len = static_cast<std::int64_t>(hypothesis.size());
  s.sys_len = hyp_len;
  // The closest reference length, the shorter on a tie.
  std::int64_t best = -1;
  for (const auto& r : references) {
    auto len = static_cast<std::int64_t>(r.size());
    if (best < 0 || std::llabs(len - hyp_len) < std::llabs(best - hyp_len) ||
        (std::llabs(len - hyp_len) == std::llabs(best - hyp_len) && len < best))
      best = len;
  }
  s.ref_len = std::max<std::int64_t>(best, 0);

  std::unordered_map<std::string, std::int32_t> intern;
  auto ids_of = [&](const std::vector<std::string>& tokens) {
    std::vector<std::int32_t> ids;
    ids.reserve(tokens.size());
    for (const auto& t : tokens) ids.push_back(intern.emplace(t, static_cast<std::int32_t>(intern.size())).first->second);
    return ids;
  };
  std::vector<std::int32_t> hyp = ids_of(hypothesis);
  std::vector<std::vector<std::int32_t>> refs;
  for (const auto& r : references) refs.push_back(ids_of(r));

  for (int n = 1; n <= kBleuOrder; ++n) {
    NgramCounts counts = count_ngrams(hyp, n);
    std::unordered_map<std::string, std::int64_t> max_ref;
    for (const auto& r : refs)
      for (const auto& [gram, c] : count_ngrams(r, n))
        if (counts.count(gram)) max_ref[gram] = std::max(max_ref[gram], c);
    std::int64_t matched = 0;
    for (const auto& [gram, c] : counts) {
      auto it = max_ref.find(gram);
      if (it != max_ref.end()) matched += std::min(c, it->second);
    }
    std::int64_t total = std::max<std::int64_t>(0, hyp_len - n + 1);
    s.matches[n - 1] = matched;
    s.totals[n - 1] = raw_denominators ? total : std::max<std::int64_t>(1, total);
  }
  return s;
}

BleuScore bleu_from_stats(const BleuStats& stats, const BleuOptions& options) {
  BleuScore out;
  out.sys_len = stats.sys_len;
  out.ref_len = stats.ref_len;
  if (stats.sys_len == 0)
    out.bp = 0.0;
  else if (stats.sys_len >= stats.ref_len)
    out.bp = 1.0;
  else
    out.bp = std::exp(1.0 - static_cast<double>(stats.ref_len) / static_cast<double>(stats.sys_len));
  // sum of log p_n; a precision of 0 makes the score 0.
  double log_sum = 0.0;
  bool zero = false;
  double smooth = 1.0;
  for (int n = 0; n < kBleuOrder; ++n) {
    double a = static_cast<double>(stats.matches[n]), b = static_cast<double>(stats.totals[n]);
    double p = 0.0;
    if (b <= 0) {
      // No n-gram of this order anywhere (raw denominators): this and the higher orders
      // stay 0, as sacreBLEU leaves them.
      for (int m = n; m < kBleuOrder; ++m) out.precisions[m] = 0.0;
      zero = true;
      break;
    }
    if (a > 0) {
      p = a / b;
    } else if (options.smooth == BleuSmooth::kExp) {
      smooth *= 2.0;
      p = 1.0 / (smooth * b);
    }
    out.precisions[n] = 100.0 * p;
    if (p <= 0.0)
      zero = true;
    else
      log_sum += std::log(p);
  }
  out.score = zero || out.bp == 0.0 ? 0.0 : 100.0 * out.bp * std::exp(log_sum / kBleuOrder);
  return out;
}

BleuStats corpus_bleu_stats(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& references, const BleuOptions& options) {
  if (references.empty()) throw InputError("BLEU needs at least one reference");
  for (std::size_t r = 0; r < references.size(); ++r)
    if (references[r].size() != hypotheses.size())
      throw InputError("BLEU: reference " + std::to_string(r + 1) + " has " + std::to_string(references[r].size()) +
                       " lines but there are " + std::to_string(hypotheses.size()) + " hypotheses");
  const auto n = static_cast<std::int64_t>(hypotheses.size());
  constexpr std::int64_t kGrain = 64;
  std::vector<BleuStats> parts(static_cast<std::size_t>(parallel_chunk_count(n, kGrain)));
  parallel_chunks(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    BleuStats part;
    std::vector<std::vector<std::string>> refs(references.size());
    for (std::int64_t i = begin; i < end; ++i) {
      for (std::size_t r = 0; r < references.size(); ++r)
        refs[r] = bleu_tokens(references[r][static_cast<std::size_t>(i)], options);
      part += bleu_sentence_stats(bleu_tokens(hypotheses[static_cast<std::size_t>(i)], options), refs,
                                  options.raw_denominators);
    }
    parts[static_cast<std::size_t>(begin / kGrain)] = part;
  });
  BleuStats total;
  for (const auto& p : parts) total += p;
  return total;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& references, const BleuOptions& options) {
  return bleu_from_stats(corpus_bleu_stats(hypotheses, references, options), options);
}

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

namespace {

double ratio_of(const BleuScore& s) {
  return s.ref_len > 0 ? static_cast<double>(s.sys_len) / static_cast<double>(s.ref_len) : 0.0;
}

}  // namespace

Json bleu_json(const BleuScore& score, const std::string& signature) {
  Json j = Json::object();
  j["name"] = "BLEU";
  j["score"] = score.score;
  Json p = Json::array();
  for (double v : score.precisions) p.push_back(v);
  j["precisions"] = p;
  j["bp"] = score.bp;
  j["ratio"] = ratio_of(score);
  j["sys_len"] = score.sys_len;
  j["ref_len"] = score.ref_len;
  j["signature"] = signature;
  return j;
}

std::string bleu_line(const BleuScore& score, const std::string& signature) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld) ",
                score.score, score.precisions[0], score.precisions[1], score.precisions[2], score.precisions[3], score.bp,
                ratio_of(score), static_cast<long long>(score.sys_len), static_cast<long long>(score.ref_len));
  return buf + signature;
}

}  // namespace loom
