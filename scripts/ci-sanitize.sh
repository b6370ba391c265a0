#!/usr/bin/env bash
# The whole test suite (every ctest test, the tests/*.sh scripts that run the loom binary
# included) under AddressSanitizer + UndefinedBehaviorSanitizer, in a build of its own.
#
#   bash scripts/ci-sanitize.sh
#
# g++ builds it, like the normal build: its ASan runtime is one shared library (libasan.so)
# that the loom host, the test executables and every plugin they dlopen link, so a plugin
# resolves to the same runtime as the process that loads it. That holds for the out-of-tree
# plugin test too, which builds its plugin with the default compiler against the installed
# package (whose loom_project_options carries the sanitizer flags). OpenBLAS and TBB are
# Debian's uninstrumented libraries. Any finding fails: UBSan is compiled not to recover,
# ASan stops at its first error, LeakSanitizer makes the process exit non-zero.
#
# Environment: LOOM_SANITIZE_BUILD (build folder, default build-sanitize), LOOM_CI_JOBS
# (parallel build jobs, default 2).
set -eu
cd "$(dirname "$0")/.."
build=${LOOM_SANITIZE_BUILD:-build-sanitize}
jobs=${LOOM_CI_JOBS:-2}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Debug: no NDEBUG; LOOM_SANITIZE adds -O1 after everything else.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DLOOM_SANITIZE=ON > /dev/null
cmake --build "$build" -j"$jobs" > "$build/sanitize-build.log" 2>&1 || { tail -50 "$build/sanitize-build.log"; exit 1; }
echo "sanitize: built in $SECONDS s"

# loom restarts itself once (execv of /proc/self/exe) when OpenBLAS picked weaker kernels
# than the CPU has, for the commands that compute. Force that path, which the CLI tests take
# only on some CPUs, and check the restarted process runs clean under the sanitizers.
restart_dir=$(mktemp -d)
out=$(OPENBLAS_CORETYPE=Prescott "$build/core/loom" run pipelines/quickstart.yaml --quiet --out "$restart_dir/run" \
        --set components.data.dir="$restart_dir/markov" --set components.data.train_tokens=2000 \
        --set stages.train.epochs=1 --set stages.train.max_batches_per_epoch=2 2>&1) \
  || { echo "$out"; echo "FAIL: loom run after the OpenBLAS restart"; exit 1; }
rm -rf "$restart_dir"
echo "$out" | grep -q "restarting with OPENBLAS_CORETYPE" \
  && echo "sanitize: loom's OpenBLAS restart ran clean" \
  || echo "sanitize: this CPU has no core type stronger than Prescott; restart not exercised"

ctest --test-dir "$build" --output-on-failure
