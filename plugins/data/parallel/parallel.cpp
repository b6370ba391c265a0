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

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kData,
      "parallel",
      "1.0",
      "sentence pairs for translation: aligned files or TSV, a tokenizer and vocabulary per side, length buckets",
      {{"train", loom::ParamType::kString, "", "training pairs: a TSV file, or a path prefix with src_lang/tgt_lang"},
       {"valid", loom::ParamType::kString, "", "validation pairs (as train; empty: none)"},
       {"test", loom::ParamType::kString, "", "test pairs (as train; empty: none)"},
       {"src_lang", loom::ParamType::kString, "", "source file suffix: <prefix>.<src_lang> (empty: the splits are TSV files)"},
       {"tgt_lang", loom::ParamType::kString, "", "target file suffix: <prefix>.<tgt_lang>"},
       {"src_tokenizer", loom::ParamType::kComponent, "", "tokenizer of the source side", {"tokenizers"}},
       {"tgt_tokenizer", loom::ParamType::kComponent, "", "tokenizer of the target side", {"tokenizers"}},
       {"src_vocab", loom::ParamType::kComponent, "", "vocabulary builder of the source side", {"vocab"}},
       {"tgt_vocab", loom::ParamType::kComponent, "", "vocabulary builder of the target side (the same as src_vocab: joint)", {"vocab"}},
       {"layout", loom::ParamType::kString, "encoder_decoder",
        "encoder_decoder: src, tgt_in, tgt_out; decoder_only: one sequence 'bos src sep tgt eos', loss on the target",
        {"encoder_decoder", "decoder_only"}},
       {"batch_size", loom::ParamType::kInt, "32", "pairs per training batch", {}, 1},
       {"eval_batch_size", loom::ParamType::kInt, "0", "pairs per evaluation batch (0: batch_size)", {}, 0},
       {"max_length", loom::ParamType::kInt, "0", "leave out training pairs with more tokens on a side (0: keep all)", {}, 0},
       {"shuffle", loom::ParamType::kBool, "true", "shuffle training pairs every epoch (from the seed)"},
       {"bucket", loom::ParamType::kBool, "true", "batch training pairs of similar length together"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        loom::ParallelCorpusLoader::Options o;
        o.name = p.component_id();
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
            if (!std::filesystem::is_regular_file(f.tsv))
              p.fail(split, "no such file '" + value + "' (a TSV of source<TAB>target lines; for aligned files set src_lang and tgt_lang)");
          } else {
            f.src = value + "." + src_lang;
            f.tgt = value + "." + tgt_lang;
            for (const auto& file : {f.src, f.tgt})
              if (!std::filesystem::is_regular_file(file)) p.fail(split, "no such file '" + file.string() + "'");
          }
          o.splits[split] = f;
        }
        if (!o.splits.count("train")) p.fail("train", "is required");
        o.src_tokenizer = &ctx.component<loom::Tokenizer>("src_tokenizer");
        o.tgt_tokenizer = &ctx.component<loom::Tokenizer>("tgt_tokenizer");
        o.src_vocab = &ctx.component<loom::VocabBuilder>("src_vocab");
        o.tgt_vocab = &ctx.component<loom::VocabBuilder>("tgt_vocab");
        o.layout = p.get_string("layout") == "decoder_only" ? loom::ParallelCorpusLoader::Layout::kDecoderOnly
                                                             : loom::ParallelCorpusLoader::Layout::kEncoderDecoder;
        if (o.layout == loom::ParallelCorpusLoader::Layout::kDecoderOnly && o.src_vocab != o.tgt_vocab)
          p.fail("layout", "decoder_only reads source and target as one sequence: give src_vocab and tgt_vocab the same builder");
        o.batch_size = p.get_int("batch_size");
        o.eval_batch_size = p.get_int("eval_batch_size");
        o.max_length = p.get_int("max_length");
        o.shuffle = p.get_bool("shuffle");
        o.bucket = p.get_bool("bucket");
        o.seed = ctx.seed();
        return std::make_unique<loom::ParallelCorpusLoader>(std::move(o));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
