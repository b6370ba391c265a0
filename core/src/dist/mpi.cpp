// loom/dist.hpp over OpenMPI, or the single-process stand-in when the build has no MPI
// (LOOM_WITH_MPI unset): a world of one, where every collective is the identity.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>
#include <climits>
#include <cstdlib>
#include <mutex>

#include "loom/dist.hpp"
#include "loom/errors.hpp"

#ifdef LOOM_WITH_MPI
#include <mpi.h>
#endif

namespace loom::dist {
namespace {

World g_world;
#ifdef LOOM_WITH_MPI
bool g_started = false;  // init called MPI_Init, so finalize calls MPI_Finalize
#endif

std::string host_name() {
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

#ifdef LOOM_WITH_MPI
void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, text, &n);
  throw RuntimeError(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<std::size_t>(n)));
}

// MPI counts are ints: long buffers go in pieces.
template <typename T>
void allreduce_chunks(T* data, std::int64_t count, MPI_Datatype type) {
  constexpr std::int64_t kChunk = INT_MAX / 2;
  for (std::int64_t at = 0; at < count; at += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, count - at));
    check(MPI_Allreduce(MPI_IN_PLACE, data + at, n, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}
#endif

}  // namespace

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

int launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  return 1;
}

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (const char* v = std::getenv(name)) return std::max(0, std::atoi(v));
  return 0;
}

int launcher_local_size() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  return 1;
}

bool available() {
#ifdef LOOM_WITH_MPI
  return true;
#else
  return false;
#endif
}

const World& init(bool force) {
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  if (g_world.mpi || (!force && !launched_by_mpi())) {
    if (g_world.host.empty()) {
      g_world.host = host_name();
      g_world.hosts = {g_world.host};
    }
    return g_world;
  }
#ifdef LOOM_WITH_MPI
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    g_started = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &g_world.size), "MPI_Comm_size");
  g_world.mpi = true;
  g_world.host = host_name();
  // Every rank's host name, fixed-width, gathered everywhere (the manifest lists them).
  constexpr int kWidth = 256;
  std::string mine = g_world.host.substr(0, kWidth - 1);
  mine.resize(kWidth, '\0');
  std::string all(static_cast<std::size_t>(kWidth) * static_cast<std::size_t>(g_world.size), '\0');
  check(MPI_Allgather(mine.data(), kWidth, MPI_CHAR, all.data(), kWidth, MPI_CHAR, MPI_COMM_WORLD), "MPI_Allgather");
  g_world.hosts.clear();
  for (int r = 0; r < g_world.size; ++r) g_world.hosts.emplace_back(all.c_str() + static_cast<std::size_t>(r) * kWidth);
  std::atexit([] { finalize(); });
  return g_world;
#else
  throw ConfigError(force ? "--distributed mpi: this loom was built without MPI (install libopenmpi-dev and rebuild)"
                          : "loom runs under an MPI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK is set) but "
                            "was built without MPI (install libopenmpi-dev and rebuild)");
#endif
}

const World& world() { return g_world; }

void finalize() {
#ifdef LOOM_WITH_MPI
  if (!g_started) return;
  int done = 0;
  MPI_Finalized(&done);
  // MPI_Finalize waits for every rank; one that never comes (stuck in a collective the others
  // left) must not keep this process alive forever.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    std::fprintf(stderr, "loom: rank %d: the other ranks did not finish within 60 s; ending\n", g_world.rank);
    std::_Exit(1);
  }).detach();
  if (!done) MPI_Finalize();
  g_started = false;
#endif
}

void allreduce_sum(float* data, std::int64_t count) {
  if (g_world.size <= 1 || count <= 0) return;
#ifdef LOOM_WITH_MPI
  allreduce_chunks(data, count, MPI_FLOAT);
#endif
}

void allreduce_sum(double* data, std::int64_t count) {
  if (g_world.size <= 1 || count <= 0) return;
#ifdef LOOM_WITH_MPI
  allreduce_chunks(data, count, MPI_DOUBLE);
#endif
}

void broadcast(std::string& text, int root) {
  if (g_world.size <= 1) return;
#ifdef LOOM_WITH_MPI
  std::int64_t n = static_cast<std::int64_t>(text.size());
  check(MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  text.resize(static_cast<std::size_t>(n));
  if (n > 0) check(MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
#endif
}

#ifdef LOOM_WITH_MPI
namespace {
std::vector<MPI_Request> g_pending;
}  // namespace
#endif

void start_allreduce_sum(float* data, std::int64_t count) {
  if (g_world.size <= 1 || count <= 0) return;
#ifdef LOOM_WITH_MPI
  constexpr std::int64_t kChunk = INT_MAX / 2;
  for (std::int64_t at = 0; at < count; at += kChunk) {
    g_pending.emplace_back();
    check(MPI_Iallreduce(MPI_IN_PLACE, data + at, static_cast<int>(std::min(kChunk, count - at)), MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD, &g_pending.back()),
          "MPI_Iallreduce");
  }
#else
  (void)data;
#endif
}

void progress() {
#ifdef LOOM_WITH_MPI
  if (g_pending.empty()) return;
  int done = 0;
  check(MPI_Testall(static_cast<int>(g_pending.size()), g_pending.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
  if (done) g_pending.clear();
#endif
}

void wait_all() {
#ifdef LOOM_WITH_MPI
  if (g_pending.empty()) return;
  check(MPI_Waitall(static_cast<int>(g_pending.size()), g_pending.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  g_pending.clear();
#endif
}

void broadcast(float* data, std::int64_t count, int root) {
  if (g_world.size <= 1 || count <= 0) return;
#ifdef LOOM_WITH_MPI
  constexpr std::int64_t kChunk = INT_MAX / 2;
  for (std::int64_t at = 0; at < count; at += kChunk)
    check(MPI_Bcast(data + at, static_cast<int>(std::min(kChunk, count - at)), MPI_FLOAT, root, MPI_COMM_WORLD),
          "MPI_Bcast");
#else
  (void)data;
  (void)root;
#endif
}

std::vector<std::string> gather(const std::string& text, int root) {
  if (g_world.size <= 1) return {text};
#ifdef LOOM_WITH_MPI
  const int n = static_cast<int>(text.size());
  std::vector<int> sizes(static_cast<std::size_t>(g_world.size));
  check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
  std::vector<int> offsets(sizes.size(), 0);
  std::string all;
  if (g_world.rank == root) {
    std::int64_t total = 0;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += sizes[r];
    }
    if (total > INT_MAX) throw ResourceError("MPI: gathering " + std::to_string(total) + " bytes of state on rank 0 (more than 2 GiB)");
    all.resize(static_cast<std::size_t>(total));
  }
  check(MPI_Gatherv(text.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, root, MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> out;
  if (g_world.rank == root)
    for (std::size_t r = 0; r < sizes.size(); ++r) out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(sizes[r])));
  return out;
#else
  (void)root;
  return {text};
#endif
}

namespace {
// The smallest (or largest) of every rank's value.
std::int64_t extreme_over_ranks(std::int64_t value, bool largest) {
  if (g_world.size <= 1) return value;
#ifdef LOOM_WITH_MPI
  check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, largest ? MPI_MAX : MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
#else
  (void)largest;
#endif
  return value;
}
}  // namespace

std::int64_t min_over_ranks(std::int64_t value) { return extreme_over_ranks(value, false); }
std::int64_t max_over_ranks(std::int64_t value) { return extreme_over_ranks(value, true); }

bool all_equal(std::uint64_t value) {
  if (g_world.size <= 1) return true;
#ifdef LOOM_WITH_MPI
  std::uint64_t lo = value, hi = value;
  check(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  check(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return lo == hi;
#else
  return true;
#endif
}

void barrier() {
  if (g_world.size <= 1) return;
#ifdef LOOM_WITH_MPI
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void abort_all(int code) {
#ifdef LOOM_WITH_MPI
  if (g_world.mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

}  // namespace loom::dist
