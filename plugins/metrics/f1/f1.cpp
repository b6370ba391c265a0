// metrics/f1: precision, recall or F1 over a whole split, from the counts of true positives,
// false positives and false negatives per class:
//   precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2 P R / (P + R),
// each 0 when its denominator is 0 (as scikit-learn's zero_division=0). `average: binary`
// reports the class `positive`; `macro` the unweighted mean over the classes of the scores.
#include <algorithm>
#include <cmath>
#include <vector>

#include "loom/errors.hpp"
#include "loom/plugin.hpp"

namespace {

enum class Measure { kF1, kPrecision, kRecall };

class F1 : public loom::Metric, public loom::SumsStatistics {
 public:
  F1(Measure measure, bool macro, std::int32_t positive) : measure_(measure), macro_(macro), positive_(positive) {}
  // tp, fp, fn of class 0, then of class 1, ...: a rank that saw fewer classes adds zeros.
  std::vector<double> statistics() const override {
    std::vector<double> s;
    for (std::size_t c = 0; c < tp_.size(); ++c)
      for (auto v : {tp_[c], fp_[c], fn_[c]}) s.push_back(static_cast<double>(v));
    return s;
  }
  void set_statistics(const std::vector<double>& s) override {
    tp_.assign(s.size() / 3, 0);
    fp_.assign(s.size() / 3, 0);
    fn_.assign(s.size() / 3, 0);
    for (std::size_t c = 0; c < tp_.size(); ++c) {
      tp_[c] = static_cast<std::int64_t>(s[3 * c]);
      fp_[c] = static_cast<std::int64_t>(s[3 * c + 1]);
      fn_[c] = static_cast<std::int64_t>(s[3 * c + 2]);
    }
  }

 protected:
  void reset_impl() override { tp_.clear(), fp_.clear(), fn_.clear(); }
  void update_impl(const loom::Batch& batch, const loom::ModelOutput& out) override {
    auto p = loom::class_predictions(batch, out, "f1");
    grow(static_cast<std::size_t>(p.classes));
    for (std::size_t i = 0; i < p.predicted.size(); ++i) {
      const std::int32_t label = p.labels[i], guess = p.predicted[i];
      if (label < 0 || label >= p.classes)
        throw loom::InputError("metric 'f1': label " + std::to_string(label) + " outside the model's " +
                               std::to_string(p.classes) + " classes");
      if (label == guess) {
        ++tp_[static_cast<std::size_t>(label)];
      } else {
        ++fp_[static_cast<std::size_t>(guess)];
        ++fn_[static_cast<std::size_t>(label)];
      }
    }
  }
  double value_impl() const override {
    if (tp_.empty()) return NAN;
    if (!macro_) return positive_ < static_cast<std::int32_t>(tp_.size()) ? score(static_cast<std::size_t>(positive_)) : 0.0;
    double sum = 0.0;
    for (std::size_t c = 0; c < tp_.size(); ++c) sum += score(c);
    return sum / static_cast<double>(tp_.size());
  }
  bool higher_is_better_impl() const override { return true; }
  void save_state_impl(loom::StateDict& out) const override {
    for (const auto& [name, counts] : {std::pair{"tp", &tp_}, std::pair{"fp", &fp_}, std::pair{"fn", &fn_}}) {
      loom::Json a = loom::Json::array();
      for (auto v : *counts) a.push_back(v);
      out.set(name, a);
    }
  }
  void load_state_impl(const loom::StateDict& in) override {
    for (const auto& [name, counts] : {std::pair{"tp", &tp_}, std::pair{"fp", &fp_}, std::pair{"fn", &fn_}}) {
      const loom::Json& a = in.value(name);
      if (!a.is_array()) throw loom::InputError(in.origin + ": '" + name + "' is not a list of counts");
      counts->clear();
      for (const auto& v : a.items()) {
        if (!v.is_integer() || v.integer() < 0) throw loom::InputError(in.origin + ": '" + name + "' holds a bad count");
        counts->push_back(v.integer());
      }
    }
    if (fp_.size() != tp_.size() || fn_.size() != tp_.size())
      throw loom::InputError(in.origin + ": tp, fp and fn count different numbers of classes");
  }

 private:
  void grow(std::size_t classes) {
    if (tp_.size() >= classes) return;
    tp_.resize(classes), fp_.resize(classes), fn_.resize(classes);
  }
  static double ratio(std::int64_t a, std::int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }
  double score(std::size_t c) const {
    const double precision = ratio(tp_[c], tp_[c] + fp_[c]), recall = ratio(tp_[c], tp_[c] + fn_[c]);
    switch (measure_) {
      case Measure::kPrecision: return precision;
      case Measure::kRecall: return recall;
      default: return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    }
  }

  Measure measure_;
  bool macro_;
  std::int32_t positive_;
  std::vector<std::int64_t> tp_, fp_, fn_;  // per class
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kMetric,
      "f1",
      "1.0",
      "F1, precision or recall of a positive class, or their macro average over classes",
      {{"measure", loom::ParamType::kString, "f1", "what to report", {"f1", "precision", "recall"}},
       {"average", loom::ParamType::kString, "binary", "binary: of the class `positive`; macro: mean over classes", {"binary", "macro"}},
       {"positive", loom::ParamType::kInt, "1", "the positive class id (binary)", {}, 0}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        std::string m = p.get_string("measure");
        Measure measure = m == "precision" ? Measure::kPrecision : m == "recall" ? Measure::kRecall : Measure::kF1;
        return std::make_unique<F1>(measure, p.get_string("average") == "macro",
                                    static_cast<std::int32_t>(p.get_int("positive")));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
