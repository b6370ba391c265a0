// data/pig_latin: English -> Pig Latin sentence pairs from the embedded generator
// (data/pig_latin/pig_latin.hpp: test words never occur in training), written to `dir` when
// it does not hold them yet (or holds another spec's), then read and batched as data/parallel
// reads TSV files (loom/parallel_corpus.hpp).
#include <fstream>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/parallel_corpus.hpp"
#include "loom/plugin.hpp"
#include "pig_latin/pig_latin.hpp"

namespace {

// Whether `dir` holds the corpus of `spec` (its spec.json says so).
bool up_to_date(const std::filesystem::path& dir, const loom::data::PigLatinSpec& spec) {
  std::ifstream in(dir / "spec.json", std::ios::binary);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  if (text.str() != loom::data::pig_latin_spec_json(spec)) return false;
  for (const char* split : {"train.tsv", "valid.tsv", "test.tsv"})
    if (!std::filesystem::is_regular_file(dir / split)) return false;
  return true;
}

// Its own parameters, then those every sentence-pair loader has.
std::vector<loom::ParamSpec> params() {
  std::vector<loom::ParamSpec> specs = {
      {"dir", loom::ParamType::kString, "runs/data/pig_latin", "folder of the pairs (generated if missing or made otherwise)"},
      {"size", loom::ParamType::kString, "small", "small: 2000 / 200 / 200 sentences of 1-4 words; large: 20000 / 1000 / 1000 of 1-8",
       {"small", "large"}},
      {"seed", loom::ParamType::kInt, "1", "seed of the words, their split and the sentences", {}, 0},
      {"train_pairs", loom::ParamType::kInt, "0", "training sentences (0: the size's)", {}, 0},
      {"valid_pairs", loom::ParamType::kInt, "0", "validation sentences (0: the size's)", {}, 0},
      {"test_pairs", loom::ParamType::kInt, "0", "test sentences (0: the size's)", {}, 0},
      {"min_words", loom::ParamType::kInt, "0", "fewest words in a sentence (0: the size's)", {}, 0},
      {"max_words", loom::ParamType::kInt, "0", "most words in a sentence (0: the size's)", {}, 0},
      {"words_file", loom::ParamType::kString, "", "take the word types of this text file instead of generated ones"}};
  for (auto& s : loom::ParallelCorpusLoader::shared_params()) specs.push_back(std::move(s));
  return specs;
}

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kData,
      "pig_latin",
      "1.0",
      "generated English -> Pig Latin pairs (unseen test words), batched like parallel",
      params(),
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        loom::data::PigLatinSpec spec = loom::data::pig_latin_spec(p.get_string("size"));
        spec.seed = static_cast<std::uint64_t>(p.get_int("seed"));
        if (p.get_int("train_pairs") > 0) spec.train = p.get_int("train_pairs");
        if (p.get_int("valid_pairs") > 0) spec.valid = p.get_int("valid_pairs");
        if (p.get_int("test_pairs") > 0) spec.test = p.get_int("test_pairs");
        if (p.get_int("min_words") > 0) spec.min_words = static_cast<int>(p.get_int("min_words"));
        if (p.get_int("max_words") > 0) spec.max_words = static_cast<int>(p.get_int("max_words"));
        if (spec.min_words > spec.max_words)
          p.fail("max_words", "is below min_words (" + std::to_string(spec.min_words) + ")");
        spec.words_file = p.get_string("words_file");
        if (!spec.words_file.empty() && !std::filesystem::is_regular_file(spec.words_file))
          p.fail("words_file", "no such file '" + spec.words_file.string() + "'");
        const std::filesystem::path dir = p.get_string("dir");
        if (!up_to_date(dir, spec)) {
          try {
            loom::data::write_pig_latin(spec, dir);
          } catch (const std::invalid_argument& e) {
            p.fail(spec.words_file.empty() ? "dir" : "words_file", e.what());
          } catch (const std::exception& e) {
            throw loom::RuntimeError(std::string("pig_latin: ") + e.what());
          }
        }
        loom::ParallelCorpusLoader::Options o;
        for (const char* split : {"train", "valid", "test"}) o.splits[split].tsv = dir / (std::string(split) + ".tsv");
        loom::ParallelCorpusLoader::read_shared_params(ctx, o);
        return std::make_unique<loom::ParallelCorpusLoader>(std::move(o));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
