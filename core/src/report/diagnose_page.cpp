// The page of `loom diagnose` (loom/report.hpp): gradients through time, one line per run.
#include <cmath>

#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/report.hpp"
#include "loom/strings.hpp"
#include "report/html.hpp"

namespace loom {

// The mean factor per step by which the norm changes going back: (norm at k / norm at 0)^(1/k)
// over the whole window (below 1: vanishing; above 1: exploding).
double gradient_decay_per_step(const GradientThroughTime& r) {
  if (r.norms.size() < 2 || !(r.norms.front() > 0.0) || !(r.norms.back() > 0.0)) return std::nan("");
  return std::pow(r.norms.back() / r.norms.front(), 1.0 / static_cast<double>(r.norms.size() - 1));
}

std::filesystem::path write_gradient_report(const std::filesystem::path& out, const std::vector<GradientThroughTime>& runs) {
  std::string table = "<section class=\"card\" id=\"runs\">\n<h2>Runs</h2>\n<table class=\"results\">\n"
                      "<tr><th class=\"text\">run</th><th class=\"text\">cell</th><th>steps</th><th>windows</th>"
                      "<th>columns</th><th>||g|| at the last step</th><th>at the first</th><th>factor per step back</th></tr>\n";
  std::vector<report::Series> series;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    table += "<tr><td class=\"text\">" + report::escape_html(r.run) + "</td><td class=\"text\">" +
             report::escape_html(r.cell) + "</td><td>" + std::to_string(r.steps) + "</td><td>" +
             std::to_string(r.windows) + "</td><td>" + std::to_string(r.columns) + "</td><td>" +
             format_number("%.4g", r.norms.front()) + "</td><td>" + format_number("%.4g", r.norms.back()) + "</td><td>" +
             format_number("%.4f", gradient_decay_per_step(r)) + "</td></tr>\n";
    std::vector<std::pair<double, double>> points;
    for (std::size_t k = 0; k < r.norms.size(); ++k)
      points.emplace_back(static_cast<double>(k), r.norms[k] > 0.0 ? r.norms[k] : std::nan(""));
    series.push_back(report::nth_series(i, r.cell + " (" + r.run + ")", points));
  }
  table += "</table>\n</section>\n";
  auto chart = report::make_chart("gradient_through_time", "Gradient through time: ||d loss_T / d h_t||",
                                  "steps back from the last (T - 1 - t)", "gradient norm", std::move(series));
  chart.y_log = true;
  const std::string main =
      table + report::chart_section("chart-gradient-through-time", chart) +
      "<section class=\"card\" id=\"about\">\n<p>Each window runs from a zero state in evaluation mode; the loss is "
      "that of its last step, and h_t the top recurrent layer's hidden state after step t. A line falling to the "
      "right is a vanishing gradient: what happened that many steps back barely moves the loss now.</p>\n</section>\n";
  const std::filesystem::path file = out / "report.html";
  write_file_atomically(file, report::page("loom diagnose", "gradients through time", main, "loom diagnose"));
  return file;
}

}  // namespace loom
