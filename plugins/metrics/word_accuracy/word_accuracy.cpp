// metrics/word_accuracy: the share of reference words that the decoded translation has at the
// same position (words split at white space), over a split: for word-by-word tasks such as
// Pig Latin, where a sentence's k-th output word translates its k-th input word. A missing
// word counts as wrong; extra output words count for nothing.
#include <cmath>
#include <sstream>

#include "loom/plugin.hpp"

namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class WordAccuracy : public loom::Metric, public loom::ComparesTexts, public loom::SumsStatistics {
 public:
  std::vector<double> statistics() const override { return {static_cast<double>(right_), static_cast<double>(total_)}; }
  void set_statistics(const std::vector<double>& s) override {
    right_ = s.size() > 0 ? static_cast<std::int64_t>(s[0]) : 0;
    total_ = s.size() > 1 ? static_cast<std::int64_t>(s[1]) : 0;
  }
  void update_texts(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) override {
    for (std::size_t i = 0; i < references.size() && i < hypotheses.size(); ++i) {
      const auto h = words(hypotheses[i]), r = words(references[i]);
      for (std::size_t k = 0; k < r.size(); ++k) right_ += k < h.size() && h[k] == r[k];
      total_ += static_cast<std::int64_t>(r.size());
    }
  }

 protected:
  void reset_impl() override { right_ = total_ = 0; }
  void update_impl(const loom::Batch&, const loom::ModelOutput&) override {}
  double value_impl() const override { return total_ > 0 ? static_cast<double>(right_) / static_cast<double>(total_) : NAN; }
  bool higher_is_better_impl() const override { return true; }
  void save_state_impl(loom::StateDict& out) const override {
    out.set("right", right_);
    out.set("total", total_);
  }
  void load_state_impl(const loom::StateDict& in) override {
    right_ = in.integer("right");
    total_ = in.integer("total");
  }

 private:
  std::int64_t right_ = 0, total_ = 0;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion, loom::Kind::kMetric, "word_accuracy", "1.0",
      "share of reference words the decoded translation has at the same position", {},
      [](loom::BuildContext&) -> std::unique_ptr<loom::Component> { return std::make_unique<WordAccuracy>(); }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
