"""What the Python end-to-end tests share: running the loom command, recording failures,
and reading a run folder's results without its timings."""
import json
import os
import subprocess

failures = []


def check(cond, what):
    """Records a failure (and goes on) when `cond` is false."""
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def loom(loom_path, *args, expect=0, stdin=None):
    """Runs `loom --threads 2 ARGS` and checks its exit code."""
    r = subprocess.run([loom_path, "--threads", "2", *args], capture_output=True, text=True, input=stdin)
    if not check(r.returncode == expect, f"loom {' '.join(args[:3])} ... exited {r.returncode}, expected {expect}"):
        print(r.stdout[-3000:], r.stderr[-3000:])
    return r


def errors(r):
    """The stderr lines of a loom run other than the OpenBLAS note."""
    return [l for l in r.stderr.splitlines() if l and not l.startswith("loom: OpenBLAS")]


def results(run_dir):
    """metrics.jsonl lines and summary.json of a run folder, without the timings."""
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    for l in lines:
        l.pop("seconds"), l.pop("tokens_per_s")
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    summary["train"].pop("seconds")
    return lines, summary


def finish(name):
    """Exits 1 when anything failed."""
    if failures:
        print(f"{len(failures)} failure(s)")
        raise SystemExit(1)
    print(f"{name}: all passed")
