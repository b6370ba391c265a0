// tokenizers/char: one token per UTF-8 character, for character-level language models
// (tiny-shakespeare, minGPT's char demo). Whitespace becomes the space token ("▁" by default,
// U+2581, as SentencePiece writes it), so tokens never contain spaces or tabs and a
// vocabulary file stays one token per line; a run of whitespace is one space token when
// `collapse_spaces` is on. Bytes that are not UTF-8 become U+FFFD. An optional end-of-line
// token is appended to every line. detokenize joins the characters, the space token back to
// a space, and drops the final end-of-line token.
#include <string>
#include <vector>

#include "loom/plugin.hpp"

namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the UTF-8 sequence starting at s[i], or 0 when it is not a valid one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  if (n == 2 && c < 0xC2) return 0;  // overlong
  return n;
}

class CharTokenizer : public loom::Tokenizer {
 public:
  CharTokenizer(std::string space, std::string eos, bool collapse)
      : space_(std::move(space)), eos_(std::move(eos)), collapse_(collapse) {}

 protected:
  void tokenize_impl(std::string_view line, std::vector<std::string>& out) const override {
    bool previous_space = false;
    for (std::size_t i = 0; i < line.size();) {
      const char c = line[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
        if (!(collapse_ && previous_space)) out.push_back(space_);
        previous_space = true;
        ++i;
        continue;
      }
      previous_space = false;
      const std::size_t n = utf8_length(line, i);
      if (n == 0) {
        out.emplace_back(kReplacement);
        ++i;
      } else {
        out.emplace_back(line.substr(i, n));
        i += n;
      }
    }
    if (!eos_.empty()) out.push_back(eos_);
  }

  std::string detokenize_impl(const std::vector<std::string>& tokens) const override {
    std::size_t n = tokens.size();
    if (n > 0 && !eos_.empty() && tokens.back() == eos_) --n;
    std::string text;
    for (std::size_t i = 0; i < n; ++i) text += tokens[i] == space_ ? std::string(" ") : tokens[i];
    return text;
  }

 private:
  std::string space_, eos_;
  bool collapse_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kTokenizer,
      "char",
      "1.0",
      "one token per UTF-8 character; whitespace as a space token; optional end-of-line token",
      {{"space", loom::ParamType::kString, "\xE2\x96\x81", "the token whitespace becomes (default U+2581, \xE2\x96\x81)"},
       {"eos", loom::ParamType::kString, "", "token appended to every line (empty: none), e.g. <eos>"},
       {"collapse_spaces", loom::ParamType::kBool, "false", "a run of whitespace gives one space token"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        const std::string space = p.get_string("space");
        if (space.empty() || space.find_first_of(" \t\r\n") != std::string::npos)
          p.fail("space", "must be a non-empty token without whitespace");
        if (space == p.get_string("eos")) p.fail("eos", "must differ from the space token");
        return std::make_unique<CharTokenizer>(space, p.get_string("eos"), p.get_bool("collapse_spaces"));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
