#define BOOST_TEST_MODULE manifest
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "loom/errors.hpp"
#include "loom/manifest.hpp"
#include "loom/plugin.hpp"
#include "loom/registry.hpp"
#include "loom/testing/boost_checks.hpp"
#include "loom/testing/contracts.hpp"

namespace fs = std::filesystem;
using loom::Json;
using loom::testing::expect_error;
using loom::testing::contracts::TempDir;

namespace {

void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

bool is_hex(const std::string& s, std::size_t length) {
  return s.size() == length && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

const std::string& text(const Json& object, const std::string& key) {
  const Json* v = object.find(key);
  BOOST_REQUIRE_MESSAGE(v != nullptr && v->string() != nullptr, key << " is not a string");
  return *v->string();
}

// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ", or nothing when it has another form.
std::optional<std::time_t> parse_utc(const std::string& s) {
  static const std::regex kForm(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");
  if (!std::regex_match(s, kForm)) return std::nullopt;
  std::tm tm{};
  if (::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return std::nullopt;
  return ::timegm(&tm);
}

const std::string kMillionA(1000000, 'a');

}  // namespace

// ---- SHA-256 -------------------------------------------------------------------------------

struct Vector {
  std::string name;
  std::string message;
  std::string digest;
};

// FIPS 180-2 appendix B, then messages whose padding spills into a second block (55 bytes
// leave exactly room for the length, 56 do not) or fills one exactly (64).
const std::vector<Vector> kVectors = {
    {"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"a million a", kMillionA, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    {"55 a", std::string(55, 'a'),
     "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {"56 a", std::string(56, 'a'),
     "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {"63 a", std::string(63, 'a'),
     "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
    {"64 a", std::string(64, 'a'),
     "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    {"65 a", std::string(65, 'a'),
     "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
};

BOOST_AUTO_TEST_CASE(sha256_matches_the_reference_vectors) {
  for (const auto& v : kVectors) BOOST_TEST(loom::sha256_hex(v.message) == v.digest, v.name);
}

BOOST_AUTO_TEST_CASE(sha256_file_equals_sha256_of_the_bytes) {
  TempDir tmp;
  // Every byte value, and sizes around the 64-byte block and the 64 KiB read.
  std::string bytes;
  for (int i = 0; i < 200003; ++i) bytes += static_cast<char>((i * 131 + i / 7) & 0xff);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{64}, std::size_t{65535},
                           std::size_t{65536}, std::size_t{65537}, bytes.size()}) {
    fs::path file = tmp / ("bytes" + std::to_string(size));
    write(file, bytes.substr(0, size));
    BOOST_TEST(loom::sha256_file(file) == loom::sha256_hex(bytes.substr(0, size)),
               size << " bytes");
  }
  write(tmp / "million", kMillionA);
  BOOST_TEST(loom::sha256_file(tmp / "million") == kVectors[3].digest);
}

BOOST_AUTO_TEST_CASE(sha256_file_names_a_file_it_cannot_read) {
  TempDir tmp;
  fs::path missing = tmp / "missing.so";
  expect_error<loom::InputError>([&] { loom::sha256_file(missing); },
                                 {"cannot read '" + missing.string() + "'", "No such file"});
  fs::create_directories(tmp / "folder.so");
  expect_error<loom::InputError>([&] { loom::sha256_file(tmp / "folder.so"); },
                                 {(tmp / "folder.so").string(), "directory"});
}

// ---- the commit ----------------------------------------------------------------------------

const std::string kCommitA = "0123456789abcdef0123456789abcdef01234567";
const std::string kCommitB = "89abcdef0123456789abcdef0123456789abcdef";

struct RepoCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // path under the repo -> contents
  std::string expected;
};

const std::vector<RepoCase> kRepos = {
    {"detached head", {{".git/HEAD", kCommitA + "\n"}}, kCommitA},
    {"loose ref",
     {{".git/HEAD", "ref: refs/heads/main\n"}, {".git/refs/heads/main", kCommitA + "\n"}},
     kCommitA},
    {"packed ref",
     {{".git/HEAD", "ref: refs/heads/main\n"},
      {".git/packed-refs", "# pack-refs with: peeled fully-peeled sorted \n" + kCommitB +
                               " refs/heads/other\n" + kCommitA + " refs/heads/main\n^" + kCommitB +
                               "\n"}},
     kCommitA},
    {"loose ref wins over packed",
     {{".git/HEAD", "ref: refs/heads/main\n"},
      {".git/refs/heads/main", kCommitB + "\n"},
      {".git/packed-refs", kCommitA + " refs/heads/main\n"}},
     kCommitB},
    {"symbolic ref",
     {{".git/HEAD", "ref: refs/heads/alias\n"},
      {".git/refs/heads/alias", "ref: refs/heads/main\n"},
      {".git/refs/heads/main", kCommitA + "\n"}},
     kCommitA},
    // `git worktree add`: .git is a file naming a folder of the main repository, whose
    // commondir leads back to the shared refs.
    {"linked worktree",
     {{"tree/.git", "gitdir: ../main/.git/worktrees/tree\n"},
      {"main/.git/worktrees/tree/HEAD", "ref: refs/heads/feature\n"},
      {"main/.git/worktrees/tree/commondir", "../..\n"},
      {"main/.git/refs/heads/feature", kCommitB + "\n"},
      {"main/.git/HEAD", "ref: refs/heads/main\n"}},
     kCommitB},
    {"a sha-256 repository", {{".git/HEAD", std::string(64, 'c') + "\n"}}, std::string(64, 'c')},
    {"no repository", {{"README", "x"}}, "unknown"},
    {"head names a missing ref", {{".git/HEAD", "ref: refs/heads/gone\n"}}, "unknown"},
    {"head is garbage", {{".git/HEAD", "not a commit\n"}}, "unknown"},
    {"ref outside the repository", {{".git/HEAD", "ref: ../../escape\n"}}, "unknown"},
};

BOOST_AUTO_TEST_CASE(git_commit_reads_head_and_its_ref) {
  for (const auto& c : kRepos) {
    TempDir tmp;
    for (const auto& [path, contents] : c.files) write(tmp / path, contents);
    fs::path top = c.name == "linked worktree" ? tmp / "tree" : tmp.path();
    BOOST_TEST(loom::git_commit(top) == c.expected, c.name);
  }
}

BOOST_AUTO_TEST_CASE(git_commit_does_not_search_parent_folders) {
  TempDir tmp;
  write(tmp / ".git/HEAD", kCommitA + "\n");
  fs::create_directories(tmp / "unpacked");
  BOOST_TEST(loom::git_commit(tmp.path()) == kCommitA);
  BOOST_TEST(loom::git_commit(tmp / "unpacked") == "unknown");
}

// The commit is stamped when the library is built (tests/build_stamp.sh checks the stamping on
// throwaway trees); here it is an object id, or "unknown" for a build outside a checkout.
BOOST_AUTO_TEST_CASE(loom_commit_is_stamped_by_the_build) {
  std::string commit = loom::loom_commit();
  BOOST_TEST((commit == "unknown" || is_hex(commit, 40) || is_hex(commit, 64)), commit);
  if (loom::git_commit(LOOM_TEST_SOURCE_DIR) != commit)
    BOOST_TEST_MESSAGE("the source tree is at " << loom::git_commit(LOOM_TEST_SOURCE_DIR)
                                                << " now; this build was made at " << commit);
}

// ---- the command line and the clock --------------------------------------------------------

BOOST_AUTO_TEST_CASE(shell_command_quotes_what_a_shell_would_split) {
  struct Case {
    std::vector<std::string> argv;
    std::string line;
  };
  const std::vector<Case> cases = {
      {{"loom", "run", "pipelines/tiny.yaml", "--set", "components.model.nhid=400"},
       "loom run pipelines/tiny.yaml --set components.model.nhid=400"},
      {{"loom", "run", "my runs/a b.yaml"}, "loom run 'my runs/a b.yaml'"},
      {{"loom", "--out", ""}, "loom --out ''"},
      {{"loom", "it's"}, "loom 'it'\\''s'"},
      {{"loom", "$HOME", "a*", "x;y"}, "loom '$HOME' 'a*' 'x;y'"},
      {{}, ""},
  };
  for (const auto& c : cases) BOOST_TEST(loom::shell_command(c.argv) == c.line);
}

BOOST_AUTO_TEST_CASE(utc_now_is_iso8601_utc_to_the_second) {
  std::time_t before = std::time(nullptr);
  std::string now = loom::utc_now_iso8601();
  std::time_t after = std::time(nullptr);
  auto parsed = parse_utc(now);
  BOOST_REQUIRE_MESSAGE(parsed.has_value(), now);
  BOOST_TEST(*parsed >= before);
  BOOST_TEST(*parsed <= after);
}

// ---- the manifest --------------------------------------------------------------------------

struct Loaded {
  loom::Registry registry;
  Loaded() { registry.load_directory(LOOM_TEST_PLUGIN_DIR, true); }
};

BOOST_FIXTURE_TEST_CASE(run_manifest_lists_every_plugin_with_its_hash, Loaded) {
  Json m = loom::run_manifest(registry, {{"loom", "run", "tiny.yaml"}, 2, 1111});
  const Json* plugins = m.find("plugins");
  BOOST_REQUIRE(plugins != nullptr && plugins->is_array());
  const auto& loaded = registry.plugins();
  BOOST_REQUIRE(!loaded.empty());
  BOOST_REQUIRE_EQUAL(plugins->items().size(), loaded.size());
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const Json& p = plugins->items()[i];
    const loom::PluginDescriptor& d = *loaded[i].descriptor;
    BOOST_TEST_CONTEXT(d.name) {
      BOOST_TEST(text(p, "name") == d.name);
      BOOST_TEST(text(p, "kind") == loom::kind_folder(d.kind));
      BOOST_TEST(text(p, "version") == d.version);
      BOOST_TEST(text(p, "file") == loaded[i].file.string());
      BOOST_TEST(fs::path(text(p, "file")).is_absolute());
      BOOST_REQUIRE(p.find("abi") != nullptr && p.find("abi")->is_integer());
      BOOST_TEST(p.find("abi")->integer() == loom::kAbiVersion);
      BOOST_TEST(is_hex(text(p, "sha256"), 64));
      BOOST_TEST(text(p, "sha256") == loom::sha256_file(loaded[i].file));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(run_manifest_has_every_key_in_order, Loaded) {
  Json m = loom::run_manifest(registry, {{"loom", "run", "a b.yaml"}, 2, 1111});
  std::vector<std::string> keys;
  for (const auto& [k, v] : m.members()) keys.push_back(k);
  const std::vector<std::string> expected = {"loom",     "command",    "started", "finished",  "status",
                                             "threads",  "seed",       "host",    "world_size", "compiler",
                                             "cpu",      "libraries",  "plugins"};
  BOOST_TEST(keys == expected, boost::test_tools::per_element());
  BOOST_TEST(m.find("world_size")->integer() == 1);
  // Several ranks: their count and every rank's host.
  Json several = loom::run_manifest(registry, {{"loom", "run", "x.yaml"}, 1, 1, 2, {"node-a", "node-b"}});
  BOOST_TEST(several.find("world_size")->integer() == 2);
  BOOST_REQUIRE(several.find("hosts") != nullptr);
  BOOST_TEST(several.find("hosts")->dump() == "[\"node-a\", \"node-b\"]");

  const Json& loom_info = *m.find("loom");
  BOOST_TEST(text(loom_info, "version") == "0.1.0");
  BOOST_TEST(text(loom_info, "commit") == loom::loom_commit());
  BOOST_TEST(loom_info.find("dirty")->boolean() != nullptr);
  BOOST_TEST(*loom_info.find("dirty")->boolean() == loom::loom_tree_dirty());
  BOOST_TEST(text(m, "command") == "loom run 'a b.yaml'");
  BOOST_TEST(m.find("threads")->integer() == 2);
  BOOST_TEST(m.find("seed")->integer() == 1111);
  BOOST_TEST(m.find("finished")->is_null());
  BOOST_TEST(text(m, "status") == "running");
  BOOST_TEST(!text(m, "host").empty());
  BOOST_TEST(!text(m, "compiler").empty());
}

BOOST_FIXTURE_TEST_CASE(cpu_and_library_fields_are_known, Loaded) {
  Json m = loom::run_manifest(registry, {{"loom"}, 1, 1});
  const Json& cpu = *m.find("cpu");
  for (const char* key : {"model", "flags"}) {
    BOOST_TEST(!text(cpu, key).empty(), key);
    BOOST_TEST(text(cpu, key) != "unknown", key);
  }
  BOOST_TEST(cpu.find("cores")->integer() >= 1);
  BOOST_TEST(text(cpu, "flags").find("sse2") != std::string::npos);  // every x86-64 has it

  const Json& libs = *m.find("libraries");
  for (const char* key : {"openblas", "openblas_core", "tbb", "boost", "yaml-cpp"}) {
    BOOST_TEST(!text(libs, key).empty(), key);
    BOOST_TEST(text(libs, key) != "unknown", key);
  }
  BOOST_TEST(text(libs, "openblas").find("OpenBLAS") != std::string::npos);
  static const std::regex kVersion(R"(\d+\.\d+(\.\d+)?)");
  for (const char* key : {"tbb", "boost", "yaml-cpp"})
    BOOST_TEST(std::regex_match(text(libs, key), kVersion), key << ": " << text(libs, key));
}

BOOST_FIXTURE_TEST_CASE(finish_manifest_sets_status_and_end_time, Loaded) {
  for (const std::string status : {"finished", "interrupted", "failed: loss is NaN at epoch 3"}) {
    Json m = loom::run_manifest(registry, {{"loom"}, 1, 1});
    auto started = parse_utc(text(m, "started"));
    BOOST_REQUIRE(started.has_value());
    BOOST_TEST(std::abs(std::difftime(*started, std::time(nullptr))) <= 2.0);
    loom::finish_manifest(m, status);
    BOOST_TEST(text(m, "status") == status);
    auto finished = parse_utc(text(m, "finished"));
    BOOST_REQUIRE_MESSAGE(finished.has_value(), text(m, "finished"));
    BOOST_TEST(*finished >= *started);
  }
  Json m = loom::run_manifest(registry, {{"loom"}, 1, 1});
  expect_error<loom::AssertionError>([&] { loom::finish_manifest(m, "done"); }, "'done'");
}

BOOST_FIXTURE_TEST_CASE(write_manifest_writes_the_json_the_report_reads, Loaded) {
  TempDir tmp;
  Json m = loom::run_manifest(registry, {{"loom", "run", "tiny.yaml"}, 2, 1111});
  loom::finish_manifest(m, "finished");
  loom::write_manifest(tmp.path(), m);
  std::ifstream in(tmp / "manifest.json");
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(Json::parse(written, "manifest.json").dump() == m.dump());
  BOOST_TEST(!fs::exists(tmp / "manifest.json.tmp"));
}

// The manifest hashes every plugin at the start of a run: every file gets its own digest,
// and hashing a file is hashing its bytes. (How long it takes is measured, not asserted.)
BOOST_FIXTURE_TEST_CASE(hashing_the_plugins_gives_each_file_its_digest, Loaded) {
  auto start = std::chrono::steady_clock::now();
  std::uintmax_t bytes = 0;
  std::set<std::string> digests;
  for (const auto& p : registry.plugins()) {
    const std::string digest = loom::sha256_file(p.file);
    BOOST_TEST(is_hex(digest, 64), digest);
    BOOST_TEST(digests.insert(digest).second, p.file << " has the digest of another plugin");
    std::ifstream in(p.file, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST(loom::sha256_hex(content) == digest, p.file);
    bytes += fs::file_size(p.file);
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_MESSAGE("hashed " << registry.plugins().size() << " plugins, " << bytes
                               << " bytes, in " << ms << " ms");
}
