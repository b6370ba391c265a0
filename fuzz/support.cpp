#include "support.hpp"

#include <fcntl.h>
#include <stdlib.h>  // mkdtemp
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace loom::fuzz {

namespace {

// Removes the folder when the process exits normally (libFuzzer's time limit, the replay's
// end); a crashing input leaves it behind for inspection.
class ScratchDir {
 public:
  ScratchDir() {
    std::filesystem::path base;
    if (const char* env = std::getenv("LOOM_FUZZ_TMPDIR"); env != nullptr && *env != '\0')
      base = env;
    else if (::access("/dev/shm", W_OK) == 0)
      base = "/dev/shm";  // Vocab::save fsyncs: nearly free in memory, slow on a disk
    else
      base = std::filesystem::temp_directory_path();
    std::string pattern = (base / "loom-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      fail("cannot create a scratch folder in '" + base.string() + "': " + std::strerror(errno));
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

const ScratchDir& scratch() {
  static const ScratchDir dir;
  return dir;
}

}  // namespace

std::filesystem::path temp_path(const std::string& name) { return scratch().path() / name; }

std::filesystem::path write_temp(const std::string& name, std::string_view bytes) {
  std::filesystem::path path = temp_path(name);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write '" + path.string() + "': " + std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write '" + path.string() + "': " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return path;
}

const Registry& plugins() {
  static const Registry* registry = [] {
    // Kept to the end of the process: components built from these plugins live in static
    // objects of the targets, and no library may be unloaded before they are gone.
    auto* r = new Registry();
    r->load_directory(LOOM_FUZZ_PLUGIN_DIR, /*required=*/true);
    return r;
  }();
  return *registry;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "loom fuzz: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string printable(std::string_view bytes, std::size_t max_bytes) {
  std::string out = "\"";
  std::size_t n = std::min(bytes.size(), max_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (bytes.size() > n) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

}  // namespace loom::fuzz
