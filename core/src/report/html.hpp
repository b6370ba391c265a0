#pragma once
// What the report pages share (report/): reading a folder's files, formatting numbers and
// HTML, the page around the sections, and line charts drawn as inline SVG.
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loom/infer.hpp"
#include "loom/json.hpp"

namespace loom {
struct AttentionMap;
}

namespace loom::report {

namespace fs = std::filesystem;

enum class Numbers { kRounded, kExact };
constexpr const char* kDash = "\xE2\x80\x94";

constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                    "#b07aa1", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"};
constexpr std::size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

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

struct Series {
  std::string label;
  std::string color;
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (x, y); a NaN y breaks the line
  int marker_radius = 0;  // the points' circles: 0 the chart's choice, -1 none (a fitted curve)
};

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
  bool x_log = false;  // numbers on a log x axis (positive values); the y axis too with y_log
  bool y_log = false;
  std::string attributes;  // extra attributes for the <svg> element (already escaped)
};

// ---- files and formatting (html.cpp) ----
std::optional<std::string> read_if_present(const fs::path& path);
std::optional<Json> read_object_if_present(const fs::path& path);
std::optional<double> number_of(const Json& object, const std::string& key);
const std::string* string_of(const Json& object, const std::string& key);
const Json::Object& members_of(const Json& v);
void add_unique(std::vector<std::string>& list, const std::string& item);
std::string escape_html(std::string_view s);
std::string to_text(double v, std::chars_format format, int precision);
std::string grouped_integer(double v);
std::string format_value(double v);
std::string format_seconds(double s);
std::string shortest(double v);
std::string compact(const Json& v, Numbers numbers = Numbers::kRounded);
std::string slug(const std::string& text);
std::string unique_id(const std::string& base, std::set<std::string>& used);
std::string relative_url(const std::string& path);
std::optional<double> parse_number(const std::string& s);
std::string folder_name(const fs::path& dir);
std::string page(const std::string& title, const std::string& subtitle, const std::string& main_html,
                 const std::string& footer);
std::string config_section(const fs::path& dir, std::set<std::string>& ids);

// ---- charts (charts.cpp) ----
std::string coord(double v);
double nice_step(double raw);
std::string tick_label(double v, double step, double largest);
std::string log_tick_label(double v);
Axis value_axis(const std::vector<double>& values, bool force_log = false);
Axis integer_axis(double lo, double hi);
Series nth_series(std::size_t n, std::string label, std::vector<std::pair<double, double>> points);
LineChart make_chart(std::string kind, std::string title, std::string x_label, std::string y_label,
                     std::vector<Series> series);
std::string legend_html(const std::vector<Series>& series);
std::string render_line_chart(const LineChart& c);
std::string chart_section(const std::string& id, const LineChart& c);
std::string viridis(double t);

// ---- run folders (run_page.cpp) ----
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
// metrics.jsonl as series per split and key.
EpochMetrics read_metrics(const fs::path& file);

// The attention heatmaps of one text (attention_page.cpp): tokens label both axes.
std::string attention_page(const std::string& title, const std::string& text, const std::vector<std::string>& tokens,
                           const std::vector<AttentionMap>& maps);

// One heatmap per translated sentence (attention_page.cpp): source across, output down.
std::string translation_attention_page(const std::string& title, const std::vector<TranslatedSentence>& sentences);

// The pages (run_page.cpp, sweep_page.cpp).
std::string run_report(const fs::path& dir);
std::string sweep_report(const fs::path& dir);

}  // namespace loom::report
