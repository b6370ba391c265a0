// attention: heatmaps of the model's attention weights for a text, into the run folder.
#include "infer/inference.hpp"
#include "run/resolve.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void attention(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  Model& model = ws.get_as<Model>(Kind::kModel, p, "model");
  const Tokenizer& tokenizer = ws.get_as<Tokenizer>(Kind::kTokenizer, p, "tokenizer");
  const Vocab& vocab = ws.vocab_of(ws.resolve(Kind::kVocab, p, "vocab"), p, "vocab");
  const auto dir = ctx.folder.dir() / p.get_string("output");
  const std::int64_t tokens = write_attention(model, tokenizer, vocab, p.get_string("text"), dir,
                                              "attention: " + ctx.folder.dir().filename().string());
  ws.say("attention of " + std::to_string(tokens) + " tokens -> " + (dir / "attention.html").string());
}

}  // namespace

Stage attention_stage() {
  return {"attention",
          "heatmaps of every attention layer and head for a text (attention.html, attention.json)",
          {{"text", ParamType::kString, std::nullopt, "the text to show"},
           {"output", ParamType::kString, "attention", "folder in the run folder"},
           component_param("model", Kind::kModel, "model with attention layers"),
           component_param("tokenizer", Kind::kTokenizer, "tokenizer of the text"),
           component_param("vocab", Kind::kVocab, "vocabulary of the model")},
          false,
          attention};
}

}  // namespace loom
