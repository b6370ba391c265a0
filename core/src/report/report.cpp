#include "loom/report.hpp"

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

namespace loom {
namespace {

namespace fs = std::filesystem;

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
constexpr const char* kDash = "\xE2\x80\x94";

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
enum class Numbers { kRounded, kExact };

// Compact text for any JSON value: scalars as they are, objects as "key value · key value".
std::string compact(const Json& v, Numbers numbers = Numbers::kRounded) {
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
// Charts: inline SVG drawn in a fixed coordinate system (viewBox) that CSS scales to the page.

constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                    "#b07aa1", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"};
constexpr std::size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

std::string coord(double v) { return to_text(v, std::chars_format::fixed, 1); }

double nice_step(double raw) {
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / magnitude;
  return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * magnitude;
}

// A tick label: thousands as "k", millions as "M"; as many decimals as the step needs.
std::string tick_label(double v, double step, double largest) {
  if (std::fabs(v) < step * 1e-9) return "0";
  std::string suffix;
  double unit = 1.0;
  if (largest >= 1e9)
    unit = 1e9, suffix = "G";
  else if (largest >= 1e6)
    unit = 1e6, suffix = "M";
  else if (largest >= 1e4)
    unit = 1e3, suffix = "k";
  v /= unit;
  step /= unit;
  int decimals =
      step >= 1.0 ? 0 : std::min(9, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return to_text(v, std::chars_format::fixed, decimals) + suffix;
}

std::string log_tick_label(double v) {
  if (v >= 1e4) {
    double unit = v >= 1e9 ? 1e9 : v >= 1e6 ? 1e6 : 1e3;
    return to_text(v / unit, std::chars_format::general, 3) + (unit == 1e9   ? "G"
                                                               : unit == 1e6 ? "M"
                                                                             : "k");
  }
  if (v >= 1) return to_text(v, std::chars_format::fixed, 0);
  return to_text(v, std::chars_format::general, 3);
}

// A value axis: its domain, where ticks go and what they say. A log axis is chosen when every
// value is positive and they span at least a factor of ten (perplexities, learning rates).
struct Axis {
  bool log = false;
  double lo = 0.0;
  double hi = 1.0;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  double fraction(double v) const {
    if (hi <= lo) return 0.5;
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
};

Axis value_axis(const std::vector<double>& values) {
  Axis a;
  if (values.empty()) {
    a.ticks = {0.0, 0.5, 1.0};
    a.labels = {"0", "0.5", "1"};
    return a;
  }
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (lo > 0 && hi / lo >= 10.0) {
    a.log = true;
    // The domain ends on 1-2-5 values around the data. Ticks go at 1, 2 and 5 times powers of
    // ten over up to two decades; beyond that at powers of ten, plus the ends when not crowded.
    constexpr double kSlack = 1e-9;
    double decades = std::log10(hi) - std::log10(lo);
    int k0 = static_cast<int>(std::floor(std::log10(lo))) - 1;
    int k1 = static_cast<int>(std::ceil(std::log10(hi))) + 1;
    std::vector<double> candidates;
    for (int k = k0; k <= k1; ++k)
      for (double m : {1.0, 2.0, 5.0}) candidates.push_back(m * std::pow(10.0, k));
    a.lo = candidates.front();
    for (double c : candidates)
      if (c <= lo * (1 + kSlack)) a.lo = c;
    a.hi = candidates.back();
    for (auto it = candidates.rbegin(); it != candidates.rend(); ++it)
      if (*it >= hi * (1 - kSlack)) a.hi = *it;
    auto inside = [&](double c) { return c >= a.lo * (1 - kSlack) && c <= a.hi * (1 + kSlack); };
    std::vector<double> ticks;
    if (decades <= 2.2) {
      for (double c : candidates)
        if (inside(c)) ticks.push_back(c);
    } else {
      for (int k = k0; k <= k1; ++k)
        if (inside(std::pow(10.0, k))) ticks.push_back(std::pow(10.0, k));
    }
    std::size_t every = ticks.size() > 8 ? (ticks.size() + 7) / 8 : 1;
    std::vector<double> kept;
    for (std::size_t i = 0; i < ticks.size(); i += every) kept.push_back(ticks[i]);
    if (decades > 2.2 && !kept.empty()) {
      if (std::log10(kept.front()) - std::log10(a.lo) >= 0.45) kept.insert(kept.begin(), a.lo);
      if (std::log10(a.hi) - std::log10(kept.back()) >= 0.45) kept.push_back(a.hi);
    }
    for (double t : kept) {
      a.ticks.push_back(t);
      a.labels.push_back(log_tick_label(t));
    }
    return a;
  }
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(hi))) {
    double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double step = nice_step((hi - lo) / 5.0);
  a.lo = std::floor(lo / step + 1e-9) * step;
  a.hi = std::ceil(hi / step - 1e-9) * step;
  double steps = (a.hi - a.lo) / step;
  int n = std::isfinite(steps) ? static_cast<int>(std::clamp(std::round(steps), 0.0, 20.0)) : 0;
  double largest = std::max(std::fabs(a.lo), std::fabs(a.hi));
  for (int i = 0; i <= n; ++i) {
    double t = a.lo + i * step;
    a.ticks.push_back(t);
    a.labels.push_back(tick_label(t, step, largest));
  }
  return a;
}

// Whole-number ticks (epochs) over [lo, hi].
Axis integer_axis(double lo, double hi) {
  Axis a;
  a.lo = lo;
  a.hi = hi;
  double step = hi > lo ? std::max(1.0, nice_step((hi - lo) / 8.0)) : 1.0;
  for (double k = std::ceil(lo / step); k * step <= hi + 1e-9 && a.ticks.size() < 20; ++k) {
    a.ticks.push_back(k * step);
    a.labels.push_back(format_value(k * step));
  }
  if (a.ticks.empty()) {
    a.ticks.push_back(lo);
    a.labels.push_back(format_value(lo));
  }
  return a;
}

struct Series {
  std::string label;
  std::string color;
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (x, y); a NaN y breaks the line
};

// The n-th line of a chart: the palette's colours in turn, dashed on the second round.
Series nth_series(std::size_t n, std::string label, std::vector<std::pair<double, double>> points) {
  return {std::move(label), kPalette[n % kPaletteSize], (n / kPaletteSize) % 2 == 1,
          std::move(points)};
}

struct LineChart {
  std::string
      kind;  // data-chart attribute: loss, metric, lr, grad_norm, tokens_per_s, sweep, curves
  std::string title;  // heading and accessible name
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  std::vector<std::string> categories;  // when not empty, x is an index into these
  std::optional<double> marker_x;       // a dashed vertical line, e.g. the best epoch
  std::string marker_label;
  bool legend = true;
  std::string attributes;  // extra attributes for the <svg> element (already escaped)
};

LineChart make_chart(std::string kind, std::string title, std::string x_label, std::string y_label,
                     std::vector<Series> series) {
  LineChart c;
  c.kind = std::move(kind);
  c.title = std::move(title);
  c.x_label = std::move(x_label);
  c.y_label = std::move(y_label);
  c.series = std::move(series);
  return c;
}

std::string legend_html(const std::vector<Series>& series) {
  std::string s = "<ul class=\"legend\">";
  for (const auto& se : series) {
    s += "<li><span class=\"swatch\" style=\"border-top-color:" + se.color +
         (se.dashed ? ";border-top-style:dashed" : "") + "\"></span>" + escape_html(se.label) +
         "</li>";
  }
  return s + "</ul>\n";
}

std::string render_line_chart(const LineChart& c) {
  constexpr double kWidth = 480, kHeight = 280;
  constexpr double kLeft = 64, kRight = 466, kTop = 14, kBottom = 232, kPad = 12;
  std::vector<double> ys, xs;
  for (const auto& se : c.series)
    for (const auto& [x, y] : se.points)
      if (std::isfinite(y)) {
        ys.push_back(y);
        xs.push_back(x);
      }
  Axis y_axis = value_axis(ys);
  Axis x_axis;
  if (!c.categories.empty()) {
    x_axis.lo = 0;
    x_axis.hi = static_cast<double>(c.categories.size() - 1);
    for (std::size_t i = 0; i < c.categories.size(); ++i) {
      x_axis.ticks.push_back(static_cast<double>(i));
      x_axis.labels.push_back(c.categories[i]);
    }
  } else if (!xs.empty()) {
    x_axis = integer_axis(*std::min_element(xs.begin(), xs.end()),
                          *std::max_element(xs.begin(), xs.end()));
  } else {
    x_axis = integer_axis(1, 1);
  }
  // Categories sit in the middle of equal bands; numbers keep a small margin to the frame.
  auto px = [&](double x) {
    if (!c.categories.empty())
      return kLeft + (x + 0.5) * (kRight - kLeft) / static_cast<double>(c.categories.size());
    return kLeft + kPad + x_axis.fraction(x) * (kRight - kLeft - 2 * kPad);
  };
  auto py = [&](double y) { return kBottom - y_axis.fraction(y) * (kBottom - kTop); };

  std::string s = "<svg class=\"chart line-chart\" data-chart=\"" + escape_html(c.kind) + "\"" +
                  c.attributes + " viewBox=\"0 0 " + coord(kWidth) + " " + coord(kHeight) +
                  "\" role=\"img\" aria-label=\"" + escape_html(c.title) + "\">\n";
  s += "<g class=\"grid\">";
  for (double t : y_axis.ticks)
    s += "<line x1=\"" + coord(kLeft) + "\" x2=\"" + coord(kRight) + "\" y1=\"" + coord(py(t)) +
         "\" y2=\"" + coord(py(t)) + "\"/>";
  for (double t : x_axis.ticks)
    s += "<line x1=\"" + coord(px(t)) + "\" x2=\"" + coord(px(t)) + "\" y1=\"" + coord(kTop) +
         "\" y2=\"" + coord(kBottom) + "\"/>";
  s += "</g>\n<g class=\"frame\"><line x1=\"" + coord(kLeft) + "\" x2=\"" + coord(kLeft) +
       "\" y1=\"" + coord(kTop) + "\" y2=\"" + coord(kBottom) + "\"/><line x1=\"" + coord(kLeft) +
       "\" x2=\"" + coord(kRight) + "\" y1=\"" + coord(kBottom) + "\" y2=\"" + coord(kBottom) +
       "\"/></g>\n";
  s += "<g class=\"ticks y-ticks\" text-anchor=\"end\">";
  for (std::size_t i = 0; i < y_axis.ticks.size(); ++i)
    s += "<text x=\"" + coord(kLeft - 6) + "\" y=\"" + coord(py(y_axis.ticks[i]) + 4) + "\">" +
         escape_html(y_axis.labels[i]) + "</text>";
  s += "</g>\n<g class=\"ticks x-ticks\" text-anchor=\"middle\">";
  for (std::size_t i = 0; i < x_axis.ticks.size(); ++i)
    s += "<text x=\"" + coord(px(x_axis.ticks[i])) + "\" y=\"" + coord(kBottom + 17) + "\">" +
         escape_html(x_axis.labels[i]) + "</text>";
  s += "</g>\n";
  s += "<text class=\"axis-label\" x=\"" + coord((kLeft + kRight) / 2) + "\" y=\"" +
       coord(kHeight - 12) + "\" text-anchor=\"middle\">" + escape_html(c.x_label) + "</text>\n";
  std::string y_label = c.y_label + (y_axis.log ? " (log scale)" : "");
  double y_mid = (kTop + kBottom) / 2;
  s += "<text class=\"axis-label\" x=\"16\" y=\"" + coord(y_mid) +
       "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " + coord(y_mid) + ")\">" +
       escape_html(y_label) + "</text>\n";
  if (ys.empty())
    s += "<text class=\"empty\" x=\"" + coord((kLeft + kRight) / 2) + "\" y=\"" + coord(y_mid) +
         "\" text-anchor=\"middle\">no values recorded</text>\n";
  if (c.marker_x && !ys.empty()) {
    double x = px(*c.marker_x);
    bool right_half = x > (kLeft + kRight) / 2;  // the label goes on the side with room
    s += "<g class=\"marker\"><line x1=\"" + coord(x) + "\" x2=\"" + coord(x) + "\" y1=\"" +
         coord(kTop) + "\" y2=\"" + coord(kBottom) + "\"/><text x=\"" +
         coord(right_half ? x - 4 : x + 4) + "\" y=\"" + coord(kTop + 11) + "\" text-anchor=\"" +
         (right_half ? "end" : "start") + "\">" + escape_html(c.marker_label) + "</text></g>\n";
  }
  for (const auto& se : c.series) {
    s += "<g class=\"series\" data-series=\"" + escape_html(se.label) + "\">";
    std::string run;
    std::size_t run_points = 0;
    auto flush = [&] {
      if (run_points > 1)
        s += "<polyline fill=\"none\" stroke=\"" + se.color + "\" stroke-width=\"2\"" +
             (se.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + run + "\"/>";
      run.clear();
      run_points = 0;
    };
    for (const auto& [x, y] : se.points) {
      if (!std::isfinite(y)) {
        flush();
        continue;
      }
      run += (run.empty() ? "" : " ") + coord(px(x)) + "," + coord(py(y));
      ++run_points;
    }
    flush();
    std::string radius = se.points.size() > 25 ? "2" : "3";  // many dots would hide the line
    for (const auto& [x, y] : se.points) {
      if (!std::isfinite(y)) continue;
      std::string at = c.categories.empty()
                           ? c.x_label + " " + format_value(x)
                           : c.x_label + " " + c.categories[static_cast<std::size_t>(x)];
      s += "<circle cx=\"" + coord(px(x)) + "\" cy=\"" + coord(py(y)) + "\" r=\"" + radius +
           "\" fill=\"" + se.color + "\"><title>" +
           escape_html(se.label + " \xC2\xB7 " + at + ": " + format_value(y)) + "</title></circle>";
    }
    s += "</g>\n";
  }
  return s + "</svg>\n";
}

std::string chart_section(const std::string& id, const LineChart& c) {
  std::string s =
      "<section class=\"card chart\" id=\"" + id + "\">\n<h3>" + escape_html(c.title) + "</h3>\n";
  if (c.legend) s += legend_html(c.series);
  s += render_line_chart(c);
  return s + "</section>\n";
}

// Viridis, sampled at nine points: dark violet for the lowest value, yellow for the highest.
std::string viridis(double t) {
  static const int kStops[9][3] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
                                   {44, 114, 142}, {33, 145, 140}, {40, 174, 128},
                                   {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 8.0;
  int i = std::min(7, static_cast<int>(t));
  double f = t - i;
  static const char* kHex = "0123456789abcdef";
  std::string out = "#";
  for (int ch = 0; ch < 3; ++ch) {
    int v = static_cast<int>(std::lround(kStops[i][ch] + f * (kStops[i + 1][ch] - kStops[i][ch])));
    out += kHex[v >> 4];
    out += kHex[v & 15];
  }
  return out;
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

// ---------------------------------------------------------------------------------------------
// Run folders.

// The fields of a metrics line that are not metric ids.
bool is_bookkeeping(const std::string& key) {
  static const std::set<std::string> kKeys = {"epoch",     "split",  "loss",         "lr",
                                              "grad_norm", "tokens", "tokens_per_s", "seconds"};
  return kKeys.count(key) > 0;
}

// metrics.jsonl, the last line of each epoch and split (a resumed run repeats lines).
struct EpochMetrics {
  std::vector<std::string> splits;                      // in order of first appearance
  std::vector<std::string> metric_ids;                  // in order of first appearance
  std::map<std::string, std::map<double, Json>> lines;  // split -> epoch -> line

  // (epoch, value) for every epoch of `split` whose `key` is a finite number.
  std::vector<std::pair<double, double>> series(const std::string& split,
                                                const std::string& key) const {
    std::vector<std::pair<double, double>> out;
    auto it = lines.find(split);
    if (it == lines.end()) return out;
    for (const auto& [epoch, line] : it->second) {
      auto v = number_of(line, key);
      if (v && std::isfinite(*v)) out.emplace_back(epoch, *v);
    }
    return out;
  }
  bool has(const std::string& key) const {
    for (const auto& split : splits)
      if (!series(split, key).empty()) return true;
    return false;
  }
  std::size_t epochs() const {
    std::set<double> all;
    for (const auto& [split, by_epoch] : lines)
      for (const auto& [epoch, line] : by_epoch) all.insert(epoch);
    return all.size();
  }
};

EpochMetrics read_metrics(const fs::path& file) {
  auto text = read_if_present(file);
  if (!text)
    throw InputError(file.string() +
                     ": no such file (a run folder has metrics.jsonl, a sweep folder sweep.json)");
  EpochMetrics m;
  std::string_view rest(*text);
  for (int line_no = 1; !rest.empty(); ++line_no) {
    std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string where = file.string() + ":" + std::to_string(line_no);
    Json v = Json::parse(std::string(line), where);
    if (!v.is_object()) throw InputError(where + ": expected a JSON object per line");
    auto epoch = number_of(v, "epoch");
    if (!epoch) throw InputError(where + ": the line has no numeric 'epoch'");
    const std::string* split = string_of(v, "split");
    if (split == nullptr) throw InputError(where + ": the line has no 'split' string");
    add_unique(m.splits, *split);
    for (const auto& [key, value] : v.members()) {
      bool numeric = value.is_number() || value.is_null();  // null: a NaN was written
      if (numeric && !is_bookkeeping(key)) add_unique(m.metric_ids, key);
    }
    m.lines[*split][*epoch] = std::move(v);
  }
  return m;
}

std::string metric_title(const std::string& id) {
  static const std::map<std::string, std::string> kNames = {
      {"ppl", "Perplexity"}, {"accuracy", "Accuracy"},
      {"acc", "Accuracy"},   {"f1", "F1"},
      {"bleu", "BLEU"},      {"precision", "Precision"},
      {"recall", "Recall"},  {"bpc", "Bits per character"}};
  auto it = kNames.find(id);
  return it == kNames.end() ? id : it->second + " (" + id + ")";
}

// One series per split, coloured by the split's position.
std::vector<Series> per_split(const EpochMetrics& m, const std::string& key) {
  std::vector<Series> out;
  for (std::size_t i = 0; i < m.splits.size(); ++i) {
    auto points = m.series(m.splits[i], key);
    if (points.empty()) continue;
    out.push_back(nth_series(i, m.splits[i], std::move(points)));
  }
  return out;
}

// A <dl class="kv"> list of keys and values, built row by row.
struct KeyValues {
  std::string rows;

  void add(const std::string& key, const std::string& value_html) {
    rows += "<dt>" + escape_html(key) + "</dt><dd>" + value_html + "</dd>";
  }
  std::string html() const { return rows.empty() ? "" : "<dl class=\"kv\">" + rows + "</dl>\n"; }
};

std::string scores_html(const Json& summary) {
  const Json* evaluate = summary.find("evaluate");
  std::string s;
  std::set<std::string> shown;
  if (evaluate != nullptr && !members_of(*evaluate).empty()) {
    std::vector<std::string> columns;
    for (const auto& [split, scores] : evaluate->members())
      for (const auto& [id, v] : members_of(scores)) add_unique(columns, id);
    s += "<table class=\"scores\">\n<tr><th class=\"text\">split</th>";
    for (const auto& id : columns) s += "<th>" + escape_html(id) + "</th>";
    s += "</tr>\n";
    for (const auto& [split, scores] : evaluate->members()) {
      s += "<tr><td class=\"text\">" + escape_html(split) + "</td>";
      for (const auto& id : columns) {
        const Json* v = scores.find(id);
        s += "<td>" + (v != nullptr ? escape_html(compact(*v)) : kDash) + "</td>";
      }
      s += "</tr>\n";
    }
    // "optimum_ppl" beside the metric "ppl": the best possible score the data generator knows.
    bool any_optimum = false;
    std::string optimum_row = "<tr class=\"optimum\"><td class=\"text\">optimum</td>";
    for (const auto& id : columns) {
      auto v = number_of(summary, "optimum_" + id);
      optimum_row += "<td>" + (v ? format_value(*v) : std::string()) + "</td>";
      if (v) {
        any_optimum = true;
        shown.insert("optimum_" + id);
      }
    }
    if (any_optimum) s += optimum_row + "</tr>\n";
    s += "</table>\n";
  }
  KeyValues kv;
  if (const Json* train = summary.find("train"); train != nullptr && train->is_object()) {
    std::set<std::string> known = {"best_epoch", "select", "seconds", "parameters"};
    if (auto best = number_of(*train, "best_epoch"))
      kv.add("best epoch", escape_html(format_value(*best)));
    if (const std::string* select = string_of(*train, "select")) {
      known.insert("best_" + *select);
      std::string text = *select;
      if (auto best = number_of(*train, "best_" + *select)) text += " " + format_value(*best);
      kv.add("selected by", escape_html(text));
    }
    if (auto seconds = number_of(*train, "seconds"))
      kv.add("training time", escape_html(format_seconds(*seconds)));
    if (auto parameters = number_of(*train, "parameters"))
      kv.add("parameters", escape_html(format_value(*parameters)));
    for (const auto& [key, v] : train->members())
      if (known.count(key) == 0) kv.add(key, escape_html(compact(v)));
  }
  for (const auto& [key, v] : summary.members())
    if (key != "name" && key != "train" && key != "evaluate" && shown.count(key) == 0)
      kv.add(key, escape_html(compact(v)));
  return s + kv.html();
}

std::string manifest_html(const Json& manifest) {
  KeyValues kv;
  std::string plugins;
  for (const auto& [key, v] : manifest.members()) {
    if (key == "loom" && v.is_object()) {
      std::string text;
      if (const std::string* version = string_of(v, "version")) text = *version;
      if (const std::string* commit = string_of(v, "commit"))
        text += (text.empty() ? "commit " : " \xC2\xB7 commit ") + *commit;
      for (const auto& [k, item] : v.members())
        if (k != "version" && k != "commit")
          text += (text.empty() ? "" : " \xC2\xB7 ") + k + " " + compact(item, Numbers::kExact);
      kv.add("loom", escape_html(text));
    } else if (key == "command" && v.string() != nullptr) {
      kv.add("command", "<code>" + escape_html(*v.string()) + "</code>");
    } else if (key == "cpu" && v.is_object()) {
      for (const auto& [k, item] : v.members()) {
        if (const std::string* flags = item.string(); k == "flags" && flags != nullptr) {
          std::size_t count = 0;
          std::istringstream words(*flags);
          for (std::string w; words >> w;) ++count;
          kv.add("cpu flags", "<details><summary>" + std::to_string(count) +
                                  " flags</summary><div class=\"flags\">" + escape_html(*flags) +
                                  "</div></details>");
        } else {
          kv.add(k == "model" ? "cpu" : "cpu " + k, escape_html(compact(item, Numbers::kExact)));
        }
      }
    } else if (key == "plugins" && v.is_array()) {
      std::vector<std::string> columns;
      for (const auto& p : v.items())
        for (const auto& [k, item] : members_of(p)) add_unique(columns, k);
      plugins = "<table class=\"plugins\">\n<tr>";
      for (const auto& col : columns) plugins += "<th class=\"text\">" + escape_html(col) + "</th>";
      plugins += "</tr>\n";
      for (const auto& p : v.items()) {
        plugins += "<tr>";
        for (const auto& col : columns) {
          const Json* item = p.find(col);
          std::string text = item != nullptr ? compact(*item, Numbers::kExact) : "";
          if (col == "sha256" && text.size() > 12)  // the full digest stays in the tooltip
            plugins += "<td class=\"text\"><code title=\"" + escape_html(text) + "\">" +
                       escape_html(text.substr(0, 12)) + "\xE2\x80\xA6</code></td>";
          else
            plugins += "<td class=\"text\">" + escape_html(text) + "</td>";
        }
        plugins += "</tr>\n";
      }
      plugins += "</table>\n";
    } else {
      kv.add(key, escape_html(compact(v, Numbers::kExact)));
    }
  }
  std::string s = kv.html();
  if (!plugins.empty()) s += "<h3 class=\"plugins-title\">plugins</h3>\n" + plugins;
  return s;
}

std::string run_report(const fs::path& dir) {
  EpochMetrics m = read_metrics(dir / "metrics.jsonl");
  auto summary = read_object_if_present(dir / "summary.json");
  auto manifest = read_object_if_present(dir / "manifest.json");
  std::string name = folder_name(dir);
  if (const std::string* given = summary ? string_of(*summary, "name") : nullptr) name = *given;

  std::optional<double> best_epoch;
  if (summary)
    if (const Json* train = summary->find("train"))
      if (auto b = number_of(*train, "best_epoch"); b && *b > 0) best_epoch = b;

  std::set<std::string> ids;
  std::string main_html;
  if (summary) {
    std::string scores = scores_html(*summary);
    if (!scores.empty())
      main_html += "<section class=\"card\" id=\"" + unique_id("results", ids) +
                   "\">\n<h2>Results</h2>\n" + scores + "</section>\n";
  }
  if (manifest && !manifest->members().empty())
    main_html += "<section class=\"card\" id=\"" + unique_id("run", ids) + "\">\n<h2>Run</h2>\n" +
                 manifest_html(*manifest) + "</section>\n";

  main_html += "<h2 class=\"group\">Curves per epoch</h2>\n";
  if (m.lines.empty()) {
    main_html += "<section class=\"card\" id=\"" + unique_id("no-epochs", ids) +
                 "\">\n<p>No epoch has been recorded in metrics.jsonl yet.</p>\n</section>\n";
  } else {
    std::string charts;
    auto add = [&](const std::string& id, LineChart c) {
      charts += chart_section(unique_id(id, ids), c);
    };
    auto curve = [&](const std::string& kind, const std::string& title, const std::string& key,
                     const std::string& y_label) {
      LineChart c = make_chart(kind, title, "epoch", y_label, per_split(m, key));
      if (best_epoch) {
        c.marker_x = best_epoch;
        c.marker_label = "best epoch";
      }
      return c;
    };
    add("chart-loss", curve("loss", "Loss", "loss", "loss"));
    for (const auto& id : m.metric_ids) {
      LineChart c = curve("metric", metric_title(id), id, id);
      c.attributes = " data-metric=\"" + escape_html(id) + "\"";
      add("chart-metric-" + id, std::move(c));
    }
    // The learning rate and gradient norm belong to training: one line, from the first split
    // that records them.
    for (const auto& [key, title] :
         {std::pair<std::string, std::string>{"lr", "Learning rate"},
          std::pair<std::string, std::string>{"grad_norm", "Gradient norm"}}) {
      for (const auto& split : m.splits) {
        auto points = m.series(split, key);
        if (points.empty()) continue;
        LineChart c =
            make_chart(key, title, "epoch", key, {{split, kPalette[0], false, std::move(points)}});
        c.legend = false;
        add("chart-" + key, std::move(c));
        break;
      }
    }
    if (m.has("tokens_per_s"))
      add("chart-tokens-per-s", make_chart("tokens_per_s", "Throughput", "epoch", "tokens/s",
                                           per_split(m, "tokens_per_s")));
    main_html += "<div class=\"charts\">\n" + charts + "</div>\n";
  }
  main_html += config_section(dir, ids);

  std::string subtitle = "run report \xC2\xB7 folder " + escape_html(folder_name(dir)) +
                         " \xC2\xB7 " + std::to_string(m.epochs()) +
                         (m.epochs() == 1 ? " epoch" : " epochs");
  if (best_epoch) subtitle += " \xC2\xB7 best epoch " + format_value(*best_epoch);
  return page(name, subtitle, main_html,
              "Written by <code>loom report</code> from the files of the run folder.");
}

// ---------------------------------------------------------------------------------------------
// Sweep folders.

struct SweepPoint {
  std::string id;
  std::string dir;
  std::string status;
  std::map<std::string, std::string> values;  // swept key -> value
  std::map<std::string, double> results;      // column -> finite number
};

struct Sweep {
  std::string name;
  std::vector<std::string> keys;
  std::string primary;
  bool higher_is_better = false;
  std::vector<std::string> columns;
  std::vector<SweepPoint> points;
};

// A swept value as text: scalars exactly as written, nothing for null, arrays and objects.
std::string scalar_text(const Json& v) {
  bool scalar = v.string() != nullptr || v.is_number() || v.boolean() != nullptr;
  return scalar ? compact(v, Numbers::kExact) : "";
}

Sweep read_sweep(const fs::path& file) {
  auto doc = read_object_if_present(file);
  if (!doc) throw InputError(file.string() + ": no such file");
  const std::string where = file.string();
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    const Json* v = doc->find(key);
    if (v == nullptr) return out;
    if (!v->is_array()) throw InputError(where + ": '" + key + "' must be an array of strings");
    for (const auto& item : v->items()) {
      if (item.string() == nullptr)
        throw InputError(where + ": '" + key + "' must be an array of strings");
      out.push_back(*item.string());
    }
    return out;
  };
  Sweep s;
  if (const std::string* name = string_of(*doc, "name")) s.name = *name;
  s.keys = strings("keys");
  s.columns = strings("columns");
  if (const std::string* primary = string_of(*doc, "primary")) s.primary = *primary;
  if (const Json* h = doc->find("higher_is_better")) {
    if (h->boolean() == nullptr)
      throw InputError(where + ": 'higher_is_better' must be true or false");
    s.higher_is_better = *h->boolean();
  }
  const Json* points = doc->find("points");
  if (points == nullptr || !points->is_array())
    throw InputError(where + ": 'points' must be an array");
  for (std::size_t i = 0; i < points->items().size(); ++i) {
    const Json& p = points->items()[i];
    std::string at = where + ": point " + std::to_string(i + 1);
    if (!p.is_object()) throw InputError(at + " is not an object");
    SweepPoint point;
    if (const std::string* id = string_of(p, "id"))
      point.id = *id;
    else
      throw InputError(at + " has no 'id' string");
    if (const std::string* dir = string_of(p, "dir")) point.dir = *dir;
    const std::string* status = string_of(p, "status");
    point.status = status != nullptr ? *status : "pending";
    if (const Json* values = p.find("values")) {
      if (!values->is_object())
        throw InputError(at + " ('" + point.id + "'): 'values' must be an object");
      for (const auto& [k, v] : values->members()) point.values[k] = scalar_text(v);
    }
    if (const Json* results = p.find("results")) {
      if (!results->is_object())
        throw InputError(at + " ('" + point.id + "'): 'results' must be an object");
      for (const auto& [k, v] : results->members()) {
        if (v.is_number() && std::isfinite(v.number())) point.results[k] = v.number();
        if (doc->find("columns") == nullptr) add_unique(s.columns, k);
      }
    }
    s.points.push_back(std::move(point));
  }
  if (s.primary.empty() && !s.columns.empty()) s.primary = s.columns.front();
  return s;
}

// The distinct values of a swept key: numerically sorted when all are numbers, otherwise in
// the order the points give them.
std::vector<std::string> key_values(const Sweep& s, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& p : s.points) {
    auto it = p.values.find(key);
    if (it != p.values.end()) add_unique(out, it->second);
  }
  bool numeric = std::all_of(out.begin(), out.end(),
                             [](const std::string& v) { return parse_number(v).has_value(); });
  if (numeric)
    std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
      return *parse_number(a) < *parse_number(b);
    });
  return out;
}

std::string value_of(const SweepPoint& p, const std::string& key) {
  auto it = p.values.find(key);
  return it == p.values.end() ? std::string() : it->second;
}

std::optional<double> primary_of(const Sweep& s, const SweepPoint& p) {
  if (p.status != "done") return std::nullopt;
  auto it = p.results.find(s.primary);
  if (it == p.results.end()) return std::nullopt;
  return it->second;
}

// Index of the point with the best primary value among finished points, or -1.
int best_point(const Sweep& s) {
  int best = -1;
  for (std::size_t i = 0; i < s.points.size(); ++i) {
    auto v = primary_of(s, s.points[i]);
    if (!v) continue;
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    double b = *primary_of(s, s.points[static_cast<std::size_t>(best)]);
    if (s.higher_is_better ? *v > b : *v < b) best = static_cast<int>(i);
  }
  return best;
}

// "nhid" from "components.model.nhid".
std::string last_part(const std::string& dotted) {
  return dotted.substr(dotted.rfind('.') == std::string::npos ? 0 : dotted.rfind('.') + 1);
}

// Display names for swept keys: the last part of the dotted key, unless two would clash.
std::map<std::string, std::string> short_names(const std::vector<std::string>& keys) {
  std::map<std::string, std::string> out;
  std::set<std::string> seen;
  bool clash = false;
  for (const auto& k : keys) {
    std::string last = last_part(k);
    clash = clash || !seen.insert(last).second;
    out[k] = last;
  }
  if (clash)
    for (const auto& k : keys) out[k] = k;
  return out;
}

std::string format_column(const std::string& column, double v) {
  bool seconds = column.size() >= 7 && column.compare(column.size() - 7, 7, "seconds") == 0;
  return seconds ? format_seconds(v) : format_value(v);
}

std::string results_table(const Sweep& s, const fs::path& dir,
                          const std::map<std::string, std::string>& names, int best) {
  std::string t = "<table class=\"results\">\n<tr><th class=\"text\">point</th>";
  for (const auto& k : s.keys)
    t += "<th title=\"" + escape_html(k) + "\">" + escape_html(names.at(k)) + "</th>";
  t += "<th class=\"text\">status</th>";
  for (const auto& col : s.columns) {
    std::string arrow;
    if (col == s.primary) arrow = s.higher_is_better ? " \xE2\x86\x91" : " \xE2\x86\x93";
    t += "<th>" + escape_html(col) + arrow + "</th>";
  }
  t += "</tr>\n";
  for (std::size_t i = 0; i < s.points.size(); ++i) {
    const SweepPoint& p = s.points[i];
    bool is_best = static_cast<int>(i) == best;
    std::string status_class = "status-" + slug(p.status);
    t += "<tr class=\"point " + status_class + (is_best ? " best-row" : "") + "\">";
    std::error_code ec;
    if (!p.dir.empty() && fs::is_regular_file(dir / p.dir / "report.html", ec))
      t += "<td class=\"text\"><a class=\"point-report\" href=\"" +
           escape_html(relative_url(p.dir + "/report.html")) + "\">" + escape_html(p.id) +
           "</a></td>";
    else
      t += "<td class=\"text\">" + escape_html(p.id) + "</td>";
    for (const auto& k : s.keys) t += "<td>" + escape_html(value_of(p, k)) + "</td>";
    t += "<td class=\"text\"><span class=\"status\">" + escape_html(p.status) + "</span></td>";
    for (const auto& col : s.columns) {
      auto it = p.results.find(col);
      std::string text =
          it == p.results.end() ? kDash : escape_html(format_column(col, it->second));
      bool mark = is_best && col == s.primary;
      t += (mark ? "<td class=\"best\">" : "<td>") + text + "</td>";
    }
    t += "</tr>\n";
  }
  return t + "</table>\n";
}

std::string heatmap(const Sweep& s, const std::map<std::string, std::string>& names, int best) {
  const std::string& row_key = s.keys[0];
  const std::string& col_key = s.keys[1];
  std::vector<std::string> rows = key_values(s, row_key);
  std::vector<std::string> cols = key_values(s, col_key);
  std::vector<double> finite;
  for (const auto& p : s.points)
    if (auto v = primary_of(s, p)) finite.push_back(*v);
  double lo = finite.empty() ? 0 : *std::min_element(finite.begin(), finite.end());
  double hi = finite.empty() ? 1 : *std::max_element(finite.begin(), finite.end());
  // Colours span the values themselves, on the scale (log or linear) a chart of them would use.
  Axis range;
  range.log = value_axis(finite).log;
  range.lo = lo;
  range.hi = hi;
  // Colour follows quality, not magnitude: the better end of the range is the bright one.
  auto shade = [&](double fraction) {
    return viridis(s.higher_is_better ? fraction : 1.0 - fraction);
  };

  std::size_t longest = 1;
  for (const auto& r : rows) longest = std::max(longest, r.size());
  constexpr double kCellW = 104, kCellH = 50, kTop = 10;
  double left = 34 + std::clamp(static_cast<double>(longest) * 7.0 + 10, 30.0, 160.0);
  double grid_w = kCellW * static_cast<double>(cols.size());
  double grid_h = kCellH * static_cast<double>(rows.size());
  double legend_x = left + grid_w + 28;
  double legend_h = std::max(grid_h, 90.0);
  double width = legend_x + 16 + 64;
  double height = kTop + std::max(grid_h, legend_h) + 50;

  std::string out =
      "<svg class=\"chart heatmap\" data-chart=\"heatmap\" data-rows=\"" +
      std::to_string(rows.size()) + "\" data-columns=\"" + std::to_string(cols.size()) +
      "\" width=\"" + coord(width) + "\" height=\"" + coord(height) + "\" viewBox=\"0 0 " +
      coord(width) + " " + coord(height) + "\" role=\"img\" aria-label=\"" +
      escape_html(s.primary + " by " + names.at(row_key) + " and " + names.at(col_key)) + "\">\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < cols.size(); ++c) {
      int index = -1;
      for (std::size_t i = 0; i < s.points.size() && index < 0; ++i)
        if (value_of(s.points[i], row_key) == rows[r] && value_of(s.points[i], col_key) == cols[c])
          index = static_cast<int>(i);
      double x = left + kCellW * static_cast<double>(c);
      double y = kTop + kCellH * static_cast<double>(r);
      std::string status = "missing", fill = "#f7f8fa", label = kDash, text_fill = "#5b6475";
      std::string title =
          names.at(row_key) + "=" + rows[r] + ", " + names.at(col_key) + "=" + cols[c] + ": ";
      if (index >= 0) {
        const SweepPoint& p = s.points[static_cast<std::size_t>(index)];
        status = p.status;
        if (auto v = primary_of(s, p)) {
          double quality = s.higher_is_better ? range.fraction(*v) : 1.0 - range.fraction(*v);
          fill = shade(range.fraction(*v));
          text_fill = quality < 0.6 ? "#ffffff" : "#1d2330";
          label = format_value(*v);
          status = "done";
        } else if (p.status == "failed") {
          fill = "#f8dcd9";
          text_fill = "#a3261b";
          label = "failed";
        } else if (p.status == "done") {
          label = "no " + s.primary;
        } else {
          fill = "#eceff3";
          label = p.status;
        }
      }
      title += index >= 0 && label != "failed" && status == "done" ? label : status;
      bool is_best = index >= 0 && index == best;
      out += "<g><rect class=\"cell" + std::string(is_best ? " best" : "") + "\" data-status=\"" +
             escape_html(status) + "\" x=\"" + coord(x + 1) + "\" y=\"" + coord(y + 1) +
             "\" width=\"" + coord(kCellW - 2) + "\" height=\"" + coord(kCellH - 2) +
             "\" rx=\"3\" fill=\"" + fill + "\"><title>" + escape_html(title) +
             "</title></rect><text class=\"cell-value\" x=\"" + coord(x + kCellW / 2) + "\" y=\"" +
             coord(y + kCellH / 2 + 4) + "\" text-anchor=\"middle\" style=\"fill:" + text_fill +
             "\">" + escape_html(label) + "</text></g>\n";
    }
  }
  out += "<g class=\"ticks\" text-anchor=\"end\">";
  for (std::size_t r = 0; r < rows.size(); ++r)
    out += "<text x=\"" + coord(left - 8) + "\" y=\"" +
           coord(kTop + kCellH * (static_cast<double>(r) + 0.5) + 4) + "\">" +
           escape_html(rows[r]) + "</text>";
  out += "</g>\n<g class=\"ticks\" text-anchor=\"middle\">";
  for (std::size_t c = 0; c < cols.size(); ++c)
    out += "<text x=\"" + coord(left + kCellW * (static_cast<double>(c) + 0.5)) + "\" y=\"" +
           coord(kTop + grid_h + 17) + "\">" + escape_html(cols[c]) + "</text>";
  out += "</g>\n";
  out += "<text class=\"axis-label\" x=\"" + coord(left + grid_w / 2) + "\" y=\"" +
         coord(kTop + grid_h + 38) + "\" text-anchor=\"middle\">" + escape_html(names.at(col_key)) +
         "</text>\n";
  double y_mid = kTop + grid_h / 2;
  out += "<text class=\"axis-label\" x=\"16\" y=\"" + coord(y_mid) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " + coord(y_mid) + ")\">" +
         escape_html(names.at(row_key)) + "</text>\n";
  // The colour legend: a bar from the highest value (top) to the lowest (bottom).
  if (!finite.empty()) {
    out += "<g class=\"color-legend\">";
    constexpr int kSlices = 40;
    double slice = legend_h / kSlices;
    for (int i = 0; i < kSlices; ++i) {
      out += "<rect x=\"" + coord(legend_x) + "\" y=\"" + coord(kTop + i * slice) +
             "\" width=\"16\" height=\"" + coord(slice + 0.6) + "\" fill=\"" +
             shade(1.0 - (i + 0.5) / kSlices) + "\"/>";
    }
    auto legend_label = [&](double v, double t) {
      out += "<text x=\"" + coord(legend_x + 22) + "\" y=\"" +
             coord(kTop + (1.0 - t) * legend_h + 4) + "\">" + escape_html(format_value(v)) +
             "</text>";
    };
    legend_label(hi, 1.0);
    if (hi > lo) {
      legend_label(lo, 0.0);
      double mid = range.log ? std::sqrt(lo * hi) : (lo + hi) / 2;
      legend_label(mid, 0.5);
    }
    out += "</g>\n";
  }
  return out + "</svg>\n";
}

// The validation curves of the finished points, one line per point, in one chart.
std::optional<LineChart> curves_chart(const Sweep& s, const fs::path& dir) {
  std::string id = last_part(s.primary);
  if (id.rfind("best_", 0) == 0) id = id.substr(5);
  LineChart c;
  c.kind = "curves";
  c.x_label = "epoch";
  std::string split_used, key_used;
  std::size_t n = 0;
  for (const auto& p : s.points) {
    if (p.status != "done" || p.dir.empty()) continue;
    fs::path file = dir / p.dir / "metrics.jsonl";
    std::error_code ec;
    if (!fs::exists(file, ec)) continue;
    EpochMetrics m = read_metrics(file);
    if (m.splits.empty()) continue;
    std::string split = m.splits.front();
    for (const auto& sp : m.splits)
      if (sp != "train") {
        split = sp;
        break;
      }
    std::string key = m.has(id) ? id : "loss";
    if (key_used.empty()) {
      key_used = key;
      split_used = split;
    }
    c.series.push_back(nth_series(n, p.id, m.series(split, key)));
    ++n;
  }
  if (c.series.empty()) return std::nullopt;
  c.title = "Validation curves (" + split_used + " " + key_used + ")";
  c.y_label = split_used + " " + key_used;
  return c;
}

std::string sweep_report(const fs::path& dir) {
  Sweep s = read_sweep(dir / "sweep.json");
  std::string name = s.name.empty() ? folder_name(dir) : s.name;
  auto names = short_names(s.keys);
  int best = best_point(s);
  std::map<std::string, int> counts;
  for (const auto& p : s.points) ++counts[p.status];

  std::set<std::string> ids;
  std::string primary =
      escape_html(s.primary) + (s.higher_is_better ? " (higher is better)" : " (lower is better)");
  std::string main_html =
      "<section class=\"card\" id=\"" + unique_id("results", ids) + "\">\n<h2>Results</h2>\n";
  main_html += results_table(s, dir, names, best);
  if (!s.primary.empty())
    main_html += "<p class=\"note\">Primary metric " + primary +
                 "; the best finished point is marked.</p>\n";
  main_html += "</section>\n";

  std::string charts;
  if (!s.primary.empty()) {
    for (const auto& key : s.keys) {
      std::vector<std::string> categories = key_values(s, key);
      std::vector<std::string> others;
      for (const auto& k : s.keys)
        if (k != key) others.push_back(k);
      // One line per combination of the other keys' values, in their sorted orders.
      std::vector<std::vector<std::string>> combos{{}};
      for (const auto& k : others) {
        std::vector<std::vector<std::string>> next;
        for (const auto& combo : combos)
          for (const auto& v : key_values(s, k)) {
            next.push_back(combo);
            next.back().push_back(v);
          }
        combos = std::move(next);
      }
      LineChart c;
      c.kind = "sweep";
      c.title = s.primary + " by " + names.at(key);
      c.x_label = names.at(key);
      c.y_label = s.primary;
      c.categories = categories;
      c.attributes = " data-key=\"" + escape_html(key) + "\"";
      std::size_t n = 0;
      for (const auto& combo : combos) {
        std::string label;
        for (std::size_t i = 0; i < others.size(); ++i)
          label += (i ? ", " : "") + names.at(others[i]) + "=" + combo[i];
        if (others.empty()) label = s.primary;
        std::vector<std::pair<double, double>> points;
        bool any = false;
        for (std::size_t x = 0; x < categories.size(); ++x) {
          double y = std::nan("");
          for (const auto& p : s.points) {
            if (value_of(p, key) != categories[x]) continue;
            bool match = true;
            for (std::size_t i = 0; i < others.size() && match; ++i)
              match = value_of(p, others[i]) == combo[i];
            auto v = match ? primary_of(s, p) : std::nullopt;
            if (v) {
              y = *v;
              break;
            }
          }
          any = any || std::isfinite(y);
          points.emplace_back(static_cast<double>(x), y);
        }
        if (!any) continue;
        c.series.push_back(nth_series(n++, std::move(label), std::move(points)));
      }
      c.legend = !others.empty();
      charts += chart_section(unique_id("chart-by-" + names.at(key), ids), c);
    }
  }
  if (s.keys.size() == 2 && !s.primary.empty()) {
    charts +=
        "<section class=\"card chart\" id=\"" + unique_id("heatmap", ids) + "\">\n<h3>" +
        escape_html(s.primary + " by " + names.at(s.keys[0]) + " and " + names.at(s.keys[1])) +
        "</h3>\n" + heatmap(s, names, best) + "<p class=\"note\">Colour: " + primary +
        ", the best cell outlined.</p>\n</section>\n";
  }
  if (auto c = curves_chart(s, dir)) charts += chart_section(unique_id("chart-curves", ids), *c);
  if (!charts.empty())
    main_html += "<h2 class=\"group\">Charts</h2>\n<div class=\"charts\">\n" + charts + "</div>\n";
  main_html += config_section(dir, ids);

  std::string subtitle = "sweep report \xC2\xB7 " + std::to_string(s.points.size()) +
                         (s.points.size() == 1 ? " point" : " points");
  std::string parts;
  for (const auto& [status, count] : counts)
    parts += (parts.empty() ? "" : ", ") + std::to_string(count) + " " + escape_html(status);
  if (!parts.empty()) subtitle += " (" + parts + ")";
  if (best >= 0)
    subtitle += " \xC2\xB7 best " + escape_html(s.points[static_cast<std::size_t>(best)].id) +
                ": " + escape_html(s.primary) + " " +
                format_value(*primary_of(s, s.points[static_cast<std::size_t>(best)]));
  return page(
      name, subtitle, main_html,
      "Written by <code>loom report</code> from sweep.json and the run folders of its points.");
}

}  // namespace

fs::path write_report(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir.string() + ": no such folder");
  std::string html = fs::exists(dir / "sweep.json", ec) ? sweep_report(dir) : run_report(dir);
  fs::path out = dir / "report.html";
  write_file_atomically(out, html);
  return out;
}

}  // namespace loom
