#include "stages/stage.hpp"

namespace loom {

// The stage table: one row per stage, in the order `loom validate` lists them. Row `x` is
// the function `Stage x_stage()` that stages/x.cpp defines; a new stage is a new file and a
// new row.
#define LOOM_STAGE_TABLE(ROW) \
  ROW(build_vocab)            \
  ROW(train)                  \
  ROW(evaluate)               \
  ROW(generate)               \
  ROW(score)                  \
  ROW(predict)                \
  ROW(attention)              \
  ROW(translate)              \
  /* the end of the table */

#define LOOM_DECLARE_STAGE(name) Stage name##_stage();
LOOM_STAGE_TABLE(LOOM_DECLARE_STAGE)
#undef LOOM_DECLARE_STAGE

const std::vector<Stage>& stage_table() {
#define LOOM_STAGE_ENTRY(name) name##_stage(),
  static const std::vector<Stage> table = {LOOM_STAGE_TABLE(LOOM_STAGE_ENTRY)};
#undef LOOM_STAGE_ENTRY
  return table;
}

const Stage* find_stage(const std::string& name) {
  for (const auto& s : stage_table())
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace loom
