#include "loom/files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "loom/errors.hpp"

namespace loom {

std::string read_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path.string() + ": cannot open " + what + " (a folder)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open " + what + " (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path.string() + ": cannot read " + what);
  return text.str();
}

namespace {

// A failed write: the temporary file goes (a full disk stays no fuller than before), and the
// error says which file. Lack of space is a resource the user can free (ResourceError);
// anything else is a failure of the system (RuntimeError).
[[noreturn]] void write_failed(const std::filesystem::path& path, const std::filesystem::path& tmp,
                               const char* what, int err) {
  ::unlink(tmp.c_str());
  const std::string message = std::string("cannot ") + what + " '" + path.string() + "': " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    throw ResourceError(message + " (free some space, then try again)");
  throw RuntimeError(message);
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());  // two processes writing one file never share a temporary
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) write_failed(path, tmp, "write", errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      write_failed(path, tmp, "write", err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    write_failed(path, tmp, "flush", err);
  }
  if (::close(fd) != 0) write_failed(path, tmp, "flush", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) write_failed(path, tmp, "rename the new", errno);
  // The rename itself lives in the folder: flush it too, so the new name survives a crash.
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::size_t remove_stale_temporaries(const std::filesystem::path& dir) {
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (at == std::string::npos || !entry.is_regular_file(ec)) continue;
    const std::string digits = name.substr(at + 5);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    // A temporary of a live process is its write in progress; kill(pid, 0) fails with ESRCH
    // once that process is gone.
    if (pid == ::getpid() || (::kill(pid, 0) == 0 || errno == EPERM)) continue;
    if (std::filesystem::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

ScratchFolder::ScratchFolder() {
  const std::filesystem::path tmp = std::filesystem::temp_directory_path();
  // Folders of processes that are gone (killed before they could remove theirs).
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tmp, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("loom-rank-", 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + 10, nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      std::filesystem::remove_all(entry.path(), ignored);
    }
  }
  std::string pattern = (tmp / ("loom-rank-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw RuntimeError("cannot make a temporary folder like '" + pattern + "': " + std::strerror(errno));
  path_ = pattern;
}

ScratchFolder::~ScratchFolder() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace loom
