// optimizers/rmsprop through the real loader: PyTorch's steps (tests/fixtures/optimizers/
// rmsprop.json), steps worked by hand, what every optimizer shares (optimizer_suite.hpp), its
// parameters and their errors.
#define BOOST_TEST_MODULE rmsprop
#include <boost/test/unit_test.hpp>

#include "loom/errors.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "optimizer_suite.hpp"

using loom::testing::expect_error;

namespace {

namespace suite = optimizer_suite;

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(rmsprop, Loaded)

BOOST_AUTO_TEST_CASE(matches_pytorch) { suite::matches_reference(registry, "rmsprop"); }

// The first step has v = (1 - alpha) g^2, so it moves w by lr / sqrt(1 - alpha) against the
// sign of g (10 lr with the default alpha); with alpha 0, v = g^2 at every step.
BOOST_AUTO_TEST_CASE(steps_by_hand) {
  suite::steps_by_hand(
      registry, "rmsprop",
      {
          {"{lr: 0.01}", {1, 2, -1}, {{0.5f, -2, 1}}, {0.9f, 2.1f, -1.1f}},
          {"{lr: 0.1, alpha: 0}", {1, 2, -1}, {{0.5f, -2, 1}, {0.5f, -2, 1}}, {0.8f, 2.2f, -1.2f}},
          // centered: v - a^2 = alpha (1 - alpha) g^2, so the step is 0.01 / sqrt(0.99 * 0.01)
          {"{lr: 0.01, centered: true}",
           {1, 2, -1},
           {{0.5f, -2, 1}},
           {0.899496f, 2.100504f, -1.100504f}},
          // momentum (buf starts at 0): buf = 1, then 0.5 + 1: 0.1 + 0.15
          {"{lr: 0.1, alpha: 0, momentum: 0.5}",
           {1, 2, -1},
           {{0.5f, -2, 1}, {0.5f, -2, 1}},
           {0.75f, 2.25f, -1.25f}},
          // g + w = [1.5, 0, 0]: a zero gradient does not move w
          {"{lr: 0.1, alpha: 0, weight_decay: 1}",
           {1, 2, -1},
           {{0.5f, -2, 1}},
           {0.9f, 2.0f, -1.0f}},
          // eps in the denominator: 0.1 * 0.5 / (0.5 + 0.5)
          {"{lr: 0.1, alpha: 0, eps: 0.5}", {1}, {{0.5f}}, {0.95f}},
      });
}

BOOST_AUTO_TEST_CASE(shared_behaviour) {
  for (const char* yaml : {"{}", "{momentum: 0.9, centered: true, weight_decay: 0.1}"})
    suite::shared_behaviour(registry, "rmsprop", yaml);
}

BOOST_AUTO_TEST_CASE(parameters_are_pytorchs) {
  suite::has_params(registry, "rmsprop",
                    {{"lr", "0.01"},
                     {"alpha", "0.99"},
                     {"eps", "1e-8"},
                     {"momentum", "0"},
                     {"centered", "false"},
                     {"weight_decay", "0"},
                     {"no_decay", ""},
                     {"clip", "0"}});
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  auto build = [&](const char* yaml) { suite::Built b(registry, "rmsprop", yaml); };
  expect_error<loom::ConfigError>([&] { build("{alpha: 1}"); },
                                  {"component 'opt' (rmsprop)", "'alpha' must be below 1, got 1"});
  expect_error<loom::ConfigError>([&] { build("{alpha: -0.5}"); },
                                  {"'alpha' must be at least 0, got -0.5"});
  expect_error<loom::ConfigError>([&] { build("{eps: 0}"); },
                                  {"'eps' must be greater than 0, got 0"});
  expect_error<loom::ConfigError>([&] { build("{momentum: -0.9}"); },
                                  {"'momentum' must be at least 0"});
  expect_error<loom::ConfigError>([&] { build("{lr: -1}"); }, {"'lr' must be at least 0, got -1"});
  expect_error<loom::ConfigError>([&] { build("{centered: sometimes}"); }, {"sometimes"});
  expect_error<loom::ConfigError>([&] { build("{clip: -1}"); }, {"'clip' must be at least 0"});
}

BOOST_AUTO_TEST_CASE(no_decay_skips_matching_parameters) {
  suite::no_decay_skips_matching_parameters(registry, "rmsprop");
}

BOOST_AUTO_TEST_SUITE_END()
