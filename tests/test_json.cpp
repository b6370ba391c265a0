// loom::Json: the reader of the JSON files loom writes and reads back (summaries, sweeps,
// manifests, checkpoint headers): exact round trips, and one InputError with a position for
// anything that is not JSON, never a crash.
#define BOOST_TEST_MODULE json
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <utility>

#include "loom/errors.hpp"
#include "loom/json.hpp"
#include "loom/strings.hpp"
#include "loom/testing/boost_checks.hpp"

using loom::Json;

BOOST_AUTO_TEST_CASE(numbers_round_trip_and_keep_their_kind) {
  for (double v : {0.1 + 0.2, 1e-300, 4.9406564584124654e-324, -2.5, 1e21, 123456.789}) {
    Json back = Json::parse(Json(v).dump(), "t");
    BOOST_TEST(back.number() == v);
  }
  Json i = Json::parse("9007199254740993", "t");
  BOOST_TEST(i.is_integer());
  BOOST_TEST(i.integer() == 9007199254740993);
  BOOST_TEST(!Json::parse("1.0", "t").is_integer());
  BOOST_TEST(!Json::parse("1e3", "t").is_integer());
  BOOST_TEST(Json::parse("-0", "t").is_integer());
  BOOST_TEST(std::isnan(Json::parse("null", "t").number()));  // how NaN is written
}

BOOST_AUTO_TEST_CASE(strings_and_escapes) {
  BOOST_TEST(*Json::parse(R"("a\"b\\c\/d\n\t")", "t").string() == "a\"b\\c/d\n\t");
  BOOST_TEST(*Json::parse(R"("\u00e9\u20ac")", "t").string() == "\xc3\xa9\xe2\x82\xac");
  BOOST_TEST(*Json::parse(R"("\ud83d\ude00")", "t").string() == "\xf0\x9f\x98\x80");  // one emoji, 4 bytes
  std::string text = "line\n\"quoted\" \xc3\xa9 \x01";
  BOOST_TEST(*Json::parse(Json(text).dump(), "t").string() == text);
}

BOOST_AUTO_TEST_CASE(arrays_and_objects) {
  Json j = Json::parse(R"({"a": [1, 2.5, "x", true, null, {"b": []}], "c": {}})", "t");
  BOOST_TEST(j.is_object());
  const auto& a = j.find("a")->items();
  BOOST_TEST(a.size() == 6u);
  BOOST_TEST(a[0].integer() == 1);
  BOOST_TEST(*a[3].boolean());
  BOOST_TEST(a[4].is_null());
  BOOST_TEST(a[5].find("b")->is_array());
  BOOST_TEST(Json::parse(j.dump(), "t").dump() == j.dump());
}

BOOST_AUTO_TEST_CASE(what_is_not_json_is_an_input_error_with_a_position) {
  struct Case {
    std::string text, message;
  };
  const Case cases[] = {
      {"", "column 1: unexpected end"},
      {"{\"a\" 1}", "column 6: expected ':'"},
      {"[1, 2", "expected ']'"},
      {"nan", "unexpected character"},
      {"inf", "unexpected character"},
      {"01", "trailing characters"},
      {"1.", "a digit must follow '.'"},
      {".5", "unexpected character"},
      {"1e", "a digit must follow the exponent"},
      {R"("\x")", "unknown escape \\x"},
      {R"("\uzzzz")", "bad \\u escape"},
      {R"("\u12")", "bad \\u escape"},
      {R"("\ud83d")", "unpaired surrogate"},
      {R"("\ude00")", "unpaired surrogate"},
      {"\"open", "unterminated string"},
      {"{\n  \"a\": 1,\n  \"b\" 2\n}", "line 3, column 7: expected ':'"},
      {std::string(1000000, '['), "nested deeper than 128 levels"},
      {"[1] 2", "trailing characters"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text.substr(0, 40)) {
      loom::testing::expect_error<loom::InputError>([&] { Json::parse(c.text, "f.json"); },
                                                    {"f.json: malformed JSON at ", c.message});
    }
  }
}

// base64 (RFC 4648 section 10 test vectors), round trips of every byte value, and refusals.
BOOST_AUTO_TEST_CASE(base64_matches_the_rfc_vectors_and_refuses_what_is_not_base64) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    BOOST_TEST(loom::base64_encode(plain) == coded);
    BOOST_TEST(loom::base64_decode(coded).value_or("<none>") == plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n) + all.substr(all.size() - n % 5);
    BOOST_TEST(loom::base64_decode(loom::base64_encode(part)).value_or("<none>") == part);
  }
  for (const char* bad : {"Zg=", "Zg===", "Z===", "Zm9v!A==", "Zh==", "Zg==Zg==", "=Zg="})
    BOOST_TEST(!loom::base64_decode(bad).has_value(), bad);
}
