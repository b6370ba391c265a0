#pragma once
// What OpenBLAS runs on, and the choice of its kernels.
//
// OpenBLAS picks its kernels when the library loads, from the CPU or from the environment
// variable OPENBLAS_CORETYPE. An environment that names an older core than the CPU has
// (OPENBLAS_CORETYPE=Haswell on an AVX-512 machine) halves the speed of every matrix
// product; the host re-executes itself without the variable in that case (see main.cpp).
#include <string>

namespace loom {

// The kernel set OpenBLAS uses now ("Cooperlake", "Haswell", ...).
std::string openblas_core();
// The best OpenBLAS core type this CPU supports, by its feature flags.
std::string best_openblas_coretype();
// True when `coretype` is a known core type older than `best` (a weaker kernel set).
bool coretype_is_weaker(const std::string& coretype, const std::string& best);

}  // namespace loom
