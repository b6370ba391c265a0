#!/usr/bin/env python3
"""Data-parallel training under mpirun (2 ranks), over the transport given after MPIRUN (none:
shared memory; `--mca btl tcp,self`: the network path).

- A 2-rank run (each rank half of every batch) matches the 1-rank run of the same pipeline to
  float rounding: an LSTM language model (time-major batches, state carried across batches)
  and a Transformer translator (batch-major, validation that decodes). The largest relative
  difference of any loss, perplexity, accuracy or BLEU is printed and held under 1e-4.
- Two 2-rank runs are bit-identical, also with the gradients summed in buckets during the
  backward; rank 0 alone writes the run folder, whose manifest says
  world_size 2 and names the hosts.
- A 2-rank run killed (SIGKILL, every process) after a mid-epoch checkpoint resumes under
  mpirun to exactly the results of the run that was never killed; the same checkpoint resumed
  in one process says what the change of world size changes, and finishes.
- When one rank is killed, mpirun ends (no hang) and the last checkpoint still resumes.
- A rank whose pipeline differs from rank 0's stops every rank with one line naming the
  difference; an error every rank meets is reported once; SIGTERM to mpirun saves once.

usage: cli_dist.py LOOM SOURCE_DIR MPIRUN [MPIRUN OPTIONS...]
"""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, errors, finish, results  # noqa: E402

LOOM, SRC, MPIRUN = sys.argv[1], sys.argv[2], sys.argv[3]
TRANSPORT = sys.argv[4:]
TMP = tempfile.mkdtemp(prefix="loom-dist-")
MPI = [MPIRUN, "--allow-run-as-root", "--oversubscribe", *TRANSPORT]
# The ranks' temporary folders go here, where the test can see what is left of them.
os.makedirs(f"{TMP}/tmp")
os.environ["TMPDIR"] = f"{TMP}/tmp"
print("transport:", " ".join(TRANSPORT) or "default (shared memory between ranks of one machine)")

LM = [os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
      "--set", "components.data.train_tokens=20000", "--set", "components.model.dropout=0",
      "--set", "stages.train.epochs=2", "--quiet"]
MT = [os.path.join(SRC, "pipelines", "translate_piglatin_transformer.yaml"),
      "--set", f"components.data.dir={TMP}/pig_latin", "--set", "components.data.train_pairs=600",
      "--set", "components.data.eval_batch_size=25",
      "--set", "components.model.d_model=32", "--set", "components.model.heads=2",
      "--set", "components.model.encoder_layers=1", "--set", "components.model.decoder_layers=1",
      "--set", "components.model.d_ff=64", "--set", "components.model.dropout=0",
      "--set", "stages.train.epochs=2", "--set", "stages.train.schedule.warmup_steps=10", "--quiet"]


def mpirun(n, *args, timeout=300):
    return subprocess.run([*MPI, "-np", str(n), LOOM, "--threads", "1", *args], capture_output=True, text=True,
                          timeout=timeout)


def alone(*args):
    return subprocess.run([LOOM, "--threads", "2", *args], capture_output=True, text=True, timeout=300)


def ok(r, what):
    return check(r.returncode == 0, f"{what}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-3000:]}")


def numbers(run_dir):
    """Every score of a run: (where, value) for each loss and metric of metrics.jsonl and the
    evaluate section of summary.json."""
    lines, summary = results(run_dir)
    out = []
    for line in lines:
        for k, v in line.items():
            if k not in ("epoch", "split", "lr", "tokens", "train_tokens", "train_flops") and isinstance(v, float):
                out.append((f"epoch {line['epoch']} {line['split']} {k}", v))
    for split, scores in summary.get("evaluate", {}).items():
        for k, v in scores.items():
            out.append((f"evaluate {split} {k}", v))
    return out


def largest_difference(a, b):
    na, nb = numbers(a), numbers(b)
    if not check([k for k, _ in na] == [k for k, _ in nb], f"{a} and {b} hold different scores"):
        return math.inf, "the list of scores"
    worst, where = 0.0, ""
    for (k, x), (_, y) in zip(na, nb):
        d = abs(x - y) / max(abs(x), abs(y), 1e-12)
        if d > worst:
            worst, where = d, k
    return worst, where


def same_results(a, b, what):
    """Checks that two run folders hold the same results, and names the first difference."""
    ra, rb = results(a), results(b)
    if ra == rb:
        return True
    for x, y in zip(ra[0], rb[0]):
        if x != y:
            return check(False, f"{what}: metrics.jsonl differs:\n  {x}\n  {y}")
    return check(False, f"{what}: summary.json differs:\n  {ra[1]}\n  {rb[1]}")


def launch(n, *args):
    """mpirun in a session of its own, so that the whole job can be killed at once."""
    return subprocess.Popen([*MPI, "-np", str(n), LOOM, "--threads", "1", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_checkpoint(run_dir, p, after=0.0, limit=120):
    path = os.path.join(run_dir, "checkpoints", "last.ckpt")
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and p.poll() is None:
        if os.path.exists(path) and os.path.getmtime(path) > after:
            return True
        time.sleep(0.02)
    return False


def ranks_of(p):
    """The pids of mpirun's loom processes, by rank (from their environment). They share
    mpirun's session, in process groups of their own."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            if os.getsid(int(pid)) != p.pid:
                continue
        except OSError:
            continue
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(e.split(b"=")[1])] = int(pid)
    return out


def kill_job(p):
    """SIGKILL to mpirun and every rank at once, as a crash of the machines would."""
    for pid in ranks_of(p).values():
        os.kill(pid, signal.SIGKILL)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


try:
    # 1 rank with batch B against 2 ranks with B/2 each.
    for name, pipeline in (("lm", LM), ("translator", MT)):
        one, two = f"{TMP}/{name}_one", f"{TMP}/{name}_two"
        ok(alone("run", *pipeline, "--out", one), f"{name}: one process")
        ok(mpirun(2, "run", *pipeline, "--out", two), f"{name}: 2 ranks")
        if os.path.exists(f"{one}/summary.json") and os.path.exists(f"{two}/summary.json"):
            worst, where = largest_difference(one, two)
            print(f"{name}: 2 ranks x B/2 against 1 process x B: largest relative difference {worst:.3g} ({where}) "
                  f"over {len(numbers(one))} scores")
            check(worst < 1e-4, f"{name}: 2 ranks differ from one process by {worst:.3g} at {where}")
    two = f"{TMP}/lm_two"
    manifest = json.load(open(f"{two}/manifest.json"))
    check(manifest.get("world_size") == 2 and len(manifest.get("hosts", [])) == 2, f"manifest: {manifest.get('world_size')}, {manifest.get('hosts')}")
    check(json.load(open(f"{TMP}/lm_one/manifest.json")).get("world_size") == 1, "one process: world_size 1")
    leftovers = [f for f in os.listdir(f"{TMP}/tmp") if f.startswith("loom-rank-")]
    check(not leftovers, f"rank 1's scratch folders are removed: {leftovers}")

    # Two 2-rank runs: bit for bit the same, also when the second sums its gradients in
    # buckets of 64 KB started during the backward (with 2 ranks each sum is a + b either way).
    r = mpirun(2, "run", *LM, "--out", f"{TMP}/lm_two_again")
    ok(r, "second 2-rank run")
    same_results(two, f"{TMP}/lm_two_again", "two 2-rank runs give the same numbers to the last bit")
    r = mpirun(2, "run", *LM, "--set", "stages.train.allreduce_bucket_mb=0.06", "--out", f"{TMP}/lm_two_buckets")
    ok(r, "2-rank run with the all-reduce in buckets")
    same_results(two, f"{TMP}/lm_two_buckets", "buckets overlapped with the backward give the same numbers to the last bit")
    buckets = json.load(open(f"{TMP}/lm_two_buckets/summary.json"))["train"].get("data_parallel", {})
    check(buckets.get("bucket_bytes") == 60000, f"the run used buckets: {buckets}")

    # Kill the whole job after a mid-epoch checkpoint, then resume: the same results as a run
    # never killed. Then the same checkpoint in one process.
    long_lm = LM[:-1] + ["--set", "components.data.train_tokens=150000", "--set", "stages.train.checkpoint.every=20",
                         "--quiet"]
    straight = f"{TMP}/straight"
    ok(mpirun(2, "run", *long_lm, "--out", straight), "uninterrupted 2-rank run")
    killed = f"{TMP}/killed"
    p = launch(2, "run", *long_lm, "--out", killed)
    started = wait_for_checkpoint(killed, p)
    kill_job(p)
    if check(started, "a checkpoint appeared before the run ended"):
        with open(f"{killed}/metrics.jsonl") as f:
            print(f"killed after a checkpoint; metrics.jsonl had {len(f.readlines())} lines")
        shutil.copytree(killed, f"{TMP}/killed_copy")
        r = mpirun(2, "resume", killed)
        ok(r, "resume under mpirun")
        if r.returncode == 0:
            same_results(killed, straight, "the resumed 2-rank run ends exactly as the uninterrupted one")
        r = alone("resume", f"{TMP}/killed_copy")
        ok(r, "resume of a 2-rank checkpoint in one process")
        check("saved by 2 ranks, this run has 1" in r.stdout, "the change of world size is stated:\n" + r.stdout[-1500:])
        if r.returncode == 0:
            worst, where = largest_difference(straight, f"{TMP}/killed_copy")
            print(f"2-rank checkpoint resumed in one process: largest relative difference {worst:.3g} ({where})")

    # Kill one rank: mpirun ends, with the last checkpoint intact.
    victim = f"{TMP}/victim"
    p = launch(2, "run", *long_lm, "--out", victim)
    started = wait_for_checkpoint(victim, p)
    pids = ranks_of(p)
    if check(started and 1 in pids, f"found the ranks ({pids}) after a checkpoint"):
        t0 = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        try:
            out, err = p.communicate(timeout=60)
            print(f"rank 1 killed: mpirun ended {time.monotonic() - t0:.1f} s later with exit {p.returncode}")
            check(p.returncode != 0, "mpirun reports the failure")
            check("signal 9" in err or "Killed" in err or "exited on signal" in err, "mpirun says a rank died:\n" + err[-1500:])
        except subprocess.TimeoutExpired:
            check(False, "mpirun still runs 60 s after one rank was killed")
            kill_job(p)
        ok(mpirun(2, "resume", victim), "resume after a rank was killed")
    else:
        kill_job(p)

    # SIGTERM to mpirun: the ranks stop together at a step and rank 0 saves once.
    term = f"{TMP}/term"
    p = launch(2, "run", *long_lm, "--out", term)
    started = wait_for_checkpoint(term, p)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=60)
        # The signal may land in a step ("interrupted at epoch E, batch B: saved ...") or in the
        # validation after an epoch, whose checkpoint was saved before it.
        saved = [l for l in err.splitlines() if l.startswith("interrupted")]
        check(started and len(saved) == 1 and "continue with: loom resume" in saved[0],
              "one line says where it stopped and how to continue:\n" + err[-2000:])
        ok(mpirun(2, "resume", term), "resume after SIGTERM")
    except subprocess.TimeoutExpired:
        check(False, "mpirun still runs 60 s after SIGTERM")
        kill_job(p)

    # A rank whose pipeline differs stops every rank, with one line naming the difference.
    r = subprocess.run([*MPI, "-np", "1", LOOM, "--threads", "1", "run", *LM, "--out", f"{TMP}/differ", ":",
                        "-np", "1", LOOM, "--threads", "1", "run", *LM, "--set", "components.optimizer.lr=5",
                        "--out", f"{TMP}/differ"], capture_output=True, text=True, timeout=120)
    lines = errors(r)
    check(r.returncode == 2 and any(l.startswith("rank 1 (") and "differs from rank 0's" in l and "lr: 5" in l
                                    for l in lines), f"exit {r.returncode}, the difference named:\n{r.stderr[-2000:]}")
    check(sum("differs from rank 0" in l for l in lines) == 1, "said once:\n" + "\n".join(lines))
    check(not os.path.exists(f"{TMP}/differ/metrics.jsonl"), "nothing trained")
    # An error every rank meets: one line.
    r = mpirun(2, "run", *LM, "--set", "components.model.nhidd=3", "--out", f"{TMP}/typo")
    lines = [l for l in errors(r) if "nhidd" in l]
    check(r.returncode == 2 and len(lines) == 1, f"exit {r.returncode}, one line:\n{r.stderr[-2000:]}")
    r = mpirun(2, "validate", LM[0])
    ok(r, "validate under mpirun")

    # Errors raised inside a plugin: on every rank (one line, no hang), or a plugin that only
    # rank 0 can load (rank 1 says it lacks it).
    fixtures = os.environ.get("LOOM_TEST_FIXTURES")
    if check(fixtures is not None, "LOOM_TEST_FIXTURES names the fixture plugins' folder"):
        plugin = ["--plugin-path", os.path.join(fixtures, "throwing")]
        throwing = [*LM[:-1], "--set", "components.model={plugin: throwing_model, error: input, when: train}", "--quiet"]
        r = mpirun(2, *plugin, "run", *throwing, "--out", f"{TMP}/throws")
        lines = [l for l in errors(r) if "throwing_model: input error raised in training" in l]
        check(r.returncode == 2 and len(lines) == 1, f"a plugin's error in training: exit {r.returncode}, one line:\n{r.stderr[-2000:]}")
        r = subprocess.run([*MPI, "-np", "1", LOOM, "--threads", "1", *plugin, "run", *throwing, "--out", f"{TMP}/lacks",
                            ":", "-np", "1", LOOM, "--threads", "1", "run", *throwing, "--out", f"{TMP}/lacks"],
                           capture_output=True, text=True, timeout=120)
        lines = [l for l in errors(r) if "throwing_model" in l]
        check(r.returncode == 2 and len(lines) == 1 and lines[0].startswith("rank 1 ("),
              f"a plugin rank 1 lacks: exit {r.returncode}, one line from rank 1:\n{r.stderr[-2000:]}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)
finish("cli_dist")
