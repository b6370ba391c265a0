#include "run/resume.hpp"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/strings.hpp"

namespace loom {

void TrainState::save(StateDict& run) const {
  run.set("epoch", epoch);
  run.set("batch", batch);
  run.set("step", step);
  run.set("stopped", stopped);
  run.set("best", best ? Json(*best) : Json());
  run.set("best_epoch", best_epoch);
  run.set("since_best", since_best);
  run.set("loss_sum", loss_sum);
  run.set("nll_sum", nll_sum);
  run.set("norm_sum", norm_sum);
  run.set("count", count);
  run.set("tokens", tokens);
  run.set("epoch_seconds", epoch_seconds);
  run.set("train_seconds", train_seconds);
  run.set("lr", lr);
  run.set("flops", flops);
  run.set("total_tokens", total_tokens);
  run.set("world_size", world_size);
}

TrainState TrainState::load(const StateDict& run) {
  TrainState st;
  st.epoch = static_cast<int>(run.integer("epoch"));
  st.batch = run.integer("batch");
  if (st.epoch < 1 || st.batch < 0)
    throw InputError(run.origin + ": bad position (epoch " + std::to_string(st.epoch) + ", batch " +
                     std::to_string(st.batch) + ")");
  // Checkpoints from before step schedules have no step count; their runs had no schedule.
  st.step = run.has("step") ? run.integer("step") : 0;
  const Json& stopped = run.value("stopped");
  st.stopped = stopped.boolean() && *stopped.boolean();
  if (!run.value("best").is_null()) st.best = run.number("best");
  st.best_epoch = static_cast<int>(run.integer("best_epoch"));
  st.since_best = static_cast<int>(run.integer("since_best"));
  st.loss_sum = run.number("loss_sum");
  // Checkpoints from before label smoothing have no NLL sum; their loss was the NLL.
  st.nll_sum = run.has("nll_sum") ? run.number("nll_sum") : st.loss_sum;
  st.norm_sum = run.number("norm_sum");
  st.count = run.integer("count");
  st.tokens = run.integer("tokens");
  st.epoch_seconds = run.number("epoch_seconds");
  st.train_seconds = run.number("train_seconds");
  st.lr = run.number("lr");
  // Checkpoints from before FLOP accounting: the stage's compute is unknown, counted from here.
  st.flops = run.has("flops") ? run.number("flops") : 0.0;
  st.total_tokens = run.has("total_tokens") ? run.integer("total_tokens") : 0;
  st.world_size = run.has("world_size") ? static_cast<int>(run.integer("world_size")) : 1;
  if (st.world_size < 1) throw InputError(run.origin + ": bad world_size " + std::to_string(st.world_size));
  return st;
}

namespace {

// A pipeline as dotted keys -> (value, where), for comparing two versions of it. Stages are
// addressed by name ("stages.train.epochs"; a second stage of the same name is "evaluate#2");
// lists other than stages are compared as one value. `stage_names` gets the stage order.
using FlatConfig = std::map<std::string, std::pair<std::string, SourceLocation>>;

void flatten_config(const ConfigNode& n, const std::string& prefix, FlatConfig& out,
                    std::vector<std::string>* stage_names) {
  auto key = [&](const std::string& k) { return prefix.empty() ? k : prefix + "." + k; };
  if (n.is_map()) {
    for (const auto& [k, v] : n.entries()) flatten_config(v, key(k), out, stage_names);
  } else if (n.is_sequence() && prefix == "stages") {
    std::map<std::string, int> seen;
    for (const auto& item : n.items()) {
      std::string name = item.is_scalar() ? item.str() : item.is_map() && !item.entries().empty() ? item.entries()[0].first : "?";
      int count = ++seen[name];
      if (stage_names) stage_names->push_back(name);
      std::string stage_key = "stages." + name + (count > 1 ? "#" + std::to_string(count) : "");
      if (item.is_map() && !item.entries().empty()) flatten_config(item.entries()[0].second, stage_key, out, nullptr);
    }
  } else if (n.is_sequence()) {
    std::string text;
    for (const auto& item : n.items()) text += (text.empty() ? "" : ", ") + (item.is_scalar() ? item.str() : item.to_yaml());
    out[prefix] = {"[" + text + "]", n.where()};
  } else {
    out[prefix] = {n.is_scalar() ? n.str() : "", n.where()};
  }
}


// Keys that cannot change (the model, the data, the vocabulary, the tokenizer, the seed) are
// errors; others are notes with the value that wins. True when the learning rate is set anew.
bool compare_for_resume(const ConfigNode& old_root, const ConfigNode& new_root, const Resolved& resolved,
                      std::vector<std::string>& notes, std::vector<std::string>& errors) {
bool lr_overridden = false;
  FlatConfig before, after;
  std::vector<std::string> old_stages, new_stages;
  flatten_config(old_root, "", before, &old_stages);
  flatten_config(new_root, "", after, &new_stages);
  if (old_stages != new_stages) {
    errors.push_back("stages: [" + join(old_stages) + "] in the checkpoint, [" + join(new_stages) +
                     "] now: a resumed run needs the same stages");
    return false;
  }
  std::set<std::string> keys;
  for (const auto& [k, v] : before) keys.insert(k);
  for (const auto& [k, v] : after) keys.insert(k);
  for (const auto& key : keys) {
    auto b = before.find(key), a = after.find(key);
    std::string was = b == before.end() ? "(absent)" : b->second.first;
    std::string now = a == after.end() ? "(absent)" : a->second.first;
    if (was == now || key == "name" || key == "description") continue;
    std::string where = a != after.end() && !a->second.second.str().empty() ? a->second.second.str() + ": " : "";
    std::string change = key + ": " + was + " in the checkpoint, " + now + " now";
    std::optional<Kind> kind;
    if (key.rfind("components.", 0) == 0) {
      std::string id = key.substr(11, key.find('.', 11) == std::string::npos ? std::string::npos : key.find('.', 11) - 11);
      for (const auto& c : resolved.components)
        if (c.id == id && c.plugin) kind = c.plugin->descriptor->kind;
      if (!kind) kind = Kind::kModel;  // a component removed or added: treat as a change of shape
    }
    if (key == "seed") {
      errors.push_back(where + change + ": the random streams come from the seed");
    } else if (kind && (*kind == Kind::kModel || *kind == Kind::kData || *kind == Kind::kVocab ||
                        *kind == Kind::kTokenizer)) {
      errors.push_back(where + change + ": the checkpoint's " + kind_noun(*kind) +
                       " cannot change on resume (start a new run, or --set " + key + "=" + was + ")");
    } else {
      const bool sets_lr =
          kind && *kind == Kind::kOptimizer && key.size() > 3 && key.compare(key.size() - 3, 3, ".lr") == 0;
      lr_overridden = lr_overridden || sets_lr;
      notes.push_back(where + change + ": the new value is used" + (sets_lr ? " as the learning rate from here on" : ""));
    }
  }
  return lr_overridden;
}

}  // namespace

std::string Resume::read_bytes(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "checkpoints" / "last.ckpt";
  if (!std::filesystem::exists(path))
    throw InputError(path.string() + ": no checkpoint to resume from (the run stopped before its first checkpoint, "
                     "or it ran in another folder: pass the same --out)");
  return read_file(path, "checkpoint");
}

Resume Resume::open(const std::filesystem::path& dir, const Resolved& resolved, const ConfigNode& root,
                    std::uint64_t seed, const std::string& config_text,
                    const std::function<void(const std::string&)>& say) {
  return from_bytes(dir, read_bytes(dir), resolved, root, seed, config_text, say);
}

Resume Resume::from_bytes(const std::filesystem::path& dir, const std::string& bytes, const Resolved& resolved,
                          const ConfigNode& root, std::uint64_t seed, const std::string& config_text,
                          const std::function<void(const std::string&)>& say) {
  Resume r;
  r.path_ = dir / "checkpoints" / "last.ckpt";
  r.checkpoint_ = Checkpoint::parse(bytes, r.path_.string());
  const StateDict& run = r.checkpoint_.section("run");
  const std::int64_t stage = run.integer("stage");
  if (stage < 0 || stage >= static_cast<std::int64_t>(resolved.stages.size()) ||
      resolved.stages[static_cast<std::size_t>(stage)].name != "train")
    throw InputError(r.path_.string() + ": the checkpoint was saved in stage " + std::to_string(stage + 1) +
                     ", which is not a train stage of this pipeline");
  r.stage_ = static_cast<std::size_t>(stage);
  if (static_cast<std::uint64_t>(run.integer("seed")) != seed)
    throw ConfigError("seed: " + std::to_string(run.integer("seed")) + " in the checkpoint, " + std::to_string(seed) +
                      " now: the random streams of a resumed run come from the seed, so it cannot change (start a new "
                      "run instead)");
  const std::string old_text = run.text("config");
  if (fingerprint(old_text) == fingerprint(config_text)) {
    say("resuming from " + r.path_.string() + " (same pipeline)");
    return r;
  }
  ConfigNode old_root = parse_yaml(old_text, r.path_.string() + " (its pipeline)");
  std::vector<std::string> notes, errors;
  r.lr_overridden_ = compare_for_resume(old_root, root, resolved, notes, errors);
  if (!errors.empty())
    throw ConfigError("cannot resume " + dir.string() + ": the pipeline differs from the checkpoint's where it cannot change:\n  " +
                      join(errors, "\n  "));
  say("resuming from " + r.path_.string() + "; the pipeline differs from the checkpoint's:");
  for (const auto& n : notes) say("  " + n);
  return r;
}

}  // namespace loom
