#pragma once
// Greedy and beam search over any IncrementalDecoder (loom/plugin.hpp), for every sentence of
// a batch at once: the rows of the decoder's state are the live hypotheses of all sentences.
//
// Each step extends every live hypothesis by every token and keeps, per sentence, the 2k best
// candidates by their sum of log-probabilities (k = beam). A candidate ending in eos among the
// first k is finished; the first k others live on (fairseq's rule). A sentence is done when it
// has k finished hypotheses; at its maximum length, a * source length + b tokens, only eos may
// follow. Finished hypotheses are ranked by their score: the log-probability, divided by the
// length with eos (average) or by GNMT's ((5 + length) / 6)^alpha, or as it is (none). With
// k = 1 this is greedy decoding: the likeliest token at every step until eos.
//
// With k >= 2 the greedy path is followed too, as one more row that is never pruned, and its
// result joins the finished hypotheses: so the best hypothesis never scores below greedy
// decoding's. A plain beam does not promise that (it can prune the greedy prefix for prefixes
// that all end worse: 2 sentences in 840 of the random tables in tests/test_search.cpp).
//
// Results do not depend on the thread count: candidates are chosen per sentence with ties
// broken by row then token id, and the model's own ops are deterministic.
#include <cstdint>
#include <vector>

#include "loom/packed.hpp"
#include "loom/plugin.hpp"

namespace loom {

enum class LengthNorm { kNone, kAverage, kGnmt };

struct SearchOptions {
  std::int64_t beam = 1;   // hypotheses kept per sentence; 1 is greedy
  std::int64_t nbest = 1;  // hypotheses returned per sentence (at most beam)
  LengthNorm length_norm = LengthNorm::kAverage;
  double alpha = 0.6;        // GNMT's exponent
  double max_len_a = 1.5;    // an output has at most a * source length + b tokens (eos not
  std::int64_t max_len_b = 10;  // counted); the source length is src_lengths or prompt_lengths
  bool allow_unk = true;     // false: the unknown token is never chosen
  bool attention = false;    // keep where each output token looked in the source
};

struct Hypothesis {
  std::vector<std::int32_t> ids;  // the output without eos
  double log_prob = 0.0;          // sum of the log-probabilities of ids and eos
  double score = 0.0;             // what hypotheses are ranked by (log_prob, normalised)
  // With SearchOptions::attention and a model that has it: per output token (eos last), its
  // weights over the source positions.
  std::vector<std::vector<float>> attention;
};

// The score `options` ranks a hypothesis of `tokens` tokens (eos included) by.
double normalized_score(double log_prob, std::int64_t tokens, const SearchOptions& options);

// For every sentence of `batch`, its best hypotheses, best first (ties: the one found first).
// ConfigError for options out of range (beam < 1, nbest outside 1..beam, negative lengths).
// The decoder's products use `weights` (loom/packed.hpp), which callers that search many
// batches with the same parameters keep from one call to the next; without one, a model's
// weights are packed for this call.
std::vector<std::vector<Hypothesis>> beam_search(IncrementalDecoder& model, const Batch& batch,
                                                 const SearchOptions& options, WeightPack* weights = nullptr);

}  // namespace loom
