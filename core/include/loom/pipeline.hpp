#pragma once
// A pipeline: components built from plugins and the stages that use them, read from YAML.
//
// load() reads the file, applies --set overrides and ${var} substitution; check() verifies
// everything that can be verified without doing work (plugins exist, every parameter is known
// and well typed, references resolve, stages are known) and reports every problem at once;
// run() executes the stages and writes the run folder.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loom/config.hpp"
#include "loom/registry.hpp"

namespace loom {

struct RunOptions {
  std::optional<std::filesystem::path> out_dir;  // default runs/<name>
  std::optional<int> threads;                    // overrides the pipeline's `threads:`
  bool quiet = false;                            // no progress lines
  bool resume = false;                           // continue from <out_dir>/checkpoints/last.ckpt
  bool overwrite = false;                        // replace an earlier run in <out_dir>
  PathCheck paths = PathCheck::kMustExist;       // kUnchecked: files named in the pipeline may be gone
  std::vector<std::string> command;              // the command line, for manifest.json
};

class Pipeline {
 public:
  // Throws ConfigError (file:line:col) on malformed YAML, bad overrides or unknown vars.
  static Pipeline load(const std::filesystem::path& file, const std::vector<std::string>& overrides);

  const std::string& name() const { return name_; }
  std::uint64_t seed() const { return seed_; }
  std::optional<int> threads() const { return threads_; }
  const ConfigNode& config() const { return root_; }
  const std::filesystem::path& file() const { return file_; }

  // Every problem found, one line each (empty when the pipeline is sound). With
  // PathCheck::kUnchecked, files named by parameters need not exist (a trained run opened
  // for inference, whose training data may have moved).
  std::vector<std::string> check(const Registry& registry, PathCheck paths = PathCheck::kMustExist) const;
  // Builds every component as a run would (models over a stand-in vocabulary), so that the
  // checks plugin factories make are run as well; their errors, each once. For a pipeline
  // that check() passes. May write what a data plugin generates (the markov corpus).
  std::vector<std::string> check_components(const Registry& registry) const;
  // check(), throwing one ConfigError that lists every problem.
  void validate(const Registry& registry, PathCheck paths = PathCheck::kMustExist) const;
  // Runs the stages; returns the run folder. The folder is locked for the run (InputError
  // naming the holder when another process has it); one that holds an earlier run is a
  // ConfigError unless options.overwrite (which clears it) or options.resume. With
  // options.resume, continues the run in that folder from its last checkpoint (InputError when
  // there is none; ConfigError naming the keys when the pipeline changed in a way the
  // checkpoint cannot honour); a refused resume writes nothing. Throws Interrupted after
  // saving when SIGINT/SIGTERM arrived (see interrupt.hpp).
  std::filesystem::path run(const Registry& registry, const RunOptions& options) const;

 private:
  ConfigNode root_;
  std::filesystem::path file_;
  std::string name_;
  std::uint64_t seed_ = 1;
  std::optional<int> threads_;
};

// Applies one "a.b.c=value" override to a pipeline tree (stages are addressed by name:
// "stages.train.epochs=1"). Exposed for tests.
void apply_override(ConfigNode& root, const std::string& assignment);

}  // namespace loom
