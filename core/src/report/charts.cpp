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
// Charts: inline SVG drawn in a fixed coordinate system (viewBox) that CSS scales to the page.


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
  if (v >= 1e18) return to_text(v, std::chars_format::general, 3);
  if (v >= 1e4) {
    // SI prefixes up to peta (FLOP budgets reach 1e15 and beyond).
    static const std::pair<double, const char*> kUnits[] = {{1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    for (const auto& [unit, prefix] : kUnits)
      if (v >= unit) return to_text(v / unit, std::chars_format::general, 3) + prefix;
  }
  if (v >= 1) return to_text(v, std::chars_format::fixed, 0);
  return to_text(v, std::chars_format::general, 3);
}

// A value axis: its domain, where ticks go and what they say. A log axis is chosen when every
// value is positive and they span at least a factor of ten (perplexities, learning rates), or
// when `force_log` asks for one (positive values only).

Axis value_axis(const std::vector<double>& values, bool force_log) {
  Axis a;
  if (values.empty()) {
    a.ticks = {0.0, 0.5, 1.0};
    a.labels = {"0", "0.5", "1"};
    return a;
  }
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (lo > 0 && (hi / lo >= 10.0 || force_log)) {
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
      // An end gets its own label only when it lies far enough from the nearest tick for the
      // two not to overlap: a fixed share of the axis, however many decades it spans.
      const double room = std::max(0.45, decades / 12.0);
      if (std::log10(kept.front()) - std::log10(a.lo) >= room) kept.insert(kept.begin(), a.lo);
      if (std::log10(a.hi) - std::log10(kept.back()) >= room) kept.push_back(a.hi);
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


// The n-th line of a chart: the palette's colours in turn, dashed on the second round.
Series nth_series(std::size_t n, std::string label, std::vector<std::pair<double, double>> points) {
  return {std::move(label), kPalette[n % kPaletteSize], (n / kPaletteSize) % 2 == 1,
          std::move(points)};
}


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
  Axis y_axis = value_axis(ys, c.y_log);
  Axis x_axis;
  if (!c.categories.empty()) {
    x_axis.lo = 0;
    x_axis.hi = static_cast<double>(c.categories.size() - 1);
    for (std::size_t i = 0; i < c.categories.size(); ++i) {
      x_axis.ticks.push_back(static_cast<double>(i));
      x_axis.labels.push_back(c.categories[i]);
    }
  } else if (!xs.empty() && c.x_log) {
    x_axis = value_axis(xs, true);
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
    if (se.marker_radius > 0) radius = std::to_string(se.marker_radius);
    for (const auto& [x, y] : se.points) {
      if (!std::isfinite(y) || se.marker_radius < 0) continue;
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


}  // namespace loom::report
