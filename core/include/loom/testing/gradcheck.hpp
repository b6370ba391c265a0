#pragma once
// Header-only finite-difference gradient checks, for the core's ops and for model plugins.
// Values are float32, so differences use a step of ~1e-2. The comparison is relative, with a
// floor at a thousandth of the largest gradient checked (or at what a float32 function value
// lets a central difference resolve, 32 ulps of it over the step, when that is larger), less
// the noise of the difference itself (2 ulps of the function value over the step):
//   |analytic - numeric| - noise <= tol * max(|numeric|, 1e-3 * largest |numeric|, resolution)
// so a missing term shows even where true gradients are small (softmax, layer norm), while
// values far below the others are not judged on float noise: a gradient that is zero in exact
// arithmetic (a key bias under softmax) measures as a difference of two rounded losses, which
// differs between BLAS kernels by about an ulp. `largest` tells a check over gradients that
// are all tiny, which proves little: suites assert it is not.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "loom/graph.hpp"
#include "loom/plugin.hpp"

namespace loom::testing {

struct GradCheck {
  double worst_error = 0.0;  // max over checked values of |a - n| / max(|n|, floor)
  std::string worst_at;      // "input 1 [17]: analytic 0.31 numeric 0.29"
  int checked = 0;
  double largest = 0.0;      // the largest |numeric| gradient checked
  double floor = 0.0;        // 1e-3 * largest: the smallest denominator of the relative error
  bool ok(double tolerance) const { return worst_error <= tolerance; }
};

namespace detail {
struct Entry {
  double analytic, numeric;
  std::string where;
};

// `value`: the checked function's value at the point, whose float rounding, divided by the
// step, bounds how well a central difference can resolve a small gradient.
inline GradCheck judge(const std::vector<Entry>& entries, double value, double step) {
  GradCheck r;
  for (const auto& e : entries) r.largest = std::max(r.largest, std::fabs(e.numeric));
  const double ulp_over_step = 1.1920929e-7 * std::max(1.0, std::fabs(value)) / (2.0 * step);
  const double resolution = 32.0 * ulp_over_step, noise = 2.0 * ulp_over_step;
  r.floor = std::max({1e-3 * r.largest, resolution, 1e-12});
  for (const auto& e : entries) {
    const double err =
        std::max(0.0, std::fabs(e.analytic - e.numeric) - noise) / std::max(std::fabs(e.numeric), r.floor);
    ++r.checked;
    if (err > r.worst_error || r.worst_at.empty()) {
      r.worst_error = std::max(r.worst_error, err);
      r.worst_at = e.where + ": analytic " + std::to_string(e.analytic) + " numeric " + std::to_string(e.numeric);
    }
  }
  return r;
}
}  // namespace detail

// f builds a scalar from the given leaf expressions. Every value of every input is perturbed.
inline GradCheck check_gradients(const std::function<Expr(Graph&, const std::vector<Expr>&)>& f,
                                 std::vector<Tensor> inputs, double step = 1e-2) {
  auto evaluate = [&](std::vector<Tensor>& values, bool with_grad, std::vector<Tensor>* grads) {
    Graph g(Mode::kTrain, 42);
    std::vector<Expr> leaves;
    for (auto& v : values) leaves.push_back(v.dtype() == DType::kFloat32 ? g.input(v) : g.constant(v));
    Expr y = f(g, leaves);
    double value = y.value().item();
    if (with_grad) {
      g.backward(y);
      for (std::size_t i = 0; i < leaves.size(); ++i)
        grads->push_back(values[i].dtype() == DType::kFloat32 && g.has_grad(leaves[i].id())
                             ? g.grad(leaves[i].id()).clone()
                             : Tensor::zeros(values[i].shape()));
    }
    return value;
  };
  std::vector<Tensor> grads;
  const double value = evaluate(inputs, true, &grads);
  std::vector<detail::Entry> entries;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::kFloat32) continue;
    float* x = inputs[i].data();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      float saved = x[j];
      x[j] = saved + static_cast<float>(step);
      double plus = evaluate(inputs, false, nullptr);
      x[j] = saved - static_cast<float>(step);
      double minus = evaluate(inputs, false, nullptr);
      x[j] = saved;
      entries.push_back({grads[i].data()[j], (plus - minus) / (2 * step),
                         "input " + std::to_string(i) + " [" + std::to_string(j) + "]"});
    }
  }
  return detail::judge(entries, value, step);
}

// Checks a model's parameter gradients on one batch: `per_parameter` values of each parameter
// (spread over it) are perturbed. Build the model without dropout. The loss checked is the
// model's own mean loss; carried state is reset before every evaluation.
inline GradCheck check_model_gradients(Model& model, const Batch& batch, int per_parameter = 6,
                                       double step = 1e-2) {
  auto* stateful = dynamic_cast<Stateful*>(&model);
  auto loss = [&](bool with_grad) {
    if (stateful) stateful->reset_state();
    Graph g(Mode::kTrain, 7);
    ModelOutput out = model.forward(g, batch);
    if (with_grad) g.backward(out.loss);
    // The mean of the per-target losses summed in double: the float loss value carries the
    // rounding of a long float sum, which central differences of small gradients cannot bear.
    return out.count > 0 ? out.loss_sum / static_cast<double>(out.count) : static_cast<double>(out.loss.value().item());
  };
  Parameters& params = model.parameters();
  params.zero_grad();
  const double value = loss(true);
  Tensor analytic = params.grads().clone();
  params.zero_grad();
  std::vector<detail::Entry> entries;
  for (auto& p : params) {
    if (!p.trainable) continue;
    std::int64_t n = p.shape.numel();
    for (int k = 0; k < per_parameter && k < n; ++k) {
      std::int64_t j = (n - 1) * k / std::max(1, per_parameter - 1);
      float* x = p.value.data() + j;
      float saved = *x;
      *x = saved + static_cast<float>(step);
      double plus = loss(false);
      *x = saved - static_cast<float>(step);
      double minus = loss(false);
      *x = saved;
      std::int64_t offset = p.grad.data() - params.grads().data();
      entries.push_back({analytic.data()[offset + j], (plus - minus) / (2 * step),
                         p.name + " [" + std::to_string(j) + "]"});
    }
  }
  return detail::judge(entries, value, step);
}

}  // namespace loom::testing
