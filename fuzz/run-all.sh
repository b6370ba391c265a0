#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for SECONDS.
#
#   bash fuzz/run-all.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# Each target first replays its seeds and regression inputs, then fuzzes from a working copy
# of its corpus (the committed corpus/ is never written). Any crash, sanitizer report, timeout
# or out-of-memory stops with exit 1 and names the saved input; copy that file into
# fuzz/regressions/<target>/ with the fix. The per-target numbers (executions, coverage) are
# printed at the end, from libFuzzer's -print_final_stats.
#
# Environment: LOOM_FUZZ_BUILD (build folder, default build-fuzz), LOOM_FUZZ_WORK (working
# corpora, crashes and logs, default $LOOM_FUZZ_BUILD/work), LOOM_CI_JOBS (parallel build
# jobs, default 2), LOOM_FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${LOOM_FUZZ_BUILD:-build-fuzz}
work=${LOOM_FUZZ_WORK:-$build/work}
jobs=${LOOM_CI_JOBS:-2}

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DLOOM_FUZZ=ON \
      -DLOOM_BUILD_TESTS=OFF > /dev/null
cmake --build "$build" -j"$jobs" > "$build/fuzz-build.log" 2>&1 || { tail -50 "$build/fuzz-build.log"; exit 1; }
echo "fuzz: built in $SECONDS s"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in "$build"/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("${f##*/fuzz_}"); done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$work"
summary=()
status=0
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  inputs=(fuzz/corpus/"$t")
  [ -d fuzz/regressions/"$t" ] && inputs+=(fuzz/regressions/"$t")
  dict=()
  [ -f fuzz/dict/"$t".dict ] && dict=(-dict=fuzz/dict/"$t".dict)
  log="$work/$t.log"
  mkdir -p "$work/corpus/$t" "$work/crashes/$t"
  echo "== fuzz_$t: replaying the seeds and regression inputs"
  # A bare list of files is run once each, without fuzzing.
  mapfile -t files < <(find "${inputs[@]}" -type f | sort)
  if ! "$bin" -rss_limit_mb=4096 "${files[@]}" > "$work/$t.replay.log" 2>&1; then
    tail -40 "$work/$t.replay.log"
    echo "FAIL: fuzz_$t fails on a committed input (log: $work/$t.replay.log)"
    status=1
    continue
  fi
  echo "== fuzz_$t: fuzzing for $seconds s"
  # shellcheck disable=SC2086 # LOOM_FUZZ_ARGS is a list of flags
  if "$bin" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -max_len=8192 \
       -print_final_stats=1 "${dict[@]}" -artifact_prefix="$work/crashes/$t/" ${LOOM_FUZZ_ARGS:-} \
       "$work/corpus/$t" "${inputs[@]}" > "$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    grep -aE "^loom fuzz:|ERROR:|SUMMARY:|Test unit written" "$log" | head -20 || true
    echo "FAIL: fuzz_$t (log: $log); add the saved input to fuzz/regressions/$t/ with the fix"
  fi
  execs=$(grep -ao 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  summary+=("$(printf '%-12s %6ss %12s executions %8s edges  %s' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "$result")")
done
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $status
