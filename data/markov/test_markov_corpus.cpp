#define BOOST_TEST_MODULE markov_corpus
#include <boost/test/unit_test.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "markov_corpus.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using loom::data::MarkovOptimum;
using loom::data::MarkovSpec;
using loom::data::write_markov_corpus;

// The suite's temporary folders.
struct TempDir : loom::data::testing::TempDir {
  TempDir() : loom::data::testing::TempDir("loom_markov_test_") {}
};
using loom::data::testing::read_file;

// The framework's tokenisation: the words of each line followed by "<eos>".
std::vector<std::string> tokens_of(const fs::path& path) {
  std::vector<std::string> tokens;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string word;
    while (words >> word) tokens.push_back(word);
    tokens.push_back("<eos>");
  }
  return tokens;
}

// Minimal reader for the flat object optimum.json holds: the number after "key": .
double json_number(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\": ";
  const std::size_t at = json.find(needle);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "optimum.json lacks " << key);
  const char* begin = json.data() + at + needle.size();
  double value = 0;
  const auto result = std::from_chars(begin, json.data() + json.size(), value);
  BOOST_REQUIRE(result.ec == std::errc());
  return value;
}

MarkovSpec small_spec(std::uint64_t seed) {
  MarkovSpec spec;
  spec.seed = seed;
  spec.train_tokens = 20000;
  spec.valid_tokens = 3000;
  spec.test_tokens = 3000;
  return spec;
}

const char* const kFiles[] = {"train.txt", "valid.txt", "test.txt", "optimum.json"};

}  // namespace

BOOST_AUTO_TEST_CASE(same_seed_gives_identical_files_and_another_seed_differs) {
  TempDir tmp;
  write_markov_corpus(small_spec(7), tmp.path() / "a");
  write_markov_corpus(small_spec(7), tmp.path() / "b");
  write_markov_corpus(small_spec(8), tmp.path() / "c");
  for (const char* name : kFiles) {
    BOOST_TEST_CONTEXT(name) {
      const std::string a = read_file(tmp.path() / "a" / name);
      BOOST_TEST(!a.empty());
      BOOST_TEST((a == read_file(tmp.path() / "b" / name)));
      BOOST_TEST((a != read_file(tmp.path() / "c" / name)));
    }
  }
}

BOOST_AUTO_TEST_CASE(splits_use_independent_streams) {
  TempDir tmp;
  MarkovSpec bigger_train = small_spec(7);
  bigger_train.train_tokens = 30000;
  write_markov_corpus(small_spec(7), tmp.path() / "a");
  write_markov_corpus(bigger_train, tmp.path() / "b");
  BOOST_TEST((read_file(tmp.path() / "a" / "valid.txt") ==
              read_file(tmp.path() / "b" / "valid.txt")));
  BOOST_TEST((read_file(tmp.path() / "a" / "test.txt") ==
              read_file(tmp.path() / "b" / "test.txt")));
  BOOST_TEST((read_file(tmp.path() / "a" / "train.txt") !=
              read_file(tmp.path() / "b" / "train.txt")));
}

BOOST_AUTO_TEST_CASE(counts_and_format_match_optimum_json) {
  TempDir tmp;
  const MarkovSpec spec = small_spec(11);
  const MarkovOptimum optimum = write_markov_corpus(spec, tmp.path());
  const std::string json = read_file(tmp.path() / "optimum.json");
  BOOST_TEST(json.front() == '{');
  BOOST_TEST(json.find_last_of('}') != std::string::npos);
  BOOST_TEST(!fs::exists(tmp.path() / "train.txt.tmp"));
  BOOST_TEST(!fs::exists(tmp.path() / "optimum.json.tmp"));

  // 17 significant digits round-trip exactly.
  BOOST_TEST(json_number(json, "perplexity") == optimum.test_perplexity);
  BOOST_TEST(json_number(json, "test_perplexity") == optimum.test_perplexity);
  BOOST_TEST(json_number(json, "valid_perplexity") == optimum.valid_perplexity);
  BOOST_TEST(json_number(json, "train_perplexity") == optimum.train_perplexity);
  BOOST_TEST(json_number(json, "entropy_rate_perplexity") == optimum.entropy_rate_perplexity);
  BOOST_TEST(json_number(json, "seed") == 11.0);
  BOOST_TEST(json_number(json, "vocab_size") == 300.0);
  BOOST_TEST(json_number(json, "branching") == 6.0);

  const std::pair<const char*, std::int64_t> splits[] = {
      {"train", optimum.train_tokens},
      {"valid", optimum.valid_tokens},
      {"test", optimum.test_tokens},
  };
  const std::int64_t targets[] = {spec.train_tokens, spec.valid_tokens, spec.test_tokens};
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string name = splits[i].first;
    BOOST_TEST_CONTEXT(name) {
      const std::string text = read_file(tmp.path() / (name + ".txt"));
      BOOST_REQUIRE(!text.empty());
      BOOST_TEST(text.back() == '\n');
      std::int64_t tokens = 0;
      std::istringstream in(text);
      std::string line;
      while (std::getline(in, line)) {
        BOOST_REQUIRE(!line.empty());
        BOOST_REQUIRE(line.front() != ' ');
        BOOST_REQUIRE(line.back() != ' ');
        BOOST_REQUIRE(line.find("  ") == std::string::npos);
        std::istringstream words(line);
        std::string word;
        while (words >> word) {
          BOOST_REQUIRE(word != "<eos>");
          BOOST_REQUIRE(word != "<unk>");
          ++tokens;
        }
        ++tokens;  // <eos>
      }
      BOOST_TEST(tokens == splits[i].second);
      BOOST_TEST(static_cast<double>(json_number(json, name + "_tokens")) ==
                 static_cast<double>(tokens));
      // Stops at the end of the first line reaching the target.
      BOOST_TEST(tokens >= targets[i]);
      BOOST_TEST(tokens < targets[i] + 1000);
    }
  }
}

// An independent oracle: bigram probabilities re-estimated from a very large train file must
// score the test file almost exactly as the true chain does, and a long test file must approach
// the entropy rate.
BOOST_AUTO_TEST_CASE(reported_perplexity_matches_reestimated_bigram_model) {
  TempDir tmp;
  MarkovSpec spec;
  spec.seed = 3;
  spec.train_tokens = 2000000;
  spec.valid_tokens = 1000;
  spec.test_tokens = 200000;
  const MarkovOptimum optimum = write_markov_corpus(spec, tmp.path());

  std::unordered_map<std::string, int> ids;
  auto id_of = [&ids](const std::string& token) {
    return ids.emplace(token, static_cast<int>(ids.size())).first->second;
  };
  std::unordered_map<std::uint64_t, std::int64_t> pair_count;
  std::unordered_map<int, std::int64_t> from_count;
  auto key = [](int a, int b) {
    return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
  };
  const std::vector<std::string> train = tokens_of(tmp.path() / "train.txt");
  BOOST_TEST(static_cast<std::int64_t>(train.size()) == optimum.train_tokens);
  int previous = id_of(train.front());
  for (std::size_t i = 1; i < train.size(); ++i) {
    const int current = id_of(train[i]);
    ++pair_count[key(previous, current)];
    ++from_count[previous];
    previous = current;
  }
  // Every word occurs: vocab_size words plus <eos>.
  BOOST_TEST(ids.size() == static_cast<std::size_t>(spec.vocab_size) + 1);

  const std::vector<std::string> test = tokens_of(tmp.path() / "test.txt");
  BOOST_TEST(static_cast<std::int64_t>(test.size()) == optimum.test_tokens);
  double neg_log_likelihood = 0;
  previous = id_of(test.front());
  for (std::size_t i = 1; i < test.size(); ++i) {
    const int current = id_of(test[i]);
    const auto seen = pair_count.find(key(previous, current));
    BOOST_REQUIRE_MESSAGE(seen != pair_count.end(), "unseen bigram in test");
    neg_log_likelihood -= std::log(static_cast<double>(seen->second) /
                                   static_cast<double>(from_count[previous]));
    previous = current;
  }
  const double recomputed = std::exp(neg_log_likelihood / static_cast<double>(test.size() - 1));
  BOOST_TEST_MESSAGE("reported " << optimum.test_perplexity << " recomputed " << recomputed
                                 << " entropy rate " << optimum.entropy_rate_perplexity);
  BOOST_TEST(recomputed == optimum.test_perplexity, boost::test_tools::tolerance(0.02));
  BOOST_TEST(optimum.entropy_rate_perplexity == optimum.test_perplexity,
             boost::test_tools::tolerance(0.05));
  BOOST_TEST(optimum.entropy_rate_perplexity == optimum.train_perplexity,
             boost::test_tools::tolerance(0.05));
  // Sparse transitions: far below a unigram model, and at most branching + 1 choices per state.
  BOOST_TEST(optimum.test_perplexity > 1.0);
  BOOST_TEST(optimum.test_perplexity < spec.branching + 1.0);
}

BOOST_AUTO_TEST_CASE(bad_spec_and_unwritable_dir_throw) {
  TempDir tmp;
  MarkovSpec bad = small_spec(1);
  bad.branching = bad.vocab_size;
  BOOST_CHECK_THROW(write_markov_corpus(bad, tmp.path() / "x"), std::invalid_argument);
  bad = small_spec(1);
  bad.eos_probability = 0.0;
  BOOST_CHECK_THROW(write_markov_corpus(bad, tmp.path() / "x"), std::invalid_argument);

  const fs::path blocker = tmp.path() / "file";
  std::ofstream(blocker) << "not a directory";
  const fs::path target = blocker / "corpus";
  try {
    write_markov_corpus(small_spec(1), target);
    BOOST_FAIL("expected std::runtime_error");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find(target.string()) != std::string::npos);
    BOOST_TEST(message.find('\n') == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(tiny_and_dense_chains_work) {
  TempDir tmp;
  MarkovSpec spec;
  spec.vocab_size = 2;
  spec.branching = 1;
  spec.train_tokens = spec.valid_tokens = spec.test_tokens = 1;
  MarkovOptimum optimum = write_markov_corpus(spec, tmp.path() / "tiny");
  BOOST_TEST(optimum.test_tokens >= 2);
  BOOST_TEST(std::isfinite(optimum.test_perplexity));

  spec.vocab_size = 50;
  spec.branching = 49;  // forces the dense successor-selection path
  spec.train_tokens = spec.valid_tokens = spec.test_tokens = 5000;
  optimum = write_markov_corpus(spec, tmp.path() / "dense");
  BOOST_TEST(optimum.entropy_rate_perplexity > 10.0);
  BOOST_TEST(optimum.test_perplexity == optimum.entropy_rate_perplexity,
             boost::test_tools::tolerance(0.1));
}
