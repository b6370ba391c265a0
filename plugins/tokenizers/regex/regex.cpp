// tokenizers/regex: the tokens of a line are the matches of an RE2 pattern, found after HTML
// tags are removed and character references decoded, so that web text such as the IMDB
// reviews ("good<br /><br />bad") gives good, bad.
//
// What a line goes through, in order:
//   1. Bytes that are not part of a valid UTF-8 sequence become U+FFFD, one per byte, so every
//      token is valid UTF-8 (files read with loom::TextFile are checked already; this guards
//      other callers).
//   2. strip_html (default true). A tag is '<' followed by a letter, by '/' and a letter, by
//      '!' or by '?', up to the next '>' with no '<' before it; it becomes one space. Any other
//      '<' is text: "a < b", "<3", and a '<' with no '>' after it on the line ("bad </3", a
//      tag cut off at the end of the line). The references &amp; &lt; &gt; &quot; &apos; &nbsp;
//      and numeric ones (&#39; &#039; &#x27;) become their character, in one pass: "&amp;lt;"
//      gives "&lt;", and a decoded '<' never starts a tag. They need their ';'. A numeric
//      reference to 0, to a surrogate or past U+10FFFF gives U+FFFD, as in HTML; other named
//      references (&eacute;) are left as text.
//   3. The tokens are the successive, non-overlapping matches of `pattern`, left to right
//      (RE2 syntax, UTF-8 mode, leftmost-first like Perl); the text between them is dropped.
//      A token is the whole match: groups do not matter. Empty matches (\b) are skipped, and a
//      pattern that matches the empty string is refused, as is \C (one byte, which could cut
//      a character in two); everything else in RE2's UTF-8 mode matches whole characters.
//   4. lowercase (default true) lowercases the ASCII letters of each token. Other letters keep
//      their case: "ÉCOLE" gives "École".
//   5. eos, when not empty, is appended to every line, an empty one too, as given.
//
// The default pattern, [A-Za-z]+, keeps ASCII letters only: digits and punctuation are
// dropped, "don't" gives don, t, and a non-ASCII letter separates ("café" gives caf, "Amélie"
// gives am, lie). Other patterns:
//   [A-Za-z]+(?:'[A-Za-z]+)*   keeps contractions: don't, o'clock
//   [A-Za-z]+|[0-9]+|[^\s\w]   also numbers, and each punctuation mark or symbol on its own
//   \pL+(?:'\pL+)*             letters of every script: café, amélie, köln
// In RE2, \w, \d, \s and \b are ASCII-only; \pL, \pN and \p{Greek} are Unicode.
//
// detokenize joins the tokens with single spaces and drops eos: tags, and text the pattern did
// not match, are lost. With strip_html, a '<' that would open a tag and a '&' that would start
// a reference are written &lt; and &amp;, so the text tokenizes back to the same tokens. That
// holds for any pattern whose matches contain no whitespace, do not depend on their
// neighbours and, with lowercase, still match once lowercased.
//
// Thread-safety: tokenize and detokenize are const and may run on many threads at once. Each
// thread matches with its own compiled copy of the pattern, made on its first call and kept
// until the tokenizer is destroyed. One RE2 object is thread-safe too, but every match takes
// its lock twice: tokenizing IMDB, two threads sharing one object were slower than one
// thread, and two threads with a copy each were not.
#include <re2/re2.h>
#include <tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/plugin.hpp"
#include "loom/text.hpp"

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kDefaultPattern = "[A-Za-z]+";

// The length of the valid UTF-8 sequence at s[i] (1 to 4), or 0 when there is none there: the
// rules of loom::find_invalid_utf8 (no overlong forms, surrogates or values past U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return 0;
  return len;
}

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Whether the '<' at text[i] could open a tag: a letter, '/' and a letter, '!' or '?' follow.
bool opens_tag(std::string_view text, std::size_t i) {
  if (i + 1 >= text.size()) return false;
  const char c = text[i + 1];
  if (is_ascii_letter(c) || c == '!' || c == '?') return true;
  return c == '/' && i + 2 < text.size() && is_ascii_letter(text[i + 2]);
}

// The length of the tag that starts at text[i] (a '<'), or 0 when that '<' is text.
std::size_t tag_length(std::string_view text, std::size_t i) {
  if (!opens_tag(text, i)) return 0;
  const std::size_t end = text.find_first_of("<>", i + 1);
  if (end == std::string_view::npos || text[end] != '>') return 0;
  return end + 1 - i;
}

struct Reference {
  std::size_t length = 0;  // 0: no reference here
  std::uint32_t code_point = 0;
};

int digit_value(char c, bool hex) {
  if (c >= '0' && c <= '9') return c - '0';
  if (hex && c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (hex && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The character reference that starts at text[i] (a '&').
Reference reference_at(std::string_view text, std::size_t i) {
  struct Named {
    std::string_view name;
    std::uint32_t code_point;
  };
  static constexpr Named kNamed[] = {{"amp;", '&'},   {"lt;", '<'},    {"gt;", '>'},
                                     {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", 0xA0}};
  const std::string_view rest = text.substr(i + 1);
  if (!rest.empty() && rest[0] == '#') {
    const bool hex = rest.size() > 1 && (rest[1] == 'x' || rest[1] == 'X');
    const std::size_t first = hex ? 2 : 1;
    std::size_t k = first;
    std::uint32_t cp = 0;
    for (int d; k < rest.size() && (d = digit_value(rest[k], hex)) >= 0; ++k)
      cp = std::min<std::uint32_t>(cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d), 0x110000);
    if (k == first || k == rest.size() || rest[k] != ';') return {};
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    return {k + 2, cp};  // '&', then rest up to and with the ';'
  }
  for (const auto& n : kNamed)
    if (rest.starts_with(n.name)) return {n.name.size() + 1, n.code_point};
  return {};
}

// What the pattern is matched against: `line` as valid UTF-8, with tags and references
// resolved when `strip_html`.
void prepare(std::string_view line, bool strip_html, std::string& out) {
  out.clear();
  out.reserve(line.size());
  const std::size_t n = line.size();
  std::size_t i = 0;
  while (i < n) {
    std::size_t j = i;
    for (; j < n; ++j) {
      const auto c = static_cast<unsigned char>(line[j]);
      if (c >= 0x80 || (strip_html && (c == '<' || c == '&'))) break;
    }
    out.append(line.substr(i, j - i));
    i = j;
    if (i == n) break;
    if (line[i] == '<') {
      const std::size_t len = tag_length(line, i);
      out += len > 0 ? ' ' : '<';
      i += len > 0 ? len : 1;
    } else if (line[i] == '&') {
      const Reference r = reference_at(line, i);
      if (r.length > 0) loom::append_utf8(out, r.code_point);
      else out += '&';
      i += r.length > 0 ? r.length : 1;
    } else if (const std::size_t len = utf8_length(line, i); len > 0) {
      out.append(line.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
}

// Whether `pattern` uses \C, RE2's "any byte", the one construct that can stop inside a
// UTF-8 character. Every backslash escapes the next character, so pairs are skipped whole.
bool matches_single_bytes(std::string_view pattern) {
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i)
    if (pattern[i] == '\\' && pattern[++i] == 'C') return true;
  return false;
}

re2::RE2::Options pattern_options() {
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingUTF8);
  options.set_log_errors(false);  // errors are reported as ConfigErrors, not printed by RE2
  return options;
}

class RegexTokenizer : public loom::Tokenizer {
 public:
  // `pattern` has compiled without error.
  RegexTokenizer(std::string pattern, bool strip_html, bool lowercase, std::string eos)
      : compiled_([pattern] {
          return std::make_unique<const re2::RE2>(pattern, pattern_options());
        }),
        strip_html_(strip_html),
        lowercase_(lowercase),
        eos_(std::move(eos)) {}

 protected:
  void tokenize_impl(std::string_view line, std::vector<std::string>& out) const override {
    const re2::RE2& pattern = *compiled_.local();
    std::string text;
    prepare(line, strip_html_, text);
    const re2::StringPiece input(text.data(), text.size());
    re2::StringPiece match;
    std::size_t pos = 0;
    while (pos < text.size() &&
           pattern.Match(input, pos, text.size(), re2::RE2::UNANCHORED, &match, 1)) {
      const auto begin = static_cast<std::size_t>(match.data() - text.data());
      const std::size_t end = begin + match.size();
      if (end == begin) {
        // An empty match (\b, say) is no token: go on after the character there. `text` is
        // valid UTF-8, so that is at least one byte.
        pos = end < text.size() ? end + utf8_length(text, end) : end;
        continue;
      }
      out.emplace_back(match.data(), match.size());
      if (lowercase_)
        for (char& c : out.back())
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      pos = end;
    }
    if (!eos_.empty()) out.push_back(eos_);
  }

  std::string detokenize_impl(const std::vector<std::string>& tokens) const override {
    std::string text;
    bool first = true;
    for (const auto& t : tokens) {
      if (!eos_.empty() && t == eos_) continue;
      if (!first) text += ' ';
      text += t;
      first = false;
    }
    if (!strip_html_) return text;
    // Escape only what tokenize would read as HTML, so plain "a < b" and "AT&T" stay as
    // they are. After escaping, no '<' opens a tag: the character after it is unchanged
    // unless it was '<' or '&', which became '&'.
    std::string escaped;
    escaped.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '<' && opens_tag(text, i)) escaped += "&lt;";
      else if (text[i] == '&' && reference_at(text, i).length > 0) escaped += "&amp;";
      else escaped += text[i];
    }
    return escaped;
  }

 private:
  mutable tbb::enumerable_thread_specific<std::unique_ptr<const re2::RE2>> compiled_;
  bool strip_html_;
  bool lowercase_;
  std::string eos_;
};

std::unique_ptr<loom::Component> build(loom::BuildContext& ctx) {
  const loom::Params& p = ctx.params();
  const std::string pattern = p.get_string("pattern");
  const re2::RE2 re(pattern, pattern_options());
  if (!re.ok()) p.fail("pattern", "'pattern': " + re.error());
  if (matches_single_bytes(pattern))
    p.fail("pattern", "'pattern': \\C matches single bytes and could cut a UTF-8 character in "
                      "two: '" + pattern + "'");
  if (re2::RE2::FullMatch("", re))
    p.fail("pattern", "'pattern': '" + pattern +
                          "' matches the empty string, and a token needs a character (use + "
                          "rather than * or ?)");
  return std::make_unique<RegexTokenizer>(pattern, p.get_bool("strip_html"),
                                          p.get_bool("lowercase"), p.get_string("eos"));
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kTokenizer,
      "regex",
      "1.0",
      "tokens are the matches of an RE2 pattern, after HTML tags and references are resolved",
      {{"pattern", loom::ParamType::kString, std::string(kDefaultPattern),
        "RE2 pattern (UTF-8) whose matches are the tokens; the default keeps ASCII letters "
        "(\"don't\" gives don, t; \"café\" gives caf); [A-Za-z]+(?:'[A-Za-z]+)* keeps "
        "contractions, [A-Za-z]+|[0-9]+|[^\\s\\w] adds numbers and punctuation, \\pL+ "
        "letters of every script"},
       {"strip_html", loom::ParamType::kBool, "true",
        "replace HTML tags with a space and decode &amp; &lt; &gt; &quot; &apos; &nbsp; &#N; "
        "&#xN; before matching; a '<' that opens no closed tag is text"},
       {"lowercase", loom::ParamType::kBool, "true",
        "lowercase the ASCII letters of every token (other letters keep their case)"},
       {"eos", loom::ParamType::kString, "",
        "token appended to every line (empty: none), e.g. <eos>"}},
      build};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
