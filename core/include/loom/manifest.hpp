#pragma once
// The run manifest: what produced a run, written as manifest.json in every run folder so that
// a result can be traced to the code, the libraries and the machine that made it. Also the
// SHA-256 digest it records for every plugin library.
//
// The runner writes the manifest when a run starts (status "running", finished null) and
// again when it ends; a manifest still "running" belongs to a run that was killed.
//
//   {"loom": {"version": "0.1.0", "commit": "<40 hex>" | "unknown", "dirty": false},
//    "command": "loom run tiny.yaml", "started": "2026-11-21T10:00:00Z", "finished": null,
//    "status": "running", "threads": 2, "seed": 1111, "host": "...", "world_size": 1,
//    ("hosts": ["node-a", "node-b"] after "world_size" when several ranks run), "compiler": "gcc 12.2.0",
//    "cpu": {"model": "...", "cores": 2, "flags": "fpu ... avx512f ..."},
//    "libraries": {"openblas": "<openblas_get_config()>", "openblas_core": "Cooperlake",
//                  "tbb": "2021.8.0", "boost": "1.74.0", "yaml-cpp": "0.7.0"},
//    "plugins": [{"name": "rnn_lm", "kind": "models", "version": "1.0", "abi": 2,
//                 "file": "/abs/path/loom_models_rnn_lm.so", "sha256": "<64 hex>"}, ...]}
//
// Values that cannot be found out are the string "unknown", never missing keys. Call from the
// runner's thread while no plugin is being loaded into the registry.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loom/json.hpp"
#include "loom/registry.hpp"

namespace loom {

// What only the runner knows about a run.
struct ManifestInfo {
  std::vector<std::string> command;  // the command line, program first (argv)
  int threads = 1;                   // the thread bound of the run (see set_threads)
  std::uint64_t seed = 1;            // the pipeline's seed; every random stream derives from it
  int world_size = 1;                // the ranks of a data-parallel run (mpirun -np N)
  std::vector<std::string> hosts{};  // every rank's host, by rank (several ranks only)
};

// The manifest of a run starting now: "started" is now, "finished" null, "status" "running".
// Lists every plugin `registry` has loaded, in load order, with the SHA-256 of its file (about
// 2 ms for the 400 KB of in-tree plugins). Throws InputError naming a plugin file that can no
// longer be read.
Json run_manifest(const Registry& registry, const ManifestInfo& info);

// Marks the run ended now: sets "finished" and "status", which is "finished", "interrupted"
// or "failed: <message>" (anything else is an AssertionError).
void finish_manifest(Json& manifest, const std::string& status);

// Writes <run_dir>/manifest.json atomically (RuntimeError when it cannot).
void write_manifest(const std::filesystem::path& run_dir, const Json& manifest);

// Now, UTC, to the second: "2026-11-21T10:00:00Z".
std::string utc_now_iso8601();

// argv joined with spaces; an argument that a POSIX shell would split or expand ("a b", "",
// "$x", "it's") is single-quoted, so the line can be pasted back into a shell.
std::string shell_command(const std::vector<std::string>& argv);

// The commit checked out in the git work tree whose top folder is `dir` (a clone, or a linked
// worktree or submodule whose .git is a file), read from .git/HEAD and the loose or packed ref
// it names: 40 (or 64) lowercase hex digits, or "unknown". Uncommitted changes are not seen.
// Folders above `dir` are not searched, so a source tree unpacked inside some other repository
// reports "unknown" rather than that repository's commit.
std::string git_commit(const std::filesystem::path& dir);

// The commit of the source tree libloom_core was built from, stamped at build time ("unknown"
// when it was not built from a git checkout), and whether that tree had uncommitted changes
// to tracked files then.
std::string loom_commit();
bool loom_tree_dirty();

// SHA-256 (FIPS 180-4) as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);
// The SHA-256 of a file's bytes, read in blocks. Throws InputError naming the file when it
// cannot be opened or read (missing, a folder, no permission).
std::string sha256_file(const std::filesystem::path& path);

}  // namespace loom
