#pragma once
// The learning rate of a train stage, epoch by epoch and step by step.
//
// Per epoch (what word-level LMs use): lr_decay multiplies the rate at the start of every
// epoch after lr_decay_after; lr_anneal divides it when the selected metric did not improve.
// This is the epoch rate. Per step (what Transformers use), on top of it: a linear warmup over
// warmup_steps, then constant, inverse square root, cosine or linear decay down to min_lr.
// With no step schedule (no warmup, constant) the rate of every step is the epoch rate to the
// bit, so runs from before step schedules keep their numbers.
//
//   train: { schedule: { warmup_steps: 4000, decay: inverse_sqrt } }
//
// Steps count optimizer updates from the start of the stage (0 for the first one). The state
// (epoch rate and steps taken) goes into checkpoints, so a resumed run takes the same rates.
#include <cstdint>
#include <string>
#include <vector>

#include "loom/config.hpp"

namespace loom {

enum class StepDecay { kConstant, kInverseSqrt, kCosine, kLinear };

struct LrScheduleOptions {
  double anneal = 0.0;        // divide the epoch rate by this on no improvement (0: never)
  double decay = 1.0;         // multiply the epoch rate by this every epoch after decay_after
  int decay_after = 0;
  std::int64_t warmup_steps = 0;
  StepDecay step_decay = StepDecay::kConstant;
  double min_lr = 0.0;           // the floor of the step decays
  std::int64_t total_steps = 0;  // where cosine and linear decay reach min_lr (0: end of training)

  // From a train stage's parameters (lr_anneal, lr_decay, lr_decay_after, schedule.*);
  // ConfigError naming the parameter for values that cannot work together.
  static LrScheduleOptions from(const Params& stage);
  bool has_step_schedule() const { return warmup_steps > 0 || step_decay != StepDecay::kConstant; }
};

// The train stage's schedule parameters, for the stage table.
std::vector<ParamSpec> lr_schedule_params();

class LrSchedule {
 public:
  // `base_lr`: the optimizer's configured rate. `total_steps`: the steps of the whole stage,
  // for cosine and linear decay when the options do not give them.
  LrSchedule(const LrScheduleOptions& options, double base_lr, std::int64_t total_steps);

  // The epoch rate; decay applies at the start of `epoch` (1-based) when it is due.
  double epoch_lr() const { return epoch_lr_; }
  void start_epoch(int epoch);
  // The selected metric did not improve: anneal, when configured. True when the rate changed.
  bool anneal();
  // The rate of step `step`: the epoch rate shaped by warmup and step decay.
  double lr_at(std::int64_t step) const;
  // A resumed run: the epoch rate it had (or a new one from the command line).
  void set_epoch_lr(double lr) { epoch_lr_ = lr; }

 private:
  LrScheduleOptions o_;
  double epoch_lr_;
  std::int64_t total_steps_;
};

}  // namespace loom
