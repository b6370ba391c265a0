// optimizers/adamw: AdamW with PyTorch's update rule (torch.optim.AdamW, 1.13): Adam whose
// weight decay acts on the parameter, not through the gradient. Per element at step t, after
// optional clipping of the global gradient norm to `clip` (loom/optim.hpp):
//   p <- p (1 - lr weight_decay)
//   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
//   amsgrad: v_max <- max(v_max, v), used for v below
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#include <algorithm>
#include <cmath>

#include "loom/optim.hpp"
#include "loom/plugin.hpp"

namespace {

using loom::ParamType;

class AdamW : public loom::ElementwiseOptimizer {
 public:
  explicit AdamW(const loom::Params& p)
      : ElementwiseOptimizer(loom::OptimizerSettings::from(p)),
        beta1_(loom::float_below(p, "beta1", 1.0)),
        beta2_(loom::float_below(p, "beta2", 1.0)),
        eps_(loom::float_positive(p, "eps")),
        exp_avg_(add_state("exp_avg")),
        exp_avg_sq_(add_state("exp_avg_sq")),
        max_exp_avg_sq_(p.get_bool("amsgrad") ? add_state("max_exp_avg_sq") : -1) {}

 protected:
  void update(const Slice& s, std::int64_t begin, std::int64_t end) const override {
    // The per-step scalars in double, then float, as PyTorch's Python arithmetic does.
    const double t = static_cast<double>(s.step);
    const auto decay = static_cast<float>(1.0 - lr_ * weight_decay());
    const auto neg_step_size = static_cast<float>(-(lr_ / (1.0 - std::pow(beta1_, t))));
    const auto bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2_, t)));
    const auto b1 = static_cast<float>(beta1_), c1 = static_cast<float>(1.0 - beta1_),
               b2 = static_cast<float>(beta2_), c2 = static_cast<float>(1.0 - beta2_),
               eps = static_cast<float>(eps_);
    float* w = s.value;
    const float* g = s.grad;
    float* m = s.state[exp_avg_];
    float* v = s.state[exp_avg_sq_];
    float* v_max = max_exp_avg_sq_ >= 0 ? s.state[max_exp_avg_sq_] : nullptr;
    for (std::int64_t i = begin; i < end; ++i) {
      w[i] = w[i] * decay;
      m[i] = m[i] * b1 + c1 * g[i];
      v[i] = v[i] * b2 + c2 * g[i] * g[i];
      float second = v[i];
      if (v_max != nullptr) second = v_max[i] = std::max(v_max[i], v[i]);
      const float denom = std::sqrt(second) / bias_correction2_sqrt + eps;
      w[i] = w[i] + neg_step_size * m[i] / denom;
    }
  }

 private:
  double beta1_, beta2_, eps_;
  int exp_avg_, exp_avg_sq_, max_exp_avg_sq_;  // state indices; -1 without amsgrad
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "adamw",
      "1.0",
      "AdamW (PyTorch's rule): Adam with decoupled weight decay, AMSGrad, clipping",
      loom::optimizer_params(
          "0.001",
          {{"beta1", ParamType::kFloat, "0.9", "decay rate of the running mean of g (< 1)", {}, 0.0},
           {"beta2", ParamType::kFloat, "0.999", "decay rate of the running mean of g^2 (< 1)", {}, 0.0},
           {"eps", ParamType::kFloat, "1e-8", "added to sqrt(v) after bias correction (> 0)", {}, 0.0},
           {"amsgrad", ParamType::kBool, "false", "divide by the largest mean of g^2 so far (AMSGrad)"}},
          "0.01", loom::WeightDecay::kDecoupled),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<AdamW>(ctx.params());
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
