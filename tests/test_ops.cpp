#define BOOST_TEST_MODULE ops
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "loom/nn.hpp"
#include "loom/ops.hpp"
#include "loom/parallel.hpp"
#include "loom/random.hpp"
#include "loom/errors.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/gradcheck.hpp"

using loom::CellType;
using loom::Expr;
using loom::Graph;
using loom::Shape;
using loom::Tensor;
using loom::Transpose;
using loom::testing::expect_error;

namespace {

Tensor random_tensor(const Shape& s, std::uint64_t key, float scale = 1.0f) {
  Tensor t = Tensor::empty(s);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = (2.0f * loom::random_uniform(key, static_cast<std::uint64_t>(i)) - 1.0f) * scale;
  return t;
}

Tensor ids(const Shape& s, std::initializer_list<std::int32_t> v) { return Tensor::from_ids(s, v); }

// A scalar that weights every output value differently, so that every output's gradient is
// tested (a plain sum would hide mistakes that cancel).
Expr weighted_sum(const Expr& y) {
  Graph& g = y.graph();
  Tensor w = random_tensor(y.shape(), 999, 1.0f);
  return loom::sum(loom::mul(y, g.constant(w)));
}

struct OpCase {
  std::string name;
  std::vector<Tensor> inputs;
  std::function<Expr(Graph&, const std::vector<Expr>&)> f;
  double tolerance = 2e-2;
};

std::ostream& operator<<(std::ostream& os, const OpCase& c) { return os << c.name; }

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  auto r = [](Shape s, std::uint64_t k, float scale = 1.0f) { return random_tensor(s, k, scale); };
  c.push_back({"add", {r({3, 4}, 1), r({3, 4}, 2)}, [](Graph&, auto& x) { return weighted_sum(loom::add(x[0], x[1])); }});
  c.push_back({"sub", {r({3, 4}, 1), r({3, 4}, 2)}, [](Graph&, auto& x) { return weighted_sum(loom::sub(x[0], x[1])); }});
  c.push_back({"mul", {r({3, 4}, 1), r({3, 4}, 2)}, [](Graph&, auto& x) { return weighted_sum(loom::mul(x[0], x[1])); }});
  c.push_back({"scale", {r({5}, 3)}, [](Graph&, auto& x) { return weighted_sum(loom::scale(x[0], -2.5f)); }});
  c.push_back({"sigmoid", {r({2, 5}, 4, 3.0f)}, [](Graph&, auto& x) { return weighted_sum(loom::sigmoid(x[0])); }});
  c.push_back({"tanh", {r({2, 5}, 5, 2.0f)}, [](Graph&, auto& x) { return weighted_sum(loom::tanh(x[0])); }});
    // Values kept away from the kink at 0, where finite differences are meaningless.
  c.push_back({"relu", {Tensor::from(Shape{2, 3}, {-0.7f, 0.4f, 0.9f, -0.2f, 0.3f, -1.1f})}, [](Graph&, auto& x) { return weighted_sum(loom::relu(x[0])); }});
  c.push_back({"dropout", {r({4, 6}, 7)}, [](Graph&, auto& x) { return weighted_sum(loom::dropout(x[0], 0.3f)); }});
  c.push_back({"apply_mask", {r({2, 3}, 8)}, [](Graph&, auto& x) {
                 return weighted_sum(loom::apply_mask(x[0], Tensor::from(Shape{2, 3}, {1, 0, 1, 1, 1, 0})));
               }});
  c.push_back({"add_bias", {r({3, 4}, 9), r({4}, 10)}, [](Graph&, auto& x) { return weighted_sum(loom::add_bias(x[0], x[1])); }});
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Shape sa = ta ? Shape{4, 3} : Shape{3, 4};
      Shape sb = tb ? Shape{5, 4} : Shape{4, 5};
      c.push_back({"matmul" + std::string(ta ? "_at" : "") + (tb ? "_bt" : ""), {r(sa, 11), r(sb, 12)},
                   [ta, tb](Graph&, auto& x) {
                     return weighted_sum(loom::matmul(x[0], x[1], ta ? Transpose::kYes : Transpose::kNo,
                                                      tb ? Transpose::kYes : Transpose::kNo));
                   }});
    }
  c.push_back({"linear", {r({2, 3, 4}, 13), r({5, 4}, 14), r({5}, 15)},
               [](Graph&, auto& x) { return weighted_sum(loom::linear(x[0], x[1], x[2])); }});
  c.push_back({"linear_no_bias", {r({3, 4}, 13), r({5, 4}, 14)},
               [](Graph&, auto& x) { return weighted_sum(loom::linear(x[0], x[1], Expr())); }});
  c.push_back({"embedding", {r({6, 3}, 16), ids({2, 3}, {0, 5, 2, 5, 5, 1})},
               [](Graph&, auto& x) { return weighted_sum(loom::embedding(x[0], x[1].value())); }});
  c.push_back({"reshape", {r({2, 6}, 17)}, [](Graph&, auto& x) { return weighted_sum(loom::reshape(x[0], Shape{3, 2, 2})); }});
  c.push_back({"transpose", {r({2, 5}, 18)}, [](Graph&, auto& x) { return weighted_sum(loom::transpose(x[0])); }});
  for (int axis = 0; axis < 3; ++axis)
    c.push_back({"concat_axis" + std::to_string(axis), {r({2, 3, 2}, 19), r({2, 3, 2}, 20)},
                 [axis](Graph&, auto& x) { return weighted_sum(loom::concat({x[0], x[1], x[0]}, axis)); }});
  c.push_back({"slice_axis1", {r({3, 5, 2}, 21)}, [](Graph&, auto& x) { return weighted_sum(loom::slice(x[0], 1, 1, 4)); }});
  c.push_back({"split", {r({2, 7}, 22)}, [](Graph&, auto& x) {
                 auto parts = loom::split(x[0], 1, {2, 4, 1});
                 return loom::add(weighted_sum(parts[0]), loom::add(weighted_sum(parts[1]), weighted_sum(parts[2])));
               }});
  c.push_back({"sum", {r({3, 3}, 23)}, [](Graph&, auto& x) { return loom::sum(loom::mul(x[0], x[0])); }});
  c.push_back({"mean", {r({3, 3}, 24)}, [](Graph&, auto& x) { return loom::mean(loom::mul(x[0], x[0])); }});
  c.push_back({"log_softmax_nll", {r({4, 7}, 25, 3.0f), ids({4}, {3, -1, 0, 6})},
               [](Graph&, auto& x) { return loom::log_softmax_nll(x[0], x[1].value(), -1); }});
  c.push_back({"linear_log_softmax_nll", {r({5, 3}, 26), r({7, 3}, 27), r({7}, 28), ids({5}, {6, 2, -1, 0, 2})},
               [](Graph&, auto& x) { return loom::linear_log_softmax_nll(x[0], x[1], x[2], x[3].value(), -1); }});
  c.push_back({"linear_log_softmax_nll_no_bias", {r({5, 3}, 26), r({7, 3}, 27), ids({5}, {6, 2, -1, 0, 2})},
               [](Graph&, auto& x) { return loom::linear_log_softmax_nll(x[0], x[1], Expr(), x[2].value(), -1); }});
  // The fused loss scaled afterwards: its backward must honour an upstream gradient != 1.
  c.push_back({"linear_log_softmax_nll_scaled", {r({4, 3}, 29), r({6, 3}, 30), r({6}, 31), ids({4}, {1, 5, 0, 3})},
               [](Graph&, auto& x) { return loom::scale(loom::linear_log_softmax_nll(x[0], x[1], x[2], x[3].value()), 3.0f); }});
  c.push_back({"log_softmax_nll_smoothed", {r({4, 7}, 25, 3.0f), ids({4}, {3, -1, 0, 6})},
               [](Graph&, auto& x) { return loom::log_softmax_nll(x[0], x[1].value(), -1, nullptr, 0.2f); }});
  c.push_back({"linear_log_softmax_nll_smoothed", {r({5, 3}, 26), r({7, 3}, 27), r({7}, 28), ids({5}, {6, 2, -1, 0, 2})},
               [](Graph&, auto& x) { return loom::linear_log_softmax_nll(x[0], x[1], x[2], x[3].value(), -1, nullptr, 0.1f); }});
  const Tensor lengths = Tensor::from_ids(Shape{3}, {4, 2, 1});
  c.push_back({"reverse_sequences", {r({4, 3, 2}, 60)},
               [lengths](Graph&, auto& x) { return weighted_sum(loom::reverse_sequences(x[0], lengths)); }});
  c.push_back({"masked_mean_time", {r({4, 3, 2}, 61)},
               [lengths](Graph&, auto& x) { return weighted_sum(loom::masked_mean_time(x[0], lengths)); }});
  c.push_back({"masked_max_time", {r({4, 3, 2}, 62)},
               [lengths](Graph&, auto& x) { return weighted_sum(loom::masked_max_time(x[0], lengths)); }});
  for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnnTanh, CellType::kRnnRelu}) {
    const std::int64_t T = 3, B = 2, H = 3, G = loom::gate_count(cell);
    std::string name = std::string("recurrent_") + loom::nn::cell_name(cell);
    bool lstm = cell == CellType::kLstm;
    c.push_back({name, {r({T, B, G * H}, 32), r({G * H, H}, 33, 0.6f), r({G * H}, 34), r({B, H}, 35), r({B, H}, 36)},
                 [cell, lstm](Graph&, auto& x) {
                   auto out = loom::recurrent_layer(cell, x[0], x[1], x[2], x[3], lstm ? x[4] : Expr());
                   Expr s = loom::add(weighted_sum(out.outputs), loom::scale(weighted_sum(out.h_last), 0.5f));
                   if (lstm) s = loom::add(s, weighted_sum(out.c_last));
                   return s;
                 }});
    // Padded steps (lengths 4 and 2 of T = 4; column 1 padded at steps 2 and 3): the
    // gradient passes through them to the real steps.
    const Tensor mask = Tensor::from(Shape{4, 2}, {1, 1, 1, 1, 1, 0, 1, 0});
    c.push_back({name + "_masked", {r({4, B, G * H}, 57), r({G * H, H}, 38, 0.6f), r({G * H}, 39), r({B, H}, 40), r({B, H}, 41)},
                 [cell, lstm, mask](Graph&, auto& x) {
                   auto out = loom::recurrent_layer(cell, x[0], x[1], x[2], x[3], lstm ? x[4] : Expr(), mask);
                   Expr s = loom::add(weighted_sum(out.outputs), loom::scale(weighted_sum(out.h_last), 0.5f));
                   if (lstm) s = loom::add(s, weighted_sum(out.c_last));
                   return s;
                 }});
  }
  // ---- attention ops
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Shape sa = ta ? Shape{2, 3, 4, 3} : Shape{2, 3, 3, 4};
      Shape sb = tb ? Shape{2, 3, 5, 4} : Shape{2, 3, 4, 5};
      c.push_back({"batched_matmul" + std::string(ta ? "_at" : "") + (tb ? "_bt" : ""), {r(sa, 70), r(sb, 71)},
                   [ta, tb](Graph&, auto& x) {
                     return weighted_sum(loom::batched_matmul(x[0], x[1], ta ? Transpose::kYes : Transpose::kNo,
                                                              tb ? Transpose::kYes : Transpose::kNo));
                   }});
    }
  c.push_back({"batched_matmul_rank3", {r({3, 2, 4}, 72), r({3, 4, 2}, 73)},
               [](Graph&, auto& x) { return weighted_sum(loom::batched_matmul(x[0], x[1])); }});
  for (auto axes : std::vector<std::pair<int, int>>{{0, 1}, {1, 2}, {0, 3}, {2, 3}})
    c.push_back({"swap_axes_" + std::to_string(axes.first) + std::to_string(axes.second), {r({2, 3, 4, 5}, 74)},
                 [axes](Graph&, auto& x) { return weighted_sum(loom::swap_axes(x[0], axes.first, axes.second)); }});
  // Axes of length 1 between: a reshape (no copy); the rows of a leading-axis slice: a view.
  c.push_back({"swap_axes_unit", {r({2, 1, 3, 4}, 91)}, [](Graph&, auto& x) { return weighted_sum(loom::swap_axes(x[0], 1, 2)); }});
  c.push_back({"slice_axis0_view", {r({5, 3}, 92)}, [](Graph&, auto& x) {
                 return loom::add(weighted_sum(loom::slice(x[0], 0, 1, 4)), weighted_sum(loom::slice(x[0], 0, 3, 5)));
               }});
  c.push_back({"swap_axes_rank3", {r({2, 3, 4}, 75)}, [](Graph&, auto& x) { return weighted_sum(loom::swap_axes(x[0], 0, 2)); }});
  c.push_back({"softmax", {r({3, 5}, 76, 2.0f)}, [](Graph&, auto& x) { return weighted_sum(loom::softmax(x[0])); }});
  c.push_back({"attention_softmax", {r({2, 2, 3, 3}, 77, 2.0f)},
               [](Graph&, auto& x) { return weighted_sum(loom::attention_softmax(x[0], 0.7f)); }});
  c.push_back({"attention_softmax_causal_padded", {r({2, 2, 3, 4}, 78, 2.0f)}, [](Graph&, auto& x) {
                 loom::AttentionMask mask{true, Tensor::from_ids(Shape{2}, {4, 2})};
                 return weighted_sum(loom::attention_softmax(x[0], 1.3f, mask));
               }});
  c.push_back({"attention_softmax_left_padded", {r({2, 2, 1, 5}, 90, 2.0f)}, [](Graph&, auto& x) {
                 loom::AttentionMask mask;
                 mask.key_starts = Tensor::from_ids(Shape{2}, {2, 0});
                 mask.key_lengths = Tensor::from_ids(Shape{2}, {5, 4});
                 return weighted_sum(loom::attention_softmax(x[0], 0.9f, mask));
               }});
  c.push_back({"add_relative_bias", {r({2, 2, 3, 4}, 79), r({2, 5}, 80)},
               [](Graph&, auto& x) { return weighted_sum(loom::attention_softmax(loom::add_relative_bias(x[0], x[1], 2), 1.0f)); }});
  c.push_back({"layer_norm", {r({3, 6}, 81, 2.0f), r({6}, 82), r({6}, 83)},
               [](Graph&, auto& x) { return weighted_sum(loom::layer_norm(x[0], x[1], x[2])); }});
  c.push_back({"layer_norm_plain", {r({2, 2, 5}, 84, 2.0f)},
               [](Graph&, auto& x) { return weighted_sum(loom::layer_norm(x[0], Expr(), Expr())); }});
  c.push_back({"gelu", {r({3, 5}, 85, 3.0f)}, [](Graph&, auto& x) { return weighted_sum(loom::gelu(x[0])); }});
  c.push_back({"add_positions", {r({3, 4, 2}, 86), r({4, 2}, 87)},
               [](Graph&, auto& x) { return weighted_sum(loom::add_positions(x[0], x[1])); }});
  c.push_back({"reweight_heads", {r({2, 3, 2, 2}, 89)}, [](Graph&, auto& x) { return weighted_sum(loom::reweight_heads(x[0])); }});
  c.push_back({"gather_rows", {r({4, 3}, 88)}, [](Graph&, auto& x) {
                 return weighted_sum(loom::gather_rows(x[0], Tensor::from_ids(Shape{5}, {2, 0, 2, 3, 2})));
               }});
  return c;
}

}  // namespace

// Every case twice more, with a second use of each float input: built after the op, whose
// backward then adds to gradients that already hold a contribution, and built before it, where
// the op writes (or hands over) new gradient buffers that later backward steps add to.
std::vector<OpCase> with_second_uses() {
  std::vector<OpCase> out;
  for (const OpCase& c : cases()) {
    for (bool after : {true, false}) {
      OpCase v = c;
      v.name += after ? "_used_again_after" : "_used_again_before";
      v.f = [f = c.f, after](Graph& g, const std::vector<Expr>& x) {
        Expr extra;
        auto add_extra = [&] {
          for (const Expr& e : x) {
            if (e.value().dtype() != loom::DType::kFloat32) continue;
            Expr term = weighted_sum(loom::scale(e, 0.25f));
            extra = extra.defined() ? loom::add(extra, term) : term;
          }
        };
        if (!after) add_extra();
        Expr y = f(g, x);
        if (after) add_extra();
        return loom::add(y, extra);
      };
      out.push_back(v);
    }
  }
  return out;
}

BOOST_DATA_TEST_CASE(finite_difference_gradients_with_second_uses, boost::unit_test::data::make(with_second_uses()), c) {
  auto result = loom::testing::check_gradients(c.f, c.inputs);
  BOOST_TEST(result.checked > 0);
  BOOST_TEST(result.ok(c.tolerance), c.name << ": worst error " << result.worst_error << " at " << result.worst_at);
}

// Backward frees each intermediate gradient once its node is done, keeps the leaves' (and a
// retained node's), and an input that takes over its consumer's gradient buffer (add, reshape)
// never shares it with a second input.
BOOST_AUTO_TEST_CASE(backward_frees_intermediate_gradients_and_never_shares_one_buffer) {
  Graph g(loom::Mode::kTrain, 1);
  Expr a = g.input(Tensor::from(Shape{2}, {1, 2}));
  Expr b = g.input(Tensor::from(Shape{2}, {3, 4}));
  Expr c = g.constant(Tensor::from(Shape{2}, {10, 20}));
  Expr before = loom::sum(loom::mul(a, c));   // reaches a after the add below
  Expr s = loom::add(a, b);                    // a takes the add's gradient buffer, b copies it
  Expr r = loom::reshape(s, Shape{1, 2});
  g.retain_grad(s);
  Expr loss = loom::add(loom::sum(loom::mul(r, loom::reshape(c, Shape{1, 2}))), before);
  g.backward(loss);
  // d/da = c + c, d/db = c
  BOOST_TEST(a.grad().data()[0] == 20.0f);
  BOOST_TEST(a.grad().data()[1] == 40.0f);
  BOOST_TEST(b.grad().data()[0] == 10.0f);
  BOOST_TEST(b.grad().data()[1] == 20.0f);
  BOOST_TEST(g.has_grad(s.id()));
  BOOST_TEST(s.grad().data()[1] == 20.0f);
  BOOST_TEST(!g.has_grad(r.id()));
  BOOST_TEST(!g.has_grad(loss.id()));
}

BOOST_DATA_TEST_CASE(finite_difference_gradients, boost::unit_test::data::make(cases()), c) {
  auto result = loom::testing::check_gradients(c.f, c.inputs);
  BOOST_TEST(result.checked > 0);
  // The gradients are not all tiny: a check of near-zero values would prove little.
  BOOST_TEST(result.largest > 0.05, c.name << ": the largest gradient is " << result.largest);
  BOOST_TEST(result.ok(c.tolerance), c.name << ": worst error " << result.worst_error << " at " << result.worst_at);
}

BOOST_AUTO_TEST_CASE(log_softmax_nll_values_by_hand) {
  // Row [0, ln 2, ln 3]: softmax = [1/6, 2/6, 3/6]; target 2 -> -log(1/2); target 0 -> log 6.
  Graph g(loom::Mode::kEval);
  Expr logits = g.constant(Tensor::from(Shape{3, 3}, {0, std::log(2.0f), std::log(3.0f),
                                                      0, std::log(2.0f), std::log(3.0f),
                                                      5, 5, 5}));
  loom::NllStats stats;
  Expr loss = loom::log_softmax_nll(logits, Tensor::from_ids(Shape{3}, {2, 0, -1}), -1, &stats);
  BOOST_TEST(stats.count == 2);
  BOOST_TEST(stats.loss_sum == std::log(2.0) + std::log(6.0), boost::test_tools::tolerance(1e-5));
  BOOST_TEST(loss.value().item() == (std::log(2.0) + std::log(6.0)) / 2, boost::test_tools::tolerance(1e-5));
}

// PyTorch's cross_entropy(label_smoothing=eps): (1 - eps) (-log p_t) + eps / V sum_c (-log p_c).
// Row [0, ln 2, ln 3], target 2, eps 0.3: -log p = [log 6, log 3, log 2], so the loss is
// 0.7 log 2 + 0.1 (log 6 + log 3 + log 2). The stats carry it and, beside it, the plain NLL.
BOOST_AUTO_TEST_CASE(label_smoothing_by_hand) {
  Graph g(loom::Mode::kEval);
  Expr logits = g.constant(Tensor::from(Shape{2, 3}, {0, std::log(2.0f), std::log(3.0f), 1, 1, 1}));
  loom::NllStats stats;
  Expr loss = loom::log_softmax_nll(logits, Tensor::from_ids(Shape{2}, {2, -1}), -1, &stats, 0.3f);
  const double expect = 0.7 * std::log(2.0) + 0.1 * (std::log(6.0) + std::log(3.0) + std::log(2.0));
  BOOST_TEST(stats.count == 1);
  BOOST_TEST(stats.nll_sum == std::log(2.0), boost::test_tools::tolerance(1e-6));
  BOOST_TEST(stats.loss_sum == expect, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(loss.value().item() == expect, boost::test_tools::tolerance(1e-5));
  // The fused output layer agrees (identity weights).
  Expr x = g.constant(Tensor::from(Shape{1, 3}, {0, std::log(2.0f), std::log(3.0f)}));
  Expr w = g.constant(Tensor::from(Shape{3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}));
  Expr fused = loom::linear_log_softmax_nll(x, w, Expr(), Tensor::from_ids(Shape{1}, {2}), -1, nullptr, 0.3f);
  BOOST_TEST(fused.value().item() == expect, boost::test_tools::tolerance(1e-5));
  expect_error<loom::AssertionError>([&] { loom::log_softmax_nll(logits, Tensor::from_ids(Shape{2}, {2, 0}), -1, nullptr, 1.0f); },
                                     {"label smoothing"});
}

BOOST_AUTO_TEST_CASE(fused_output_layer_matches_the_unfused_ops) {
  Graph g(loom::Mode::kEval);
  Tensor x = random_tensor(Shape{6, 4}, 40), w = random_tensor(Shape{9, 4}, 41), b = random_tensor(Shape{9}, 42);
  Tensor t = Tensor::from_ids(Shape{6}, {0, 8, 3, 3, -1, 5});
  loom::NllStats fused, plain;
  loom::linear_log_softmax_nll(g.constant(x), g.constant(w), g.constant(b), t, -1, &fused);
  loom::log_softmax_nll(loom::linear(g.constant(x), g.constant(w), g.constant(b)), t, -1, &plain);
  BOOST_TEST(fused.count == 5);
  BOOST_TEST(fused.loss_sum == plain.loss_sum, boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(lstm_step_by_hand) {
  // One step, one unit, zero recurrent weights: i = f = o = sigmoid(a), g = tanh(b).
  Graph g(loom::Mode::kEval);
  float a = 0.3f, bg = -0.7f;
  Expr xp = g.constant(Tensor::from(Shape{1, 1, 4}, {a, a, bg, a}));
  Expr w = g.constant(Tensor::zeros(Shape{4, 1}));
  Expr bh = g.constant(Tensor::zeros(Shape{4}));
  Expr h0 = g.constant(Tensor::zeros(Shape{1, 1}));
  Expr c0 = g.constant(Tensor::from(Shape{1, 1}, {0.5f}));
  auto out = loom::recurrent_layer(CellType::kLstm, xp, w, bh, h0, c0);
  double s = 1.0 / (1.0 + std::exp(-a));
  double c = s * 0.5 + s * std::tanh(bg);
  BOOST_TEST(out.c_last.value().item() == c, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(out.h_last.value().item() == s * std::tanh(c), boost::test_tools::tolerance(1e-5));
}

// Values by hand: sequences of lengths 3 and 1 in T = 3, one feature.
BOOST_AUTO_TEST_CASE(padded_sequence_ops_by_hand) {
  Graph g(loom::Mode::kEval);
  // x[t, b]: column 0 is 1, 5, 3; column 1 is 7 then padding 8, 9.
  Expr x = g.constant(Tensor::from(Shape{3, 2, 1}, {1, 7, 5, 8, 3, 9}));
  Tensor lengths = Tensor::from_ids(Shape{2}, {3, 1});
  Tensor rev = loom::reverse_sequences(x, lengths).value();
  BOOST_TEST((std::vector<float>(rev.data(), rev.data() + 6)) == (std::vector<float>{3, 7, 5, 8, 1, 9}),
             boost::test_tools::per_element());
  Tensor back = loom::reverse_sequences(loom::reverse_sequences(x, lengths), lengths).value();
  BOOST_TEST((std::vector<float>(back.data(), back.data() + 6)) == (std::vector<float>{1, 7, 5, 8, 3, 9}),
             boost::test_tools::per_element());
  Tensor mean = loom::masked_mean_time(x, lengths).value();
  BOOST_TEST(mean.data()[0] == 3.0f);
  BOOST_TEST(mean.data()[1] == 7.0f);  // padding (8, 9) ignored
  Tensor max = loom::masked_max_time(x, lengths).value();
  BOOST_TEST(max.data()[0] == 5.0f);
  BOOST_TEST(max.data()[1] == 7.0f);
}

// A sequence of 2 steps padded to 4 inside a batch ends in the same state as the same
// sequence run alone for 2 steps: padding does not change the answer.
BOOST_AUTO_TEST_CASE(masked_steps_keep_the_state) {
  for (CellType cell : {CellType::kLstm, CellType::kGru, CellType::kRnnTanh}) {
    const std::int64_t H = 3, G = loom::gate_count(cell);
    const bool lstm = cell == CellType::kLstm;
    Tensor xp = random_tensor(Shape{4, 2, G * H}, 50), w = random_tensor(Shape{G * H, H}, 51, 0.6f);
    Tensor bh = random_tensor(Shape{G * H}, 52), h0 = random_tensor(Shape{2, H}, 53), c0 = random_tensor(Shape{2, H}, 54);
    Graph g(loom::Mode::kEval);
    auto batch = loom::recurrent_layer(cell, g.constant(xp), g.constant(w), g.constant(bh), g.constant(h0),
                                       lstm ? g.constant(c0) : Expr(), Tensor::from(Shape{4, 2}, {1, 1, 1, 1, 1, 0, 1, 0}));
    // Column 1 alone, its first 2 steps.
    Tensor xp1 = Tensor::empty(Shape{2, 1, G * H}), h01 = Tensor::empty(Shape{1, H}), c01 = Tensor::empty(Shape{1, H});
    for (int t = 0; t < 2; ++t) std::copy_n(xp.data() + (t * 2 + 1) * G * H, G * H, xp1.data() + t * G * H);
    std::copy_n(h0.data() + H, H, h01.data());
    std::copy_n(c0.data() + H, H, c01.data());
    auto alone = loom::recurrent_layer(cell, g.constant(xp1), g.constant(w), g.constant(bh), g.constant(h01),
                                       lstm ? g.constant(c01) : Expr());
    for (int j = 0; j < H; ++j) {
      BOOST_TEST(batch.h_last.value().data()[H + j] == alone.h_last.value().data()[j], boost::test_tools::tolerance(1e-6f));
      if (lstm)
        BOOST_TEST(batch.c_last.value().data()[H + j] == alone.c_last.value().data()[j], boost::test_tools::tolerance(1e-6f));
    }
  }
}

BOOST_AUTO_TEST_CASE(dropout_keeps_expectation_and_is_identity_in_eval) {
  Graph train(loom::Mode::kTrain, 3);
  Expr x = train.constant(Tensor::full(Shape{100000}, 1.0f));
  Expr y = loom::dropout(x, 0.25f);
  double mean = 0;
  std::int64_t zeros = 0;
  for (std::int64_t i = 0; i < 100000; ++i) {
    mean += y.value().data()[i];
    zeros += y.value().data()[i] == 0.0f;
  }
  BOOST_TEST(mean / 100000 == 1.0, boost::test_tools::tolerance(0.02));
  BOOST_TEST(zeros / 100000.0 == 0.25, boost::test_tools::tolerance(0.05));
  Graph eval(loom::Mode::kEval);
  Expr e = eval.constant(Tensor::full(Shape{10}, 2.0f));
  BOOST_TEST(loom::dropout(e, 0.5f).value().data()[3] == 2.0f);
}

BOOST_AUTO_TEST_CASE(large_products_are_identical_at_one_and_two_threads) {
  // Large enough to be split over threads.
  Tensor a = random_tensor(Shape{300, 200}, 50), b = random_tensor(Shape{500, 200}, 51);
  auto product = [&](int threads) {
    loom::set_threads(threads);
    Graph g(loom::Mode::kEval);
    return loom::matmul(g.constant(a), g.constant(b), Transpose::kNo, Transpose::kYes).value().clone();
  };
  Tensor one = product(1), two = product(2);
  bool same = true;
  for (std::int64_t i = 0; i < one.numel(); ++i) same = same && one.data()[i] == two.data()[i];
  BOOST_TEST(same);
  // And against a plain triple loop.
  double ref = 0;
  for (int k = 0; k < 200; ++k) ref += double(a.data()[7 * 200 + k]) * b.data()[123 * 200 + k];
  BOOST_TEST(one.data()[7 * 500 + 123] == ref, boost::test_tools::tolerance(1e-4));
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_op) {
  Graph g;
  Expr a = g.input(Tensor::zeros(Shape{2, 3})), b = g.input(Tensor::zeros(Shape{3, 2}));
  BOOST_CHECK_EXCEPTION(loom::add(a, b), loom::AssertionError, [](const loom::AssertionError& e) {
    return std::string(e.what()).rfind("add: shapes differ", 0) == 0;
  });
  BOOST_CHECK_THROW(loom::matmul(a, a), loom::AssertionError);
  BOOST_CHECK_THROW(loom::embedding(a, Tensor::from_ids(Shape{1}, {2})), loom::InputError);
}

// Subnormal floats are flushed to zero on every thread that does work: the main thread and
// TBB's workers. Without it a product of tiny gradients runs 20-30 times slower.
BOOST_AUTO_TEST_CASE(subnormals_are_flushed_on_every_thread) {
#if defined(__SSE__) || defined(__x86_64__)
  BOOST_TEST(loom::subnormals_are_flushed());
  volatile float tiny = 1e-30f, scale = 1e-10f;  // volatile: computed at run time
  BOOST_TEST(tiny * scale == 0.0f);              // 1e-40 is subnormal: flushed
  loom::set_threads(2);
  std::vector<int> flushed(64, 0);
  std::vector<float> products(64, -1.0f);
  loom::parallel_chunks(64, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      flushed[static_cast<std::size_t>(i)] = loom::subnormals_are_flushed() ? 1 : 0;
      products[static_cast<std::size_t>(i)] = tiny * scale;
    }
  });
  for (std::size_t i = 0; i < flushed.size(); ++i) {
    BOOST_TEST(flushed[i] == 1);
    BOOST_TEST(products[i] == 0.0f);
  }
  loom::set_threads(1);
#else
  BOOST_TEST_MESSAGE("no MXCSR on this architecture: subnormals are not flushed");
#endif
}

// A batch wider than one row group (32 rows) runs its groups on different threads. Every
// row's outputs and gradients must be those of the row run alone, and the whole result must
// be the same to the bit at 1 and 2 threads.
BOOST_AUTO_TEST_CASE(row_groups_match_rows_alone_at_any_thread_count) {
  for (CellType cell : {CellType::kLstm, CellType::kGru}) {
    const std::int64_t T = 5, B = 70, H = 4, G = loom::gate_count(cell);
    const bool lstm = cell == CellType::kLstm;
    Tensor xp = random_tensor(Shape{T, B, G * H}, 60), w = random_tensor(Shape{G * H, H}, 61, 0.6f);
    Tensor bh = random_tensor(Shape{G * H}, 62), h0 = random_tensor(Shape{B, H}, 63), c0 = random_tensor(Shape{B, H}, 64);
    Tensor weights = random_tensor(Shape{T, B, H}, 65);  // loss = sum(outputs * weights)
    Tensor mask = Tensor::zeros(Shape{T, B});
    std::vector<std::int64_t> length(B);
    for (std::int64_t b = 0; b < B; ++b) {
      length[b] = 1 + (b * 7) % T;
      for (std::int64_t t = 0; t < length[b]; ++t) mask.data()[t * B + b] = 1.0f;
      // Padded steps repeat the last state; they carry no loss here, as the row alone has none.
      for (std::int64_t t = length[b]; t < T; ++t) std::fill_n(weights.data() + (t * B + b) * H, H, 0.0f);
    }
    struct Result {
      Tensor out, dxp, dh0;
    };
    auto run = [&](const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& m, const Tensor& wt) {
      Graph g(loom::Mode::kTrain);
      Expr xe = g.input(x.clone()), he = g.input(h.clone());
      auto r = loom::recurrent_layer(cell, xe, g.constant(w), g.constant(bh), he, lstm ? g.constant(c) : Expr(), m);
      g.backward(loom::sum(loom::mul(r.outputs, g.constant(wt))));
      return Result{r.outputs.value().clone(), xe.grad().clone(), he.grad().clone()};
    };
    loom::set_threads(1);
    Result one = run(xp, h0, c0, mask, weights);
    loom::set_threads(2);
    Result two = run(xp, h0, c0, mask, weights);
    for (auto [a, b] : {std::pair{&one.out, &two.out}, {&one.dxp, &two.dxp}, {&one.dh0, &two.dh0}})
      BOOST_TEST(std::equal(a->data(), a->data() + a->numel(), b->data()));
    // Rows 3, 40 and 69 (in the first, second and last, partial, group) alone.
    for (std::int64_t b : {3, 40, 69}) {
      const std::int64_t L = length[b];
      Tensor x1 = Tensor::empty(Shape{L, 1, G * H}), w1 = Tensor::empty(Shape{L, 1, H});
      Tensor h1 = Tensor::empty(Shape{1, H}), c1 = Tensor::empty(Shape{1, H});
      for (std::int64_t t = 0; t < L; ++t) {
        std::copy_n(xp.data() + (t * B + b) * G * H, G * H, x1.data() + t * G * H);
        std::copy_n(weights.data() + (t * B + b) * H, H, w1.data() + t * H);
      }
      std::copy_n(h0.data() + b * H, H, h1.data());
      std::copy_n(c0.data() + b * H, H, c1.data());
      Result alone = run(x1, h1, c1, Tensor(), w1);
      for (std::int64_t t = 0; t < L; ++t)
        for (std::int64_t j = 0; j < H; ++j)
          BOOST_TEST(two.out.data()[(t * B + b) * H + j] == alone.out.data()[t * H + j], boost::test_tools::tolerance(1e-5f));
      for (std::int64_t t = 0; t < L; ++t)
        for (std::int64_t j = 0; j < G * H; ++j)
          BOOST_TEST(two.dxp.data()[(t * B + b) * G * H + j] == alone.dxp.data()[t * G * H + j], boost::test_tools::tolerance(1e-4f));
      for (std::int64_t j = 0; j < H; ++j)
        BOOST_TEST(two.dh0.data()[b * H + j] == alone.dh0.data()[j], boost::test_tools::tolerance(1e-4f));
    }
  }
  loom::set_threads(1);
}

// ---- attention ops: values against plain loops ---------------------------------------------

BOOST_AUTO_TEST_CASE(batched_matmul_is_one_product_per_item) {
  Graph g(loom::Mode::kEval);
  Tensor a = random_tensor(Shape{2, 3, 4, 5}, 90), b = random_tensor(Shape{2, 3, 6, 5}, 91);
  Tensor y = loom::batched_matmul(g.constant(a), g.constant(b), Transpose::kNo, Transpose::kYes).value();
  BOOST_TEST(y.shape().str() == "[2, 3, 4, 6]");
  for (int item = 0; item < 6; ++item)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 6; ++j) {
        double expect = 0.0;
        for (int k = 0; k < 5; ++k) expect += a.data()[item * 20 + i * 5 + k] * b.data()[item * 30 + j * 5 + k];
        BOOST_TEST(y.data()[item * 24 + i * 6 + j] == expect, boost::test_tools::tolerance(1e-5));
      }
}

BOOST_AUTO_TEST_CASE(swap_axes_and_slices_that_keep_the_order_share_storage) {
  Graph g(loom::Mode::kEval);
  Expr x = g.constant(random_tensor(Shape{2, 1, 3, 4}, 93));
  Expr y = loom::swap_axes(x, 1, 2);
  BOOST_TEST(y.shape().str() == "[2, 3, 1, 4]");
  BOOST_TEST(y.value().data() == x.value().data());
  Expr w = g.constant(random_tensor(Shape{2, 3, 4}, 94));
  Expr z = loom::swap_axes(w, 0, 2);  // a real permutation: a copy
  BOOST_TEST(z.shape().str() == "[4, 3, 2]");
  BOOST_TEST(z.value().data() != w.value().data());
  BOOST_TEST(z.value().data()[1] == w.value().data()[12]);
  Expr rows = loom::slice(x, 0, 1, 2);
  BOOST_TEST(rows.value().data() == x.value().data() + 12);
  Expr cols = loom::slice(x, 3, 1, 3);  // strided: a copy
  BOOST_TEST(cols.value().data()[0] == x.value().data()[1]);
  BOOST_TEST(cols.value().data()[2] == x.value().data()[5]);
}

BOOST_AUTO_TEST_CASE(swap_axes_moves_every_element) {
  Graph g(loom::Mode::kEval);
  Tensor x = random_tensor(Shape{2, 3, 4, 5}, 92);
  Tensor y = loom::swap_axes(g.constant(x), 1, 2).value();
  BOOST_TEST(y.shape().str() == "[2, 4, 3, 5]");
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 3; ++t)
      for (int h = 0; h < 4; ++h)
        for (int d = 0; d < 5; ++d)
          BOOST_TEST(y.data()[((b * 4 + h) * 3 + t) * 5 + d] == x.data()[((b * 3 + t) * 4 + h) * 5 + d]);
}

// The fused mask against softmax over explicitly listed keys: causal with a key cache (Tq <
// Tk), and key lengths.
BOOST_AUTO_TEST_CASE(attention_softmax_masks_without_a_mask_tensor) {
  const std::int64_t B = 2, H = 2, Tq = 2, Tk = 4;
  const float scale = 0.5f;
  Tensor s = random_tensor(Shape{B, H, Tq, Tk}, 93, 3.0f);
  Tensor lengths = Tensor::from_ids(Shape{B}, {4, 2});
  Graph g(loom::Mode::kEval);
  Tensor y = loom::attention_softmax(g.constant(s), scale, {true, lengths}).value();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < Tq; ++i) {
        const float* row = s.data() + ((b * H + h) * Tq + i) * Tk;
        const float* out = y.data() + ((b * H + h) * Tq + i) * Tk;
        // query i is position i + 2 of the 4 keys: it sees keys 0 .. i + 2, and fewer when padded
        std::int64_t visible = std::min<std::int64_t>(i + 3, lengths.ids()[b]);
        double total = 0.0;
        for (std::int64_t j = 0; j < visible; ++j) total += std::exp(double(scale) * row[j]);
        for (std::int64_t j = 0; j < Tk; ++j) {
          double expect = j < visible ? std::exp(double(scale) * row[j]) / total : 0.0;
          BOOST_TEST(out[j] == expect, boost::test_tools::tolerance(1e-5));
        }
      }
}

// Left padding: keys before key_starts[b] get weight 0, the rest a softmax of their own.
BOOST_AUTO_TEST_CASE(attention_softmax_masks_keys_before_the_start) {
  const std::int64_t B = 3, Tk = 5;
  Tensor s = random_tensor(Shape{B, 1, 1, Tk}, 94, 3.0f);
  loom::AttentionMask mask;
  mask.key_starts = Tensor::from_ids(Shape{B}, {0, 3, 5});
  Graph g(loom::Mode::kEval);
  Tensor y = loom::attention_softmax(g.constant(s), 1.0f, mask).value();
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t first = mask.key_starts.ids()[b];
    double total = 0.0;
    for (std::int64_t j = first; j < Tk; ++j) total += std::exp(double(s.data()[b * Tk + j]));
    for (std::int64_t j = 0; j < Tk; ++j) {
      const double expect = j < first ? 0.0 : std::exp(double(s.data()[b * Tk + j])) / total;
      BOOST_TEST(y.data()[b * Tk + j] == expect, boost::test_tools::tolerance(1e-5));
    }
  }
  mask.key_starts = Tensor::from_ids(Shape{B}, {0, 6, 0});
  expect_error<loom::AssertionError>([&] { loom::attention_softmax(g.constant(s), 1.0f, mask); }, {"key start 6"});
}

BOOST_AUTO_TEST_CASE(layer_norm_and_gelu_by_hand) {
  Graph g(loom::Mode::kEval);
  // [1, 2, 3, 4]: mean 2.5, biased variance 1.25
  Tensor x = Tensor::from(Shape{1, 4}, {1, 2, 3, 4});
  Tensor gamma = Tensor::from(Shape{4}, {1, 2, 1, 1}), beta = Tensor::from(Shape{4}, {0, 0, 0, 1});
  Tensor y = loom::layer_norm(g.constant(x), g.constant(gamma), g.constant(beta)).value();
  const double rstd = 1.0 / std::sqrt(1.25 + 1e-5);
  const double expect[4] = {-1.5 * rstd, 2 * -0.5 * rstd, 0.5 * rstd, 1.5 * rstd + 1};
  for (int i = 0; i < 4; ++i) BOOST_TEST(y.data()[i] == expect[i], boost::test_tools::tolerance(1e-5));
  Tensor v = Tensor::from(Shape{5}, {-2.0f, -0.5f, 0.0f, 1.0f, 3.0f});
  Tensor gy = loom::gelu(g.constant(v)).value();
  for (int i = 0; i < 5; ++i) {
    const double u = v.data()[i];
    const double ref = 0.5 * u * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (u + 0.044715 * u * u * u)));
    BOOST_TEST(gy.data()[i] == ref, boost::test_tools::tolerance(1e-5));
  }
}

// The judge of finite-difference checks: a gradient that is zero in exact arithmetic passes
// when its central difference is float noise (under an ulp of the loss over the step), while a
// missing term of 1% of the largest gradient, or a value 20% off, fails.
BOOST_AUTO_TEST_CASE(gradient_judge_forgives_float_noise_but_not_missing_terms) {
  using loom::testing::detail::Entry;
  using loom::testing::detail::judge;
  const double value = 5.7, step = 1e-2;
  const double ulp_of_loss_over_step = 1.1920929e-7 * value / (2 * step);
  const std::vector<Entry> noise = {{1.0, 1.0, "a"}, {-0.3, -0.3001, "b"}, {0.0, 0.7 * ulp_of_loss_over_step, "key bias"}};
  BOOST_TEST(judge(noise, value, step).ok(2e-2), judge(noise, value, step).worst_at);
  const std::vector<Entry> missing = {{1.0, 1.0, "a"}, {0.0, 0.01, "missing term"}};
  BOOST_TEST(!judge(missing, value, step).ok(2e-2));
  BOOST_TEST(judge(missing, value, step).worst_at.find("missing term") == 0u);
  const std::vector<Entry> off = {{1.0, 1.0, "a"}, {0.5, 0.6, "off"}};
  BOOST_TEST(!judge(off, value, step).ok(2e-2));
}
