// score: the per-line and total perplexity of an input file, into a TSV file of the run
// folder and summary.json.
#include <cmath>
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

void score(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  Model& model = ws.get_as<Model>(Kind::kModel, p, "model");
  const Tokenizer& tokenizer = ws.get_as<Tokenizer>(Kind::kTokenizer, p, "tokenizer");
  const Vocab& vocab = ws.vocab_of(ws.resolve(Kind::kVocab, p, "vocab"), p, "vocab");
  const std::string input = p.get_string("input");
  std::ifstream in(input);
  if (!in) p.fail("input", "cannot open '" + input + "'");
  std::ostringstream table;
  const ScoreTotals t = score_lines(model, tokenizer, vocab, in, input, table);
  const auto output = ctx.folder.dir() / p.get_string("output");
  write_file_atomically(output, table.str());
  Json& j = ctx.folder.summary()["score"];
  j["input"] = input;
  j["lines"] = t.lines;
  j["tokens"] = t.tokens;
  j["unknown"] = t.unknown;
  if (t.tokens > 0) j["ppl"] = std::exp(-t.log_prob / static_cast<double>(t.tokens));
  ws.say("score " + input + ": " + std::to_string(t.lines) + " lines, " + with_commas(t.tokens) + " tokens (" +
         with_commas(t.unknown) + " unknown), ppl " + ppl_text(t.log_prob, t.tokens) + " -> " + output.string());
}

}  // namespace

Stage score_stage() {
  return {"score",
          "per-line and total perplexity of a text file",
          {{"input", ParamType::kPath, "", "text file, one line per entry"},
           {"output", ParamType::kString, "scores.tsv", "file in the run folder: per-line and total perplexity"},
           component_param("model", Kind::kModel, "language model that scores"),
           component_param("tokenizer", Kind::kTokenizer, "tokenizer of the text"),
           component_param("vocab", Kind::kVocab, "vocabulary of the model")},
          false,
          score};
}

}  // namespace loom
