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

#include "report/html.hpp"

namespace loom {
namespace report {
namespace {

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

}  // namespace

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


}  // namespace report


std::filesystem::path write_report(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir.string() + ": no such folder");
  std::string html = fs::exists(dir / "sweep.json", ec) ? report::sweep_report(dir) : report::run_report(dir);
  fs::path out = dir / "report.html";
  write_file_atomically(out, html);
  return out;
}


}  // namespace loom
