// tokenizers/sentencepiece: subword pieces from SentencePiece (Debian's libsentencepiece-dev),
// a BPE or unigram model learned from the training split by build_vocab (LearnsFromText), or
// read from a model file (`model`). Pieces carry SentencePiece's word-boundary mark U+2581
// ("▁hello", "▁wor", "ld"), so detokenize(tokenize(line)) is the line as the normalisation
// leaves it: `identity` keeps every character and only turns runs of spaces into one and drops
// leading and trailing ones; `nmt_nfkc` (SentencePiece's default) also applies NFKC.
// Learning runs on one thread, so the same text gives the same model on any machine.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/plugin.hpp"
#include "loom/strings.hpp"

namespace {

struct Options {
  std::string name;  // the component, for messages
  std::string model_type = "unigram";
  std::int64_t vocab_size = 8000;
  double character_coverage = 1.0;
  std::string normalization = "identity";
  std::int64_t max_sentences = 0;
  std::string eos;
};

// Hands loom's lines to SentencePiece's trainer without copying the corpus into a file.
class Lines : public sentencepiece::SentenceIterator {
 public:
  explicit Lines(const std::vector<std::string_view>& lines) : lines_(lines) { load(); }
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (i_ < lines_.size()) value_.assign(lines_[i_]);
  }
  const std::vector<std::string_view>& lines_;
  std::size_t i_ = 0;
  std::string value_;
};

class SentencePieceTokenizer : public loom::Tokenizer, public loom::LearnsFromText {
 public:
  explicit SentencePieceTokenizer(Options o) : o_(std::move(o)) {}

  // LearnsFromText
  bool learned() const override { return processor_ != nullptr; }

  std::string learn(const std::vector<std::string_view>& lines) override {
    std::size_t nonempty = 0;
    for (auto l : lines) nonempty += l.find_first_not_of(" \t\r") != std::string_view::npos;
    if (nonempty == 0) throw loom::InputError(o_.name + ": no text to learn subwords from (every line is empty)");
    const std::unordered_map<std::string, std::string> args = {
        {"model_type", o_.model_type},
        {"vocab_size", std::to_string(o_.vocab_size)},
        {"character_coverage", loom::format_number("%.6g", o_.character_coverage)},
        {"normalization_rule_name", o_.normalization},
        {"input_sentence_size", std::to_string(o_.max_sentences)},
        {"shuffle_input_sentence", "false"},
        // loom's vocabulary builder adds pad/unk/bos/eos; SentencePiece keeps only its unk.
        {"unk_id", "0"},
        {"bos_id", "-1"},
        {"eos_id", "-1"},
        {"pad_id", "-1"},
        // Fewer pieces than asked when the text has no more (a small corpus), not an error.
        {"hard_vocab_limit", "false"},
        {"num_threads", "1"},
        {"minloglevel", "2"},
    };
    Lines it(lines);
    std::string bytes;
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &bytes);
    if (!status.ok()) throw loom::InputError(o_.name + ": SentencePiece could not learn a model: " + status.ToString());
    load_learned(bytes, o_.name + " (just learned)");
    return loom::with_commas(processor_->GetPieceSize()) + " pieces (" + o_.model_type + ") from " +
           loom::with_commas(static_cast<std::int64_t>(nonempty)) + " lines";
  }

  std::string save_learned() const override {
    LOOM_ASSERT(processor_ != nullptr, o_.name + ": nothing learned to save");
    return processor_->serialized_model_proto();
  }

  void load_learned(const std::string& bytes, const std::string& origin) override {
    auto p = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = p->LoadFromSerializedProto(bytes);
    if (!status.ok() || p->GetPieceSize() == 0)
      throw loom::InputError(origin + ": not a SentencePiece model (" + (status.ok() ? "no pieces" : status.ToString()) + ")");
    processor_ = std::move(p);
  }

 protected:
  void tokenize_impl(std::string_view line, std::vector<std::string>& out) const override {
    if (!processor_)
      throw loom::ConfigError(o_.name + ": the SentencePiece model is not learned yet (a build_vocab stage learns it, "
                                        "or give `model: FILE`)");
    std::vector<std::string> pieces;
    const auto status = processor_->Encode(line, &pieces);
    if (!status.ok()) throw loom::InputError(o_.name + ": cannot encode a line: " + status.ToString());
    for (auto& piece : pieces) out.push_back(std::move(piece));
    if (!o_.eos.empty()) out.push_back(o_.eos);
  }

  std::string detokenize_impl(const std::vector<std::string>& tokens) const override {
    if (!processor_) throw loom::ConfigError(o_.name + ": the SentencePiece model is not learned yet");
    std::size_t n = tokens.size();
    if (n > 0 && !o_.eos.empty() && tokens.back() == o_.eos) --n;
    const std::vector<std::string> pieces(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
    std::string text;
    const auto status = processor_->Decode(pieces, &text);
    if (!status.ok()) throw loom::InputError(o_.name + ": cannot decode pieces: " + status.ToString());
    return text;
  }

 private:
  Options o_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

const loom::PluginDescriptor& descriptor() {
  using T = loom::ParamType;
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kTokenizer,
      "sentencepiece",
      "1.0",
      "SentencePiece subwords: a BPE or unigram model learned from the training split by build_vocab, or read from a file",
      {{"model_type", T::kString, "unigram", "the subword model learned", {"unigram", "bpe"}},
       {"vocab_size", T::kInt, "8000", "pieces to learn (fewer when the text has no more)", {}, 2},
       {"character_coverage", T::kFloat, "1.0", "share of the characters the pieces cover; the rarest others become unk", {}, 0.5},
       {"normalization", T::kString, "identity", "text normalisation before learning and encoding",
        {"identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf"}},
       {"max_sentences", T::kInt, "0", "learn from the first N lines of the split (0: all)", {}, 0},
       {"model", T::kPath, "", "a SentencePiece .model file to use instead of learning one"},
       {"eos", T::kString, "", "token appended to every line (empty: none)"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        Options o;
        o.name = "tokenizer '" + p.component_id() + "'";
        o.model_type = p.get_string("model_type");
        o.vocab_size = p.get_int("vocab_size");
        o.character_coverage = p.get_float("character_coverage");
        if (o.character_coverage > 1.0) p.fail("character_coverage", "must be at most 1");
        o.normalization = p.get_string("normalization");
        o.max_sentences = p.get_int("max_sentences");
        o.eos = p.get_string("eos");
        if (o.eos.find_first_of(" \t\r\n") != std::string::npos) p.fail("eos", "must be a token without whitespace");
        auto t = std::make_unique<SentencePieceTokenizer>(o);
        const std::string model = p.get_string("model");
        // A pipeline checked with its paths has the file; a run opened for inference may not
        // (its checkpoint has the model).
        if (!model.empty() && std::filesystem::exists(model)) t->load_learned(loom::read_file(model), model);
        return t;
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
