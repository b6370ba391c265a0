// optimizers/adamw through the real loader: PyTorch's steps (tests/fixtures/optimizers/
// adamw.json), steps worked by hand, what every optimizer shares (optimizer_suite.hpp), its
// parameters and their errors.
#define BOOST_TEST_MODULE adamw
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

BOOST_FIXTURE_TEST_SUITE(adamw, Loaded)

BOOST_AUTO_TEST_CASE(matches_pytorch) { suite::matches_reference(registry, "adamw"); }

// Each step first scales w by 1 - lr weight_decay, then takes Adam's step, which is lr
// against the sign of a constant gradient (see the adam suite).
BOOST_AUTO_TEST_CASE(steps_by_hand) {
  suite::steps_by_hand(
      registry, "adamw",
      {
          // the default weight_decay 0.01: w 0.999 - 0.1 sign(g)
          {"{lr: 0.1}", {1, 2, -1}, {{0.5f, -2, 1e-3f}}, {0.899f, 2.098f, -1.099f}},
          {"{lr: 0.1, weight_decay: 0}",
           {1, 2, -1},
           {{0.5f, -2, 1}, {0.5f, -2, 1}},
           {0.8f, 2.2f, -1.2f}},
          // a zero gradient: only the decay, (1 - 0.5 * 1) per step
          {"{lr: 0.5, weight_decay: 1}", {1, 2, -1}, {{0, 0, 0}, {0, 0, 0}}, {0.25f, 0.5f, -0.25f}},
          // the decay does not enter the moments: w (1 - 0.2) - 0.2 sign(g)
          {"{lr: 0.2, weight_decay: 1}", {1, 2, -1}, {{0.5f, -2, 1}}, {0.6f, 1.8f, -1.0f}},
      });
}

BOOST_AUTO_TEST_CASE(shared_behaviour) {
  for (const char* yaml : {"{}", "{lr: 0.01, weight_decay: 0.1, amsgrad: true}"})
    suite::shared_behaviour(registry, "adamw", yaml);
}

BOOST_AUTO_TEST_CASE(parameters_are_pytorchs) {
  suite::has_params(registry, "adamw",
                    {{"lr", "0.001"},
                     {"beta1", "0.9"},
                     {"beta2", "0.999"},
                     {"eps", "1e-8"},
                     {"amsgrad", "false"},
                     {"weight_decay", "0.01"},
                     {"no_decay", ""},
                     {"clip", "0"}});
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  auto build = [&](const char* yaml) { suite::Built b(registry, "adamw", yaml); };
  expect_error<loom::ConfigError>([&] { build("{beta1: 1}"); },
                                  {"component 'opt' (adamw)", "'beta1' must be below 1, got 1"});
  expect_error<loom::ConfigError>([&] { build("{beta2: 2}"); }, {"'beta2' must be below 1, got 2"});
  expect_error<loom::ConfigError>([&] { build("{eps: 0}"); },
                                  {"'eps' must be greater than 0, got 0"});
  expect_error<loom::ConfigError>([&] { build("{weight_decay: -0.01}"); },
                                  {"'weight_decay' must be at least 0"});
  expect_error<loom::ConfigError>([&] { build("{lr: -1}"); }, {"'lr' must be at least 0, got -1"});
  expect_error<loom::ConfigError>([&] { build("{clip: -1}"); }, {"'clip' must be at least 0"});
}

BOOST_AUTO_TEST_CASE(no_decay_skips_matching_parameters) {
  suite::no_decay_skips_matching_parameters(registry, "adamw");
}

BOOST_AUTO_TEST_SUITE_END()
