#!/usr/bin/env python3
"""Inference from a run folder: loom generate, score and evaluate, and the generate and
score stages of a pipeline.

A small word-level LSTM is trained with lm_stream on text files cut from a generated Markov
corpus. Then: generate is reproducible per seed and writes only words of the vocabulary;
score's rows add up to its total, counts unknown words, and its perplexity of the test file
is close to the evaluate stage's; evaluate --split test reproduces summary.json; evaluate
--file scores another file; the pipeline stages write generated.txt and scores.tsv; bad
input exits 2 with one line.

usage: cli_infer.py LOOM SOURCE_DIR
"""
import json
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, errors, finish  # noqa: E402
import loomtest  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-infer-")


def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


try:
    # Text files from a generated corpus, read by lm_stream.
    loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
         "--set", "components.data.train_tokens=30000", "--set", "stages.train.epochs=1",
         "--set", "stages.train.max_batches_per_epoch=1", "--out", f"{TMP}/gen", "--quiet")
    text = os.path.join(TMP, "markov")
    pipeline = os.path.join(TMP, "lm.yaml")
    with open(pipeline, "w") as f:
        f.write(f"""name: infer
seed: 3
components:
  tokenizer: {{ plugin: word, eos: "<eos>" }}
  vocab:     {{ plugin: frequency, unk: "<unk>" }}
  data:      {{ plugin: lm_stream, train: {text}/train.txt, valid: {text}/valid.txt, test: {text}/test.txt,
               batch_size: 16, eval_batch_size: 4, bptt: 20 }}
  model:     {{ plugin: rnn_lm, cell: lstm, emsize: 16, nhid: 32, nlayers: 1, dropout: 0 }}
  optimizer: {{ plugin: sgd, lr: 10, clip: 0.5 }}
  ppl:       {{ plugin: perplexity }}
stages:
  - build_vocab: {{ split: train }}
  - train: {{ epochs: 3 }}
  - evaluate: {{ split: test }}
  - generate: {{ words: 50, seed: 5 }}
  - score: {{ input: {text}/valid.txt }}
""")
    run = os.path.join(TMP, "run")
    loom("run", pipeline, "--out", run, "--quiet")
    summary = json.load(open(os.path.join(run, "summary.json")))
    vocab = {l.split("\t")[0] for l in open(os.path.join(run, "vocab.txt")).read().splitlines()[1:]}

    # The stages.
    generated = open(os.path.join(run, "generated.txt")).read().split()
    check(len(generated) > 20 and set(generated) <= vocab, f"generate stage: {len(generated)} words, all in the vocabulary")
    table = open(os.path.join(run, "scores.tsv")).read().splitlines()
    valid_lines = open(os.path.join(text, "valid.txt")).read().splitlines()
    check(table[0] == "line\ttokens\tunknown\tlog_prob\tppl" and len(table) == len(valid_lines) + 2,
          f"scores.tsv has a header, one row per line and a total ({len(table)} rows for {len(valid_lines)} lines)")
    check(abs(summary["score"]["ppl"] - float(table[-1].split("\t")[4])) < 1e-3 * summary["score"]["ppl"], "summary.json has the score")

    # loom generate: the same seed gives the same text, another seed other text.
    a = loom("generate", "--run", run, "--words", "40", "--seed", "7").stdout
    b = loom("generate", "--run", run, "--words", "40", "--seed", "7").stdout
    c = loom("generate", "--run", run, "--words", "40", "--seed", "8").stdout
    words = a.split()
    check(a == b and a != c, "generate is reproducible per seed")
    check(len(words) + a.count("\n") >= 40 and set(words) <= vocab, f"generate: {len(words)} words from the vocabulary")
    g0 = loom("generate", "--run", run, "--words", "30", "--temperature", "0", "--seed", "1").stdout
    check(g0 == loom("generate", "--run", run, "--words", "30", "--temperature", "0", "--seed", "2").stdout,
          "temperature 0 does not depend on the seed")

    # loom score: rows add up to the total; unknown words are counted.
    test_file = os.path.join(text, "test.txt")
    r = loom("score", "--run", run, test_file)
    rows = [l.split("\t") for l in r.stdout.splitlines()[1:]]
    total = rows[-1]
    check(total[0] == "total" and int(total[1]) == sum(int(x[1]) for x in rows[:-1]), "score: the total counts every line's tokens")
    check(abs(float(total[3]) - sum(float(x[3]) for x in rows[:-1])) < 1e-2, "score: the total log-prob is the sum of the lines'")
    check(math.isclose(float(total[4]), math.exp(-float(total[3]) / int(total[1])), rel_tol=1e-4), "score: ppl = exp(-log_prob / tokens)")
    # evaluate runs the test text in 4 columns with their own state; score runs it as one stream.
    test_ppl = summary["evaluate"]["test"]["ppl"]
    check(abs(float(total[4]) / test_ppl - 1) < 0.05, f"score ppl {total[4]} within 5% of the evaluate stage's {test_ppl}")
    known = sorted(vocab - {"<unk>", "<eos>"})[0]
    r = loom("score", "--run", run, stdin=f"{known} qqqq zzzz\n\n")
    rows = [l.split("\t") for l in r.stdout.splitlines()[1:]]
    check(rows[0][2] == "2" and rows[-1][2] == "2" and "2 unknown" in r.stderr, f"score counts unknown words: {rows} {r.stderr}")

    # loom evaluate: the run's own test split gives the summary's figure; --file another file.
    r = loom("evaluate", "--run", run, "--split", "test")
    check(f"ppl {test_ppl:.4g}" in r.stdout, f"evaluate test: {r.stdout.strip()} (summary ppl {test_ppl:.4g})")
    other = os.path.join(TMP, "other.txt")
    with open(other, "w") as f:
        f.write("\n".join(valid_lines[:50]) + "\n")
    r = loom("evaluate", "--run", run, "--split", "test", "--file", other)
    check("evaluate test: loss" in r.stdout and other in r.stdout, f"evaluate --file: {r.stdout.strip()}")

    # Bad input: one line, exit 2.
    r = loom("generate", "--run", os.path.join(TMP, "nowhere"), expect=2)
    check(len(errors(r)) == 1 and "not a run folder" in errors(r)[0], f"missing run folder: {r.stderr}")
    r = loom("evaluate", "--run", run, "--split", "dev", expect=2)
    check("no split 'dev'" in r.stderr, f"unknown split: {r.stderr}")
    r = loom("evaluate", "--run", f"{TMP}/gen", "--file", other, expect=2)
    check("reads no file for split 'test'" in r.stderr, f"--file with a generated corpus: {r.stderr}")
    r = loom("generate", "--run", run, "--temperature", "-1", expect=2)
    check("--temperature must be 0 or more" in r.stderr, f"negative temperature: {r.stderr}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("inference")
