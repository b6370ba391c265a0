#pragma once
// One split's loss and metrics: what the evaluate stage, validation after each training epoch
// and `loom evaluate` compute, and how they are written (a progress line, a metrics.jsonl
// line, a summary.json entry).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loom/json.hpp"
#include "loom/plugin.hpp"
#include "loom/search.hpp"
#include "run/workspace.hpp"

namespace loom {

struct EvalResult {
  double loss = 0.0;  // mean over the counted targets
  std::int64_t count = 0;
  std::int64_t tokens = 0;
  double seconds = 0.0;
  std::vector<std::pair<std::string, double>> metrics;  // id -> value, in the stage's order
};

class Evaluator {
 public:
  // `resume_hint` gives the end of the message of an interrupt that arrives while evaluating
  // (asked then: a checkpoint may have been saved since the Evaluator was made).
  explicit Evaluator(std::function<std::string()> resume_hint = {}, SearchOptions decode = SearchOptions{})
      : resume_hint_(std::move(resume_hint)), decode_(decode) {}

  // The loss and `metrics` of `model` on `split` of `data`, in evaluation mode, batch by batch
  // in order (the model's carried state and the metrics reset first). Metrics of decoded text
  // (ComparesTexts) get each batch decoded with `decode` (ConfigError when the model cannot
  // decode or the data holds no sentence pairs). Throws Interrupted between batches after
  // SIGINT/SIGTERM.
  EvalResult evaluate(Model& model, DataLoader& data, const std::string& split, MetricList& metrics) const;

 private:
  std::function<std::string()> resume_hint_;
  SearchOptions decode_;
};

// The decoding a stage asks of metrics that compare text: its `beam` parameter (1: greedy).
SearchOptions decode_options(const Params& stage);
// The `beam` parameter of the train and evaluate stages.
ParamSpec beam_param();

// "loss 4.7412 | ppl 114.6"
std::string describe(const EvalResult& r);
// {"ppl": ..., "loss": ...}: a split's entry in summary.json.
Json scores_json(const EvalResult& r);
// One line of metrics.jsonl.
Json metrics_line(int epoch, const std::string& split, const EvalResult& r, double lr, std::optional<double> grad_norm);
// summary.json's "higher_is_better": which way each metric improves, for sweeps and reports.
void record_directions(Json& summary, const MetricList& metrics);

}  // namespace loom
