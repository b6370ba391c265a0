#!/usr/bin/env bash
# A language model pipeline on the quickstart's Markov corpus, run as the README runs it, must
# land within 15% of the corpus's optimum; the trained run then generates text and scores the
# test file (every language model serves both). Arguments: loom, source folder, and the
# pipeline (default pipelines/quickstart.yaml).
set -u
loom=$1
src=$2
pipeline=${3:-quickstart.yaml}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$loom" run "$src/pipelines/$pipeline" --set components.data.dir="$tmp/markov" --out "$tmp/run" \
  || { echo "FAIL: $pipeline run"; exit 1; }
python3 - "$tmp/run/summary.json" "$pipeline" <<'PY' || exit 1
import json, sys
s = json.load(open(sys.argv[1]))
ppl, opt = s["evaluate"]["test"]["ppl"], s["optimum_ppl"]
gap = ppl / opt - 1
print(f"{sys.argv[2]}: test ppl {ppl:.3f}, optimum {opt:.3f}, gap {100 * gap:+.1f}%")
sys.exit(0 if gap <= 0.15 else 1)
PY
words=$("$loom" generate --run "$tmp/run" --words 50 --seed 3 | wc -w)
[ "$words" -ge 40 ] || { echo "FAIL: generate gave $words words of 50"; exit 1; }
head -n 200 "$tmp/markov/test.txt" | "$loom" score --run "$tmp/run" > "$tmp/score.tsv" \
  || { echo "FAIL: score"; exit 1; }
python3 - "$tmp/score.tsv" "$tmp/run/summary.json" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert rows[0] == ["line", "tokens", "unknown", "log_prob", "ppl"], rows[0]
total = rows[-1]
assert total[0] == "total" and len(rows) == 202, (total, len(rows))
ppl, test_ppl = float(total[4]), json.load(open(sys.argv[2]))["evaluate"]["test"]["ppl"]
# Scoring carries the context from line to line as training does: close to the test ppl.
print(f"score: ppl {ppl:.3f} on 200 test lines (test split {test_ppl:.3f})")
sys.exit(0 if abs(ppl / test_ppl - 1) < 0.1 else 1)
PY
