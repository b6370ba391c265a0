// CSV (RFC 4180) and TSV reading: quoted fields with delimiters, doubled quotes and line
// breaks; line numbers for messages; malformed records reported or skipped.
#define BOOST_TEST_MODULE csv
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "loom/csv.hpp"
#include "loom/errors.hpp"
#include "loom/testing/boost_checks.hpp"

namespace {

// Each record as its fields joined by '|', for comparing and printing.
std::vector<std::string> fields_of(const std::vector<loom::CsvRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    std::string joined;
    for (std::size_t i = 0; i < r.fields.size(); ++i) joined += (i ? "|" : "") + r.fields[i];
    out.push_back(joined);
  }
  return out;
}

std::vector<std::int64_t> lines_of(const std::vector<loom::CsvRecord>& records) {
  std::vector<std::int64_t> out;
  for (const auto& r : records) out.push_back(r.line);
  return out;
}

const loom::CsvOptions kCsv{',', true};
const loom::CsvOptions kTsv{'\t', false};

}  // namespace

BOOST_AUTO_TEST_CASE(rfc4180_fields) {
  std::string text =
      "review,sentiment\n"
      "\"Great, really great\",positive\n"
      "\"He said \"\"no\"\".\",negative\n"
      "\"two\nlines\",positive\n"
      "plain text,negative\n"
      ",\n"
      "\"\",\"\"";
  auto records = loom::parse_csv(text, kCsv, "t.csv");
  std::vector<std::string> expected = {"review|sentiment", "Great, really great|positive", "He said \"no\".|negative",
                                       "two\nlines|positive", "plain text|negative", "|", "|"};
  BOOST_TEST(fields_of(records) == expected, boost::test_tools::per_element());
  // The record after a quoted line break starts two lines later.
  BOOST_TEST(lines_of(records) == (std::vector<std::int64_t>{1, 2, 3, 4, 6, 7, 8}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(crlf_blank_lines_and_no_final_newline) {
  auto records = loom::parse_csv("a,b\r\n\r\n\"x\r\ny\",z\r\nlast,row", kCsv, "t.csv");
  std::vector<std::string> expected = {"a|b", "x\ny|z", "last|row"};
  BOOST_TEST(fields_of(records) == expected, boost::test_tools::per_element());
  BOOST_TEST(lines_of(records) == (std::vector<std::int64_t>{1, 3, 5}), boost::test_tools::per_element());
  BOOST_TEST(loom::parse_csv("", kCsv, "t.csv").empty());
  BOOST_TEST(loom::parse_csv("\n\n", kCsv, "t.csv").empty());
}

BOOST_AUTO_TEST_CASE(tsv_has_no_quoting) {
  auto records = loom::parse_csv("1\ta \"quoted\" word , comma\n0\tsecond\n", kTsv, "t.tsv");
  std::vector<std::string> expected = {"1|a \"quoted\" word , comma", "0|second"};
  BOOST_TEST(fields_of(records) == expected, boost::test_tools::per_element());
  BOOST_TEST(loom::csv_options_for("x/train.TSV").delimiter == '\t');
  BOOST_TEST(!loom::csv_options_for("x/train.tsv").quoting);
  BOOST_TEST(loom::csv_options_for("x/train.csv").quoting);
}

BOOST_AUTO_TEST_CASE(malformed_records_name_their_line) {
  loom::testing::expect_error<loom::InputError>([] { loom::parse_csv("a,b\nx\"y,z\n", kCsv, "f.csv"); },
                                                {"f.csv:2: a quote inside unquoted field 1"});
  loom::testing::expect_error<loom::InputError>([] { loom::parse_csv("a,b\n\"x\"y,z\n", kCsv, "f.csv"); },
                                                {"f.csv:2: text after the closing quote of field 1"});
  loom::testing::expect_error<loom::InputError>([] { loom::parse_csv("a,b\nc,\"open\nmore\n", kCsv, "f.csv"); },
                                                {"f.csv:2: a quoted field is never closed"});
}

BOOST_AUTO_TEST_CASE(malformed_records_can_be_skipped) {
  std::vector<std::pair<std::int64_t, std::string>> reported;
  auto records = loom::parse_csv("a,b\nx\"y,z\nc,d\n\"e\"f,g\nh,i\n", kCsv, "f.csv",
                                 [&](std::int64_t line, const std::string& why) { reported.emplace_back(line, why); });
  std::vector<std::string> expected = {"a|b", "c|d", "h|i"};
  BOOST_TEST(fields_of(records) == expected, boost::test_tools::per_element());
  BOOST_TEST(lines_of(records) == (std::vector<std::int64_t>{1, 3, 5}), boost::test_tools::per_element());
  BOOST_REQUIRE(reported.size() == 2u);
  BOOST_TEST(reported[0].first == 2);
  BOOST_TEST(reported[1].first == 4);
}
