// generate: samples text from the language model into a file of the run folder.
#include <sstream>

#include "infer/inference.hpp"
#include "loom/files.hpp"
#include "run/resolve.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void generate(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  Model& model = ws.get_as<Model>(Kind::kModel, p, "model");
  const Tokenizer& tokenizer = ws.get_as<Tokenizer>(Kind::kTokenizer, p, "tokenizer");
  const Vocab& vocab = ws.vocab_of(ws.resolve(Kind::kVocab, p, "vocab"), p, "vocab");
  const std::uint64_t seed = p.get_int("seed") > 0 ? static_cast<std::uint64_t>(p.get_int("seed")) : ws.seed();
  std::ostringstream text;
  sample_text(model, &tokenizer, vocab, p.get_int("words"), p.get_float("temperature"), seed, text, p.get_int("top_k"));
  const auto output = ctx.folder.dir() / p.get_string("output");
  write_file_atomically(output, text.str());
  ws.say("generated " + std::to_string(p.get_int("words")) + " tokens -> " + output.string());
}

}  // namespace

Stage generate_stage() {
  return {"generate",
          "sample text from the language model",
          {{"words", ParamType::kInt, "100", "tokens to sample", {}, 1},
           {"temperature", ParamType::kFloat, "1", "divide the log-probabilities by this before sampling (0: always the likeliest)", {}, 0},
           {"top_k", ParamType::kInt, "0", "sample only among the k likeliest tokens (0: all)", {}, 0},
           {"seed", ParamType::kInt, "0", "sampling seed (0: the pipeline's)", {}, 0},
           {"output", ParamType::kString, "generated.txt", "file in the run folder"},
           component_param("model", Kind::kModel, "language model to sample from"),
           component_param("tokenizer", Kind::kTokenizer, "tokenizer that joins the tokens back into text"),
           component_param("vocab", Kind::kVocab, "vocabulary of the model")},
          false,
          generate};
}

}  // namespace loom
