// optimizers/rmsprop: RMSprop with PyTorch's update rule (torch.optim.RMSprop, 1.13), per
// element, after optional clipping of the global gradient norm to `clip` (loom/optim.hpp):
//   g <- g + weight_decay p
//   v <- alpha v + (1 - alpha) g^2
//   centered: a <- alpha a + (1 - alpha) g;  d = sqrt(v - a^2) + eps;  else d = sqrt(v) + eps
//   momentum > 0: buf <- momentum buf + g / d;  p <- p - lr buf  (buf starts at 0)
//   otherwise:    p <- p - lr g / d
#include <algorithm>
#include <cmath>

#include "loom/optim.hpp"
#include "loom/plugin.hpp"

namespace {

using loom::ParamType;

class RmsProp : public loom::ElementwiseOptimizer {
 public:
  explicit RmsProp(const loom::Params& p)
      : ElementwiseOptimizer(loom::OptimizerSettings::from(p)),
        alpha_(loom::float_below(p, "alpha", 1.0)),
        eps_(loom::float_positive(p, "eps")),
        momentum_(p.get_float("momentum")),
        square_avg_(add_state("square_avg")),
        momentum_buffer_(momentum_ > 0 ? add_state("momentum_buffer") : -1),
        grad_avg_(p.get_bool("centered") ? add_state("grad_avg") : -1) {}

 protected:
  void update(const Slice& s, std::int64_t begin, std::int64_t end) const override {
    const auto neg_lr = static_cast<float>(-lr_), alpha = static_cast<float>(alpha_),
               c = static_cast<float>(1.0 - alpha_), eps = static_cast<float>(eps_),
               mom = static_cast<float>(momentum_), wd = static_cast<float>(s.weight_decay);
    float* w = s.value;
    const float* g = s.grad;
    float* v = s.state[square_avg_];
    float* buf = momentum_buffer_ >= 0 ? s.state[momentum_buffer_] : nullptr;
    float* a = grad_avg_ >= 0 ? s.state[grad_avg_] : nullptr;
    for (std::int64_t i = begin; i < end; ++i) {
      const float d = wd != 0.0f ? g[i] + wd * w[i] : g[i];
      v[i] = v[i] * alpha + c * d * d;
      float avg;
      if (a != nullptr) {
        a[i] = a[i] * alpha + c * d;
        // v >= a^2 in exact arithmetic; rounding must not make the root NaN.
        avg = std::sqrt(std::max(0.0f, v[i] - a[i] * a[i])) + eps;
      } else {
        avg = std::sqrt(v[i]) + eps;
      }
      if (buf != nullptr) {
        buf[i] = buf[i] * mom + d / avg;
        w[i] = w[i] + neg_lr * buf[i];
      } else {
        w[i] = w[i] + neg_lr * d / avg;
      }
    }
  }

 private:
  double alpha_, eps_, momentum_;
  int square_avg_, momentum_buffer_, grad_avg_;  // state indices; -1 when not kept
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "rmsprop",
      "1.0",
      "RMSprop (PyTorch's rule): steps divided by a running root mean square, centered, momentum",
      loom::optimizer_params(
          "0.01",
          {{"alpha", ParamType::kFloat, "0.99", "decay rate of the running mean of g^2 (< 1)", {}, 0.0},
           {"eps", ParamType::kFloat, "1e-8", "added to the root of the mean (> 0)", {}, 0.0},
           {"momentum", ParamType::kFloat, "0", "momentum factor (0: none)", {}, 0.0},
           {"centered", ParamType::kBool, "false", "divide by the variance of g, not its mean square"}}),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<RmsProp>(ctx.params());
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
