#include "run/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "loom/errors.hpp"

namespace loom {

std::vector<ParamSpec> lr_schedule_params() {
  return {
      {"lr_anneal", ParamType::kFloat, "0", "divide the learning rate by this when the selected metric does not improve (0: off)", {}, 0},
      {"lr_decay", ParamType::kFloat, "1", "multiply the learning rate by this at the start of every epoch after lr_decay_after", {}, 0},
      {"lr_decay_after", ParamType::kInt, "0", "epochs before lr_decay starts", {}, 0},
      {"schedule.warmup_steps", ParamType::kInt, "0", "raise the learning rate linearly from 0 over this many steps", {}, 0},
      {"schedule.decay", ParamType::kString, "constant", "after warmup: keep the rate, or decay it per step",
       {"constant", "inverse_sqrt", "cosine", "linear"}},
      {"schedule.min_lr", ParamType::kFloat, "0", "the floor that inverse_sqrt, cosine and linear decay stop at", {}, 0},
      {"schedule.total_steps", ParamType::kInt, "0", "steps over which cosine and linear decay reach min_lr (0: the whole stage)", {}, 0},
  };
}

LrScheduleOptions LrScheduleOptions::from(const Params& p) {
  LrScheduleOptions o;
  o.anneal = p.get_float("lr_anneal");
  o.decay = p.get_float("lr_decay");
  o.decay_after = static_cast<int>(p.get_int("lr_decay_after"));
  o.warmup_steps = p.get_int("schedule.warmup_steps");
  const std::string decay = p.get_string("schedule.decay");
  o.step_decay = decay == "inverse_sqrt" ? StepDecay::kInverseSqrt
                 : decay == "cosine"     ? StepDecay::kCosine
                 : decay == "linear"     ? StepDecay::kLinear
                                         : StepDecay::kConstant;
  o.min_lr = p.get_float("schedule.min_lr");
  o.total_steps = p.get_int("schedule.total_steps");
  if (o.total_steps > 0 && o.total_steps <= o.warmup_steps)
    p.fail("schedule.total_steps", "schedule.total_steps (" + std::to_string(o.total_steps) +
                                       ") must be above schedule.warmup_steps (" + std::to_string(o.warmup_steps) + ")");
  return o;
}

LrSchedule::LrSchedule(const LrScheduleOptions& options, double base_lr, std::int64_t total_steps)
    : o_(options), epoch_lr_(base_lr), total_steps_(options.total_steps > 0 ? options.total_steps : total_steps) {}

void LrSchedule::start_epoch(int epoch) {
  if (o_.decay != 1.0 && epoch > o_.decay_after) epoch_lr_ *= o_.decay;
}

bool LrSchedule::anneal() {
  if (o_.anneal <= 0) return false;
  epoch_lr_ /= o_.anneal;
  return true;
}

double LrSchedule::lr_at(std::int64_t step) const {
  if (!o_.has_step_schedule()) return epoch_lr_;
  const auto w = static_cast<double>(o_.warmup_steps);
  const auto s = static_cast<double>(step);
  if (step < o_.warmup_steps) return epoch_lr_ * (s + 1.0) / w;
  const double floor = std::min(o_.min_lr, epoch_lr_);
  switch (o_.step_decay) {
    case StepDecay::kConstant: return epoch_lr_;
    case StepDecay::kInverseSqrt:
      // 1 at the end of warmup (or at step 0 without one), then 1/sqrt of the steps taken.
      return std::max(floor, epoch_lr_ * std::sqrt(std::max(w, 1.0) / (s + 1.0)));
    case StepDecay::kCosine:
    case StepDecay::kLinear: {
      const double span = static_cast<double>(std::max<std::int64_t>(total_steps_ - o_.warmup_steps, 1));
      const double progress = std::clamp((s - w) / span, 0.0, 1.0);
      const double shape = o_.step_decay == StepDecay::kCosine ? 0.5 * (1.0 + std::cos(M_PI * progress)) : 1.0 - progress;
      return floor + (epoch_lr_ - floor) * shape;
    }
  }
  return epoch_lr_;
}

}  // namespace loom
