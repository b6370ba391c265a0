#!/usr/bin/env python3
"""`loom predict` and the predict stage, on a classifier trained on the negation set.

- `loom predict --run DIR TEXT...`, `--file F` and standard input give one line per text,
  "label<TAB>probability", in order, with the same answers whichever way the texts come;
- on the test split's sentences the predicted labels agree with the labels as often as the
  run's own evaluation says (its test accuracy), so prediction batches texts as training did;
- probabilities are above 0.5 (two labels) and at most 1; a text with no known word still
  gets an answer; an empty input gives no lines;
- the predict stage writes predictions.tsv with the same lines and records the counts per
  label in summary.json;
- bad uses exit 2 with one line: texts and --file together, a missing file, a folder that is
  not a run, a run whose model is a language model (not a classifier).

usage: cli_predict.py LOOM SOURCE_DIR GENERATOR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loomtest  # noqa: E402
from loomtest import check, errors, finish  # noqa: E402

LOOM, SRC, GENERATOR = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="loom-predict-")


def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


def parse(stdout):
    rows = []
    for line in stdout.splitlines():
        label, probability = line.split("\t")
        rows.append((label, float(probability)))
    return rows


try:
    subprocess.run([GENERATOR, f"{TMP}/data", "--seed", "1"], check=True, capture_output=True)
    # The negation pipeline with a predict stage on the test sentences.
    sentences = [line.rstrip("\n").split("\t") for line in open(f"{TMP}/data/test.tsv")]
    with open(f"{TMP}/texts.txt", "w") as f:
        f.writelines(text + "\n" for _, text in sentences)
    pipeline = open(os.path.join(SRC, "pipelines", "sentiment_negation.yaml")).read()
    with open(f"{TMP}/pipeline.yaml", "w") as f:
        f.write(pipeline + f"  - predict: {{ input: {TMP}/texts.txt }}\n")
    run = f"{TMP}/run"
    loom("run", f"{TMP}/pipeline.yaml", "--set", f"vars.data_dir={TMP}/data", "--out", run, "--quiet")
    summary = json.load(open(f"{run}/summary.json"))

    # The stage: one line per text, counts in summary.json.
    stage_rows = parse(open(f"{run}/predictions.tsv").read())
    check(len(stage_rows) == len(sentences), f"predictions.tsv has {len(stage_rows)} lines for {len(sentences)} texts")
    counts = {}
    for label, _ in stage_rows:
        counts[label] = counts.get(label, 0) + 1
    check(summary.get("predict", {}).get("labels") == counts and summary["predict"]["lines"] == len(sentences),
          f"summary.json predict: {summary.get('predict')}, counted {counts}")

    # As often right as the run's evaluation says.
    agree = sum(1 for (label, _), (gold, _) in zip(stage_rows, sentences) if label == gold) / len(sentences)
    accuracy = summary["evaluate"]["test"]["accuracy"]
    check(abs(agree - accuracy) < 1e-9, f"predictions agree with the labels on {agree}, the run's test accuracy is {accuracy}")
    check(all(0.5 <= p <= 1.0 for _, p in stage_rows), "probabilities of the predicted label are in [0.5, 1]")

    # The command: standard input, --file and arguments give the same lines.
    r = loom("predict", "--run", run, stdin=open(f"{TMP}/texts.txt").read())
    check(parse(r.stdout) == stage_rows, "loom predict on stdin gives predictions.tsv's lines")
    check(f"{len(sentences)} texts" in r.stderr and "best.ckpt" in r.stderr, f"summary line: {errors(r)}")
    r = loom("predict", "--run", run, "--file", f"{TMP}/texts.txt")
    check(parse(r.stdout) == stage_rows, "loom predict --file gives predictions.tsv's lines")
    first = [text for _, text in sentences[:5]]
    r = loom("predict", "--run", run, *first)
    check(parse(r.stdout) == stage_rows[:5], f"loom predict TEXT... gives one line per text in order: {r.stdout!r}")
    # Word order decides: a contrast and its mirror get opposite labels.
    r = loom("predict", "--run", run, "the plot was good but the acting was dull", "the acting was dull but the plot was good")
    check([label for label, _ in parse(r.stdout)] == ["negative", "positive"], f"contrast and its mirror: {r.stdout!r}")
    # No known word, and no input at all.
    r = loom("predict", "--run", run, "zzzz qqqq", "")
    check(len(parse(r.stdout)) == 2, f"unknown words and an empty text still get a line each: {r.stdout!r}")
    r = loom("predict", "--run", run, stdin="")
    check(r.stdout == "" and "0 texts" in r.stderr, f"empty input: {r.stdout!r} {errors(r)}")

    # Bad uses: exit 2, one line.
    for args, expected in (((*first[:1], "--file", f"{TMP}/texts.txt"), "not both"),
                           (("--file", f"{TMP}/missing.txt"), "missing.txt: cannot open"),
                           (("--run", TMP), None)):
        full = ("predict", "--run", run, *args) if args[0] != "--run" else ("predict", *args, "x")
        r = loom(*full, expect=2)
        lines = errors(r)
        check(len(lines) == 1 and (expected is None or expected in lines[0]), f"loom {' '.join(full)}: {lines}")
    # A language model is not a classifier: its data cannot batch texts with labels.
    lm = f"{TMP}/lm"
    loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
         "--set", "components.data.train_tokens=5000", "--set", "components.data.valid_tokens=1000",
         "--set", "components.data.test_tokens=1000", "--set", "stages.train.epochs=1", "--out", lm, "--quiet")
    r = loom("predict", "--run", lm, "some text", expect=2)
    lines = errors(r)
    check(len(lines) == 1 and "cannot batch new texts" in lines[0], f"predict on a language model: {lines}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("predict")
