#!/usr/bin/env python3
"""Side-by-side benchmark: loom vs PyTorch training an LSTM sentiment classifier on IMDB.

Both sides train the same model (bench/classifier_imdb_bench.yaml; PyTorch:
bench/reference/imdb_lstm.py, nn.LSTM over pack_padded_sequence) for N batches of 64
reviews cut to 256 tokens, one after the other in this invocation, and the training
loops' sequences/s are compared as a ratio.

  python3 bench/classifier_bench.py [--batches 100] [--threads 2] [--json out.json]

The reference runs "tuned" by default, as in bench/lm_bench.py (OMP_WAIT_POLICY=PASSIVE,
MALLOC_MMAP_MAX_=0), and also flushes denormals (torch.set_flush_denormal), which loom
always does; --reference-env default runs it with the library's defaults.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_bench  # noqa: E402  (run_child, child_env, best_coretype)

REPO_ROOT = lm_bench.REPO_ROOT


def run_loom(a):
    out = tempfile.mkdtemp(prefix="classifier_bench_loom_")
    try:
        cmd = [a.loom, "--threads", str(a.threads), "run", a.pipeline, "--out", out,
               "--set", "vars.data_dir=%s" % a.data,
               "--set", "stages.train.max_batches_per_epoch=%d" % a.batches]
        env = lm_bench.child_env(unset=["OPENBLAS_CORETYPE"], extra=a.blas_env)
        rss = lm_bench.run_child("loom", cmd, env, REPO_ROOT)
        train = None
        with open(os.path.join(out, "metrics.jsonl")) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("split") == "train":
                    train = rec
        if train is None:
            raise lm_bench.ChildFailed("loom wrote no training record")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    seconds = float(train["seconds"])
    return {"sequences_per_s": a.batches * 64 / seconds, "tokens_per_s": float(train["tokens_per_s"]),
            "seconds": seconds, "final_loss": train.get("loss"), "peak_rss_mb": rss}


def run_reference(a, input_kind):
    fd, path = tempfile.mkstemp(prefix="classifier_bench_ref_", suffix=".json")
    os.close(fd)
    try:
        cmd = [lm_bench.REFERENCE_PYTHON, os.path.join(REPO_ROOT, "bench", "reference", "imdb_lstm.py"),
               "--train", os.path.join(a.data, "imdb", "train.csv"), "--batches", str(a.batches),
               "--threads", str(a.threads), "--input", input_kind, "--json", path]
        extra = {"OMP_NUM_THREADS": str(a.threads)}
        unset = ["OPENBLAS_CORETYPE"]
        if a.reference_env == "tuned":
            extra.update({"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_MMAP_MAX_": "0"})
            cmd.append("--flush-denormal")
        else:
            unset += ["OMP_WAIT_POLICY", "MALLOC_MMAP_MAX_"]
        extra.update(a.blas_env)
        rss = lm_bench.run_child("pytorch-" + input_kind, cmd, lm_bench.child_env(unset=unset, extra=extra), REPO_ROOT)
        with open(path) as f:
            result = json.load(f)
    finally:
        os.unlink(path)
    result["peak_rss_mb"] = rss
    return result


def main():
    p = argparse.ArgumentParser(description="loom vs PyTorch: LSTM sentiment classifier training on IMDB")
    p.add_argument("--loom", default=os.path.join(REPO_ROOT, "build", "core", "loom"))
    p.add_argument("--data", default=os.path.join(REPO_ROOT, "..", "shared", "data"),
                   help="folder holding imdb/train.csv")
    p.add_argument("--pipeline", default=os.path.join(REPO_ROOT, "bench", "classifier_imdb_bench.yaml"))
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference-env", choices=["tuned", "default"], default="tuned")
    p.add_argument("--reference-input", nargs="+", choices=["packed", "padded"], default=["packed", "padded"],
                   help="PyTorch's input: packed (pack_padded_sequence, as the issue asks) and/or padded "
                        "(every step runs: faster with this PyTorch build); default both")
    p.add_argument("--openblas-coretype", default=lm_bench.best_coretype(), metavar="NAME",
                   help="OPENBLAS_CORETYPE for both sides (default: the best this CPU supports)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    a.blas_env = {"OPENBLAS_CORETYPE": a.openblas_coretype} if a.openblas_coretype else {}
    if not os.path.isfile(os.path.join(a.data, "imdb", "train.csv")):
        sys.exit("classifier_bench.py: %s has no imdb/train.csv (see data/README.md)" % a.data)
    try:
        loom = run_loom(a)
        refs = {kind: run_reference(a, kind) for kind in a.reference_input}
    except lm_bench.ChildFailed as e:
        sys.exit("classifier_bench.py: %s" % e)
    ratios = {kind: loom["sequences_per_s"] / r["sequences_per_s"] for kind, r in refs.items()}
    print("\n| side | sequences/s | tokens/s | train s | final loss | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("loom", loom)] + [("PyTorch %s (%s)" % (kind, a.reference_env), r) for kind, r in refs.items()]
    for name, r in rows:
        print("| %s | %.0f | %.0f | %.1f | %.4f | %.0f MiB |" % (name, r["sequences_per_s"], r["tokens_per_s"],
                                                             r["seconds"], r["final_loss"], r["peak_rss_mb"]))
    print()
    for kind, ratio in ratios.items():
        print("loom / PyTorch %s: %.2fx sequences/s (%d batches of 64, %d threads)" % (kind, ratio, a.batches, a.threads))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"loom": loom, "reference": refs, "ratio": ratios, "batches": a.batches,
                       "threads": a.threads, "reference_env": a.reference_env}, f, indent=2)


if __name__ == "__main__":
    main()
