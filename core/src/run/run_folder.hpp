#pragma once
// A run folder: what guards it before anything is written (a lock that keeps a second process
// out, the check that a new run does not silently replace an earlier one) and the files a run
// writes into it (config.yaml, metrics.jsonl, summary.json, manifest.json).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "loom/json.hpp"

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

// The files of one run. While a resumed run is still being checked (its checkpoint read,
// compared and restored) every write waits (defer_writes, then commit), so a resume that is
// refused leaves the folder as it was.
class RunFolder {
 public:
  RunFolder(std::filesystem::path dir, bool quiet);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  bool quiet() const { return quiet_; }
  std::filesystem::path checkpoints() const { return dir_ / "checkpoints"; }
  // A progress line on stdout, unless quiet.
  void say(const std::string& line) const;
  // "; continue with: loom resume DIR", or why there is nothing to resume yet.
  std::string resume_hint() const;

  // Writes wait from here until commit().
  void defer_writes() { deferring_ = true; }
  bool deferring() const { return deferring_; }
  void write_later(std::function<void()> write);
  // Writes `bytes` atomically to `path` (now, or at commit).
  void write_file(const std::filesystem::path& path, std::string bytes);
  // Nothing can refuse the resume any more: the waiting writes happen, in order.
  void commit();

  // metrics.jsonl: started empty, or continued from the `keep_bytes` a checkpoint recorded
  // (the lines after it are written again). One JSON object per line.
  void start_metrics();
  void continue_metrics(std::uint64_t keep_bytes);
  void write_metrics_line(const Json& line);
  std::uint64_t metrics_bytes() const { return metrics_bytes_; }

  // summary.json.
  Json& summary() { return summary_; }
  const Json& summary() const { return summary_; }
  void write_summary();

  // config.yaml: the resolved pipeline, written when the run starts (a resumed run: with its
  // first checkpoint, so that the file always describes what the checkpoints continue).
  void set_config_text(std::string yaml) { config_text_ = std::move(yaml); }
  const std::string& config_text() const { return config_text_; }
  void write_config();
  bool config_written() const { return config_written_; }

  // manifest.json: `manifest` when the run starts (a resumed run keeps the earlier attempts
  // under "previous"), and its status when it ends ("finished", "interrupted", "failed: ...").
  // Never written for a resume refused before commit().
  void start_manifest(Json manifest, bool resumed);
  void end_manifest(const std::string& status);

 private:
  std::filesystem::path dir_;
  bool quiet_;
  bool deferring_ = false;
  std::vector<std::function<void()>> deferred_;
  std::FILE* metrics_ = nullptr;
  std::uint64_t metrics_bytes_ = 0;
  Json summary_ = Json::object();
  std::string config_text_;
  bool config_written_ = false;
  Json manifest_;
};

}  // namespace loom
