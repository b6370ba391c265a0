#pragma once
// A seeded generator of a small sentiment set that only word order can solve: sentences of
// two clauses joined by a contrast ("good but boring", "the acting was not bad but the plot
// was dull", "the plot was dull although the music was lovely"), where negation flips a
// clause and the connective decides which clause gives the label. Self-contained: depends
// only on the standard library.
//
// The grammar (tokens separated by single spaces; "," is a token of its own):
//   sentence  := [opener ","] body
//   body      := clause but clause | clause "," but clause | clause yet clause   (2nd decides)
//              | clause although clause | clause though clause                   (1st decides)
//              | although clause "," clause                                        (2nd decides)
//              | clause                                          (never generated; accepted)
//   clause    := [subject verb] [not] [intensifier] adjective
// A clause is positive when its adjective is positive and it has no "not", or its adjective
// is negative and it has one; the sentence has the label of the deciding clause.
//
// Bag-of-words symmetry, by construction: sentences are made in pairs that hold the same
// words (the same multiset of tokens) with opposite labels. A pair with exactly one "not"
// moves it to the other clause; a pair with none or two swaps its clauses, whose polarities
// then always differ. No multiset of words occurs in more than one pair in the whole corpus
// (train, valid and test together), so every multiset occurs exactly once with each label:
// any function of the bag of words (counts included) is right on exactly half of every split,
// and no test bag is seen in training.
//
// Determinism: the same spec gives byte-identical files on any platform (a splitmix64
// generator and integer arithmetic only; no std distributions). The splits are drawn one
// after another from one stream (train, valid, test), so changing a size changes the later
// splits too.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace loom::data {

enum class Sentiment { kNegative, kPositive };

// "negative" or "positive": the label as written in the files.
const char* sentiment_name(Sentiment sentiment);

struct SentimentSpec {
  std::uint64_t seed = 1;
  // Sentences per split; each even (sentences come in pairs) and at least 2.
  std::int64_t train = 4000;
  std::int64_t valid = 500;
  std::int64_t test = 1000;
};

struct LabelledSentence {
  Sentiment label = Sentiment::kNegative;
  std::string text;
};

struct SentimentCorpus {
  std::vector<LabelledSentence> train, valid, test;
};

// The three splits in memory, each in shuffled order (a pair's two sentences are not
// neighbours). Throws std::invalid_argument when the spec is out of range.
SentimentCorpus generate_sentiment_corpus(const SentimentSpec& spec);

// Generates the corpus and writes dir/train.tsv, dir/valid.tsv and dir/test.tsv, one
// sentence a line as `label TAB sentence`, no header, labels "positive" and "negative"
// (data/text_classification reads them with header: false, label_column: "0",
// text_column: "1"). Creates dir if needed; each file is written to a temporary name and
// renamed, replacing an existing one. Returns what it wrote. Throws std::invalid_argument
// for a bad spec and std::runtime_error (one lower-case line naming the path) when the
// folder or a file cannot be created or written.
SentimentCorpus write_sentiment_corpus(const SentimentSpec& spec, const std::filesystem::path& dir);

// The grammar's rule read from the text alone, independent of how the generator labels its
// sentences: the polarity of the deciding clause. Throws std::invalid_argument (naming the
// sentence and what is wrong) for a sentence outside the grammar above.
Sentiment sentiment_of(std::string_view sentence);

}  // namespace loom::data
