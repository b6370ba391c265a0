#pragma once
// A model's `init_from`: start from a trained run's parameters where names match.
//
//   model: { plugin: transformer_classifier, ...,
//            init_from: { run: runs/gpt_imdb, checkpoint: best, include: ["layers.*"],
//                         exclude: ["decoder.*"], rename: { "lm.": "" } } }
//
// Every parameter of the checkpoint's "parameters" section is renamed first (each rename
// entry replaces a leading `from` of the checkpoint's name by `to`; the first that applies
// wins), then offered to the model under the new name: it is loaded when the model has a
// parameter of that name, the name passes include (globs; default: every name) and exclude,
// and the shapes agree. Shapes that disagree are an error naming every such parameter with
// both shapes; so is a run that gives the model nothing. What was loaded, renamed, left at its
// initialisation and not used is said, one line each. Applied when a run starts (not when it
// resumes, nor when a finished run is opened for inference: its own checkpoints hold the
// parameters then).
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "loom/config.hpp"
#include "loom/parameters.hpp"

namespace loom {

struct InitFrom {
  std::filesystem::path run;
  std::string checkpoint = "best";  // best | last
  std::vector<std::string> include, exclude;
  std::vector<std::pair<std::string, std::string>> rename;
  SourceLocation where;

  // <run>/checkpoints/<checkpoint>.ckpt
  std::filesystem::path checkpoint_path() const { return run / "checkpoints" / (checkpoint + ".ckpt"); }

  // The setting as written; appends "file:line:col: ..." errors for what cannot work.
  static InitFrom parse(const ConfigNode& node, const std::string& component, std::vector<std::string>& errors);
};

struct InitReport {
  std::vector<std::string> loaded;                             // model names
  std::vector<std::pair<std::string, std::string>> renamed;    // checkpoint name -> model name
  std::vector<std::string> initialised;                        // model names left as they were
  std::vector<std::string> unused;                             // checkpoint names not loaded
  // One line per non-empty list, for the run's log.
  std::vector<std::string> lines(const std::string& component, const InitFrom& from) const;
};

// Loads what `from` selects into `params`. ConfigError (at the setting's location) for a
// missing run or checkpoint, shapes that disagree, or nothing loaded; InputError for a
// damaged checkpoint.
InitReport apply_init_from(const InitFrom& from, Parameters& params);

}  // namespace loom
