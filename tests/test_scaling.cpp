// IsoFLOP fits (loom/scaling.hpp): interpolation along a run's curve, the least-squares fits
// against values worked out by hand, and a synthetic sweep with a known optimum: losses from
// L(N, D) = E + A / N^alpha + B / D^alpha with D = C / (6 N), whose optimum is
// N*(C) = (A / B)^(1 / (2 alpha)) (C / 6)^(1/2), recovered by the fits.
#define BOOST_TEST_MODULE scaling
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/scaling.hpp"

namespace sc = loom::scaling;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_CASE(loss_at_interpolates_in_log_flops) {
  sc::Run r{"r", 1e6, 6e6, {1e9, 1e10, 1e11}, {5.0, 4.0, 3.5}};
  BOOST_TEST(*sc::loss_at(r, 1e10) == 4.0);
  // Halfway in log10 between 1e10 and 1e11: 10^10.5.
  BOOST_TEST(*sc::loss_at(r, std::pow(10.0, 10.5)) == 3.75, tt::tolerance(1e-12));
  BOOST_TEST(*sc::loss_at(r, std::pow(10.0, 9.25)) == 4.75, tt::tolerance(1e-12));
  BOOST_TEST(!sc::loss_at(r, 5e8).has_value());
  BOOST_TEST(!sc::loss_at(r, 2e11).has_value());
}

BOOST_AUTO_TEST_CASE(fits_by_hand) {
  // y = 2 x^2 - 3 x + 1 exactly: the fit returns it with R^2 1 and its minimum at 0.75.
  std::vector<double> x = {-1, 0, 1, 2, 3}, y;
  for (double v : x) y.push_back(2 * v * v - 3 * v + 1);
  sc::Quadratic q = sc::fit_quadratic(x, y);
  BOOST_TEST(q.a == 2.0, tt::tolerance(1e-9));
  BOOST_TEST(q.b == -3.0, tt::tolerance(1e-9));
  BOOST_TEST(q.c == 1.0, tt::tolerance(1e-9));
  BOOST_TEST(q.r2 == 1.0, tt::tolerance(1e-12));
  BOOST_TEST(q.argmin() == 0.75, tt::tolerance(1e-9));
  // Points (0, 1), (1, 2), (2, 2): least squares slope 0.5, intercept 7/6; residuals -1/6,
  // 1/3, -1/6, so R^2 = 1 - (1/6) / (2/3) = 0.75.
  sc::Line l = sc::fit_line({0, 1, 2}, {1, 2, 2});
  BOOST_TEST(l.slope == 0.5, tt::tolerance(1e-12));
  BOOST_TEST(l.intercept == 7.0 / 6.0, tt::tolerance(1e-12));
  BOOST_TEST(l.r2 == 0.75, tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(a_synthetic_sweep_recovers_its_optimum) {
  const double E = 1.7, A = 400.0, B = 4000.0, alpha = 0.34;
  auto loss = [&](double N, double D) { return E + A / std::pow(N, alpha) + B / std::pow(D, alpha); };
  auto optimum = [&](double C) { return std::pow(A / B, 1.0 / (2 * alpha)) * std::sqrt(C / 6.0); };
  // Sizes a factor 10^0.125 apart, 1e4 .. 1e8 parameters; each run's curve on a grid of 10^0.05.
  std::vector<sc::Run> runs;
  for (int k = 0; k <= 32; ++k) {
    sc::Run r;
    r.parameters = std::pow(10.0, 4.0 + 0.125 * k);
    r.flops_per_token = 2.0 * r.parameters;  // 3 forwards per step: 6 N per token
    r.name = "n" + std::to_string(k);
    for (double lc = 12.0; lc <= 19.0 + 1e-9; lc += 0.05) {
      const double C = std::pow(10.0, lc);
      r.flops.push_back(C);
      r.loss.push_back(loss(r.parameters, C / (6.0 * r.parameters)));
    }
    runs.push_back(r);
  }
  const std::vector<double> budgets = {1e13, 1e14, 1e15, 1e16};
  // Across all four decades a quadratic misplaces the minimum (the curve is not symmetric in
  // log N): the fit takes the sizes within half a decade of the best run.
  sc::Fit f = sc::fit(runs, budgets, 0.5);
  BOOST_TEST(f.budgets.size() == 4u);
  for (const auto& b : f.budgets) {
    BOOST_TEST_CONTEXT("budget " << b.flops) {
      BOOST_TEST(b.usable, b.why_not);
      BOOST_TEST(std::fabs(std::log10(b.params_opt / optimum(b.flops))) < 0.03, b.params_opt << " vs " << optimum(b.flops));
      // D* = C / (6 N*), up to the error in N*.
      BOOST_TEST(b.tokens_opt * 6.0 * b.params_opt == b.flops, tt::tolerance(1e-9));
      BOOST_TEST(b.fit.r2 > 0.99);
    }
  }
  BOOST_TEST(f.params_line.slope == 0.5, tt::tolerance(0.02));
  BOOST_TEST(f.tokens_line.slope == 0.5, tt::tolerance(0.02));
  BOOST_TEST(f.params_line.r2 > 0.999);
  // The extrapolation to 1e18 FLOPs lands within 10% of the true optimum.
  BOOST_TEST(std::fabs(f.predict_params(1e18) / optimum(1e18) - 1.0) < 0.10,
             f.predict_params(1e18) << " vs " << optimum(1e18));
}

BOOST_AUTO_TEST_CASE(budgets_without_a_minimum_are_named) {
  // Loss falls with size at every budget: no minimum inside the sizes trained.
  std::vector<sc::Run> runs;
  for (int k = 0; k < 4; ++k)
    runs.push_back({"n" + std::to_string(k), std::pow(10.0, 4 + k), 2 * std::pow(10.0, 4 + k), {1e12, 1e14},
                    {5.0 - 0.3 * k * k, 4.0 - 0.3 * k * k}});
  try {
    sc::fit(runs, {1e13, 1e15});
    BOOST_ERROR("no error");
  } catch (const loom::InputError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("1e+13") != std::string::npos, m);
    BOOST_TEST(m.find("1e+15: 0 runs reach it") != std::string::npos, m);
  }
}
