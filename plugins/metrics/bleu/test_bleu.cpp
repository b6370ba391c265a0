// metrics/bleu: the value worked by hand over two updates (the statistics add up across
// batches), equal to `loom bleu`'s corpus_bleu on the same texts, sacreBLEU mode and the
// overrides, and the state through a checkpoint.
#define BOOST_TEST_MODULE metric_bleu
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "loom/bleu.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

namespace {

struct Built {
  explicit Built(const std::string& yaml = "{}") : env(registry()) {
    env.add("m", "bleu", yaml);
    metric = &env.get<loom::Metric>("m");
    texts = dynamic_cast<loom::ComparesTexts*>(metric);
  }
  static const loom::Registry& registry() { return loom::testing::registry_of(LOOM_TEST_PLUGIN_FILE); }
  loom::testing::Env env;
  loom::Metric* metric = nullptr;
  loom::ComparesTexts* texts = nullptr;
};

}  // namespace

BOOST_AUTO_TEST_CASE(adds_up_over_batches) {
  Built b;
  BOOST_REQUIRE(b.texts != nullptr);
  b.metric->reset();
  BOOST_TEST(std::isnan(b.metric->value()));
  b.texts->update_texts({"a b c d e"}, {"a b c d f"});
  b.texts->update_texts({"x y"}, {"x y"});
  // p1 = 6/7, p2 = 4/5, p3 = 2/(3 + max(1, 0)), p4 = 1/(2 + 1); lengths equal: BP 1.
  const double expected = 100.0 * std::pow(6.0 / 7 * 4.0 / 5 * 2.0 / 4 * 1.0 / 3, 0.25);
  BOOST_TEST(std::abs(b.metric->value() - expected) < 1e-9);
  const double direct =
      loom::corpus_bleu({"a b c d e", "x y"}, {{"a b c d f", "x y"}}, loom::BleuOptions{}).score;
  BOOST_TEST(b.metric->value() == direct);
  BOOST_TEST(b.metric->higher_is_better());
}

BOOST_AUTO_TEST_CASE(sacrebleu_mode_and_overrides) {
  const std::vector<std::string> hyp = {"The cat, sat.", "Hi!"}, ref = {"The cat sat.", "Hello!"};
  Built s("{sacrebleu: true}");
  s.texts->update_texts(hyp, ref);
  BOOST_TEST(s.metric->value() == loom::corpus_bleu(hyp, {ref}, loom::BleuOptions::sacrebleu()).score);
  Built o("{sacrebleu: true, tokenize: none, lowercase: true}");
  o.texts->update_texts(hyp, ref);
  loom::BleuOptions expected = loom::BleuOptions::sacrebleu();
  expected.tokenize = loom::BleuTokenize::kNone;
  expected.lowercase = true;
  BOOST_TEST(o.metric->value() == loom::corpus_bleu(hyp, {ref}, expected).score);
  BOOST_TEST(o.metric->value() != s.metric->value());
}

BOOST_AUTO_TEST_CASE(state_survives_a_checkpoint) {
  Built first, second;
  first.texts->update_texts({"a b c d e"}, {"a b c d f"});
  loom::StateDict state;
  first.metric->save_state(state);
  second.metric->load_state(state);
  first.texts->update_texts({"x y"}, {"x y z"});
  second.texts->update_texts({"x y"}, {"x y z"});
  BOOST_TEST(first.metric->value() == second.metric->value());
}

// Ranks decode their shares of a split: their statistics add up to the whole split's value.
BOOST_AUTO_TEST_CASE(statistics_of_ranks_add_up) {
  Built whole, even, odd;
  const auto updates = loom::testing::contracts::text_updates(
      {{"a b c d e"}, {"x y"}, {"the cat sat on the mat", "a"}, {"b c d"}},
      {{"a b c d f"}, {"x y z"}, {"the cat sat on a mat", "a b"}, {"b c d"}});
  auto failures = loom::testing::contracts::metric_statistics_add_up(*whole.metric, *even.metric, *odd.metric, updates, 0.0);
  BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
}
