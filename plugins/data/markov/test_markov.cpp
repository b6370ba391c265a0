#define BOOST_TEST_MODULE markov
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "loom/json.hpp"
#include "loom/registry.hpp"
#include "loom/testing/contracts.hpp"
#include "loom/testing/plugin_test.hpp"

using loom::testing::contracts::TempDir;

namespace {

struct Built {
  std::int64_t train_tokens;
  double optimum;
};

// Builds the loader on `dir` with the given training size and reads back what it serves.
Built build(const std::string& dir, int train_tokens) {
  loom::Registry registry;
  registry.load_library(LOOM_TEST_PLUGIN_FILE);
  registry.load_directory(LOOM_TEST_PLUGIN_DIR, true);  // the word tokenizer
  loom::testing::Env env(registry);
  env.add("tok", "word", "{eos: <eos>}");
  env.add("data", "markov",
          "{dir: '" + dir + "', train_tokens: " + std::to_string(train_tokens) +
              ", valid_tokens: 200, test_tokens: 200, vocab_size: 20, branching: 3}");
  auto& data = env.get<loom::DataLoader>("data");
  std::int64_t tokens = 0;
  for (const auto& [t, c] : data.count_tokens("train")) tokens += c;
  double optimum = dynamic_cast<loom::HasReferenceScores&>(data).reference_scores().at("optimum_ppl");
  return {tokens, optimum};
}

double optimum_in_file(const std::string& dir) {
  std::ifstream in(dir + "/optimum.json");
  std::stringstream text;
  text << in.rdbuf();
  return loom::Json::parse(text.str(), "optimum.json").find("perplexity")->number();
}

}  // namespace

BOOST_AUTO_TEST_CASE(generates_once_and_reports_the_optimum) {
  TempDir tmp;
  std::string dir = (tmp.path() / "corpus").string();
  Built first = build(dir, 500);
  BOOST_TEST(first.train_tokens >= 500);
  BOOST_TEST(first.optimum == optimum_in_file(dir));
  BOOST_TEST(first.optimum > 1.0);
  // A second build with the same settings reads the same corpus.
  Built again = build(dir, 500);
  BOOST_TEST(again.train_tokens == first.train_tokens);
}

BOOST_AUTO_TEST_CASE(other_settings_regenerate_the_corpus) {
  TempDir tmp;
  std::string dir = (tmp.path() / "corpus").string();
  Built small = build(dir, 100);
  Built large = build(dir, 2000);
  BOOST_TEST(small.train_tokens < 200);
  BOOST_TEST(large.train_tokens >= 2000);
}
