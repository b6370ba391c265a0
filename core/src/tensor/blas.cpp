#include "loom/blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace loom {

std::string openblas_core() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

std::string best_openblas_coretype() {
  __builtin_cpu_init();
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) return "Cooperlake";
  if (avx512) return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  if (__builtin_cpu_supports("avx")) return "Sandybridge";
  return "Nehalem";
}

namespace {
// Intel x86-64 core types in the order OpenBLAS's kernels get stronger.
int rank(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  static const std::vector<std::string> order = {"prescott", "core2", "penryn", "dunnington",
                                                  "nehalem", "sandybridge", "haswell", "skylakex",
                                                  "cooperlake", "sapphirerapids"};
  auto it = std::find(order.begin(), order.end(), name);
  return it == order.end() ? -1 : static_cast<int>(it - order.begin());
}
}  // namespace

bool coretype_is_weaker(const std::string& coretype, const std::string& best) {
  int a = rank(coretype), b = rank(best);
  return a >= 0 && b >= 0 && a < b;
}

}  // namespace loom
