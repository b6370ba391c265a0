// optimizers/adam: Adam with PyTorch's update rule (torch.optim.Adam, 1.13): bias-corrected
// moment estimates, weight decay added to the gradient (L2), AMSGrad, and optional clipping of
// the global gradient norm. The rule is loom::AdamOptimizer (loom/optim.hpp), shared with adamw.
#include "loom/optim.hpp"
#include "loom/plugin.hpp"

namespace {

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "adam",
      "1.0",
      "Adam (PyTorch's rule): bias-corrected moment estimates, L2 weight decay, AMSGrad, clipping",
      loom::optimizer_params("0.001", loom::AdamOptimizer::specific_params()),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<loom::AdamOptimizer>(ctx.params(), loom::WeightDecay::kL2);
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
