// optimizers/sgd: stochastic gradient descent with PyTorch's update rule:
//   g <- g + weight_decay p;  buf <- momentum buf + g (buf = g on the first step);  p <- p - lr buf
// after optional clipping of the global gradient norm to `clip`.
#include <vector>

#include "loom/plugin.hpp"

namespace {

class Sgd : public loom::Optimizer {
 public:
  Sgd(double lr, double momentum, double weight_decay, double clip)
      : momentum_(momentum), weight_decay_(weight_decay), clip_(clip) {
    lr_ = lr;
  }

 protected:
  double step_impl(loom::Parameters& params) override {
    double norm = clip_ > 0 ? params.clip_grad_norm(clip_) : params.grad_norm();
    const auto lr = static_cast<float>(lr_), mom = static_cast<float>(momentum_),
               wd = static_cast<float>(weight_decay_);
    if (momentum_ > 0 && buffers_.empty()) {
      for (auto& p : params) buffers_.push_back(loom::Tensor::zeros(p.shape));
    }
    std::size_t k = 0;
    for (auto& p : params) {
      std::size_t index = k++;
      if (!p.trainable) continue;
      float* w = p.value.data();
      float* g = p.grad.data();
      const std::int64_t n = p.shape.numel();
      if (wd != 0.0f)
        for (std::int64_t i = 0; i < n; ++i) g[i] += wd * w[i];
      if (mom > 0.0f) {
        float* b = buffers_[index].data();
        if (first_step_) {
          for (std::int64_t i = 0; i < n; ++i) b[i] = g[i];
        } else {
          for (std::int64_t i = 0; i < n; ++i) b[i] = mom * b[i] + g[i];
        }
        g = b;
      }
      for (std::int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
    }
    first_step_ = false;
    return norm;
  }

 private:
  double momentum_, weight_decay_, clip_;
  std::vector<loom::Tensor> buffers_;
  bool first_step_ = true;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "sgd",
      "1.0",
      "stochastic gradient descent with momentum, weight decay and gradient-norm clipping",
      {{"lr", loom::ParamType::kFloat, "0.1", "learning rate", {}, 0.0},
       {"momentum", loom::ParamType::kFloat, "0", "momentum factor (0: none)", {}, 0.0},
       {"weight_decay", loom::ParamType::kFloat, "0", "L2 penalty added to the gradient", {}, 0.0},
       {"clip", loom::ParamType::kFloat, "0", "clip the global gradient norm to this (0: off)", {}, 0.0}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        return std::make_unique<Sgd>(p.get_float("lr"), p.get_float("momentum"),
                                     p.get_float("weight_decay"), p.get_float("clip"));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
