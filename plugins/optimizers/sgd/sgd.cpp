// optimizers/sgd: stochastic gradient descent with PyTorch's update rule (torch.optim.SGD
// without dampening or Nesterov):
//   g <- g + weight_decay p;  buf <- momentum buf + g (buf = g on the first step);  p <- p - lr buf
// after optional clipping of the global gradient norm to `clip` (loom/optim.hpp).
#include "loom/optim.hpp"
#include "loom/plugin.hpp"

namespace {

using loom::ParamType;

class Sgd : public loom::ElementwiseOptimizer {
 public:
  explicit Sgd(const loom::Params& p)
      : ElementwiseOptimizer(loom::OptimizerSettings::from(p)),
        momentum_(p.get_float("momentum")),
        buffer_(momentum_ > 0 ? add_state("momentum_buffer") : -1) {}

 protected:
  void update(const Slice& s, std::int64_t begin, std::int64_t end) const override {
    const auto lr = static_cast<float>(lr_), mom = static_cast<float>(momentum_),
               wd = static_cast<float>(s.weight_decay);
    float* w = s.value;
    const float* g = s.grad;
    float* b = buffer_ >= 0 ? s.state[buffer_] : nullptr;
    const bool first = s.step == 1;
    for (std::int64_t i = begin; i < end; ++i) {
      float d = g[i] + wd * w[i];
      if (b != nullptr) {
        b[i] = first ? d : mom * b[i] + d;
        d = b[i];
      }
      w[i] -= lr * d;
    }
  }

 private:
  double momentum_;
  int buffer_;  // index of the momentum buffer; -1 without momentum
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "sgd",
      "1.1",
      "stochastic gradient descent with momentum, weight decay and gradient-norm clipping",
      loom::optimizer_params(
          "0.1", {{"momentum", ParamType::kFloat, "0", "momentum factor (0: none)", {}, 0.0}}),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<Sgd>(ctx.params());
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
