#include "run/evaluator.hpp"

#include <chrono>

#include "infer/inference.hpp"
#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/interrupt.hpp"
#include "loom/parallel_corpus.hpp"
#include "loom/strings.hpp"
#include "run/replicas.hpp"

namespace loom {

EvalResult Evaluator::evaluate(Model& model, DataLoader& data, const std::string& split, MetricList& metrics) const {
  EvalResult r;
  const auto t0 = std::chrono::steady_clock::now();
  if (auto* s = dynamic_cast<Stateful*>(&model)) s->reset_state();
  for (auto& [id, m] : metrics) m->reset();
  std::vector<std::pair<std::string, ComparesTexts*>> text_metrics;
  for (auto& [id, m] : metrics)
    if (auto* t = dynamic_cast<ComparesTexts*>(m)) text_metrics.emplace_back(id, t);
  IncrementalDecoder* decoder = nullptr;
  ParallelCorpusLoader* pairs = nullptr;
  if (!text_metrics.empty()) {
    decoder = dynamic_cast<IncrementalDecoder*>(&model);
    pairs = dynamic_cast<ParallelCorpusLoader*>(&data);
    if (decoder == nullptr || pairs == nullptr)
      throw ConfigError("metric '" + text_metrics[0].first + "' compares decoded translations with their references: it needs " +
                        (decoder == nullptr ? "a model that decodes (a translation model)" : "data of sentence pairs (parallel)"));
  }
  replicas::require_summable(metrics, "split '" + split + "'");
  Graph g(Mode::kEval);
  WeightPack weights(model.parameters().values());  // packed on first use, for this pass's searches
  // Each rank evaluates its share of every batch; the sums are added up over the ranks at the
  // end (in a world of one, the share is the batch and the sums are this process's).
  double sums[2] = {0.0, 0.0};  // loss_sum, count
  const std::int64_t n = data.num_batches(split, Mode::kEval);
  dist::together([] {});  // a rank that failed before meets the others here
  for (std::int64_t i = 0; i < n; ++i) {
    // A signal on any rank stops every rank at the same batch.
    dist::together([&] {
      if (int sig = pending_interrupt())
        throw Interrupted(sig, "interrupted while evaluating split '" + split + "'" + (resume_hint_ ? resume_hint_() : std::string()));
      g.clear();
      const Batch b = data.batch(split, Mode::kEval, i);
      r.tokens += b.target_tokens;
      Batch storage;
      const Batch& share = replicas::share(b, storage);
      if (dist::rows(share) == 0) return;
      ModelOutput out = model.forward(g, share);
      sums[0] += out.loss_sum;
      sums[1] += static_cast<double>(out.count);
      for (auto& [id, m] : metrics) m->update(share, out);
      // Metrics that compare texts (BLEU) get the batch decoded: the search runs once per
      // batch for all of them, never in training.
      if (!text_metrics.empty()) {
        std::vector<std::string> hypotheses;
        for (const auto& list : beam_search(*decoder, share, decode_, &weights))
          hypotheses.push_back(list.empty() ? std::string() : hypothesis_text(list[0], pairs->vocab("tgt"), pairs->tokenizer("tgt")));
        for (auto& [id, t] : text_metrics) t->update_texts(hypotheses, share.references);
      }
    });
  }
  dist::allreduce_sum(sums, 2);
  r.count = static_cast<std::int64_t>(sums[1]);
  r.loss = r.count > 0 ? sums[0] / sums[1] : 0.0;
  for (auto& [id, m] : metrics) {
    replicas::gather_into(*m);
    r.metrics.emplace_back(id, m->value());
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

SearchOptions decode_options(const Params& stage) {
  SearchOptions o;
  o.beam = stage.get_int("beam");
  return o;
}

ParamSpec beam_param() {
  return {"beam", ParamType::kInt, "1", "beam size when a metric compares decoded text (bleu, word_accuracy); 1: greedy", {}, 1};
}

std::string describe(const EvalResult& r) {
  std::string s = "loss " + format_number("%.4f", r.loss);
  for (const auto& [id, v] : r.metrics) s += " | " + id + " " + format_number("%.4g", v);
  return s;
}

Json scores_json(const EvalResult& r) {
  Json j = Json::object();
  for (const auto& [id, v] : r.metrics) j[id] = v;
  j["loss"] = r.loss;
  return j;
}

Json metrics_line(int epoch, const std::string& split, const EvalResult& r, double lr, std::optional<double> grad_norm) {
  Json line = Json::object();
  line["epoch"] = epoch;
  line["split"] = split;
  line["loss"] = r.loss;
  for (const auto& [id, v] : r.metrics) line[id] = v;
  line["lr"] = lr;
  if (grad_norm) line["grad_norm"] = *grad_norm;
  line["tokens"] = r.tokens;
  line["tokens_per_s"] = r.seconds > 0 ? static_cast<double>(r.tokens) / r.seconds : 0.0;
  line["seconds"] = r.seconds;
  return line;
}

void record_directions(Json& summary, const MetricList& metrics) {
  Json& h = summary["higher_is_better"];
  if (!h.is_object()) h = Json::object();
  for (const auto& [id, m] : metrics) h[id] = m->higher_is_better();
}

}  // namespace loom
