// optimizers/adam through the real loader: PyTorch's steps (tests/fixtures/optimizers/
// adam.json), steps worked by hand, what every optimizer shares (optimizer_suite.hpp), its
// parameters and their errors.
#define BOOST_TEST_MODULE adam
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

BOOST_FIXTURE_TEST_SUITE(adam, Loaded)

BOOST_AUTO_TEST_CASE(matches_pytorch) { suite::matches_reference(registry, "adam"); }

// With a constant gradient the bias-corrected moments are g and g^2 at every step, so each
// step moves w by lr g / (|g| + eps): lr against the sign of g when eps is small.
BOOST_AUTO_TEST_CASE(steps_by_hand) {
  suite::steps_by_hand(
      registry, "adam",
      {
          {"{lr: 0.1}", {1, 2, -1}, {{0.5f, -2, 1e-3f}}, {0.9f, 2.1f, -1.1f}},
          {"{lr: 0.1}",
           {1, 2, -1},
           {{0.5f, -2, 1}, {0.5f, -2, 1}, {0.5f, -2, 1}},
           {0.7f, 2.3f, -1.3f}},
          // eps after the bias correction: 0.1 * 0.5 / (0.5 + 0.5), 0.1 * 2 / 2.5, 0.1 * 0.5 / 1
          {"{lr: 0.1, eps: 0.5}", {1, 2, -1}, {{0.5f, -2, 0.5f}}, {0.95f, 2.08f, -1.05f}},
          // L2 through the gradient: g + w = [1.5, 0, -0.999]; a zero gradient does not move w
          {"{lr: 0.1, weight_decay: 1}", {1, 2, -1}, {{0.5f, -2, 1e-3f}}, {0.9f, 2.0f, -0.9f}},
          // AMSGrad divides by the largest v: after g = 2 then g = 0 (beta2 0.5), v_max stays
          // 0.5 * 4 = 2 while v = 1; step 2 is 0.1 * m_hat / (sqrt(2 / 0.75) + eps) with
          // m_hat = 0.9 * 0.2 / 0.19 = 0.947368: 0.058013, after the first step's 0.1.
          {"{lr: 0.1, beta2: 0.5, amsgrad: true}", {1}, {{2}, {0}}, {0.841987f}},
      });
}

BOOST_AUTO_TEST_CASE(shared_behaviour) {
  for (const char* yaml : {"{}", "{lr: 0.01, weight_decay: 0.1, amsgrad: true}"})
    suite::shared_behaviour(registry, "adam", yaml);
}

BOOST_AUTO_TEST_CASE(parameters_are_pytorchs) {
  suite::has_params(registry, "adam",
                    {{"lr", "0.001"},
                     {"beta1", "0.9"},
                     {"beta2", "0.999"},
                     {"eps", "1e-8"},
                     {"amsgrad", "false"},
                     {"weight_decay", "0"},
                     {"no_decay", ""},
                     {"clip", "0"}});
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  auto build = [&](const char* yaml) { suite::Built b(registry, "adam", yaml); };
  expect_error<loom::ConfigError>([&] { build("{beta1: 1}"); },
                                  {"component 'opt' (adam)", "'beta1' must be below 1, got 1"});
  expect_error<loom::ConfigError>([&] { build("{beta2: 1.5}"); },
                                  {"'beta2' must be below 1, got 1.5"});
  expect_error<loom::ConfigError>([&] { build("{beta1: -0.1}"); },
                                  {"'beta1' must be at least 0, got -0.1"});
  expect_error<loom::ConfigError>([&] { build("{eps: 0}"); },
                                  {"'eps' must be greater than 0, got 0"});
  expect_error<loom::ConfigError>([&] { build("{lr: -1}"); }, {"'lr' must be at least 0, got -1"});
  expect_error<loom::ConfigError>([&] { build("{weight_decay: -0.1}"); },
                                  {"'weight_decay' must be at least 0"});
  expect_error<loom::ConfigError>([&] { build("{clip: -1}"); }, {"'clip' must be at least 0"});
  expect_error<loom::ConfigError>([&] { build("{amsgrad: maybe}"); }, {"maybe"});
  expect_error<loom::ConfigError>([&] { build("{betas: 0.9}"); }, {"'betas'", "did you mean"});
}

BOOST_AUTO_TEST_CASE(no_decay_skips_matching_parameters) {
  suite::no_decay_skips_matching_parameters(registry, "adam");
}

BOOST_AUTO_TEST_SUITE_END()
