// Research commands: loom scaling (IsoFLOP fits over the runs of a sweep folder,
// loom/scaling.hpp) and loom diagnose (gradients through time of recurrent runs).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "host.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/parallel.hpp"
#include "loom/json.hpp"
#include "loom/report.hpp"
#include "loom/scaling.hpp"
#include "loom/strings.hpp"

namespace host {

namespace {

namespace fs = std::filesystem;

std::vector<double> parse_numbers(const std::string& text, const std::string& option) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size() || !(v > 0)) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw loom::ConfigError("loom scaling: " + option + ": '" + item + "' is not a positive number (e.g. 1e12,2e12)");
    }
  }
  if (out.empty()) throw loom::ConfigError("loom scaling: " + option + " lists no number");
  std::sort(out.begin(), out.end());
  return out;
}

// One run folder: its size and forward FLOPs per token from summary.json, and its `split`
// losses along train_flops from metrics.jsonl (the last line of each epoch: a resumed run
// repeats lines). A folder without both files, or whose summary has no train section yet (a
// run still training), is skipped.
std::optional<loom::scaling::Run> read_run(const fs::path& dir, const std::string& split, bool non_embedding) {
  if (!fs::exists(dir / "summary.json") || !fs::exists(dir / "metrics.jsonl")) return std::nullopt;
  const loom::Json summary = loom::Json::parse(loom::read_file(dir / "summary.json"), (dir / "summary.json").string());
  const loom::Json* train = summary.find("train");
  const char* count = non_embedding ? "parameters_non_embedding" : "parameters";
  if (train == nullptr) {  // a run still training (or stopped before its train stage ended)
    std::cerr << "loom scaling: skipped " << dir.string() << ": its training has not finished (no train section in summary.json)\n";
    return std::nullopt;
  }
  if (train->find(count) == nullptr || train->find("forward_flops_per_token") == nullptr)
    throw loom::InputError((dir / "summary.json").string() + ": no train." + count +
                           " or train.forward_flops_per_token (the model must count its FLOPs: CountsFlops)");
  loom::scaling::Run run;
  run.name = dir.filename().string();
  run.parameters = train->find(count)->number();
  run.flops_per_token = train->find("forward_flops_per_token")->number();
  std::map<double, double> by_flops;
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const loom::Json j = loom::Json::parse(line, (dir / "metrics.jsonl").string() + ":" + std::to_string(number));
    const loom::Json* s = j.find("split");
    const loom::Json* f = j.find("train_flops");
    const loom::Json* l = j.find("loss");
    if (s == nullptr || s->string() == nullptr || *s->string() != split || f == nullptr || l == nullptr) continue;
    if (f->number() > 0 && std::isfinite(l->number())) by_flops[f->number()] = l->number();
  }
  if (by_flops.empty())
    throw loom::InputError((dir / "metrics.jsonl").string() + ": no '" + split + "' line with train_flops and loss");
  for (const auto& [flops, loss] : by_flops) {
    run.flops.push_back(flops);
    run.loss.push_back(loss);
  }
  return run;
}

std::string g(double v) { return loom::format_number("%.4g", v); }

}  // namespace

int scaling_command(const std::vector<std::string>& args) {
  po::options_description desc("loom scaling DIR --budgets C1,C2,... [options]");
  desc.add_options()("help,h", "show this help")("dir", po::value<std::string>(), "a sweep folder (or a folder of run folders)")(
      "budgets", po::value<std::string>(), "compute budgets in training FLOPs, comma-separated (e.g. 8e10,1.6e11,3.2e11)")(
      "predict", po::value<std::string>(), "budgets to extrapolate N* and D* to (e.g. 1e15)")(
      "window", po::value<double>()->default_value(0.0), "fit each budget's quadratic over the runs within this many decades of parameters of its best run (0: all)")(
      "split", po::value<std::string>()->default_value("valid"), "the metrics.jsonl split whose loss is fitted")(
      "non-embedding", "count parameters without the embedding tables (Kaplan et al.) instead of all (Hoffmann et al.)")(
      "out", po::value<std::string>(), "where to write scaling.csv, scaling.md, scaling.json and report.html (default: DIR/scaling)");
  po::positional_options_description pos;
  pos.add("dir", 1);
  if (wants_help(args)) {
    std::cout << desc << "\n"
              << "For each budget C: each run's loss at C (linear in log10 FLOPs along its validation curve),\n"
                 "a quadratic of loss against log10 parameters, its minimum N*(C); then log10 N* = a log10 C + b,\n"
                 "and the same for the tokens D*(C) = C / (3 forward FLOPs per token of N*).\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (!vm.count("dir")) throw loom::ConfigError("loom scaling: missing DIR (see --help)");
  if (!vm.count("budgets")) throw loom::ConfigError("loom scaling: missing --budgets (see --help)");
  const fs::path dir = vm["dir"].as<std::string>();
  if (!fs::is_directory(dir)) throw loom::InputError("loom scaling: '" + dir.string() + "' is not a folder");
  const auto budgets = parse_numbers(vm["budgets"].as<std::string>(), "--budgets");
  const auto predict = vm.count("predict") ? parse_numbers(vm["predict"].as<std::string>(), "--predict") : std::vector<double>{};
  std::vector<loom::scaling::Run> runs;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs)
    if (auto r = read_run(d, vm["split"].as<std::string>(), vm.count("non-embedding") > 0)) runs.push_back(std::move(*r));
  if (runs.size() < 3)
    throw loom::InputError("loom scaling: " + dir.string() + " holds " + std::to_string(runs.size()) +
                           " finished runs (folders with summary.json and metrics.jsonl); a fit needs 3 or more sizes");
  const loom::scaling::Fit fit = loom::scaling::fit(runs, budgets, vm["window"].as<double>());

  const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>()) : dir / "scaling";
  fs::create_directories(out);
  std::string csv = "budget_flops,run,parameters,loss\n";
  for (const auto& b : fit.budgets)
    for (std::size_t i = 0; i < b.runs.size(); ++i)
      csv += g(b.flops) + "," + b.runs[i] + "," + g(std::pow(10.0, b.log_params[i])) + "," + loom::format_number("%.6g", b.loss[i]) + "\n";
  loom::write_file_atomically(out / "scaling.csv", csv);
  std::string md = "| budget (FLOPs) | runs | N* (parameters) | D* (tokens) | loss at N* | quadratic R^2 |\n|---:|---:|---:|---:|---:|---:|\n";
  loom::Json json = loom::Json::object();
  loom::Json jb = loom::Json::array();
  for (const auto& b : fit.budgets) {
    md += "| " + g(b.flops) + " | " + std::to_string(b.runs.size()) + " | " +
          (b.usable ? g(b.params_opt) + " | " + g(b.tokens_opt) + " | " + loom::format_number("%.4f", b.loss_opt) + " | " +
                          loom::format_number("%.4f", b.fit.r2)
                    : "not used: " + b.why_not + " | | |") +
          " |\n";
    loom::Json e = loom::Json::object();
    e["flops"] = b.flops;
    e["runs"] = static_cast<std::int64_t>(b.runs.size());
    e["usable"] = b.usable;
    if (b.usable) {
      e["params_opt"] = b.params_opt;
      e["tokens_opt"] = b.tokens_opt;
      e["loss_opt"] = b.loss_opt;
      e["quadratic"] = loom::Json::array();
      for (double c : {b.fit.a, b.fit.b, b.fit.c}) e["quadratic"].push_back(c);
      e["r2"] = b.fit.r2;
    } else {
      e["why_not"] = b.why_not;
    }
    jb.push_back(e);
  }
  json["budgets"] = jb;
  auto line = [&](const char* name, const loom::scaling::Line& l) {
    loom::Json j = loom::Json::object();
    j["slope"] = l.slope;
    j["intercept"] = l.intercept;
    j["r2"] = l.r2;
    json[name] = j;
    return std::string("log10 ") + (name[0] == 'p' ? "N*" : "D*") + " = " + loom::format_number("%.4f", l.slope) +
           " log10 C " + (l.intercept < 0 ? "- " : "+ ") + loom::format_number("%.4f", std::fabs(l.intercept)) +
           " (R^2 " + loom::format_number("%.4f", l.r2) + ")";
  };
  md += "\n" + line("params_line", fit.params_line) + "\n\n" + line("tokens_line", fit.tokens_line) + "\n";
  loom::Json jp = loom::Json::array();
  for (double C : predict) {
    md += "\nat " + g(C) + " FLOPs: N* " + g(fit.predict_params(C)) + " parameters, D* " + g(fit.predict_tokens(C)) + " tokens\n";
    loom::Json p = loom::Json::object();
    p["flops"] = C;
    p["params_opt"] = fit.predict_params(C);
    p["tokens_opt"] = fit.predict_tokens(C);
    jp.push_back(p);
  }
  json["predictions"] = jp;
  loom::write_file_atomically(out / "scaling.md", md);
  loom::write_file_atomically(out / "scaling.json", json.dump(1) + "\n");
  loom::write_scaling_report(out, dir.string(), fit, predict);
  std::cout << md << "\n(" << std::to_string(runs.size()) << " runs; " << (out / "scaling.csv").string()
            << ", scaling.md, scaling.json, report.html: IsoFLOP curves, N* and D* against C)\n";
  return 0;
}

int diagnose_command(const std::vector<std::string>& args, const Global& global, const char* argv0) {
  po::options_description desc("loom diagnose --run DIR [--run DIR2]... [options]");
  desc.add_options()("help,h", "show this help")(
      "run", po::value<std::vector<std::string>>()->composing(), "a trained recurrent run (give several to compare cells)")(
      "split", po::value<std::string>()->default_value("valid"), "the split the windows are cut from")(
      "steps", po::value<std::int64_t>()->default_value(0), "tokens per window (0: the data's bptt)")(
      "windows", po::value<std::int64_t>()->default_value(4), "windows averaged")(
      "out", po::value<std::string>(), "where to write gradients.csv and report.html (default: the first run's diagnose/)")(
      "threads", po::value<int>(), "worker threads")("plugin-path", po::value<std::vector<std::string>>()->composing(),
                                                    "another folder of plugins");
  po::positional_options_description pos;
  if (wants_help(args)) {
    std::cout << desc << "\n"
              << "For each run: ||d loss_T / d h_t|| for every step t of a window, the loss that of its last\n"
                 "step and h_t the top recurrent layer's state: the vanishing (or exploding) gradient through time.\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (!vm.count("run")) throw loom::ConfigError("loom diagnose: missing --run DIR (see --help)");
  Global g = with_command_options(global, vm);
  loom::set_threads(g.threads ? *g.threads : loom::hardware_threads());
  loom::Registry registry;
  load_plugins(registry, g, argv0);
  const auto dirs = vm["run"].as<std::vector<std::string>>();
  std::vector<loom::GradientThroughTime> results;
  for (const auto& d : dirs)
    results.push_back(loom::gradient_through_time(registry, d, vm["split"].as<std::string>(),
                                                  vm["steps"].as<std::int64_t>(), vm["windows"].as<std::int64_t>()));
  const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>()) : fs::path(dirs.front()) / "diagnose";
  fs::create_directories(out);
  std::string csv = "run,cell,steps_back,grad_norm\n";
  for (const auto& r : results)
    for (std::size_t k = 0; k < r.norms.size(); ++k)
      csv += r.run + "," + r.cell + "," + std::to_string(k) + "," + loom::format_number("%.6g", r.norms[k]) + "\n";
  loom::write_file_atomically(out / "gradients.csv", csv);
  const fs::path page = loom::write_gradient_report(out, results);
  for (const auto& r : results)
    std::cout << r.run << " (" << r.cell << "): " << r.steps << " steps, " << r.windows << " windows; ||d loss_T / d h_t|| "
              << loom::format_number("%.4g", r.norms.front()) << " at the last step, "
              << loom::format_number("%.4g", r.norms.back()) << " " << (r.steps - 1) << " steps back (x"
              << loom::format_number("%.4f", loom::gradient_decay_per_step(r)) << " per step)\n";
  std::cout << "-> " << (out / "gradients.csv").string() << ", " << page.string() << "\n";
  return 0;
}

}  // namespace host
