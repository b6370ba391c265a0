// The page of `loom scaling` (loom/report.hpp): the budgets' table, IsoFLOP curves, and the
// compute-optimal parameters and tokens against the budget.
#include <algorithm>
#include <cmath>
#include <set>

#include "loom/files.hpp"
#include "loom/report.hpp"
#include "loom/scaling.hpp"
#include "loom/strings.hpp"
#include "report/html.hpp"

namespace loom {
namespace {

using report::escape_html;
using report::Series;

std::string num(double v) { return format_number("%.4g", v); }

std::string budget_table(const scaling::Fit& fit) {
  std::string t = "<section class=\"card\" id=\"budgets\">\n<h2>Budgets</h2>\n<table class=\"results\">\n"
                  "<tr><th>budget (FLOPs)</th><th>runs</th><th>N* (parameters)</th><th>D* (tokens)</th>"
                  "<th>loss at N*</th><th>quadratic R<sup>2</sup></th></tr>\n";
  for (const auto& b : fit.budgets) {
    t += "<tr><td>" + num(b.flops) + "</td><td>" + std::to_string(b.runs.size()) + "</td>";
    if (b.usable)
      t += "<td>" + num(b.params_opt) + "</td><td>" + num(b.tokens_opt) + "</td><td>" + format_number("%.4f", b.loss_opt) +
           "</td><td>" + format_number("%.4f", b.fit.r2) + "</td></tr>\n";
    else
      t += "<td colspan=\"4\" class=\"text\">not used: " + escape_html(b.why_not) + "</td></tr>\n";
  }
  return t + "</table>\n</section>\n";
}

std::string line_text(const char* what, const scaling::Line& l) {
  return std::string("log<sub>10</sub> ") + what + " = " + format_number("%.4f", l.slope) + " log<sub>10</sub> C " +
         (l.intercept < 0 ? "&minus; " : "+ ") + format_number("%.4f", std::fabs(l.intercept)) + " (R<sup>2</sup> " +
         format_number("%.4f", l.r2) + ")";
}

// Loss against parameters per budget: the measured points joined, the quadratic dashed over
// the sizes it was fitted to, its minimum as a point of its own.
report::LineChart isoflop_chart(const scaling::Fit& fit) {
  std::vector<Series> series;
  for (std::size_t i = 0; i < fit.budgets.size(); ++i) {
    const auto& b = fit.budgets[i];
    if (b.runs.empty()) continue;
    const std::string color = report::kPalette[i % report::kPaletteSize];
    std::vector<std::pair<double, double>> points;
    for (std::size_t k = 0; k < b.runs.size(); ++k) points.emplace_back(std::pow(10.0, b.log_params[k]), b.loss[k]);
    std::sort(points.begin(), points.end());
    series.push_back({"C = " + num(b.flops), color, false, points});
    if (b.runs.size() >= 3 && b.fit.a != 0.0) {
      const double lo = *std::min_element(b.log_params.begin(), b.log_params.end());
      const double hi = *std::max_element(b.log_params.begin(), b.log_params.end());
      std::vector<std::pair<double, double>> curve;
      for (int k = 0; k <= 40; ++k) {
        const double x = lo + (hi - lo) * k / 40.0;
        curve.emplace_back(std::pow(10.0, x), b.fit(x));
      }
      series.push_back({"fit at " + num(b.flops), color, true, curve, -1});
    }
    if (b.usable) series.push_back({"N* at " + num(b.flops), color, false, {{b.params_opt, b.loss_opt}}, 6});
  }
  auto c = report::make_chart("isoflop", "IsoFLOP curves: loss against parameters per budget", "parameters", "loss",
                              std::move(series));
  c.x_log = true;
  c.legend = false;
  return c;
}

// N* (or D*) of the usable budgets, and the fitted line from the first budget to the last
// budget or prediction.
report::LineChart optimum_chart(const scaling::Fit& fit, const std::vector<double>& predict, bool tokens) {
  std::vector<std::pair<double, double>> points, line;
  double lo = 0.0, hi = 0.0;
  for (const auto& b : fit.budgets)
    if (b.usable) {
      points.emplace_back(b.flops, tokens ? b.tokens_opt : b.params_opt);
      lo = lo == 0.0 ? b.flops : std::min(lo, b.flops);
      hi = std::max(hi, b.flops);
    }
  for (double C : predict) hi = std::max(hi, C);
  if (lo > 0.0)
    for (int k = 0; k <= 20; ++k) {
      const double C = std::pow(10.0, std::log10(lo) + (std::log10(hi) - std::log10(lo)) * k / 20.0);
      line.emplace_back(C, tokens ? fit.predict_tokens(C) : fit.predict_params(C));
    }
  std::vector<Series> series = {{tokens ? "D* (tokens) of a budget" : "N* (parameters) of a budget", report::kPalette[0],
                                 false, points},
                                {"fitted power law", report::kPalette[1], true, line, -1}};
  for (double C : predict)
    series.push_back({"predicted at " + num(C), report::kPalette[3], false,
                      {{C, tokens ? fit.predict_tokens(C) : fit.predict_params(C)}}, 6});
  auto c = report::make_chart(tokens ? "tokens" : "params",
                              tokens ? "Compute-optimal tokens D* against the budget"
                                     : "Compute-optimal parameters N* against the budget",
                              "budget C (training FLOPs)", tokens ? "D* (tokens)" : "N* (parameters)", std::move(series));
  c.x_log = true;
  c.y_log = true;
  return c;
}

}  // namespace

std::filesystem::path write_scaling_report(const std::filesystem::path& out, const std::string& source,
                                           const scaling::Fit& fit, const std::vector<double>& predict) {
  std::string main = budget_table(fit);
  main += "<section class=\"card\" id=\"fits\">\n<h2>Power laws</h2>\n<p>" + line_text("N*", fit.params_line) + "</p>\n<p>" +
          line_text("D*", fit.tokens_line) + "</p>\n";
  for (double C : predict)
    main += "<p>at " + num(C) + " FLOPs: N* " + num(fit.predict_params(C)) + " parameters, D* " +
            num(fit.predict_tokens(C)) + " tokens</p>\n";
  main += "</section>\n";
  auto iso = isoflop_chart(fit);
  // One legend entry per budget (the fit and the minimum share its colour).
  std::vector<Series> keys;
  for (const auto& s : iso.series)
    if (s.label.rfind("C = ", 0) == 0) keys.push_back(s);
  main += "<section class=\"card chart\" id=\"chart-isoflop\">\n<h3>" + escape_html(iso.title) + "</h3>\n" +
          report::legend_html(keys) +
          "<p>Dashed: the quadratic in log<sub>10</sub> parameters; the large point: its minimum N*.</p>\n" +
          report::render_line_chart(iso) + "</section>\n";
  main += report::chart_section("chart-params", optimum_chart(fit, predict, false));
  main += report::chart_section("chart-tokens", optimum_chart(fit, predict, true));
  const std::string html = report::page("scaling: " + source, "IsoFLOP fits (Hoffmann et al. 2022, approach 2)", main,
                                        "loom scaling");
  const std::filesystem::path file = out / "report.html";
  write_file_atomically(file, html);
  return file;
}

}  // namespace loom
