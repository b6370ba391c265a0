#pragma once
// A train stage: the epoch loop, one optimizer step per batch, validation after each epoch,
// the checkpoint policy, early stopping and interrupts.
//
// step(): forward, backward, gradient reduction (the one place where a data-parallel run sums
// its gradients across processes; nothing to do in one process), then the optimizer's update
// with the learning rate of the step (LrSchedule), which also clips.
//
// Checkpoints: checkpoints/last.ckpt at the end of every epoch's batches (before validation,
// so an interrupt during it loses none of the epoch), after validation, every
// checkpoint.every batches and on SIGINT/SIGTERM; best.ckpt when the selected metric
// improves; epoch-<E>.ckpt for the last checkpoint.keep epochs. The best epoch's parameters
// are restored when the stage ends.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>

#include "loom/graph.hpp"
#include "loom/plugin.hpp"
#include "run/evaluator.hpp"
#include "run/lr_schedule.hpp"
#include "run/resume.hpp"
#include "stages/stage.hpp"

namespace loom {

class Trainer {
 public:
  // Resolves the stage's components and options (ConfigError naming the option that cannot
  // work: a split the data lacks, say).
  Trainer(StageContext& ctx, const Params& stage);

  // Trains until the stage's epochs are done or it stops early. A resumed run continues from
  // the checkpoint's TrainState (and commits the resume: from here on the folder is written).
  // Throws DivergedError on a non-finite loss, gradient norm or metric, Interrupted after
  // saving when SIGINT/SIGTERM arrived.
  void run();

 private:
  // One optimizer step from the gradients (summed over the ranks already) with the step's
  // learning rate. Returns the gradient norm before clipping.
  double step();
  // DivergedError when the ranks' parameters no longer agree (their checksums differ).
  void check_replicas() const;
  void restore();
  // Applies the stage's freeze / trainable globs to the model's parameters and says what
  // trains; ConfigError naming a glob that matches nothing.
  void choose_trainable();
  // validate_at_flops: the validation loss now, as a metrics.jsonl line with the budgets
  // crossed (`at_flops`); the model's carried state is kept for the training that follows.
  void validate_at_budget(const Evaluator& evaluator, int epoch, const std::vector<double>& crossed);
  // `line` with the stage's compute so far (train_tokens, train_flops), so that curves can be
  // drawn against FLOPs.
  Json with_compute(Json line) const;
  Checkpoint make_checkpoint() const;
  void save(std::initializer_list<std::filesystem::path> paths);
  std::string where_diverged(int epoch, std::int64_t i, std::int64_t total) const;
  void check_finite(const EvalResult& r, const std::string& split, int epoch) const;
  std::int64_t batches_per_epoch() const;
  // The stage's training split; ConfigError naming `split` when the data lacks it.
  static std::string checked_split(const DataLoader& data, const Params& p);

  StageContext& ctx_;
  const Params& p_;
  DataLoader& data_;
  Model& model_;
  Optimizer& optimizer_;
  MetricList metrics_;
  Stateful* stateful_;
  std::string split_, valid_, select_;
  bool higher_better_ = false;
  int epochs_;
  int validate_every_;
  std::int64_t max_batches_;
  std::int64_t bucket_bytes_;
  std::int64_t check_replicas_every_;
  const CountsFlops* flops_;  // the model, when it counts its FLOPs
  double max_flops_;
  std::vector<double> validate_at_;  // validate_at_flops, ascending
  LrSchedule schedule_;
  TrainState st_;
  // Data parallel: time in the gradient all-reduce and the steps it served, in this process.
  double allreduce_seconds_ = 0.0, backward_seconds_ = 0.0;
  std::int64_t allreduce_steps_ = 0;
  std::string last_saved_;  // "epoch E, batch B" of the last checkpoint, or "" before the first
  std::filesystem::path last_path_, best_path_;
};

}  // namespace loom
