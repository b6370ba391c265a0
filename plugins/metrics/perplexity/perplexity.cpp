// metrics/perplexity: exp of the mean cross-entropy over every target token of a split,
// exp(sum of losses / number of targets), not a mean of per-batch perplexities. The losses are
// the plain negative log-likelihoods (ModelOutput::nll_sum), not a label-smoothed training loss.
#include <cmath>

#include "loom/plugin.hpp"

namespace {

class Perplexity : public loom::Metric, public loom::SumsStatistics {
 public:
  std::vector<double> statistics() const override { return {loss_sum_, static_cast<double>(count_)}; }
  void set_statistics(const std::vector<double>& s) override {
    loss_sum_ = s.size() > 0 ? s[0] : 0.0;
    count_ = s.size() > 1 ? static_cast<std::int64_t>(s[1]) : 0;
  }

 protected:
  void reset_impl() override {
    loss_sum_ = 0.0;
    count_ = 0;
  }
  void update_impl(const loom::Batch&, const loom::ModelOutput& out) override {
    // The plain NLL, also under label smoothing (NaN: a model output not from Model::forward).
    loss_sum_ += std::isnan(out.nll_sum) ? out.loss_sum : out.nll_sum;
    count_ += out.count;
  }
  double value_impl() const override {
    return count_ > 0 ? std::exp(loss_sum_ / static_cast<double>(count_)) : NAN;
  }
  bool higher_is_better_impl() const override { return false; }
  void save_state_impl(loom::StateDict& out) const override {
    out.set("loss_sum", loss_sum_);
    out.set("count", count_);
  }
  void load_state_impl(const loom::StateDict& in) override {
    loss_sum_ = in.number("loss_sum");
    count_ = in.integer("count");
  }

 private:
  double loss_sum_ = 0.0;
  std::int64_t count_ = 0;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion, loom::Kind::kMetric, "perplexity", "1.0",
      "exp of the mean per-token cross-entropy over a split", {},
      [](loom::BuildContext&) -> std::unique_ptr<loom::Component> {
        return std::make_unique<Perplexity>();
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
