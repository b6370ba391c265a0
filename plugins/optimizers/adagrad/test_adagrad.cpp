// optimizers/adagrad through the real loader: PyTorch's steps (tests/fixtures/optimizers/
// adagrad.json), steps worked by hand, what every optimizer shares (optimizer_suite.hpp), its
// parameters and their errors.
#define BOOST_TEST_MODULE adagrad
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

BOOST_FIXTURE_TEST_SUITE(adagrad, Loaded)

BOOST_AUTO_TEST_CASE(matches_pytorch) { suite::matches_reference(registry, "adagrad"); }

// With a constant gradient g the sum after t steps is t g^2, so step t moves w by
// lr_t / sqrt(t) against the sign of g, lr_t = lr / (1 + (t - 1) lr_decay).
BOOST_AUTO_TEST_CASE(steps_by_hand) {
  suite::steps_by_hand(
      registry, "adagrad",
      {
          {"{lr: 0.1}", {1, 2, -1}, {{0.5f, -2, 1}}, {0.9f, 2.1f, -1.1f}},
          // 0.1 + 0.1 / sqrt 2
          {"{lr: 0.1}",
           {1, 2, -1},
           {{0.5f, -2, 1}, {0.5f, -2, 1}},
           {0.829289f, 2.170711f, -1.170711f}},
          // 0.1 + 0.05 / sqrt 2
          {"{lr: 0.1, lr_decay: 1}",
           {1, 2, -1},
           {{0.5f, -2, 1}, {0.5f, -2, 1}},
           {0.864645f, 2.135355f, -1.135355f}},
          // sum = 0.75 + g^2: 0.1 * 0.5 / 1, 0.1 * 2 / sqrt 4.75, 0.1 / sqrt 1.75
          {"{lr: 0.1, initial_accumulator_value: 0.75}",
           {1, 2, -1},
           {{0.5f, -2, 1}},
           {0.95f, 2.0917663f, -1.0755929f}},
          // g + w = [1.5, 0, 0]: a zero gradient does not move w (0 / (0 + eps))
          {"{lr: 0.1, weight_decay: 1}", {1, 2, -1}, {{0.5f, -2, 1}}, {0.9f, 2.0f, -1.0f}},
          // eps in the denominator: 0.1 * 0.5 / (0.5 + 0.5)
          {"{lr: 0.1, eps: 0.5}", {1}, {{0.5f}}, {0.95f}},
      });
}

BOOST_AUTO_TEST_CASE(shared_behaviour) {
  for (const char* yaml :
       {"{}", "{lr: 0.1, lr_decay: 0.1, weight_decay: 0.1, initial_accumulator_value: 0.1}"})
    suite::shared_behaviour(registry, "adagrad", yaml);
}

BOOST_AUTO_TEST_CASE(parameters_are_pytorchs) {
  suite::has_params(registry, "adagrad",
                    {{"lr", "0.01"},
                     {"lr_decay", "0"},
                     {"initial_accumulator_value", "0"},
                     {"eps", "1e-10"},
                     {"weight_decay", "0"},
                     {"no_decay", ""},
                     {"clip", "0"}});
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  auto build = [&](const char* yaml) { suite::Built b(registry, "adagrad", yaml); };
  expect_error<loom::ConfigError>([&] { build("{lr_decay: -1}"); },
                                  {"'lr_decay' must be at least 0, got -1"});
  expect_error<loom::ConfigError>([&] { build("{initial_accumulator_value: -0.5}"); },
                                  {"'initial_accumulator_value' must be at least 0, got -0.5"});
  expect_error<loom::ConfigError>(
      [&] { build("{eps: 0}"); },
      {"component 'opt' (adagrad)", "'eps' must be greater than 0, got 0"});
  expect_error<loom::ConfigError>([&] { build("{lr: -1}"); }, {"'lr' must be at least 0, got -1"});
  expect_error<loom::ConfigError>([&] { build("{weight_decay: -1}"); },
                                  {"'weight_decay' must be at least 0"});
  expect_error<loom::ConfigError>([&] { build("{clip: -1}"); }, {"'clip' must be at least 0"});
}

BOOST_AUTO_TEST_CASE(no_decay_skips_matching_parameters) {
  suite::no_decay_skips_matching_parameters(registry, "adagrad");
}

BOOST_AUTO_TEST_SUITE_END()
