#pragma once
// Header-only finite-difference gradient checks, for the core's ops and for model plugins.
// Values are float32, so differences use a step of ~1e-2 and compare with a tolerance that
// mixes absolute and relative error: |analytic - numeric| <= tol * max(1, |numeric|).
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "loom/graph.hpp"
#include "loom/plugin.hpp"

namespace loom::testing {

struct GradCheck {
  double worst_error = 0.0;  // max over checked values of |a - n| / max(1, |n|)
  std::string worst_at;      // "input 1 [17]: analytic 0.31 numeric 0.29"
  int checked = 0;
  bool ok(double tolerance) const { return worst_error <= tolerance; }
};

namespace detail {
inline void record(GradCheck& r, double analytic, double numeric, const std::string& where) {
  double err = std::fabs(analytic - numeric) / std::max(1.0, std::fabs(numeric));
  ++r.checked;
  if (err > r.worst_error || r.worst_at.empty()) {
    r.worst_error = std::max(r.worst_error, err);
    if (err >= r.worst_error)
      r.worst_at = where + ": analytic " + std::to_string(analytic) + " numeric " + std::to_string(numeric);
  }
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
  evaluate(inputs, true, &grads);
  GradCheck r;
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
      detail::record(r, grads[i].data()[j], (plus - minus) / (2 * step),
                     "input " + std::to_string(i) + " [" + std::to_string(j) + "]");
    }
  }
  return r;
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
    double v = out.loss.value().item();
    if (with_grad) g.backward(out.loss);
    return v;
  };
  Parameters& params = model.parameters();
  params.zero_grad();
  loss(true);
  Tensor analytic = params.grads().clone();
  params.zero_grad();
  GradCheck r;
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
      detail::record(r, analytic.data()[offset + j], (plus - minus) / (2 * step),
                     p.name + " [" + std::to_string(j) + "]");
    }
  }
  return r;
}

}  // namespace loom::testing
