#pragma once
// What every optimizer plugin shares: the common parameters (lr, weight_decay, clip), their
// validation, and ElementwiseOptimizer, a base class that owns global-norm clipping, step
// counting, named per-parameter state buffers and their checkpointing, and the parallel loop
// over each parameter's values. A plugin only states its update rule for a range of values:
//
//   class Rule : public loom::ElementwiseOptimizer {
//    public:
//     explicit Rule(const loom::Params& p)
//         : ElementwiseOptimizer(loom::OptimizerSettings::from(p)), avg_(add_state("avg")) {}
//    protected:
//     void update(const Slice& s, std::int64_t begin, std::int64_t end) const override {
//       for (std::int64_t i = begin; i < end; ++i)
//         s.value[i] = ... s.grad[i] ... s.state[avg_][i] ...;
//     }
//    private:
//     int avg_;
//   };
//
// and lists optimizer_params("0.01", {...its own parameters...}) in its descriptor.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "loom/checkpoint.hpp"
#include "loom/config.hpp"
#include "loom/parameters.hpp"
#include "loom/plugin.hpp"
#include "loom/tensor.hpp"

namespace loom {

// How an optimizer applies weight_decay (it only changes the parameter's documentation).
enum class WeightDecay {
  kL2,         // g <- g + weight_decay p (SGD, Adam, Adagrad, RMSprop)
  kDecoupled,  // p <- p (1 - lr weight_decay) before the update (AdamW)
};

// The parameter specs of an optimizer plugin: lr (default `lr`), then `specific`, then
// weight_decay (default `weight_decay`), no_decay (globs of parameters it skips) and clip
// (default 0, off). lr, weight_decay and clip must be at least 0.
std::vector<ParamSpec> optimizer_params(const std::string& lr, std::vector<ParamSpec> specific,
                                        const std::string& weight_decay = "0",
                                        WeightDecay kind = WeightDecay::kL2);

// The values of the common parameters, read from params checked against optimizer_params.
struct OptimizerSettings {
  double lr = 0.0;
  double weight_decay = 0.0;
  double clip = 0.0;  // the largest global gradient norm; 0: no clipping
  // Globs ('*', '?') of parameter names that get no weight decay (minGPT's rule: biases,
  // norms and embeddings), e.g. {"*.bias", "*norm*", "embedding.*"}.
  std::vector<std::string> no_decay;

  static OptimizerSettings from(const Params& params);
};

// For factories: the float parameter `name`, after checking what a ParamSpec's minimum cannot
// say. Each throws ConfigError through params.fail ("'beta1' must be below 1, got 1").
double float_below(const Params& params, const std::string& name, double bound);
double float_positive(const Params& params, const std::string& name);

// An optimizer whose update is elementwise given per-parameter state buffers.
//
// step(params): clips the gradients of all parameters together to the global norm `clip`
// (when clip > 0, as torch.nn.utils.clip_grad_norm_ does) and returns the norm before
// clipping; then, for every trainable parameter in order, creates its state buffers on its
// first update (its shape, filled with each buffer's initial value), counts its step, and
// calls update() over its values in chunks that may run in parallel (loom::parallel_chunks).
// Non-trainable parameters keep their values and get no state; their gradients (zero in
// training, where the graph does not compute them) still count in the norm.
//
// save_state writes the step count ("step"), every parameter's step count
// ("parameter_steps", a JSON object by parameter name) and every buffer as the tensor
// "<buffer>.<parameter name>" (e.g. "exp_avg.rnn.l0.w_ih"). load_state checks them against
// the parameters and the buffers this optimizer keeps with its settings: an unknown
// parameter, a missing or unexpected buffer, or a shape that differs is an InputError naming
// it, and leaves the optimizer as it was.
//
// Not thread-safe: one step at a time (the step itself uses TBB's threads).
class LOOM_API ElementwiseOptimizer : public Optimizer {
 public:
  // step() calls so far (restored by load_state).
  std::int64_t steps() const { return steps_; }
  double weight_decay() const { return weight_decay_; }
  double clip() const { return clip_; }
  // The weight decay of the parameter `name` (0 when a no_decay glob matches it).
  double weight_decay_of(const std::string& name) const;

 protected:
  explicit ElementwiseOptimizer(const OptimizerSettings& settings);

  // Declares a per-parameter state buffer, filled with `initial` when it is created; returns
  // its index in Slice::state. Call from the constructor only; `name` is unique and has no '.'.
  int add_state(const std::string& name, float initial = 0.0f);

  // One trainable parameter as update() sees it: n values (contiguous), their gradients
  // (already clipped), and its state buffers, each of n values, in add_state order.
  struct Slice {
    float* value;
    const float* grad;
    float* const* state;
    std::int64_t step;  // this parameter's updates so far including this one: 1 on the first
    double weight_decay;  // this parameter's: the optimizer's, or 0 when no_decay matches its name
  };
  // Updates values [begin, end) of one parameter. Called concurrently for disjoint ranges of
  // the same parameter: it may touch only those elements of value and state, and must give
  // each element the same result whatever the range (no reductions across elements).
  virtual void update(const Slice& slice, std::int64_t begin, std::int64_t end) const = 0;

  double step_impl(Parameters& params) final;
  void save_state_impl(StateDict& out) const final;
  void load_state_impl(const StateDict& in, const Parameters& params) final;

 private:
  struct Buffer {
    std::string name;
    float initial;
  };
  struct ParamState {
    std::vector<Tensor> buffers;  // in the order of buffers_
    std::int64_t steps = 0;
  };

  double weight_decay_;
  double clip_;
  std::vector<std::string> no_decay_;
  std::vector<Buffer> buffers_;
  std::map<std::string, ParamState> state_;  // by parameter name; trainable ones that stepped
  std::int64_t steps_ = 0;
};

// Adam and AdamW with PyTorch 1.13's rules, one update for both. Per element at step t,
// after optional clipping:
//   kL2 (adam):         g <- g + weight_decay p
//   kDecoupled (adamw): p <- p (1 - lr weight_decay)
//   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
//   amsgrad: v_max <- max(v_max, v), used for v below
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// eps is added after the bias correction of sqrt(v), as PyTorch does; the per-step scalars
// are computed in double, then float, as PyTorch's Python arithmetic does.
class LOOM_API AdamOptimizer : public ElementwiseOptimizer {
 public:
  AdamOptimizer(const Params& params, WeightDecay decay);
  // beta1, beta2, eps and amsgrad: the parameters adam and adamw add to lr, weight_decay and clip.
  static std::vector<ParamSpec> specific_params();

 protected:
  void update(const Slice& slice, std::int64_t begin, std::int64_t end) const override;

 private:
  bool decoupled_;
  double beta1_, beta2_, eps_;
  int exp_avg_, exp_avg_sq_, max_exp_avg_sq_;  // state indices; -1 without amsgrad
};

}  // namespace loom
