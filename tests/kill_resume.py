#!/usr/bin/env python3
"""SIGKILL at random moments: every time, `loom resume` continues, and the run finishes with
the same results as one that was never killed.

One training run is killed with SIGKILL at 10 random moments (during start-up, training,
checkpoint writes or validation alike); after each kill it is resumed from its last
checkpoint, or started again if it died before writing one. The finished run's metrics.jsonl
and summary.json must equal an uninterrupted run's, apart from timings.

usage: kill_resume.py LOOM SOURCE_DIR [KILLS] [SEED]
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import results  # noqa: E402

LOOM, SRC = sys.argv[1], sys.argv[2]
KILLS = int(sys.argv[3]) if len(sys.argv) > 3 else 10
# A fixed seed by default, so that the kill moments are the same on every run and a failure
# can be replayed; pass another to try other moments.
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else 20261130
TMP = tempfile.mkdtemp(prefix="loom-kill-")
PIPELINE = os.path.join(SRC, "pipelines", "quickstart.yaml")
ARGS = ["--set", f"components.data.dir={TMP}/markov", "--set", "components.data.train_tokens=120000",
        "--set", "components.data.valid_tokens=4000", "--set", "components.data.test_tokens=2000",
        "--set", "components.data.batch_size=4", "--set", "components.data.bptt=10",
        "--set", "components.model.nhid=32", "--set", "components.model.emsize=16",
        "--set", "components.optimizer.momentum=0.5", "--set", "components.optimizer.lr=2",
        "--set", "stages.train.epochs=4", "--set", "stages.train.checkpoint.every=50",
        "--set", "stages.train.checkpoint.keep=2"]
print(f"kill_resume: {KILLS} kills, seed {SEED} (rerun with: kill_resume.py LOOM SRC {KILLS} {SEED})")
rng = random.Random(SEED)


def command(run_dir):
    if os.path.exists(os.path.join(run_dir, "checkpoints", "last.ckpt")):
        return [LOOM, "--threads", "2", "resume", run_dir, "--quiet"]
    return [LOOM, "--threads", "2", "run", PIPELINE, *ARGS, "--out", run_dir, "--quiet"]


status = 0
try:
    straight = os.path.join(TMP, "straight")
    t0 = time.monotonic()
    subprocess.run([LOOM, "--threads", "2", "run", PIPELINE, *ARGS, "--out", straight, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    duration = time.monotonic() - t0
    expected = results(straight)
    print(f"uninterrupted run: {duration:.2f} s")

    run = os.path.join(TMP, "killed")
    for k in range(KILLS):
        cmd = command(run)
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # At most 8% of the run between kills, so all of them land before it ends.
        delay = rng.uniform(0.05, 0.8 * duration / KILLS)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
        err = p.stderr.read()
        if p.returncode not in (0, -signal.SIGKILL):
            print(f"FAIL: kill {k + 1}: {' '.join(cmd[3:5])} exited {p.returncode}:\n{err}")
            status = 1
            break
        if p.returncode == 0:
            print(f"FAIL: kill {k + 1}: the run finished before the kill; make the run longer")
            status = 1
            break
        progress = sorted(f for f in os.listdir(os.path.join(run, "checkpoints")) if f.startswith("epoch-"))
        print(f"kill {k + 1}: {cmd[3]} killed after {delay:.2f} s (epoch checkpoints so far: {progress})")
    if status == 0:
        r = subprocess.run(command(run), capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL: the last resume exited {r.returncode}:\n{r.stderr}")
            status = 1
        elif results(run) != expected:
            got = results(run)
            print("FAIL: results differ from the uninterrupted run")
            for a, b in zip(got[0], expected[0]):
                if a != b:
                    print(" killed:", a, "\n straight:", b)
            if got[1] != expected[1]:
                print(" summary:", got[1], "\n expected:", expected[1])
            status = 1
        else:
            kept = sorted(f for f in os.listdir(os.path.join(run, "checkpoints")) if f.endswith(".ckpt"))
            if kept != ["best.ckpt", "epoch-3.ckpt", "epoch-4.ckpt", "last.ckpt"]:
                print(f"FAIL: checkpoints kept: {kept}, expected last, best and the last 2 epochs")
                status = 1
finally:
    shutil.rmtree(TMP, ignore_errors=True)
print("kill_resume: all passed" if status == 0 else "kill_resume: FAILED")
sys.exit(status)
