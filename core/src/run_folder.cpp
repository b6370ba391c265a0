#include "loom/run_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/json.hpp"

namespace loom {

namespace {

std::string read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
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

}  // namespace loom
