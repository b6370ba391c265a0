// train: the Trainer's epoch loop (run/trainer.hpp). With on_interrupt: evaluate, a run
// stopped by SIGINT/SIGTERM evaluates the best parameters with the evaluate stages that follow
// before it exits.
#include "loom/interrupt.hpp"
#include "run/evaluator.hpp"
#include "run/lr_schedule.hpp"
#include "run/resolve.hpp"
#include "run/trainer.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

void train(StageContext& ctx, const Params& p) {
  try {
    Trainer(ctx, p).run();
  } catch (const Interrupted& e) {
    if (p.get_string("on_interrupt") != "evaluate") throw;
    // The best parameters are in place. The handler has reset itself, so a second signal
    // now ends the process at once.
    clear_interrupt();
    ctx.workspace.say(std::string(e.what()) + "; evaluating as on_interrupt: evaluate asks");
    const auto& stages = ctx.workspace.resolved().stages;
    for (std::size_t j = ctx.index + 1; j < stages.size(); ++j)
      if (stages[j].name == "evaluate") ctx.run_stage(j);
    throw;
  }
}

std::vector<ParamSpec> train_params() {
  std::vector<ParamSpec> params = {
      {"epochs", ParamType::kInt, "1", "passes over the training split", {}, 1},
      {"split", ParamType::kString, "train", "split to train on"},
      {"validate_on", ParamType::kString, "valid", "split evaluated after every epoch (empty: none)"},
      {"validate_every", ParamType::kInt, "1",
       "validate (select, anneal, count patience) every N epochs and after the last; for metrics that decode, such as bleu", {}, 1},
      {"select", ParamType::kString, "", "metric id (or 'loss') that picks the best epoch; default: the first metric"}};
  for (auto& s : lr_schedule_params()) params.push_back(std::move(s));
  std::vector<ParamSpec> rest = {
      {"early_stop.patience", ParamType::kInt, "0", "stop after this many epochs without improvement (0: never)", {}, 0},
      {"log_interval", ParamType::kInt, "200", "batches between progress lines when output is not a terminal", {}, 1},
      {"max_flops", ParamType::kFloat, "0",
       "stop training once this many training FLOPs (3 forwards per step, as the model counts them) are spent, then validate and save (0: no budget)", {}, 0.0},
      {"validate_at_flops", ParamType::kStringList, "",
       "also measure the validation loss when training FLOPs first reach each of these (e.g. [8e10, 1.6e11]): points of the loss-against-compute curve for loom scaling; loss only, no selection"},
      {"max_batches_per_epoch", ParamType::kInt, "0", "stop each epoch after this many batches (0: all), for smoke runs", {}, 0},
      {"checkpoint.every", ParamType::kInt, "0", "also save checkpoints/last.ckpt every this many batches (0: at the end of each epoch only)", {}, 0},
      {"allreduce_bucket_mb", ParamType::kFloat, "0",
       "with several ranks, sum the gradients in buckets of this many MB that start while the backward pass goes on, for networks that move data while the CPU computes (0: one all-reduce after the backward, the faster on one machine)", {}, 0.0},
      {"check_replicas_every", ParamType::kInt, "100",
       "with several ranks (mpirun), compare a checksum of the ranks' parameters every N steps and stop if they differ (0: never)", {}, 0},
      {"checkpoint.keep", ParamType::kInt, "0", "keep the checkpoints of the last N epochs as epoch-<N>.ckpt besides last and best", {}, 0},
      {"on_interrupt", ParamType::kString, "stop", "on SIGINT/SIGTERM, after saving: stop, or evaluate the best parameters with the pipeline's evaluate stages", {"stop", "evaluate"}},
      component_param("model", Kind::kModel, "model to train"),
      component_param("data", Kind::kData, "data loader"),
      component_param("optimizer", Kind::kOptimizer, "optimizer"),
      {"metrics", ParamType::kStringList, "", "metric ids to compute (default: every metric)"},
      {"freeze", ParamType::kStringList, "",
       "globs ('*', '?') of parameter names to keep as they are: no gradient, no update, no weight decay"},
      {"trainable", ParamType::kStringList, "",
       "globs of the only parameter names to train (the others are frozen); not with freeze"},
      beam_param()};
  for (auto& s : rest) params.push_back(std::move(s));
  return params;
}

}  // namespace

Stage train_stage() {
  return {"train", "train a model: epochs of optimizer steps, validation, checkpoints, early stopping",
          train_params(), false, train};
}

}  // namespace loom
