#include "loom/csv.hpp"

#include "loom/errors.hpp"

namespace loom {

CsvOptions csv_options_for(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (ext == ".tsv" || ext == ".tab") return {'\t', false};
  return {',', true};
}

std::vector<CsvRecord> parse_csv(std::string_view text, const CsvOptions& options, const std::string& source,
                                 const std::function<void(std::int64_t, const std::string&)>& bad) {
  std::vector<CsvRecord> records;
  const std::size_t n = text.size();
  std::size_t pos = 0;
  std::int64_t line = 1;
  auto at_line_end = [&](std::size_t p) {
    return p >= n || text[p] == '\n' || (text[p] == '\r' && p + 1 < n && text[p + 1] == '\n') ||
           (text[p] == '\r' && p + 1 == n);
  };
  auto skip_line_end = [&] {
    if (pos < n && text[pos] == '\r') ++pos;
    if (pos < n && text[pos] == '\n') {
      ++pos;
      ++line;
    }
  };
  // Reports a bad record and moves to the start of the next line.
  auto reject = [&](std::int64_t start_line, const std::string& reason) {
    if (!bad) throw InputError(source + ":" + std::to_string(start_line) + ": " + reason);
    bad(start_line, reason);
    while (pos < n && text[pos] != '\n') ++pos;
    skip_line_end();
  };

  while (pos < n) {
    CsvRecord record;
    record.line = line;
    bool ok = true, any_quoted = false;
    for (;;) {
      std::string field;
      if (options.quoting && pos < n && text[pos] == '"') {
        any_quoted = true;
        const std::int64_t quote_line = line;
        ++pos;
        bool closed = false;
        while (pos < n) {
          char c = text[pos];
          if (c == '"') {
            if (pos + 1 < n && text[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            closed = true;
            break;
          }
          if (c == '\r' && pos + 1 < n && text[pos + 1] == '\n') {
            ++pos;
            continue;
          }
          if (c == '\n') ++line;
          field += c;
          ++pos;
        }
        if (!closed) {
          // Nothing after an unterminated quote can be trusted: the rest is this one field.
          if (!bad) throw InputError(source + ":" + std::to_string(quote_line) + ": a quoted field is never closed");
          bad(quote_line, "a quoted field is never closed");
          return records;
        }
        if (!(at_line_end(pos) || text[pos] == options.delimiter)) {
          reject(record.line, "text after the closing quote of field " + std::to_string(record.fields.size() + 1));
          ok = false;
          break;
        }
      } else {
        std::size_t start = pos;
        while (pos < n && text[pos] != options.delimiter && !at_line_end(pos)) {
          if (options.quoting && text[pos] == '"') break;
          ++pos;
        }
        if (options.quoting && pos < n && text[pos] == '"') {
          reject(record.line, "a quote inside unquoted field " + std::to_string(record.fields.size() + 1) +
                                  " (quote the whole field and double the quote)");
          ok = false;
          break;
        }
        field.assign(text.substr(start, pos - start));
      }
      record.fields.push_back(std::move(field));
      if (pos < n && text[pos] == options.delimiter) {
        ++pos;
        continue;
      }
      skip_line_end();
      break;
    }
    if (!ok) continue;
    // A blank line is no record.
    if (record.fields.size() == 1 && record.fields[0].empty() && !any_quoted) continue;
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace loom
