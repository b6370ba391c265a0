#include "sentiment_corpus.hpp"

#include "generator_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace loom::data {
namespace {

namespace fs = std::filesystem;

// ---- the vocabulary ------------------------------------------------------------------------
// Ten adjectives of each polarity: which word carries which polarity is part of what a model
// has to learn.
constexpr std::array<std::string_view, 10> kPositive = {"good",     "great",  "fine",   "superb",
                                                        "charming", "clever", "moving", "gripping",
                                                        "solid",    "lovely"};
constexpr std::array<std::string_view, 10> kNegative = {
    "bad", "dull", "boring", "weak", "awful", "clumsy", "bland", "tedious", "messy", "poor"};
// Only intensifiers that read well after "not" ("not very good", "not so bad").
constexpr std::array<std::string_view, 6> kIntensifiers = {"very",  "really", "quite",
                                                           "truly", "so",     "extremely"};
constexpr std::array<std::string_view, 14> kSubjects = {
    "the acting", "the plot",       "the story", "the script", "the music",
    "the film",   "the movie",      "the cast",  "the ending", "the dialogue",
    "the pacing", "the soundtrack", "it",        "this film"};
constexpr std::array<std::string_view, 4> kVerbs = {"was", "is", "felt", "seemed"};
// Openers are filler: they never change the label.
constexpr std::array<std::string_view, 6> kOpeners = {"overall",    "honestly",   "frankly",
                                                      "in the end", "to be fair", "all in all"};

// ---- generation odds, in percent ------------------------------------------------------------
constexpr std::uint64_t kOpenerPercent = 30;
constexpr std::uint64_t kBareClausePercent = 25;  // "not good" rather than "the plot was not good"
constexpr std::uint64_t kIntensifierPercent = 35;
// Negations per pair: 0 and 2 make clause swaps, 1 makes negation moves.
constexpr std::uint64_t kNoNegationPercent = 30;
constexpr std::uint64_t kOneNegationPercent = 45;

// A budget of tries per requested pair before giving up; the space of distinct word bags is
// in the billions, so only an absurd request gets near it.
constexpr std::int64_t kTriesPerPair = 50;

enum class Connective { kBut, kCommaBut, kYet, kAlthough, kThough, kAlthoughFirst };
struct ConnectiveForm {
  Connective connective;
  std::uint64_t weight;
  int deciding_clause;  // 0: the first clause as written, 1: the second
};
// "but" in its forms carries most sentences, as it does in reviews; the "although" forms make
// the model look at the connective instead of always taking the last clause.
constexpr std::array<ConnectiveForm, 6> kConnectives = {{
    {Connective::kBut, 4, 1},
    {Connective::kCommaBut, 1, 1},
    {Connective::kYet, 1, 1},
    {Connective::kAlthough, 2, 0},
    {Connective::kThough, 1, 0},
    {Connective::kAlthoughFirst, 2, 1},
}};

using Rng = SplitMix64;

struct Clause {
  int subject = -1;      // index into kSubjects, -1 for a bare clause ("not very good")
  int verb = 0;          // index into kVerbs, used with a subject
  int intensifier = -1;  // index into kIntensifiers, -1 for none
  bool negated = false;
  bool positive_adjective = false;
  int adjective = 0;  // index into kPositive or kNegative

  bool positive() const { return positive_adjective != negated; }
};

struct Sentence {
  int opener = -1;                // index into kOpeners, -1 for none
  std::size_t form = 0;           // index into kConnectives
  std::array<Clause, 2> clauses;  // in written order

  Sentiment label() const {
    return clauses[static_cast<std::size_t>(kConnectives[form].deciding_clause)].positive()
               ? Sentiment::kPositive
               : Sentiment::kNegative;
  }
};

void append_words(std::string& out, std::string_view words) {
  if (!out.empty()) out += ' ';
  out += words;
}

void append_clause(std::string& out, const Clause& c) {
  if (c.subject >= 0) {
    append_words(out, kSubjects[static_cast<std::size_t>(c.subject)]);
    append_words(out, kVerbs[static_cast<std::size_t>(c.verb)]);
  }
  if (c.negated) append_words(out, "not");
  if (c.intensifier >= 0) append_words(out, kIntensifiers[static_cast<std::size_t>(c.intensifier)]);
  append_words(
      out, (c.positive_adjective ? kPositive : kNegative)[static_cast<std::size_t>(c.adjective)]);
}

std::string render(const Sentence& s) {
  std::string out;
  if (s.opener >= 0) {
    append_words(out, kOpeners[static_cast<std::size_t>(s.opener)]);
    append_words(out, ",");
  }
  const Clause& first = s.clauses[0];
  const Clause& second = s.clauses[1];
  switch (kConnectives[s.form].connective) {
    case Connective::kBut:
      append_clause(out, first), append_words(out, "but"), append_clause(out, second);
      break;
    case Connective::kCommaBut:
      append_clause(out, first), append_words(out, ", but"), append_clause(out, second);
      break;
    case Connective::kYet:
      append_clause(out, first), append_words(out, "yet"), append_clause(out, second);
      break;
    case Connective::kAlthough:
      append_clause(out, first), append_words(out, "although"), append_clause(out, second);
      break;
    case Connective::kThough:
      append_clause(out, first), append_words(out, "though"), append_clause(out, second);
      break;
    case Connective::kAlthoughFirst:
      append_words(out, "although"), append_clause(out, first), append_words(out, ",");
      append_clause(out, second);
      break;
  }
  return out;
}

// The words of a sentence in sorted order: equal for exactly the sentences with equal bags.
std::string bag_key(const std::string& text) {
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(' ', start), text.size());
    words.push_back(std::string_view(text).substr(start, end - start));
    start = end + 1;
  }
  std::sort(words.begin(), words.end());
  std::string key;
  for (const auto w : words) append_words(key, w);
  return key;
}

std::size_t pick_form(Rng& rng) {
  std::uint64_t total = 0;
  for (const auto& f : kConnectives) total += f.weight;
  std::uint64_t draw = rng.below(total);
  for (std::size_t i = 0; i < kConnectives.size(); ++i) {
    if (draw < kConnectives[i].weight) return i;
    draw -= kConnectives[i].weight;
  }
  return 0;  // unreachable: draw < total
}

Clause random_clause(Rng& rng) {
  Clause c;
  if (!rng.percent(kBareClausePercent)) {
    c.subject = static_cast<int>(rng.below(kSubjects.size()));
    c.verb = static_cast<int>(rng.below(kVerbs.size()));
  }
  if (rng.percent(kIntensifierPercent))
    c.intensifier = static_cast<int>(rng.below(kIntensifiers.size()));
  c.positive_adjective = rng.below(2) == 1;
  c.adjective = static_cast<int>(rng.below(kPositive.size()));
  return c;
}

// A sentence and its partner: the same words, the opposite label.
std::pair<Sentence, Sentence> random_pair(Rng& rng) {
  Sentence s;
  if (rng.percent(kOpenerPercent)) s.opener = static_cast<int>(rng.below(kOpeners.size()));
  s.form = pick_form(rng);
  s.clauses = {random_clause(rng), random_clause(rng)};
  const std::uint64_t negation_draw = rng.below(100);
  const int negations = negation_draw < kNoNegationPercent                         ? 0
                        : negation_draw < kNoNegationPercent + kOneNegationPercent ? 1
                                                                                   : 2;
  Sentence partner = s;
  if (negations == 1) {
    // Moving the one "not" to the other clause flips both clauses, so the deciding one too.
    const std::size_t with_not = rng.below(2);
    s.clauses[with_not].negated = true;
    partner.clauses[1 - with_not].negated = true;
  } else {
    // Swapping clauses of opposite polarity hands the decision to the other polarity.
    for (auto* sentence : {&s, &partner})
      for (auto& c : sentence->clauses) c.negated = negations == 2;
    s.clauses[1].positive_adjective = !s.clauses[0].positive_adjective;
    partner.clauses = {s.clauses[1], s.clauses[0]};
  }
  if (s.label() == partner.label()) throw std::logic_error("sentiment pair with one label");
  return {s, partner};
}

std::vector<LabelledSentence> generate_split(std::int64_t sentences, Rng& rng,
                                             std::unordered_set<std::string>& used_bags) {
  std::vector<LabelledSentence> split;
  split.reserve(static_cast<std::size_t>(sentences));
  const std::int64_t pairs = sentences / 2;
  std::int64_t tries = 0;
  while (static_cast<std::int64_t>(split.size()) < sentences) {
    if (++tries > kTriesPerPair * pairs + 1000) {
      throw std::runtime_error("cannot find " + std::to_string(pairs) +
                               " more sentence pairs with distinct words");
    }
    const auto [a, b] = random_pair(rng);
    std::string text_a = render(a);
    if (!used_bags.insert(bag_key(text_a)).second) continue;
    split.push_back({a.label(), std::move(text_a)});
    split.push_back({b.label(), render(b)});
  }
  rng.shuffle(split);
  return split;
}

void validate(const SentimentSpec& spec) {
  for (const auto& [name, count] : {std::pair<const char*, std::int64_t>{"train", spec.train},
                                    {"valid", spec.valid},
                                    {"test", spec.test}}) {
    if (count < 2 || count % 2 != 0) {
      throw std::invalid_argument(std::string("invalid sentiment spec: ") + name +
                                  " must be an even number of sentences (they come in pairs) " +
                                  "of at least 2, got " + std::to_string(count));
    }
  }
}

// ---- the rule, from text ----------------------------------------------------------------------

using Words = std::vector<std::string_view>;

[[noreturn]] void reject(std::string_view sentence, const std::string& why) {
  throw std::invalid_argument("not a sentence of the sentiment grammar: '" + std::string(sentence) +
                              "' (" + why + ")");
}

template <std::size_t N>
std::optional<std::size_t> index_of(const std::array<std::string_view, N>& list,
                                    std::string_view word) {
  const auto it = std::find(list.begin(), list.end(), word);
  if (it == list.end()) return std::nullopt;
  return static_cast<std::size_t>(it - list.begin());
}

// How many words of `words` from `at` spell one of `phrases` (multi-word phrases such as
// "the acting"); 0 when none does.
template <std::size_t N>
std::size_t match_phrase(const std::array<std::string_view, N>& phrases, const Words& words,
                         std::size_t at) {
  for (const auto phrase : phrases) {
    std::size_t n = 0, start = 0;
    bool same = true;
    while (start <= phrase.size()) {
      const std::size_t end = std::min(phrase.find(' ', start), phrase.size());
      if (at + n >= words.size() || words[at + n] != phrase.substr(start, end - start)) {
        same = false;
        break;
      }
      ++n;
      start = end + 1;
    }
    if (same) return n;
  }
  return 0;
}

// clause := [subject verb] [not] [intensifier] adjective, over words[begin, end).
bool clause_positive(std::string_view sentence, const Words& words, std::size_t begin,
                     std::size_t end) {
  if (begin >= end) reject(sentence, "an empty clause");
  std::size_t at = begin;
  if (const std::size_t n = match_phrase(kSubjects, words, at); n > 0 && at + n < end) {
    at += n;
    if (!index_of(kVerbs, words[at])) {
      reject(sentence, "'" + std::string(words[at]) + "' where a verb should follow the subject");
    }
    ++at;
  }
  bool negated = false;
  if (at < end && words[at] == "not") negated = true, ++at;
  if (at < end && index_of(kIntensifiers, words[at])) ++at;
  if (at + 1 != end) {
    reject(sentence, "a clause must end in its adjective, at '" +
                         std::string(at < end ? words[at] : words[end - 1]) + "'");
  }
  if (index_of(kPositive, words[at])) return !negated;
  if (index_of(kNegative, words[at])) return negated;
  reject(sentence, "'" + std::string(words[at]) + "' is not an adjective of the grammar");
}

}  // namespace

const char* sentiment_name(Sentiment sentiment) {
  return sentiment == Sentiment::kPositive ? "positive" : "negative";
}

SentimentCorpus generate_sentiment_corpus(const SentimentSpec& spec) {
  validate(spec);
  Rng rng(spec.seed);
  std::unordered_set<std::string> used_bags;
  SentimentCorpus corpus;
  corpus.train = generate_split(spec.train, rng, used_bags);
  corpus.valid = generate_split(spec.valid, rng, used_bags);
  corpus.test = generate_split(spec.test, rng, used_bags);
  return corpus;
}

namespace {

void write_split_file(const std::vector<LabelledSentence>& split, const fs::path& path) {
  std::string tsv;
  for (const auto& s : split) tsv += std::string(sentiment_name(s.label)) + '\t' + s.text + '\n';
  write_file_replacing(path, tsv);
}

}  // namespace

SentimentCorpus write_sentiment_corpus(const SentimentSpec& spec, const fs::path& dir) {
  SentimentCorpus corpus = generate_sentiment_corpus(spec);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    throw std::runtime_error("cannot create directory " + dir.string() + ": " +
                             first_lower(error.message()));
  }
  write_split_file(corpus.train, dir / "train.tsv");
  write_split_file(corpus.valid, dir / "valid.tsv");
  write_split_file(corpus.test, dir / "test.tsv");
  return corpus;
}

Sentiment sentiment_of(std::string_view sentence) {
  Words words;
  std::size_t start = 0;
  while (start <= sentence.size()) {
    const std::size_t end = std::min(sentence.find(' ', start), sentence.size());
    if (end == start) reject(sentence, "empty word: words are separated by single spaces");
    words.push_back(sentence.substr(start, end - start));
    start = end + 1;
  }
  std::size_t begin = 0;
  if (const std::size_t n = match_phrase(kOpeners, words, 0);
      n > 0 && n < words.size() && words[n] == ",") {
    begin = n + 1;
  }
  const auto find = [&](std::size_t from, std::initializer_list<std::string_view> targets) {
    for (std::size_t i = from; i < words.size(); ++i)
      if (std::find(targets.begin(), targets.end(), words[i]) != targets.end()) return i;
    return words.size();
  };
  const std::size_t end = words.size();
  bool positive = false;
  if (begin < end && words[begin] == "although") {
    // although clause , clause: the main clause, second, decides.
    const std::size_t comma = find(begin + 1, {","});
    if (comma == end) reject(sentence, "'although' at the start needs a ',' after its clause");
    clause_positive(sentence, words, begin + 1, comma);
    positive = clause_positive(sentence, words, comma + 1, end);
  } else if (const std::size_t but = find(begin, {"but", "yet"}); but != end) {
    const std::size_t first_end = but > begin && words[but - 1] == "," ? but - 1 : but;
    clause_positive(sentence, words, begin, first_end);
    positive = clause_positive(sentence, words, but + 1, end);
  } else if (const std::size_t although = find(begin, {"although", "though"}); although != end) {
    // clause although clause: the main clause, first, decides.
    positive = clause_positive(sentence, words, begin, although);
    clause_positive(sentence, words, although + 1, end);
  } else {
    positive = clause_positive(sentence, words, begin, end);
  }
  return positive ? Sentiment::kPositive : Sentiment::kNegative;
}

}  // namespace loom::data
