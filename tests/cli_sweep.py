#!/usr/bin/env python3
"""Sweeps end to end: a 2 x 2 grid from the pipeline's sweep: section, two points at a time.

Checks results.csv, results.md, sweep.json and the point folders; that the sweep report's
heatmap renders in headless Chromium with one cell per point; that running the sweep again
skips finished points and reruns only a missing one, with the same results; --grid from the
command line; an unknown key refused before anything runs; a failing point reported (exit 2)
while the others finish; an axis of named variants (whole blocks per variant, restricted by
--grid, refused with the point's name when a variant is wrong).

usage: cli_sweep.py LOOM SOURCE_DIR
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, finish  # noqa: E402
import loomtest  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-sweep-")


def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


pipeline = os.path.join(TMP, "sweep.yaml")
base = open(os.path.join(SRC, "pipelines", "quickstart.yaml")).read()
with open(pipeline, "w") as f:
    f.write(base.replace("name: quickstart", "name: sweep-test"))
    f.write("sweep:\n  grid: { components.model.nhid: [8, 16], components.model.nlayers: [1, 2] }\n  parallel: 2\n")
SMALL = ["--set", f"components.data.dir={TMP}/markov", "--set", "components.data.train_tokens=20000",
         "--set", "components.data.valid_tokens=3000", "--set", "components.data.test_tokens=3000",
         "--set", "components.model.emsize=8", "--set", "stages.train.epochs=2"]


class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def count(self, tag, cls):
        return sum(1 for t, a in self.tags if t == tag and cls in a.get("class", "").split())


try:
    out = os.path.join(TMP, "grid")
    r = loom("sweep", pipeline, *SMALL, "--out", out)
    check("2 nhid x 2 nlayers = 4 points, 0 done before; 2 at once, 1 thread each" in r.stdout, "sweep header:\n" + r.stdout)
    ids = ["nhid=8,nlayers=1", "nhid=8,nlayers=2", "nhid=16,nlayers=1", "nhid=16,nlayers=2"]
    for i in ids:
        for f in ("summary.json", "metrics.jsonl", "report.html", "log.txt", "checkpoints/best.ckpt"):
            check(os.path.exists(os.path.join(out, i, f)), f"point {i} has {f}")
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    check([r["point"] for r in rows] == ids, f"results.csv rows: {[r['point'] for r in rows]}")
    for row in rows:
        summary = json.load(open(os.path.join(out, row["point"], "summary.json")))
        check(row["status"] == "done", f"{row['point']} status {row['status']}")
        check(float(row["test.ppl"]) == summary["evaluate"]["test"]["ppl"], f"{row['point']}: csv test.ppl matches summary.json exactly")
        check(row["components.model.nhid"] == row["point"].split(",")[0].split("=")[1], "csv has the swept values")
    md = open(os.path.join(out, "results.md")).read()
    check("Ranked by `test.ppl` (lower is better)" in md and md.count("**") == 2, "results.md ranks by test.ppl and bolds one value:\n" + md)
    best = min(rows, key=lambda r: float(r["test.ppl"]))
    check(re.search(r"\| " + best["components.model.nhid"] + r" \| " + best["components.model.nlayers"] + r" \| done \| \*\*", md) is not None,
          "the bold value is the lowest test.ppl")
    sweep = json.load(open(os.path.join(out, "sweep.json")))
    check(sweep["keys"] == ["components.model.nhid", "components.model.nlayers"] and sweep["primary"] == "test.ppl"
          and sweep["higher_is_better"] is False, f"sweep.json header: {sweep}")

    # The report renders in Chromium with a 2 x 2 heatmap and a line chart per key.
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if check(browser is not None, "chromium is not installed (scripts/install-deps.sh installs it)"):
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              f"--user-data-dir={TMP}/chromium", "--dump-dom", "file://" + os.path.join(out, "report.html")],
                             capture_output=True, text=True)
        d = Dom()
        d.feed(dom.stdout)
        check(d.count("svg", "heatmap") == 1, "Chromium: one heatmap")
        check(d.count("rect", "cell") == 4, f"Chromium: {d.count('rect', 'cell')} heatmap cells, expected 4")
        check(d.count("svg", "line-chart") >= 2, "Chromium: a line chart per swept key")
        check(d.count("tr", "point") == 4, "Chromium: four result rows")

    # Again: nothing to do. Without one point: only that point runs, to the same result.
    stamp = os.path.getmtime(os.path.join(out, ids[0], "metrics.jsonl"))
    r = loom("sweep", pipeline, *SMALL, "--out", out)
    check("4 points, 4 done before" in r.stdout, "second sweep skips every point:\n" + r.stdout)
    check(os.path.getmtime(os.path.join(out, ids[0], "metrics.jsonl")) == stamp, "a finished point was not run again")
    shutil.rmtree(os.path.join(out, ids[2]))
    r = loom("sweep", pipeline, *SMALL, "--out", out)
    check("4 points, 3 done before" in r.stdout and r.stdout.count("done in") == 1, "third sweep runs one point:\n" + r.stdout)
    rows2 = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    check([r["test.ppl"] for r in rows2] == [r["test.ppl"] for r in rows], "rerun point gives the same result")

    # --grid replaces a key of sweep.grid; a point that diverges fails alone (exit 2).
    out2 = os.path.join(TMP, "lr")
    r = loom("sweep", pipeline, *SMALL, "--set", "components.optimizer.clip=0", "--grid", "components.model.nlayers=1",
             "--grid", "components.optimizer.lr=1,1e38", "--out", out2, expect=2)
    rows = {r["point"]: r for r in csv.DictReader(open(os.path.join(out2, "results.csv")))}
    check(set(rows) == {"nhid=8,nlayers=1,lr=1", "nhid=8,nlayers=1,lr=1e38", "nhid=16,nlayers=1,lr=1", "nhid=16,nlayers=1,lr=1e38"},
          f"--grid points: {sorted(rows)}")
    check(rows.get("nhid=8,nlayers=1,lr=1", {}).get("status") == "done" and rows.get("nhid=8,nlayers=1,lr=1e38", {}).get("status") == "failed",
          f"statuses: {[(k, v['status']) for k, v in rows.items()]}")
    check("2 of 4 sweep points failed" in r.stderr and "training diverged" in r.stderr, "failure summary:\n" + r.stderr)

    # A key no plugin has: refused before anything runs, naming the point and the key.
    out3 = os.path.join(TMP, "bad")
    r = loom("sweep", pipeline, *SMALL, "--grid", "components.model.nhidd=1,2", "--out", out3, expect=2)
    check("unknown parameter 'nhidd' (did you mean 'nhid'?)" in r.stderr and "point " in r.stderr, "bad key:\n" + r.stderr)
    check(not os.path.exists(os.path.join(out3, "sweep.json")), "nothing ran for a bad sweep")

    # An axis of named variants: whole blocks per variant, --set still applies to each, and
    # --grid keeps the variants it names (in its order).
    variants = os.path.join(TMP, "variants.yaml")
    with open(variants, "w") as f:
        f.write(base.replace("name: quickstart", "name: variants-test"))
        f.write("sweep:\n  grid:\n    arch:\n"
                "      lstm: {}\n"
                "      gru: { components.model: { plugin: rnn_lm, cell: gru, emsize: 16, nhid: 12, nlayers: 1 },"
                " components.optimizer.lr: 5 }\n"
                "    components.model.dropout: [0, 0.2]\n")
    out4 = os.path.join(TMP, "variants")
    r = loom("sweep", variants, *SMALL, "--grid", "arch=gru,lstm", "--grid", "components.model.dropout=0", "--out", out4)
    rows = list(csv.DictReader(open(os.path.join(out4, "results.csv"))))
    check([r["point"] for r in rows] == ["arch=gru,dropout=0", "arch=lstm,dropout=0"], f"variant points: {[r['point'] for r in rows]}")
    check(all(r["arch"] in ("gru", "lstm") and r["status"] == "done" for r in rows), f"variant rows: {rows}")
    gru = open(os.path.join(out4, "arch=gru,dropout=0", "config.yaml")).read()
    lstm = open(os.path.join(out4, "arch=lstm,dropout=0", "config.yaml")).read()
    check(re.search(r"cell: \"?gru", gru) and re.search(r"nhid: \"?12", gru) and re.search(r"lr: \"?5\b", gru),
          "the gru variant's block and learning rate reached its run:\n" + gru)
    check(re.search(r"emsize: \"?8\b", gru) and re.search(r"emsize: \"?8\b", lstm),
          "--set components.model.emsize=8 applies on top of each variant")
    check(re.search(r"cell: \"?lstm", lstm) and re.search(r"nhid: \"?128", lstm), "the empty variant keeps the pipeline's model")
    check(json.load(open(os.path.join(out4, "sweep.json")))["keys"] == ["arch", "components.model.dropout"], "sweep.json keys")
    r = loom("sweep", variants, *SMALL, "--grid", "arch=grus", "--out", os.path.join(TMP, "v2"), expect=2)
    check("sweep axis 'arch' has no variant 'grus' (did you mean 'gru'?)" in r.stderr, "unknown variant:\n" + r.stderr)
    with open(variants, "a") as f:
        f.write("    bad:\n      broken: { components.model: { plugin: rnn_lm, nhidd: 3 } }\n")
    r = loom("sweep", variants, *SMALL, "--out", os.path.join(TMP, "v3"), expect=2)
    check("point arch=lstm,dropout=0,bad=broken" in r.stderr and "unknown parameter 'nhidd'" in r.stderr,
          "a variant's bad key is refused before anything runs, naming the point:\n" + r.stderr)
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("sweep")
