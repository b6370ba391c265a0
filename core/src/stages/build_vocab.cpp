// build_vocab: counts a split's tokens, lets the vocabulary builder decide what enters, and
// numericalises the data with the result (vocab.txt, and labels.txt for labelled data). A
// resumed run takes the vocabulary from its checkpoint instead, so that ids mean what they
// meant.
#include <chrono>
#include <map>

#include "loom/strings.hpp"
#include "run/resolve.hpp"
#include "run/resume.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void build_vocab(StageContext& ctx, const Params& p) {
  Workspace& ws = ctx.workspace;
  RunFolder& folder = ctx.folder;
  const std::string data_id = ws.resolve(Kind::kData, p, "data");
  const std::string vocab_id = ws.resolve(Kind::kVocab, p, "vocab");
  auto& data = dynamic_cast<DataLoader&>(ws.get(data_id));
  auto& builder = dynamic_cast<VocabBuilder&>(ws.get(vocab_id));
  const std::string split = p.get_string("split");
  if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "' (it has: " + join(data.splits()) + ")");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string file = ws.vocab_file_name(vocab_id);
  std::optional<Vocab> vocab;
  std::map<std::string, std::int64_t> split_tokens;  // tokens per split, once counted
  const Checkpoint* resumed = ctx.resume ? &ctx.resume->checkpoint() : nullptr;
  if (resumed && resumed->has_section("vocab." + vocab_id)) {
    const StateDict& saved = resumed->section("vocab." + vocab_id);
    const std::string text = saved.text("text");
    vocab = Vocab::parse(text, saved.origin);
    folder.write_file(folder.dir() / file, text);
    ws.say("vocabulary '" + vocab_id + "': " + with_commas(static_cast<std::int64_t>(vocab->size())) +
           " tokens, from the checkpoint -> " + file);
  } else {
    TokenCounts counts = data.count_tokens(split);
    std::int64_t total = 0;
    for (const auto& [t, c] : counts) total += c;
    split_tokens[split] = total;
    vocab = builder.build(counts);
    vocab->save(folder.dir() / file);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ws.say("vocabulary '" + vocab_id + "': " + with_commas(static_cast<std::int64_t>(vocab->size())) + " tokens from " +
           with_commas(total) + " in split '" + split + "' (" + with_commas(static_cast<std::int64_t>(counts.size())) +
           " distinct), " + format_number("%.1f", seconds) + " s -> " + file);
  }
  data.prepare(*vocab);
  if (auto* labelled = dynamic_cast<const HasLabels*>(&data)) {
    std::string names;
    for (const auto& l : labelled->label_names()) names += l + "\n";
    folder.write_file(folder.dir() / "labels.txt", names);
    ws.say("labels: " + join(labelled->label_names()) + " -> labels.txt");
  }
  for (const auto& s : data.splits()) {
    const std::int64_t unk = data.unknown_tokens(s);
    if (unk == 0) continue;
    if (!split_tokens.count(s))
      for (const auto& [t, c] : data.count_tokens(s)) split_tokens[s] += c;
    const std::int64_t tokens = split_tokens[s];
    ws.say("  split '" + s + "': " + with_commas(unk) + " of " + with_commas(tokens) + " tokens (" +
           format_number("%.2f", tokens > 0 ? 100.0 * static_cast<double>(unk) / static_cast<double>(tokens) : 0.0) +
           "%) not in the vocabulary, mapped to unk");
  }
  ws.set_vocab(vocab_id, std::move(*vocab));
  ws.mark_prepared(data_id);
}

}  // namespace

Stage build_vocab_stage() {
  return {"build_vocab",
          "count a split's tokens, build the vocabulary and numericalise the data",
          {{"split", ParamType::kString, "train", "split whose tokens are counted"},
           component_param("data", Kind::kData, "data loader whose text is counted"),
           component_param("vocab", Kind::kVocab, "vocabulary builder that decides what enters")},
          true,
          build_vocab};
}

}  // namespace loom
