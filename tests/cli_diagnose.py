#!/usr/bin/env python3
"""`loom diagnose` from the command line: two small recurrent runs (rnn_tanh and LSTM) give one
row per step back in gradients.csv, norms that are positive and finite, and a report with one
line per run on a log axis; a Transformer run is refused as not recurrent and a window longer than the split is an error
naming the split.

usage: cli_diagnose.py LOOM SOURCE_DIR
"""
import csv
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, errors, finish  # noqa: E402
import loomtest  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-diagnose-")


def loom(*args, expect=0):
    return loomtest.loom(LOOM, *args, expect=expect)


def train(name, model):
    run = os.path.join(TMP, name)
    path = loomtest.lm_pipeline(os.path.join(TMP, name + ".yaml"), name, os.path.join(TMP, "markov"), model,
                                "epochs: 1, max_batches_per_epoch: 20", batch_size=8, bptt=12,
                                optimizer="{ plugin: sgd, lr: 1 }")
    loom("run", path, "--out", run, "--quiet")
    return run


try:
    loom("run", os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
         "--set", "components.data.train_tokens=30000", "--set", "stages.train.epochs=1",
         "--set", "stages.train.max_batches_per_epoch=1", "--out", f"{TMP}/gen", "--quiet")
    tanh = train("tanh", "{ plugin: rnn_lm, cell: rnn_tanh, emsize: 8, nhid: 16, nlayers: 2 }")
    lstm = train("lstm", "{ plugin: rnn_lm, cell: lstm, emsize: 8, nhid: 16 }")
    out = os.path.join(TMP, "diag")
    r = loom("diagnose", "--run", tanh, "--run", lstm, "--steps", "30", "--windows", "3", "--out", out)
    rows = list(csv.DictReader(open(os.path.join(out, "gradients.csv"))))
    check(len(rows) == 60, f"30 steps for each of 2 runs: {len(rows)} rows")
    for cell in ["rnn_tanh", "lstm"]:
        norms = [float(x["grad_norm"]) for x in rows if x["cell"] == cell]
        check([int(x["steps_back"]) for x in rows if x["cell"] == cell] == list(range(30)), f"{cell}: steps 0..29")
        check(all(math.isfinite(n) and n > 0 for n in norms), f"{cell}: positive finite norms {norms[:5]}")
        check(norms[-1] < norms[0], f"{cell}: the gradient 29 steps back is smaller than at the last step")
        check(f"({cell}): 30 steps, 3 windows" in r.stdout, r.stdout)
    html = open(os.path.join(out, "report.html")).read()
    check('id="chart-gradient-through-time"' in html and 'data-series="rnn_tanh (tanh)"' in html and
          'data-series="lstm (lstm)"' in html and "(log scale)" in html, "the report draws a line per run, log axis")
    # The default window is the data's bptt (12 steps) and the folder the run's diagnose/.
    loom("diagnose", "--run", tanh)
    check(sum(1 for _ in open(os.path.join(tanh, "diagnose", "gradients.csv"))) == 1 + 12, "bptt steps by default")

    gpt = train("gpt", "{ plugin: transformer_lm, style: gpt, d_model: 8, heads: 2, layers: 1, block_size: 12 }")
    r = loom("diagnose", "--run", gpt, expect=2)
    check(any("is not recurrent" in l for l in errors(r)), "\n".join(errors(r)))
    r = loom("diagnose", "--run", tanh, "--steps", "100000000", expect=2)
    check(any("split 'valid'" in l and "shorter than one window" in l for l in errors(r)), "\n".join(errors(r)))
    r = loom("diagnose", "--run", tanh, "--split", "nope", expect=2)
    check(any("no split 'nope'" in l for l in errors(r)), "\n".join(errors(r)))
finally:
    shutil.rmtree(TMP, ignore_errors=True)
finish("cli_diagnose")
