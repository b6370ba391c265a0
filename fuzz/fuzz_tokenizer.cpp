// Fuzz target: the word tokenizer (plugins/tokenizers/word), loaded from the build tree's
// plugin folder through the real loader (loom::Registry), as a pipeline would load it; the
// bytes fuzzed are the shipped plugin's. The input is one line of text (any bytes, line breaks
// included: the tokenizer must take them as whitespace). Every input goes through four
// configurations: plain, eos: <eos>, lowercase: true, and both.
//
// Properties:
//   - the tokenizer contract (loom/testing/contracts.hpp): detokenize(tokenize(line))
//     tokenizes to the same tokens, tokenize appends, UTF-8 in gives UTF-8 out;
//   - the words are the line's maximal runs of non-whitespace bytes, in order, lowercased
//     (ASCII only) when asked, followed by the eos token when one is set;
//   - detokenize gives the words joined by single spaces.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loom/plugin.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "support.hpp"

namespace {

struct Config {
  const char* yaml;
  std::string eos;
  bool lowercase;
};

const std::vector<Config> kConfigs = {
    {"{}", "", false},
    {"{eos: <eos>}", "<eos>", false},
    {"{lowercase: true}", "", true},
    {"{eos: <eos>, lowercase: true}", "<eos>", true},
};

struct Tokenizers {
  Tokenizers() : env(loom::fuzz::plugins()) {
    for (std::size_t i = 0; i < kConfigs.size(); ++i)
      env.add("tok" + std::to_string(i), "word", kConfigs[i].yaml);
    for (std::size_t i = 0; i < kConfigs.size(); ++i)
      tokenizers.push_back(&env.get<loom::Tokenizer>("tok" + std::to_string(i)));
  }
  loom::testing::Env env;
  std::vector<const loom::Tokenizer*> tokenizers;
};

const Tokenizers& tokenizers() {
  static const Tokenizers t;
  return t;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The expected words: maximal runs of non-whitespace bytes.
std::vector<std::string> words_of(std::string_view line, bool lowercase) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) {
      std::string_view w = line.substr(start, i - start);
      words.push_back(lowercase ? loom::ascii_lower(w) : std::string(w));
    }
  }
  return words;
}

std::string show(const std::vector<std::string>& tokens) {
  std::string out = "[";
  for (std::size_t i = 0; i < tokens.size() && i < 20; ++i)
    out += (i ? ", " : "") + loom::fuzz::printable(tokens[i], 40);
  return out + (tokens.size() > 20 ? ", ...]" : "]");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  for (std::size_t k = 0; k < kConfigs.size(); ++k) {
    const Config& config = kConfigs[k];
    const loom::Tokenizer& tok = *tokenizers().tokenizers[k];
    const std::string what =
        std::string("word ") + config.yaml + " on " + loom::fuzz::printable(line);

    auto failures = loom::testing::contracts::tokenizer_round_trip(tok, {line});
    if (!failures.empty())
      loom::fuzz::fail(what + ": breaks the tokenizer contract:\n" +
                       loom::testing::contracts::join(failures));

    std::vector<std::string> tokens;
    loom::fuzz::user_errors_only(what, [&] { tokens = tok.tokenize(line); });
    std::vector<std::string> expected = words_of(line, config.lowercase);
    std::string joined;
    for (const auto& w : expected) joined += (joined.empty() ? "" : " ") + w;
    if (!config.eos.empty()) expected.push_back(config.eos);
    if (tokens != expected)
      loom::fuzz::fail(what + ": tokens " + show(tokens) + ", expected " + show(expected));

    std::string text;
    loom::fuzz::user_errors_only(what, [&] { text = tok.detokenize(tokens); });
    if (text != joined)
      loom::fuzz::fail(what + ": detokenize gave " + loom::fuzz::printable(text) + ", expected " +
                       loom::fuzz::printable(joined));
  }
  return 0;
}
