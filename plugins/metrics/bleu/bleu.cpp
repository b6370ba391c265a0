// metrics/bleu: corpus BLEU (0-100) of a split's decoded translations against its references,
// as `loom bleu` computes it (loom/bleu.hpp): the textbook definition by default,
// sacreBLEU's with `sacrebleu: true`. The Evaluator decodes each batch (ComparesTexts) and
// hands over the detokenized hypotheses; the statistics add up over batches and are saved with
// checkpoints.
#include <cmath>

#include "loom/bleu.hpp"
#include "loom/plugin.hpp"

namespace {

class Bleu : public loom::Metric, public loom::ComparesTexts, public loom::SumsStatistics {
 public:
  explicit Bleu(loom::BleuOptions o) : o_(o) {}
  // matches 1-4, totals 1-4, sys_len, ref_len, sentences
  std::vector<double> statistics() const override {
    std::vector<double> s;
    for (auto v : stats_.matches) s.push_back(static_cast<double>(v));
    for (auto v : stats_.totals) s.push_back(static_cast<double>(v));
    for (auto v : {stats_.sys_len, stats_.ref_len, stats_.sentences}) s.push_back(static_cast<double>(v));
    return s;
  }
  void set_statistics(const std::vector<double>& s) override {
    constexpr auto kN = static_cast<std::size_t>(loom::kBleuOrder);
    auto at = [&](std::size_t i) { return i < s.size() ? static_cast<std::int64_t>(s[i]) : std::int64_t{0}; };
    for (std::size_t n = 0; n < kN; ++n) {
      stats_.matches[n] = at(n);
      stats_.totals[n] = at(kN + n);
    }
    stats_.sys_len = at(2 * kN);
    stats_.ref_len = at(2 * kN + 1);
    stats_.sentences = at(2 * kN + 2);
  }
  void update_texts(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) override {
    stats_ += loom::corpus_bleu_stats(hypotheses, {references}, o_);
  }

 protected:
  void reset_impl() override { stats_ = loom::BleuStats{}; }
  void update_impl(const loom::Batch&, const loom::ModelOutput&) override {}
  double value_impl() const override { return stats_.sentences > 0 ? loom::bleu_from_stats(stats_, o_).score : NAN; }
  bool higher_is_better_impl() const override { return true; }
  void save_state_impl(loom::StateDict& out) const override {
    for (int n = 0; n < loom::kBleuOrder; ++n) {
      out.set("matches." + std::to_string(n), stats_.matches[static_cast<std::size_t>(n)]);
      out.set("totals." + std::to_string(n), stats_.totals[static_cast<std::size_t>(n)]);
    }
    out.set("sys_len", stats_.sys_len);
    out.set("ref_len", stats_.ref_len);
    out.set("sentences", stats_.sentences);
  }
  void load_state_impl(const loom::StateDict& in) override {
    for (int n = 0; n < loom::kBleuOrder; ++n) {
      stats_.matches[static_cast<std::size_t>(n)] = in.integer("matches." + std::to_string(n));
      stats_.totals[static_cast<std::size_t>(n)] = in.integer("totals." + std::to_string(n));
    }
    stats_.sys_len = in.integer("sys_len");
    stats_.ref_len = in.integer("ref_len");
    stats_.sentences = in.integer("sentences");
  }

 private:
  loom::BleuOptions o_;
  loom::BleuStats stats_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kMetric,
      "bleu",
      "1.0",
      "corpus BLEU (0-100) of decoded translations: textbook, or sacreBLEU's with sacrebleu: true",
      {{"sacrebleu", loom::ParamType::kBool, "false", "sacreBLEU's defaults: 13a tokens, exp smoothing, raw counts"},
       {"tokenize", loom::ParamType::kString, "", "none or 13a (empty: the mode's default)", {"", "none", "13a"}},
       {"smooth", loom::ParamType::kString, "", "none or exp (empty: the mode's default)", {"", "none", "exp"}},
       {"lowercase", loom::ParamType::kBool, "false", "compare lower-cased text"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        loom::BleuOptions o = p.get_bool("sacrebleu") ? loom::BleuOptions::sacrebleu() : loom::BleuOptions{};
        if (!p.get_string("tokenize").empty())
          o.tokenize = p.get_string("tokenize") == "13a" ? loom::BleuTokenize::k13a : loom::BleuTokenize::kNone;
        if (!p.get_string("smooth").empty())
          o.smooth = p.get_string("smooth") == "exp" ? loom::BleuSmooth::kExp : loom::BleuSmooth::kNone;
        o.lowercase = p.get_bool("lowercase");
        return std::make_unique<Bleu>(o);
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
