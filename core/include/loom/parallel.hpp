#pragma once
// The one thread pool (TBB) and the thread budget shared with OpenBLAS.
//
// Scheme: TBB is the only pool. OpenBLAS is kept single-threaded; large matrix products are
// cut into blocks of rows or columns, one OpenBLAS call per block on TBB's threads; row-wise
// kernels, tokenising and counting run on TBB too. Two pools (OpenBLAS's spinning workers
// beside TBB's) fought over 2 cores and burnt system time in sched_yield; one pool does not.
// set_threads(n) bounds everything to n threads. Plugins never start threads of their own.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cstdint>

namespace loom {

// Bounds TBB and OpenBLAS to n threads (n >= 1). Call from the main thread before work
// starts; the bound holds until the next call.
void set_threads(int n);
// The current bound (the number of cores when set_threads was never called).
int threads();
// The number of hardware threads.
int hardware_threads();

// Subnormal floats (below 1.2e-38) are flushed to zero on x86 (MXCSR FTZ and DAZ): the core
// does it for the thread that loads it, threads started after inherit it, and set_threads
// does it again for its caller. Training reaches such values in its gradients, and a matrix
// product that meets them ran 20-30 times slower (IMDB LSTM backward: 4-7 GFLOP/s against
// 130 with them flushed). Call flush_subnormals() on a thread made before the core loaded.
void flush_subnormals();
// Whether the calling thread flushes subnormals (false where there is no such control).
bool subnormals_are_flushed();

// How many chunks parallel_chunks makes of n items; chunk c starts at c * grain, so a body
// can keep per-chunk results in a vector indexed by begin / grain.
inline std::int64_t parallel_chunk_count(std::int64_t n, std::int64_t grain) {
  return n <= 0 ? 0 : (n + grain - 1) / grain;
}

// Calls body(begin, end) over [0, n) in chunks of `grain` items (the last one shorter), in
// parallel when there is enough work. The chunking does not depend on the thread count, so a
// body whose per-chunk results are combined in chunk order gives identical results at any
// thread count.
template <class Body>
void parallel_chunks(std::int64_t n, std::int64_t grain, Body&& body) {
  if (n <= 0) return;
  if (n <= grain || threads() == 1) {
    for (std::int64_t b = 0; b < n; b += grain) body(b, b + grain < n ? b + grain : n);
    return;
  }
  std::int64_t chunks = (n + grain - 1) / grain;
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, chunks, 1),
                    [&](const tbb::blocked_range<std::int64_t>& r) {
                      for (std::int64_t c = r.begin(); c != r.end(); ++c) {
                        std::int64_t b = c * grain;
                        body(b, b + grain < n ? b + grain : n);
                      }
                    });
}

}  // namespace loom
