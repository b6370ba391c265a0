#pragma once
// What the files of the loom command line share: the global options, loading plugins,
// parsing a command's options, and the commands defined outside main.cpp.
#include <boost/program_options.hpp>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "loom/registry.hpp"

namespace host {

namespace po = boost::program_options;

// --threads and --plugin-path, before the command or among its options.
struct Global {
  std::optional<int> threads;
  std::vector<std::string> plugin_paths;
};

// The plugin folders beside the executable, then --plugin-path ones.
void load_plugins(loom::Registry& registry, const Global& global, const char* argv0);
// The global options, with a command's own --threads and --plugin-path added.
Global with_command_options(const Global& global, const po::variables_map& vm);
bool wants_help(const std::vector<std::string>& args);
po::variables_map parse_command(const std::vector<std::string>& args, po::options_description& desc,
                                 po::positional_options_description& pos);
// A text file to read line by line; a folder, or a file that cannot be opened, is an
// InputError naming it (an ifstream opens a folder and reads nothing from it).
std::ifstream open_text_file(const std::string& file);

// infer_commands.cpp: generate, score, evaluate, predict, attention, export, translate; bleu.
int inference_command(const std::string& command, const std::vector<std::string>& args, const Global& global,
                      const char* argv0);
int bleu_command(const std::vector<std::string>& args, const Global& global);
// research_commands.cpp
int scaling_command(const std::vector<std::string>& args);
int diagnose_command(const std::vector<std::string>& args, const Global& global, const char* argv0);

}  // namespace host
