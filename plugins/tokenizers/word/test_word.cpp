// tokenizers/word through the real loader: whitespace splitting, the end-of-line token,
// lowercasing, detokenize round trips and parameter errors.
#define BOOST_TEST_MODULE word
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::testing::expect_error;

namespace {

using Tokens = std::vector<std::string>;

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

// A word tokenizer built from YAML parameters, with the env that owns it.
struct Word : Loaded {
  explicit Word(const std::string& yaml = "{}") : env(registry) {
    env.add("tok", "word", yaml);
    tok = &env.get<loom::Tokenizer>("tok");
  }
  loom::testing::Env env;
  const loom::Tokenizer* tok;
};

struct SplitCase {
  const char* yaml;
  std::string line;
  Tokens expected;
};

// Every kind of ASCII whitespace separates; runs, leading and trailing whitespace make no
// empty tokens; the eos token ends every line, an empty one too; lowercasing touches ASCII
// letters only (the bytes of "Ä" and "É" are left alone, so UTF-8 stays intact); U+00A0 (no-break
// space, bytes C2 A0) is not ASCII whitespace and so never cuts a character in two.
const std::vector<SplitCase> kSplitCases = {
    {"{}", "a b c", {"a", "b", "c"}},
    {"{}", "  a\tb   c  ", {"a", "b", "c"}},
    {"{}", "\t\ta\t", {"a"}},
    {"{}", "a\vb\fc\rd\ne", {"a", "b", "c", "d", "e"}},
    {"{}", "", {}},
    {"{}", " \t ", {}},
    {"{}", "it's 3.14, ok?", {"it's", "3.14,", "ok?"}},
    {"{}", "caf\xc3\xa9 na\xc3\xafve", {"caf\xc3\xa9", "na\xc3\xafve"}},
    {"{}", "a\xc2\xa0" "b", {"a\xc2\xa0" "b"}},
    {"{eos: <eos>}", "Hello World", {"Hello", "World", "<eos>"}},
    {"{eos: <eos>}", "  x  ", {"x", "<eos>"}},
    {"{eos: <eos>}", "", {"<eos>"}},
    {"{eos: </s>}", "a\tb", {"a", "b", "</s>"}},
    {"{lowercase: true}", "Hello WORLD mIxEd", {"hello", "world", "mixed"}},
    {"{lowercase: true}", "\xc3\x84pfel \xc3\x89T\xc3\x89", {"\xc3\x84pfel", "\xc3\x89t\xc3\x89"}},
    {"{lowercase: false}", "Hello", {"Hello"}},
    // The eos token is appended as given, not lowercased.
    {"{eos: <EOS>, lowercase: true}", "A B", {"a", "b", "<EOS>"}},
};

}  // namespace

BOOST_AUTO_TEST_CASE(loads_through_the_real_loader) {
  Loaded l;
  const loom::LoadedPlugin* p = l.registry.find("word");
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST(p->descriptor->abi_version == loom::kAbiVersion);
  BOOST_TEST(std::string(loom::kind_folder(p->descriptor->kind)) == "tokenizers");
}

BOOST_AUTO_TEST_CASE(splits_on_whitespace) {
  for (const auto& c : kSplitCases) {
    BOOST_TEST_CONTEXT(c.yaml << " " << loom::testing::contracts::detail::quoted(c.line)) {
      Word w(c.yaml);
      Tokens got = w.tok->tokenize(c.line);
      BOOST_TEST(got == c.expected, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(tokenize_appends_to_the_output) {
  Word w("{eos: <eos>}");
  Tokens out = {"kept"};
  w.tok->tokenize("a b", out);
  w.tok->tokenize("c", out);
  BOOST_TEST(out == (Tokens{"kept", "a", "b", "<eos>", "c", "<eos>"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(detokenize_round_trip) {
  struct Case {
    const char* yaml;
    std::string line;
    std::string text;  // detokenize(tokenize(line)): single spaces, eos dropped
  };
  const std::vector<Case> cases = {
      {"{}", "  a\tb   c  ", "a b c"},
      {"{}", "", ""},
      {"{eos: <eos>}", "the  cat\tsat", "the cat sat"},
      {"{eos: <eos>}", "   ", ""},
      {"{lowercase: true}", "The CAT", "the cat"},
      {"{eos: <eos>}", "\xe6\x9d\xb1\xe4\xba\xac  \xe3\x81\xaf", "\xe6\x9d\xb1\xe4\xba\xac \xe3\x81\xaf"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml << " " << loom::testing::contracts::detail::quoted(c.line)) {
      Word w(c.yaml);
      Tokens tokens = w.tok->tokenize(c.line);
      std::string text = w.tok->detokenize(tokens);
      BOOST_TEST(text == c.text);
      BOOST_TEST(w.tok->tokenize(text) == tokens, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(detokenize_drops_only_the_final_eos) {
  Word w("{eos: <eos>}");
  BOOST_TEST(w.tok->detokenize({"a", "b", "<eos>"}) == "a b");
  BOOST_TEST(w.tok->detokenize({"<eos>"}) == "");
  // An eos token before the end was in the text: dropping it would lose a word.
  BOOST_TEST(w.tok->detokenize({"a", "<eos>", "b", "<eos>"}) == "a <eos> b");
  BOOST_TEST(w.tok->detokenize({"<eos>", "<eos>"}) == "<eos>");
  // Without an eos token, "<eos>" is an ordinary word.
  Word plain;
  BOOST_TEST(plain.tok->detokenize({"a", "<eos>"}) == "a <eos>");
}

// Found by fuzz/fuzz_tokenizer (fuzz/regressions/tokenizer/): a line that contains the eos
// spelling, "<EOS>" lowercased to it included, round-trips like any other line.
BOOST_AUTO_TEST_CASE(a_line_containing_the_eos_token_round_trips) {
  struct Case {
    const char* yaml;
    std::string line;
  };
  const std::vector<Case> cases = {{"{eos: <eos>}", "a <eos> b"},
                                   {"{eos: <eos>}", "<eos>"},
                                   {"{eos: <eos>, lowercase: true}", "  N stores <EOS>\n"},
                                   {"{eos: <eos>, lowercase: true}", "<EOS>"}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml << " " << loom::testing::contracts::detail::quoted(c.line)) {
      Word w(c.yaml);
      Tokens tokens = w.tok->tokenize(c.line);
      BOOST_TEST(w.tok->tokenize(w.tok->detokenize(tokens)) == tokens,
                 boost::test_tools::per_element());
      auto failures = loom::testing::contracts::tokenizer_round_trip(*w.tok, {c.line});
      BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
    }
  }
}

BOOST_AUTO_TEST_CASE(passes_the_tokenizer_contract) {
  for (const char* yaml : {"{}", "{eos: <eos>}", "{lowercase: true, eos: <eos>}"}) {
    BOOST_TEST_CONTEXT(yaml) {
      Word w(yaml);
      auto failures = loom::testing::contracts::tokenizer_round_trip(*w.tok);
      BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_parameter_suggests_the_known_one) {
  expect_error<loom::ConfigError>([] { Word w("{eoss: x}"); },
                      {"unknown parameter 'eoss'", "did you mean 'eos'", "test:tok"});
  expect_error<loom::ConfigError>([] { Word w("{lowercas: true}"); }, {"did you mean 'lowercase'"});
  // Nothing close: the known parameters are listed.
  expect_error<loom::ConfigError>([] { Word w("{separator: x}"); }, {"unknown parameter 'separator'", "eos, lowercase"});
}

BOOST_AUTO_TEST_CASE(bad_value_is_a_config_error) {
  expect_error<loom::ConfigError>([] { Word w("{lowercase: maybe}"); }, {"expected true or false", "'maybe'"});
  expect_error<loom::ConfigError>([] { Word w("{eos: [a, b]}"); }, {"'eos' expects"});
}
