// optimizers/adamw: AdamW with PyTorch's update rule (torch.optim.AdamW, 1.13): Adam whose
// weight decay acts on the parameter, p <- p (1 - lr weight_decay) before the update, not
// through the gradient. The rule is loom::AdamOptimizer (loom/optim.hpp), shared with adam.
#include "loom/optim.hpp"
#include "loom/plugin.hpp"

namespace {

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kOptimizer,
      "adamw",
      "1.0",
      "AdamW (PyTorch's rule): Adam with decoupled weight decay, AMSGrad, clipping",
      loom::optimizer_params("0.001", loom::AdamOptimizer::specific_params(), "0.01", loom::WeightDecay::kDecoupled),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<loom::AdamOptimizer>(ctx.params(), loom::WeightDecay::kDecoupled);
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
