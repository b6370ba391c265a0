#include "loom/optim.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include "loom/errors.hpp"
#include "loom/json.hpp"
#include "loom/parallel.hpp"

namespace loom {

namespace {

// Values per chunk of one parameter's update: big enough that a chunk outweighs scheduling,
// small enough that the large matrices of a model split over the threads.
constexpr std::int64_t kUpdateGrain = 1 << 16;

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

std::vector<ParamSpec> optimizer_params(const std::string& lr, std::vector<ParamSpec> specific,
                                        const std::string& weight_decay, WeightDecay kind) {
  std::vector<ParamSpec> specs;
  specs.push_back({"lr", ParamType::kFloat, lr, "learning rate", {}, 0.0});
  for (auto& s : specific) specs.push_back(std::move(s));
  specs.push_back({"weight_decay",
                   ParamType::kFloat,
                   weight_decay,
                   kind == WeightDecay::kL2
                       ? "L2 penalty added to the gradient"
                       : "decoupled weight decay: p <- p (1 - lr weight_decay) before each update",
                   {},
                   0.0});
  specs.push_back({"no_decay", ParamType::kStringList, "",
                   "globs of parameter names weight_decay skips (e.g. [\"*.bias\", \"*norm*\", \"embedding.*\"])"});
  specs.push_back(
      {"clip", ParamType::kFloat, "0", "clip the global gradient norm to this (0: off)", {}, 0.0});
  return specs;
}

OptimizerSettings OptimizerSettings::from(const Params& params) {
  return {params.get_float("lr"), params.get_float("weight_decay"), params.get_float("clip"),
          params.get_strings("no_decay")};
}

double float_below(const Params& params, const std::string& name, double bound) {
  const double v = params.get_float(name);
  if (!(v < bound))
    params.fail(name,
                "'" + name + "' must be below " + number_text(bound) + ", got " + number_text(v));
  return v;
}

double float_positive(const Params& params, const std::string& name) {
  const double v = params.get_float(name);
  if (!(v > 0.0)) params.fail(name, "'" + name + "' must be greater than 0, got " + number_text(v));
  return v;
}

ElementwiseOptimizer::ElementwiseOptimizer(const OptimizerSettings& settings)
    : weight_decay_(settings.weight_decay), clip_(settings.clip), no_decay_(settings.no_decay) {
  lr_ = settings.lr;
}

double ElementwiseOptimizer::weight_decay_of(const std::string& name) const {
  for (const auto& glob : no_decay_)
    if (glob_match(glob, name)) return 0.0;
  return weight_decay_;
}

int ElementwiseOptimizer::add_state(const std::string& name, float initial) {
  LOOM_ASSERT(!name.empty() && name.find('.') == std::string::npos,
              "state name '" + name + "' is empty or has a '.'");
  for (const auto& b : buffers_) LOOM_ASSERT(b.name != name, "state '" + name + "' declared twice");
  LOOM_ASSERT(state_.empty(), "state '" + name + "' declared after the first step");
  buffers_.push_back({name, initial});
  return static_cast<int>(buffers_.size()) - 1;
}

double ElementwiseOptimizer::step_impl(Parameters& params) {
  const double norm = clip_ > 0.0 ? params.clip_grad_norm(clip_) : params.grad_norm();
  std::vector<float*> views(buffers_.size());
  for (auto& p : params) {
    if (!p.trainable) continue;
    ParamState& st = state_[p.name];
    if (st.buffers.empty())
      for (const auto& b : buffers_) st.buffers.push_back(Tensor::full(p.shape, b.initial));
    for (std::size_t k = 0; k < views.size(); ++k) {
      LOOM_ASSERT(st.buffers[k].shape() == p.shape, "optimizer state of '" + p.name + "' is " +
                                                        st.buffers[k].shape().str() +
                                                        ", the parameter " + p.shape.str());
      views[k] = st.buffers[k].data();
    }
    ++st.steps;
    const Slice slice{p.value.data(), p.grad.data(), views.data(), st.steps, weight_decay_of(p.name)};
    parallel_chunks(p.shape.numel(), kUpdateGrain,
                    [&](std::int64_t begin, std::int64_t end) { update(slice, begin, end); });
  }
  ++steps_;
  return norm;
}

void ElementwiseOptimizer::save_state_impl(StateDict& out) const {
  out.set("step", Json(steps_));
  Json steps = Json::object();
  for (const auto& [name, st] : state_) {
    steps[name] = Json(st.steps);
    for (std::size_t k = 0; k < buffers_.size(); ++k)
      out.set_tensor(buffers_[k].name + "." + name, st.buffers[k]);
  }
  out.set("parameter_steps", std::move(steps));
}

void ElementwiseOptimizer::load_state_impl(const StateDict& in, const Parameters& params) {
  const std::int64_t steps = in.integer("step");
  if (steps < 0)
    throw InputError(in.origin + ": step is " + std::to_string(steps) + ", not a count");
  const Json& per_param = in.value("parameter_steps");
  if (!per_param.is_object()) throw InputError(in.origin + ": parameter_steps is not an object");

  std::map<std::string, const Parameter*> by_name;
  for (const auto& p : params) by_name[p.name] = &p;
  std::map<std::string, ParamState> loaded;
  for (const auto& [name, count] : per_param.members()) {
    auto p = by_name.find(name);
    if (p == by_name.end())
      throw InputError(in.origin + ": optimizer state for '" + name +
                       "', which is not a parameter of the model");
    if (!count.is_integer() || count.integer() < 1 || count.integer() > steps)
      throw InputError(in.origin + ": the step count of '" + name +
                       "' is not an integer from 1 to " + std::to_string(steps));
    ParamState& st = loaded[name];
    st.steps = count.integer();
    for (const auto& b : buffers_) {
      const std::string key = b.name + "." + name;
      if (!in.has_tensor(key))
        throw InputError(in.origin + ": no '" + b.name + "' state for parameter '" + name +
                         "' (saved by an optimizer with other settings?)");
      const Tensor& t = in.tensor(key);
      if (t.shape() != p->second->shape)
        throw InputError(in.origin + ": '" + b.name + "' state of parameter '" + name + "' is " +
                         t.shape().str() + ", the parameter is " + p->second->shape.str());
      st.buffers.push_back(t.clone());
    }
  }
  // Every tensor must be one of those just read: anything else was saved by an optimizer
  // with other settings (momentum, amsgrad, centered) and would be silently dropped.
  for (const auto& [key, t] : in.tensors()) {
    const auto dot = key.find('.');
    bool known = false;
    if (dot != std::string::npos && loaded.count(key.substr(dot + 1)) > 0)
      for (const auto& b : buffers_) known = known || b.name == key.substr(0, dot);
    if (!known)
      throw InputError(
          in.origin + ": optimizer state '" + key +
          "' is not kept by this optimizer with its settings (saved with other settings?)");
  }
  state_ = std::move(loaded);
  steps_ = steps;
}

// ---- Adam and AdamW ---------------------------------------------------------------------------

AdamOptimizer::AdamOptimizer(const Params& p, WeightDecay decay)
    : ElementwiseOptimizer(OptimizerSettings::from(p)),
      decoupled_(decay == WeightDecay::kDecoupled),
      beta1_(float_below(p, "beta1", 1.0)),
      beta2_(float_below(p, "beta2", 1.0)),
      eps_(float_positive(p, "eps")),
      exp_avg_(add_state("exp_avg")),
      exp_avg_sq_(add_state("exp_avg_sq")),
      max_exp_avg_sq_(p.get_bool("amsgrad") ? add_state("max_exp_avg_sq") : -1) {}

std::vector<ParamSpec> AdamOptimizer::specific_params() {
  return {{"beta1", ParamType::kFloat, "0.9", "decay rate of the running mean of g (< 1)", {}, 0.0},
          {"beta2", ParamType::kFloat, "0.999", "decay rate of the running mean of g^2 (< 1)", {}, 0.0},
          {"eps", ParamType::kFloat, "1e-8", "added to sqrt(v) after bias correction (> 0)", {}, 0.0},
          {"amsgrad", ParamType::kBool, "false", "divide by the largest mean of g^2 so far (AMSGrad)"}};
}

void AdamOptimizer::update(const Slice& s, std::int64_t begin, std::int64_t end) const {
  const double t = static_cast<double>(s.step);
  const auto neg_step_size = static_cast<float>(-(lr_ / (1.0 - std::pow(beta1_, t))));
  const auto bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2_, t)));
  const auto b1 = static_cast<float>(beta1_), c1 = static_cast<float>(1.0 - beta1_),
             b2 = static_cast<float>(beta2_), c2 = static_cast<float>(1.0 - beta2_), eps = static_cast<float>(eps_);
  // Exactly one of the two decays applies.
  const auto wd = decoupled_ ? 0.0f : static_cast<float>(s.weight_decay);
  const auto decay = static_cast<float>(decoupled_ ? 1.0 - lr_ * s.weight_decay : 1.0);
  float* w = s.value;
  const float* g = s.grad;
  float* m = s.state[exp_avg_];
  float* v = s.state[exp_avg_sq_];
  float* v_max = max_exp_avg_sq_ >= 0 ? s.state[max_exp_avg_sq_] : nullptr;
  for (std::int64_t i = begin; i < end; ++i) {
    if (decoupled_) w[i] = w[i] * decay;
    const float d = wd != 0.0f ? g[i] + wd * w[i] : g[i];
    m[i] = m[i] * b1 + c1 * d;
    v[i] = v[i] * b2 + c2 * d * d;
    float second = v[i];
    if (v_max != nullptr) second = v_max[i] = std::max(v_max[i], v[i]);
    const float denom = std::sqrt(second) / bias_correction2_sqrt + eps;
    w[i] = w[i] + neg_step_size * m[i] / denom;
  }
}

}  // namespace loom
