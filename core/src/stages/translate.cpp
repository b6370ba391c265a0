// translate: the model's translations of a split's source sentences, one detokenized line per
// sentence in the split's order, into a file of the run folder (as `loom translate` would print
// them for that split's source file).
#include <algorithm>
#include <chrono>
#include <sstream>

#include "infer/inference.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/strings.hpp"
#include "run/resolve.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void translate(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  const std::string data_id = ws.resolve(Kind::kData, p, "data");
  ws.require_prepared(data_id, p);
  auto& data = dynamic_cast<DataLoader&>(ws.get(data_id));
  const auto* sided = dynamic_cast<const HasSides*>(&data);
  if (sided == nullptr)
    p.fail("data", "'" + data_id + "' (" + ws.plugin_of(data_id) + ") does not hold sentence pairs; translation needs a loader such as parallel");
  const std::string split = p.get_string("split");
  if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
  const std::string name = p.get_string("output");
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    p.fail("output", "must be a file name in the run folder, not '" + name + "'");
  Model& model = ws.get_as<Model>(Kind::kModel, p, "model");
  std::string sources;
  for (auto line : sided->side_lines(split, "src")) sources.append(line).push_back('\n');
  std::istringstream in(sources);
  std::ostringstream out;
  TranslateOptions o;
  o.search.beam = p.get_int("beam");
  o.batch_size = p.get_int("batch_size");
  const auto t0 = std::chrono::steady_clock::now();
  const TranslateTotals t = translate_lines(ws, model, data_id, in, "split '" + split + "'", out, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto output = ctx.folder.dir() / name;
  write_file_atomically(output, out.str());
  ws.say("translate " + split + ": " + with_commas(t.lines) + " sentences, " +
         format_number("%.1f", static_cast<double>(t.tokens) / std::max(seconds, 1e-9)) + " tokens/s (beam " +
         std::to_string(o.search.beam) + ") -> " + output.filename().string());
}

}  // namespace

Stage translate_stage() {
  return {"translate",
          "translate a split's source sentences into a file of the run folder",
          {{"split", ParamType::kString, "test", "split whose source side is translated"},
           {"beam", ParamType::kInt, "5", "beam size (1: greedy)", {}, 1},
           {"batch_size", ParamType::kInt, "32", "sentences searched together", {}, 1},
           {"output", ParamType::kString, "translations.txt", "file in the run folder"},
           component_param("model", Kind::kModel, "translation model"),
           component_param("data", Kind::kData, "data loader of sentence pairs")},
          false,
          translate};
}

}  // namespace loom
