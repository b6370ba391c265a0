#define BOOST_TEST_MODULE sentiment_corpus
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sentiment_corpus.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using loom::data::generate_sentiment_corpus;
using loom::data::LabelledSentence;
using loom::data::Sentiment;
using loom::data::sentiment_of;
using loom::data::SentimentCorpus;
using loom::data::SentimentSpec;
using loom::data::write_sentiment_corpus;

// The suite's temporary folders.
struct TempDir : loom::data::testing::TempDir {
  TempDir() : loom::data::testing::TempDir("loom_sentiment_test_") {}
};
using loom::data::testing::read_file;

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string bag_of(const std::string& text) {
  std::vector<std::string> words = words_of(text);
  std::sort(words.begin(), words.end());
  std::string bag;
  for (const auto& w : words) bag += w + ' ';
  return bag;
}

SentimentSpec small_spec(std::uint64_t seed) {
  SentimentSpec spec;
  spec.seed = seed;
  spec.train = 2000;
  spec.valid = 200;
  spec.test = 400;
  return spec;
}

using Split = std::pair<const char*, const std::vector<LabelledSentence>*>;
std::vector<Split> splits_of(const SentimentCorpus& c) {
  return {{"train", &c.train}, {"valid", &c.valid}, {"test", &c.test}};
}

const char* const kFiles[] = {"train.tsv", "valid.tsv", "test.tsv"};

}  // namespace

BOOST_AUTO_TEST_CASE(same_seed_gives_identical_files_and_another_seed_differs) {
  TempDir tmp;
  write_sentiment_corpus(small_spec(7), tmp.path() / "a");
  write_sentiment_corpus(small_spec(7), tmp.path() / "b");
  write_sentiment_corpus(small_spec(8), tmp.path() / "c");
  for (const char* name : kFiles) {
    BOOST_TEST_CONTEXT(name) {
      const std::string a = read_file(tmp.path() / "a" / name);
      BOOST_TEST(!a.empty());
      BOOST_TEST((a == read_file(tmp.path() / "b" / name)));
      BOOST_TEST((a != read_file(tmp.path() / "c" / name)));
    }
  }
  // Seeds 7 and 8 share no sentence order, and most of their sentences differ.
  const SentimentCorpus seven = generate_sentiment_corpus(small_spec(7));
  const SentimentCorpus eight = generate_sentiment_corpus(small_spec(8));
  std::set<std::string> texts;
  for (const auto& s : seven.train) texts.insert(s.text);
  int shared = 0;
  for (const auto& s : eight.train) shared += static_cast<int>(texts.count(s.text));
  BOOST_TEST(shared < 20, shared << " of 2000 training sentences in common");
}

BOOST_AUTO_TEST_CASE(files_are_label_tab_sentence_and_match_the_corpus) {
  TempDir tmp;
  const SentimentSpec spec = small_spec(3);
  const SentimentCorpus corpus = write_sentiment_corpus(spec, tmp.path());
  for (const auto& [name, split] : splits_of(corpus)) {
    BOOST_TEST_CONTEXT(name) {
      const std::string text = read_file(tmp.path() / (std::string(name) + ".tsv"));
      BOOST_REQUIRE(!text.empty());
      BOOST_TEST(text.back() == '\n');
      std::istringstream in(text);
      std::size_t i = 0;
      for (std::string line; std::getline(in, line); ++i) {
        BOOST_TEST_CONTEXT("line " << i + 1 << ": " << line) {
          const std::size_t tab = line.find('\t');
          BOOST_REQUIRE(tab != std::string::npos);
          BOOST_REQUIRE(line.find('\t', tab + 1) == std::string::npos);
          const std::string label = line.substr(0, tab), sentence = line.substr(tab + 1);
          BOOST_TEST((label == "positive" || label == "negative"));
          BOOST_REQUIRE(!sentence.empty());
          BOOST_TEST(sentence.front() != ' ');
          BOOST_TEST(sentence.back() != ' ');
          BOOST_TEST(sentence.find("  ") == std::string::npos);
          // Nothing a CSV/TSV reader could take for quoting or a second record.
          BOOST_TEST(sentence.find_first_of("\"\r") == std::string::npos);
          BOOST_REQUIRE(i < split->size());
          BOOST_TEST(label == loom::data::sentiment_name((*split)[i].label));
          BOOST_TEST(sentence == (*split)[i].text);
        }
      }
      BOOST_TEST(i == split->size());
    }
  }
  BOOST_TEST(corpus.train.size() == static_cast<std::size_t>(spec.train));
  BOOST_TEST(corpus.valid.size() == static_cast<std::size_t>(spec.valid));
  BOOST_TEST(corpus.test.size() == static_cast<std::size_t>(spec.test));
  for (const auto& entry : fs::directory_iterator(tmp.path()))
    BOOST_TEST(entry.path().filename().string().find(".tmp") == std::string::npos, entry.path());
}

BOOST_AUTO_TEST_CASE(every_split_has_as_many_positive_as_negative_sentences) {
  const SentimentCorpus corpus = generate_sentiment_corpus(small_spec(5));
  for (const auto& [name, split] : splits_of(corpus)) {
    std::size_t positive = 0;
    for (const auto& s : *split) positive += s.label == Sentiment::kPositive;
    BOOST_TEST(2 * positive == split->size(), name << ": " << positive << " of " << split->size());
  }
}

// The property the set exists for, with bound 0: in every split, every word occurs exactly as
// often in positive sentences as in negative ones, and every bag of words (multiset) occurs
// exactly once with each label in the whole corpus, so no bag is shared between splits.
BOOST_AUTO_TEST_CASE(word_counts_carry_no_information_about_the_label) {
  for (std::uint64_t seed : {1, 2, 99}) {
    const SentimentCorpus corpus = generate_sentiment_corpus(small_spec(seed));
    std::map<std::string, std::pair<int, int>> bags;  // bag -> (negative, positive)
    std::map<std::string, std::string> split_of_bag;
    for (const auto& [name, split] : splits_of(corpus)) {
      std::map<std::string, std::pair<int, int>> words;
      for (const auto& s : *split) {
        for (const auto& w : words_of(s.text))
          ++(s.label == Sentiment::kPositive ? words[w].second : words[w].first);
        const std::string bag = bag_of(s.text);
        ++(s.label == Sentiment::kPositive ? bags[bag].second : bags[bag].first);
        const auto [it, fresh] = split_of_bag.emplace(bag, name);
        BOOST_TEST((fresh || it->second == name),
                   "bag '" << bag << "' in " << it->second << " and " << name);
      }
      BOOST_TEST(words.size() > 50u);
      for (const auto& [word, counts] : words)
        BOOST_TEST(counts.first == counts.second,
                   "seed " << seed << ", " << name << ": '" << word << "' " << counts.first
                           << " times in negative sentences, " << counts.second << " in positive");
    }
    for (const auto& [bag, counts] : bags)
      BOOST_TEST((counts.first == 1 && counts.second == 1),
                 "seed " << seed << ": bag '" << bag << "' " << counts.first << " negative, "
                         << counts.second << " positive");
  }
}

BOOST_AUTO_TEST_CASE(the_rule_read_from_the_text_gives_every_generated_label) {
  const SentimentCorpus corpus = generate_sentiment_corpus(small_spec(11));
  for (const auto& [name, split] : splits_of(corpus))
    for (const auto& s : *split) {
      BOOST_TEST_CONTEXT(name << ": " << s.text) {
        Sentiment read = Sentiment::kNegative;
        BOOST_REQUIRE_NO_THROW(read = sentiment_of(s.text));
        BOOST_TEST((read == s.label));
      }
    }
}

// The generator has every construct, and the connective matters: taking the last clause
// always, or whichever clause has the last adjective, is wrong on every "although" and
// "though" sentence whose clauses disagree.
BOOST_AUTO_TEST_CASE(every_construct_occurs_and_the_connective_matters) {
  const SentimentCorpus corpus = generate_sentiment_corpus(small_spec(4));
  std::map<std::string, int> seen;
  int last_clause_right = 0;
  for (const auto& s : corpus.train) {
    const std::vector<std::string> w = words_of(s.text);
    for (const char* marker :
         {"but", "yet", "although", "though", "not", ",", "very", "overall", "it"})
      seen[marker] += static_cast<int>(std::count(w.begin(), w.end(), marker) > 0);
    seen["starts with although"] += w.front() == "although";
    seen["a bare negated first clause"] += w.front() == "not";
    seen["two nots"] += std::count(w.begin(), w.end(), "not") == 2;
    // The last clause's polarity: its adjective is the last word, "not" may precede it.
    const std::size_t cut = std::max<std::size_t>(
        {static_cast<std::size_t>(std::find(w.rbegin(), w.rend(), "but").base() - w.begin()),
         static_cast<std::size_t>(std::find(w.rbegin(), w.rend(), "yet").base() - w.begin()),
         static_cast<std::size_t>(std::find(w.rbegin(), w.rend(), "though").base() - w.begin()),
         static_cast<std::size_t>(std::find(w.rbegin(), w.rend(), "although").base() - w.begin()),
         static_cast<std::size_t>(std::find(w.rbegin(), w.rend(), ",").base() - w.begin())});
    std::string last_clause;
    for (std::size_t i = cut; i < w.size(); ++i)
      last_clause += (last_clause.empty() ? "" : " ") + w[i];
    last_clause_right += sentiment_of(last_clause) == s.label;
  }
  for (const auto& [what, count] : seen) BOOST_TEST(count > 20, what << ": " << count);
  const double share =
      static_cast<double>(last_clause_right) / static_cast<double>(corpus.train.size());
  BOOST_TEST_MESSAGE("the last clause alone is right on " << share);
  BOOST_TEST(share > 0.6);
  BOOST_TEST(share < 0.85);
}

BOOST_AUTO_TEST_CASE(hand_checked_sentences) {
  const std::vector<std::pair<std::string, Sentiment>> cases = {
      {"good", Sentiment::kPositive},
      {"not good", Sentiment::kNegative},
      {"not bad", Sentiment::kPositive},
      {"the plot was not very dull", Sentiment::kPositive},
      {"good but boring", Sentiment::kNegative},
      {"boring but good", Sentiment::kPositive},
      {"not good but not bad", Sentiment::kPositive},
      {"not bad but not good", Sentiment::kNegative},
      {"the acting was not bad but the plot was dull", Sentiment::kNegative},
      {"the acting was bad but the plot was not dull", Sentiment::kPositive},
      {"the acting was superb , but the plot was dull", Sentiment::kNegative},
      {"it felt clumsy yet the ending was moving", Sentiment::kPositive},
      {"the plot was dull although the acting was not bad", Sentiment::kNegative},
      {"the plot was not dull though the acting was bad", Sentiment::kPositive},
      {"although the plot was dull , the acting was not bad", Sentiment::kPositive},
      {"although the plot was not dull , the acting was bad", Sentiment::kNegative},
      {"honestly , the film was not very good but the music was really lovely",
       Sentiment::kPositive},
      {"in the end , this film seemed quite clever although it is so tedious",
       Sentiment::kPositive},
      {"to be fair , although not good , not extremely messy", Sentiment::kPositive},
  };
  for (const auto& [sentence, label] : cases)
    BOOST_TEST((sentiment_of(sentence) == label),
               "'" << sentence << "' should be " << loom::data::sentiment_name(label));
}

BOOST_AUTO_TEST_CASE(sentences_outside_the_grammar_are_refused) {
  for (const char* sentence : {"", "great film", "the plot was", "not not good", "good but",
                               "the plot good", "although good bad", "good  but bad",
                               "the plot was good and the music was bad", "very not good"}) {
    BOOST_TEST_CONTEXT("'" << sentence << "'") {
      try {
        sentiment_of(sentence);
        BOOST_ERROR("accepted");
      } catch (const std::invalid_argument& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("'" + std::string(sentence) + "'") != std::string::npos, message);
        BOOST_TEST(message.find('\n') == std::string::npos);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_spec_and_unwritable_dir_throw) {
  TempDir tmp;
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> sizes = {
      {3, 2, 2}, {2, 0, 2}, {2, 2, -4}};
  for (const auto& [train, valid, test] : sizes) {
    SentimentSpec bad;
    bad.train = train, bad.valid = valid, bad.test = test;
    BOOST_CHECK_THROW(write_sentiment_corpus(bad, tmp.path() / "x"), std::invalid_argument);
  }
  BOOST_TEST(!fs::exists(tmp.path() / "x"));

  const fs::path blocker = tmp.path() / "file";
  std::ofstream(blocker) << "not a directory";
  const fs::path target = blocker / "corpus";
  try {
    write_sentiment_corpus(small_spec(1), target);
    BOOST_FAIL("expected std::runtime_error");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find(target.string()) != std::string::npos, message);
    BOOST_TEST(message.find('\n') == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(the_smallest_corpus_works) {
  SentimentSpec spec;
  spec.train = spec.valid = spec.test = 2;
  const SentimentCorpus corpus = generate_sentiment_corpus(spec);
  for (const auto& [name, split] : splits_of(corpus)) {
    BOOST_REQUIRE(split->size() == 2u);
    BOOST_TEST(((*split)[0].label != (*split)[1].label), name);
    BOOST_TEST(bag_of((*split)[0].text) == bag_of((*split)[1].text), name);
  }
}
