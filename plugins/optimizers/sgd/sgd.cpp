// optimizers/sgd: stochastic gradient descent with PyTorch's update rule:
//   g <- g + weight_decay p;  buf <- momentum buf + g (buf = g on the first step);  p <- p - lr buf
// after optional clipping of the global gradient norm to `clip`.
#include <vector>

#include "loom/errors.hpp"
#include "loom/parallel.hpp"
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
      float* b = mom > 0.0f ? buffers_[index].data() : nullptr;
      const bool first = first_step_;
      // Elementwise, so any split over threads gives the same numbers.
      loom::parallel_chunks(p.shape.numel(), 1 << 16, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          float d = g[i] + wd * w[i];
          if (b != nullptr) {
            b[i] = first ? d : mom * b[i] + d;
            d = b[i];
          }
          w[i] -= lr * d;
        }
      });
    }
    first_step_ = false;
    return norm;
  }

  void save_state_impl(loom::StateDict& out) const override {
    out.set("first_step", first_step_);
    for (std::size_t i = 0; i < buffers_.size(); ++i) out.set_tensor("momentum." + std::to_string(i), buffers_[i]);
  }

  void load_state_impl(const loom::StateDict& in, const loom::Parameters& params) override {
    const loom::Json& first = in.value("first_step");
    if (first.boolean() == nullptr) throw loom::InputError(in.origin + ": first_step is not true or false");
    first_step_ = *first.boolean();
    buffers_.clear();
    if (!in.has_tensor("momentum.0")) return;
    std::size_t i = 0;
    for (const auto& p : params) {
      const loom::Tensor& b = in.tensor("momentum." + std::to_string(i++));
      if (b.shape() != p.shape)
        throw loom::InputError(in.origin + ": momentum buffer of '" + p.name + "' is " + b.shape().str() +
                               ", the parameter is " + p.shape.str());
      buffers_.push_back(b.clone());
    }
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
