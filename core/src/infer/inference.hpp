#pragma once
// Inference with a trained model: sampling text, scoring text, classifying text, and opening
// a run folder for it. The generate, score and predict stages and the loom generate, score,
// predict and evaluate commands share these.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loom/infer.hpp"
#include "loom/pipeline.hpp"
#include "loom/plugin.hpp"
#include "run/workspace.hpp"

namespace loom {

// A line of text to score, classify or translate: InputError naming source:line for binary
// data (a NUL byte) or text that is not UTF-8.
void check_text_line(const std::string& line, const std::string& source, std::int64_t line_no);

// ConfigError naming `what` when the model gives no next-token probabilities.
LanguageModel& language_model(Model& model, const std::string& what);

// The token that ends a line: what the tokenizer makes of an empty line when that is one
// token (the word tokenizer's <eos>), else the vocabulary's eos or bos. Text is generated and
// scored as if it followed such a token, as every line but the first does in training.
std::int32_t line_end(const Tokenizer* tokenizer, const Vocab& vocab);

// The attention weights every layer and head of a model that ShowsAttention gives `text`
// (after a line-end token, as text is scored), written as dir/attention.json (tokens and, per
// layer, weights [head][query][key]) and dir/attention.html (heatmaps). Returns the token
// count. ConfigError when the model shows no attention; InputError for text with no token.
std::int64_t write_attention(Model& model, const Tokenizer& tokenizer, const Vocab& vocab, const std::string& text,
                             const std::filesystem::path& dir, const std::string& title);

// Samples `words` tokens, starting after an end of line (temperature 0: always the likeliest;
// top_k > 0: only the k likeliest tokens at each step, renormalised); writes lines of text
// (tokens joined by the tokenizer, or by spaces without one).
void sample_text(Model& model, const Tokenizer* tokenizer, const Vocab& vocab, std::int64_t words, double temperature,
                 std::uint64_t seed, std::ostream& out, std::int64_t top_k = 0);

struct ScoreTotals {
  std::int64_t lines = 0, tokens = 0, unknown = 0;
  double log_prob = 0.0;
};
// Per-line log-probability and perplexity of the lines of `in` as a TSV table with a total
// row; the model's state carries from line to line as in training. InputError naming
// source:line for binary data, invalid UTF-8, and for input with no token to score.
ScoreTotals score_lines(Model& model, const Tokenizer& tokenizer, const Vocab& vocab, std::istream& in,
                        const std::string& source, std::ostream& out, bool per_token = false);
// exp(-log_prob / tokens) with 4 decimals, or "" without tokens.
std::string ppl_text(double log_prob, std::int64_t tokens);

struct PredictTotals {
  std::int64_t lines = 0;
  std::map<std::string, std::int64_t> per_label;
};
// "label<TAB>probability" for each line of `in`, in order: the data component batches the
// texts as it batches its own (BatchesTexts), the model scores them. Class names from the
// run's labels.txt when it was opened for inference, else from the data.
PredictTotals predict_lines(Workspace& ws, Model& model, const std::string& data_id, std::istream& in,
                            const std::string& source, std::ostream& out);

// Translating (translate.cpp): the lines of `in` with the run's model and data component.
struct TranslateTotals {
  std::int64_t lines = 0, tokens = 0;
};
TranslateTotals translate_lines(Workspace& ws, Model& model, const std::string& data_id, std::istream& in,
                                const std::string& source, std::ostream& out, const TranslateOptions& options);
// A hypothesis as text: its tokens in `vocab`, joined by `tokenizer`.
std::string hypothesis_text(const Hypothesis& h, const Vocab& vocab, const Tokenizer& tokenizer);

// A run folder opened for inference: its pipeline (config.yaml with `overrides`), the
// workspace built from it, the checkpoint's parameters and vocabularies (open_for_inference).
struct OpenedRun {
  OpenedRun(const Registry& registry, const std::filesystem::path& dir, const std::vector<std::string>& overrides,
            const std::string& which = "");
  Pipeline pipeline;
  std::unique_ptr<Workspace> workspace;
  std::filesystem::path checkpoint;
};

// Opens a trained run folder in `ws`: parameters from checkpoints/best.ckpt (last.ckpt when no
// epoch was judged best), vocabularies from that checkpoint (the folder's vocab files must
// agree with it), class names from labels.txt. Needs no file outside the folder. Returns the
// checkpoint used.
// `which`: "best" or "last" to insist on one checkpoint; empty: best.ckpt, else last.ckpt.
std::filesystem::path open_for_inference(Workspace& ws, const std::filesystem::path& dir, const std::string& which = "");

// "evaluate test: loss ... | ppl ... | 1,234 tokens": the model of an opened run on a split,
// the data numericalised with the run's vocabularies.
std::string evaluate_opened(Workspace& ws, const std::string& split);

// The opened run's data loader, numericalised with its vocabularies, once `split` is known to
// be one of its splits (ConfigError naming the splits it has otherwise).
DataLoader& data_with_split(Workspace& ws, const std::string& split);

}  // namespace loom
