#!/usr/bin/env bash
# The quickstart as the README runs it must land within 15% of the corpus's optimum.
set -u
loom=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$loom" run "$src/pipelines/quickstart.yaml" --set components.data.dir="$tmp/markov" --out "$tmp/run" \
  || { echo "FAIL: quickstart run"; exit 1; }
python3 - "$tmp/run/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ppl, opt = s["evaluate"]["test"]["ppl"], s["optimum_ppl"]
gap = ppl / opt - 1
print(f"quickstart test ppl {ppl:.3f}, optimum {opt:.3f}, gap {100 * gap:+.1f}%")
sys.exit(0 if gap <= 0.15 else 1)
PY
