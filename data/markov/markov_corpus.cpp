#include "markov_corpus.hpp"

#include "generator_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace loom::data {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kConsonants = "bdfgklmnprstvz";
constexpr std::string_view kVowels = "aeiou";
constexpr std::uint64_t kSyllables = 14 * 5;
// Scrambles the order of spellings within a length so that neighbouring word indices do not
// read "ba be bi"; 3^13 is coprime with 70 and so with every power of it, a bijection.
constexpr std::uint64_t kSpellingMultiplier = 1594323;

// Successor weights are integers so that building and sampling the chain never depend on
// floating-point contraction or libm. The rank-r weight is about kWeightScale / (r + 1) times a
// jitter in [kJitterBase, 2 * kJitterBase); kWeightScale / (r + 1) >= 1 for every rank an int
// branching allows, and the sum of weights stays far below 2^53, so it converts to double exactly.
constexpr std::uint64_t kWeightScale = std::uint64_t{1} << 31;
constexpr std::uint64_t kJitterBase = 2048;

// The lazy iteration below converges geometrically; 1e-12 in L1 is far below what any file
// perplexity can resolve, and the cap only guards against a pathological spec.
constexpr double kStationaryTolerance = 1e-12;
constexpr int kMaxStationaryIterations = 100000;

enum Stream : std::uint64_t {
  kChainStream = 0,
  kTrainStream = 1,
  kValidStream = 2,
  kTestStream = 3,
};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Hashing the seed before adding the stream index keeps seeds s and s + 1 from sharing streams.
std::uint64_t stream_seed(std::uint64_t seed, Stream stream) {
  return splitmix64(splitmix64(seed) + static_cast<std::uint64_t>(stream));
}

// Only the engine's raw output is used: the standard distributions are implementation-defined,
// which would make the corpus differ between standard libraries.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n), n > 0; rejection removes the modulo bias.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = engine_();
      if (x >= threshold) return x % n;
    }
  }

  // Uniform on the multiples of 2^-53 in [0, 1); exact, so comparisons are reproducible.
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[below(i)]);
    }
  }

 private:
  std::mt19937_64 engine_;
};

std::string word_spelling(std::int64_t index) {
  auto rest = static_cast<std::uint64_t>(index);
  int length = 1;
  std::uint64_t block = kSyllables;
  while (rest >= block) {
    rest -= block;
    block *= kSyllables;
    ++length;
  }
  std::uint64_t code = rest * kSpellingMultiplier % block;
  std::string word;
  for (int i = 0; i < length; ++i) {
    const std::uint64_t syllable = code % kSyllables;
    code /= kSyllables;
    word += kConsonants[syllable / kVowels.size()];
    word += kVowels[syllable % kVowels.size()];
  }
  return word;
}

// States 0..vocab_size-1 are words and state vocab_size is <eos>. Every state has `branching`
// word successors in a flat row; word states additionally go to <eos> with eos_probability,
// which is kept out of the rows so that sampling it is a single exact comparison.
struct Chain {
  int vocab_size = 0;
  int branching = 0;
  double eos_probability = 0;
  std::vector<int> successor;              // [state * branching + k]
  std::vector<std::uint64_t> cumulative;   // inclusive prefix sums of the integer weights per row
  std::vector<double> probability;         // true transition probability, eos share included
  std::vector<double> neg_log_probability;

  int eos_state() const { return vocab_size; }
  int state_count() const { return vocab_size + 1; }
  std::size_t row(int state) const {
    return static_cast<std::size_t>(state) * static_cast<std::size_t>(branching);
  }
};

// Draws `count` distinct states from [0, population) that are not marked in `excluded`, marking
// the chosen ones; the caller clears the marks.
std::vector<int> choose_distinct(int count, int population, std::vector<char>& excluded,
                                 Rng& rng) {
  std::vector<int> chosen;
  chosen.reserve(count);
  const auto available = static_cast<int>(std::count(excluded.begin(), excluded.end(), 0));
  if (2 * count <= available) {
    // Sparse case: rejection needs fewer than two draws per pick and no O(population) list.
    while (static_cast<int>(chosen.size()) < count) {
      const auto candidate = static_cast<int>(rng.below(static_cast<std::uint64_t>(population)));
      if (excluded[candidate]) continue;
      excluded[candidate] = 1;
      chosen.push_back(candidate);
    }
    return chosen;
  }
  std::vector<int> candidates;
  candidates.reserve(available);
  for (int i = 0; i < population; ++i) {
    if (!excluded[i]) candidates.push_back(i);
  }
  for (int i = 0; i < count; ++i) {
    const auto j = i + static_cast<std::size_t>(rng.below(candidates.size() - i));
    std::swap(candidates[i], candidates[j]);
    excluded[candidates[i]] = 1;
    chosen.push_back(candidates[i]);
  }
  return chosen;
}

void set_row(Chain& chain, int state, const std::vector<int>& successors, double mass, Rng& rng) {
  const std::size_t base = chain.row(state);
  std::uint64_t total = 0;
  for (int k = 0; k < chain.branching; ++k) {
    const std::uint64_t rank_weight = kWeightScale / static_cast<std::uint64_t>(k + 1);
    total += rank_weight * (kJitterBase + rng.below(kJitterBase));
    chain.successor[base + k] = successors[k];
    chain.cumulative[base + k] = total;
  }
  std::uint64_t previous = 0;
  for (int k = 0; k < chain.branching; ++k) {
    const std::uint64_t weight = chain.cumulative[base + k] - previous;
    previous = chain.cumulative[base + k];
    const double p = mass * static_cast<double>(weight) / static_cast<double>(total);
    chain.probability[base + k] = p;
    chain.neg_log_probability[base + k] = -std::log(p);
  }
}

Chain build_chain(const MarkovSpec& spec) {
  Chain chain;
  chain.vocab_size = spec.vocab_size;
  chain.branching = spec.branching;
  chain.eos_probability = spec.eos_probability;
  const std::size_t cells = chain.row(chain.state_count());
  chain.successor.resize(cells);
  chain.cumulative.resize(cells);
  chain.probability.resize(cells);
  chain.neg_log_probability.resize(cells);

  Rng rng(stream_seed(spec.seed, kChainStream));
  const int vocab = spec.vocab_size;
  // A random Hamiltonian cycle through all words guarantees every word an incoming edge and
  // makes the words one strongly connected class, so the chain is irreducible.
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(order);
  std::vector<int> cycle_next(vocab);
  for (int i = 0; i < vocab; ++i) cycle_next[order[i]] = order[(i + 1) % vocab];

  std::vector<char> excluded(vocab, 0);
  for (int word = 0; word < vocab; ++word) {
    excluded[word] = 1;  // no self-loops: "ba ba ba" lines read badly and add nothing
    excluded[cycle_next[word]] = 1;
    std::vector<int> successors = choose_distinct(spec.branching - 1, vocab, excluded, rng);
    successors.push_back(cycle_next[word]);
    for (const int s : successors) excluded[s] = 0;
    excluded[word] = 0;
    // The cycle edge would otherwise always get the same rank and hence the largest weight.
    rng.shuffle(successors);
    set_row(chain, word, successors, 1.0 - spec.eos_probability, rng);
  }
  std::vector<int> starts = choose_distinct(spec.branching, vocab, excluded, rng);
  set_row(chain, chain.eos_state(), starts, 1.0, rng);
  return chain;
}

// Lazy power iteration, pi <- (pi + pi P) / 2: same fixed point as pi P, but converges even for
// a periodic chain.
std::vector<double> stationary_distribution(const Chain& chain) {
  const int n = chain.state_count();
  std::vector<double> pi(n, 1.0 / n);
  std::vector<double> next(n);
  for (int iteration = 0; iteration < kMaxStationaryIterations; ++iteration) {
    std::fill(next.begin(), next.end(), 0.0);
    for (int state = 0; state < n; ++state) {
      const std::size_t base = chain.row(state);
      for (int k = 0; k < chain.branching; ++k) {
        next[chain.successor[base + k]] += pi[state] * chain.probability[base + k];
      }
      if (state != chain.eos_state()) next[chain.eos_state()] += pi[state] * chain.eos_probability;
    }
    double change = 0;
    double total = 0;
    for (int state = 0; state < n; ++state) {
      next[state] = 0.5 * (pi[state] + next[state]);
      change += std::abs(next[state] - pi[state]);
      total += next[state];
    }
    // Renormalising stops rounding drift from accumulating over many iterations.
    for (double& p : next) p /= total;
    pi.swap(next);
    if (change < kStationaryTolerance) break;
  }
  return pi;
}

double entropy_rate(const Chain& chain) {
  const std::vector<double> pi = stationary_distribution(chain);
  const double eos_term = -chain.eos_probability * std::log(chain.eos_probability);
  double entropy = 0;
  for (int state = 0; state < chain.state_count(); ++state) {
    const std::size_t base = chain.row(state);
    double state_entropy = state == chain.eos_state() ? 0.0 : eos_term;
    for (int k = 0; k < chain.branching; ++k) {
      state_entropy += chain.probability[base + k] * chain.neg_log_probability[base + k];
    }
    entropy += pi[state] * state_entropy;
  }
  return entropy;
}

// One temporary name per process: sweep points running at once may generate the same corpus
// into the same folder, and each must rename a complete file of its own into place.
fs::path temp_path(const fs::path& path) {
  fs::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  return temp;
}

void rename_into_place(const fs::path& temp, const fs::path& path) {
  std::error_code error;
  fs::rename(temp, path, error);
  if (error) {
    throw std::runtime_error("cannot rename " + temp.string() + " to " + path.string() + ": " +
                             first_lower(error.message()));
  }
}

std::ofstream open_for_writing(const fs::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot open " + path.string() + " for writing");
  return out;
}

void close_checked(std::ofstream& out, const fs::path& path) {
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

struct SplitResult {
  std::int64_t tokens = 0;
  double perplexity = 0;
};

// Samples whole lines from the <eos> state until at least target_tokens tokens (words plus one
// <eos> per line) are out, writing them to path. Scoring uses transition counts rather than a
// running sum so that the result does not depend on summation order along the stream.
SplitResult write_split(const Chain& chain, const std::vector<std::string>& words,
                        std::uint64_t seed, std::int64_t target_tokens, const fs::path& path) {
  Rng rng(seed);
  std::vector<std::int64_t> row_count(chain.row(chain.state_count()), 0);
  std::vector<std::int64_t> eos_count(chain.vocab_size, 0);
  const fs::path temp = temp_path(path);
  std::ofstream out = open_for_writing(temp);
  std::string line;
  std::int64_t tokens = 0;
  bool first_token = true;
  while (tokens < target_tokens) {
    line.clear();
    int state = chain.eos_state();
    for (;;) {
      if (state != chain.eos_state() && rng.unit() < chain.eos_probability) {
        ++eos_count[state];
        ++tokens;
        break;
      }
      const std::size_t base = chain.row(state);
      const std::uint64_t draw = rng.below(chain.cumulative[base + chain.branching - 1]);
      const auto begin = chain.cumulative.begin() + static_cast<std::ptrdiff_t>(base);
      const auto k = std::upper_bound(begin, begin + chain.branching, draw) - begin;
      if (!first_token) ++row_count[base + k];
      first_token = false;
      state = chain.successor[base + k];
      if (!line.empty()) line += ' ';
      line += words[state];
      ++tokens;
    }
    line += '\n';
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
  }
  close_checked(out, temp);
  rename_into_place(temp, path);

  double neg_log_likelihood = 0;
  const double eos_cost = -std::log(chain.eos_probability);
  for (std::size_t i = 0; i < row_count.size(); ++i) {
    if (row_count[i] != 0) {
      neg_log_likelihood += static_cast<double>(row_count[i]) * chain.neg_log_probability[i];
    }
  }
  for (const std::int64_t count : eos_count) {
    neg_log_likelihood += static_cast<double>(count) * eos_cost;
  }
  return {tokens, std::exp(neg_log_likelihood / static_cast<double>(tokens - 1))};
}

// std::to_chars is locale-independent, unlike printf, so the JSON never gets a decimal comma.
std::string format_double(double value) {
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, 17);
  return std::string(buffer, result.ptr);
}

std::string optimum_json(const MarkovSpec& spec, const MarkovOptimum& optimum) {
  std::string json = "{\n";
  auto add = [&json](std::string_view key, const std::string& value, bool last = false) {
    json += "  \"";
    json += key;
    json += "\": ";
    json += value;
    json += last ? "\n" : ",\n";
  };
  add("perplexity", format_double(optimum.test_perplexity));
  add("test_perplexity", format_double(optimum.test_perplexity));
  add("valid_perplexity", format_double(optimum.valid_perplexity));
  add("train_perplexity", format_double(optimum.train_perplexity));
  add("entropy_rate_perplexity", format_double(optimum.entropy_rate_perplexity));
  add("seed", std::to_string(spec.seed));
  add("vocab_size", std::to_string(spec.vocab_size));
  add("branching", std::to_string(spec.branching));
  add("eos_probability", format_double(spec.eos_probability));
  // The sizes asked for, so that a reader can tell whether this corpus matches a spec (the
  // written sizes overshoot them by up to one line).
  add("requested_train_tokens", std::to_string(spec.train_tokens));
  add("requested_valid_tokens", std::to_string(spec.valid_tokens));
  add("requested_test_tokens", std::to_string(spec.test_tokens));
  add("train_tokens", std::to_string(optimum.train_tokens));
  add("valid_tokens", std::to_string(optimum.valid_tokens));
  add("test_tokens", std::to_string(optimum.test_tokens), /*last=*/true);
  json += "}\n";
  return json;
}

void validate(const MarkovSpec& spec) {
  auto fail = [](const std::string& message) {
    throw std::invalid_argument("invalid markov spec: " + message);
  };
  if (spec.vocab_size < 2) {
    fail("vocab_size must be at least 2, got " + std::to_string(spec.vocab_size));
  }
  if (spec.branching < 1 || spec.branching > spec.vocab_size - 1) {
    fail("branching must be in [1, vocab_size - 1], got " + std::to_string(spec.branching));
  }
  if (!(spec.eos_probability > 0.0 && spec.eos_probability < 1.0)) {
    fail("eos_probability must be in (0, 1), got " + format_double(spec.eos_probability));
  }
  if (spec.train_tokens < 1 || spec.valid_tokens < 1 || spec.test_tokens < 1) {
    fail("token counts must be at least 1");
  }
}

}  // namespace

MarkovOptimum write_markov_corpus(const MarkovSpec& spec, const std::filesystem::path& dir) {
  validate(spec);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    throw std::runtime_error("cannot create directory " + dir.string() + ": " +
                             first_lower(error.message()));
  }
  // Removing the old marker first keeps "optimum.json present => corpus complete" true even if
  // this run dies half-way through replacing an earlier corpus.
  const fs::path optimum_path = dir / "optimum.json";
  fs::remove(optimum_path, error);
  if (error) {
    throw std::runtime_error("cannot remove " + optimum_path.string() + ": " +
                             first_lower(error.message()));
  }

  const Chain chain = build_chain(spec);
  std::vector<std::string> words;
  words.reserve(spec.vocab_size);
  for (int i = 0; i < spec.vocab_size; ++i) words.push_back(word_spelling(i));

  MarkovOptimum optimum;
  const SplitResult train = write_split(chain, words, stream_seed(spec.seed, kTrainStream),
                                        spec.train_tokens, dir / "train.txt");
  const SplitResult valid = write_split(chain, words, stream_seed(spec.seed, kValidStream),
                                        spec.valid_tokens, dir / "valid.txt");
  const SplitResult test = write_split(chain, words, stream_seed(spec.seed, kTestStream),
                                       spec.test_tokens, dir / "test.txt");
  optimum.train_perplexity = train.perplexity;
  optimum.valid_perplexity = valid.perplexity;
  optimum.test_perplexity = test.perplexity;
  optimum.train_tokens = train.tokens;
  optimum.valid_tokens = valid.tokens;
  optimum.test_tokens = test.tokens;
  optimum.entropy_rate_perplexity = std::exp(entropy_rate(chain));

  const fs::path temp = temp_path(optimum_path);
  std::ofstream out = open_for_writing(temp);
  const std::string json = optimum_json(spec, optimum);
  out.write(json.data(), static_cast<std::streamsize>(json.size()));
  close_checked(out, temp);
  rename_into_place(temp, optimum_path);
  return optimum;
}

}  // namespace loom::data
