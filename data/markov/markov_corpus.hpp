#pragma once
// A seeded generator of a word-level text corpus drawn from a first-order Markov chain whose
// best achievable perplexity is known exactly, so that a language model's score can be compared
// with the optimum. Self-contained: depends only on the standard library.
//
// The chain has vocab_size word states plus one end-of-line state (<eos>). Every word state has
// `branching` distinct successor words (never itself) with unequal Zipf-like probabilities
// summing to 1 - eos_probability, plus <eos> with eos_probability. The <eos> state moves to one
// of `branching` distinct line-start words. Every word has at least one incoming edge from
// another word (the successor lists contain a Hamiltonian cycle), so the chain is irreducible
// and every word occurs in a long enough sample.
//
// Text format: one line per sentence, words separated by single spaces, no <eos> written; the
// token stream of a file is the words of each line followed by one <eos>. Words are distinct,
// lower-case ASCII consonant-vowel pseudo-words ("bako", "tirume"), never "<eos>" or "<unk>".
// Word spellings depend only on the word index, not on the seed.
//
// Determinism: the same spec gives byte-identical text files on any platform (the sampler uses
// std::mt19937_64 raw output and integer arithmetic only). The chain depends on seed,
// vocab_size, branching and eos_probability but not on the split sizes, and each split is
// sampled from its own RNG stream starting in the <eos> state, so e.g. enlarging train_tokens
// leaves valid.txt and test.txt unchanged.
#include <cstdint>
#include <filesystem>

namespace loom::data {

struct MarkovSpec {
  int vocab_size = 300;           // words, not counting the end-of-line state; >= 2
  int branching = 6;              // successors per state; 1 <= branching <= vocab_size - 1
  double eos_probability = 0.08;  // chance that a word is followed by end-of-line; in (0, 1)
  std::uint64_t seed = 1;
  // Approximate sizes in tokens including one <eos> per line; each >= 1. A split stops at the
  // end of the first line that reaches its target, so it overshoots by less than one line.
  std::int64_t train_tokens = 200000;
  std::int64_t valid_tokens = 20000;
  std::int64_t test_tokens = 20000;
};

struct MarkovOptimum {
  // exp(mean -log P(t_i | t_{i-1})) over that file's token stream, scoring every token but the
  // first (the predecessor of a line's first word is <eos>): exactly what an oracle that knows
  // the true chain scores on the file.
  double train_perplexity = 0;
  double valid_perplexity = 0;
  double test_perplexity = 0;
  // exp(H) with H = -sum_i pi_i sum_j P_ij log P_ij, pi the stationary distribution (power
  // iteration): the limit of the file perplexities as the files grow.
  double entropy_rate_perplexity = 0;
  std::int64_t train_tokens = 0;  // actual counts written, words plus one <eos> per line
  std::int64_t valid_tokens = 0;
  std::int64_t test_tokens = 0;
};

// Writes dir/train.txt, dir/valid.txt, dir/test.txt and dir/optimum.json, creating dir if
// needed and replacing existing files. Any existing optimum.json is removed first and each file
// is written to a temporary name and renamed, optimum.json last, so a present optimum.json
// means a complete corpus. Not safe against concurrent writers to the same dir.
//
// optimum.json holds one object with the keys perplexity (= test_perplexity), test_perplexity,
// valid_perplexity, train_perplexity, entropy_rate_perplexity, seed, vocab_size, branching,
// train_tokens, valid_tokens and test_tokens; doubles have 17 significant digits.
//
// Throws std::invalid_argument when the spec is out of range and std::runtime_error (one
// lower-case line naming the path) when the directory or a file cannot be created or written.
MarkovOptimum write_markov_corpus(const MarkovSpec& spec, const std::filesystem::path& dir);

}  // namespace loom::data
