#include "loom/manifest.hpp"

#include <cblas.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <oneapi/tbb/version.h>
#include <unistd.h>
#include <yaml-cpp/node/parse.h>

#include <algorithm>
#include <array>
#include <boost/version.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

#include "loom/blas.hpp"
#include "loom/errors.hpp"
#include "loom/parallel.hpp"
#include "loom/parameters.hpp"
#include "loom/plugin.hpp"

namespace loom {

// ---- SHA-256 -------------------------------------------------------------------------------
namespace {

class Sha256 {
 public:
  void update(const unsigned char* p, std::size_t n) {
    total_bytes_ += n;
    if (buffered_ > 0) {
      std::size_t take = std::min(n, buffer_.size() - buffered_);
      std::memcpy(buffer_.data() + buffered_, p, take);
      buffered_ += take;
      p += take;
      n -= take;
      if (buffered_ < buffer_.size()) return;
      compress(buffer_.data());
      buffered_ = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress(p);
    std::memcpy(buffer_.data(), p, n);
    buffered_ = n;
  }

  std::string hex_digest() {
    // Padding: a 1 bit, zeros up to 56 bytes mod 64, then the message length in bits.
    std::uint64_t bits = total_bytes_ * 8;
    unsigned char pad[72] = {0x80};
    std::size_t pad_bytes = (buffered_ < 56 ? 56 : 120) - buffered_;
    for (int i = 0; i < 8; ++i)
      pad[pad_bytes + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    update(pad, pad_bytes + 8);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (std::uint32_t word : h_)
      for (int shift = 28; shift >= 0; shift -= 4) out += kHex[(word >> shift) & 0xf];
    return out;
  }

 private:
  static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress(const unsigned char* block) {
    static constexpr std::uint32_t kRound[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = std::uint32_t{block[4 * i]} << 24 | std::uint32_t{block[4 * i + 1]} << 16 |
             std::uint32_t{block[4 * i + 2]} << 8 | std::uint32_t{block[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6],
                  h = h_[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 =
          h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
  }

  std::array<std::uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<unsigned char, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Sha256 sha;
  sha.update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return sha.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  // POSIX reads, because an ifstream reports neither why a file cannot be read nor a folder
  // (whose reads fail with EISDIR) as anything but an empty file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError("cannot read '" + path.string() + "': " + std::strerror(errno));
  Sha256 sha;
  std::array<unsigned char, 1 << 16> block;
  for (;;) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw InputError("cannot read '" + path.string() + "': " + std::strerror(err));
    }
    sha.update(block.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return sha.hex_digest();
}

// ---- the commit ----------------------------------------------------------------------------
namespace {

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(const std::string& s) {
  std::size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") + 1 - begin);
}

bool is_object_id(const std::string& s) {
  if (s.size() != 40 && s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The commit `ref` ("refs/heads/main") names. Per-worktree refs live in `git_dir`, shared
// ones in `common_dir`, either loose (one file per ref) or in packed-refs.
std::optional<std::string> resolve_ref(const std::filesystem::path& git_dir,
                                       const std::filesystem::path& common_dir,
                                       const std::string& ref, int depth = 0) {
  if (depth > 5 || ref.find("..") != std::string::npos) return std::nullopt;
  for (const auto& base : {git_dir, common_dir}) {
    auto text = read_text(base / ref);
    if (!text) continue;
    std::string value = trim(*text);
    if (value.rfind("ref: ", 0) == 0)
      return resolve_ref(git_dir, common_dir, value.substr(5), depth + 1);
    if (is_object_id(value)) return value;
    return std::nullopt;
  }
  if (auto packed = read_text(common_dir / "packed-refs")) {
    std::istringstream lines(*packed);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] == '#' || line[0] == '^') continue;
      std::size_t space = line.find(' ');
      if (space != std::string::npos && trim(line.substr(space + 1)) == ref) {
        std::string id = line.substr(0, space);
        if (is_object_id(id)) return id;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string git_commit(const std::filesystem::path& dir) {
  std::error_code ec;
  const std::filesystem::path dot_git = dir / ".git";
  std::filesystem::path git_dir = dot_git;
  if (std::filesystem::is_regular_file(dot_git, ec)) {
    // A linked worktree or a submodule: ".git" is a file "gitdir: <path>".
    auto text = read_text(dot_git);
    if (!text || text->rfind("gitdir: ", 0) != 0) return "unknown";
    git_dir = trim(text->substr(8));
    if (git_dir.is_relative()) git_dir = dir / git_dir;
  } else if (!std::filesystem::is_directory(dot_git, ec)) {
    return "unknown";
  }
  std::filesystem::path common_dir = git_dir;
  if (auto text = read_text(git_dir / "commondir")) {
    std::filesystem::path common = trim(*text);
    common_dir = common.is_relative() ? git_dir / common : common;
  }
  auto head = read_text(git_dir / "HEAD");
  if (!head) return "unknown";
  std::string value = trim(*head);
  if (is_object_id(value)) return value;  // a detached HEAD
  if (value.rfind("ref: ", 0) != 0) return "unknown";
  return resolve_ref(git_dir, common_dir, value.substr(5)).value_or("unknown");
}

// Defined in the file the build writes (cmake/LoomBuildStamp.cmake).
const char* build_commit();
bool build_tree_dirty();

std::string loom_commit() { return build_commit(); }
bool loom_tree_dirty() { return build_tree_dirty(); }

// ---- the machine and the libraries ---------------------------------------------------------
namespace {

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

std::string compiler() {
#if defined(__clang__)
  return __VERSION__;  // "Debian Clang 14.0.6"
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;  // __VERSION__ is only the number for gcc
#else
  return "unknown";
#endif
}

// The first "model name" and "flags" of /proc/cpuinfo (ARM kernels say "Features", and may
// have no model name).
Json cpu() {
  std::string model = "unknown", flags = "unknown";
  std::ifstream in("/proc/cpuinfo");
  bool have_model = false, have_flags = false;
  for (std::string line; std::getline(in, line) && !(have_model && have_flags);) {
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    if (value.empty()) continue;
    if (!have_model && key == "model name") {
      model = value;
      have_model = true;
    } else if (!have_flags && (key == "flags" || key == "Features")) {
      flags = value;
      have_flags = true;
    }
  }
  Json j = Json::object();
  j["model"] = model;
  j["cores"] = hardware_threads();
  j["flags"] = flags;
  return j;
}

std::string boost_version() {
  return std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) +
         "." + std::to_string(BOOST_VERSION % 100);
}

// yaml-cpp has no version in its headers (0.7) nor any call that returns one. The shared
// library it builds is always named libyaml-cpp.so.<major>.<minor>.<patch>, and the file the
// dynamic loader actually mapped is the version in use, whatever was installed or configured
// since the build; so it is read from there. A static yaml-cpp gives "unknown".
std::string yaml_cpp_version() {
  auto load = static_cast<YAML::Node (*)(const std::string&)>(&YAML::Load);
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(load), &info) == 0 || info.dli_fname == nullptr)
    return "unknown";
  std::error_code ec;
  std::string file = std::filesystem::canonical(info.dli_fname, ec).filename().string();
  const std::string prefix = "libyaml-cpp.so.";
  if (ec || file.rfind(prefix, 0) != 0 || file.size() == prefix.size()) return "unknown";
  return file.substr(prefix.size());
}

Json libraries() {
  Json j = Json::object();
  const char* config = openblas_get_config();
  j["openblas"] = config != nullptr ? trim(config) : "unknown";
  j["openblas_core"] = openblas_core();
  const char* tbb = TBB_runtime_version();
  j["tbb"] = tbb != nullptr ? std::string(tbb) : "unknown";
  j["boost"] = boost_version();
  j["yaml-cpp"] = yaml_cpp_version();
  return j;
}

Json plugins(const Registry& registry) {
  Json list = Json::array();
  for (const auto& p : registry.plugins()) {
    const PluginDescriptor& d = *p.descriptor;
    Json j = Json::object();
    j["name"] = d.name;
    j["kind"] = kind_folder(d.kind);
    j["version"] = d.version;
    j["abi"] = d.abi_version;
    j["file"] = p.file.string();
    j["sha256"] = sha256_file(p.file);
    list.push_back(std::move(j));
  }
  return list;
}

}  // namespace

// ---- the manifest --------------------------------------------------------------------------
std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string shell_command(const std::vector<std::string>& argv) {
  static const std::string kPlain =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,:/@%";
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!arg.empty() && arg.find_first_not_of(kPlain) == std::string::npos) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

Json run_manifest(const Registry& registry, const ManifestInfo& info) {
  Json m = Json::object();
  Json loom = Json::object();
  loom["version"] = LOOM_VERSION_STRING;
  loom["commit"] = loom_commit();
  loom["dirty"] = loom_tree_dirty();
  m["loom"] = std::move(loom);
  m["command"] = shell_command(info.command);
  m["started"] = utc_now_iso8601();
  m["finished"] = nullptr;
  m["status"] = "running";
  m["threads"] = info.threads;
  // Seeds come from the pipeline as signed 64-bit integers, so the cast gives them back.
  m["seed"] = static_cast<std::int64_t>(info.seed);
  m["host"] = host_name();
  m["world_size"] = info.world_size;
  if (info.world_size > 1) {
    Json hosts = Json::array();
    for (const auto& h : info.hosts) hosts.push_back(h);
    m["hosts"] = std::move(hosts);
  }
  m["compiler"] = compiler();
  m["cpu"] = cpu();
  m["libraries"] = libraries();
  m["plugins"] = plugins(registry);
  return m;
}

void finish_manifest(Json& manifest, const std::string& status) {
  LOOM_ASSERT(
      status == "finished" || status == "interrupted" || status.rfind("failed: ", 0) == 0,
      "a run's status is 'finished', 'interrupted' or 'failed: <message>', not '" + status + "'");
  manifest["finished"] = utc_now_iso8601();
  manifest["status"] = status;
}

void write_manifest(const std::filesystem::path& run_dir, const Json& manifest) {
  const std::filesystem::path path = run_dir / "manifest.json";
  const std::string text = manifest.dump(2) + "\n";
  try {
    write_file_atomically(path, text);
  } catch (const ResourceError&) {
    // No room for a second copy beside the first, as on a full disk: rewrite the file in
    // place, in the blocks its old text frees, so that it still tells how the run ended.
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw;
  }
}

}  // namespace loom
