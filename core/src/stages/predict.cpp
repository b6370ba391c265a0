// predict: a classifier's label and probability for each line of an input file, into a TSV
// file of the run folder, with the count of each label in summary.json.
#include <fstream>
#include <sstream>

#include "infer/inference.hpp"
#include "loom/files.hpp"
#include "loom/strings.hpp"
#include "run/resolve.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void predict(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  Model& model = ws.get_as<Model>(Kind::kModel, p, "model");
  const std::string data_id = ws.resolve(Kind::kData, p, "data");
  const std::string input = p.get_string("input");
  std::ifstream in(input);
  if (!in) p.fail("input", "cannot open '" + input + "'");
  std::ostringstream table;
  const PredictTotals t = predict_lines(ws, model, data_id, in, input, table);
  const auto output = ctx.folder.dir() / p.get_string("output");
  write_file_atomically(output, table.str());
  Json& j = ctx.folder.summary()["predict"];
  j = Json::object();
  j["input"] = input;
  j["lines"] = t.lines;
  Json& counts = j["labels"];
  counts = Json::object();
  std::string described;
  for (const auto& [label, n] : t.per_label) {
    counts[label] = n;
    described += (described.empty() ? "" : ", ") + label + " " + with_commas(n);
  }
  ws.say("predict " + input + ": " + with_commas(t.lines) + " lines (" + (described.empty() ? "none" : described) +
         ") -> " + output.string());
}

}  // namespace

Stage predict_stage() {
  return {"predict",
          "a classifier's label and probability for each line of a text file",
          {{"input", ParamType::kPath, "", "text file, one text per line"},
           {"output", ParamType::kString, "predictions.tsv", "file in the run folder: per line, the label and its probability"},
           component_param("model", Kind::kModel, "classifier that predicts"),
           component_param("data", Kind::kData, "data loader whose labels, tokenizer and batching the texts get")},
          false,
          predict};
}

}  // namespace loom
