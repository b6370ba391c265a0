// metrics/f1 through the real loader: binary and macro F1, precision and recall worked by
// hand from confusion counts, classes never predicted, bad labels, and resuming.
#define BOOST_TEST_MODULE f1
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

namespace {

namespace contracts = loom::testing::contracts;

loom::Registry& registry() {
  static loom::Registry r;
  if (r.plugins().empty()) r.load_library(LOOM_TEST_PLUGIN_FILE);
  return r;
}

// One batch whose predicted classes are `predicted` (a score of 1 for that class, 0 elsewhere).
contracts::MetricUpdate batch(std::vector<std::int32_t> labels, std::vector<std::int32_t> predicted, std::int64_t classes) {
  contracts::MetricUpdate u;
  const auto n = static_cast<std::int64_t>(labels.size());
  u.batch.tensors["labels"] = loom::Tensor::empty(loom::Shape{n}, loom::DType::kInt32);
  std::copy(labels.begin(), labels.end(), u.batch.tensors["labels"].ids());
  u.output.predictions = loom::Tensor::zeros(loom::Shape{n, classes});
  for (std::int64_t i = 0; i < n; ++i) u.output.predictions.data()[i * classes + predicted[static_cast<std::size_t>(i)]] = 1.0f;
  return u;
}

double value(const std::string& params, const std::vector<contracts::MetricUpdate>& updates) {
  loom::testing::Env env(registry());
  env.add("m", "f1", params);
  auto& m = env.get<loom::Metric>("m");
  m.reset();
  for (const auto& u : updates) m.update(u.batch, u.output);
  return m.value();
}

namespace tt = boost::test_tools;

}  // namespace

// Labels 1 0 1 1, predicted 1 1 0 1. Class 1: tp 2, fp 1, fn 1 -> P = R = F1 = 2/3.
// Class 0: tp 0, fp 1, fn 1 -> 0. Macro F1 = (2/3 + 0) / 2.
BOOST_AUTO_TEST_CASE(binary_and_macro_by_hand) {
  const std::vector<contracts::MetricUpdate> two = {batch({1, 0}, {1, 1}, 2), batch({1, 1}, {0, 1}, 2)};
  BOOST_TEST(value("{}", two) == 2.0 / 3.0, tt::tolerance(1e-12));
  BOOST_TEST(value("{measure: precision}", two) == 2.0 / 3.0, tt::tolerance(1e-12));
  BOOST_TEST(value("{average: macro}", two) == 1.0 / 3.0, tt::tolerance(1e-12));
  BOOST_TEST(value("{positive: 0}", two) == 0.0);
  // Labels 1 1 1 0, predicted 1 0 0 0. Class 1: tp 1, fp 0, fn 2 -> P 1, R 1/3, F1 1/2.
  const std::vector<contracts::MetricUpdate> skew = {batch({1, 1, 1, 0}, {1, 0, 0, 0}, 2)};
  BOOST_TEST(value("{measure: precision}", skew) == 1.0, tt::tolerance(1e-12));
  BOOST_TEST(value("{measure: recall}", skew) == 1.0 / 3.0, tt::tolerance(1e-12));
  BOOST_TEST(value("{}", skew) == 0.5, tt::tolerance(1e-12));
}

// Three classes: labels 0 1 2 2, predicted 0 2 2 1. F1 per class: 1, 0, 1/2 -> macro 1/2.
BOOST_AUTO_TEST_CASE(macro_over_three_classes) {
  const std::vector<contracts::MetricUpdate> u = {batch({0, 1, 2, 2}, {0, 2, 2, 1}, 3)};
  BOOST_TEST(value("{average: macro}", u) == 0.5, tt::tolerance(1e-12));
  BOOST_TEST(value("{average: macro, measure: recall}", u) == (1.0 + 0.0 + 0.5) / 3.0, tt::tolerance(1e-12));
  BOOST_TEST(value("{positive: 2}", u) == 0.5, tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(edge_cases) {
  BOOST_TEST(std::isnan(value("{}", {})));
  // A positive class the model cannot predict scores 0, not an error.
  BOOST_TEST(value("{positive: 5}", {batch({1, 0}, {1, 0}, 2)}) == 0.0);
  loom::testing::Env env(registry());
  env.add("m", "f1");
  auto& m = env.get<loom::Metric>("m");
  auto bad = batch({3, 0}, {1, 0}, 2);
  loom::testing::expect_error<loom::InputError>([&] { m.update(bad.batch, bad.output); }, "label 3 outside the model's 2 classes");
  loom::testing::expect_error<loom::ConfigError>(
      [&] {
        env.add("x", "f1", "{average: micro}");
        env.get<loom::Metric>("x");
      },
      "average");
}

BOOST_AUTO_TEST_CASE(resumes_exactly) {
  loom::testing::Env env(registry());
  env.add("first", "f1", "{average: macro}");
  env.add("second", "f1", "{average: macro}");
  const std::vector<contracts::MetricUpdate> u = {batch({0, 1}, {0, 2}, 3), batch({2, 2}, {2, 1}, 3),
                                                  batch({1, 0}, {1, 1}, 3), batch({2, 0}, {0, 0}, 3)};
  BOOST_TEST(contracts::metric_resumes_exactly(env.get<loom::Metric>("first"), env.get<loom::Metric>("second"), u).empty());
}

// Ranks' per-class counts add up; a rank that saw no batch (no classes yet) adds nothing.
BOOST_AUTO_TEST_CASE(statistics_of_ranks_add_up) {
  for (const char* average : {"{average: macro}", "{average: binary, positive: 2}"}) {
    loom::testing::Env env(registry());
    for (const char* id : {"whole", "even", "odd"}) env.add(id, "f1", average);
    const std::vector<contracts::MetricUpdate> u = {batch({0, 1}, {0, 2}, 3), batch({2, 2}, {2, 1}, 3),
                                                    batch({1, 0}, {1, 1}, 3), batch({2, 0}, {0, 0}, 3)};
    for (const auto& updates : {u, std::vector<contracts::MetricUpdate>{u[1]}}) {
      auto failures = contracts::metric_statistics_add_up(env.get<loom::Metric>("whole"), env.get<loom::Metric>("even"),
                                                          env.get<loom::Metric>("odd"), updates, 0.0);
      BOOST_TEST(failures.empty(), average << ": " << contracts::join(failures));
    }
  }
}
