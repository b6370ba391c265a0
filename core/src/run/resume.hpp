#pragma once
// Continuing a run from its last checkpoint: the checkpoint is read and its pipeline compared
// with the one given now, key by key, before anything is written; the train stage it was
// saved in restores its TrainState, and from then on the run goes on as if it had never
// stopped.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "loom/checkpoint.hpp"
#include "loom/config.hpp"
#include "run/resolve.hpp"

namespace loom {

// Where a train stage stands: the "run" section of its checkpoints.
struct TrainState {
  int epoch = 1;            // the epoch in progress, or the next to start
  std::int64_t batch = 0;   // the next batch of that epoch; 0: the epoch has not started
  std::int64_t step = 0;    // optimizer steps taken in the stage (the learning-rate schedule's clock)
  std::optional<double> best;
  int best_epoch = 0, since_best = 0;
  bool stopped = false;     // stopped early: the stage is complete
  double loss_sum = 0.0, nll_sum = 0.0, norm_sum = 0.0, epoch_seconds = 0.0, train_seconds = 0.0;
  std::int64_t count = 0, tokens = 0;
  double lr = 0.0;          // the epoch learning rate (see LrSchedule)
  // The stage's training compute so far (CountsFlops: 3 forwards per step) and target tokens.
  double flops = 0.0;
  std::int64_t total_tokens = 0;
  // The ranks of the data-parallel run that saved the checkpoint (1: one process).
  int world_size = 1;

  void save(StateDict& run) const;
  // InputError naming the checkpoint for a position that cannot be.
  static TrainState load(const StateDict& run);
};

class Resume {
 public:
  // Reads `dir`/checkpoints/last.ckpt and compares its pipeline with `config_text` (the
  // pipeline now, as YAML, whose tree is `root`): InputError when there is no checkpoint or it
  // was saved in a stage that is not a train stage of this pipeline, ConfigError naming every
  // key that cannot change (the seed, a model, data, vocabulary or tokenizer parameter). Other
  // changes are said with the value that wins.
  static Resume open(const std::filesystem::path& dir, const Resolved& resolved, const ConfigNode& root,
                     std::uint64_t seed, const std::string& config_text,
                     const std::function<void(const std::string&)>& say);
  // The bytes of `dir`/checkpoints/last.ckpt (InputError when there is none): what rank 0 of a
  // data-parallel run reads and sends to the other ranks, which may not see its folder.
  static std::string read_bytes(const std::filesystem::path& dir);
  // open() from those bytes.
  static Resume from_bytes(const std::filesystem::path& dir, const std::string& bytes, const Resolved& resolved,
                           const ConfigNode& root, std::uint64_t seed, const std::string& config_text,
                           const std::function<void(const std::string&)>& say);

  const Checkpoint& checkpoint() const { return checkpoint_; }
  const std::filesystem::path& path() const { return path_; }
  // The index of the train stage the checkpoint was saved in.
  std::size_t stage() const { return stage_; }
  // The pipeline now sets a learning rate of its own, which wins over the checkpoint's.
  bool lr_overridden() const { return lr_overridden_; }

 private:
  Checkpoint checkpoint_;
  std::filesystem::path path_;
  std::size_t stage_ = 0;
  bool lr_overridden_ = false;
};

}  // namespace loom
