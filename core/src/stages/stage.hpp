#pragma once
// The stages a pipeline can list, as one table: each stage is a file in this folder that
// defines its entry, `Stage <name>_stage()` (name, documentation, parameters, whether a
// resumed run replays it, and what it runs), and one row of the table in stage_table.cpp
// names it. The runner loops over a pipeline's
// stages and calls their entries; a stage that is not in the table cannot be written in a
// pipeline (`loom validate` names the known ones), so none can be skipped silently.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loom/config.hpp"

namespace loom {

class Workspace;
class RunFolder;
class Resume;

// What a stage gets besides its options.
struct StageContext {
  Workspace& workspace;         // the pipeline's components
  RunFolder& folder;            // where its results go
  std::optional<Resume>& resume;  // the checkpoint a resumed run continues from, until the train
                                  // stage it was saved in has restored it
  std::size_t index;            // this stage's position in the pipeline
  // Runs stage `j` of the pipeline (train's on_interrupt: evaluate runs the evaluate stages
  // that follow it).
  std::function<void(std::size_t j)> run_stage;
};

struct Stage {
  std::string name;
  std::string doc;
  std::vector<ParamSpec> params;
  // Run again when a resumed run passes it before the checkpoint's stage (build_vocab, which
  // takes its vocabulary from the checkpoint); otherwise such a stage is skipped as done.
  bool replays_on_resume = false;
  std::function<void(StageContext&, const Params&)> run;
};

// Every stage, in the order `loom validate` lists them.
const std::vector<Stage>& stage_table();
// nullptr when no stage has that name.
const Stage* find_stage(const std::string& name);

}  // namespace loom
