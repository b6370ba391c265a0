// evaluate: the loss and metrics of the model on one split, into summary.json, beside the
// best achievable scores when the data knows them (a generated corpus).
#include "loom/strings.hpp"
#include "run/evaluator.hpp"
#include "run/resolve.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void evaluate(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  const std::string data_id = ws.resolve(Kind::kData, p, "data");
  ws.require_prepared(data_id, p);
  auto& data = dynamic_cast<DataLoader&>(ws.get(data_id));
  auto& model = ws.get_as<Model>(Kind::kModel, p, "model");
  MetricList metrics = ws.metrics(p);
  const std::string split = p.get_string("split");
  if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
  Json& summary = ctx.folder.summary();
  record_directions(summary, metrics);
  EvalResult r = Evaluator([&ctx] { return ctx.folder.resume_hint(); }, decode_options(p)).evaluate(model, data, split, metrics);
  summary["evaluate"][split] = scores_json(r);
  std::string line = "evaluate " + split + ": " + describe(r);
  if (auto* ref = dynamic_cast<const HasReferenceScores*>(&data)) {
    for (const auto& [key, v] : ref->reference_scores()) {
      summary[key] = v;
      // "optimum_ppl" sits beside the metric "ppl": show how far from it we landed.
      for (const auto& [id, value] : r.metrics)
        if (key == "optimum_" + id)
          line += " (optimum " + format_number("%.4g", v) + ", " + format_number("%+.1f", 100.0 * (value / v - 1.0)) + "%)";
    }
  }
  ws.say(line);
}

}  // namespace

Stage evaluate_stage() {
  return {"evaluate",
          "the loss and metrics of the model on a split",
          {{"split", ParamType::kString, "test", "split to evaluate"},
           component_param("model", Kind::kModel, "model to evaluate"),
           component_param("data", Kind::kData, "data loader"),
           {"metrics", ParamType::kStringList, "", "metric ids to compute (default: every metric)"},
           beam_param()},
          false,
          evaluate};
}

}  // namespace loom
