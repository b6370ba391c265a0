#pragma once
// Whole files in and out: what run folders, checkpoints, vocabularies and reports are made of.
#include <cstddef>
#include <filesystem>
#include <string>

namespace loom {

// The bytes of a file; InputError "<path>: cannot open <what> (<reason>)" when it cannot be
// read (a folder included).
std::string read_file(const std::filesystem::path& path, const std::string& what = "file");

// Writes `bytes` to `path` atomically: a temporary file beside it ("<path>.tmp.<pid>"),
// fsync, rename, fsync of the folder. A failed write removes its temporary and throws
// ResourceError when the disk (or a file size limit) is full, RuntimeError otherwise, naming
// the file.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

// Removes the "*.tmp.<pid>" files in `dir` that write_file_atomically left behind in a
// process that is gone (killed, or out of space); returns how many.
std::size_t remove_stale_temporaries(const std::filesystem::path& dir);

// A private temporary folder (under TMPDIR), removed with everything in it when this object
// goes: where a rank other than 0 of a data-parallel run keeps what a run writes (rank 0 alone
// writes the run folder). RuntimeError when it cannot be made.
class ScratchFolder {
 public:
  ScratchFolder();
  ~ScratchFolder();
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace loom
