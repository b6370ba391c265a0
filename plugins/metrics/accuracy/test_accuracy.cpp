// metrics/accuracy through the real loader: shares of correct predictions worked by hand,
// ties, no data, the checks on what it is given, and resuming.
#define BOOST_TEST_MODULE accuracy
#include <boost/test/unit_test.hpp>

#include <cmath>
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

// One batch: labels and a score row per example.
contracts::MetricUpdate batch(std::vector<std::int32_t> labels, std::vector<float> scores, std::int64_t classes) {
  contracts::MetricUpdate u;
  const auto n = static_cast<std::int64_t>(labels.size());
  u.batch.tensors["labels"] = loom::Tensor::empty(loom::Shape{n}, loom::DType::kInt32);
  std::copy(labels.begin(), labels.end(), u.batch.tensors["labels"].ids());
  u.output.predictions = loom::Tensor::empty(loom::Shape{n, classes});
  std::copy(scores.begin(), scores.end(), u.output.predictions.data());
  return u;
}

}  // namespace

BOOST_AUTO_TEST_CASE(share_of_correct_predictions) {
  loom::testing::Env env(registry());
  env.add("acc", "accuracy");
  auto& m = env.get<loom::Metric>("acc");
  BOOST_TEST(m.higher_is_better());
  // Predicted 1, 1, 0, 1 against labels 1, 0, 1, 1: two right; then two more right of two.
  std::vector<contracts::MetricUpdate> updates = {
      batch({1, 0, 1, 1}, {0.1f, 0.9f, -1, 2, 3, 1, -5, -4}, 2),
      batch({0, 0}, {5, 1, 1, 0.5f, 0.5f, 0.2f}, 3),  // the tie 0.5, 0.5 goes to the first class
  };
  BOOST_TEST(contracts::metric_matches(m, updates, 4.0 / 6.0).empty());
  BOOST_TEST(contracts::metric_matches(m, {updates[0]}, 0.5).empty());
  m.reset();
  BOOST_TEST(std::isnan(m.value()));
  env.add("first", "accuracy");
  env.add("second", "accuracy");
  BOOST_TEST(contracts::metric_resumes_exactly(env.get<loom::Metric>("first"), env.get<loom::Metric>("second"), updates).empty());
  env.add("third", "accuracy");
  auto failures = contracts::metric_statistics_add_up(env.get<loom::Metric>("first"), env.get<loom::Metric>("second"),
                                                      env.get<loom::Metric>("third"), updates, 0.0);
  BOOST_TEST(failures.empty(), contracts::join(failures));
}

BOOST_AUTO_TEST_CASE(needs_labels_and_class_scores) {
  loom::testing::Env env(registry());
  env.add("acc", "accuracy");
  auto& m = env.get<loom::Metric>("acc");
  contracts::MetricUpdate lm;  // a language model's batch: no labels, no class scores
  lm.output.loss_sum = 3.0;
  lm.output.count = 2;
  loom::testing::expect_error<loom::ConfigError>([&] { m.update(lm.batch, lm.output); },
                                                 "metric 'accuracy' needs batches with class labels");
  auto u = batch({1, 0}, {0, 1, 1, 0}, 2);
  u.output.predictions = loom::Tensor();
  loom::testing::expect_error<loom::ConfigError>([&] { m.update(u.batch, u.output); },
                                                 "needs a model that predicts classes");
}
