// optimizers/sgd through the real loader: PyTorch's update rule worked by hand (learning
// rate, weight decay, momentum) and against PyTorch's steps (tests/fixtures/optimizers/
// sgd.json), gradient-norm clipping, frozen parameters, minimising a convex quadratic, what
// every optimizer shares (optimizer_suite.hpp).
#define BOOST_TEST_MODULE sgd
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "loom/checkpoint.hpp"
#include "loom/errors.hpp"
#include "loom/parameters.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"
#include "loom/testing/boost_checks.hpp"
#include "optimizer_suite.hpp"

using loom::testing::expect_error;

namespace {

namespace contracts = loom::testing::contracts;
using Values = std::vector<float>;
namespace tt = boost::test_tools;

struct Loaded {
  Loaded() { registry.load_library(LOOM_TEST_PLUGIN_FILE); }
  loom::Registry registry;
};

struct Sgd {
  Sgd(const loom::Registry& registry, const std::string& yaml) : env(registry) {
    env.add("opt", "sgd", yaml);
    opt = &env.get<loom::Optimizer>("opt");
  }
  loom::testing::Env env;
  loom::Optimizer* opt;
};

// Parameters named and sized as given, values set by hand after finalize.
struct Params {
  explicit Params(const std::vector<std::pair<std::string, Values>>& start) {
    for (const auto& [name, v] : start)
      ptrs.push_back(params.add(name, loom::Shape{static_cast<std::int64_t>(v.size())}, loom::Init::zeros()));
    params.finalize(1);
    for (std::size_t i = 0; i < start.size(); ++i) set(ptrs[i]->value, start[i].second);
  }
  static void set(loom::Tensor& t, const Values& v) { std::copy(v.begin(), v.end(), t.data()); }
  static Values get(const loom::Tensor& t) { return Values(t.data(), t.data() + t.numel()); }
  void set_grads(const std::vector<Values>& grads) {
    params.zero_grad();
    for (std::size_t i = 0; i < grads.size(); ++i) set(ptrs[i]->grad, grads[i]);
  }
  loom::Parameters params;
  std::vector<loom::Parameter*> ptrs;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(sgd, Loaded)

// Steps on w = [1, 2, 3] with gradients g1 = [0.5, -1, 2] then g2 = [1, 1, 1], by hand:
//   g <- g + wd w;  buf <- g (first step) or m buf + g;  w <- w - lr buf.
BOOST_AUTO_TEST_CASE(update_rule_by_hand) {
  struct Case {
    const char* yaml;
    std::vector<Values> grads;  // one per step
    Values expected;            // w after the last step
  };
  const Values g1 = {0.5f, -1.0f, 2.0f}, g2 = {1.0f, 1.0f, 1.0f};
  const std::vector<Case> cases = {
      // w - 0.1 g1
      {"{lr: 0.1}", {g1}, {0.95f, 2.1f, 2.8f}},
      {"{lr: 1}", {g1}, {0.5f, 3.0f, 1.0f}},
      {"{lr: 0.1}", {g1, g2}, {0.85f, 2.0f, 2.7f}},
      // g1 + 0.1 w = [0.6, -0.8, 2.3]
      {"{lr: 0.1, weight_decay: 0.1}", {g1}, {0.94f, 2.08f, 2.77f}},
      // buf = g1, w1 = [0.95, 2.1, 2.8]; buf = 0.9 g1 + g2 = [1.45, 0.1, 2.8]; w2 = w1 - 0.1 buf
      {"{lr: 0.1, momentum: 0.9}", {g1, g2}, {0.805f, 2.09f, 2.52f}},
      // The first step of momentum is plain SGD (buf = g, not (1 - m) g or m 0 + g scaled).
      {"{lr: 0.1, momentum: 0.9}", {g1}, {0.95f, 2.1f, 2.8f}},
      // w1 = [0.94, 2.08, 2.77] (buf = [0.6, -0.8, 2.3]); g2 + 0.1 w1 = [1.094, 1.208, 1.277];
      // buf = 0.5 [0.6, -0.8, 2.3] + that = [1.394, 0.808, 2.427]; w2 = w1 - 0.1 buf
      {"{lr: 0.1, momentum: 0.5, weight_decay: 0.1}", {g1, g2}, {0.8006f, 1.9992f, 2.5273f}},
      // Three steps of momentum 0.5, lr 1, gradient [1, 0, 0]: buf 1, 1.5, 1.75 -> 1 - 4.25
      {"{lr: 1, momentum: 0.5}", {{1, 0, 0}, {1, 0, 0}, {1, 0, 0}}, {-3.25f, 2.0f, 3.0f}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml << ", " << c.grads.size() << " step(s)") {
      Sgd sgd(registry, c.yaml);
      Params p({{"w", {1.0f, 2.0f, 3.0f}}});
      for (const auto& g : c.grads) {
        p.set_grads({g});
        sgd.opt->step(p.params);
      }
      BOOST_TEST(Params::get(p.ptrs[0]->value) == c.expected, tt::tolerance(1e-5f) << tt::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(learning_rate_can_be_changed) {
  Sgd sgd(registry, "{lr: 0.5}");
  BOOST_TEST(sgd.opt->learning_rate() == 0.5);
  sgd.opt->set_learning_rate(0.25);
  BOOST_TEST(sgd.opt->learning_rate() == 0.25);
  Params p({{"w", {1.0f}}});
  p.set_grads({{2.0f}});
  sgd.opt->step(p.params);
  BOOST_TEST(p.ptrs[0]->value.data()[0] == 0.5f, tt::tolerance(1e-6f));
  Sgd defaults(registry, "{}");
  BOOST_TEST(defaults.opt->learning_rate() == 0.1);
}

// clip scales all gradients together so that their norm is `clip`; step returns the norm
// before clipping. Gradients [3, 0] and [4] have the global norm 5 (not per parameter).
BOOST_AUTO_TEST_CASE(clipping_scales_the_global_norm) {
  struct Case {
    const char* yaml;
    double norm;
    Values a, b;  // values after one step from a = [1, 1], b = [1]
  };
  const std::vector<Case> cases = {
      // 5 > 1: gradients become [0.6, 0], [0.8]
      {"{lr: 1, clip: 1}", 5.0, {0.4f, 1.0f}, {0.2f}},
      {"{lr: 0.5, clip: 2.5}", 5.0, {0.25f, 1.0f}, {0.0f}},
      // Under the bound: untouched.
      {"{lr: 1, clip: 10}", 5.0, {-2.0f, 1.0f}, {-3.0f}},
      {"{lr: 1, clip: 0}", 5.0, {-2.0f, 1.0f}, {-3.0f}},
      {"{lr: 1}", 5.0, {-2.0f, 1.0f}, {-3.0f}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.yaml) {
      Sgd sgd(registry, c.yaml);
      Params p({{"a", {1.0f, 1.0f}}, {"b", {1.0f}}});
      p.set_grads({{3.0f, 0.0f}, {4.0f}});
      BOOST_TEST(sgd.opt->step(p.params) == c.norm, tt::tolerance(1e-6));
      BOOST_TEST(Params::get(p.ptrs[0]->value) == c.a, tt::tolerance(1e-5f) << tt::per_element());
      BOOST_TEST(Params::get(p.ptrs[1]->value) == c.b, tt::tolerance(1e-5f) << tt::per_element());
    }
  }
  // After clipping, the gradient norm is the bound.
  Sgd sgd(registry, "{lr: 1, clip: 1}");
  Params p({{"a", {1.0f, 1.0f}}, {"b", {1.0f}}});
  p.set_grads({{3.0f, 0.0f}, {4.0f}});
  sgd.opt->step(p.params);
  BOOST_TEST(p.params.grad_norm() == 1.0, tt::tolerance(1e-5));
}

// Clipping comes before momentum: the buffer holds clipped gradients.
BOOST_AUTO_TEST_CASE(clipping_with_momentum) {
  Sgd sgd(registry, "{lr: 1, momentum: 0.5, clip: 1}");
  Params p({{"w", {0.0f, 0.0f}}});
  p.set_grads({{3.0f, 4.0f}});                           // norm 5 -> [0.6, 0.8]
  BOOST_TEST(sgd.opt->step(p.params) == 5.0, tt::tolerance(1e-6));
  p.set_grads({{0.0f, 0.5f}});                           // norm 0.5: not clipped
  BOOST_TEST(sgd.opt->step(p.params) == 0.5, tt::tolerance(1e-6));
  // buf = [0.6, 0.8], then 0.5 buf + [0, 0.5] = [0.3, 0.9]; w = -[0.6, 0.8] - [0.3, 0.9]
  BOOST_TEST(Params::get(p.ptrs[0]->value) == (Values{-0.9f, -1.7f}), tt::tolerance(1e-5f) << tt::per_element());
}

BOOST_AUTO_TEST_CASE(frozen_parameters_are_not_updated) {
  for (const char* yaml : {"{lr: 0.1}", "{lr: 0.1, momentum: 0.9, weight_decay: 0.5}"}) {
    BOOST_TEST_CONTEXT(yaml) {
      Sgd sgd(registry, yaml);
      Params p({{"enc.w", {1.0f, 2.0f}}, {"dec.w", {1.0f, 2.0f}}, {"dec.b", {3.0f}}});
      BOOST_TEST(p.params.freeze("enc.*") == 1);
      BOOST_TEST(!p.params[0].trainable);
      for (int step = 0; step < 2; ++step) {
        p.set_grads({{1.0f, 1.0f}, {1.0f, 1.0f}, {1.0f}});
        sgd.opt->step(p.params);
      }
      BOOST_TEST(Params::get(p.ptrs[0]->value) == (Values{1.0f, 2.0f}), tt::per_element());
      BOOST_TEST(p.ptrs[1]->value.data()[0] < 1.0f);
      BOOST_TEST(p.ptrs[2]->value.data()[0] < 3.0f);
    }
  }
  // Momentum buffers stay with their parameters when an earlier one is frozen:
  // dec.w takes the two momentum steps of the hand case (buf 1, then 0.9 + 1 = 1.9).
  Sgd sgd(registry, "{lr: 0.1, momentum: 0.9}");
  Params p({{"enc.w", {5.0f}}, {"dec.w", {1.0f}}});
  p.params.freeze("enc.w");
  p.set_grads({{7.0f}, {1.0f}});
  sgd.opt->step(p.params);
  p.set_grads({{7.0f}, {1.0f}});
  sgd.opt->step(p.params);
  BOOST_TEST(p.ptrs[0]->value.data()[0] == 5.0f);
  BOOST_TEST(p.ptrs[1]->value.data()[0] == 1.0f - 0.1f - 0.19f, tt::tolerance(1e-6f));
}

// f(x) = |x - c|^2 with the gradient 2 (x - c) set by hand: 200 steps end close to c.
BOOST_AUTO_TEST_CASE(minimises_a_convex_quadratic) {
  const Values c = {1.0f, -2.0f, 3.0f, 0.5f, -1.5f};
  for (const char* yaml : {"{lr: 0.1}", "{lr: 0.1, momentum: 0.5}", "{lr: 0.1, clip: 1}"}) {
    BOOST_TEST_CONTEXT(yaml) {
      Sgd sgd(registry, yaml);
      Params p({{"x", Values(5, 0.0f)}});
      for (int step = 0; step < 200; ++step) {
        Values g(5);
        for (int i = 0; i < 5; ++i) g[static_cast<std::size_t>(i)] = 2.0f * (p.ptrs[0]->value.data()[i] - c[static_cast<std::size_t>(i)]);
        p.set_grads({g});
        sgd.opt->step(p.params);
      }
      BOOST_TEST(Params::get(p.ptrs[0]->value) == c, tt::tolerance(1e-4f) << tt::per_element());
    }
  }
  for (const char* yaml : {"{}", "{momentum: 0.9}", "{clip: 0.5}", "{weight_decay: 0.001}"}) {
    BOOST_TEST_CONTEXT("contract " << yaml) {
      Sgd sgd(registry, yaml);
      auto failures = contracts::optimizer_minimises_quadratic(*sgd.opt, 200, 100.0);
      BOOST_TEST(failures.empty(), contracts::join(failures));
    }
  }
}

BOOST_AUTO_TEST_CASE(parameter_errors) {
  expect_error<loom::ConfigError>([&] { Sgd s(registry, "{lr: -1}"); }, {"'lr' must be at least 0, got -1"});
  expect_error<loom::ConfigError>([&] { Sgd s(registry, "{clip: -0.5}"); }, {"'clip' must be at least 0"});
  expect_error<loom::ConfigError>([&] { Sgd s(registry, "{momentm: 0.9}"); }, {"did you mean 'momentum'"});
  expect_error<loom::ConfigError>([&] { Sgd s(registry, "{lr: fast}"); }, {"fast"});
}

BOOST_AUTO_TEST_CASE(matches_pytorch) { optimizer_suite::matches_reference(registry, "sgd"); }

BOOST_AUTO_TEST_CASE(shared_behaviour) {
  for (const char* yaml : {"{}", "{momentum: 0.9, weight_decay: 0.1}"})
    optimizer_suite::shared_behaviour(registry, "sgd", yaml);
}

BOOST_AUTO_TEST_CASE(parameters) {
  optimizer_suite::has_params(registry, "sgd", {{"lr", "0.1"}, {"momentum", "0"}, {"weight_decay", "0"}, {"no_decay", ""},
                     {"clip", "0"}});
}

BOOST_AUTO_TEST_CASE(no_decay_skips_matching_parameters) {
  optimizer_suite::no_decay_skips_matching_parameters(registry, "sgd");
}

BOOST_AUTO_TEST_SUITE_END()
