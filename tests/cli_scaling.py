#!/usr/bin/env python3
"""`loom scaling` over a folder of run folders written here from a known loss surface,
L(N, D) = E + A / N^a + B / D^a with D = C / (6 N), whose compute-optimal size is
N*(C) = (A / B)^(1 / 2a) (C / 6)^(1/2): the fitted slope of log N* against log C is 0.5 and
the prediction at 1e18 FLOPs lands near the true optimum. Train lines and unfinished folders
are ignored; missing settings and runs without FLOP counts are errors that name them. The
report draws every budget's IsoFLOP curve with its fit and minimum, and N* and D* against C
with the fitted line reaching the predicted budget.

usage: cli_scaling.py LOOM SOURCE_DIR
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

LOOM = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="loom-scaling-")
E, A, B, ALPHA = 1.7, 400.0, 4000.0, 0.34


def loom(*args, expect=0):
    return loomtest.loom(LOOM, *args, expect=expect)


def optimum(C):
    return (A / B) ** (1 / (2 * ALPHA)) * math.sqrt(C / 6)


def write_run(folder, n, with_flops=True):
    os.makedirs(folder)
    train = {"parameters": n, "seconds": 1.0}
    if with_flops:
        train["forward_flops_per_token"] = 2 * n
    json.dump({"name": os.path.basename(folder), "train": train}, open(os.path.join(folder, "summary.json"), "w"))
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for k in range(71):  # 1e12 .. 1e19 in steps of 10^0.1
            C = 10 ** (12 + 0.1 * k)
            loss = E + A / n ** ALPHA + B / (C / (6 * n)) ** ALPHA
            f.write(json.dumps({"epoch": k + 1, "split": "train", "loss": loss + 1, "train_flops": C}) + "\n")
            f.write(json.dumps({"epoch": k + 1, "split": "valid", "loss": loss, "train_flops": C}) + "\n")


try:
    sweep = os.path.join(TMP, "sweep")
    for k in range(17):  # 1e4 .. 1e8 parameters, a quarter decade apart
        write_run(os.path.join(sweep, f"size-{k:02d}"), 10 ** (4 + 0.25 * k))
    os.makedirs(os.path.join(sweep, "unfinished"))  # no summary yet: skipped
    os.makedirs(os.path.join(sweep, "training"))  # a run still training: summary without train, skipped
    json.dump({"name": "training"}, open(os.path.join(sweep, "training", "summary.json"), "w"))
    open(os.path.join(sweep, "training", "metrics.jsonl"), "w").write(
        json.dumps({"epoch": 1, "split": "valid", "loss": 9.0, "train_flops": 1e13}) + "\n")
    r = loom("scaling", sweep, "--budgets", "1e13,1e14,1e15,1e16", "--predict", "1e18", "--window", "0.75")
    out = json.load(open(os.path.join(sweep, "scaling", "scaling.json")))
    check(all(b["usable"] for b in out["budgets"]), f"every budget has a minimum: {out['budgets']}")
    for b in out["budgets"]:
        check(abs(math.log10(b["params_opt"] / optimum(b["flops"]))) < 0.05,
              f"N* at {b['flops']:g}: {b['params_opt']:.4g} vs {optimum(b['flops']):.4g}")
    check(abs(out["params_line"]["slope"] - 0.5) < 0.02, f"slope of N*: {out['params_line']}")
    check(abs(out["tokens_line"]["slope"] - 0.5) < 0.02, f"slope of D*: {out['tokens_line']}")
    p = out["predictions"][0]
    check(abs(p["params_opt"] / optimum(1e18) - 1) < 0.15, f"N* at 1e18: {p['params_opt']:.4g} vs {optimum(1e18):.4g}")
    check("skipped" in r.stderr and "training" in r.stderr, "a run still training is skipped, saying so")
    check("log10 N* = 0.5" in r.stdout or "log10 N* = 0.4" in r.stdout, "the fitted line is printed:\n" + r.stdout)
    rows = open(os.path.join(sweep, "scaling", "scaling.csv")).read().splitlines()
    check(rows[0] == "budget_flops,run,parameters,loss" and len(rows) > 4 * 3, f"scaling.csv: {rows[:3]}")

    html = open(os.path.join(sweep, "scaling", "report.html")).read()
    for section in ['id="budgets"', 'id="chart-isoflop"', 'id="chart-params"', 'id="chart-tokens"']:
        check(section in html, f"report.html has {section}")
    for b in out["budgets"]:
        C = f"{b['flops']:.4g}"
        check(f'data-series="C = {C}"' in html and f'data-series="fit at {C}"' in html and
              f'data-series="N* at {C}"' in html, f"the IsoFLOP chart draws budget {C}, its fit and its minimum")
    check(html.count('data-series="predicted at 1e+18"') == 2, "N* and D* charts mark the prediction at 1e18")
    check("(log scale)" in html, "log axes")

    # Errors name what is missing.
    r = loom("scaling", sweep, expect=2)
    check(any("--budgets" in l for l in errors(r)), "\n".join(errors(r)))
    r = loom("scaling", sweep, "--budgets", "1e13,x", expect=2)
    check(any("'x' is not a positive number" in l for l in errors(r)), "\n".join(errors(r)))
    r = loom("scaling", sweep, "--budgets", "1e30,1e31", expect=2)
    check(any("0 runs reach it" in l for l in errors(r)), "budgets beyond every curve:\n" + "\n".join(errors(r)))
    bad = os.path.join(TMP, "bad")
    for k in range(3):
        write_run(os.path.join(bad, f"size-{k}"), 10 ** (4 + k), with_flops=(k != 1))
    r = loom("scaling", bad, "--budgets", "1e13,1e14", expect=2)
    check(any("size-1" in l and "forward_flops_per_token" in l for l in errors(r)), "\n".join(errors(r)))
finally:
    shutil.rmtree(TMP, ignore_errors=True)
finish("cli_scaling")
