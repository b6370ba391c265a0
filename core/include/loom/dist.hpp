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
#include <functional>
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
// This process's rank as the launcher's environment gives it (OMPI_COMM_WORLD_RANK, PMI_RANK,
// PMIX_RANK), 0 when there is none; read without starting MPI.
int launcher_rank();
// The ranks on this host as the launcher says (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS,
// SLURM_NTASKS_PER_NODE), 1 when it says nothing: the threads of one machine are shared out
// among them.
int launcher_local_size();
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
// Starts summing `data` over every rank in place (MPI_Iallreduce): the sum is there once
// wait_all() returns, and `data` must not be touched before. Every rank starts the same sums
// in the same order. progress() lets started sums advance while other work goes on (MPI moves
// data only inside its calls); both are called from the thread that started MPI.
void start_allreduce_sum(float* data, std::int64_t count);
void progress();
void wait_all();
// Rank `root`'s string on every rank.
void broadcast(std::string& text, int root = 0);
// Rank `root`'s values on every rank.
void broadcast(float* data, std::int64_t count, int root = 0);
// Every rank's `text`, by rank, on `root`; the other ranks get an empty list.
std::vector<std::string> gather(const std::string& text, int root = 0);
// The smallest and largest of every rank's `value`.
std::int64_t min_over_ranks(std::int64_t value);
std::int64_t max_over_ranks(std::int64_t value);
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
// The rows of a batch along its batch axis (0: a shard with nothing to compute).
std::int64_t rows(const Batch& batch);

// ---- failing together ---------------------------------------------------------------------
// A rank that throws while the others go on would leave them waiting in the next collective.
// So every collective that can follow throwing code is preceded by an agreement point,
// together(): one small all-reduce in which each rank says whether its work failed. All
// agreement points are the same collective, so a rank that failed anywhere meets the others at
// the next one they reach.
//
// Runs `work` on every rank. When it throws on one or more ranks, every rank throws the error
// of the lowest failing rank: the same type (ConfigError, InputError, DivergedError,
// Interrupted with its signal, ...) and message, prefixed "rank R (host): " when R is not 0.
// Such an error is shared: rank 0 reports it and the other ranks end quietly with the same exit
// code. An error that is shared already passes through without another agreement. An error
// caught and handled (a train stage's on_interrupt: evaluate) stops being shared at the next
// agreement every rank passes.
void together(const std::function<void()>& work);
// ConfigError on every rank unless every rank's `text` equals rank 0's: the lowest rank that
// differs is named with the first line that differs ("the pipeline differs from rank 0's at
// line 12: 'lr: 0.1' here, 'lr: 1' on rank 0"). `what` names the text in that message.
void require_same(const std::string& text, const std::string& what);
// Marks the error with message `what`, which every rank is about to throw from the same values
// (a divergence seen in reduced statistics), as shared, without an agreement.
void share_error(const std::string& what);
// Whether the error with message `what` is shared (rank 0 reports it).
bool error_is_shared(const std::string& what);

// Ends every rank of the job with `code` (MPI_Abort): a rank that failed must not leave the
// others waiting in a collective.
[[noreturn]] void abort_all(int code);

}  // namespace loom::dist
