#pragma once
// Contracts of models, optimizers and metrics (see loom/testing/contracts.hpp).
#include "loom/testing/contracts_base.hpp"
#include "loom/testing/gradcheck.hpp"

namespace loom::testing::contracts {

// ---- models --------------------------------------------------------------------------------

namespace detail {

struct Loss {
  double mean, sum;
  std::int64_t count;
};

// The model's loss on a batch from a fresh state, without dropout (evaluation mode).
inline Loss evaluate(Model& model, const Batch& batch, Mode mode = Mode::kEval) {
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  Graph g(mode, 7);
  ModelOutput out = model.forward(g, batch);
  return {out.loss.value().item(), out.loss_sum, out.count};
}

}  // namespace detail

// On `batch` (build the model without dropout): the loss is one finite value, the mean of
// loss_sum over count > 0 targets; and the parameter gradients agree with central finite
// differences (check_model_gradients, `per_parameter` values of each parameter) within
// `tolerance` as defined in loom/testing/gradcheck.hpp.
inline Failures model_gradients(Model& model, const Batch& batch, double tolerance = 2e-2,
                                int per_parameter = 6) {
  Failures failures;
  detail::guarded(failures, "gradient check", [&] {
    if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
    Graph g(Mode::kTrain, 7);
    ModelOutput out = model.forward(g, batch);
    if (out.loss.value().numel() != 1) {
      failures.push_back("loss has shape " + out.loss.shape().str() + ", not one value");
      return;
    }
    double loss = out.loss.value().item();
    if (!std::isfinite(loss)) failures.push_back("loss is " + detail::number(loss));
    if (out.count <= 0) failures.push_back("count of targets is " + std::to_string(out.count));
    else if (!detail::close(loss, out.loss_sum / static_cast<double>(out.count), 1e-4))
      failures.push_back("loss " + detail::number(loss) + " is not loss_sum / count = " +
                         detail::number(out.loss_sum) + " / " + std::to_string(out.count));
    GradCheck r = check_model_gradients(model, batch, per_parameter);
    if (r.checked == 0) failures.push_back("no trainable parameter to check");
    if (!r.ok(tolerance))
      failures.push_back("gradient error " + detail::number(r.worst_error) + " above " +
                         detail::number(tolerance) + " at " + r.worst_at);
  });
  return failures;
}

// Saving the parameters to `file`, changing them and loading them back restores every value
// and the loss on `batch` (evaluation mode, fresh state) exactly; when `other` (the same
// model built separately, e.g. with another seed) is given, it has exactly the same loss
// after loading the file.
inline Failures model_save_load(Model& model, const Batch& batch, const std::filesystem::path& file,
                                Model* other = nullptr) {
  Failures failures;
  detail::guarded(failures, "save/load", [&] {
    Parameters& params = model.parameters();
    const double before = detail::evaluate(model, batch).mean;
    std::vector<Tensor> saved;
    for (auto& p : params) saved.push_back(p.value.clone());
    params.save(file);
    for (auto& p : params) {
      float* v = p.value.data();
      for (std::int64_t i = 0; i < p.shape.numel(); ++i) v[i] = v[i] * 0.5f + 0.25f;
    }
    params.load(file);
    std::size_t k = 0;
    for (auto& p : params) {
      const Tensor& s = saved[k++];
      if (!std::equal(s.data(), s.data() + s.numel(), p.value.data()))
        failures.push_back("parameter '" + p.name + "' differs after load");
    }
    const double after = detail::evaluate(model, batch).mean;
    if (after != before)
      failures.push_back("loss " + detail::number(before) + " before saving, " +
                         detail::number(after) + " after loading");
    if (other != nullptr) {
      if (other->parameters().count() != params.count())
        failures.push_back("the second model has " + std::to_string(other->parameters().count()) +
                           " values, the first " + std::to_string(params.count()));
      other->parameters().load(file);
      const double loaded = detail::evaluate(*other, batch).mean;
      if (loaded != before)
        failures.push_back("loss " + detail::number(before) + ", the second model after loading " +
                           detail::number(loaded));
    }
  });
  return failures;
}

// ---- optimizers ----------------------------------------------------------------------------

// Minimises f(x) = |x - c|^2 over a parameter of 5 values starting at 0, the gradient
// 2 (x - c) set by hand before each of `steps` steps; f must fall by at least `factor` and
// stay finite. Every step returns the gradient norm before clipping. A second, frozen
// parameter (with a gradient of ones) is never changed.
inline Failures optimizer_minimises_quadratic(Optimizer& optimizer, int steps = 200,
                                              double factor = 100.0) {
  Failures failures;
  detail::guarded(failures, "quadratic", [&] {
    static const float c[5] = {1.0f, -2.0f, 3.0f, 0.5f, -1.5f};
    Parameters params;
    Parameter* x = params.add("x", Shape{5}, Init::zeros());
    Parameter* frozen = params.add("frozen", Shape{2}, Init::constant(0.75f));
    params.finalize(1);
    if (params.freeze("frozen") != 1) failures.push_back("freeze did not match 'frozen'");
    auto f = [&] {
      double s = 0;
      for (int i = 0; i < 5; ++i) s += (x->value.data()[i] - c[i]) * double(x->value.data()[i] - c[i]);
      return s;
    };
    const double start = f();
    bool norm_reported = false;
    for (int step = 0; step < steps; ++step) {
      params.zero_grad();
      for (int i = 0; i < 5; ++i) x->grad.data()[i] = 2.0f * (x->value.data()[i] - c[i]);
      frozen->grad.fill(1.0f);
      const double expected_norm = params.grad_norm();
      const double norm = optimizer.step(params);
      if (!norm_reported && !detail::close(norm, expected_norm, 1e-4)) {
        failures.push_back("step " + std::to_string(step) + " returned norm " + detail::number(norm) +
                           ", the gradient norm is " + detail::number(expected_norm));
        norm_reported = true;
      }
      if (!std::isfinite(f())) {
        failures.push_back("f is " + detail::number(f()) + " after step " + std::to_string(step));
        return;
      }
    }
    const double end = f();
    if (!(end * factor <= start))
      failures.push_back("f fell from " + detail::number(start) + " to " + detail::number(end) +
                         " in " + std::to_string(steps) + " steps, less than a factor " +
                         detail::number(factor));
    for (int i = 0; i < 2; ++i)
      if (frozen->value.data()[i] != 0.75f)
        failures.push_back("frozen parameter changed to " + detail::number(frozen->value.data()[i]));
  });
  return failures;
}

namespace detail {
// One section written to checkpoint bytes and read back, as a resumed run sees it.
inline StateDict round_trip(const std::function<void(StateDict&)>& save) {
  Checkpoint out;
  save(out.add_section("state"));
  return Checkpoint::parse(out.serialize(), "round trip").section("state");
}
}  // namespace detail

// `first` takes 3 steps on the quadratic of optimizer_minimises_quadratic; its state goes
// through checkpoint bytes into `second` (a fresh optimizer built the same way), which then
// takes 4 steps on a copy of the parameters while `first` takes the same 4: the values must
// be bitwise equal, as a run resumed from a checkpoint must continue exactly.
inline Failures optimizer_resumes_exactly(Optimizer& first, Optimizer& second) {
  Failures failures;
  detail::guarded(failures, "resume", [&] {
    static const float c[5] = {1.0f, -2.0f, 3.0f, 0.5f, -1.5f};
    Parameters a, b;
    for (Parameters* p : {&a, &b}) {
      p->add("x", Shape{5}, Init::uniform(0.5f));
      p->add("y", Shape{2, 3}, Init::uniform(0.5f));
      p->finalize(7);
    }
    auto step = [&](Optimizer& opt, Parameters& p) {
      p.zero_grad();
      for (int i = 0; i < 5; ++i) p[0].grad.data()[i] = 2.0f * (p[0].value.data()[i] - c[i]);
      for (int i = 0; i < 6; ++i) p[1].grad.data()[i] = p[1].value.data()[i] * 0.5f - 0.25f;
      opt.step(p);
    };
    for (int i = 0; i < 3; ++i) step(first, a);
    StateDict state = detail::round_trip([&](StateDict& s) { first.save_state(s); });
    b.values().copy_from(a.values());
    second.load_state(state, b);
    second.set_learning_rate(first.learning_rate());
    for (int i = 0; i < 4; ++i) {
      step(first, a);
      step(second, b);
    }
    for (std::int64_t i = 0; i < a.values().numel(); ++i)
      if (a.values().data()[i] != b.values().data()[i]) {
        failures.push_back("after resuming, value " + std::to_string(i) + " is " +
                           detail::number(b.values().data()[i]) + ", without interruption " +
                           detail::number(a.values().data()[i]) + ": save_state misses something");
        return;
      }
  });
  return failures;
}

// ---- metrics -------------------------------------------------------------------------------

struct MetricUpdate {
  Batch batch;
  ModelOutput output;
  // For metrics of decoded text (ComparesTexts): what the Evaluator would hand over.
  std::vector<std::string> hypotheses, references;
};

// One update per batch of decoded texts: hypotheses[i] against references[i].
inline std::vector<MetricUpdate> text_updates(const std::vector<std::vector<std::string>>& hypotheses,
                                              const std::vector<std::vector<std::string>>& references) {
  std::vector<MetricUpdate> out(hypotheses.size());
  for (std::size_t i = 0; i < out.size() && i < references.size(); ++i) {
    out[i].hypotheses = hypotheses[i];
    out[i].references = references[i];
  }
  return out;
}

namespace detail {
inline void apply(Metric& metric, const MetricUpdate& u) {
  metric.update(u.batch, u.output);
  if (auto* t = dynamic_cast<ComparesTexts*>(&metric); t && !u.references.empty()) t->update_texts(u.hypotheses, u.references);
}
}  // namespace detail

// After reset() and the given updates, value() is `expected` within `relative` tolerance
// (NaN expects NaN); reset() forgets everything, so doing it all again gives the same value.
inline Failures metric_matches(Metric& metric, const std::vector<MetricUpdate>& updates,
                               double expected, double relative = 1e-9) {
  Failures failures;
  detail::guarded(failures, "metric", [&] {
    double values[2];
    for (double& v : values) {
      metric.reset();
      for (const auto& u : updates) detail::apply(metric, u);
      v = metric.value();
    }
    if (!detail::close(values[0], expected, relative))
      failures.push_back("value " + detail::number(values[0]) + " after " +
                         std::to_string(updates.size()) + " updates, expected " +
                         detail::number(expected));
    if (!detail::close(values[1], values[0], 0.0))
      failures.push_back("value " + detail::number(values[1]) + " after reset and the same updates, " +
                         "first time " + detail::number(values[0]));
  });
  return failures;
}

// The first half of `updates` goes into `first`, whose state then goes through checkpoint
// bytes into `second` (a fresh metric); the rest goes into `second`: its value must equal
// that of `first` given every update, bitwise.
inline Failures metric_resumes_exactly(Metric& first, Metric& second, const std::vector<MetricUpdate>& updates) {
  Failures failures;
  detail::guarded(failures, "metric resume", [&] {
    first.reset();
    second.reset();
    const std::size_t half = updates.size() / 2;
    for (std::size_t i = 0; i < half; ++i) detail::apply(first, updates[i]);
    StateDict state = detail::round_trip([&](StateDict& s) { first.save_state(s); });
    second.load_state(state);
    for (std::size_t i = half; i < updates.size(); ++i) {
      detail::apply(first, updates[i]);
      detail::apply(second, updates[i]);
    }
    const double a = first.value(), b = second.value();
    if (!(a == b || (std::isnan(a) && std::isnan(b))))
      failures.push_back("value " + detail::number(b) + " after resuming, " + detail::number(a) +
                         " without interruption: save_state misses something");
  });
  return failures;
}

// Data-parallel ranks each see part of a split: the updates at even positions go into `even`,
// those at odd positions into `odd`, all of them into `whole` (three fresh metrics of one
// configuration). The two parts' statistics, added (the shorter list padded with zeros) and
// set into `even`, must give whole's value to `relative` (sums of doubles in another order),
// and statistics() set back unchanged must leave a value as it was.
inline Failures metric_statistics_add_up(Metric& whole, Metric& even, Metric& odd, const std::vector<MetricUpdate>& updates,
                                         double relative = 1e-12) {
  Failures failures;
  detail::guarded(failures, "metric statistics", [&] {
    auto* sums_even = dynamic_cast<SumsStatistics*>(&even);
    auto* sums_odd = dynamic_cast<SumsStatistics*>(&odd);
    if (sums_even == nullptr || sums_odd == nullptr) {
      failures.push_back("the metric does not implement SumsStatistics, so it cannot run on several ranks");
      return;
    }
    for (Metric* m : {&whole, &even, &odd}) m->reset();
    for (std::size_t i = 0; i < updates.size(); ++i) {
      detail::apply(whole, updates[i]);
      detail::apply(i % 2 == 0 ? even : odd, updates[i]);
    }
    const double before = odd.value();
    sums_odd->set_statistics(sums_odd->statistics());
    if (!(odd.value() == before || (std::isnan(before) && std::isnan(odd.value()))))
      failures.push_back("value " + detail::number(odd.value()) + " after setting its own statistics, " +
                         detail::number(before) + " before");
    std::vector<double> a = sums_even->statistics(), b = sums_odd->statistics();
    if (a.size() < b.size()) a.resize(b.size(), 0.0);
    for (std::size_t i = 0; i < b.size(); ++i) a[i] += b[i];
    sums_even->set_statistics(a);
    const double expected = whole.value(), got = even.value();
    if (!detail::close(got, expected, relative))
      failures.push_back("value " + detail::number(got) + " from the two parts' statistics added, " +
                         detail::number(expected) + " from every update");
  });
  return failures;
}

}  // namespace loom::testing::contracts
