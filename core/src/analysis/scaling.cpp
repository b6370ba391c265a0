#include "loom/scaling.hpp"

#include <algorithm>
#include <cmath>

#include "loom/errors.hpp"
#include "loom/strings.hpp"

namespace loom::scaling {

namespace {

double r_squared(const std::vector<double>& y, const std::vector<double>& fitted) {
  double mean = 0.0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  double total = 0.0, residual = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    total += (y[i] - mean) * (y[i] - mean);
    residual += (y[i] - fitted[i]) * (y[i] - fitted[i]);
  }
  return total > 0.0 ? 1.0 - residual / total : 1.0;
}

// Solves the 3 x 3 system m x = v by Gaussian elimination with partial pivoting.
bool solve3(double m[3][3], double v[3], double x[3]) {
  for (int col = 0; col < 3; ++col) {
    int pivot = col;
    for (int r = col + 1; r < 3; ++r)
      if (std::fabs(m[r][col]) > std::fabs(m[pivot][col])) pivot = r;
    if (std::fabs(m[pivot][col]) < 1e-300) return false;
    std::swap(m[col], m[pivot]);
    std::swap(v[col], v[pivot]);
    for (int r = col + 1; r < 3; ++r) {
      const double f = m[r][col] / m[col][col];
      for (int k = col; k < 3; ++k) m[r][k] -= f * m[col][k];
      v[r] -= f * v[col];
    }
  }
  for (int r = 2; r >= 0; --r) {
    double s = v[r];
    for (int k = r + 1; k < 3; ++k) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return true;
}

// log10 f(N) for a model of N parameters, linear in log-log between the runs' sizes (constant
// slope beyond them).
double log_flops_per_token(const std::vector<Run>& runs, double log_n) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& r : runs)
    if (r.parameters > 0 && r.flops_per_token > 0) pts.emplace_back(std::log10(r.parameters), std::log10(r.flops_per_token));
  std::sort(pts.begin(), pts.end());
  if (pts.empty()) return 0.0;
  if (pts.size() == 1) return pts[0].second + (log_n - pts[0].first);  // f proportional to N
  std::size_t hi = 1;
  while (hi + 1 < pts.size() && pts[hi].first < log_n) ++hi;
  const auto& [x0, y0] = pts[hi - 1];
  const auto& [x1, y1] = pts[hi];
  return x1 == x0 ? y0 : y0 + (y1 - y0) * (log_n - x0) / (x1 - x0);
}

}  // namespace

std::optional<double> loss_at(const Run& run, double C) {
  const auto& f = run.flops;
  if (f.empty() || C <= 0.0 || C < f.front() || C > f.back()) return std::nullopt;
  const auto it = std::lower_bound(f.begin(), f.end(), C);
  const auto i = static_cast<std::size_t>(it - f.begin());
  if (f[i] == C || i == 0) return run.loss[i];
  const double x0 = std::log10(f[i - 1]), x1 = std::log10(f[i]), x = std::log10(C);
  return run.loss[i - 1] + (run.loss[i] - run.loss[i - 1]) * (x - x0) / (x1 - x0);
}

Quadratic fit_quadratic(const std::vector<double>& x, const std::vector<double>& y) {
  LOOM_ASSERT(x.size() == y.size() && x.size() >= 3, "fit_quadratic needs 3 or more points");
  // Centred on the mean of x for conditioning, then expanded back.
  double mx = 0.0;
  for (double v : x) mx += v;
  mx /= static_cast<double>(x.size());
  double s[5] = {0, 0, 0, 0, 0}, t[3] = {0, 0, 0};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = x[i] - mx;
    double p = 1.0;
    for (int k = 0; k < 5; ++k) {
      s[k] += p;
      if (k < 3) t[k] += p * y[i];
      p *= u;
    }
  }
  double m[3][3] = {{s[4], s[3], s[2]}, {s[3], s[2], s[1]}, {s[2], s[1], s[0]}};
  double v[3] = {t[2], t[1], t[0]}, abc[3] = {0, 0, 0};
  if (!solve3(m, v, abc)) throw InputError("a quadratic fit needs 3 distinct sizes");
  Quadratic q;
  q.a = abc[0];
  q.b = abc[1] - 2.0 * abc[0] * mx;
  q.c = abc[2] - abc[1] * mx + abc[0] * mx * mx;
  std::vector<double> fitted;
  for (double xi : x) fitted.push_back(q(xi));
  q.r2 = r_squared(y, fitted);
  return q;
}

Line fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  LOOM_ASSERT(x.size() == y.size() && x.size() >= 2, "fit_line needs 2 or more points");
  const double n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
  }
  const double d = n * sxx - sx * sx;
  if (d == 0.0) throw InputError("a line fit needs 2 distinct budgets");
  Line l;
  l.slope = (n * sxy - sx * sy) / d;
  l.intercept = (sy - l.slope * sx) / n;
  std::vector<double> fitted;
  for (double xi : x) fitted.push_back(l(xi));
  l.r2 = r_squared(y, fitted);
  return l;
}

double Fit::predict_params(double C) const { return std::pow(10.0, params_line(std::log10(C))); }
double Fit::predict_tokens(double C) const { return std::pow(10.0, tokens_line(std::log10(C))); }

Fit fit(const std::vector<Run>& runs, const std::vector<double>& budgets, double window) {
  Fit out;
  std::vector<double> lc, ln, ld;
  std::vector<std::string> problems;
  for (double C : budgets) {
    Budget b;
    b.flops = C;
    for (const auto& r : runs)
      if (auto l = loss_at(r, C); l && r.parameters > 0) {
        b.runs.push_back(r.name);
        b.log_params.push_back(std::log10(r.parameters));
        b.loss.push_back(*l);
      }
    if (window > 0.0 && !b.loss.empty()) {
      const auto best = static_cast<std::size_t>(std::min_element(b.loss.begin(), b.loss.end()) - b.loss.begin());
      const double centre = b.log_params[best];
      Budget kept;
      for (std::size_t i = 0; i < b.runs.size(); ++i)
        if (std::fabs(b.log_params[i] - centre) <= window + 1e-12) {
          kept.runs.push_back(b.runs[i]);
          kept.log_params.push_back(b.log_params[i]);
          kept.loss.push_back(b.loss[i]);
        }
      b.runs = std::move(kept.runs);
      b.log_params = std::move(kept.log_params);
      b.loss = std::move(kept.loss);
    }
    if (b.runs.size() < 3) {
      b.why_not = std::to_string(b.runs.size()) + " runs reach it (a quadratic needs 3)";
    } else {
      b.fit = fit_quadratic(b.log_params, b.loss);
      const auto [lo, hi] = std::minmax_element(b.log_params.begin(), b.log_params.end());
      if (!b.fit.has_minimum()) {
        b.why_not = "the losses do not curve upwards (no minimum)";
      } else if (b.fit.argmin() < *lo || b.fit.argmin() > *hi) {
        b.why_not = "the minimum lies outside the sizes trained (" + format_number("%.3g", std::pow(10.0, b.fit.argmin())) +
                    " parameters)";
      } else {
        b.usable = true;
        b.params_opt = std::pow(10.0, b.fit.argmin());
        b.loss_opt = b.fit(b.fit.argmin());
        b.tokens_opt = C / (3.0 * std::pow(10.0, log_flops_per_token(runs, b.fit.argmin())));
        lc.push_back(std::log10(C));
        ln.push_back(std::log10(b.params_opt));
        ld.push_back(std::log10(b.tokens_opt));
      }
    }
    if (!b.usable) problems.push_back(format_number("%.3g", C) + ": " + b.why_not);
    out.budgets.push_back(std::move(b));
  }
  if (lc.size() < 2)
    throw InputError("scaling: fewer than two budgets have a minimum to fit a line through (" + join(problems, "; ") + ")");
  out.params_line = fit_line(lc, ln);
  out.tokens_line = fit_line(lc, ld);
  return out;
}

}  // namespace loom::scaling
