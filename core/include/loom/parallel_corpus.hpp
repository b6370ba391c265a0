#pragma once
// Parallel text for translation: pairs of a source and a target sentence, from two files
// aligned line by line (train.de / train.en) or one TSV file (source TAB target). Each side
// has its tokenizer and vocabulary builder (one builder for both: a joint vocabulary).
// Shared by the parallel plugin and the generated translation sets (pig_latin).
//
// Batches follow loom/batch_layout.hpp: encoder_decoder gives src / tgt_in / tgt_out
// (batch-major); decoder_only gives one sequence "bos src sep tgt eos" per pair with the loss
// on the target part only (time-major ids / targets). Training batches are shuffled every
// epoch from the seed and, with `bucket`, made of pairs of similar length (sorted within
// windows of 50 batches, then the batches shuffled); evaluation batches keep the file's order.
// Training pairs with more than `max_length` tokens on a side are left out and counted.
//
// Files are read when first needed (a run opened for translation needs none of them).
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "loom/plugin.hpp"
#include "loom/text.hpp"

namespace loom {

class LOOM_API ParallelCorpusLoader : public DataLoader, public EpochAware, public HasSides, public BatchesTexts {
 public:
  enum class Layout { kEncoderDecoder, kDecoderOnly };
  struct Files {
    std::filesystem::path src, tgt;  // aligned files, or
    std::filesystem::path tsv;       // one file of "source TAB target" lines
  };
  struct Options {
    std::string name = "data";  // the component, for messages
    std::map<std::string, Files> splits;
    const Tokenizer* src_tokenizer = nullptr;
    const Tokenizer* tgt_tokenizer = nullptr;
    const VocabBuilder* src_vocab = nullptr;
    const VocabBuilder* tgt_vocab = nullptr;  // the same as src_vocab: one joint vocabulary
    Layout layout = Layout::kEncoderDecoder;
    std::int64_t batch_size = 32;       // pairs per training batch
    std::int64_t eval_batch_size = 0;   // pairs per evaluation batch (0: batch_size)
    std::int64_t max_length = 0;        // tokens per side of a training pair (0: no limit)
    bool shuffle = true;
    bool bucket = true;
    std::uint64_t seed = 0;
  };
  explicit ParallelCorpusLoader(Options options);

  // The parameters every loader of sentence pairs shares: src_tokenizer, tgt_tokenizer,
  // src_vocab, tgt_vocab, layout, batch_size, eval_batch_size, max_length, shuffle, bucket.
  static std::vector<ParamSpec> shared_params();
  // Reads them from a factory's context into `options` (name and seed too); ConfigError
  // naming the parameter when they do not fit together.
  static void read_shared_params(BuildContext& ctx, Options& options);

  Layout layout() const { return options_.layout; }
  const Tokenizer& tokenizer(const std::string& side) const;
  // The vocabulary a side was prepared with (AssertionError before prepare).
  const Vocab& vocab(const std::string& side) const;
  // Takes the run's vocabularies without reading any split: a trained run opened to translate
  // new text (batch_of_texts) needs nothing else.
  void use_vocabs(const Vocab& src, const Vocab& tgt);
  // Pairs of a split after preparing (those left out not counted).
  std::int64_t pairs(const std::string& split) const;

  // EpochAware
  void start_epoch(int epoch) override { epoch_ = epoch; }
  // HasSides: "src", "tgt".
  std::vector<std::string> sides() const override { return {"src", "tgt"}; }
  const VocabBuilder& side_vocab(const std::string& side) const override;
  const Tokenizer& side_tokenizer(const std::string& side) const override { return tokenizer(side); }
  std::vector<std::string_view> side_lines(const std::string& split, const std::string& side) const override;
  TokenCounts count_side_tokens(const std::string& split, const std::string& side) const override;
  void prepare_sides(const std::map<std::string, const Vocab*>& vocabs) override;
  std::string dropped(const std::string& split) const override;
  // BatchesTexts: source sentences as an evaluation batch would hold them (encoder_decoder:
  // src, src_lengths, index; decoder_only: ids = "bos src sep", lengths, prompt_lengths,
  // index), numericalised with `vocab` as the source side.
  Batch batch_of_texts(const std::vector<std::string>& texts, const Vocab& vocab) const override;

 protected:
  std::vector<std::string> splits_impl() const override;
  TokenCounts count_tokens_impl(const std::string& split) const override;
  void prepare_impl(const Vocab& vocab) override;
  std::int64_t num_batches_impl(const std::string& split, Mode mode) const override;
  Batch batch_impl(const std::string& split, Mode mode, std::int64_t index) const override;
  std::int64_t unknown_tokens_impl(const std::string& split) const override;

 private:
  struct Raw {  // a split's text: line i of each side is pair i
    std::vector<TextFile> files;
    std::vector<std::string_view> src, tgt;
    std::string src_name, tgt_name;  // for messages: "x.de", or "x.tsv (column 1)"
  };
  struct Pair {
    std::vector<std::int32_t> src, tgt;  // token ids, no specials
    std::int64_t line = 0;               // 0-based line in the split
  };
  const Raw& raw(const std::string& split) const;
  std::vector<std::vector<std::int32_t>> encode(const std::vector<std::string_view>& lines, const Tokenizer& tokenizer,
                                                const Vocab& vocab, const std::string& source,
                                                std::int64_t& unknown) const;
  Batch make_batch(const std::vector<const Pair*>& rows, const std::vector<std::string_view>* references) const;
  const std::vector<std::int64_t>& order(const std::string& split, Mode mode) const;
  std::int64_t batch_size(Mode mode) const;

  Options options_;
  int epoch_ = 0;
  const Vocab* src_vocab_ = nullptr;
  const Vocab* tgt_vocab_ = nullptr;
  Vocab src_copy_, tgt_copy_;  // what src_vocab_ / tgt_vocab_ point at
  std::map<std::string, std::vector<Pair>> pairs_;
  std::map<std::string, std::int64_t> unknown_;
  std::map<std::string, std::string> dropped_;
  mutable std::map<std::string, Raw> raw_;
  mutable std::map<std::tuple<std::string, bool, int>, std::vector<std::int64_t>> orders_;
  mutable std::mutex mutex_;
};

}  // namespace loom
