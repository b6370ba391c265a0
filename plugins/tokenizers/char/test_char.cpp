// tokenizers/char through the real loader: characters of every width, whitespace, invalid
// bytes, the end-of-line token, round trips and parameter errors.
#define BOOST_TEST_MODULE char
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::expect_error;
using Tokens = std::vector<std::string>;

namespace {

struct Char {
  explicit Char(const std::string& yaml = "{}") : env(registry()) {
    env.add("tok", "char", yaml);
    tok = &env.get<loom::Tokenizer>("tok");
  }
  static loom::Registry& registry() {
    static loom::Registry* r = [] {
      auto* x = new loom::Registry;  // lives as long as the process, as the plugin library does
      x->load_library(LOOM_TEST_PLUGIN_FILE);
      return x;
    }();
    return *r;
  }
  loom::testing::Env env;
  const loom::Tokenizer* tok;
};

}  // namespace

BOOST_AUTO_TEST_CASE(characters_of_every_width) {
  Char c;
  // a (1 byte), é (2), € (3), 𝄞 (4)
  BOOST_TEST(c.tok->tokenize("a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E") ==
                 (Tokens{"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9D\x84\x9E"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(whitespace_becomes_the_space_token) {
  Char c;
  BOOST_TEST(c.tok->tokenize("to be\tor") == (Tokens{"t", "o", "\xE2\x96\x81", "b", "e", "\xE2\x96\x81", "o", "r"}),
             boost::test_tools::per_element());
  Char collapsed("{collapse_spaces: true, space: _}");
  BOOST_TEST(collapsed.tok->tokenize("a  \t b") == (Tokens{"a", "_", "b"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_bytes_become_the_replacement_character) {
  Char c;
  // a lone continuation byte, a truncated 3-byte sequence, an overlong 2-byte form
  BOOST_TEST(c.tok->tokenize("\x80" "b\xE2\x82" "c\xC0\xAF") ==
                 (Tokens{"\xEF\xBF\xBD", "b", "\xEF\xBF\xBD", "\xEF\xBF\xBD", "c", "\xEF\xBF\xBD", "\xEF\xBF\xBD"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(end_of_line_token_and_round_trip) {
  Char c("{eos: <eos>}");
  const std::string line = "First Citizen: speak, speak. \xC3\xA9t\xC3\xA9";
  Tokens t = c.tok->tokenize(line);
  BOOST_TEST(t.back() == "<eos>");
  BOOST_TEST(t.size() == 33u);  // 32 characters (two of them 2-byte) + eos
  BOOST_TEST(c.tok->detokenize(t) == line);
  BOOST_TEST(c.tok->tokenize("").size() == 1u);  // an empty line is the end-of-line token alone
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([] { Char c("{space: ' '}"); }, {"test:tok:1:9", "without whitespace"});
  expect_error<loom::ConfigError>([] { Char c("{space: x, eos: x}"); }, {"must differ from the space token"});
  expect_error<loom::ConfigError>([] { Char c("{spacer: x}"); }, {"did you mean 'space'"});
}
