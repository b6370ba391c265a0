#include "loom/sweep.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/interrupt.hpp"
#include "loom/parameters.hpp"
#include "loom/pipeline.hpp"
#include "loom/report.hpp"
#include "loom/strings.hpp"
#include "run/run_folder.hpp"

extern char** environ;

namespace loom {

namespace {

using Clock = std::chrono::steady_clock;

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  return parts;
}

// The shortest suffix of every key that tells the keys apart: nhid, nlayers; or
// encoder.dropout and decoder.dropout.
void set_labels(std::vector<SweepAxis>& axes) {
  for (std::size_t depth = 1;; ++depth) {
    std::set<std::string> seen;
    bool unique = true;
    for (auto& a : axes) {
      auto parts = split_key(a.key);
      std::size_t n = std::min(depth, parts.size());
      std::vector<std::string> tail(parts.end() - static_cast<std::ptrdiff_t>(n), parts.end());
      a.label = join(tail, ".");
      unique = seen.insert(a.label).second && unique;
    }
    if (unique || depth > 16) return;
  }
}

std::string point_id(const std::vector<SweepAxis>& axes, const std::vector<std::size_t>& at) {
  std::string id;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    std::string v = axes[i].values[at[i]];
    for (char& c : v)
      if (c == '/' || c == '\\' || c == ' ' || c == '\t' || c == ',' || c == '=') c = '_';
    id += (id.empty() ? "" : ",") + axes[i].label + "=" + v;
  }
  return id;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string number_text(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The file's text, or "" when there is none (a point's log before it started).
std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? read_file(path) : std::string();
}

// The last line of a point's log that says what went wrong.
std::string last_error_line(const std::filesystem::path& log) {
  std::stringstream ss(read_text(log));
  std::string line, last;
  while (std::getline(ss, line))
    if (!trim(line).empty() && line.rfind("loom: OpenBLAS", 0) != 0) last = line;
  return last;
}

}  // namespace

namespace {

// A key a sweep may not set: the sweep section itself, or the pipeline's name.
void refuse_unsweepable(const std::string& key, const std::string& what) {
  if (key.rfind("sweep", 0) == 0 || key == "name") throw ConfigError(what + "'" + key + "' cannot be swept");
}

// grid: { model: { lstm: { components.model: {...}, components.optimizer.lr: 20 }, ... } }
SweepAxis variant_axis(const std::string& name, const ConfigNode& variants) {
  SweepAxis axis{name, "", {}, {}};
  if (variants.entries().empty())
    throw ConfigError(variants.where(), "sweep.grid." + name + ": names no variants");
  for (const auto& [variant, body] : variants.entries()) {
    if (!body.is_map())
      throw ConfigError(body.where(), "sweep.grid." + name + "." + variant +
                                          ": a variant is a mapping of dotted keys to values, e.g. "
                                          "{ components.model.nhid: 400, components.optimizer.lr: 5 }");
    std::vector<std::string> assignments;
    for (const auto& [key, value] : body.entries()) {
      refuse_unsweepable(key, "sweep.grid." + name + "." + variant + ": ");
      if (value.is_null()) throw ConfigError(body.key_where(key), "sweep.grid." + name + "." + variant + "." + key + ": has no value");
      // A block goes over as YAML text, which the override parses back (--set takes YAML).
      assignments.push_back(key + "=" + (value.is_scalar() ? value.str() : value.to_yaml()));
    }
    axis.values.push_back(variant);
    axis.assignments.push_back(std::move(assignments));
  }
  return axis;
}

}  // namespace

std::vector<SweepAxis> sweep_grid(const ConfigNode& root, const std::vector<std::string>& grid_args) {
  std::vector<SweepAxis> axes;
  auto add = [&](const std::string& key, std::vector<std::string> values, const SourceLocation& where) {
    if (values.empty()) throw ConfigError(where, "sweep key '" + key + "' has no values");
    for (auto& a : axes)
      if (a.key == key) {
        if (!a.is_variants()) {
          a.values = std::move(values);
          return;
        }
        // --grid model=lstm,gru on a variant axis keeps the named variants, in that order.
        SweepAxis kept{a.key, "", {}, {}};
        for (const auto& v : values) {
          auto it = std::find(a.values.begin(), a.values.end(), v);
          if (it == a.values.end()) {
            auto hint = did_you_mean(v, a.values);
            throw ConfigError(where, "sweep axis '" + key + "' has no variant '" + v + "'" +
                                         (hint ? " (did you mean '" + *hint + "'?)" : " (" + join(a.values) + ")"));
          }
          kept.values.push_back(v);
          kept.assignments.push_back(a.assignments[static_cast<std::size_t>(it - a.values.begin())]);
        }
        a = std::move(kept);
        return;
      }
    axes.push_back({key, "", std::move(values), {}});
  };
  if (const ConfigNode* sweep = root.find("sweep")) {
    if (!sweep->is_map()) throw ConfigError(sweep->where(), "sweep: expects a mapping with grid:");
    for (const auto& [k, v] : sweep->entries()) {
      static const std::vector<std::string> known = {"grid", "parallel", "primary"};
      if (std::find(known.begin(), known.end(), k) == known.end()) {
        auto hint = did_you_mean(k, known);
        throw ConfigError(sweep->key_where(k), "unknown sweep key '" + k + "'" +
                                                   (hint ? " (did you mean '" + *hint + "'?)" : " (grid, parallel, primary)"));
      }
    }
    if (const ConfigNode* grid = sweep->find("grid")) {
      if (!grid->is_map())
        throw ConfigError(grid->where(), "sweep.grid: expects a mapping of dotted keys to lists of values "
                                         "(or of a name to named variants)");
      for (const auto& [key, values] : grid->entries()) {
        if (values.is_map()) {
          for (const auto& a : axes)
            if (a.key == key) throw ConfigError(grid->key_where(key), "sweep.grid: '" + key + "' given twice");
          axes.push_back(variant_axis(key, values));
          continue;
        }
        std::vector<std::string> vs;
        if (values.is_sequence()) {
          for (const auto& item : values.items()) {
            if (!item.is_scalar())
              throw ConfigError(item.where(), "sweep value of '" + key + "' must be a plain value "
                                              "(to sweep over blocks, name them: grid: { " + key + ": { a: {...}, b: {...} } })");
            vs.push_back(item.str());
          }
        } else if (values.is_scalar()) {
          vs.push_back(values.str());
        } else {
          throw ConfigError(values.where(), "sweep.grid." + key + ": expects a list of values");
        }
        add(key, vs, values.where());
      }
    }
  }
  for (const auto& arg : grid_args) {
    auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--grid " + arg + ": expected key=v1,v2,..., e.g. components.model.nhid=200,400");
    std::vector<std::string> vs;
    std::stringstream ss(arg.substr(eq + 1));
    for (std::string v; std::getline(ss, v, ',');) vs.push_back(trim(v));
    add(arg.substr(0, eq), vs, {"--grid " + arg, 0, 0});
  }
  if (axes.empty())
    throw ConfigError("nothing to sweep: add 'sweep: {grid: {key: [v1, v2]}}' to the pipeline or --grid key=v1,v2");
  for (const auto& a : axes) {
    std::set<std::string> distinct(a.values.begin(), a.values.end());
    if (distinct.size() != a.values.size()) throw ConfigError("sweep key '" + a.key + "' repeats a value");
    if (!a.is_variants()) refuse_unsweepable(a.key, "sweep key ");
  }
  set_labels(axes);
  return axes;
}

namespace {

Json read_summary(const std::filesystem::path& run_dir) {
  const auto path = run_dir / "summary.json";
  return Json::parse(read_text(path), path.string());
}

// The flat results of a parsed summary.json (see run_results).
Json results_of(const Json& summary) {
  Json out = Json::object();
  if (!summary.is_object()) return out;
  if (const Json* ev = summary.find("evaluate"); ev && ev->is_object())
    for (const auto& [split, scores] : ev->members())
      if (scores.is_object())
        for (const auto& [metric, v] : scores.members())
          if (v.is_number()) out[split + "." + metric] = v.number();
  if (const Json* tr = summary.find("train"); tr && tr->is_object())
    for (const auto& [k, v] : tr->members())
      if (v.is_number() && k != "parameters") out["train." + k] = v.number();
  return out;
}

}  // namespace

Json run_results(const std::filesystem::path& run_dir) { return results_of(read_summary(run_dir)); }

namespace {

struct Point {
  std::string id;
  std::vector<std::size_t> at;  // value index per axis
  std::string status = "pending";  // pending | running | done | failed | interrupted
  std::string message;
  Json results = Json::object();
  Json directions = Json::object();  // metric id -> higher is better, from summary.json
  double seconds = 0.0;

  // Results and metric directions from the point's summary.json, read once.
  void read_summary_of(const std::filesystem::path& dir) {
    Json summary = read_summary(dir);
    results = results_of(summary);
    const Json* h = summary.is_object() ? summary.find("higher_is_better") : nullptr;
    directions = h && h->is_object() ? *h : Json::object();
  }
};

class Sweep {
 public:
  Sweep(const Registry& registry, const SweepOptions& options) : registry_(registry), options_(options) {
    Pipeline base = Pipeline::load(options.pipeline, options.overrides);
    name_ = base.name();
    dir_ = options.out_dir ? *options.out_dir : std::filesystem::path("runs") / name_;
    axes_ = sweep_grid(base.config(), options.grid);
    const ConfigNode* sweep = base.config().find("sweep");
    int parallel = 1;
    if (sweep && sweep->find("parallel")) {
      const ConfigNode& p = *sweep->find("parallel");
      if (p.as_int() < 1) throw ConfigError(p.where(), "sweep.parallel must be at least 1, got " + p.str());
      parallel = static_cast<int>(p.as_int());
    }
    if (options.parallel) parallel = *options.parallel;
    if (parallel < 1) throw ConfigError("--parallel must be at least 1");
    at_once_ = std::max(1, std::min(parallel, options.threads));
    if (at_once_ < parallel)
      note("sweep: parallel " + std::to_string(parallel) + " but only " + std::to_string(options.threads) +
           " threads: running " + std::to_string(at_once_) + " at once");
    threads_each_ = std::max(1, options.threads / at_once_);
    if (sweep && sweep->find("primary")) primary_ = sweep->find("primary")->str();
    // Every point, checked before anything runs; the last key varies fastest.
    std::size_t total = 1;
    for (const auto& a : axes_) total *= a.values.size();
    std::vector<std::string> errors;
    for (std::size_t n = 0; n < total; ++n) {
      Point p;
      p.at.resize(axes_.size());
      for (std::size_t i = axes_.size(), rest = n; i-- > 0; rest /= axes_[i].values.size())
        p.at[i] = rest % axes_[i].values.size();
      p.id = point_id(axes_, p.at);
      auto point_pipeline = Pipeline::load(options.pipeline, point_overrides(p));
      for (const auto& e : point_pipeline.check(registry)) errors.push_back("point " + p.id + ": " + e);
      points_.push_back(std::move(p));
    }
    if (!errors.empty()) throw ConfigError(join(errors, "\n"));
  }

  std::filesystem::path run() {
    if (dir_.empty()) throw ConfigError("--out: the sweep folder is an empty name");
    FolderLock lock(dir_);
    load_previous();
    std::size_t to_run = 0;
    for (const auto& p : points_) to_run += p.status != "done";
    std::string shape;
    for (const auto& a : axes_) shape += (shape.empty() ? "" : " x ") + std::to_string(a.values.size()) + " " + a.label;
    note("sweep '" + name_ + "': " + shape + " = " + std::to_string(points_.size()) + " points, " +
         std::to_string(points_.size() - to_run) + " done before; " + std::to_string(at_once_) + " at once, " +
         std::to_string(threads_each_) + " thread" + (threads_each_ > 1 ? "s" : "") + " each -> " + dir_.string());
    std::vector<std::pair<pid_t, std::size_t>> running;
    std::map<std::size_t, Clock::time_point> started;
    std::size_t next = 0, finished = points_.size() - to_run;
    int interrupted = 0;
    for (;;) {
      while (!interrupted && running.size() < static_cast<std::size_t>(at_once_) && next < points_.size()) {
        std::size_t i = next++;
        if (points_[i].status == "done") continue;
        running.emplace_back(start(points_[i]), i);
        started[i] = Clock::now();
      }
      if (running.empty()) break;
      if (!interrupted && (interrupted = pending_interrupt()) != 0) {
        note("sweep: stopping; the running points save their checkpoints first");
        for (auto& [pid, i] : running) ::kill(pid, interrupted);
      }
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      auto it = std::find_if(running.begin(), running.end(), [&](auto& r) { return r.first == pid; });
      if (it == running.end()) continue;
      Point& p = points_[it->second];
      p.seconds = std::chrono::duration<double>(Clock::now() - started[it->second]).count();
      running.erase(it);
      finish(p, status);
      ++finished;
      std::string line = "[" + std::to_string(finished) + "/" + std::to_string(points_.size()) + "] " + p.id + ": " +
                         p.status;
      if (p.status == "done") {
        char secs[32];
        std::snprintf(secs, sizeof secs, "%.1f", p.seconds);
        line += std::string(" in ") + secs + " s";
        if (const Json* v = p.results.find(primary()); v && v->is_number())
          line += " | " + primary() + " " + number_text(v->number());
      } else if (!p.message.empty()) {
        line += ": " + p.message;
      }
      note(line);
      write_outputs();
    }
    write_outputs();
    try {
      note("report: " + write_report(dir_).string());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: no sweep report: %s\n", e.what());
    }
    if (interrupted)
      throw Interrupted(interrupted, "sweep interrupted: the unfinished points resume from their checkpoints; "
                                     "continue with the same 'loom sweep' command");
    std::vector<std::string> failed;
    for (const auto& p : points_)
      if (p.status != "done") failed.push_back(p.id + " (" + p.message + ")");
    if (!failed.empty())
      throw InputError(std::to_string(failed.size()) + " of " + std::to_string(points_.size()) +
                       " sweep points failed: " + join(failed, "; ") + "; each point's log.txt has the details");
    return dir_;
  }

 private:
  // A point's assignments: its variants' (as if written in the pipeline), then --set, then
  // the plain axes' values, so --set adjusts a variant's block and an axis always varies.
  std::vector<std::string> point_overrides(const Point& p) const {
    std::vector<std::string> o;
    for (std::size_t i = 0; i < axes_.size(); ++i)
      if (axes_[i].is_variants()) {
        const auto& a = axes_[i].assignments[p.at[i]];
        o.insert(o.end(), a.begin(), a.end());
      }
    o.insert(o.end(), options_.overrides.begin(), options_.overrides.end());
    for (std::size_t i = 0; i < axes_.size(); ++i)
      if (!axes_[i].is_variants()) o.push_back(axes_[i].key + "=" + axes_[i].values[p.at[i]]);
    return o;
  }

  void note(const std::string& line) const {
    if (options_.quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  // Points recorded as done whose run folder still has its summary are not run again.
  void load_previous() {
    const auto path = dir_ / "sweep.json";
    if (!std::filesystem::exists(path)) return;
    Json previous = Json::parse(read_text(path), path.string());
    const Json* points = previous.is_object() ? previous.find("points") : nullptr;
    if (points == nullptr || !points->is_array()) return;
    std::map<std::string, std::string> status;
    for (const auto& p : points->items())
      if (p.is_object() && p.find("id") && p.find("id")->string() && p.find("status") && p.find("status")->string())
        status[*p.find("id")->string()] = *p.find("status")->string();
    for (auto& p : points_)
      if (status[p.id] == "done" && std::filesystem::exists(dir_ / p.id / "summary.json")) {
        p.status = "done";
        p.read_summary_of(dir_ / p.id);
      }
  }

  pid_t start(Point& p) {
    const auto dir = dir_ / p.id;
    std::filesystem::create_directories(dir);
    std::vector<std::string> args = {options_.loom_executable.string(), "--threads", std::to_string(threads_each_)};
    for (const auto& path : options_.plugin_paths) {
      args.push_back("--plugin-path");
      args.push_back(path);
    }
    args.insert(args.end(), {"run", options_.pipeline.string()});
    for (const auto& o : point_overrides(p)) {
      args.push_back("--set");
      args.push_back(o);
    }
    args.insert(args.end(), {"--out", dir.string()});
    // A point that saved a checkpoint continues from it; one that started and saved nothing
    // (or failed before) starts afresh in its folder.
    args.push_back(std::filesystem::exists(dir / "checkpoints" / "last.ckpt") ? "--resume" : "--overwrite");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = (dir / "log.txt").string();
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group: a Ctrl-C in the terminal reaches the sweep alone, which passes
    // it on once, so no point gets a second signal before it has saved.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw RuntimeError("cannot start '" + args[0] + "' for sweep point " + p.id + ": " + std::strerror(rc));
    p.status = "running";
    return pid;
  }

  void finish(Point& p, int status) {
    const auto dir = dir_ / p.id;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code == 0) {
      p.status = "done";
      p.read_summary_of(dir);
      p.message.clear();
    } else if (code == 130 || code == 143) {
      p.status = "interrupted";
      p.message = "resumes from its checkpoint";
    } else {
      p.status = "failed";
      p.message = "exit " + std::to_string(code) + ": " + last_error_line(dir / "log.txt");
      if (std::filesystem::exists(dir / "summary.json")) p.read_summary_of(dir);
    }
  }

  // The column the sweep is judged by: sweep.primary, else the first evaluate metric.
  std::string primary() const {
    if (!primary_.empty()) return primary_;
    for (const auto& p : points_) {
      if (p.status != "done") continue;
      std::string fallback;
      for (const auto& [k, v] : p.results.members()) {
        if (k.rfind("train.", 0) == 0) {
          if (fallback.empty() && k.rfind("train.best_", 0) == 0 && k != "train.best_epoch") fallback = k;
          continue;
        }
        if (k.size() < 5 || k.compare(k.size() - 5, 5, ".loss") != 0) return k;
        if (fallback.empty()) fallback = k;
      }
      if (!fallback.empty()) return fallback;
    }
    return "";
  }

  bool higher_is_better(const std::string& column) const {
    std::string metric = column.substr(column.find('.') + 1);
    if (metric.rfind("best_", 0) == 0) metric = metric.substr(5);
    for (const auto& p : points_) {
      if (p.status != "done") continue;
      if (const Json* v = p.directions.find(metric); v && v->boolean()) return *v->boolean();
    }
    return false;
  }

  void write_outputs() {
    std::vector<std::string> columns;
    for (const auto& p : points_)
      for (const auto& [k, v] : p.results.members())
        if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
    const std::string prim = primary();
    const bool higher = !prim.empty() && higher_is_better(prim);

    Json sweep = Json::object();
    sweep["name"] = name_;
    Json keys = Json::array();
    for (const auto& a : axes_) keys.push_back(a.key);
    sweep["keys"] = keys;
    sweep["primary"] = prim;
    sweep["higher_is_better"] = higher;
    Json cols = Json::array();
    for (const auto& c : columns) cols.push_back(c);
    sweep["columns"] = cols;
    Json points = Json::array();
    for (const auto& p : points_) {
      Json j = Json::object();
      j["id"] = p.id;
      j["dir"] = p.id;
      Json values = Json::object();
      for (std::size_t i = 0; i < axes_.size(); ++i) values[axes_[i].key] = axes_[i].values[p.at[i]];
      j["values"] = values;
      j["status"] = p.status == "running" ? "pending" : p.status;
      if (!p.message.empty()) j["message"] = p.message;
      j["results"] = p.results;
      points.push_back(j);
    }
    sweep["points"] = points;
    write_file_atomically(dir_ / "sweep.json", sweep.dump(2) + "\n");

    // results.csv: every value at full precision; results.md: rounded, best in bold.
    std::string csv = "point";
    for (const auto& a : axes_) csv += "," + csv_field(a.key);
    csv += ",status";
    for (const auto& c : columns) csv += "," + csv_field(c);
    csv += "\n";
    std::optional<double> best;
    for (const auto& p : points_)
      if (const Json* v = p.results.find(prim); v && v->is_number() && p.status == "done")
        if (!best || (higher ? v->number() > *best : v->number() < *best)) best = v->number();
    std::string md = "# Sweep " + name_ + "\n\n";
    if (!prim.empty()) md += "Ranked by `" + prim + "` (" + (higher ? "higher" : "lower") + " is better); the best in bold.\n\n";
    md += "|";
    for (const auto& a : axes_) md += " " + a.label + " |";
    md += " status |";
    for (const auto& c : columns) md += " " + c + " |";
    md += "\n|";
    for (std::size_t i = 0; i < axes_.size() + 1; ++i) md += "---|";
    for (std::size_t i = 0; i < columns.size(); ++i) md += "---:|";
    md += "\n";
    for (const auto& p : points_) {
      csv += csv_field(p.id);
      md += "|";
      for (std::size_t i = 0; i < axes_.size(); ++i) {
        csv += "," + csv_field(axes_[i].values[p.at[i]]);
        md += " " + axes_[i].values[p.at[i]] + " |";
      }
      std::string status = p.status == "running" ? "pending" : p.status;
      csv += "," + status;
      md += " " + status + " |";
      for (const auto& c : columns) {
        const Json* v = p.results.find(c);
        bool has = v && v->is_number();
        if (has) {
          csv += "," + Json(v->number()).dump();  // the shortest text that reads back exactly
        } else {
          csv += ",";
        }
        std::string cell = has ? number_text(v->number()) : "";
        if (has && c == prim && best && v->number() == *best && p.status == "done") cell = "**" + cell + "**";
        md += " " + cell + " |";
      }
      csv += "\n";
      md += "\n";
    }
    write_file_atomically(dir_ / "results.csv", csv);
    write_file_atomically(dir_ / "results.md", md);
  }

  const Registry& registry_;
  SweepOptions options_;
  std::string name_;
  std::filesystem::path dir_;
  std::vector<SweepAxis> axes_;
  std::vector<Point> points_;
  std::string primary_;
  int at_once_ = 1, threads_each_ = 1;
};

}  // namespace

std::filesystem::path run_sweep(const Registry& registry, const SweepOptions& options) {
  Sweep sweep(registry, options);
  return sweep.run();
}

}  // namespace loom
