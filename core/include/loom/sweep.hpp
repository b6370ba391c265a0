#pragma once
// Sweeps: one pipeline run once per point of a grid of values for dotted keys.
//
//   sweep:
//     grid: { components.model.nhid: [32, 64], components.model.nlayers: [1, 2] }
//     parallel: 2          # points run at once; threads are shared out between them
//     primary: test.ppl    # the column the report colours and ranks by (default: the
//                          # first metric of the first evaluate stage)
//
// The grid can also be given as `loom sweep FILE --grid key=v1,v2 ...`. Each point is a
// normal run folder inside the sweep folder, named after its values ("nhid=32,nlayers=1"),
// run by a child `loom run` process (so a crash or a divergence in one point leaves the
// others alone). The sweep folder gets sweep.json (every point's values, status and
// results), results.csv, results.md and report.html. Running the sweep again skips finished
// points and resumes interrupted ones from their checkpoints.
//
// A grid entry whose value is a mapping instead of a list is an axis of named variants, each
// a mapping of dotted keys to values (whole blocks allowed), for comparing things that differ
// in more than one key:
//
//     grid:
//       model:
//         lstm:        { components.model: { plugin: rnn_lm, nhid: 200 }, components.optimizer.lr: 20 }
//         transformer: { components.model: { plugin: transformer_lm, d_model: 200 }, components.optimizer.lr: 5 }
//       components.data.bptt: [10, 20, 30]
//
// Its points are named "model=lstm,bptt=10". A point's variants apply first, as if written
// in the pipeline, then --set (which can adjust a variant's block), then the plain axes'
// values. `--grid model=lstm` keeps only the variants it names.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "loom/config.hpp"
#include "loom/json.hpp"
#include "loom/registry.hpp"

namespace loom {

struct SweepOptions {
  std::filesystem::path pipeline;           // the pipeline file
  std::vector<std::string> overrides;       // --set for every point
  std::vector<std::string> grid;            // --grid key=v1,v2 (added to / replacing sweep.grid)
  std::optional<std::filesystem::path> out_dir;  // default runs/<name>
  std::optional<int> parallel;              // overrides sweep.parallel
  int threads = 1;                          // in all, shared out between parallel points
  std::filesystem::path loom_executable;    // the command that runs a point
  std::vector<std::string> plugin_paths;    // passed on to every point
  bool quiet = false;
};

struct SweepAxis {
  std::string key;                  // "components.model.nhid", or a variant axis's name ("model")
  std::string label;                // "nhid": the shortest unambiguous suffix
  std::vector<std::string> values;  // as written; a variant axis's variant names
  // A variant axis only: per value, the key=value assignments (as --set takes them) that
  // the variant stands for. Empty for a plain axis, whose value is set at `key`.
  std::vector<std::vector<std::string>> assignments;
  bool is_variants() const { return !assignments.empty(); }
};

// The grid of a pipeline with its --grid additions, checked: every key must be a key
// --set accepts and every point must validate (ConfigError listing every problem).
std::vector<SweepAxis> sweep_grid(const ConfigNode& root, const std::vector<std::string>& grid_args);

// Runs (or continues) the sweep; returns the sweep folder. Throws Interrupted after the
// running points have saved when SIGINT/SIGTERM arrives.
std::filesystem::path run_sweep(const Registry& registry, const SweepOptions& options);

// The flat results of a finished run folder, from its summary.json: "test.ppl",
// "test.loss", "train.best_ppl", "train.best_epoch", "train.seconds", ...
Json run_results(const std::filesystem::path& run_dir);

}  // namespace loom
