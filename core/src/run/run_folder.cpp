#include "run/run_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/json.hpp"
#include "loom/manifest.hpp"

namespace loom {

namespace {

// The file's text, or "" when there is none.
std::string read_small_file(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? read_file(path) : std::string();
}

// This process's command line, with spaces between the arguments.
std::string own_command_line() {
  std::string raw = read_small_file("/proc/self/cmdline");
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw)
    if (c == '\0') c = ' ';
  return raw;
}

}  // namespace

FolderLock::FolderLock(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("cannot create the run folder '" + dir.string() + "': " + ec.message());
  const std::filesystem::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError("cannot lock '" + dir.string() + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw InputError("cannot lock '" + dir.string() + "': " + std::strerror(err));
    std::string holder = read_small_file(path);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    for (char& c : holder)
      if (c == '\n') c = ' ';
    throw InputError("'" + dir.string() + "' is in use by another loom (" +
                     (holder.empty() ? std::string("starting") : holder) +
                     "): wait for it to end, or stop it, then try again");
  }
  const std::string me = "pid " + std::to_string(::getpid()) + ": " + own_command_line() + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    ssize_t written = ::pwrite(fd_, me.data(), me.size(), 0);
    (void)written;  // the holder's name is a courtesy to the next process; the lock is what counts
  }
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  if (::ftruncate(fd_, 0) != 0) {
    // an empty lock file only reads as "starting"; nothing to do
  }
  ::close(fd_);  // releases the lock
}

EarlierRun earlier_run(const std::filesystem::path& dir) {
  EarlierRun r;
  std::error_code ec;
  const bool has_manifest = std::filesystem::exists(dir / "manifest.json", ec);
  const bool has_config = std::filesystem::exists(dir / "config.yaml", ec);
  r.has_checkpoint = std::filesystem::exists(dir / "checkpoints" / "last.ckpt", ec);
  r.exists = has_manifest || has_config || r.has_checkpoint;
  if (!r.exists) return r;
  try {
    Json manifest = Json::parse(read_small_file(dir / "manifest.json"), (dir / "manifest.json").string());
    if (const Json* s = manifest.find("status"); s && s->string()) r.status = *s->string();
  } catch (const std::exception&) {
    // an unreadable manifest: the run is described without its status
  }
  if (has_config) {
    std::istringstream config(read_small_file(dir / "config.yaml"));
    for (std::string line; std::getline(config, line);)
      if (line.rfind("name: ", 0) == 0) r.pipeline = line.substr(6);
  }
  return r;
}

std::string EarlierRun::describe() const {
  std::string what = status == "finished" ? "a finished run"
                     : status == "interrupted" ? "an interrupted run"
                     : status == "running" ? "a run that was killed"
                     : status.rfind("failed", 0) == 0 ? "a failed run"
                     : "an earlier run";
  if (!pipeline.empty()) what += " of pipeline '" + pipeline + "'";
  if (!has_checkpoint) what += " that saved no checkpoint";
  return what;
}

void clear_run_files(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir / "checkpoints", ec);
  for (const char* name : {"config.yaml", "metrics.jsonl", "summary.json", "manifest.json", "report.html",
                           "labels.txt", "vocab.txt"})
    std::filesystem::remove(dir / name, ec);
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("vocab_", 0) == 0 && entry.path().extension() == ".txt") std::filesystem::remove(entry.path(), ec);
  }
}

RunFolder::RunFolder(std::filesystem::path dir, bool quiet) : dir_(std::move(dir)), quiet_(quiet) {
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "checkpoints", ec);
  if (ec) throw InputError("cannot create the run folder '" + dir_.string() + "': " + ec.message());
}

RunFolder::~RunFolder() {
  if (metrics_ != nullptr) std::fclose(metrics_);
}

void RunFolder::say(const std::string& line) const {
  if (quiet_) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string RunFolder::resume_hint() const {
  std::error_code ec;
  if (std::filesystem::exists(checkpoints() / "last.ckpt", ec)) return "; continue with: loom resume " + dir_.string();
  return "; no checkpoint was saved yet, so there is nothing to resume: run it again";
}

void RunFolder::write_later(std::function<void()> write) {
  if (deferring_) deferred_.push_back(std::move(write));
  else write();
}

void RunFolder::write_file(const std::filesystem::path& path, std::string bytes) {
  write_later([path, bytes = std::move(bytes)] { write_file_atomically(path, bytes); });
}

void RunFolder::commit() {
  deferring_ = false;
  auto writes = std::move(deferred_);
  deferred_.clear();
  for (auto& w : writes) w();
}

namespace {

std::FILE* open_metrics(const std::filesystem::path& path, const char* mode) {
  std::FILE* f = std::fopen(path.c_str(), mode);
  if (f == nullptr) throw RuntimeError("cannot write '" + path.string() + "': " + std::strerror(errno));
  return f;
}

}  // namespace

void RunFolder::start_metrics() {
  metrics_ = open_metrics(dir_ / "metrics.jsonl", "wb");
  metrics_bytes_ = 0;
}

void RunFolder::continue_metrics(std::uint64_t keep_bytes) {
  const std::filesystem::path path = dir_ / "metrics.jsonl";
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size < keep_bytes)
    throw InputError(path.string() + ": shorter than when the checkpoint was saved (" + std::to_string(keep_bytes) +
                     " bytes); it was changed after the run stopped");
  metrics_bytes_ = keep_bytes;
  write_later([this, path, keep_bytes] {
    std::filesystem::resize_file(path, keep_bytes);
    metrics_ = open_metrics(path, "ab");
  });
}

void RunFolder::write_metrics_line(const Json& line) {
  LOOM_ASSERT(metrics_ != nullptr, "metrics.jsonl written before it was opened");
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), metrics_) != text.size() || std::fflush(metrics_) != 0)
    throw RuntimeError("cannot write '" + (dir_ / "metrics.jsonl").string() + "': " + std::strerror(errno));
  metrics_bytes_ += text.size();
}

void RunFolder::write_summary() { write_file(dir_ / "summary.json", summary_.dump(2) + "\n"); }

void RunFolder::write_config() {
  write_file_atomically(dir_ / "config.yaml",
                        "# resolved pipeline (variables substituted, --set overrides applied)" + config_text_ + "\n");
  config_written_ = true;
}

void RunFolder::start_manifest(Json manifest, bool resumed) {
  manifest_ = std::move(manifest);
  const auto path = dir_ / "manifest.json";
  if (resumed && std::filesystem::exists(path)) {
    try {
      Json before = Json::parse(read_file(path), path.string());
      Json history = Json::array();
      if (const Json* p = before.find("previous"); p && p->is_array()) history = *p;
      Json earlier = before;
      if (earlier.is_object()) earlier["previous"] = Json();
      history.push_back(earlier);
      manifest_["previous"] = history;
    } catch (const InputError&) {
      // An unreadable old manifest is not worth failing the resumed run for.
    }
  }
  write_later([this] { write_manifest(dir_, manifest_); });
}

void RunFolder::end_manifest(const std::string& status) {
  if (deferring_) return;  // refused before anything was written: the folder stays as it was
  try {
    finish_manifest(manifest_, status);
    write_manifest(dir_, manifest_);
  } catch (const std::exception&) {
    // never hide the run's own outcome behind a manifest problem
  }
}

}  // namespace loom
