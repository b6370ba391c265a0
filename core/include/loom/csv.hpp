#pragma once
// Delimited text tables: CSV as RFC 4180 has it (fields in double quotes may hold the
// delimiter, doubled quotes and line breaks) and TSV (no quoting: a field is everything
// between tabs). Every record remembers the line it starts on, for messages.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

struct CsvRecord {
  std::vector<std::string> fields;
  std::int64_t line = 0;  // 1-based line where the record starts
};

struct CsvOptions {
  char delimiter = ',';
  bool quoting = true;  // RFC 4180 quotes (CSV); false for TSV
};

// "csv" or "tsv" options from a file name's extension (.tsv and .tab are TSV).
CsvOptions csv_options_for(const std::filesystem::path& path);

// Splits `text` into records. A malformed record (a quote inside an unquoted field, text
// after a closing quote, an unterminated quoted field) is passed to `bad` with the reason,
// and reading continues at the next line; without `bad` it throws InputError naming
// `source`:line. A final line break is optional; \r\n is accepted as \n.
std::vector<CsvRecord> parse_csv(std::string_view text, const CsvOptions& options, const std::string& source,
                                 const std::function<void(std::int64_t line, const std::string& reason)>& bad = {});

}  // namespace loom
