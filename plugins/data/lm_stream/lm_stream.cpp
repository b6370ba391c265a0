// data/lm_stream: language-modelling batches from plain text files, one per split (see
// loom/lm_stream.hpp for the batching).
#include <cmath>
#include <cstdlib>

#include "loom/lm_stream.hpp"

#include "loom/plugin.hpp"

namespace {

const loom::PluginDescriptor& descriptor() {
  static const loom::PluginDescriptor d{
      loom::kAbiVersion,
      loom::Kind::kData,
      "lm_stream",
      "1.0",
      "token stream per split, batchified into columns and read in bptt windows",
      {{"tokenizer", loom::ParamType::kComponent, "", "tokenizer of the text", {"tokenizers"}},
       {"train", loom::ParamType::kPath, std::nullopt, "training text file"},
       {"valid", loom::ParamType::kPath, "", "validation text file"},
       {"test", loom::ParamType::kPath, "", "test text file"},
       {"batch_size", loom::ParamType::kInt, "20", "columns of a training batch", {}, 1},
       {"eval_batch_size", loom::ParamType::kInt, "10", "columns of an evaluation batch", {}, 1},
       {"bptt", loom::ParamType::kInt, "35", "time steps per batch (truncated backpropagation)", {}, 1},
       {"shares", loom::ParamType::kStringList, "",
        "train, valid, test shares of the train file's lines, in order (e.g. [0.9, 0.05, 0.05]; needs no valid or test file)"}},
      [](loom::BuildContext& ctx) -> std::unique_ptr<loom::Component> {
        const auto& p = ctx.params();
        loom::LmStreamLoader::Options o;
        o.tokenizer = &ctx.component<loom::Tokenizer>("tokenizer");
        for (const char* split : {"train", "valid", "test"})
          if (p.has(split) && !p.get_string(split).empty()) o.files[split] = p.get_path(split);
        o.batch_size = p.get_int("batch_size");
        o.eval_batch_size = p.get_int("eval_batch_size");
        o.bptt = p.get_int("bptt");
        const auto shares = p.get_strings("shares");
        if (!shares.empty()) {
          if (o.files.size() != 1) p.fail("shares", "cuts the train file into splits: give no valid or test file with it");
          double total = 0.0;
          for (const auto& v : shares) {
            char* end = nullptr;
            const double x = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || !(x >= 0.0 && x <= 1.0))
              p.fail("shares", "'" + v + "' is not a share between 0 and 1");
            o.shares.push_back(x);
            total += x;
          }
          if (o.shares.size() != 3 || std::fabs(total - 1.0) > 1e-6 || o.shares[0] <= 0.0)
            p.fail("shares", "needs three shares (train > 0, valid, test) that add up to 1");
        }
        return std::make_unique<loom::LmStreamLoader>(std::move(o));
      }};
  return d;
}

}  // namespace

LOOM_PLUGIN(descriptor)
