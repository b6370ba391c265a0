// data/parallel: sentence pairs for translation (see loom/parallel_corpus.hpp for batching).
//
// A split's value is a path prefix when src_lang and tgt_lang are set (train: data/train,
// src_lang: de, tgt_lang: en reads data/train.de and data/train.en, aligned line by line), and
// a TSV file of "source<TAB>target" lines otherwise. Each side has a tokenizer and a
// vocabulary builder; by default both sides use the pipeline's only one, and naming the same
// builder for both gives one joint vocabulary (required by layout decoder_only).
#include <filesystem>

#include "loom/errors.hpp"
#include "loom/parallel_corpus.hpp"
#include "loom/plugin.hpp"

namespace {

// Its own parameters, then those every sentence-pair loader has.
std::vector<loom::ParamSpec> params() {
  std::vector<loom::ParamSpec> specs = {
      {"train", loom::ParamType::kString, "", "training pairs: a TSV file, or a path prefix with src_lang/tgt_lang"},
      {"valid", loom::ParamType::kString, "", "validation pairs (as train; empty: none)"},
      {"test", loom::ParamType::kString, "", "test pairs (as train; empty: none)"},
      {"src_lang", loom::ParamType::kString, "", "source file suffix: <prefix>.<src_lang> (empty: the splits are TSV files)"},
      {"tgt_lang", loom::ParamType::kString, "", "target file suffix: <prefix>.<tgt_lang>"}};
  for (auto& s : loom::ParallelCorpusLoader::shared_params()) specs.push_back(std::move(s));
  return specs;
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kData,
      "parallel",
      "1.0",
      "sentence pairs for translation: aligned files or TSV, a tokenizer and vocabulary per side, length buckets",
      params(),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        loom::ParallelCorpusLoader::Options o;
        const std::string src_lang = p.get_string("src_lang"), tgt_lang = p.get_string("tgt_lang");
        if (src_lang.empty() != tgt_lang.empty())
          p.fail(src_lang.empty() ? "src_lang" : "tgt_lang", "set both src_lang and tgt_lang, or neither (TSV files)");
        if (!src_lang.empty() && src_lang == tgt_lang) p.fail("tgt_lang", "names the same suffix as src_lang");
        for (const char* split : {"train", "valid", "test"}) {
          const std::string value = p.get_string(split);
          if (value.empty()) continue;
          loom::ParallelCorpusLoader::Files f;
          if (src_lang.empty()) {
            f.tsv = value;
            if (ctx.paths_checked() && !std::filesystem::is_regular_file(f.tsv))
              p.fail(split, "no such file '" + value + "' (a TSV of source<TAB>target lines; for aligned files set src_lang and tgt_lang)");
          } else {
            f.src = value + "." + src_lang;
            f.tgt = value + "." + tgt_lang;
            for (const auto& file : {f.src, f.tgt})
              if (ctx.paths_checked() && !std::filesystem::is_regular_file(file)) p.fail(split, "no such file '" + file.string() + "'");
          }
          o.splits[split] = f;
        }
        if (!o.splits.count("train")) p.fail("train", "is required");
        loom::ParallelCorpusLoader::read_shared_params(ctx, o);
        return std::make_unique<loom::ParallelCorpusLoader>(std::move(o));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
