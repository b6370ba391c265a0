#pragma once
// Corpus BLEU (Papineni et al. 2002), for the bleu metric, the Evaluator and `loom bleu`.
//
// The default is the textbook definition, which is NLTK's corpus_bleu without smoothing. For
// n = 1..4, over the corpus:
//   a_n = sum over each hypothesis's n-gram types of min(count in it, max count in any of its
//         references)  ("clipped" matches)
//   b_n = sum of max(1, number of n-grams in the hypothesis)
//   p_n = a_n / b_n
//   R   = sum of the reference length closest to the hypothesis length (ties: the shorter)
//   H   = sum of the hypothesis lengths
//   BLEU = min(1, exp(1 - R / H)) * (p_1 p_2 p_3 p_4)^(1/4), and 0 when H = 0 or a p_n = 0.
//
// BleuOptions::sacrebleu() is sacreBLEU's default instead: the mteval-v13a tokenisation,
// "exp" smoothing (the k-th precision with no match counts as 1 / (2^k * b_n)) and
// denominators b_n that count the hypothesis n-grams alone (no max with 1).
//
// Statistics add up over sentences (BleuStats), so a metric can accumulate them batch by
// batch and save them in a checkpoint; the score comes from the sums at the end.
#include <array>
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "loom/json.hpp"

namespace loom {

constexpr int kBleuOrder = 4;

enum class BleuTokenize { kNone, k13a };  // none: split at white space
enum class BleuSmooth { kNone, kExp };

struct BleuOptions {
  BleuTokenize tokenize = BleuTokenize::kNone;
  BleuSmooth smooth = BleuSmooth::kNone;
  bool lowercase = false;
  bool raw_denominators = false;  // b_n without the max(1, .) per sentence (sacreBLEU)

  // tokenize 13a, smooth exp, raw denominators.
  static BleuOptions sacrebleu();
  // What was computed, e.g. "nrefs:1|case:mixed|tok:13a|smooth:exp|denominators:raw".
  std::string signature(std::size_t references) const;
};

struct BleuStats {
  std::array<std::int64_t, kBleuOrder> matches{};  // a_n
  std::array<std::int64_t, kBleuOrder> totals{};   // b_n
  std::int64_t sys_len = 0;                        // H
  std::int64_t ref_len = 0;                        // R
  std::int64_t sentences = 0;

  BleuStats& operator+=(const BleuStats& other);
};

struct BleuScore {
  double score = 0.0;                           // 0-100
  std::array<double, kBleuOrder> precisions{};  // p_n, 0-100 (smoothed where smoothing applies)
  double bp = 0.0;                              // brevity penalty, 0-1
  std::int64_t sys_len = 0, ref_len = 0;
};

// The tokens BLEU counts in a line: lower-cased first when asked, then split at white space
// (Python's str.split) or tokenised as mteval-v13a.
std::vector<std::string> bleu_tokens(std::string_view line, const BleuOptions& options);

// mteval-v13a as sacreBLEU's Tokenizer13a: drops "<skipped>", unescapes &quot; &amp; &lt;
// &gt;, separates ASCII punctuation and symbols, periods and commas unless next to a digit,
// and a dash after a digit; the tokens joined by single spaces.
std::string tokenize_13a(std::string_view line);

// Lower case for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic letters (the letters
// of European languages; other characters are kept).
std::string lowercase_utf8(std::string_view text);

// One hypothesis's statistics against its references (already tokenised).
BleuStats bleu_sentence_stats(const std::vector<std::string>& hypothesis,
                              const std::vector<std::vector<std::string>>& references, bool raw_denominators);

BleuScore bleu_from_stats(const BleuStats& stats, const BleuOptions& options);

// hypotheses[i] against references[r][i] for every reference stream r (each as long as the
// hypotheses; InputError otherwise), tokenised per `options`. Sentences run in parallel;
// the sums are exact, so the result does not depend on the thread count.
BleuStats corpus_bleu_stats(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& references, const BleuOptions& options);
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& references, const BleuOptions& options);

// The lines of a text (one sentence each, "\r\n" ends taken as "\n"), as `loom bleu` reads
// hypotheses and references.
std::vector<std::string> read_lines(std::istream& in);

// {"name": "BLEU", "score", "precisions": [4], "bp", "ratio", "sys_len", "ref_len",
//  "signature"}: score and precisions 0-100.
Json bleu_json(const BleuScore& score, const std::string& signature);
// "BLEU = 20.80 54.4/26.6/14.9/8.7 (BP = 1.000 ratio = 1.026 hyp_len = 62880 ref_len = 61287) SIGNATURE"
std::string bleu_line(const BleuScore& score, const std::string& signature);

}  // namespace loom
