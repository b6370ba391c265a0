#pragma once
// IsoFLOP scaling-law fits (Hoffmann et al. 2022, approach 2) over training runs that differ
// in model size: for each compute budget C, each run's validation loss at C (interpolated
// along its curve, linear in log10 FLOPs), a quadratic in log10 parameters through those
// points, its minimum N*(C); then log10 N* = a log10 C + b over the budgets, and the same for
// the tokens D*(C) = C / (3 f(N*)), f the forward FLOPs per token, interpolated log-log
// between the runs' sizes. The `loom scaling` command reads runs into these structures.
#include <optional>
#include <string>
#include <vector>

#include "loom/export.hpp"

namespace loom::scaling {

// One run: its size, its forward FLOPs per token, and its validation losses along its
// cumulative training FLOPs (ascending).
struct Run {
  std::string name;
  double parameters = 0.0;
  double flops_per_token = 0.0;
  std::vector<double> flops, loss;
};

// The loss at compute C, linear in log10 FLOPs between the points around it; nullopt when C
// lies outside the curve (no extrapolation).
LOOM_API std::optional<double> loss_at(const Run& run, double C);

// y = a x^2 + b x + c by least squares (3 or more points with 3 distinct x), with R^2.
struct Quadratic {
  double a = 0.0, b = 0.0, c = 0.0, r2 = 0.0;
  double operator()(double x) const { return (a * x + b) * x + c; }
  bool has_minimum() const { return a > 0.0; }
  double argmin() const { return -b / (2.0 * a); }
};
LOOM_API Quadratic fit_quadratic(const std::vector<double>& x, const std::vector<double>& y);

// y = slope x + intercept by least squares (2 or more distinct x), with R^2.
struct Line {
  double slope = 0.0, intercept = 0.0, r2 = 0.0;
  double operator()(double x) const { return slope * x + intercept; }
};
LOOM_API Line fit_line(const std::vector<double>& x, const std::vector<double>& y);

struct Budget {
  double flops = 0.0;
  std::vector<std::string> runs;       // the runs whose curves reach this budget
  std::vector<double> log_params, loss;
  Quadratic fit;                        // loss against log10 parameters
  bool usable = false;                  // 3+ runs and a minimum inside their range
  std::string why_not;                  // when not usable
  double params_opt = 0.0, tokens_opt = 0.0, loss_opt = 0.0;
};

struct Fit {
  std::vector<Budget> budgets;
  Line params_line, tokens_line;  // log10 N* and log10 D* against log10 C, over usable budgets
  double predict_params(double C) const;
  double predict_tokens(double C) const;
};

// `window` > 0: each budget's quadratic uses only the runs within that many decades of
// parameters of the run with the lowest loss there (a quadratic in log N describes the
// IsoFLOP curve near its minimum, not across many decades); 0: every run that reaches it.
// InputError when fewer than two budgets are usable (naming each budget and why).
LOOM_API Fit fit(const std::vector<Run>& runs, const std::vector<double>& budgets, double window = 0.0);

}  // namespace loom::scaling
