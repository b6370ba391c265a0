// metrics/word_accuracy: words compared by position, worked by hand; missing words are wrong,
// extra ones count for nothing; the state through a checkpoint.
#define BOOST_TEST_MODULE metric_word_accuracy
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

namespace {

struct Built {
  Built() : env(registry()) {
    env.add("m", "word_accuracy");
    metric = &env.get<loom::Metric>("m");
    texts = dynamic_cast<loom::ComparesTexts*>(metric);
  }
  static const loom::Registry& registry() { return loom::testing::registry_of(LOOM_TEST_PLUGIN_FILE); }
  loom::testing::Env env;
  loom::Metric* metric = nullptr;
  loom::ComparesTexts* texts = nullptr;
};

}  // namespace

BOOST_AUTO_TEST_CASE(by_position) {
  Built b;
  BOOST_REQUIRE(b.texts != nullptr);
  BOOST_TEST(std::isnan(b.metric->value()));
  b.texts->update_texts({"a b c", "d"}, {"a x c", "d e"});       // 2 of 3, 1 of 2
  BOOST_TEST(b.metric->value() == 3.0 / 5.0);
  b.texts->update_texts({"f g h i"}, {"f g"});                  // extra words: 2 of 2
  BOOST_TEST(b.metric->value() == 5.0 / 7.0);
  b.metric->reset();
  b.texts->update_texts({""}, {"a b"});
  BOOST_TEST(b.metric->value() == 0.0);
}

BOOST_AUTO_TEST_CASE(state_survives_a_checkpoint) {
  Built first, second;
  first.texts->update_texts({"a b c"}, {"a x c"});
  loom::StateDict state;
  first.metric->save_state(state);
  second.metric->load_state(state);
  first.texts->update_texts({"d"}, {"d e"});
  second.texts->update_texts({"d"}, {"d e"});
  BOOST_TEST(first.metric->value() == second.metric->value());
  BOOST_TEST(second.metric->value() == 3.0 / 5.0);
}

// Ranks decode their shares of a split: their statistics add up to the whole split's value.
BOOST_AUTO_TEST_CASE(statistics_of_ranks_add_up) {
  Built whole, even, odd;
  // Pig Latin sentences, word by word: right, wrong, missing and extra words.
  const auto updates = loom::testing::contracts::text_updates(
      {{"ethay atcay"}, {"eenquay aresquay ellowyay"}, {"ymay", ""}, {"ythmrhay way-eingbay extra"}},
      {{"ethay atcay"}, {"eenquay aresqua ellowyay"}, {"ymay ethay", "impressway"}, {"ythmrhay ellway-eingbay"}});
  auto failures = loom::testing::contracts::metric_statistics_add_up(*whole.metric, *even.metric, *odd.metric, updates, 0.0);
  BOOST_TEST(failures.empty(), loom::testing::contracts::join(failures));
}
