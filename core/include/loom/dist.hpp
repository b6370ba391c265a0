#pragma once
// The processes of one run: a single process, or the ranks of an MPI job (OpenMPI's mpirun,
// Slurm's srun). Data-parallel training (DESIGN.md, "Beyond one machine") reads the world from
// here and sums gradients with allreduce_sum; everything else runs the same on every rank.
//
// init() starts MPI only when the process was launched by an MPI launcher (its environment
// names a world: OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK) or when asked to (`--distributed
// mpi`); otherwise loom never touches MPI, and a build without MPI runs the same. Every call
// below is a no-op, or the identity, in a world of one.
#include <cstdint>
#include <string>
#include <vector>

#include "loom/plugin.hpp"

namespace loom::dist {

struct World {
  int rank = 0;
  int size = 1;
  bool mpi = false;            // MPI is initialised (size may still be 1)
  std::string host;            // this process's host name
  std::vector<std::string> hosts;  // every rank's host, by rank (after init)
};

// Whether the environment says this process is one rank of an MPI job.
bool launched_by_mpi();
// The job's size as the launcher's environment gives it (OMPI_COMM_WORLD_SIZE, PMI_SIZE), 1
// when there is none; read without starting MPI.
int launcher_size();
// Whether this build can run over MPI.
bool available();
// Starts MPI (once) when launched by an MPI launcher or `force`; returns the world. ConfigError
// when `force` asks for MPI in a build without it, or MPI cannot start.
const World& init(bool force = false);
const World& world();
// Ends MPI if init started it (at exit; safe to call more than once).
void finalize();

// In place, the element-wise sum over every rank (MPI_Allreduce). Every rank must call it with
// the same count, in the same order.
void allreduce_sum(float* data, std::int64_t count);
void allreduce_sum(double* data, std::int64_t count);
// Rank `root`'s string on every rank.
void broadcast(std::string& text, int root = 0);
// Whether every rank holds the same value (a checksum of parameters, a config hash).
bool all_equal(std::uint64_t value);
// Waits for every rank.
void barrier();
// Rank `rank`'s share of a global batch among `size`: rows [rank B / size, (rank + 1) B / size)
// of every tensor along its batch axis (loom/batch_layout.hpp: ids, targets and mask are
// time-major [T, B], every other tensor batch-major [B, ...]), the references likewise;
// target_tokens recounted from the shard (targets or tgt_out that are not kIgnoreTarget, else
// the lengths, else the rows). Shards differ by at most one row; their union, in rank order, is
// the batch. A pure function of (batch, rank, size): every rank cuts the same way.
Batch shard(const Batch& batch, int rank, int size);

// Ends every rank of the job with `code` (MPI_Abort): a rank that failed must not leave the
// others waiting in a collective.
[[noreturn]] void abort_all(int code);

}  // namespace loom::dist
