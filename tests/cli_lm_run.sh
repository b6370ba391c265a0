#!/usr/bin/env bash
# A small LM run end to end: run folder, metrics.jsonl and summary.json shapes, and identical
# results at 1 and 2 threads.
set -u
loom=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
args=(--set components.data.dir="$tmp/markov" --set components.data.train_tokens=20000
      --set components.data.valid_tokens=3000 --set components.data.test_tokens=3000
      --set components.model.nhid=32 --set components.model.emsize=16 --set stages.train.epochs=2
      --set stages.train.lr_decay=0.5 --set stages.train.lr_decay_after=1)
for t in 1 2; do
  "$loom" --threads $t run "$src/pipelines/quickstart.yaml" "${args[@]}" --out "$tmp/run$t" > "$tmp/log$t" 2>&1 \
    || { cat "$tmp/log$t"; fail "run at $t threads"; }
done
for f in config.yaml vocab.txt metrics.jsonl summary.json manifest.json report.html checkpoints/best.ckpt checkpoints/last.ckpt; do
  [ -s "$tmp/run1/$f" ] || fail "missing $f"
done
[ "$(wc -l < "$tmp/run1/metrics.jsonl")" -eq 4 ] || fail "metrics.jsonl should have 2 epochs x (train, valid)"
python3 - "$tmp" <<'PY' || exit 1
import json, sys, math
tmp = sys.argv[1]
lines = [json.loads(l) for l in open(f"{tmp}/run1/metrics.jsonl")]
for l in lines:
    for k in ("epoch", "split", "loss", "ppl", "lr", "tokens_per_s", "seconds"):
        assert k in l, (k, l)
    assert abs(math.exp(l["loss"]) - l["ppl"]) < 1e-6 * l["ppl"], l
# lr 10 in epoch 1; halved from epoch 2 on (lr_decay_after: 1).
assert [l["lr"] for l in lines if l["split"] == "train"] == [10, 5], lines
s1 = json.load(open(f"{tmp}/run1/summary.json"))
s2 = json.load(open(f"{tmp}/run2/summary.json"))
t = s1["evaluate"]["test"]
assert set(t) >= {"ppl", "loss"}, t
assert s1["optimum_ppl"] > 1, s1
assert t["ppl"] == s2["evaluate"]["test"]["ppl"], ("threads changed the result", t, s2["evaluate"]["test"])
assert open(f"{tmp}/run1/vocab.txt").read() == open(f"{tmp}/run2/vocab.txt").read()
m = json.load(open(f"{tmp}/run2/manifest.json"))
assert m["status"] == "finished" and m["finished"] >= m["started"] and m["threads"] == 2, m
assert {p["name"] for p in m["plugins"]} >= {"word", "frequency", "markov", "rnn_lm", "sgd", "perplexity"}, m["plugins"]
assert all(len(p["sha256"]) == 64 for p in m["plugins"]), m["plugins"]
assert "run" in m["command"] and m["seed"] == 1, m
print("test ppl", t["ppl"], "optimum", s1["optimum_ppl"])
PY
echo "cli lm run: all passed"
