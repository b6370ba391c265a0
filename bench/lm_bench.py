#!/usr/bin/env python3
"""Side-by-side benchmark: loom vs the PyTorch reference on WikiText-2.

Trains the same 2-layer LSTM word-level language model for N batches with
loom and with bench/reference/word_lm.py (PyTorch), one after the other, then
compares training throughput (tokens/s), validation perplexity and peak RSS.

Examples (from the repository root):

  python3 bench/lm_bench.py                      # loom, then PyTorch
  python3 bench/lm_bench.py --batches 100 --json /tmp/lm_bench.json
  python3 bench/lm_bench.py --reference-only --reference-env default

Only the standard library is used; the reference itself runs under
/usr/bin/python3, the interpreter that has torch.

bench/transformer_bench.py is the same driver for a Transformer model: what
differs between the two is a Bench (below) passed to main().
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_SCRIPT = os.path.join(REPO_ROOT, "bench", "reference", "word_lm.py")
REFERENCE_PYTHON = "/usr/bin/python3"
STDERR_TAIL_LINES = 40

# OpenBLAS kernel sets that use AVX-512.  Used only to warn when a child ends
# up on an older kernel set on a machine that has AVX-512.
AVX512_OPENBLAS_CORES = {"skylakex", "cooperlake", "sapphirerapids"}


class ChildFailed(Exception):
    pass


class Bench(object):
    """What differs between the language-model benchmarks run by this driver.

    description: the argparse description; reference_script: the PyTorch
    side, run as REFERENCE_PYTHON SCRIPT --data --batches --threads --json;
    pipeline: the default loom pipeline; reference_env_help: the help of
    --reference-env; tuned_reference_flags: extra flags for the reference when
    --reference-env is tuned; required_plugins: loom plugins the pipeline
    needs, checked by name before anything runs so that a missing one gets its
    own message."""

    def __init__(self, description, reference_script, pipeline,
                 reference_env_help, tuned_reference_flags=(),
                 required_plugins=()):
        self.description = description
        self.reference_script = reference_script
        self.pipeline = pipeline
        self.reference_env_help = reference_env_help
        self.tuned_reference_flags = tuple(tuned_reference_flags)
        self.required_plugins = tuple(required_plugins)


LSTM_BENCH = Bench(
    description="loom vs PyTorch word-level LM benchmark (WikiText-2).",
    reference_script=REFERENCE_SCRIPT,
    pipeline=os.path.join(REPO_ROOT, "bench", "lm_wikitext2_bench.yaml"),
    reference_env_help="tuned: OMP_WAIT_POLICY=PASSIVE and MALLOC_MMAP_MAX_=0 "
                       "for the reference; default: neither (default: tuned)")


# ---------------------------------------------------------------------------
# Running children
# ---------------------------------------------------------------------------

def _pump(stream, prefix, out, tail):
    """Copy a child's output line by line to `out` (prefixed), keeping the
    last lines for error reports."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        tail.append(line)
        out.write("%s%s\n" % (prefix, line))
        out.flush()
    stream.close()


def _exit_code(status):
    if hasattr(os, "waitstatus_to_exitcode"):  # Python >= 3.9
        return os.waitstatus_to_exitcode(status)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run_child(name, cmd, env, cwd):
    """Run `cmd`, echoing its output, and return its peak RSS in MiB.

    The child is reaped with os.wait4 so that the resource usage is that of
    this child (and its own waited-for descendants) only, not of the harness
    or of the other child; ru_maxrss is in KiB on Linux."""
    print("[%s] $ %s" % (name, " ".join(cmd)), flush=True)
    proc = subprocess.Popen(cmd, env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout_tail = collections.deque(maxlen=STDERR_TAIL_LINES)
    stderr_tail = collections.deque(maxlen=STDERR_TAIL_LINES)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "[%s] " % name,
                                             sys.stdout, stdout_tail)),
        threading.Thread(target=_pump, args=(proc.stderr, "[%s:err] " % name,
                                             sys.stdout, stderr_tail)),
    ]
    for t in pumps:
        t.daemon = True
        t.start()
    try:
        _, status, rusage = os.wait4(proc.pid, 0)
    except KeyboardInterrupt:
        proc.kill()
        os.waitpid(proc.pid, 0)
        proc.returncode = -9
        raise
    # The process was reaped here, not by Popen: record that so Popen does
    # not try to wait for it again.
    proc.returncode = _exit_code(status)
    for t in pumps:
        t.join(timeout=10)
    if proc.returncode != 0:
        tail = list(stderr_tail) or list(stdout_tail)
        raise ChildFailed("%s failed with exit status %d. Last output:\n%s"
                          % (name, proc.returncode, "\n".join(tail)))
    return rusage.ru_maxrss / 1024.0


def child_env(unset=(), extra=None):
    env = dict(os.environ)
    for k in unset:
        env.pop(k, None)
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------
# loom
# ---------------------------------------------------------------------------

def read_loom_metrics(path):
    """tokens/s of the (last) training epoch and ppl of the (last) validation
    record from loom's metrics.jsonl."""
    train = valid = None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ChildFailed("%s:%d: not JSON (%s)" % (path, n, e))
            if rec.get("split") == "train":
                train = rec
            elif rec.get("split") == "valid":
                valid = rec
    if train is None or "tokens_per_s" not in train:
        raise ChildFailed("%s: no split==\"train\" record with tokens_per_s"
                          % path)
    if valid is None or "ppl" not in valid:
        raise ChildFailed("%s: no split==\"valid\" record with ppl" % path)
    return train, valid


def loom_set_args(args):
    return ["--set", "vars.data_dir=%s" % args.data,
            "--set", "stages.train.max_batches_per_epoch=%d" % args.batches]


def check_loom(args):
    """Fail early, with a message that says what is missing, if loom lacks a
    plugin the pipeline needs or rejects the pipeline.  Prints nothing when
    all is well."""
    env = child_env(unset=["OPENBLAS_CORETYPE"], extra=args.blas_env)
    for name in args.bench.required_plugins:
        proc = subprocess.run([args.loom, "plugins", name], env=env,
                              cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode == 0:
            continue
        said = proc.stderr.decode("utf-8", "replace").strip()
        listing = subprocess.run([args.loom, "plugins"], env=env, cwd=REPO_ROOT,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        folders = [l.strip() for l in
                   listing.stdout.decode("utf-8", "replace").splitlines()
                   [1:] if l.startswith("  ")]
        raise ChildFailed(
            "loom has no %r plugin, which %s needs (loom %s: %s; plugin "
            "folders searched: %s). Build that plugin, point --loom at a loom "
            "that has it, or run --reference-only."
            % (name, os.path.relpath(args.pipeline, REPO_ROOT), args.loom,
               said or "exit status %d" % proc.returncode,
               ", ".join(folders) or "unknown"))
    proc = subprocess.run([args.loom, "validate", args.pipeline]
                          + loom_set_args(args), env=env, cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise ChildFailed("loom rejects %s:\n%s"
                          % (args.pipeline,
                             proc.stdout.decode("utf-8", "replace").strip()))


def run_loom(args):
    outdir = tempfile.mkdtemp(prefix="lm_bench_loom_")
    try:
        cmd = [args.loom, "--threads", str(args.threads), "run", args.pipeline,
               "--out", outdir] + loom_set_args(args)
        env = child_env(unset=["OPENBLAS_CORETYPE"], extra=args.blas_env)
        rss = run_child("loom", cmd, env, REPO_ROOT)
        metrics = os.path.join(outdir, "metrics.jsonl")
        if not os.path.isfile(metrics):
            raise ChildFailed("loom exited successfully but wrote no %s"
                              % metrics)
        train, valid = read_loom_metrics(metrics)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return {
        "tokens_per_s": float(train["tokens_per_s"]),
        "valid_ppl": float(valid["ppl"]),
        "peak_rss_mb": rss,
        "train_seconds": train.get("seconds"),
        "train_loss": train.get("loss"),
        "valid_loss": valid.get("loss"),
    }


# ---------------------------------------------------------------------------
# PyTorch reference
# ---------------------------------------------------------------------------

def reference_data_dir(data):
    """word_lm.py wants the directory holding train.txt itself; --data may be
    that directory or its parent (the shared data root)."""
    if os.path.isfile(os.path.join(data, "train.txt")):
        return data
    return os.path.join(data, "wikitext-2")


def reference_env(args):
    unset = ["OPENBLAS_CORETYPE"]
    extra = {"OMP_NUM_THREADS": str(args.threads)}
    if args.reference_env == "tuned":
        # PASSIVE: idle OpenMP workers sleep instead of spinning, which on a
        # machine with as many threads as cores otherwise steals time from the
        # OpenBLAS threads.  MALLOC_MMAP_MAX_=0: large tensors come from the
        # heap instead of fresh mmaps, so they are not page-faulted in (and
        # zeroed by the kernel) again on every batch.
        extra.update({"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_MMAP_MAX_": "0"})
    else:
        # "default" means the library defaults, even if the caller's shell
        # happens to set these.
        unset += ["OMP_WAIT_POLICY", "MALLOC_MMAP_MAX_"]
    extra.update(args.blas_env)
    return child_env(unset=unset, extra=extra)


def run_reference(args):
    fd, out_json = tempfile.mkstemp(prefix="lm_bench_ref_", suffix=".json")
    os.close(fd)
    try:
        cmd = [REFERENCE_PYTHON, args.bench.reference_script,
               "--data", reference_data_dir(args.data),
               "--batches", str(args.batches),
               "--threads", str(args.threads),
               "--json", out_json]
        if args.reference_env == "tuned":
            cmd += args.bench.tuned_reference_flags
        rss = run_child("pytorch", cmd, reference_env(args), REPO_ROOT)
        with open(out_json) as f:
            res = json.load(f)
    except ValueError as e:
        raise ChildFailed("reference wrote unreadable JSON: %s" % e)
    finally:
        os.unlink(out_json)
    return {
        "tokens_per_s": float(res["tokens_per_s"]),
        "valid_ppl": float(res["valid_ppl"]),
        "peak_rss_mb": rss,
        "train_seconds": res.get("train_seconds"),
        "train_loss": res.get("final_train_loss"),
        "valid_loss": res.get("valid_loss"),
        "torch": res.get("torch"),
        "openblas_core": res.get("openblas_core"),
    }


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f" in f.read()
    except OSError:
        return False


def print_table(results, ratios):
    names = list(results)
    rows = [("tokens/s", "tokens_per_s", "%.1f"),
            ("valid ppl", "valid_ppl", "%.2f"),
            ("peak RSS MiB", "peak_rss_mb", "%.1f")]
    print()
    print("%-14s" % "" + "".join("%14s" % n for n in names))
    for label, key, fmt in rows:
        print("%-14s" % label
              + "".join("%14s" % (fmt % results[n][key]) for n in names))
    if ratios:
        print()
        print("loom/PyTorch tokens/s      %.3fx" % ratios["tokens_per_s"])
        print("loom/PyTorch peak RSS      %.3fx" % ratios["peak_rss"])
        print("valid ppl, loom vs PyTorch %+.2f%%" % ratios["valid_ppl_diff_pct"])


def parse_args(argv=None, bench=LSTM_BENCH):
    p = argparse.ArgumentParser(description=bench.description)
    p.add_argument("--loom", default=os.path.join(REPO_ROOT, "build", "core",
                                                  "loom"),
                   help="loom executable (default: build/core/loom)")
    p.add_argument("--data", default=os.path.join(REPO_ROOT, "..", "shared",
                                                  "data"),
                   help="data root passed to loom as vars.data_dir "
                        "(default: ../shared/data); the reference reads "
                        "DATA/wikitext-2, or DATA itself if it holds train.txt")
    p.add_argument("--batches", type=int, default=300,
                   help="training batches for each framework (default 300)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pipeline", default=bench.pipeline,
                   help="loom pipeline (default: %s)"
                        % os.path.relpath(bench.pipeline, REPO_ROOT))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--skip-reference", action="store_true",
                       help="run loom only")
    which.add_argument("--reference-only", action="store_true",
                       help="run the PyTorch reference only")
    p.add_argument("--reference-env", choices=["tuned", "default"],
                   default="tuned",
                   help=bench.reference_env_help)
    p.add_argument("--openblas-coretype", default=best_coretype(), metavar="NAME",
                   help="OPENBLAS_CORETYPE for both children (default: the best "
                        "core type this CPU supports, %(default)s, so that both "
                        "sides run the same, fastest kernels even when the "
                        "installed OpenBLAS does not recognise the CPU)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    # Relative paths given on the command line are relative to the current
    # directory; the defaults above are already absolute.
    args.loom = os.path.abspath(args.loom)
    args.data = os.path.abspath(args.data)
    args.pipeline = os.path.abspath(args.pipeline)
    args.bench = bench
    # Applied after OPENBLAS_CORETYPE has been removed from the environment.
    args.blas_env = ({"OPENBLAS_CORETYPE": args.openblas_coretype}
                     if args.openblas_coretype else {})
    return args


def best_coretype():
    """The strongest OpenBLAS core type the CPU's flags allow (as loom picks it)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return None
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(flags):
        return "Cooperlake" if "avx512_bf16" in flags else "SkylakeX"
    if "avx2" in flags and "fma" in flags:
        return "Haswell"
    return None


def main(argv=None, bench=LSTM_BENCH):
    args = parse_args(argv, bench)
    run_loom_side = not args.reference_only
    run_ref_side = not args.skip_reference

    if run_loom_side and not os.access(args.loom, os.X_OK):
        sys.exit("error: loom executable not found: %s (build it, or pass "
                 "--loom, or use --reference-only)" % args.loom)
    if run_loom_side and not os.path.isfile(args.pipeline):
        sys.exit("error: pipeline not found: %s" % args.pipeline)
    if run_ref_side and not os.access(REFERENCE_PYTHON, os.X_OK):
        sys.exit("error: %s (the Python with torch) not found"
                 % REFERENCE_PYTHON)

    results = collections.OrderedDict()
    try:
        if run_loom_side:
            check_loom(args)
        # Strictly one after the other: both use every core.
        if run_loom_side:
            results["loom"] = run_loom(args)
        if run_ref_side:
            results["PyTorch"] = run_reference(args)
    except ChildFailed as e:
        sys.exit("error: %s" % e)

    ratios = None
    if len(results) == 2:
        lo, ref = results["loom"], results["PyTorch"]
        ratios = {
            "tokens_per_s": lo["tokens_per_s"] / ref["tokens_per_s"],
            "peak_rss": lo["peak_rss_mb"] / ref["peak_rss_mb"],
            "valid_ppl_diff_pct":
                100.0 * (lo["valid_ppl"] - ref["valid_ppl"]) / ref["valid_ppl"],
        }

    print_table(results, ratios)
    core = results.get("PyTorch", {}).get("openblas_core")
    if core and cpu_has_avx512() and core.lower() not in AVX512_OPENBLAS_CORES:
        print("\nwarning: the reference ran on OpenBLAS's %r kernels although "
              "this CPU has AVX-512 (the installed OpenBLAS does not recognise "
              "it); consider --openblas-coretype SkylakeX" % core)

    if args.json:
        doc = {
            "config": {
                "batches": args.batches,
                "threads": args.threads,
                "data": args.data,
                "pipeline": args.pipeline if run_loom_side else None,
                "loom": args.loom if run_loom_side else None,
                "reference_env": args.reference_env if run_ref_side else None,
                "openblas_coretype": args.openblas_coretype,
            },
            "results": results,
            "ratios_loom_over_pytorch": ratios,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print("\nwrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
