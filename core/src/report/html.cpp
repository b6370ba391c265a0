#include "report/html.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/errors.hpp"
#include "loom/json.hpp"
#include "loom/parameters.hpp"

namespace loom::report {

// ---------------------------------------------------------------------------------------------
// Reading the files of a folder.

// The file's bytes, or nothing when it does not exist.
std::optional<std::string> read_if_present(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  if (fs::is_directory(path, ec))
    throw InputError(path.string() + ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot be read");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The JSON object in `path`, or nothing when the file does not exist.
std::optional<Json> read_object_if_present(const fs::path& path) {
  auto text = read_if_present(path);
  if (!text) return std::nullopt;
  Json v = Json::parse(*text, path.string());
  if (!v.is_object()) throw InputError(path.string() + ": expected a JSON object");
  return v;
}

// The member `key` of an object when it is a number (a null, how a NaN is written, is not).
std::optional<double> number_of(const Json& object, const std::string& key) {
  const Json* v = object.find(key);
  if (v != nullptr && v->is_number()) return v->number();
  return std::nullopt;
}

const std::string* string_of(const Json& object, const std::string& key) {
  const Json* v = object.find(key);
  return v != nullptr ? v->string() : nullptr;
}

// The members of an object; none for any other value.
const Json::Object& members_of(const Json& v) {
  static const Json::Object kNone;
  return v.is_object() ? v.members() : kNone;
}

// Appends `item` unless `list` has it already: columns and series keep their first order.
void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

// ---------------------------------------------------------------------------------------------
// Text and numbers. Numbers go through std::to_chars, which ignores the locale, so the same
// values always print the same way.

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\0':
        out += "\xEF\xBF\xBD";
        break;  // U+FFFD: HTML has no NUL character
      default:
        out += c;
    }
  }
  return out;
}

// What stands for a missing or non-finite value: an em dash.

std::string to_text(double v, std::chars_format format, int precision) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, format, precision);
  return std::string(buf, r.ptr);
}

// "157,614" from 157614.
std::string grouped_integer(double v) {
  std::string digits = to_text(std::fabs(std::round(v)), std::chars_format::fixed, 0);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 && digits != "0" ? "-" : "") + out;
}

// A value for a table or a tooltip: integers whole, large values rounded, others with four
// significant digits.
std::string format_value(double v) {
  if (!std::isfinite(v)) return kDash;
  if ((v == std::round(v) && std::fabs(v) < 1e15) || std::fabs(v) >= 1e4) return grouped_integer(v);
  return to_text(v, std::chars_format::general, 4);
}

std::string format_seconds(double s) {
  if (!std::isfinite(s)) return format_value(s);
  if (s < 60) return to_text(s, std::chars_format::general, 3) + " s";
  auto total = static_cast<std::int64_t>(std::llround(s));
  if (total < 3600) return std::to_string(total / 60) + " min " + std::to_string(total % 60) + " s";
  std::int64_t minutes = (total % 3600) / 60;
  return std::to_string(total / 3600) + " h " + (minutes < 10 ? "0" : "") +
         std::to_string(minutes) + " min";
}

// The shortest text that reads back as exactly `v`.
std::string shortest(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// How compact() prints numbers: rounded for scores, exact for identifiers such as seeds.

// Compact text for any JSON value: scalars as they are, objects as "key value · key value".
std::string compact(const Json& v, Numbers numbers) {
  if (v.is_null()) return kDash;
  if (const bool* b = v.boolean()) return *b ? "true" : "false";
  if (v.is_integer() && numbers == Numbers::kExact) return std::to_string(v.integer());
  if (v.is_number())
    return numbers == Numbers::kExact ? shortest(v.number()) : format_value(v.number());
  if (const std::string* text = v.string()) return *text;
  std::string out;
  if (v.is_array())
    for (const auto& item : v.items()) out += (out.empty() ? "" : ", ") + compact(item, numbers);
  else
    for (const auto& [k, item] : v.members())
      out += (out.empty() ? "" : " \xC2\xB7 ") + k + " " + compact(item, numbers);
  return out;
}

// Lower-case letters, digits and '-' only: for fragment identifiers and class names.
std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      out += c;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out;
}

// A fragment identifier, unique within one report.
std::string unique_id(const std::string& base, std::set<std::string>& used) {
  std::string id = slug(base);
  for (int n = 2; !used.insert(id).second; ++n) id = slug(base) + "-" + std::to_string(n);
  return id;
}

// A relative URL for a path written in sweep.json: everything but unreserved characters and
// '/' percent-encoded (so a ':' can never make it look like a scheme).
std::string relative_url(const std::string& path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '=' || c == ',';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<double> parse_number(const std::string& s) {
  double v = 0.0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::string folder_name(const fs::path& dir) {
  fs::path p = dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..")
    name = fs::absolute(p).lexically_normal().filename().string();
  return name;
}


// ---------------------------------------------------------------------------------------------
// The page around the sections. With report.html#ID in the address bar, only that section
// shows (CSS :target), which gives each chart its own view without any script.

constexpr const char* kStyle = R"css(
:root{--fg:#1d2330;--muted:#5b6475;--line:#dde2ea;--bg:#f4f6f9;--card:#fff;--accent:#2f6fb5;--good:#e2f3df}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:1060px;margin:0 auto;padding:0 20px}
header{padding-top:22px}
h1{font-size:24px;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:17px;margin:0 0 12px}
h2.group{margin:26px 0 10px}
h3{font-size:15px;margin:0 0 6px}
.subtitle{color:var(--muted);margin:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:16px 0;overflow-x:auto}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(460px,100%),1fr));gap:16px}
.charts .card{margin:0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:6px 12px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{color:var(--muted);font-weight:600;border-bottom:2px solid var(--line)}
th.text,td.text{text-align:left}
tr.best-row td{background:#f4fbf3}
td.best{background:var(--good);font-weight:700}
tr.status-failed td,tr.status-pending td{color:var(--muted)}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e8edf4}
.status-done .status{background:#dff0dc;color:#25612a}
.status-failed .status{background:#f8dcd9;color:#a3261b}
.status-pending .status{background:#eceff3;color:var(--muted)}
a{color:var(--accent)}
table+dl.kv{margin-top:16px}
h3.plugins-title{margin-top:16px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0;overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
pre{background:#f7f8fa;border:1px solid var(--line);border-radius:6px;padding:12px;overflow:auto;margin:10px 0 0}
details summary{cursor:pointer;color:var(--accent)}
.flags{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;color:var(--muted)}
.note{color:var(--muted);font-size:12.5px;margin:6px 0 0}
.legend{list-style:none;padding:0;margin:0 0 4px;display:flex;flex-wrap:wrap;gap:2px 16px;font-size:13px}
.swatch{display:inline-block;width:20px;height:0;border-top:3px solid;vertical-align:middle;margin-right:6px}
svg.chart{display:block;width:100%;max-width:640px;height:auto}
svg.heatmap{width:auto;max-width:100%}
svg text{fill:var(--muted);font-size:11.5px}
svg .axis-label{fill:var(--fg);font-size:12.5px}
svg .grid line{stroke:#e9ecf1}
svg .frame line{stroke:#9aa3b2}
svg .marker line{stroke:#8a93a3;stroke-dasharray:4 3}
svg .marker text{font-size:10.5px}
svg .empty{font-size:13px}
svg .cell-value{font-size:13px;font-weight:600}
svg rect.best{stroke:#111;stroke-width:3}
footer{color:var(--muted);font-size:12px;padding-bottom:24px}
body:has(section:target) :is(header,footer,h2.group,section:not(:target)){display:none}
body:has(section:target) .charts{display:block}
)css";

std::string page(const std::string& title, const std::string& subtitle,
                 const std::string& main_html, const std::string& footer) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  s += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  s += "<meta name=\"generator\" content=\"loom report\">\n";
  s +=
      "<title>" + escape_html(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  s += "<header>\n<h1>" + escape_html(title) + "</h1>\n<p class=\"subtitle\">" + subtitle +
       "</p>\n</header>\n";
  s += "<main>\n" + main_html + "</main>\n<footer>\n<p>" + footer +
       "</p>\n</footer>\n</body>\n</html>\n";
  return s;
}

std::string config_section(const fs::path& dir, std::set<std::string>& ids) {
  auto text = read_if_present(dir / "config.yaml");
  if (!text) return "";
  return "<section class=\"card\" id=\"" + unique_id("config", ids) +
         "\">\n<details>\n<summary>config.yaml</summary>\n<pre>" + escape_html(*text) +
         "</pre>\n</details>\n</section>\n";
}


}  // namespace loom::report
