#!/usr/bin/env bash
# Installs loom into a temporary prefix, builds bits_per_token against it with
# find_package(loom), and runs a pipeline that uses it through --plugin-path.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
cmake -S "$src/tests/out_of_tree" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > "$tmp/configure.log" \
  || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build" -j2 > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
loom="$tmp/prefix/bin/loom"
"$loom" plugins --plugin-path "$tmp/build/plugins" | grep -q "bits_per_token" || { echo "FAIL: plugin not listed"; exit 1; }
"$loom" run "$src/pipelines/quickstart.yaml" --plugin-path "$tmp/build/plugins" \
  --set components.bits.plugin=bits_per_token --set components.data.dir="$tmp/markov" \
  --set components.data.train_tokens=5000 --set components.data.valid_tokens=1000 --set components.data.test_tokens=1000 \
  --set components.model.nhid=16 --set components.model.emsize=8 --set stages.train.epochs=1 --out "$tmp/run" -q
python3 - "$tmp/run/summary.json" <<'PY'
import json, math, sys
t = json.load(open(sys.argv[1]))["evaluate"]["test"]
assert abs(t["bits"] - math.log2(t["ppl"])) < 1e-9, t
print("out-of-tree metric bits", t["bits"], "= log2 ppl", math.log2(t["ppl"]))
PY
