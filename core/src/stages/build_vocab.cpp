// build_vocab: learns the tokenizers that learn from text (subwords), counts a split's
// tokens, lets the vocabulary builder decide what enters, and numericalises the data with the
// result (vocab.txt, and labels.txt for labelled data). A resumed run takes the tokenizers and
// the vocabulary from its checkpoint instead, so that ids mean what they meant.
#include <chrono>
#include <functional>
#include <map>

#include "loom/errors.hpp"
#include "loom/strings.hpp"
#include "run/resolve.hpp"
#include "run/resume.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

// The vocabulary of builder `vocab_id` from `counts` (or from the checkpoint of a resumed
// run), saved in the run folder and handed to the workspace. `source` says what was counted.
void make_vocab(StageContext& ctx, const std::string& vocab_id, const std::function<TokenCounts()>& counts,
                const std::string& source) {
  Workspace& ws = ctx.workspace;
  RunFolder& folder = ctx.folder;
  auto& builder = dynamic_cast<VocabBuilder&>(ws.get(vocab_id));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string file = ws.vocab_file_name(vocab_id);
  const Checkpoint* resumed = ctx.resume ? &ctx.resume->checkpoint() : nullptr;
  if (resumed && resumed->has_section("vocab." + vocab_id)) {
    const StateDict& saved = resumed->section("vocab." + vocab_id);
    const std::string text = saved.text("text");
    Vocab vocab = Vocab::parse(text, saved.origin);
    folder.write_file(folder.dir() / file, text);
    ws.say("vocabulary '" + vocab_id + "': " + with_commas(static_cast<std::int64_t>(vocab.size())) +
           " tokens, from the checkpoint -> " + file);
    ws.set_vocab(vocab_id, std::move(vocab));
    return;
  }
  TokenCounts c = counts();
  std::int64_t total = 0;
  for (const auto& [t, n] : c) total += n;
  Vocab vocab = builder.build(c);
  vocab.save(folder.dir() / file);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ws.say("vocabulary '" + vocab_id + "': " + with_commas(static_cast<std::int64_t>(vocab.size())) + " tokens from " +
         with_commas(total) + " in " + source + " (" + with_commas(static_cast<std::int64_t>(c.size())) +
         " distinct), " + format_number("%.1f", seconds) + " s -> " + file);
  ws.set_vocab(vocab_id, std::move(vocab));
}

// Tokenizers learned from text learn from the raw lines of `split`, every side that uses
// them; a resumed run takes them from its checkpoint. Each is kept as <id>.model.
void learn_tokenizers(StageContext& ctx, const DataLoader& data, const std::string& data_id, const std::string& split) {
  Workspace& ws = ctx.workspace;
  RunFolder& folder = ctx.folder;
  const Checkpoint* resumed = ctx.resume ? &ctx.resume->checkpoint() : nullptr;
  for (const auto& [id, learner] : ws.learned_tokenizers()) {
    const std::string file = Workspace::tokenizer_file_name(id);
    if (const auto bytes = resumed ? Workspace::restore_learned_tokenizer(*resumed, id, *learner) : std::nullopt) {
      folder.write_file(folder.dir() / file, *bytes);
      ws.say("tokenizer '" + id + "': from the checkpoint -> " + file);
      continue;
    }
    if (!learner->learned()) {
      const auto* sided = dynamic_cast<const HasSides*>(&data);
      if (sided == nullptr)
        throw ConfigError("tokenizer '" + id + "' (" + ws.plugin_of(id) + ") is learned from text, which data '" + data_id +
                          "' (" + ws.plugin_of(data_id) + ") does not hand out: give the tokenizer a model file");
      std::vector<std::string_view> lines;
      std::vector<std::string> sides;
      for (const auto& side : sided->sides()) {
        if (&sided->side_tokenizer(side) != &ws.get(id)) continue;
        const auto text = sided->side_lines(split, side);
        lines.insert(lines.end(), text.begin(), text.end());
        sides.push_back(side);
      }
      if (sides.empty()) continue;  // a tokenizer this data does not use
      const auto t0 = std::chrono::steady_clock::now();
      const std::string what = learner->learn(lines);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ws.say("tokenizer '" + id + "': " + what + ", learned from split '" + split + "' (" + join(sides, " and ") + "), " +
             format_number("%.1f", seconds) + " s -> " + file);
    }
    folder.write_file(folder.dir() / file, learner->save_learned());
  }
}

void build_vocab(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  RunFolder& folder = ctx.folder;
  const std::string data_id = ws.resolve(Kind::kData, p, "data");
  auto& data = dynamic_cast<DataLoader&>(ws.get(data_id));
  const std::string split = p.get_string("split");
  if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
  learn_tokenizers(ctx, data, data_id, split);
  if (auto* sided = dynamic_cast<HasSides*>(&data)) {
    // One vocabulary per builder, from the sides that use it (a joint one from both).
    std::map<std::string, std::vector<std::string>> sides_of;
    std::vector<std::string> builders;
    for (const auto& side : sided->sides()) {
      const std::string id = ws.id_of(sided->side_vocab(side));
      if (!sides_of.count(id)) builders.push_back(id);
      sides_of[id].push_back(side);
    }
    for (const auto& id : builders) {
      const auto& sides = sides_of[id];
      make_vocab(ctx, id, [&] {
        TokenCounts all;
        for (const auto& side : sides)
          for (const auto& [t, n] : sided->count_side_tokens(split, side)) all[t] += n;
        return all;
      }, "split '" + split + "' (" + join(sides, " and ") + ")");
    }
  } else {
    const std::string vocab_id = ws.resolve(Kind::kVocab, p, "vocab");
    make_vocab(ctx, vocab_id, [&] { return data.count_tokens(split); }, "split '" + split + "'");
  }
  ws.prepare_data(data_id);
  if (auto* labelled = dynamic_cast<const HasLabels*>(&data)) {
    std::string names;
    for (const auto& l : labelled->label_names()) names += l + "\n";
    folder.write_file(folder.dir() / "labels.txt", names);
    ws.say("labels: " + join(labelled->label_names()) + " -> labels.txt");
  }
  auto* sided = dynamic_cast<const HasSides*>(&data);
  for (const auto& s : data.splits()) {
    if (sided && !sided->dropped(s).empty()) ws.say("  split '" + s + "': " + sided->dropped(s));
    const std::int64_t unk = data.unknown_tokens(s);
    if (unk == 0) continue;
    std::int64_t tokens = 0;
    for (const auto& [t, c] : data.count_tokens(s)) tokens += c;
    ws.say("  split '" + s + "': " + with_commas(unk) + " of " + with_commas(tokens) + " tokens (" +
           format_number("%.2f", tokens > 0 ? 100.0 * static_cast<double>(unk) / static_cast<double>(tokens) : 0.0) +
           "%) not in the vocabulary, mapped to unk");
  }
}

}  // namespace

Stage build_vocab_stage() {
  return {"build_vocab",
          "count a split's tokens, build the vocabulary and numericalise the data",
          {{"split", ParamType::kString, "train", "split whose tokens are counted"},
           component_param("data", Kind::kData, "data loader whose text is counted"),
           component_param("vocab", Kind::kVocab,
                           "vocabulary builder that decides what enters (data with sides, as parallel, names its own)")},
          true,
          build_vocab};
}

}  // namespace loom
