// tokenizers/word: splits a line on whitespace; optionally appends an end-of-line token, so a
// language model sees sentence boundaries ("<eos>" in PyTorch's word_language_model).
#include <cctype>

#include "loom/plugin.hpp"

namespace {

class WordTokenizer : public loom::Tokenizer {
 public:
  WordTokenizer(std::string eos, bool lowercase) : eos_(std::move(eos)), lowercase_(lowercase) {}

 protected:
  void tokenize_impl(std::string_view line, std::vector<std::string>& out) const override {
    std::size_t i = 0, n = line.size();
    while (i < n) {
      while (i < n && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      std::size_t start = i;
      while (i < n && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > start) {
        out.emplace_back(line.substr(start, i - start));
        if (lowercase_)
          for (char& c : out.back()) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    if (!eos_.empty()) out.push_back(eos_);
  }

  // Drops the end-of-line token that tokenize appended, the last one. An eos token anywhere
  // else came from the text itself (a line containing "<eos>", or "<EOS>" when lowercasing)
  // and is kept, so that detokenize(tokenize(line)) tokenizes back to the same tokens.
  std::string detokenize_impl(const std::vector<std::string>& tokens) const override {
    std::size_t n = tokens.size();
    if (n > 0 && !eos_.empty() && tokens.back() == eos_) --n;
    std::string text;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) text += ' ';
      text += tokens[i];
    }
    return text;
  }

 private:
  std::string eos_;
  bool lowercase_;
};

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kTokenizer,
      "word",
      "1.0",
      "splits on whitespace; optional end-of-line token",
      {{"eos", loom::ParamType::kString, "", "token appended to every line (empty: none), e.g. <eos>"},
       {"lowercase", loom::ParamType::kBool, "false", "lowercase ASCII letters"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        return std::make_unique<WordTokenizer>(ctx.params().get_string("eos"),
                                               ctx.params().get_bool("lowercase"));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
