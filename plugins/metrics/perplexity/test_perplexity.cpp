// metrics/perplexity through the real loader: exp(total loss / total targets) over a split,
// worked by hand, and what it does with no data.
#define BOOST_TEST_MODULE perplexity
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

namespace {

namespace contracts = loom::testing::contracts;
namespace tt = boost::test_tools;

struct Ppl {
  Ppl() : env(registry_()) {
    env.add("ppl", "perplexity");
    metric = &env.get<loom::Metric>("ppl");
  }
  static loom::Registry& registry_() {
    static loom::Registry r;
    if (r.plugins().empty()) r.load_library(LOOM_TEST_PLUGIN_FILE);
    return r;
  }
  loom::testing::Env env;
  loom::Metric* metric;
};

loom::ModelOutput output(double loss_sum, std::int64_t count) {
  loom::ModelOutput o;
  o.loss_sum = loss_sum;
  o.count = count;
  return o;
}

std::vector<contracts::MetricUpdate> updates(const std::vector<std::pair<double, std::int64_t>>& sums) {
  std::vector<contracts::MetricUpdate> out;
  for (const auto& [s, n] : sums) out.push_back({loom::Batch{}, output(s, n), {}, {}});
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(value_is_exp_of_total_loss_over_total_count) {
  struct Case {
    const char* name;
    std::vector<std::pair<double, std::int64_t>> sums;  // (loss_sum, count) per update
    double expected;
  };
  const std::vector<Case> cases = {
      // exp(0) = 1: a model that is sure and right.
      {"zero loss", {{0.0, 10}}, 1.0},
      // log 7 per token: the perplexity of a uniform guess over 7 words.
      {"uniform over 7", {{5 * std::log(7.0), 5}}, 7.0},
      // exp((2 + 6) / (2 + 4)) = exp(4/3) = 3.793667895
      {"two batches", {{2.0, 2}, {6.0, 4}}, 3.793667894683},
      // exp(3 / 3) = e; the empty update changes nothing
      {"an empty batch", {{1.0, 1}, {0.0, 0}, {2.0, 2}}, 2.718281828459},
      {"many small", {{0.5, 1}, {0.5, 1}, {0.5, 1}, {0.5, 1}}, 1.648721270700},  // exp(0.5)
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      Ppl p;
      p.metric->reset();
      for (const auto& u : updates(c.sums)) p.metric->update(u.batch, u.output);
      BOOST_TEST(p.metric->value() == c.expected, tt::tolerance(1e-10));
      auto failures = contracts::metric_matches(*p.metric, updates(c.sums), c.expected, 1e-10);
      BOOST_TEST(failures.empty(), contracts::join(failures));
    }
  }
}

// A label-smoothed loss is not the model's likelihood: perplexity measures nll_sum.
BOOST_AUTO_TEST_CASE(measures_the_plain_nll_under_label_smoothing) {
  Ppl p;
  p.metric->reset();
  loom::ModelOutput o = output(9.0, 5);  // the smoothed loss
  o.nll_sum = 5 * std::log(7.0);          // uniform over 7 words
  p.metric->update({}, o);
  BOOST_TEST(p.metric->value() == 7.0, tt::tolerance(1e-10));
}

// Batches of unequal size: the split's perplexity weighs every token alike, so it is not
// the mean of the per-batch perplexities.
BOOST_AUTO_TEST_CASE(not_the_mean_of_batch_perplexities) {
  Ppl p;
  p.metric->reset();
  p.metric->update({}, output(2.0, 2));  // batch perplexity e^1 = 2.718281828
  p.metric->update({}, output(6.0, 4));  // batch perplexity e^1.5 = 4.481689070
  const double mean_of_batches = (std::exp(1.0) + std::exp(1.5)) / 2;  // 3.599985449
  BOOST_TEST(mean_of_batches == 3.599985449, tt::tolerance(1e-9));
  BOOST_TEST(p.metric->value() == 3.793667895, tt::tolerance(1e-9));
  BOOST_TEST(std::fabs(p.metric->value() - mean_of_batches) > 0.19);
}

// What ranks accumulate on their shares adds up to the whole split's perplexity.
BOOST_AUTO_TEST_CASE(statistics_of_ranks_add_up) {
  Ppl whole, even, odd;
  auto failures = contracts::metric_statistics_add_up(*whole.metric, *even.metric, *odd.metric,
                                                      updates({{2.0, 2}, {6.0, 4}, {0.3, 1}, {1.7, 3}, {0.0, 0}}));
  BOOST_TEST(failures.empty(), contracts::join(failures));
}

BOOST_AUTO_TEST_CASE(reset_forgets_everything) {
  Ppl p;
  p.metric->update({}, output(100.0, 1));
  p.metric->reset();
  p.metric->update({}, output(3.0, 2));
  BOOST_TEST(p.metric->value() == std::exp(1.5), tt::tolerance(1e-12));
  // value() reads, it does not consume.
  BOOST_TEST(p.metric->value() == std::exp(1.5), tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(no_targets_is_nan) {
  Ppl p;
  BOOST_TEST(std::isnan(p.metric->value()));  // fresh, before any reset
  p.metric->reset();
  BOOST_TEST(std::isnan(p.metric->value()));
  p.metric->update({}, output(0.0, 0));
  BOOST_TEST(std::isnan(p.metric->value()));
  auto failures = contracts::metric_matches(*p.metric, {}, std::nan(""));
  BOOST_TEST(failures.empty(), contracts::join(failures));
}

BOOST_AUTO_TEST_CASE(lower_is_better) {
  Ppl p;
  BOOST_TEST(!p.metric->higher_is_better());
}

BOOST_AUTO_TEST_CASE(takes_no_parameters) {
  loom::testing::Env env(Ppl::registry_());
  env.add("ppl", "perplexity", "{base: 2}");
  try {
    env.get<loom::Metric>("ppl");
    BOOST_ERROR("no ConfigError");
  } catch (const loom::ConfigError& e) {
    std::string m = e.what();
    BOOST_TEST(m.find("unknown parameter 'base'") != std::string::npos, m);
    BOOST_TEST(m.find("known: none") != std::string::npos, m);
  }
}
