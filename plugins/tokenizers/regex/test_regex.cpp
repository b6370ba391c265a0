// tokenizers/regex through the real loader: HTML tags and references, the default and custom
// patterns, lowercasing, UTF-8 (valid and not), the end-of-line token, detokenize round trips,
// two threads at once, and pattern errors.
#define BOOST_TEST_MODULE regex
#include <boost/test/unit_test.hpp>

#include <string>
#include <thread>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/text.hpp"

using loom::testing::expect_error;
using loom::testing::contracts::detail::quoted;

namespace {

using Tokens = std::vector<std::string>;

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

// A regex tokenizer built from YAML parameters, with the env that owns it.
struct Regex : Loaded {
  explicit Regex(const std::string& yaml = "{}") : env(registry) {
    env.add("tok", "regex", yaml);
    tok = &env.get<loom::Tokenizer>("tok");
  }
  loom::testing::Env env;
  const loom::Tokenizer* tok;
};

struct Case {
  const char* yaml;
  std::string line;
  Tokens expected;
};

// Patterns in YAML single quotes, where a backslash is an ordinary character.
const char* const kPunct = "{pattern: '[A-Za-z]+|[0-9]+|[^\\s\\w]'}";
const char* const kContractions = "{pattern: \"[A-Za-z]+(?:'[A-Za-z]+)*\"}";
const char* const kLetters = "{pattern: '\\pL+'}";
const char* const kNonSpace = "{pattern: '\\S+'}";
const char* const kNonSpaceKeepCase = "{pattern: '\\S+', lowercase: false}";
const char* const kRaw = "{pattern: '\\S+', strip_html: false, lowercase: false}";

const std::string kReview =
    "One of the other reviewers has mentioned that after watching just 1 Oz episode you'll be "
    "hooked.<br /><br />The first thing that struck me about Oz was its BRUTALITY, 10/10.";

// The default pattern with the default HTML stripping and lowercasing.
const std::vector<Case> kDefaultCases = {
    // An IMDB review: tags go, digits and punctuation are dropped, "you'll" gives you, ll.
    {"{}", kReview, {"one",    "of",    "the",      "other", "reviewers", "has",     "mentioned",
                     "that",   "after", "watching", "just",  "oz",        "episode", "you",
                     "ll",     "be",    "hooked",   "the",   "first",     "thing",   "that",
                     "struck", "me",    "about",    "oz",    "was",       "its",     "brutality"}},
    // A tag is a space, so the words on either side stay apart.
    {"{}", "good<br />bad", {"good", "bad"}},
    {"{}", "good<br/>bad<BR>worse<p>", {"good", "bad", "worse"}},
    {"{}", "<i>Casablanca</i> (<a href=\"x.html\">link</a>)", {"casablanca", "link"}},
    {"{}", "a<!-- note -->b<?xml version?>c", {"a", "b", "c"}},
    {"{}", "<br /><br />", {}},
    // References become their character and never leave "amp", "quot" or "lt" behind.
    {"{}",
     "Tom &amp; Jerry &lt;3 &quot;classic&quot; &gt; all",
     {"tom", "jerry", "classic", "all"}},
    {"{}",
     "it&#39;s don&#039;t &#x27;x&#X27; Ond&#345;ej",
     {"it", "s", "don", "t", "x", "ond", "ej"}},
    {"{}", "caf&#233; na&#xEF;ve&nbsp;ok", {"caf", "na", "ve", "ok"}},
    // A '<' that opens no closed tag is text (and not a letter).
    {"{}", "a < b", {"a", "b"}},
    {"{}", "x<3 y <= z <-- w", {"x", "y", "z", "w"}},
    {"{}", "<<br />ok", {"ok"}},
    // A tag cut off at the end of the line is text: its name stays, nothing after it is lost.
    {"{}", "great movie<br", {"great", "movie", "br"}},
    {"{}", "never see this EVER!</3", {"never", "see", "this", "ever"}},
    {"{}", "x <b y <i>z", {"x", "b", "y", "z"}},
    // Uppercase, digits, apostrophes.
    {"{}", "GREAT Film, MiXeD cAsE", {"great", "film", "mixed", "case"}},
    {"{}", "7/10 in 2009 (90min)", {"in", "min"}},
    {"{}", "don't won't o'clock", {"don", "t", "won", "t", "o", "clock"}},
    // Non-ASCII letters are not in [A-Za-z]: they separate, and are never cut in two.
    {"{}", "Am\xc3\xa9lie na\xc3\xafve K\xc3\xb6ln", {"am", "lie", "na", "ve", "k", "ln"}},
    {"{}", "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x99\x82 ok", {"ok"}},
    {"{}", "", {}},
    {"{}", " \t ", {}},
};

// Other parameters.
const std::vector<Case> kOptionCases = {
    {kPunct,
     "10/10, \"don't\" miss it!",
     {"10", "/", "10", ",", "\"", "don", "'", "t", "\"", "miss", "it", "!"}},
    {kPunct, "a < b &amp; c", {"a", "<", "b", "&", "c"}},
    // [^\s\w] takes a non-ASCII letter or symbol as one whole character.
    {kPunct,
     "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x99\x82",
     {"caf", "\xc3\xa9", "\xe2\x80\x94", "\xf0\x9f\x99\x82"}},
    {kContractions,
     "Don't stop at o'clock, 'quoted' rock'n'roll",
     {"don't", "stop", "at", "o'clock", "quoted", "rock'n'roll"}},
    {kContractions, "don&#39;t", {"don't"}},
    // \pL is Unicode; lowercasing stays ASCII.
    {kLetters,
     "Am\xc3\xa9lie \xc3\x89\x43OLE K\xc3\xb6ln",
     {"am\xc3\xa9lie", "\xc3\x89" "cole", "k\xc3\xb6ln"}},
    {kLetters,
     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xe6\x9d\xb1\xe4\xba\xac!",
     {"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "\xe6\x9d\xb1\xe4\xba\xac"}},
    {"{lowercase: false}", "GREAT Film", {"GREAT", "Film"}},
    {"{pattern: '(?i)[a-z]+', lowercase: false}", "MiXeD", {"MiXeD"}},
    // Groups do not matter: the token is the whole match.
    {"{pattern: '([a-z])([0-9])'}", "a1 b2c3", {"a1", "b2", "c3"}},
    // Empty matches (\b) are skipped.
    {"{pattern: '\\b'}", "ab cd", {}},
    {"{pattern: '[a-z]+|\\b'}", "ab, cd", {"ab", "cd"}},
    {"{pattern: 'x\\b|[a-z]'}", "ax b", {"a", "x", "b"}},
    // Without strip_html, tags and references are text.
    {"{strip_html: false}", "good<br />bad &amp; worse", {"good", "br", "bad", "amp", "worse"}},
    {kRaw, "a<b>&lt;", {"a<b>&lt;"}},
    // With \S+, what the references became is visible. Numeric references that name no
    // character give U+FFFD; unknown names and references without ';' are text.
    {kNonSpace,
     "&amp;lt;b&amp;gt; &lt;b&gt; &#0; &#xD800; &#1114112; &#99999999999999;",
     {"&lt;b&gt;", "<b>", "\xef\xbf\xbd", "\xef\xbf\xbd", "\xef\xbf\xbd", "\xef\xbf\xbd"}},
    {kNonSpace,
     "&eacute; &amp &#; &#x; &#12a; R&amp;B",
     {"&eacute;", "&amp", "&#;", "&#x;", "&#12a;", "r&b"}},
    {kNonSpaceKeepCase,
     "&#128578;&#x1F30D;&#8230;",
     {"\xf0\x9f\x99\x82\xf0\x9f\x8c\x8d\xe2\x80\xa6"}},
    // The end-of-line token: appended to every line, empty ones too, as written.
    {"{eos: <eos>}", "Hello World", {"hello", "world", "<eos>"}},
    {"{eos: <eos>}", "", {"<eos>"}},
    {"{eos: <eos>}", "<br />", {"<eos>"}},
    {"{eos: </S>}", "A B", {"a", "b", "</S>"}},
};

// Invalid UTF-8: every bad byte becomes U+FFFD, the rest is tokenized as usual.
const std::string kFffd = "\xef\xbf\xbd";
const std::vector<Case> kInvalidUtf8Cases = {
    {"{}", "caf\xe9 ok", {"caf", "ok"}},
    {kNonSpace, "caf\xe9 ok", {"caf" + kFffd, "ok"}},
    {kNonSpace, "ab\xe2\x82", {"ab" + kFffd + kFffd}},                // cut at the end
    {kNonSpace, "\xc0\xaf x", {kFffd + kFffd, "x"}},                  // overlong '/'
    {kNonSpace, "\xed\xa0\x80", {kFffd + kFffd + kFffd}},             // a surrogate
    {kNonSpace, "\x80\xbf" "a\xff", {kFffd + kFffd + "a" + kFffd}},    // stray bytes
    {kNonSpace, "\xf4\x90\x80\x80", {kFffd + kFffd + kFffd + kFffd}},  // past U+10FFFF
    {kPunct, "\xe9t\xe9", {kFffd, "t", kFffd}},
    {"{pattern: '.'}", "a\xc3\xa9\xc3", {"a", "\xc3\xa9", kFffd}},
};

void check_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml << " " << quoted(c.line)) {
      Regex r(c.yaml);
      Tokens got = r.tok->tokenize(c.line);
      BOOST_TEST(got == c.expected, boost::test_tools::per_element());
      for (const auto& t : got)
        BOOST_TEST(loom::find_invalid_utf8(t) == std::string::npos, quoted(t));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(loads_through_the_real_loader) {
  Loaded l;
  const loom::LoadedPlugin* p = l.registry.find("regex");
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST(p->descriptor->abi_version == loom::kAbiVersion);
  BOOST_TEST(std::string(loom::kind_folder(p->descriptor->kind)) == "tokenizers");
}

BOOST_AUTO_TEST_CASE(default_pattern_strips_html_and_lowercases) { check_cases(kDefaultCases); }

BOOST_AUTO_TEST_CASE(patterns_and_options) { check_cases(kOptionCases); }

BOOST_AUTO_TEST_CASE(invalid_utf8_becomes_replacement_characters) {
  check_cases(kInvalidUtf8Cases);
}

BOOST_AUTO_TEST_CASE(tokenize_appends_to_the_output) {
  Regex r("{eos: <eos>}");
  Tokens out = {"kept"};
  r.tok->tokenize("a<br />b", out);
  r.tok->tokenize("C", out);
  BOOST_TEST(out == (Tokens{"kept", "a", "b", "<eos>", "c", "<eos>"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(detokenize_joins_with_spaces) {
  struct DetokenizeCase {
    const char* yaml;
    std::string line;
    std::string text;  // detokenize(tokenize(line))
  };
  const std::vector<DetokenizeCase> cases = {
      {"{}", "Good<br /><br />BAD, really!", "good bad really"},
      {"{}", "", ""},
      {"{eos: <eos>}", "a  b", "a b"},
      {kPunct, "10/10, a < b", "10 / 10 , a < b"},
      {kPunct, "&lt;i&gt; &amp;", "< i > &"},
      {kLetters, "Caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac", "caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac"},
      // What would read as HTML is escaped, and only that.
      {kNonSpace, "&lt;b&gt;bold AT&amp;T x&lt;3", "&lt;b>bold at&t x<3"},
      {kNonSpace, "&amp;amp; &amp;#39;", "&amp;amp; &amp;#39;"},
      {kNonSpace, "&lt;a &lt;b&gt;", "&lt;a &lt;b>"},
      {kNonSpace, "&lt;&lt;x", "<&lt;x"},
      // Without strip_html nothing is escaped.
      {kRaw, "<b>x</b> &amp;", "<b>x</b> &amp;"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml << " " << quoted(c.line)) {
      Regex r(c.yaml);
      Tokens tokens = r.tok->tokenize(c.line);
      std::string text = r.tok->detokenize(tokens);
      BOOST_TEST(text == c.text);
      BOOST_TEST(r.tok->tokenize(text) == tokens, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(detokenize_drops_eos_anywhere) {
  Regex r("{eos: <eos>}");
  BOOST_TEST(r.tok->detokenize({"a", "<eos>", "b", "<eos>"}) == "a b");
  BOOST_TEST(r.tok->detokenize({"<eos>"}) == "");
}

BOOST_AUTO_TEST_CASE(passes_the_tokenizer_contract) {
  for (const char* yaml : {"{}", "{eos: <eos>}", "{lowercase: false, strip_html: false}", kPunct,
                           kContractions, kLetters, kNonSpace, kRaw}) {
    BOOST_TEST_CONTEXT(yaml) {
      Regex r(yaml);
      auto failures = loom::testing::contracts::tokenizer_round_trip(*r.tok);
      BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
    }
  }
}

// One tokenizer used by two threads at once gives what it gives on one.
BOOST_AUTO_TEST_CASE(two_threads_at_once_match_one) {
  for (const char* yaml : {"{}", kPunct}) {
    BOOST_TEST_CONTEXT(yaml) {
      Regex r(yaml);
      std::vector<std::string> lines;
      for (int i = 0; i < 400; ++i)
        lines.push_back(kReview + " #" + std::to_string(i) + " caf\xc3\xa9 &amp; <i>x</i>" +
                        std::string(static_cast<std::size_t>(i % 7), '!') + "\xe9");
      auto tokenize_all = [&](std::vector<Tokens>& out) {
        for (int round = 0; round < 5; ++round)
          for (std::size_t i = 0; i < lines.size(); ++i) out[i] = r.tok->tokenize(lines[i]);
      };
      std::vector<Tokens> sequential(lines.size()), a(lines.size()), b(lines.size());
      tokenize_all(sequential);
      std::thread ta([&] { tokenize_all(a); });
      std::thread tb([&] { tokenize_all(b); });
      ta.join();
      tb.join();
      BOOST_TEST((a == sequential));
      BOOST_TEST((b == sequential));
    }
  }
}

// RE2 needs no stack in proportion to the input (libstdc++'s std::regex overflows its stack
// on a 100,000-letter match) and takes linear time on patterns that make a backtracking
// engine take exponential time.
BOOST_AUTO_TEST_CASE(long_lines_and_nested_repetition) {
  Regex r;
  const std::string word(1000000, 'a');
  BOOST_TEST(r.tok->tokenize("x " + word + " y") == (Tokens{"x", word, "y"}),
             boost::test_tools::per_element());
  Regex nested("{pattern: '(?:[a-z]+)+x'}");
  BOOST_TEST(nested.tok->tokenize(std::string(100000, 'a')).empty());
  const std::string token = std::string(1000, 'a') + "x";
  BOOST_TEST(nested.tok->tokenize(token) == (Tokens{token}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_pattern_is_a_config_error_naming_it) {
  expect_error<loom::ConfigError>(
      [] { Regex r("{pattern: '([a-z]'}"); },
      {"test:tok:1:11", "component 'tok' (regex)", "'pattern': missing ): ([a-z]"});
  expect_error<loom::ConfigError>([] { Regex r("{pattern: '[a-z'}"); },
                                  {"'pattern': missing ]: [a-z"});
  expect_error<loom::ConfigError>([] { Regex r("{pattern: 'a**'}"); },
                                  {"'pattern': bad repetition operator: **"});
  expect_error<loom::ConfigError>([] { Regex r("{pattern: '(?<=a)b'}"); },
                                  {"'pattern': invalid perl operator: (?<"});
  // Patterns that would give empty or broken tokens.
  expect_error<loom::ConfigError>(
      [] { Regex r("{pattern: '[a-z]*'}"); },
      {"'pattern': '[a-z]*' matches the empty string", "use + rather than *"});
  expect_error<loom::ConfigError>([] { Regex r("{pattern: ''}"); },
                                  {"'pattern': '' matches the empty string"});
  expect_error<loom::ConfigError>([] { Regex r("{pattern: '\\C+'}"); },
                                  {"'pattern': \\C matches single bytes"});
  // An escaped backslash before C is not \C.
  Regex literal("{pattern: '\\\\C|[a-z]+'}");
  BOOST_TEST(literal.tok->tokenize("a\\Cb") == (Tokens{"a", "\\c", "b"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_parameter_and_bad_values) {
  expect_error<loom::ConfigError>([] { Regex r("{patern: x}"); },
                                  {"unknown parameter 'patern'", "did you mean 'pattern'"});
  expect_error<loom::ConfigError>([] { Regex r("{strip_htm: true}"); },
                                  {"did you mean 'strip_html'"});
  expect_error<loom::ConfigError>([] { Regex r("{strip_html: maybe}"); },
                                  {"expected true or false", "'maybe'"});
  expect_error<loom::ConfigError>([] { Regex r("{pattern: [a, b]}"); }, {"'pattern' expects"});
}
