#pragma once
// Inference on a trained run folder: loom generate, score, predict, evaluate and translate.
//
// The run's pipeline (its config.yaml) is built with the vocabularies and parameters of
// checkpoints/best.ckpt (last.ckpt when no epoch was judged best) and the class names of its
// labels.txt; nothing outside the folder is read, except the split `evaluate` scores.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loom/registry.hpp"
#include "loom/search.hpp"

namespace loom {

// Samples `words` tokens from the language model (temperature 0: always the likeliest;
// top_k > 0: only the k likeliest tokens at each step) and writes them as lines of text;
// returns the checkpoint used. ConfigError when the model is not a language model.
std::filesystem::path generate_text(const Registry& registry, const std::filesystem::path& run_dir, std::int64_t words,
                                    double temperature, std::uint64_t seed, std::ostream& out, std::int64_t top_k = 0);

struct ScoreSummary {
  std::int64_t lines = 0, tokens = 0, unknown = 0;  // unknown: tokens mapped to unk
  double log_prob = 0.0;                            // natural log, summed over the tokens
  std::filesystem::path checkpoint;
  double perplexity() const { return tokens > 0 ? std::exp(-log_prob / static_cast<double>(tokens)) : 0.0; }
};
// Per-line and total perplexity of the lines of `in` (`source` names it in messages), as a
// TSV table with a header and a total row. The model's state carries from line to line.
// InputError naming source:line for binary data or invalid UTF-8, and for input with no
// token to score.
// With `per_token`, one row per scored token instead: line, position in the line, the id fed
// before it (context_id), its id, the token and its log-probability (no total row).
ScoreSummary score_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                        const std::string& source, std::ostream& out, bool per_token = false);

struct PredictSummary {
  std::int64_t lines = 0;
  std::map<std::string, std::int64_t> per_label;  // how many lines got each label
  std::filesystem::path checkpoint;
};
// The classifier's label and its probability for each line of `in` (`source` names it in
// messages: binary data, invalid UTF-8), one TSV line
// "label<TAB>probability" each, in order. The run's data component (text_classification)
// tokenises and batches the texts as in training. ConfigError when the model is not a
// classifier or the data cannot batch new texts.
PredictSummary predict_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                            const std::string& source, std::ostream& out);

// Loss and metrics of the trained model on a split; `file` replaces the data's file of that
// split. `settings` ("components.data.bptt=50") change how the data is read: only settings of
// data components that name no other component are allowed; any other key (the model, the
// vocabulary, the tokenizer) is a ConfigError naming it, since the trained parameters would
// not fit or mean the same. Returns the line to print.
std::string evaluate_run(const Registry& registry, const std::filesystem::path& run_dir, const std::string& split,
                         const std::optional<std::filesystem::path>& file, const std::vector<std::string>& settings = {});

struct AttentionSummary {
  std::filesystem::path checkpoint;
  std::int64_t tokens = 0;  // including the line-end token the text follows
};
// The attention weights of every layer and head for `text`, as out_dir/attention.html
// (heatmaps, tokens on both axes) and out_dir/attention.json. ConfigError when the model has
// no attention.
AttentionSummary attention_text(const Registry& registry, const std::filesystem::path& run_dir, const std::string& text,
                                const std::filesystem::path& out_dir);

struct EvaluateSweepSummary {
  std::filesystem::path checkpoint, table, page;
  std::vector<std::pair<std::string, std::map<std::string, double>>> rows;  // value -> loss, metrics, tokens
};
// The trained model evaluated on `split` once per value of one data setting `key`
// ("components.data.bptt" over 10, 20, ...: length generalisation), with `settings` applied to
// all; the same settings are allowed as for evaluate_run. Writes out_dir/evaluate_sweep.tsv
// (value, loss, metrics, tokens) and out_dir/evaluate_sweep.html (a chart per score).
EvaluateSweepSummary evaluate_sweep(const Registry& registry, const std::filesystem::path& run_dir, const std::string& split,
                                    const std::string& key, const std::vector<std::string>& values,
                                    const std::vector<std::string>& settings, const std::filesystem::path& out_dir);

struct ExportSummary {
  std::filesystem::path checkpoint;
  std::string module;  // the PyTorch module mirrored; empty: loom's own parameter names
  std::int64_t tensors = 0, values = 0;
};
// The model's parameters as float32 safetensors (loom/safetensors.hpp) under the names of the
// PyTorch module it mirrors (TorchExport), else under loom's parameter names. `which`:
// "best", "last", or empty (best.ckpt, else last.ckpt).
ExportSummary export_run(const Registry& registry, const std::filesystem::path& run_dir, const std::string& which,
                         const std::filesystem::path& out);

// One translated sentence with where the decoder looked: source tokens (eos included), output
// tokens (eos last) and per output token its weights over the source.
struct TranslatedSentence {
  std::vector<std::string> source, target;
  std::vector<std::vector<float>> weights;
};

struct TranslateOptions {
  SearchOptions search;
  std::int64_t batch_size = 32;  // sentences searched together
  // When set, every sentence's attention goes to this page: one heatmap per sentence.
  std::filesystem::path attention_page;
  // When not null, receives every sentence's best translation with its attention (set
  // search.attention too).
  std::vector<TranslatedSentence>* attention = nullptr;
};

struct TranslateSummary {
  std::int64_t lines = 0, tokens = 0;  // tokens: of the best translations, eos included
  double seconds = 0.0;
  std::filesystem::path checkpoint;
};
// One detokenized translation per line of `in`, in order (n-best: "index<TAB>score<TAB>text"
// lines, best first). ConfigError when the run's model cannot decode or its data holds no
// sentence pairs; InputError naming source:line for binary or non-UTF-8 input.
TranslateSummary translate_text(const Registry& registry, const std::filesystem::path& run_dir, std::istream& in,
                                const std::string& source, std::ostream& out, const TranslateOptions& options);

// The gradient through time of a recurrent model (loom diagnose): windows of `steps` tokens
// (0: the data's bptt) cut from the start of `split` (consecutive evaluation batches joined),
// each run from a zero state; norms[k] is ||d loss_T / d h_t|| for t = T - 1 - k (k steps
// back from the last), averaged over the windows' columns (ShowsGradientThroughTime).
struct GradientThroughTime {
  std::string run, cell;
  std::int64_t steps = 0, windows = 0, columns = 0;
  std::vector<double> norms;
  std::filesystem::path checkpoint;
};
// ConfigError when the model is not recurrent or the split is missing; InputError when the
// split is too short for one window.
GradientThroughTime gradient_through_time(const Registry& registry, const std::filesystem::path& run_dir,
                                          const std::string& split, std::int64_t steps, std::int64_t windows);

}  // namespace loom
