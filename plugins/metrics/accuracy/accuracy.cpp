// metrics/accuracy: the share of examples whose predicted class (the highest score) is their
// label, over a whole split.
#include <cmath>

#include "loom/plugin.hpp"

namespace {

class Accuracy : public loom::Metric, public loom::SumsStatistics {
 public:
  std::vector<double> statistics() const override {
    return {static_cast<double>(correct_), static_cast<double>(total_)};
  }
  void set_statistics(const std::vector<double>& s) override {
    correct_ = s.size() > 0 ? static_cast<std::int64_t>(s[0]) : 0;
    total_ = s.size() > 1 ? static_cast<std::int64_t>(s[1]) : 0;
  }

 protected:
  void reset_impl() override { correct_ = total_ = 0; }
  void update_impl(const loom::Batch& batch, const loom::ModelOutput& out) override {
    auto p = loom::class_predictions(batch, out, "accuracy");
    for (std::size_t i = 0; i < p.predicted.size(); ++i) correct_ += p.predicted[i] == p.labels[i];
    total_ += static_cast<std::int64_t>(p.predicted.size());
  }
  double value_impl() const override {
    return total_ > 0 ? static_cast<double>(correct_) / static_cast<double>(total_) : NAN;
  }
  bool higher_is_better_impl() const override { return true; }
  void save_state_impl(loom::StateDict& out) const override {
    out.set("correct", correct_);
    out.set("total", total_);
  }
  void load_state_impl(const loom::StateDict& in) override {
    correct_ = in.integer("correct");
    total_ = in.integer("total");
  }

 private:
  std::int64_t correct_ = 0, total_ = 0;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion, loom::Kind::kMetric, "accuracy", "1.0",
      "share of examples whose highest-scoring class is their label", {},
      [](loom::BuildContext&) -> std::unique_ptr<loom::Component> { return std::make_unique<Accuracy>(); }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
