#pragma once
// What guards a run folder (or a sweep folder) before anything is written into it: a lock
// that keeps a second process out, the check that a new run does not silently replace an
// earlier one, and the clean-up of what killed processes left behind.
#include <filesystem>
#include <string>

namespace loom {

// An advisory lock on a folder: the file `.lock` in it, locked with flock(2) and holding the
// pid and command line of its holder. The kernel releases it when the process ends, however it
// ends, so a killed run never leaves its folder locked.
class FolderLock {
 public:
  // Creates `dir` if needed and takes its lock. InputError when the folder cannot be made, or
  // when another process holds the lock (naming that process and its command).
  explicit FolderLock(const std::filesystem::path& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// What a folder holds from an earlier run.
struct EarlierRun {
  bool exists = false;          // a config.yaml, manifest.json or checkpoint is there
  bool has_checkpoint = false;  // checkpoints/last.ckpt: something a resume can continue
  std::string status;           // the manifest's: "finished", "interrupted", "running", "failed: ..."
  std::string pipeline;         // the name in its config.yaml

  // Worth keeping: a new run replaces it only when asked to (--overwrite). A run that saved
  // no checkpoint and did not finish left nothing to continue.
  bool worth_keeping() const { return has_checkpoint || status == "finished"; }
  // "a finished run of pipeline 'x'", "a run that was killed ... that saved no checkpoint"
  std::string describe() const;
};
EarlierRun earlier_run(const std::filesystem::path& dir);

// Removes what an earlier run wrote in `dir` (its checkpoints, config, metrics, summary,
// manifest, report, vocabularies and labels), for `loom run --overwrite`; other files stay.
void clear_run_files(const std::filesystem::path& dir);

}  // namespace loom
