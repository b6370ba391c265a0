// vocab/fixed: the vocabulary of a file, as a run folder keeps it (vocab.txt), whatever the
// data's counts. A model that starts from a trained run (init_from) reads its tokens with the
// ids that run's embeddings were trained on; tokens the run never kept map to its unk.
#include <filesystem>

#include "loom/errors.hpp"
#include "loom/plugin.hpp"

namespace {

class FixedVocab : public loom::VocabBuilder {
 public:
  explicit FixedVocab(loom::Vocab vocab) : vocab_(std::move(vocab)) {}

 protected:
  loom::Vocab build_impl(const loom::TokenCounts&) const override { return vocab_; }

 private:
  loom::Vocab vocab_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kVocab,
      "fixed",
      "1.0",
      "the vocabulary of a file (a run folder's vocab.txt), ids and special tokens as saved",
      {{"file", loom::ParamType::kPath, "", "vocabulary file (#loom-vocab format), e.g. runs/pretrain/vocab.txt", {}}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        const std::string file = p.get_string("file");
        if (file.empty()) p.fail("file", "is required: the vocabulary file to use (a run folder's vocab.txt)");
        if (!std::filesystem::is_regular_file(file)) p.fail("file", "'" + file + "' is not a file");
        return std::make_unique<FixedVocab>(loom::Vocab::load(file));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
