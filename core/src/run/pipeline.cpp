#include "loom/pipeline.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>

#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/interrupt.hpp"
#include "loom/manifest.hpp"
#include "loom/parallel.hpp"
#include "loom/report.hpp"
#include "loom/strings.hpp"
#include "run/resolve.hpp"
#include "run/resume.hpp"
#include "run/run_folder.hpp"
#include "run/workspace.hpp"
#include "stages/stage.hpp"

namespace loom {

namespace {

ConfigNode parse_override_value(const std::string& text, const SourceLocation& where) {
  // Values are YAML too ("[1, 2]", "true"), but their location is the override itself.
  ConfigNode parsed;
  try {
    parsed = parse_yaml(text, where.file);
  } catch (const ConfigError&) {
    return ConfigNode::scalar(text, where);
  }
  std::function<ConfigNode(const ConfigNode&)> relocate = [&](const ConfigNode& n) {
    if (n.is_scalar()) return ConfigNode::scalar(n.str(), where);
    if (n.is_sequence()) {
      ConfigNode s = ConfigNode::sequence(where);
      for (const auto& i : n.items()) s.push_back(relocate(i));
      return s;
    }
    if (n.is_map()) {
      ConfigNode m = ConfigNode::map(where);
      for (const auto& [k, v] : n.entries()) m.set(k, relocate(v), where);
      return m;
    }
    return ConfigNode::scalar("", where);
  };
  return parsed.is_null() ? ConfigNode::scalar("", where) : relocate(parsed);
}

}  // namespace

void apply_override(ConfigNode& root, const std::string& assignment) {
  SourceLocation where{"--set " + assignment, 0, 0};
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected key=value, e.g. components.model.nhid=400");
  std::string path = assignment.substr(0, eq);
  ConfigNode value = parse_override_value(assignment.substr(eq + 1), where);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw ConfigError(where, "empty key in '" + path + "'");
    keys.push_back(k);
  }
  if (std::find(top_level_keys().begin(), top_level_keys().end(), keys[0]) == top_level_keys().end()) {
    auto hint = did_you_mean(keys[0], top_level_keys());
    throw ConfigError(where, "unknown top-level key '" + keys[0] + "'" +
                                 (hint ? " (did you mean '" + *hint + "'?)" : ""));
  }
  ConfigNode* node = &root;
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    const std::string& k = keys[i];
    if (node->is_sequence()) {
      // A list of one-key maps (stages): address an item by its key.
      ConfigNode* found = nullptr;
      std::vector<std::string> names;
      for (auto& item : const_cast<std::vector<ConfigNode>&>(node->items())) {
        if (item.is_map() && item.entries().size() == 1) {
          names.push_back(item.entries()[0].first);
          if (item.entries()[0].first == k && found == nullptr) found = &item.entries()[0].second;
        }
      }
      if (found == nullptr) {
        auto hint = did_you_mean(k, names);
        throw ConfigError(where, "no stage named '" + k + "'" +
                                     (hint ? " (did you mean '" + *hint + "'?)" : " (stages: " + join(names) + ")"));
      }
      if (!found->is_map()) *found = ConfigNode::map(where);
      node = found;
      continue;
    }
    ConfigNode* child = node->is_map() ? node->find(k) : nullptr;
    if (child == nullptr) {
      // A new component may be added by naming its plugin; any other unknown id is a typo.
      bool adds_component = keys.size() == 3 && keys[2] == "plugin";
      if (keys[0] == "components" && i == 1 && !adds_component) {
        std::vector<std::string> ids;
        for (const auto& [id, v] : node->entries()) ids.push_back(id);
        auto hint = did_you_mean(k, ids);
        throw ConfigError(where, "no component '" + k + "'" +
                                     (hint ? " (did you mean '" + *hint + "'?)" : " (components: " + join(ids) + ")"));
      }
      node->set(k, ConfigNode::map(where), where);
      child = node->find(k);
    }
    if (!child->is_map() && !child->is_sequence()) *child = ConfigNode::map(where);
    node = child;
  }
  if (node->is_sequence())
    throw ConfigError(where, "'" + path + "' names a stage: set its options one by one, e.g. --set " + path + ".epochs=5");
  node->set(keys.back(), value, where);
}

Pipeline Pipeline::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  Pipeline p;
  p.file_ = file;
  p.root_ = load_yaml_file(file);
  if (!p.root_.is_map())
    throw ConfigError(p.root_.where().file.empty() ? SourceLocation{file.string(), 0, 0} : p.root_.where(),
                      "a pipeline is a mapping with components: and stages:");
  for (const auto& o : overrides) apply_override(p.root_, o);
  std::map<std::string, std::string> vars;
  if (const ConfigNode* v = p.root_.find("vars")) vars = resolve_vars(*v);
  substitute_vars(p.root_, vars);
  p.name_ = file.stem().string();
  if (const ConfigNode* n = p.root_.find("name")) {
    // The name is a folder under runs/: one plain, non-empty path component.
    if (!n->is_scalar() || n->str().empty() || n->str().find('/') != std::string::npos || n->str() == "." ||
        n->str() == "..")
      throw ConfigError(n->where(), "name must be a plain non-empty name without '/' (it names the run folder), got '" +
                                        (n->is_scalar() ? n->str() : std::string("a list or mapping")) + "'");
    p.name_ = n->str();
  }
  if (const ConfigNode* s = p.root_.find("seed")) p.seed_ = static_cast<std::uint64_t>(s->as_int());
  if (const ConfigNode* t = p.root_.find("threads")) {
    auto n = t->as_int();
    if (n < 1 || n > 4096) throw ConfigError(t->where(), "threads must be between 1 and 4096, got " + t->str());
    p.threads_ = static_cast<int>(n);
  }
  return p;
}

std::vector<std::string> Pipeline::check(const Registry& registry, PathCheck paths) const {
  std::vector<std::string> errors;
  resolve_pipeline(root_, registry, errors, paths);
  return errors;
}

void Pipeline::validate(const Registry& registry, PathCheck paths) const {
  auto errors = check(registry, paths);
  if (!errors.empty()) throw ConfigError(join(errors, "\n"));
}

std::vector<std::string> Pipeline::check_components(const Registry& registry) const {
  Workspace ws(registry, root_, seed_, PathCheck::kMustExist, [](const std::string&) {});
  return ws.build_for_check();
}

namespace {

// One run of a pipeline in its folder: the stages of the table in the pipeline's order.
class Runner {
 public:
  Runner(const Registry& registry, const Pipeline& pipeline, const std::filesystem::path& dir, const RunOptions& options)
      : registry_(registry),
        pipeline_(pipeline),
        options_(options),
        folder_(dir, options.quiet),
        workspace_(registry, pipeline.config(), pipeline.seed(), options.paths,
                   [this](const std::string& line) { folder_.say(line); }) {
    workspace_.apply_init_from(!options.resume);
  }

  void execute() {
    // A resumed run writes nothing until its checkpoint has been read, compared and restored:
    // a resume that is refused leaves the folder as it was.
    if (options_.resume) folder_.defer_writes();
    // What made this run; a manifest still "running" with no end time belongs to a killed run.
    const dist::World& w = dist::world();
    folder_.start_manifest(run_manifest(registry_, {options_.command, threads(), pipeline_.seed(), w.size, w.hosts}),
                           options_.resume);
    try {
      run_stages();
    } catch (const Interrupted&) {
      folder_.end_manifest("interrupted");
      throw;
    } catch (const std::exception& e) {
      folder_.end_manifest(std::string("failed: ") + e.what());
      throw;
    }
    folder_.end_manifest("finished");
    if (dist::world().rank != 0) return;
    // The report is a view of the files just written; failing to draw it does not fail the run.
    try {
      folder_.say("report: " + write_report(folder_.dir()).string());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: no report: %s\n", e.what());
    }
    folder_.say("run folder: " + folder_.dir().string());
  }

 private:
  void run_stages() {
    ConfigNode named = pipeline_.config();
    if (named.find("name") == nullptr) named.set("name", ConfigNode::scalar(pipeline_.name(), {}), {});
    folder_.set_config_text(named.to_yaml());
    folder_.summary()["name"] = pipeline_.name();
    if (options_.resume) {
      // Rank 0 reads the checkpoint from the run folder and sends it to the other ranks.
      const bool first = dist::world().rank == 0;
      std::string bytes;
      dist::together([&] {
        if (first) bytes = Resume::read_bytes(folder_.dir());
      });
      dist::broadcast(bytes);
      dist::together([&] {
        resume_ = Resume::from_bytes(folder_.dir(), bytes, workspace_.resolved(), pipeline_.config(), pipeline_.seed(),
                                     folder_.config_text(), [this](const std::string& line) { folder_.say(line); });
      });
      bytes.clear();
      const StateDict& run = resume_->checkpoint().section("run");
      // Lines written after the checkpoint are written again by the resumed run.
      if (first) folder_.continue_metrics(static_cast<std::uint64_t>(run.integer("metrics_bytes")));
      else folder_.start_metrics();
      const Json& saved = run.value("summary");
      if (saved.is_object()) folder_.summary() = saved;
    } else {
      folder_.start_metrics();
      // A resumed run rewrites config.yaml with its first checkpoint instead, so that the file
      // always describes the run the checkpoints continue (loom resume reads it).
      folder_.write_config();
    }
    const auto& stages = workspace_.resolved().stages;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      if (resume_ && i < resume_->stage() && !stages[i].stage->replays_on_resume) {
        folder_.say("stage '" + stages[i].name + "': done before the checkpoint, skipped");
        continue;
      }
      // With several ranks, a stage that fails on one of them stops them all here (or at the
      // agreement point inside the stage that the others reached).
      dist::together([&] {
        if (int sig = pending_interrupt())
          throw Interrupted(sig, "interrupted before stage '" + stages[i].name + "'" + folder_.resume_hint());
        run_stage(i);
      });
    }
  }

  void run_stage(std::size_t i) {
    const ResolvedStage& s = workspace_.resolved().stages[i];
    StageContext ctx{workspace_, folder_, resume_, i, [this](std::size_t j) { run_stage(j); }};
    s.stage->run(ctx, s.params());
    folder_.write_summary();
  }

  const Registry& registry_;
  const Pipeline& pipeline_;
  RunOptions options_;
  RunFolder folder_;
  Workspace workspace_;
  std::optional<Resume> resume_;
};

}  // namespace

std::filesystem::path Pipeline::run(const Registry& registry, const RunOptions& options) const {
  std::filesystem::path dir = options.out_dir ? *options.out_dir : std::filesystem::path("runs") / name_;
  if (dir.empty()) throw ConfigError("--out: the run folder is an empty name");
  // Rank 0 of a data-parallel run writes the run folder; the other ranks run the same stages
  // in a private temporary folder, quietly, and read nothing from the run folder.
  const dist::World& w = dist::world();
  std::optional<FolderLock> lock;
  std::optional<ScratchFolder> scratch;
  dist::together([&] {
    if (w.rank != 0) {
      scratch.emplace();
      return;
    }
    // One process at a time in a run folder; the kernel drops the lock when this one ends.
    lock.emplace(dir);
    if (!options.resume) {
      const EarlierRun earlier = earlier_run(dir);
      if (earlier.worth_keeping() && !options.overwrite)
        throw ConfigError("run folder '" + dir.string() + "' holds " + earlier.describe() + ": " +
                          (earlier.has_checkpoint ? "continue it with --resume (loom resume " + dir.string() + "), or "
                                                  : std::string()) +
                          "replace it with --overwrite");
      if (earlier.exists) {
        if (!options.quiet) std::printf("run folder %s held %s: replaced\n", dir.string().c_str(), earlier.describe().c_str());
        clear_run_files(dir);
      }
    }
    // Temporaries of writes that a killed process, or a full disk, never finished.
    std::size_t stale = remove_stale_temporaries(dir) + remove_stale_temporaries(dir / "checkpoints");
    if (stale > 0 && !options.quiet)
      std::printf("removed %zu unfinished temporary file%s of an earlier process\n", stale, stale == 1 ? "" : "s");
  });
  if (scratch) {
    RunOptions quiet = options;
    quiet.quiet = true;
    Runner(registry, *this, scratch->path(), quiet).execute();
  } else {
    Runner(registry, *this, dir, options).execute();
  }
  return dir;
}

}  // namespace loom
