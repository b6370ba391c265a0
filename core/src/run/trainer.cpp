#include "run/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/interrupt.hpp"
#include "loom/parameters.hpp"
#include "loom/random.hpp"
#include "loom/strings.hpp"
#include "loom/tensor.hpp"
#include "run/replicas.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"

namespace loom {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int total = static_cast<int>(s + 0.5);
  char buf[32];
  if (total >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", total / 3600, total / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", total / 60, total % 60);
  return buf;
}

// A live progress line on a terminal; a line per log interval otherwise.
class Progress {
 public:
  Progress(bool quiet, std::int64_t log_interval)
      : quiet_(quiet), tty_(::isatty(STDOUT_FILENO) == 1), interval_(log_interval) {}

  // `loss`: the mean training loss so far; `nll`: the mean NLL, which the perplexity shows (the
  // two differ under label smoothing).
  void update(int epoch, std::int64_t batch, std::int64_t total, double lr, double loss, double nll,
              double tokens_per_s, double eta_s, bool show_ppl) {
    if (quiet_) return;
    bool last = batch == total;
    if (tty_) {
      if (!last && seconds_since(last_print_) < 0.2) return;
    } else if (batch % interval_ != 0 || last) {
      return;
    }
    last_print_ = Clock::now();
    std::string line = "epoch " + std::to_string(epoch) + " | batch " + std::to_string(batch) + "/" +
                       std::to_string(total) + " | lr " + format_number("%.4g", lr) + " | loss " +
                       format_number("%.4f", loss) + (show_ppl ? " | ppl " + format_number("%.2f", std::exp(nll)) : "") +
                       " | " + format_number("%.0f", tokens_per_s) + " tok/s | eta " + duration_text(eta_s);
    if (tty_) std::printf("\r\033[K%s", line.c_str());
    else std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    dirty_ = tty_;
  }

  // Ends a live line before other output.
  void finish() {
    if (dirty_) std::printf("\r\033[K");
    dirty_ = false;
  }

 private:
  bool quiet_, tty_;
  std::int64_t interval_;
  bool dirty_ = false;
  Clock::time_point last_print_{};
};

}  // namespace

Trainer::Trainer(StageContext& ctx, const Params& p)
    : ctx_(ctx),
      p_(p),
      data_([&]() -> DataLoader& {
        const std::string id = ctx.workspace.resolve(Kind::kData, p, "data");
        ctx.workspace.require_prepared(id, p);
        return dynamic_cast<DataLoader&>(ctx.workspace.get(id));
      }()),
      model_(ctx.workspace.get_as<Model>(Kind::kModel, p, "model")),
      optimizer_(ctx.workspace.get_as<Optimizer>(Kind::kOptimizer, p, "optimizer")),
      metrics_(ctx.workspace.metrics(p)),
      stateful_(dynamic_cast<Stateful*>(&model_)),
      split_(checked_split(data_, p)),
      valid_(p.get_string("validate_on")),
      select_(p.get_string("select")),
      epochs_(static_cast<int>(p.get_int("epochs"))),
      validate_every_(static_cast<int>(p.get_int("validate_every"))),
      max_batches_(p.get_int("max_batches_per_epoch")),
      bucket_bytes_(static_cast<std::int64_t>(p.get_float("allreduce_bucket_mb") * 1e6)),
      check_replicas_every_(p.get_int("check_replicas_every")),
      flops_(dynamic_cast<const CountsFlops*>(&model_)),
      max_flops_(p.get_float("max_flops")),
      schedule_(LrScheduleOptions::from(p), optimizer_.learning_rate(),
                static_cast<std::int64_t>(epochs_) * batches_per_epoch()),
      last_path_(ctx.folder.checkpoints() / "last.ckpt"),
      best_path_(ctx.folder.checkpoints() / "best.ckpt") {
  if (!valid_.empty() && !data_.has_split(valid_))
    p.fail("validate_on", "the data has no split '" + valid_ + "' (it has: " + join(data_.splits()) + ")");
  for (const auto& text : p.get_strings("validate_at_flops")) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !(v > 0)) p.fail("validate_at_flops", "'" + text + "' is not a positive number");
    validate_at_.push_back(v);
  }
  std::sort(validate_at_.begin(), validate_at_.end());
  if (!validate_at_.empty() && (flops_ == nullptr || valid_.empty()))
    p.fail("validate_at_flops", flops_ == nullptr ? "model '" + p.get_string("model") + "' does not count its FLOPs"
                                                  : "needs a validation split (validate_on)");
  if (max_flops_ > 0 && flops_ == nullptr)
    p.fail("max_flops", "model '" + p.get_string("model") + "' does not count its FLOPs, so a FLOP budget cannot be kept");
  if (select_.empty()) select_ = metrics_.empty() ? "loss" : metrics_[0].first;
  if (select_ != "loss") {
    auto it = std::find_if(metrics_.begin(), metrics_.end(), [&](auto& m) { return m.first == select_; });
    if (it == metrics_.end()) p.fail("select", "'" + select_ + "' is not one of the computed metrics or 'loss'");
    higher_better_ = it->second->higher_is_better();
  }
  replicas::require_summable(metrics_, "train");
  st_.lr = schedule_.epoch_lr();
  choose_trainable();
}

void Trainer::validate_at_budget(const Evaluator& evaluator, int epoch, const std::vector<double>& crossed) {
  StateDict carried;
  if (stateful_) stateful_->save_state(carried);
  MetricList none;
  EvalResult r = evaluator.evaluate(model_, data_, valid_, none);
  if (stateful_) {
    stateful_->reset_state();
    stateful_->load_state(carried);
  }
  Json line = with_compute(metrics_line(epoch, valid_, r, schedule_.lr_at(std::max<std::int64_t>(st_.step - 1, 0)), std::nullopt));
  line["batch"] = st_.batch;
  Json at = Json::array();
  for (double c : crossed) at.push_back(c);
  line["at_flops"] = at;
  ctx_.folder.write_metrics_line(line);
  ctx_.folder.say("at " + format_number("%.4g", st_.flops) + " training FLOPs (budget " + format_number("%.4g", crossed.back()) +
                  "): " + valid_ + " loss " + format_number("%.4f", r.loss));
}

Json Trainer::with_compute(Json line) const {
  line["train_tokens"] = st_.total_tokens;
  if (flops_ != nullptr) line["train_flops"] = st_.flops;
  return line;
}

void Trainer::choose_trainable() {
  Parameters& params = model_.parameters();
  const auto freeze = p_.get_strings("freeze");
  const auto only = p_.get_strings("trainable");
  if (!freeze.empty() && !only.empty())
    p_.fail("trainable", "give freeze or trainable, not both (trainable lists what trains, freeze what does not)");
  const std::string key = freeze.empty() ? "trainable" : "freeze";
  const auto& globs = freeze.empty() ? only : freeze;
  std::vector<std::string> names;
  for (const auto& q : params) names.push_back(q.name);
  for (const auto& glob : globs)
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return glob_match(glob, n); }))
      p_.fail(key, "'" + glob + "' matches no parameter of the model (it has: " + join(names) + ")");
  // Every train stage chooses afresh: an earlier stage's choice does not carry over.
  std::int64_t trainable = 0, frozen = 0;
  for (auto& q : params) {
    const bool listed = std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return glob_match(g, q.name); });
    q.trainable = globs.empty() || (freeze.empty() ? listed : !listed);
    (q.trainable ? trainable : frozen) += q.shape.numel();
  }
  if (frozen > 0)
    ctx_.folder.say("training " + with_commas(trainable) + " of " + with_commas(trainable + frozen) +
                    " parameters (" + with_commas(frozen) + " frozen by " + key + ": " + join(globs) + ")");
}

std::string Trainer::checked_split(const DataLoader& data, const Params& p) {
  const std::string split = p.get_string("split");
  if (!data.has_split(split)) p.fail("split", "the data has no split '" + split + "'");
  return split;
}

std::int64_t Trainer::batches_per_epoch() const {
  std::int64_t total = data_.num_batches(split_, Mode::kTrain);
  return max_batches_ > 0 ? std::min(total, max_batches_) : total;
}

Checkpoint Trainer::make_checkpoint() const {
  const Tensor& values = model_.parameters().values();
  for (std::int64_t i = 0; i < values.numel(); ++i)
    if (!std::isfinite(values.data()[i]))
      throw DivergedError("training diverged: a parameter is " + format_number("%g", values.data()[i]) + " at epoch " +
                          std::to_string(st_.epoch) + ", batch " + std::to_string(st_.batch) +
                          "; not saved, the last checkpoint stays (try a lower learning rate or gradient clipping)");
  Checkpoint ck;
  StateDict& run = ck.add_section("run");
  run.set("loom_version", LOOM_VERSION_STRING);
  run.set("seed", static_cast<std::int64_t>(ctx_.workspace.seed()));
  run.set("config", ctx_.folder.config_text());
  run.set("config_fingerprint", fingerprint(ctx_.folder.config_text()));
  run.set("stage", static_cast<std::int64_t>(ctx_.index));
  TrainState st = st_;
  st.lr = schedule_.epoch_lr();
  st.world_size = dist::world().size;
  st.save(run);
  run.set("metrics_bytes", static_cast<std::int64_t>(ctx_.folder.metrics_bytes()));
  run.set("summary", static_cast<const RunFolder&>(ctx_.folder).summary());
  save_parameters(model_.parameters(), ck.add_section("parameters"));
  optimizer_.save_state(ck.add_section("optimizer"));
  if (!replicas::several()) {
    if (stateful_) stateful_->save_state(ck.add_section("model_state"));
    for (const auto& [id, m] : metrics_) m->save_state(ck.add_section("metric." + id));
  } else {
    // Each rank carries the state of its own rows and its own metric sums: rank 0 keeps every
    // rank's ("rank<R>.model_state", "rank<R>.metric.<id>"), for a resume with as many ranks,
    // so that it adds up in the same order as a run never stopped.
    Checkpoint mine;
    if (stateful_) stateful_->save_state(mine.add_section("model_state"));
    for (const auto& [id, m] : metrics_) m->save_state(mine.add_section("metric." + id));
    const auto parts = dist::gather(mine.serialize());
    for (std::size_t r = 0; r < parts.size(); ++r) {
      const Checkpoint part = Checkpoint::parse(parts[r], "rank " + std::to_string(r) + "'s state");
      for (const auto& [name, section] : part.sections()) ck.add_section("rank" + std::to_string(r) + "." + name) = section;
    }
    // The metrics over every rank (the sums of their statistics), as one process has them.
    for (const auto& [id, m] : metrics_) {
      auto& sums = dynamic_cast<SumsStatistics&>(*m);
      const std::vector<double> own = sums.statistics();
      replicas::gather_into(*m);
      m->save_state(ck.add_section("metric." + id));
      sums.set_statistics(own);
    }
  }
  for (const auto& [id, text] : ctx_.workspace.vocab_texts()) ck.add_section("vocab." + id).set("text", text);
  ctx_.workspace.save_learned_tokenizers(ck);
  return ck;
}

void Trainer::save(std::initializer_list<std::filesystem::path> paths) {
  dist::together([] {});  // a rank that failed since the last step meets the others here
  const Checkpoint ck = make_checkpoint();
  // Rank 0 alone writes; a failure there (a full disk) stops every rank.
  dist::together([&] {
    if (dist::world().rank != 0) return;
    const std::string bytes = ck.serialize();
    for (const auto& path : paths) write_file_atomically(path, bytes);
    if (!ctx_.folder.config_written()) ctx_.folder.write_config();
  });
  last_saved_ = "epoch " + std::to_string(st_.epoch) + ", batch " + std::to_string(st_.batch);
}

void Trainer::restore() {
  const Resume& resume = *ctx_.resume;
  const Checkpoint& ck = resume.checkpoint();
  st_ = TrainState::load(ck.section("run"));
  const dist::World& w = dist::world();
  const int saved_world = st_.world_size;
  load_parameters(model_.parameters(), ck.section("parameters"));
  optimizer_.load_state(ck.section("optimizer"), model_.parameters());
  // A learning rate set anew on the command line wins over the checkpoint's.
  schedule_.set_epoch_lr(resume.lr_overridden() ? optimizer_.learning_rate() : st_.lr);
  if (saved_world != w.size)
    ctx_.workspace.say("  the checkpoint was saved by " + std::to_string(saved_world) + " rank" + (saved_world == 1 ? "" : "s") +
                       ", this run has " + std::to_string(w.size) +
                       ": the global batch stays, each rank's share of it changes, so the gradients are summed in another "
                       "order (results agree with an uninterrupted run to float rounding)");
  // With as many ranks as saved them, each rank continues its own state (rank<R>.*).
  const std::string own = saved_world > 1 && saved_world == w.size ? "rank" + std::to_string(w.rank) + "." : "";
  if (stateful_) {
    // The carried state of this rank's rows.
    if ((saved_world == w.size) && ck.has_section(own + "model_state")) {
      stateful_->load_state(ck.section(own + "model_state"));
    } else {
      stateful_->reset_state();
      if ((ck.has_section("model_state") || ck.has_section("rank0.model_state")) && st_.batch > 0)
        ctx_.workspace.say("  the state carried from batch to batch belongs to the rows of " + std::to_string(saved_world) +
                           " rank" + (saved_world == 1 ? "" : "s") + "' shares: epoch " + std::to_string(st_.epoch) +
                           " continues from batch " + std::to_string(st_.batch) + " with a fresh state");
    }
  }
  for (const auto& [id, m] : metrics_) {
    if (!own.empty() && ck.has_section(own + "metric." + id)) {
      m->load_state(ck.section(own + "metric." + id));
    } else if (ck.has_section("metric." + id)) {
      // Every rank's sums together: rank 0 carries them on, the others add theirs.
      m->load_state(ck.section("metric." + id));
      if (w.rank != 0) m->reset();
    } else {
      m->reset();
      if (st_.batch > 0)
        ctx_.workspace.say("  metric '" + id + "' is new: its value for epoch " + std::to_string(st_.epoch) +
                           " covers the batches after the checkpoint only");
    }
  }
}

void Trainer::check_replicas() const {
  if (dist::all_equal(replicas::checksum(model_.parameters()))) return;
  const std::string message = "the ranks' parameters differ after step " + std::to_string(st_.step) +
                              " (their checksums disagree): the ranks no longer train one model; the last checkpoint stays in " +
                              last_path_.string() + " (check that every rank runs the same loom and plugins)";
  dist::share_error(message);
  throw DivergedError(message);
}

std::string Trainer::where_diverged(int epoch, std::int64_t i, std::int64_t total) const {
  std::string s = " at epoch " + std::to_string(epoch) + ", batch " + std::to_string(i + 1) + "/" + std::to_string(total);
  if (last_saved_.empty()) return s + "; no checkpoint was saved yet (try a lower learning rate or gradient clipping)";
  return s + "; the last checkpoint (" + last_saved_ + ") stays in " + last_path_.string() +
         " (try a lower learning rate or gradient clipping, then --resume)";
}

// A loss or metric that is not a number any more (an infinite perplexity, say) is a
// divergence, even when every batch loss was finite: it must never become "best".
void Trainer::check_finite(const EvalResult& r, const std::string& split, int epoch) const {
  std::vector<std::pair<std::string, double>> values = r.metrics;
  values.emplace_back("loss", r.loss);
  for (const auto& [id, v] : values)
    if (!std::isfinite(v))
      throw DivergedError("training diverged: " + id + " on split '" + split + "' is " + format_number("%g", v) +
                          " after epoch " + std::to_string(epoch) + "; the best checkpoint stays (" +
                          (st_.best_epoch > 0 ? "epoch " + std::to_string(st_.best_epoch) : std::string("none yet")) +
                          "; try a lower learning rate or gradient clipping)");
}

double Trainer::step() {
  optimizer_.set_learning_rate(schedule_.lr_at(st_.step));
  const double norm = optimizer_.step(model_.parameters());
  ++st_.step;
  return norm;
}

void Trainer::run() {
  const int patience = static_cast<int>(p_.get_int("early_stop.patience"));
  const std::int64_t every = p_.get_int("checkpoint.every");
  const int keep = static_cast<int>(p_.get_int("checkpoint.keep"));
  const std::uint64_t seed = ctx_.workspace.seed();
  Progress progress(ctx_.folder.quiet(), p_.get_int("log_interval"));
  const bool perplexity_like = std::any_of(metrics_.begin(), metrics_.end(), [](auto& m) { return m.first == "ppl"; });
  Parameters& params = model_.parameters();
  RunFolder& folder = ctx_.folder;

  if (ctx_.resume && ctx_.resume->stage() == ctx_.index) {
    restore();
    folder.say("resumed at epoch " + std::to_string(st_.epoch) + ", batch " + std::to_string(st_.batch) + " (lr " +
               format_number("%.4g", schedule_.epoch_lr()) +
               (st_.best ? ", best " + select_ + " " + format_number("%.4g", *st_.best) : "") + ")");
    ctx_.resume.reset();  // the stages after this one start afresh
    if (st_.batch > batches_per_epoch())
      throw InputError(last_path_.string() + ": the checkpoint stands at batch " + std::to_string(st_.batch) +
                       " of epoch " + std::to_string(st_.epoch) + ", but split '" + split_ + "' has " +
                       std::to_string(batches_per_epoch()) + " batches now");
    folder.commit();
  }
  if (st_.epoch > 1 || st_.batch > 0) last_saved_ = "epoch " + std::to_string(st_.epoch) + ", batch " + std::to_string(st_.batch);

  const dist::World& world = dist::world();
  Graph g(Mode::kTrain);
  const double seconds_before = st_.train_seconds;
  const auto train_start = Clock::now();
  const Evaluator evaluator([&folder] { return folder.resume_hint(); }, decode_options(p_));
  while (!st_.stopped && st_.epoch <= epochs_) {
    const int epoch = st_.epoch;
    const std::int64_t total = batches_per_epoch();
    if (st_.batch > total)
      throw InputError(last_path_.string() + ": the checkpoint stands at batch " + std::to_string(st_.batch) +
                       " of epoch " + std::to_string(epoch) + ", but split '" + split_ + "' has " +
                       std::to_string(total) + " batches now");
    if (auto* shuffled = dynamic_cast<EpochAware*>(&data_)) shuffled->start_epoch(epoch);
    if (st_.batch == 0) {
      schedule_.start_epoch(epoch);
      if (stateful_) stateful_->reset_state();
      for (auto& [id, m] : metrics_) m->reset();
      st_.loss_sum = st_.nll_sum = st_.norm_sum = st_.epoch_seconds = 0.0;
      st_.count = st_.tokens = 0;
    }
    // Otherwise the carried state, the metrics and the sums come from the checkpoint.
    const double epoch_seconds_before = st_.epoch_seconds;
    const std::int64_t first_batch = st_.batch, tokens_before = st_.tokens;
    bool budget_spent = false;
    const auto t0 = Clock::now();
    for (std::int64_t i = first_batch; i < total; ++i) {
      // The forward pass of this rank's share of the batch (the batch itself in one process);
      // a failure on any rank stops every rank here.
      Batch b, shard;
      const Batch* share = &b;
      ModelOutput out;
      out.nll_sum = 0.0;
      double batch_loss = 0.0;
      dist::together([&] {
        b = data_.batch(split_, Mode::kTrain, i);
        share = &replicas::share(b, shard);
        g.clear();
        // Each rank draws its own dropout masks, the same on every run.
        std::uint64_t key = static_cast<std::uint64_t>(epoch) << 32 | static_cast<std::uint64_t>(i);
        if (world.size > 1) key = random_bits(key, static_cast<std::uint64_t>(world.rank));
        g.reseed(random_bits(stream_key(seed, "dropout"), key));
        if (dist::rows(*share) == 0) return;
        out = model_.forward(g, *share);
        batch_loss = out.loss.value().item();
        for (auto& [id, m] : metrics_) m->update(*share, out);
      });
      // What every rank decides on: the sums over the ranks (in one process, its own values).
      double loss_sum = out.loss_sum, nll_sum = out.nll_sum;
      std::int64_t count = out.count;
      int sig = 0;
      if (world.size > 1) {
        std::vector<double> sums = {out.loss_sum, out.nll_sum, static_cast<double>(out.count),
                                    std::isfinite(batch_loss) ? 0.0 : 1.0, pending_interrupt() != 0 ? 1.0 : 0.0};
        replicas::sum(sums);
        loss_sum = sums[0];
        nll_sum = sums[1];
        count = static_cast<std::int64_t>(sums[2]);
        // A loss that is not a number on any rank stops every rank.
        if (sums[3] > 0 && std::isfinite(batch_loss)) {
          const double mean = loss_sum / static_cast<double>(std::max<std::int64_t>(count, 1));
          batch_loss = std::isfinite(mean) ? std::numeric_limits<double>::quiet_NaN() : mean;
        }
        if (sums[4] > 0) sig = pending_interrupt() != 0 ? pending_interrupt() : SIGTERM;
      }
      if (!std::isfinite(batch_loss)) {
        progress.finish();
        throw DivergedError("training diverged: loss is " + format_number("%g", batch_loss) + where_diverged(epoch, i, total));
      }
      // The backward pass; with several ranks the gradients' sums start while it goes on.
      if (world.size == 1) {
        if (out.loss.defined()) g.backward(out.loss);
      } else {
        const auto backward_start = Clock::now();
        if (bucket_bytes_ > 0) {
          allreduce_seconds_ += replicas::backward_and_reduce(g, out.loss, params, out.count, count, bucket_bytes_);
        } else {
          if (out.loss.defined()) g.backward(out.loss);
          const auto t1 = Clock::now();
          replicas::reduce_gradients(params, out.count, count);
          allreduce_seconds_ += seconds_since(t1);
        }
        backward_seconds_ += seconds_since(backward_start);
        ++allreduce_steps_;
      }
      const double lr = schedule_.lr_at(st_.step);
      const double norm = step();
      if (!std::isfinite(norm)) {
        progress.finish();
        throw DivergedError("training diverged: the gradient norm is " + format_number("%g", norm) +
                            where_diverged(epoch, i, total));
      }
      st_.norm_sum += norm;
      params.zero_grad();
      if (world.size > 1 && check_replicas_every_ > 0 && st_.step % check_replicas_every_ == 0) check_replicas();
      st_.loss_sum += loss_sum;
      st_.nll_sum += nll_sum;
      st_.count += count;
      st_.tokens += b.target_tokens;
      st_.total_tokens += b.target_tokens;
      const double flops_before = st_.flops;
      if (flops_ != nullptr) st_.flops += 3.0 * flops_->forward_flops(b);
      // Budgets crossed by this step: one validation for all of them (loss only).
      std::vector<double> crossed;
      for (double at : validate_at_)
        if (flops_before < at && at <= st_.flops) crossed.push_back(at);
      st_.batch = i + 1;
      if (!crossed.empty()) {
        progress.finish();
        validate_at_budget(evaluator, epoch, crossed);
      }
      const double elapsed = seconds_since(t0);
      progress.update(epoch, i + 1, total, lr, st_.loss_sum / std::max<std::int64_t>(st_.count, 1),
                      st_.nll_sum / std::max<std::int64_t>(st_.count, 1),
                      static_cast<double>(st_.tokens - tokens_before) / std::max(elapsed, 1e-9),
                      elapsed / static_cast<double>(i + 1 - first_batch) * static_cast<double>(total - i - 1),
                      perplexity_like);
      if (world.size == 1) sig = pending_interrupt();
      if (sig != 0) {
        progress.finish();
        st_.epoch_seconds = epoch_seconds_before + seconds_since(t0);
        st_.train_seconds = seconds_before + seconds_since(train_start);
        save({last_path_});
        throw Interrupted(sig, "interrupted at epoch " + std::to_string(epoch) + ", batch " + std::to_string(i + 1) +
                                   "/" + std::to_string(total) + ": saved " + last_path_.string() + folder.resume_hint());
      }
      if (max_flops_ > 0 && st_.flops >= max_flops_) {
        budget_spent = true;
        break;
      }
      if (every > 0 && st_.batch % every == 0 && st_.batch < total) {
        st_.epoch_seconds = epoch_seconds_before + seconds_since(t0);
        st_.train_seconds = seconds_before + seconds_since(train_start);
        save({last_path_});
      }
    }
    if (budget_spent) {
      st_.stopped = true;
      folder.say("FLOP budget spent: " + format_number("%.4g", st_.flops) + " training FLOPs >= max_flops " +
                 format_number("%.4g", max_flops_) + " after batch " + std::to_string(st_.batch) + "/" +
                 std::to_string(total) + " of epoch " + std::to_string(epoch) + "; validating and stopping");
    }
    g.clear();
    progress.finish();
    st_.epoch_seconds = epoch_seconds_before + seconds_since(t0);
    st_.train_seconds = seconds_before + seconds_since(train_start);
    // Saved before validation, so an interrupt during it loses none of the epoch.
    save({last_path_});
    EvalResult tr;
    tr.seconds = st_.epoch_seconds;
    tr.count = st_.count;
    tr.tokens = st_.tokens;
    tr.loss = st_.count > 0 ? st_.loss_sum / static_cast<double>(st_.count) : 0.0;
    // Training batches are never decoded: metrics of decoded text have no training value.
    for (auto& [id, m] : metrics_)
      if (dynamic_cast<ComparesTexts*>(m) == nullptr) tr.metrics.emplace_back(id, replicas::value(*m));
    // The rate of the epoch's last step (with no step schedule, the epoch's rate).
    const double lr_used = schedule_.lr_at(std::max<std::int64_t>(st_.step - 1, 0));
    folder.write_metrics_line(with_compute(metrics_line(
        epoch, split_, tr, lr_used,
        st_.batch > 0 ? std::optional<double>(st_.norm_sum / static_cast<double>(st_.batch)) : std::nullopt)));
    folder.say("epoch " + std::to_string(epoch) + " " + split_ + ": " + describe(tr) + " | " +
               format_number("%.0f", static_cast<double>(tr.tokens) / std::max(tr.seconds, 1e-9)) + " tok/s | " +
               format_number("%.1f", tr.seconds) + " s");
    // With validate_every N, epochs between validations (never the last) only save last.ckpt:
    // no selection, annealing or early-stop counting, whose patience counts validations.
    if (!valid_.empty() && epoch % validate_every_ != 0 && epoch != epochs_ && !budget_spent) {
      check_finite(tr, split_, epoch);
      st_.epoch = epoch + 1;
      st_.batch = 0;
      st_.train_seconds = seconds_before + seconds_since(train_start);
      save({last_path_});
      folder.say("epoch " + std::to_string(epoch) + ": saved; next validation after epoch " +
                 std::to_string(std::min(epochs_, (epoch / validate_every_ + 1) * validate_every_)));
      continue;
    }
    std::optional<EvalResult> vr;
    if (!valid_.empty()) {
      vr = evaluator.evaluate(model_, data_, valid_, metrics_);
      folder.write_metrics_line(with_compute(metrics_line(epoch, valid_, *vr, lr_used, std::nullopt)));
    }
    check_finite(tr, split_, epoch);
    if (vr) check_finite(*vr, valid_, epoch);
    const EvalResult& judged = vr ? *vr : tr;
    double value = judged.loss;
    for (const auto& [id, v] : judged.metrics)
      if (id == select_) value = v;
    const bool improved = !st_.best || (higher_better_ ? value > *st_.best : value < *st_.best);
    std::string verdict;
    if (improved) {
      st_.best = value;
      st_.best_epoch = epoch;
      st_.since_best = 0;
      verdict = "best so far, saved";
    } else {
      ++st_.since_best;
      verdict = "no improvement on " + format_number("%.4g", *st_.best) + " (epoch " + std::to_string(st_.best_epoch) + ")";
      if (schedule_.anneal()) verdict += ", lr -> " + format_number("%.4g", schedule_.epoch_lr());
    }
    const bool early = patience > 0 && st_.since_best >= patience;
    st_.stopped = budget_spent || early;
    st_.epoch = epoch + 1;
    st_.batch = 0;
    st_.train_seconds = seconds_before + seconds_since(train_start);
    const std::filesystem::path kept = folder.checkpoints() / ("epoch-" + std::to_string(epoch) + ".ckpt");
    if (improved && keep > 0) save({best_path_, kept, last_path_});
    else if (improved) save({best_path_, last_path_});
    else if (keep > 0) save({kept, last_path_});
    else save({last_path_});
    if (keep > 0) std::filesystem::remove(folder.checkpoints() / ("epoch-" + std::to_string(epoch - keep) + ".ckpt"));
    if (vr) folder.say("epoch " + std::to_string(epoch) + " " + valid_ + ": " + describe(*vr) + " | " + verdict);
    else folder.say("epoch " + std::to_string(epoch) + ": " + verdict);
    if (early && !budget_spent)
      folder.say("early stop: no improvement for " + std::to_string(patience) +
                 (validate_every_ > 1 && !valid_.empty() ? " validations" : " epochs"));
  }
  release_cached_storage();
  if (st_.best_epoch > 0) {
    // Rank 0 reads the best checkpoint and hands its parameters to the others.
    dist::together([&] {
      if (world.rank == 0) load_parameters(params, Checkpoint::read(best_path_).section("parameters"));
    });
    dist::broadcast(params.values().data(), params.values().numel());
    folder.say("restored the best epoch (" + std::to_string(st_.best_epoch) + ", " + select_ + " " +
               format_number("%.4g", *st_.best) + ")");
  }
  Json& summary = folder.summary();
  record_directions(summary, metrics_);
  Json& t = summary["train"];
  t["best_epoch"] = st_.best_epoch;
  t["select"] = select_;
  if (st_.best) t["best_" + select_] = *st_.best;
  t["seconds"] = st_.train_seconds;
  t["parameters"] = params.count();
  std::int64_t trainable = 0;
  for (const auto& q : params)
    if (q.trainable) trainable += q.shape.numel();
  t["parameters_trainable"] = trainable;
  t["tokens"] = st_.total_tokens;
  if (allreduce_steps_ > 0) {
    // What the gradient all-reduce cost (waiting for the slowest rank included), for benches
    // and for deciding how many machines are worth it.
    Json d = Json::object();
    const double bytes = 4.0 * static_cast<double>(params.grads().numel());
    d["world_size"] = dist::world().size;
    d["gradient_bytes"] = bytes;
    d["steps"] = allreduce_steps_;
    d["allreduce_seconds"] = allreduce_seconds_;
    d["backward_seconds"] = backward_seconds_;
    d["bucket_bytes"] = bucket_bytes_;
    t["data_parallel"] = d;
    folder.say("data parallel over " + std::to_string(dist::world().size) + " ranks: " +
               format_number("%.3g", bytes / 1e6) + " MB of gradients summed per step in " +
               format_number("%.3g", 1e3 * allreduce_seconds_ / static_cast<double>(allreduce_steps_)) + " ms (" +
               format_number("%.1f", 100.0 * allreduce_seconds_ / std::max(seconds_since(train_start), 1e-9)) +
               "% of this process's training time)");
  }
  if (flops_ != nullptr) {
    t["parameters_non_embedding"] = flops_->non_embedding_parameters();
    t["flops"] = st_.flops;
    if (st_.total_tokens > 0) t["forward_flops_per_token"] = st_.flops / 3.0 / static_cast<double>(st_.total_tokens);
    if (max_flops_ > 0) t["max_flops"] = max_flops_;
    folder.say("trained on " + with_commas(st_.total_tokens) + " target tokens, " + format_number("%.4g", st_.flops) +
               " FLOPs (3 forwards of " + format_number("%.4g", st_.flops / 3.0 / std::max<double>(1.0, static_cast<double>(st_.total_tokens))) +
               " per token)");
  }
}

}  // namespace loom
