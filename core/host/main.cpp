// The loom command line: one table of commands (name, arguments, one line of help, whether it
// computes, and the function that runs it) that help, dispatch and did-you-mean all read. The
// work is in libloom_core. Exit codes: 0 success, 2 bad input (configuration, data,
// arguments, what does not fit the machine, a diverged training), 1 internal or runtime
// failure, 130/143 after SIGINT/SIGTERM; one line per problem on stderr.
#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <optional>
#include <set>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "loom/blas.hpp"
#include "loom/dist.hpp"
#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/infer.hpp"
#include "loom/interrupt.hpp"
#include "loom/manifest.hpp"
#include "loom/parallel.hpp"
#include "loom/pipeline.hpp"
#include "loom/registry.hpp"
#include "loom/report.hpp"
#include "loom/sweep.hpp"
#include "host.hpp"

namespace po = boost::program_options;

namespace {

// OpenBLAS chooses its kernels when it loads, before main runs, from OPENBLAS_CORETYPE or
// its own CPU detection. Both can land on a weaker kernel set than the CPU has: environments
// that export OPENBLAS_CORETYPE=Haswell, or a CPU newer than the OpenBLAS release, which then
// falls back to generic kernels. Either way every matrix product runs at a fraction of the
// possible speed, so restart once with the best core type for this CPU, unless asked not to.
void maybe_reexec_for_blas(int argc, char** argv) {
  if (std::getenv("LOOM_BLAS_REEXEC") != nullptr) return;
  const char* keep = std::getenv("LOOM_KEEP_BLAS_CORETYPE");
  if (keep != nullptr && std::strcmp(keep, "0") != 0) return;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--keep-blas-coretype") == 0) return;
  std::string current = loom::openblas_core();
  std::string best = loom::best_openblas_coretype();
  if (!loom::coretype_is_weaker(current, best)) return;
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  // Every rank of an MPI job restarts; rank 0 says so.
  if (loom::dist::launcher_rank() == 0)
    std::fprintf(stderr,
                 "loom: OpenBLAS chose %s kernels (OPENBLAS_CORETYPE %s) but this CPU supports %s; "
                 "restarting with OPENBLAS_CORETYPE=%s (keep the choice with --keep-blas-coretype "
                 "or LOOM_KEEP_BLAS_CORETYPE=1)\n",
                 current.c_str(), env ? (std::string("=") + env).c_str() : "unset", best.c_str(),
                 best.c_str());
  std::fflush(stderr);
  ::setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  ::setenv("LOOM_BLAS_REEXEC", "1", 1);
  ::execv("/proc/self/exe", argv);
  // If exec fails we simply carry on with the kernels we have.
  std::fprintf(stderr, "loom: restart failed (%s); continuing with %s kernels\n",
               std::strerror(errno), current.c_str());
}

}  // namespace

namespace host {

void load_plugins(loom::Registry& registry, const Global& global, const char* argv0) {
  std::string self = "/proc/self/exe";
  std::error_code ec;
  auto exe = std::filesystem::read_symlink(self, ec);
  for (const auto& dir : loom::default_plugin_dirs(ec ? std::filesystem::path(argv0) : exe))
    registry.load_directory(dir);
  for (const auto& dir : global.plugin_paths) registry.load_directory(dir, true);
}

// The global options, with a command's own --threads and --plugin-path added.
Global with_command_options(const Global& global, const po::variables_map& vm) {
  Global g = global;
  if (vm.count("threads")) g.threads = vm["threads"].as<int>();
  if (vm.count("plugin-path"))
    for (const auto& p : vm["plugin-path"].as<std::vector<std::string>>()) g.plugin_paths.push_back(p);
  return g;
}

bool wants_help(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") return true;
  return false;
}

po::variables_map parse_command(const std::vector<std::string>& args, po::options_description& desc,
                                 po::positional_options_description& pos) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

}  // namespace host

namespace {

using namespace host;

// What must be the same on every rank of a data-parallel run: the pipeline as resolved (after
// --set and vars), loom's commit, and each plugin the pipeline uses (name, version, ABI, and
// the SHA-256 of its file); other plugins a machine has installed do not matter.
void require_same_on_every_rank(const loom::Pipeline& pipeline, const loom::Registry& registry) {
  loom::dist::require_same(pipeline.config().to_yaml(), "the pipeline (after --set and vars)");
  std::set<std::string> used;
  if (const loom::ConfigNode* components = pipeline.config().find("components"))
    for (const auto& [id, c] : components->entries())
      if (const loom::ConfigNode* plugin = c.find("plugin")) used.insert(plugin->str());
  std::string plugins = "loom " + loom::loom_commit() + "\n";
  loom::Json manifest = loom::run_manifest(registry, {});
  for (const auto& p : manifest["plugins"].items()) {
    const loom::Json* name = p.find("name");
    if (name == nullptr || name->string() == nullptr || used.count(*name->string()) == 0) continue;
    for (const char* key : {"name", "version", "abi", "sha256"})
      plugins += (p.find(key) ? p.find(key)->dump() : std::string("?")) + (key[0] == 's' ? "\n" : " ");
  }
  loom::dist::require_same(plugins, "the plugins the pipeline uses (name, version, ABI, SHA-256 of the file)");
}

int run_or_validate_here(const std::string& command, const std::vector<std::string>& args,
                         const Global& global, const char* argv0, const std::vector<std::string>& command_line) {
  po::options_description desc("loom " + command + " FILE [options]");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "pipeline YAML file")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a value: components.model.nhid=400, stages.train.epochs=1, vars.data_dir=DIR")(
      "threads", po::value<int>(), "threads for TBB and OpenBLAS together (default: all cores)")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "another folder of plugins")(
      "keep-blas-coretype", "keep OPENBLAS_CORETYPE even if it names a weaker core than the CPU");
  if (command == "run" || command == "resume") {
    desc.add_options()("distributed", po::value<std::string>(),
                       "mpi: run as a rank of an MPI job even where the launcher is not recognised (mpirun, srun are)");
    desc.add_options()("out", po::value<std::string>(), "run folder (default runs/<name>)")(
        "quiet,q", "no progress output");
  }
  if (command == "run")
    desc.add_options()("resume", "continue the run in the run folder from checkpoints/last.ckpt")(
        "overwrite", "replace an earlier run in the run folder (its checkpoints, metrics and summary)");
  po::positional_options_description pos;
  pos.add("file", 1);
  if (wants_help(args)) {
    std::cout << desc << "\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (vm.count("distributed") && vm["distributed"].as<std::string>() != "mpi")
    throw loom::ConfigError("--distributed: '" + vm["distributed"].as<std::string>() + "' is not a way to distribute (mpi is)");
  const loom::dist::World& world = loom::dist::world();
  if (!vm.count("file"))
    throw loom::ConfigError("loom " + command + ": missing the " + (command == "resume" ? "RUN_DIR" : "pipeline FILE") +
                            " (see --help)");
  std::string file = vm["file"].as<std::string>();
  std::optional<std::string> out;
  if (vm.count("out")) out = vm["out"].as<std::string>();
  bool resume = vm.count("resume") > 0;
  if (command == "resume") {
    // A run folder holds its resolved pipeline; resuming runs it again in the same folder.
    std::filesystem::path dir = file;
    if (!std::filesystem::exists(dir / "config.yaml"))
      throw loom::InputError(dir.string() + ": not a run folder (it has no config.yaml)");
    file = (dir / "config.yaml").string();
    out = dir.string();
    resume = true;
  }
  // The other ranks may not see rank 0's run folder: they resume the pipeline rank 0 reads.
  std::optional<loom::ScratchFolder> pipeline_copy;
  if (command == "resume" && world.size > 1) {
    std::string text;
    loom::dist::together([&] {
      if (world.rank == 0) text = loom::read_file(file, "pipeline");
    });
    loom::dist::broadcast(text);
    if (world.rank != 0) {
      pipeline_copy.emplace();
      file = (pipeline_copy->path() / "config.yaml").string();
      loom::write_file_atomically(file, text);
    }
  }
  Global g = with_command_options(global, vm);
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();

  loom::Registry registry;
  load_plugins(registry, g, argv0);
  auto pipeline = loom::Pipeline::load(file, overrides);
  pipeline.validate(registry);
  if (world.size > 1) require_same_on_every_rank(pipeline, registry);
  if (pipeline.config().find("sweep") != nullptr && command != "resume" && world.rank == 0)
    std::fprintf(stderr, "note: %s has a sweep: section; this %s uses the base values (loom sweep runs the grid)\n",
                 file.c_str(), command.c_str());
  if (command == "validate") {
    const auto problems = pipeline.check_components(registry);
    if (!problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p;
      throw loom::ConfigError(all);
    }
    std::cout << file << ": ok\n";
    return 0;
  }
  // The ranks on one machine share its cores.
  int threads = g.threads ? *g.threads
                          : pipeline.threads().value_or(world.size > 1 ? std::max(1, loom::hardware_threads() / loom::dist::launcher_local_size())
                                                                       : loom::hardware_threads());
  if (threads < 1 || threads > 4096) throw loom::ConfigError("--threads must be between 1 and 4096");
  loom::set_threads(threads);
  loom::RunOptions options;
  if (out) options.out_dir = *out;
  options.quiet = vm.count("quiet") > 0 || world.rank != 0;
  options.resume = resume;
  options.overwrite = vm.count("overwrite") > 0;
  if (options.resume && options.overwrite) throw loom::ConfigError("loom run: --resume and --overwrite exclude each other");
  options.command = command_line;
  loom::install_interrupt_handlers();
  if (!options.quiet)
    std::printf("loom: pipeline '%s' | %d threads%s | OpenBLAS %s kernels\n", pipeline.name().c_str(), threads,
                world.size > 1 ? (" per rank x " + std::to_string(world.size) + " ranks").c_str() : "",
                loom::openblas_core().c_str());
  pipeline.run(registry, options);
  return 0;
}

// loom run, resume and validate. Under an MPI launcher (or --distributed mpi) every rank of the
// job runs this; an error on any rank stops every rank, and rank 0 reports it.
int run_or_validate(const std::string& command, const std::vector<std::string>& args, const Global& global,
                    const char* argv0, const std::vector<std::string>& command_line) {
  bool force = false;
  for (std::size_t i = 0; i < args.size(); ++i)
    force = force || args[i] == "--distributed=mpi" || (args[i] == "--distributed" && i + 1 < args.size() && args[i + 1] == "mpi");
  if (command != "validate" && (force || loom::dist::launched_by_mpi())) loom::dist::init(force);
  int rc = 0;
  loom::dist::together([&] {
    try {
      rc = run_or_validate_here(command, args, global, argv0, command_line);
    } catch (const po::error& e) {
      throw loom::ConfigError(std::string("loom: ") + e.what() + " (see --help)");
    }
  });
  return rc;
}

int plugins_command(const std::vector<std::string>& args, const Global& global, const char* argv0) {
  po::options_description desc("loom plugins [NAME]");
  desc.add_options()("help,h", "show this help")("name", po::value<std::string>(), "a plugin's name")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "another folder of plugins");
  po::positional_options_description pos;
  pos.add("name", 1);
  if (wants_help(args)) {
    std::cout << desc << "\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  Global g = with_command_options(global, vm);
  loom::Registry registry;
  load_plugins(registry, g, argv0);
  if (vm.count("name")) {
    std::string name = vm["name"].as<std::string>();
    const loom::LoadedPlugin* p = registry.find(name);
    if (p == nullptr) {
      auto hint = loom::did_you_mean(name, registry.names());
      throw loom::ConfigError("no plugin named '" + name + "'" + (hint ? " (did you mean '" + *hint + "'?)" : ""));
    }
    const auto& d = *p->descriptor;
    std::printf("%s (%s, version %s)\n  %s\n  file: %s\n\nparameters:\n", d.name.c_str(), loom::kind_noun(d.kind),
                d.version.c_str(), d.doc.c_str(), p->file.c_str());
    for (const auto& s : d.params) {
      std::string type = loom::param_type_name(s.type);
      if (s.type == loom::ParamType::kComponent && !s.choices.empty()) type = "@" + s.choices[0];
      std::string def = s.default_value ? (s.default_value->empty() ? "(none)" : *s.default_value) : "(required)";
      std::printf("  %-18s %-12s %-12s %s", s.name.c_str(), type.c_str(), def.c_str(), s.doc.c_str());
      if (s.type == loom::ParamType::kString && !s.choices.empty()) {
        std::string c;
        for (const auto& x : s.choices) c += (c.empty() ? "" : " | ") + x;
        std::printf(" [%s]", c.c_str());
      }
      std::printf("\n");
    }
    if (!d.flops.empty())
      std::printf("\nforward FLOPs (2 per multiply-accumulate; training adds a backward of twice the forward):\n  %s\n",
                  d.flops.c_str());
    return 0;
  }
  std::printf("plugin folders searched:\n");
  for (const auto& d : registry.searched()) std::printf("  %s\n", d.c_str());
  std::printf("\n%-12s %-14s %-8s %s\n", "kind", "name", "version", "description");
  for (const auto& p : registry.plugins())
    std::printf("%-12s %-14s %-8s %s\n", loom::kind_folder(p.descriptor->kind), p.descriptor->name.c_str(),
                p.descriptor->version.c_str(), p.descriptor->doc.c_str());
  return 0;
}

int sweep_command(const std::vector<std::string>& args, const Global& global, const char* argv0) {
  po::options_description desc("loom sweep FILE [options]");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "pipeline YAML file")(
      "grid", po::value<std::vector<std::string>>()->composing(),
      "sweep a key over values: components.model.nhid=200,400 (adds to or replaces sweep.grid)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a value in every point")(
      "out", po::value<std::string>(), "sweep folder (default runs/<name>)")(
      "parallel", po::value<int>(), "points run at once (default: sweep.parallel, else 1)")(
      "threads", po::value<int>(), "threads in all, shared out between the points run at once")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "another folder of plugins")(
      "quiet,q", "no progress output");
  po::positional_options_description pos;
  pos.add("file", 1);
  if (wants_help(args)) {
    std::cout << desc << "\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (!vm.count("file")) throw loom::ConfigError("loom sweep: missing the pipeline FILE (see --help)");
  Global g = with_command_options(global, vm);
  loom::Registry registry;
  load_plugins(registry, g, argv0);
  loom::SweepOptions o;
  o.pipeline = vm["file"].as<std::string>();
  if (vm.count("set")) o.overrides = vm["set"].as<std::vector<std::string>>();
  if (vm.count("grid")) o.grid = vm["grid"].as<std::vector<std::string>>();
  if (vm.count("out")) o.out_dir = vm["out"].as<std::string>();
  if (vm.count("parallel")) o.parallel = vm["parallel"].as<int>();
  auto base = loom::Pipeline::load(o.pipeline, o.overrides);
  o.threads = g.threads ? *g.threads : base.threads().value_or(loom::hardware_threads());
  if (o.threads < 1) throw loom::ConfigError("--threads must be at least 1");
  std::error_code ec;
  o.loom_executable = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) o.loom_executable = argv0;
  o.plugin_paths = g.plugin_paths;
  o.quiet = vm.count("quiet") > 0;
  loom::install_interrupt_handlers();
  loom::run_sweep(registry, o);
  return 0;
}

int report_command(const std::vector<std::string>& args) {
  po::options_description desc("loom report DIR");
  desc.add_options()("help,h", "show this help")("dir", po::value<std::string>(), "a run folder or a sweep folder");
  po::positional_options_description pos;
  pos.add("dir", 1);
  if (wants_help(args)) {
    std::cout << desc << "\n";
    return 0;
  }
  auto vm = parse_command(args, desc, pos);
  if (!vm.count("dir")) throw loom::ConfigError("loom report: missing the run or sweep folder DIR (see --help)");
  std::cout << loom::write_report(vm["dir"].as<std::string>()).string() << "\n";
  return 0;
}

// One command line, split: the command, what follows it, and the global options before it.
struct Invocation {
  std::string command;
  std::vector<std::string> args;
  Global global;
  const char* argv0;
  std::vector<std::string> command_line;
};

struct Command {
  std::string name;
  std::string arguments;  // as 'loom --help' shows them
  std::string summary;    // one line
  bool computes;          // trains or runs a model: loom first restarts for the best OpenBLAS kernels
  int (*run)(const Invocation&);
};

// The commands: help, dispatch and did-you-mean read this table, and a new command is a row.
const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"run", "FILE [--set key=value]... [--out DIR] [--resume | --overwrite]", "train and evaluate as the pipeline says",
       true, [](const Invocation& i) { return run_or_validate(i.command, i.args, i.global, i.argv0, i.command_line); }},
      {"resume", "RUN_DIR [--set key=value]...", "continue a stopped run from its last checkpoint", true,
       [](const Invocation& i) { return run_or_validate(i.command, i.args, i.global, i.argv0, i.command_line); }},
      {"validate", "FILE [--set key=value]...", "check a pipeline without running it", false,
       [](const Invocation& i) { return run_or_validate(i.command, i.args, i.global, i.argv0, i.command_line); }},
      {"plugins", "[NAME]", "list plugins, or one plugin's parameters", false,
       [](const Invocation& i) { return plugins_command(i.args, i.global, i.argv0); }},
      {"sweep", "FILE [--grid key=v1,v2]... [--set key=value]... [--out DIR] [--parallel N]",
       "run the pipeline once per point of a grid", true,
       [](const Invocation& i) { return sweep_command(i.args, i.global, i.argv0); }},
      {"report", "DIR", "write DIR/report.html for a run or sweep folder", false,
       [](const Invocation& i) { return report_command(i.args); }},
      {"generate", "--run DIR [--words N] [--temperature T] [--top-k K] [--seed S]", "sample text from a trained language model",
       true, [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
      {"score", "--run DIR [FILE] [--tokens]", "per-line and total perplexity of text (stdin without FILE)", true,
       [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
      {"evaluate", "--run DIR [--split S] [--file F] [--set key=value]... [--sweep key=v1,v2,...]", "scores of a trained model on a split, or on another file", true,
       [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
      {"attention", "--run DIR [--out DIR] TEXT", "attention weights of every layer and head for a text, as heatmaps",
       true, [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
      {"export", "--run DIR --out FILE.safetensors [--checkpoint best|last]",
       "the model's parameters for PyTorch, under the names of the module it mirrors", false,
       [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
      {"bleu", "--ref REF [--ref REF2]... [--sacrebleu] [--json] < HYP",
       "corpus BLEU of hypotheses against references (textbook, or sacreBLEU's)", false,
       [](const Invocation& i) { return bleu_command(i.args, i.global); }},
      {"scaling", "DIR --budgets C1,C2,... [--predict C] [--window W]",
       "IsoFLOP scaling-law fits over the runs of a sweep: N* and D* against compute", false,
       [](const Invocation& i) { return scaling_command(i.args); }},
      {"diagnose", "--run DIR [--run DIR2]... [--steps T] [--split S]",
       "gradients through time of recurrent runs: ||d loss_T / d h_t|| for every step of a window", true,
       [](const Invocation& i) { return diagnose_command(i.args, i.global, i.argv0); }},
      {"translate", "--run DIR [FILE] [--beam K] [--nbest N] [--attention OUT.html]",
       "translate sentences (stdin without FILE) with a trained translation model", true,
       [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
      {"predict", "--run DIR [TEXT]... [--file F]",
       "a classifier's label and probability per text (stdin lines without TEXT)", true,
       [](const Invocation& i) { return inference_command(i.command, i.args, i.global, i.argv0); }},
  };
  return table;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

std::string usage() {
  std::string out = "usage: loom [--threads N] [--plugin-path DIR]... COMMAND [ARGS]\n\ncommands:\n";
  constexpr std::size_t kColumn = 46;
  for (const auto& c : commands()) {
    std::string head = "  " + c.name + " " + c.arguments;
    if (head.size() + 1 < kColumn) out += head + std::string(kColumn - head.size(), ' ') + c.summary + "\n";
    else out += head + "\n" + std::string(kColumn, ' ') + c.summary + "\n";
  }
  return out + "\n'loom COMMAND --help' shows a command's options.\n";
}

// The command word of a command line: the first argument that is neither an option nor the
// value of --threads or --plugin-path. "" when there is none.
std::string command_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--threads" || a == "--plugin-path") && i + 1 < argc) {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    return a;
  }
  return "";
}

int dispatch(int argc, char** argv) {
  po::options_description global_desc("global options");
  std::string command;
  global_desc.add_options()("help,h", "show this help")("threads", po::value<int>(), "threads")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "plugin folder")(
      "keep-blas-coretype", "keep OPENBLAS_CORETYPE")("command", po::value<std::string>(&command), "command")(
      "args", po::value<std::vector<std::string>>(), "arguments");
  po::positional_options_description pos;
  pos.add("command", 1).add("args", -1);
  po::variables_map vm;
  auto parsed = po::command_line_parser(argc, argv).options(global_desc).positional(pos).allow_unregistered().run();
  // Everything after the command belongs to the command, options included.
  std::vector<std::string> rest;
  bool seen_command = false;
  po::parsed_options global_only(&global_desc);
  for (const auto& o : parsed.options) {
    if (!seen_command && o.position_key == 0) {
      seen_command = true;
      command = o.value[0];
      continue;
    }
    if (!seen_command && !o.unregistered) {
      global_only.options.push_back(o);
      continue;
    }
    for (const auto& t : o.original_tokens) rest.push_back(t);
  }
  po::store(global_only, vm);
  Global global;
  if (vm.count("threads")) global.threads = vm["threads"].as<int>();
  if (vm.count("plugin-path")) global.plugin_paths = vm["plugin-path"].as<std::vector<std::string>>();
  if (command.empty()) {
    std::cout << usage();
    return vm.count("help") ? 0 : 2;
  }
  if (const Command* c = find_command(command))
    return c->run({command, rest, global, argv[0], std::vector<std::string>(argv, argv + argc)});
  std::vector<std::string> names;
  for (const auto& c : commands()) names.push_back(c.name);
  auto hint = loom::did_you_mean(command, names);
  throw loom::ConfigError("unknown command '" + command + "'" + (hint ? " (did you mean '" + *hint + "'?)" : "") +
                          "; see 'loom --help'");
}

}  // namespace

// Reports an error: one line on stderr, and the exit code. With several ranks, an error every
// rank shares (dist::together) is reported by rank 0 alone; one that this rank has alone is
// reported with its rank and ends the whole job, since the others would wait for it forever.
int fail(int code, const std::string& message) {
  const loom::dist::World& w = loom::dist::world();
  if (w.size > 1 && loom::dist::error_is_shared(message)) {
    if (w.rank == 0) std::fprintf(stderr, "%s\n", message.c_str());
    return code;
  }
  if (w.size > 1) {
    std::fprintf(stderr, "rank %d (%s): %s\n", w.rank, w.host.c_str(), message.c_str());
    std::fflush(stderr);
    loom::dist::abort_all(code);
  }
  std::fprintf(stderr, "%s\n", message.c_str());
  return code;
}

int main(int argc, char** argv) {
  // Only commands that run models need the best kernels; help and listings print no restart line.
  const Command* c = find_command(command_word(argc, argv));
  if (c != nullptr && c->computes) maybe_reexec_for_blas(argc, argv);
  try {
    return dispatch(argc, argv);
  } catch (const loom::ConfigError& e) {
    std::cout.flush();
    return fail(2, e.what());
  } catch (const loom::InputError& e) {
    return fail(2, e.what());
  } catch (const loom::DivergedError& e) {
    return fail(2, e.what());
  } catch (const loom::ResourceError& e) {
    return fail(2, e.what());
  } catch (const std::bad_alloc&) {
    // Large allocations are checked against the memory available before they are made
    // (ResourceError, naming what was being allocated); this is what slipped past them.
    return fail(2, "loom: out of memory (a smaller model, batch or text may fit)");
  } catch (const loom::Interrupted& e) {
    // The shell's convention for a process ended by a signal: 128 + its number.
    return fail(128 + e.signal(), e.what());
  } catch (const po::error& e) {
    return fail(2, std::string("loom: ") + e.what() + " (see --help)");
  } catch (const loom::RuntimeError& e) {
    return fail(1, e.what());
  } catch (const loom::AssertionError& e) {
    return fail(1, e.what());
  } catch (const std::exception& e) {
    return fail(1, std::string("internal error: ") + e.what());
  } catch (...) {
    std::fprintf(stderr, "internal error: an unknown exception\n");
    return 1;
  }
}
