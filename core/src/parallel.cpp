#include "loom/parallel.hpp"

#include <cblas.h>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include <memory>

#include "loom/errors.hpp"

namespace loom {

namespace {
std::unique_ptr<tbb::global_control>& control() {
  static std::unique_ptr<tbb::global_control> instance;
  return instance;
}
int current_threads = 0;
}  // namespace

int hardware_threads() { return tbb::info::default_concurrency(); }

void set_threads(int n) {
  LOOM_ASSERT(n >= 1, "thread count must be at least 1");
  control().reset();
  control() = std::make_unique<tbb::global_control>(
      tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(n));
  openblas_set_num_threads(n);
  current_threads = n;
}

int threads() { return current_threads > 0 ? current_threads : hardware_threads(); }

}  // namespace loom
