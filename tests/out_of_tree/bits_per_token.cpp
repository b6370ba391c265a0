// metrics/bits_per_token: mean cross-entropy in bits, log2(perplexity). A third-party plugin.
#include <cmath>

#include "loom/plugin.hpp"

namespace {

class BitsPerToken : public loom::Metric {
 protected:
  void reset_impl() override { sum_ = 0.0; count_ = 0; }
  void update_impl(const loom::Batch&, const loom::ModelOutput& out) override {
    sum_ += out.loss_sum;
    count_ += out.count;
  }
  double value_impl() const override { return count_ ? sum_ / static_cast<double>(count_) / std::log(2.0) : NAN; }
  bool higher_is_better_impl() const override { return false; }
  void save_state_impl(loom::StateDict& out) const override {
    out.set("sum", sum_);
    out.set("count", count_);
  }
  void load_state_impl(const loom::StateDict& in) override {
    sum_ = in.number("sum");
    count_ = in.integer("count");
  }

 private:
  double sum_ = 0.0;
  std::int64_t count_ = 0;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{loom::kAbiVersion, loom::Kind::kMetric, "bits_per_token", "0.1",
                                        "mean cross-entropy in bits per token", {},
                                        [](loom::BuildContext&) -> std::unique_ptr<loom::Component> {
                                          return std::make_unique<BitsPerToken>();
                                        }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
