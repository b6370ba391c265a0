#!/usr/bin/env python3
"""Checkpoints and exact resume, end to end through the loom command.

A run interrupted mid-epoch by SIGINT (exit 130), resumed, interrupted again by SIGTERM
(exit 143) and resumed to the end writes the same metrics.jsonl and summary.json, to the
last bit, as a run that was never interrupted. Also: on_interrupt: evaluate, the keys a
resumed pipeline may and may not change, divergence (exit 2, the last checkpoint kept), and
corrupt or missing checkpoints (exit 2, one line naming the file).

usage: cli_resume.py LOOM SOURCE_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, finish, results  # noqa: E402
import loomtest  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="loom-resume-")
PIPELINE = os.path.join(SRC, "pipelines", "quickstart.yaml")
# 1,000 batches of 4 x 10 tokens per epoch: long enough to stop in the middle of one.
# Momentum, dropout and a decaying learning rate make every part of the state matter.
ARGS = ["--set", f"components.data.dir={TMP}/markov", "--set", "components.data.train_tokens=40000",
        "--set", "components.data.valid_tokens=2000", "--set", "components.data.test_tokens=2000",
        "--set", "components.data.batch_size=4", "--set", "components.data.bptt=10",
        "--set", "components.model.nhid=24", "--set", "components.model.emsize=16",
        "--set", "components.model.dropout=0.2", "--set", "components.optimizer.lr=1",
        "--set", "components.optimizer.momentum=0.9", "--set", "stages.train.epochs=3",
        "--set", "stages.train.lr_decay=0.7", "--set", "stages.train.lr_decay_after=1",
        "--set", "stages.train.log_interval=10", "--set", "stages.train.checkpoint.every=100"]
def loom(*args, expect=0, stdin=None):
    return loomtest.loom(LOOM, *args, expect=expect, stdin=stdin)


def interrupt_at(args, marker, sig):
    """Runs loom until a progress line contains `marker`, then sends `sig`; returns (code, output)."""
    p = subprocess.Popen([LOOM, "--threads", "2", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in p.stdout:
        out.append(line)
        if marker in line:
            p.send_signal(sig)
            break
    out.append(p.stdout.read())
    return p.wait(), "".join(out)


try:
    straight = os.path.join(TMP, "straight")
    loom("run", PIPELINE, *ARGS, "--out", straight, "--quiet")
    ref_lines, ref_summary = results(straight)
    check(len(ref_lines) == 6, f"3 epochs x (train, valid) lines, got {len(ref_lines)}")

    # SIGINT in epoch 2, SIGTERM in epoch 3, each resumed.
    run = os.path.join(TMP, "stopped")
    code, out = interrupt_at(["run", PIPELINE, *ARGS, "--out", run], "epoch 2 | batch 300/", signal.SIGINT)
    check(code == 130, f"SIGINT: exit {code}, expected 130")
    manifest = json.load(open(os.path.join(run, "manifest.json")))
    check(manifest["status"] == "interrupted" and manifest["finished"], f"manifest after SIGINT: {manifest['status']}")
    check("interrupted at epoch 2, batch" in out and "loom resume" in out, "SIGINT: message names the position and how to resume:\n" + out[-500:])
    code, out = interrupt_at(["resume", run], "epoch 3 | batch 520/", signal.SIGTERM)
    check(code == 143, f"SIGTERM: exit {code}, expected 143")
    def resumed_at(text, epoch, after):
        m = re.search(r"resumed at epoch (\d+), batch (\d+)", text)
        return m is not None and int(m.group(1)) == epoch and after <= int(m.group(2)) < 1001

    check(resumed_at(out, 2, 300), "first resume starts where SIGINT stopped, mid-epoch:\n" + out[:1500])
    r = loom("resume", run)
    check(resumed_at(r.stdout, 3, 520), "second resume starts where SIGTERM stopped, mid-epoch:\n" + r.stdout[:1500])
    lines, summary = results(run)
    check(lines == ref_lines, "metrics.jsonl after two interruptions differs from the uninterrupted run:\n" +
          "\n".join(f"{a}\n{b}" for a, b in zip(lines, ref_lines) if a != b))
    check(summary == ref_summary, f"summary.json differs:\n{summary}\n{ref_summary}")
    manifest = json.load(open(os.path.join(run, "manifest.json")))
    check(manifest["status"] == "finished" and [p["status"] for p in manifest.get("previous", [])] == ["interrupted", "interrupted"],
          "manifest keeps the interrupted attempts: " + str([p.get("status") for p in manifest.get("previous", [])]))

    # Resuming a finished run trains nothing more and evaluates again, identically.
    r = loom("resume", run)
    check(results(run) == (ref_lines, ref_summary), "resuming a finished run changed its results")

    # A longer schedule continues the finished run; the change is reported.
    r = loom("resume", run, "--set", "stages.train.epochs=4")
    check("stages.train.epochs: 3 in the checkpoint, 4 now: the new value is used" in r.stdout, "epochs change reported:\n" + r.stdout[:1500])
    check(len(results(run)[0]) == 8, "a fourth epoch was trained")

    # Changes a checkpoint cannot honour are errors naming the key.
    r = loom("resume", run, "--set", "components.model.nhid=32", expect=2)
    check("components.model.nhid: 24 in the checkpoint, 32 now" in r.stderr, "model change refused:\n" + r.stderr)
    r = loom("run", PIPELINE, *ARGS, "--set", "seed=5", "--out", run, "--resume", expect=2)
    check("seed: 1 in the checkpoint, 5 now" in r.stderr, "seed change refused:\n" + r.stderr)

    # on_interrupt: evaluate stops, then scores the best parameters on the test split.
    run = os.path.join(TMP, "evaluate")
    code, out = interrupt_at(["run", PIPELINE, *ARGS, "--set", "stages.train.on_interrupt=evaluate", "--out", run],
                             "epoch 2 | batch 100/", signal.SIGINT)
    check(code == 130, f"on_interrupt evaluate: exit {code}")
    summary = json.load(open(os.path.join(run, "summary.json")))
    check("test" in summary.get("evaluate", {}), f"on_interrupt evaluate wrote test scores: {summary}")
    check("evaluate test: loss" in out, "on_interrupt evaluate printed the test scores:\n" + out[-800:])

    # SIGINT during the validation after epoch 1 (the epoch's checkpoint is saved before it):
    # the message says how to continue, not that nothing was saved.
    run = os.path.join(TMP, "in_validation")
    code, out = interrupt_at(["run", PIPELINE, *ARGS, "--set", "components.data.valid_tokens=200000", "--out", run],
                             "epoch 1 train:", signal.SIGINT)
    stopped = [l for l in out.splitlines() if l.startswith("interrupted")]
    print("SIGINT after epoch 1's training:", stopped)
    check(code == 130 and len(stopped) == 1 and "continue with: loom resume" in stopped[0],
          f"interrupted in validation: exit {code}, says how to continue:\n" + out[-800:])

    # Divergence: exit 2 naming epoch and batch; the last checkpoint stays loadable.
    run = os.path.join(TMP, "diverge")
    loom("run", PIPELINE, *ARGS, "--set", "stages.train.epochs=1", "--out", run, "--quiet")
    before = open(os.path.join(run, "checkpoints", "last.ckpt"), "rb").read()
    r = loom("resume", run, "--set", "stages.train.epochs=2", "--set", "components.optimizer.lr=1e38",
             "--set", "components.optimizer.clip=0", expect=2)
    check("training diverged" in r.stderr and "at epoch 2, batch" in r.stderr, "divergence message:\n" + r.stderr)
    check(open(os.path.join(run, "checkpoints", "last.ckpt"), "rb").read() == before, "divergence kept the last checkpoint")
    loom("resume", run, "--quiet")

    # Corrupt, truncated, foreign or missing checkpoints: exit 2, one line naming the file.
    ckpt = os.path.join(run, "checkpoints", "last.ckpt")
    good = open(ckpt, "rb").read()
    for name, data, message in [("truncated", good[: len(good) // 2], "corrupt checkpoint"),
                                ("flipped", good[:-40] + bytes([good[-40] ^ 1]) + good[-39:], "checksum does not match"),
                                ("foreign", b"PK\x03\x04 not a checkpoint", "not a loom checkpoint")]:
        open(ckpt, "wb").write(data)
        r = loom("resume", run, expect=2)
        lines = [l for l in r.stderr.splitlines() if l and not l.startswith("loom: OpenBLAS")]
        check(len(lines) == 1 and ckpt in lines[0] and message in lines[0],
              f"{name} checkpoint: {r.stderr!r}")
    os.remove(ckpt)
    r = loom("resume", run, expect=2)
    check("no checkpoint to resume from" in r.stderr, f"missing checkpoint: {r.stderr!r}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)

finish("resume")
