// optimizers/adagrad: Adagrad with PyTorch's update rule (torch.optim.Adagrad, 1.13), per
// element at step t, after optional clipping of the global gradient norm to `clip`
// (loom/optim.hpp):
//   g <- g + weight_decay p
//   sum <- sum + g^2            (sum starts at initial_accumulator_value)
//   p <- p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)
#include <cmath>

#include "loom/optim.hpp"
#include "loom/plugin.hpp"

namespace {

using loom::ParamType;

class Adagrad : public loom::ElementwiseOptimizer {
 public:
  explicit Adagrad(const loom::Params& p)
      : ElementwiseOptimizer(loom::OptimizerSettings::from(p)),
        lr_decay_(p.get_float("lr_decay")),
        eps_(loom::float_positive(p, "eps")),
        sum_(add_state("sum", static_cast<float>(p.get_float("initial_accumulator_value")))) {}

 protected:
  void update(const Slice& s, std::int64_t begin, std::int64_t end) const override {
    const auto neg_clr =
        static_cast<float>(-(lr_ / (1.0 + static_cast<double>(s.step - 1) * lr_decay_)));
    const auto eps = static_cast<float>(eps_), wd = static_cast<float>(s.weight_decay);
    float* w = s.value;
    const float* g = s.grad;
    float* sum = s.state[sum_];
    for (std::int64_t i = begin; i < end; ++i) {
      const float d = wd != 0.0f ? g[i] + wd * w[i] : g[i];
      sum[i] = sum[i] + d * d;
      const float std_dev = std::sqrt(sum[i]) + eps;
      w[i] = w[i] + neg_clr * d / std_dev;
    }
  }

 private:
  double lr_decay_, eps_;
  int sum_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "adagrad",
      "1.0",
      "Adagrad (PyTorch's rule): steps divided by the root of the summed squared gradients",
      loom::optimizer_params(
          "0.01",
          {{"lr_decay", ParamType::kFloat, "0", "step t uses lr / (1 + (t - 1) lr_decay)", {}, 0.0},
           {"initial_accumulator_value", ParamType::kFloat, "0", "starting value of the sum of g^2",
            {}, 0.0},
           {"eps", ParamType::kFloat, "1e-10", "added to the root of the sum (> 0)", {}, 0.0}}),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<Adagrad>(ctx.params());
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
