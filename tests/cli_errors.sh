#!/usr/bin/env bash
# Bad input reaches the user as one clear message with file:line:col and exit code 2.
set -u
loom=$1
src=$2
fixtures=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$tmp/typo.yaml" <<'YAML'
name: typo
components:
  tokenizer: { plugin: word, eos: "<eos>" }
  vocab:     { plugin: frequency }
  data:      { plugin: markov, dir: DIR, train_tokens: 2000 }
  model:     { plugin: rnn_lm, nhid: 16, emsize: 16 }
  optimizer: { plugin: sgd, lrr: 20 }
  ppl:       { plugin: perplexity }
stages:
  - build_vocab: {}
  - train: { epcohs: 1 }
YAML
sed -i "s|DIR|$tmp/markov|" "$tmp/typo.yaml"

for cmd in validate "run --out $tmp/run"; do
  out=$("$loom" $cmd "$tmp/typo.yaml" 2>&1 >/dev/null); code=$?
  [ $code -eq 2 ] || fail "loom $cmd: exit $code, expected 2 ($out)"
  echo "$out" | grep -qF "$tmp/typo.yaml:7:29: component 'optimizer' (sgd): unknown parameter 'lrr' (did you mean 'lr'?)" \
    || fail "loom $cmd: message was: $out"
  echo "$out" | grep -qF "unknown parameter 'epcohs' (did you mean 'epochs'?)" || fail "both problems at once: $out"
done
[ ! -e "$tmp/run/summary.json" ] || fail "a bad pipeline must not start a run"

# Unknown plugin, malformed YAML, missing file, unknown command, bad --set.
printf 'components:\n  m: { plugin: rnn_lmm }\nstages: [train]\n' > "$tmp/p.yaml"
out=$("$loom" validate "$tmp/p.yaml" 2>&1); [ $? -eq 2 ] || fail "unknown plugin exit"
echo "$out" | grep -qF "$tmp/p.yaml:2:16: unknown plugin 'rnn_lmm' (did you mean 'rnn_lm'?)" || fail "unknown plugin: $out"
printf 'components: [\n' > "$tmp/bad.yaml"
out=$("$loom" validate "$tmp/bad.yaml" 2>&1); [ $? -eq 2 ] || fail "malformed exit"
echo "$out" | grep -q "$tmp/bad.yaml:.*malformed YAML" || fail "malformed: $out"
out=$("$loom" run "$tmp/none.yaml" 2>&1); [ $? -eq 2 ] || fail "missing file exit"
echo "$out" | grep -qF "cannot read pipeline '$tmp/none.yaml'" || fail "missing: $out"
out=$("$loom" rn x 2>&1); [ $? -eq 2 ] || fail "unknown command exit"
echo "$out" | grep -qF "unknown command 'rn' (did you mean 'run'?)" || fail "command: $out"
out=$("$loom" validate "$src/pipelines/quickstart.yaml" --set components.modle.nhid=3 2>&1); [ $? -eq 2 ] || fail "--set exit"
echo "$out" | grep -qF "did you mean 'model'?" || fail "--set: $out"
out=$("$loom" validate "$src/pipelines/quickstart.yaml" --set components.model.nhid=abc 2>&1); [ $? -eq 2 ] || fail "--set type exit"
echo "$out" | grep -qF -- "--set components.model.nhid=abc: expected an integer, got 'abc'" || fail "--set type: $out"
# Hostile files: one line naming the file, exit 2, no crash.
only_error() {  # the stderr lines other than the OpenBLAS note
  grep -v '^loom: OpenBLAS' <<< "$1" | grep -v '^$'
}
printf 'good words here\nbad \xff\xfe bytes\n' > "$tmp/latin1.txt"
printf 'some words\n' > "$tmp/ok.txt"
cat > "$tmp/stream.yaml" <<YAML
components:
  tokenizer: { plugin: word, eos: "<eos>" }
  vocab:     { plugin: frequency }
  data:      { plugin: lm_stream, train: $tmp/latin1.txt, valid: $tmp/ok.txt, test: $tmp/ok.txt, batch_size: 1, eval_batch_size: 1, bptt: 2 }
  model:     { plugin: rnn_lm, nhid: 4, emsize: 4, nlayers: 1 }
  optimizer: { plugin: sgd }
  ppl:       { plugin: perplexity }
stages:
  - build_vocab: {}
  - train: { epochs: 1 }
YAML
out=$("$loom" run "$tmp/stream.yaml" --out "$tmp/r2" --quiet 2>&1); code=$?
[ $code -eq 2 ] || fail "non-UTF-8 data: exit $code ($out)"
[ "$(only_error "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -qF "$tmp/latin1.txt:2" && echo "$out" | grep -qi "utf-8" \
  || fail "non-UTF-8 data: $out"
sed -i "s|latin1.txt|ok.txt|" "$tmp/stream.yaml"
"$loom" run "$tmp/stream.yaml" --out "$tmp/r2" --overwrite --quiet > /dev/null 2>&1 || fail "small lm_stream run"
# The run's vocabulary is the checkpoint's; an edited vocab.txt is refused, not used.
cp "$tmp/r2/vocab.txt" "$tmp/vocab.saved"
printf '#loom-vocab 1\nsome\t1\nwords\t1\nsome\t1\n' > "$tmp/r2/vocab.txt"
out=$("$loom" evaluate --run "$tmp/r2" 2>&1); code=$?
[ $code -eq 2 ] && [ "$(only_error "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -qF "$tmp/r2/vocab.txt: differs from the vocabulary saved in" \
  || fail "edited vocab.txt: exit $code: $out"
rm "$tmp/r2/vocab.txt"
"$loom" evaluate --run "$tmp/r2" >/dev/null 2>&1 || fail "a run without vocab.txt uses the checkpoint's copy"
if [ -n "$fixtures" ]; then
  out=$("$loom" --plugin-path "$fixtures/wrong_abi" plugins 2>&1); code=$?
  [ $code -eq 2 ] && [ "$(only_error "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "wrong_abi.*ABI" \
    || fail "wrong ABI plugin: exit $code: $out"
  out=$("$loom" --plugin-path "$fixtures/no_entry" plugins 2>&1); code=$?
  [ $code -eq 2 ] && echo "$out" | grep -q "no_entry.*loom_plugin" || fail "plugin without entry point: exit $code: $out"
fi

out=$("$loom" validate "$src/pipelines/quickstart.yaml" --set stages.train=5 2>&1); [ $? -eq 2 ] || fail "--set on a stage exit"
echo "$out" | grep -qF "'stages.train' names a stage: set its options one by one" || fail "--set on a stage: $out"
out=$("$loom" validate "$src/pipelines/quickstart.yaml" --set name=/tmp/elsewhere 2>&1); [ $? -eq 2 ] || fail "bad name exit"
echo "$out" | grep -qF "name must be a plain non-empty name without '/'" || fail "bad name: $out"
touch "$tmp/blocker"
out=$("$loom" run "$src/pipelines/quickstart.yaml" --out "$tmp/blocker/run" 2>&1); [ $? -eq 2 ] || fail "run folder under a file: exit"
echo "$out" | grep -qF "cannot create the run folder '$tmp/blocker/run'" || fail "run folder under a file: $out"

"$loom" validate "$src/pipelines/quickstart.yaml" >/dev/null || fail "quickstart must validate"
"$loom" --help >/dev/null || fail "--help"
"$loom" plugins rnn_lm | grep -q "tie_weights" || fail "plugins NAME lists parameters"
echo "cli errors: all passed"
