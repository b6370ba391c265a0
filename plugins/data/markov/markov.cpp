// data/markov: a language-modelling corpus generated from a sparse Markov chain whose true
// perplexity is known, batched like lm_stream. The corpus is written to `dir` when it is not
// there yet (or was made with other settings); the chain's perplexity on the test split is
// reported as "optimum_ppl" beside the model's.
#include <fstream>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/json.hpp"
#include "loom/lm_stream.hpp"
#include "loom/plugin.hpp"
#include "markov/markov_corpus.hpp"

namespace {

class MarkovLoader : public loom::LmStreamLoader, public loom::HasReferenceScores {
 public:
  MarkovLoader(Options o, double optimum) : LmStreamLoader(std::move(o)), optimum_(optimum) {}
  std::map<std::string, double> reference_scores() const override { return {{"optimum_ppl", optimum_}}; }

 private:
  double optimum_;
};

// The corpus in `dir` if it was generated with `spec`, else nothing.
std::optional<double> existing_optimum(const std::filesystem::path& dir, const loom::data::MarkovSpec& spec) {
  std::ifstream in(dir / "optimum.json");
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  loom::Json j;
  try {
    j = loom::Json::parse(buffer.str(), (dir / "optimum.json").string());
  } catch (const loom::InputError&) {
    return std::nullopt;
  }
  auto number = [&](const char* key) { const loom::Json* v = j.find(key); return v && v->is_number() ? v->number() : -1.0; };
  // Every setting that shapes the text must match, or the corpus is made again.
  if (number("seed") != static_cast<double>(spec.seed) || number("vocab_size") != spec.vocab_size ||
      number("branching") != spec.branching || number("eos_probability") != spec.eos_probability ||
      number("requested_train_tokens") != static_cast<double>(spec.train_tokens) ||
      number("requested_valid_tokens") != static_cast<double>(spec.valid_tokens) ||
      number("requested_test_tokens") != static_cast<double>(spec.test_tokens))
    return std::nullopt;
  double ppl = number("perplexity");
  return ppl > 0 ? std::optional<double>(ppl) : std::nullopt;
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kData,
      "markov",
      "1.0",
      "generated Markov-chain corpus with a known optimal perplexity, batched like lm_stream",
      {{"tokenizer", loom::ParamType::kComponent, "", "tokenizer (use one that appends <eos>)", {"tokenizers"}},
       {"dir", loom::ParamType::kString, "runs/data/markov", "folder of the corpus (generated if missing)"},
       {"seed", loom::ParamType::kInt, "1", "seed of the chain and the text", {}, 0},
       {"vocab_size", loom::ParamType::kInt, "300", "words in the chain", {}, 2},
       {"branching", loom::ParamType::kInt, "6", "successors per word", {}, 1},
       {"train_tokens", loom::ParamType::kInt, "200000", "approximate training tokens", {}, 100},
       {"valid_tokens", loom::ParamType::kInt, "20000", "approximate validation tokens", {}, 100},
       {"test_tokens", loom::ParamType::kInt, "20000", "approximate test tokens", {}, 100},
       {"batch_size", loom::ParamType::kInt, "20", "columns of a training batch", {}, 1},
       {"eval_batch_size", loom::ParamType::kInt, "10", "columns of an evaluation batch", {}, 1},
       {"bptt", loom::ParamType::kInt, "35", "time steps per batch", {}, 1}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        loom::data::MarkovSpec spec;
        spec.seed = static_cast<std::uint64_t>(p.get_int("seed"));
        spec.vocab_size = static_cast<int>(p.get_int("vocab_size"));
        spec.branching = static_cast<int>(p.get_int("branching"));
        spec.train_tokens = p.get_int("train_tokens");
        spec.valid_tokens = p.get_int("valid_tokens");
        spec.test_tokens = p.get_int("test_tokens");
        if (spec.branching >= spec.vocab_size)
          p.fail("branching", "must be below vocab_size (" + std::to_string(spec.vocab_size) + ")");
        std::filesystem::path dir = p.get_string("dir");
        std::optional<double> optimum = existing_optimum(dir, spec);
        if (!optimum) {
          try {
            optimum = loom::data::write_markov_corpus(spec, dir).test_perplexity;
          } catch (const std::invalid_argument& e) {
            p.fail("dir", e.what());
          } catch (const std::exception& e) {
            throw loom::RuntimeError(std::string("markov corpus: ") + e.what());
          }
        }
        loom::LmStreamLoader::Options o;
        o.tokenizer = &ctx.component<loom::Tokenizer>("tokenizer");
        for (const char* split : {"train", "valid", "test"}) o.files[split] = dir / (std::string(split) + ".txt");
        o.batch_size = p.get_int("batch_size");
        o.eval_batch_size = p.get_int("eval_batch_size");
        o.bptt = p.get_int("bptt");
        return std::make_unique<MarkovLoader>(std::move(o), *optimum);
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
