#!/usr/bin/env python3
"""Data-parallel training on one machine, and a model of it on many.

Trains the language-model benchmarks (bench/lm_wikitext2_bench.yaml, an LSTM, and
bench/transformer_wikitext2_bench.yaml) for N batches three ways, one after the other:

  1 rank  x 1 thread   the base
  1 rank  x 2 threads  threads (TBB and OpenBLAS) on both cores
  2 ranks x 1 thread   mpirun -np 2: each rank half of every batch, gradients all-reduced
                       (one all-reduce after the backward, then again in buckets
                       started during the backward, to measure what the overlap gains)

and reports training tokens/s, the scaling efficiency of each way of using two cores
(tokens/s / (2 x base)), and the gradient all-reduce's share of a step. Then it models K
machines like this one (2 cores each) from the measured compute time per step and the bytes
all-reduced per step: a ring all-reduce moves 2 (K - 1) / K x the gradient bytes through
each machine's link and pays 2 (K - 1) latencies; at 10 and 100 Gbit/s, for the same global
batch (loom's sharding: each machine computes 1/K of it) it finds the K from which
communication takes longer than computing, and what overlapping the all-reduce with the
backward pass (in buckets) would give.

  python3 bench/dist_bench.py [--batches 100] [--json out.json] [--only lm|transformer]

Needs mpirun (openmpi-bin) and the WikiText-2 data in ../shared/data (or --data-dir).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOM = os.path.join(REPO, "build", "core", "loom")
BENCHES = {"lm": "bench/lm_wikitext2_bench.yaml", "transformer": "bench/transformer_wikitext2_bench.yaml"}
LATENCY_S = 20e-6  # one message between two machines over TCP, a typical figure
# The backward pass's share of a step's compute (a backward costs about twice a forward):
# the part of the step that an all-reduce in buckets can hide behind.
BACKWARD_SHARE = 2.0 / 3.0


def run(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{what} failed (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r


def train(pipeline, out, ranks, threads, batches, data_dir, *sets):
    args = ["run", pipeline, "--out", out, "--quiet", "--overwrite", *sets,
            "--set", f"stages.train.max_batches_per_epoch={batches}", "--set", "stages.train.validate_on=",
            "--set", f"vars.data_dir={data_dir}"]
    if ranks == 1:
        run([LOOM, "--threads", str(threads), *args], f"{out}")
    else:
        run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), LOOM, "--threads", str(threads),
             *args], f"{out}")
    line = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"train"' in l][0]
    summary = json.load(open(os.path.join(out, "summary.json")))
    return {"tokens_per_s": line["tokens_per_s"], "seconds": line["seconds"], "loss": line["loss"],
            "steps": batches, "parameters": summary["train"]["parameters"],
            "data_parallel": summary["train"].get("data_parallel")}


def ring_seconds(k, gradient_bytes, gbit):
    if k == 1:
        return 0.0
    return 2.0 * (k - 1) / k * gradient_bytes / (gbit * 1e9 / 8) + 2 * (k - 1) * LATENCY_S


def model(step_seconds, gradient_bytes):
    """K machines of 2 cores, the global batch fixed: compute step_seconds / K per step."""
    rows = []
    for gbit in (10, 100):
        crossover = None
        table = []
        for k in (1, 2, 4, 8, 16, 32, 64):
            compute = step_seconds / k
            comm = ring_seconds(k, gradient_bytes, gbit)
            plain = compute + comm
            # Buckets all-reduced while the backward pass goes on: only what does not fit
            # behind the backward stays exposed.
            overlapped = compute * (1 - BACKWARD_SHARE) + max(compute * BACKWARD_SHARE, comm)
            table.append({"machines": k, "compute_ms": 1e3 * compute, "allreduce_ms": 1e3 * comm,
                          "speedup": step_seconds / plain, "speedup_overlapped": step_seconds / overlapped})
            if crossover is None and comm > compute:
                crossover = k
        rows.append({"gbit_per_s": gbit, "communication_dominates_from": crossover, "table": table})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--data-dir", default=os.path.join(REPO, "..", "shared", "data"))
    ap.add_argument("--only", choices=sorted(BENCHES))
    ap.add_argument("--bucket-mb", type=float, default=2.0, help="bucket size of the overlapped run")
    ap.add_argument("--json")
    a = ap.parse_args()
    if shutil.which("mpirun") is None:
        sys.exit("mpirun is missing (apt-get install openmpi-bin, or scripts/install-deps.sh)")
    tmp = tempfile.mkdtemp(prefix="loom-dist-bench-")
    report = {}
    try:
        for name, pipeline in BENCHES.items():
            if a.only and name != a.only:
                continue
            p = os.path.join(REPO, pipeline)
            base = train(p, f"{tmp}/{name}_1x1", 1, 1, a.batches, a.data_dir)
            threads = train(p, f"{tmp}/{name}_1x2", 1, 2, a.batches, a.data_dir)
            ranks = train(p, f"{tmp}/{name}_2x1", 2, 1, a.batches, a.data_dir)
            buckets = train(p, f"{tmp}/{name}_2x1_buckets", 2, 1, a.batches, a.data_dir,
                            "--set", f"stages.train.allreduce_bucket_mb={a.bucket_mb}")
            dp = ranks["data_parallel"]
            step = threads["seconds"] / threads["steps"]
            r = {"1x1": base, "1x2": threads, "2x1": ranks, "2x1_buckets": buckets,
                 "overlap_gain": buckets["tokens_per_s"] / ranks["tokens_per_s"],
                 "efficiency_threads": threads["tokens_per_s"] / (2 * base["tokens_per_s"]),
                 "efficiency_ranks": ranks["tokens_per_s"] / (2 * base["tokens_per_s"]),
                 "ranks_over_threads": ranks["tokens_per_s"] / threads["tokens_per_s"],
                 "allreduce_ms_per_step": 1e3 * dp["allreduce_seconds"] / dp["steps"],
                 "allreduce_share": dp["allreduce_seconds"] / ranks["seconds"],
                 "gradient_bytes": dp["gradient_bytes"],
                 "machine_step_ms": 1e3 * step,
                 "model": model(step, dp["gradient_bytes"])}
            report[name] = r
            print(f"\n{name}: {base['parameters']:,} parameters, {dp['gradient_bytes'] / 1e6:.1f} MB of gradients per step")
            print(f"  1 rank x 1 thread : {base['tokens_per_s']:8.0f} tok/s (loss {base['loss']:.4f})")
            print(f"  1 rank x 2 threads: {threads['tokens_per_s']:8.0f} tok/s  efficiency {r['efficiency_threads']:.2f}")
            print(f"  2 ranks x 1 thread: {ranks['tokens_per_s']:8.0f} tok/s  efficiency {r['efficiency_ranks']:.2f}"
                  f"  ({r['ranks_over_threads']:.2f}x the threads; all-reduce {r['allreduce_ms_per_step']:.1f} ms per step, "
                  f"{100 * r['allreduce_share']:.1f}% of the time; loss {ranks['loss']:.4f})")
            db = buckets["data_parallel"]
            print(f"  2 ranks, buckets of {a.bucket_mb:g} MB during the backward: {buckets['tokens_per_s']:8.0f} tok/s "
                  f"({r['overlap_gain']:.3f}x one all-reduce after it; {1e3 * db['allreduce_seconds'] / db['steps']:.1f} ms "
                  f"per step left in MPI calls; loss {buckets['loss']:.4f})")
            for m in r["model"]:
                print(f"  model at {m['gbit_per_s']} Gbit/s (step {1e3 * step:.0f} ms on one machine): communication "
                      f"dominates from K = {m['communication_dominates_from'] or '> 64'}")
                for row in m["table"]:
                    print(f"    K={row['machines']:3d} compute {row['compute_ms']:8.2f} ms  all-reduce {row['allreduce_ms']:8.2f} ms"
                          f"  speedup {row['speedup']:5.2f}  overlapped {row['speedup_overlapped']:5.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
