#define BOOST_TEST_MODULE runner
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "loom/config.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/interrupt.hpp"
#include "loom/json.hpp"
#include "loom/pipeline.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "run/lr_schedule.hpp"
#include "run/resume.hpp"
#include "run/run_folder.hpp"
#include "run/trainer.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace fs = std::filesystem;
using loom::LrSchedule;
using loom::LrScheduleOptions;
using loom::StepDecay;

namespace {

// The train stage's options from YAML text, as the runner checks them.
loom::Params train_params(const std::string& yaml) {
  std::vector<std::string> errors;
  auto values = loom::check_params("stage 'train'", loom::find_stage("train")->params,
                                   loom::flatten(loom::parse_yaml(yaml, "test")), {}, errors);
  BOOST_REQUIRE_MESSAGE(errors.empty(), (errors.empty() ? std::string() : errors[0]));
  return loom::Params("stage train", "train", loom::find_stage("train")->params, values);
}

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("loom-runner-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

}  // namespace

// ---- the learning-rate schedule, step by step, against values worked out by hand ------------

BOOST_AUTO_TEST_CASE(without_a_step_schedule_every_step_has_the_epoch_rate) {
  LrSchedule s(LrScheduleOptions::from(train_params("{lr_decay: 0.5, lr_decay_after: 1, lr_anneal: 4}")), 2.0, 100);
  BOOST_TEST(s.lr_at(0) == 2.0);
  BOOST_TEST(s.lr_at(99) == 2.0);
  s.start_epoch(1);  // not after lr_decay_after
  BOOST_TEST(s.epoch_lr() == 2.0);
  s.start_epoch(2);
  BOOST_TEST(s.epoch_lr() == 1.0);
  BOOST_TEST(s.lr_at(57) == 1.0);
  BOOST_TEST(s.anneal());
  BOOST_TEST(s.epoch_lr() == 0.25);
  LrSchedule plain(LrScheduleOptions::from(train_params("{}")), 3.0, 10);
  BOOST_TEST(!plain.anneal());
  BOOST_TEST(plain.epoch_lr() == 3.0);
}

BOOST_AUTO_TEST_CASE(warmup_is_linear_then_constant) {
  LrSchedule s(LrScheduleOptions::from(train_params("{schedule: {warmup_steps: 4}}")), 1.0, 100);
  const double expected[] = {0.25, 0.5, 0.75, 1.0, 1.0, 1.0};
  for (int step = 0; step < 6; ++step) BOOST_TEST(s.lr_at(step) == expected[step], "step " << step);
}

BOOST_AUTO_TEST_CASE(inverse_square_root_after_warmup_down_to_the_floor) {
  LrSchedule s(LrScheduleOptions::from(train_params("{schedule: {warmup_steps: 4, decay: inverse_sqrt}}")), 1.0, 100);
  BOOST_TEST(s.lr_at(3) == 1.0);
  BOOST_TEST(std::abs(s.lr_at(4) - std::sqrt(4.0 / 5.0)) < 1e-15);
  BOOST_TEST(s.lr_at(15) == 0.5);  // sqrt(4 / 16)
  LrSchedule floored(
      LrScheduleOptions::from(train_params("{schedule: {warmup_steps: 4, decay: inverse_sqrt, min_lr: 0.6}}")), 1.0, 100);
  BOOST_TEST(floored.lr_at(15) == 0.6);
  BOOST_TEST(std::abs(floored.lr_at(4) - std::sqrt(0.8)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(cosine_and_linear_decay_reach_the_floor_at_total_steps) {
  LrSchedule cosine(LrScheduleOptions::from(train_params("{schedule: {decay: cosine}}")), 2.0, 10);
  BOOST_TEST(cosine.lr_at(0) == 2.0);
  BOOST_TEST(std::abs(cosine.lr_at(5) - 1.0) < 1e-15);
  BOOST_TEST(std::abs(cosine.lr_at(10)) < 1e-15);
  BOOST_TEST(std::abs(cosine.lr_at(50)) < 1e-15);  // stays at the floor
  // Linear after a warmup of 2, over total_steps 12 given in the options, to min_lr 0.1.
  LrSchedule linear(
      LrScheduleOptions::from(train_params("{schedule: {warmup_steps: 2, decay: linear, min_lr: 0.1, total_steps: 12}}")),
      1.1, 1000);
  BOOST_TEST(linear.lr_at(0) == 0.55);
  BOOST_TEST(std::abs(linear.lr_at(2) - 1.1) < 1e-15);
  BOOST_TEST(std::abs(linear.lr_at(7) - 0.6) < 1e-15);
  BOOST_TEST(std::abs(linear.lr_at(12) - 0.1) < 1e-15);
}

BOOST_AUTO_TEST_CASE(schedule_options_that_cannot_work_are_refused) {
  loom::testing::expect_error<loom::ConfigError>(
      [] { LrScheduleOptions::from(train_params("{schedule: {warmup_steps: 10, total_steps: 5}}")); },
      {"schedule.total_steps", "must be above schedule.warmup_steps (10)"});
  std::vector<std::string> errors;
  loom::check_params("stage 'train'", loom::find_stage("train")->params,
                     loom::flatten(loom::parse_yaml("{schedule: {decay: cosin}}", "test")), {}, errors);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].find("did you mean 'cosine'?") != std::string::npos, errors[0]);
}

// ---- the stage table --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_stage_has_a_name_docs_parameters_and_a_runner) {
  std::set<std::string> names;
  for (const auto& s : loom::stage_table()) {
    BOOST_TEST(!s.name.empty());
    BOOST_TEST(names.insert(s.name).second, "stage '" << s.name << "' twice");
    BOOST_TEST(!s.doc.empty(), s.name);
    BOOST_TEST(!s.params.empty(), s.name);
    BOOST_TEST(static_cast<bool>(s.run), s.name);
    for (const auto& p : s.params) BOOST_TEST(!p.doc.empty(), s.name << "." << p.name);
    BOOST_TEST(loom::find_stage(s.name) == &s);
  }
  for (const char* name : {"build_vocab", "train", "evaluate", "generate", "score", "predict"})
    BOOST_TEST(names.count(name) == 1u, name);
  // Only build_vocab is run again by a resumed run (from the checkpoint's vocabulary).
  for (const auto& s : loom::stage_table()) BOOST_TEST(s.replays_on_resume == (s.name == "build_vocab"), s.name);
  BOOST_TEST(loom::find_stage("trian") == nullptr);
}

// ---- the Trainer on a tiny model --------------------------------------------------------------

namespace {

const std::string kPipeline = R"(name: tiny
seed: 5
components:
  tokenizer: { plugin: word, eos: "<eos>" }
  vocab:     { plugin: frequency, unk: "<unk>" }
  data:      { plugin: markov, dir: DIR, vocab_size: 30, train_tokens: 3000, valid_tokens: 500,
               test_tokens: 500, batch_size: 4, eval_batch_size: 4, bptt: 8 }
  model:     { plugin: rnn_lm, nhid: 16, emsize: 16 }
  optimizer: { plugin: sgd, lr: 5 }
  ppl:       { plugin: perplexity }
stages:
  - build_vocab: {}
  - train: { epochs: 3, validate_on: valid, select: ppl, schedule: { warmup_steps: 20, decay: cosine } }
)";

struct TinyRun {
  loom::Registry registry;
  fs::path dir;
  loom::ConfigNode root;
  std::optional<loom::RunFolder> folder;
  std::optional<loom::Workspace> ws;
  std::optional<loom::Resume> resume;

  // `train_options` replaces the train stage's "epochs: 3, " when given.
  explicit TinyRun(const std::string& name, const std::string& train_options = "") : dir(temp_dir(name)) {
    registry.load_directory(LOOM_TEST_PLUGIN_DIR, true);
    std::string text = kPipeline;
    if (!train_options.empty()) text.replace(text.find("epochs: 3, "), 11, train_options);
    text.replace(text.find("DIR"), 3, (fs::temp_directory_path() / "loom-runner-markov").string());
    root = loom::parse_yaml(text, "tiny.yaml");
    folder.emplace(dir, true);
    folder->set_config_text(root.to_yaml());
    folder->start_metrics();
    folder->write_config();
    ws.emplace(registry, root, 5, loom::PathCheck::kMustExist, [](const std::string&) {});
  }

  void run_stage(std::size_t i) {
    const auto& s = ws->resolved().stages[i];
    loom::StageContext ctx{*ws, *folder, resume, i, [this](std::size_t j) { run_stage(j); }};
    if (s.name == "train") loom::Trainer(ctx, s.params()).run();
    else s.stage->run(ctx, s.params());
  }
};

std::vector<loom::Json> metric_lines(const fs::path& dir) {
  std::vector<loom::Json> out;
  std::istringstream in(loom::read_file(dir / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) out.push_back(loom::Json::parse(line, "metrics.jsonl"));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(trainer_learns_checkpoints_and_restores_the_best_epoch) {
  TinyRun run("train");
  run.run_stage(0);
  run.run_stage(1);
  const auto lines = metric_lines(run.dir);
  BOOST_REQUIRE(lines.size() == 6u);  // train and valid for 3 epochs
  const double first = lines[1].find("ppl")->number(), last = lines[5].find("ppl")->number();
  BOOST_TEST(last < first, "validation perplexity " << first << " -> " << last);
  BOOST_TEST(last < 30.0);  // below the 30 words of a uniform guess
  // The warmup and the cosine decay show in the learning rate of each epoch's last step.
  const double lr1 = lines[0].find("lr")->number(), lr3 = lines[4].find("lr")->number();
  BOOST_TEST(lr1 > 0.0);
  BOOST_TEST(lr3 < lr1, "lr " << lr1 << " -> " << lr3);
  for (const char* f : {"last.ckpt", "best.ckpt"}) BOOST_TEST(fs::exists(run.dir / "checkpoints" / f), f);
  const loom::Json& train = *run.folder->summary().find("train");
  BOOST_TEST(train.find("best_epoch")->number() >= 1.0);
  BOOST_TEST(*run.folder->summary().find("higher_is_better")->find("ppl")->boolean() == false);
  fs::remove_all(run.dir);
}

// validate_every 2 over 5 epochs validates after epochs 2, 4 and 5 (the last) only; the best
// epoch is one of those, and every epoch saved last.ckpt.
BOOST_AUTO_TEST_CASE(validate_every_skips_validation_between_and_always_validates_the_last_epoch) {
  TinyRun run("validate_every", "epochs: 5, validate_every: 2, ");
  run.run_stage(0);
  run.run_stage(1);
  std::vector<int> train_epochs, valid_epochs;
  for (const auto& l : metric_lines(run.dir)) {
    const int epoch = static_cast<int>(l.find("epoch")->number());
    (*l.find("split")->string() == "train" ? train_epochs : valid_epochs).push_back(epoch);
  }
  BOOST_TEST(train_epochs == (std::vector<int>{1, 2, 3, 4, 5}), boost::test_tools::per_element());
  BOOST_TEST(valid_epochs == (std::vector<int>{2, 4, 5}), boost::test_tools::per_element());
  const int best = static_cast<int>(run.folder->summary().find("train")->find("best_epoch")->number());
  BOOST_TEST((best == 2 || best == 4 || best == 5), "best epoch " << best);
  BOOST_TEST(loom::Checkpoint::read(run.dir / "checkpoints" / "last.ckpt").section("run").integer("epoch") == 6);
  fs::remove_all(run.dir);
}

// A run interrupted after its first batch and resumed by a new process takes the same steps,
// with the same learning rates, as one that ran straight through: the schedule's clock is in
// the checkpoint, and the resumed folder gets the same metrics.jsonl lines.
BOOST_AUTO_TEST_CASE(trainer_resumed_mid_stage_matches_a_straight_run) {
  auto without_timings = [](std::vector<loom::Json> lines) {
    for (auto& l : lines) {
      l["seconds"] = loom::Json();
      l["tokens_per_s"] = loom::Json();
    }
    return lines;
  };
  std::vector<loom::Json> straight;
  {
    TinyRun run("straight");
    run.run_stage(0);
    run.run_stage(1);
    straight = without_timings(metric_lines(run.dir));
    fs::remove_all(run.dir);
  }
  fs::path dir;
  {
    TinyRun run("resumed");
    dir = run.dir;
    run.run_stage(0);
    loom::request_interrupt(2);
    BOOST_CHECK_THROW(run.run_stage(1), loom::Interrupted);
    loom::clear_interrupt();
  }
  // What a new process does for `loom resume`: nothing written until the train stage restored.
  loom::Registry registry;
  registry.load_directory(LOOM_TEST_PLUGIN_DIR, true);
  loom::ConfigNode root = loom::parse_yaml(loom::read_file(dir / "config.yaml"), "config.yaml");
  loom::RunFolder folder(dir, true);
  folder.defer_writes();
  folder.set_config_text(root.to_yaml());
  loom::Workspace ws(registry, root, 5, loom::PathCheck::kMustExist, [](const std::string&) {});
  std::optional<loom::Resume> resume =
      loom::Resume::open(dir, ws.resolved(), root, 5, folder.config_text(), [](const std::string&) {});
  BOOST_TEST(resume->stage() == 1u);
  const loom::StateDict& saved = resume->checkpoint().section("run");
  BOOST_TEST(saved.integer("step") == 1);
  folder.continue_metrics(static_cast<std::uint64_t>(saved.integer("metrics_bytes")));
  std::function<void(std::size_t)> run_stage = [&](std::size_t i) {
    const auto& s = ws.resolved().stages[i];
    loom::StageContext ctx{ws, folder, resume, i, run_stage};
    s.stage->run(ctx, s.params());
  };
  run_stage(0);
  BOOST_TEST(folder.deferring());  // the vocabulary came from the checkpoint; nothing written yet
  run_stage(1);
  BOOST_TEST(!folder.deferring());
  BOOST_TEST(!resume.has_value());
  const auto resumed = without_timings(metric_lines(dir));
  BOOST_REQUIRE(resumed.size() == straight.size());
  for (std::size_t i = 0; i < straight.size(); ++i) BOOST_TEST(resumed[i].dump() == straight[i].dump(), "line " << i);
  fs::remove_all(dir);
}
