#!/usr/bin/env python3
"""Generation speed of transformer_lm: the key/value cache against recomputing the prefix.

Trains a model of the given pipeline for a few batches (the weights do not change the cost),
then times `loom generate --words N` on the run folder twice: as trained (kv_cache: true, one
new position per token through every layer) and with kv_cache: false written into a copy of
the run's config.yaml (every token runs the whole kept prefix through the layers and the
output layer, as word_language_model's generate.py does for its Transformer). Each side is
timed `--repeat` times (the best kept) and once more with --words 1; the difference is the
time of N - 1 tokens, so loading the run folder does not count.

  python3 bench/generate_bench.py [--words 256] [--pipeline bench/transformer_wikitext2_bench.yaml]
                                  [--threads 2] [--repeat 3] [--json out.json]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loom", default=os.path.join(REPO, "build", "core", "loom"))
    ap.add_argument("--pipeline", default=os.path.join(REPO, "bench", "transformer_wikitext2_bench.yaml"))
    ap.add_argument("--data-dir", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    ap.add_argument("--words", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="loom-generate-bench-")
    try:
        run = os.path.join(tmp, "cached")
        subprocess.run([a.loom, "--threads", str(a.threads), "run", a.pipeline, "--out", run, "--quiet",
                        "--set", f"vars.data_dir={a.data_dir}", "--set", "stages.train.max_batches_per_epoch=2",
                        "--set", "stages.train.epochs=1"], check=True)
        config = open(os.path.join(run, "config.yaml")).read()
        if "    plugin: transformer_lm\n" not in config:
            sys.exit("generate_bench: the pipeline's model is not transformer_lm")
        recompute = os.path.join(tmp, "recompute")
        shutil.copytree(run, recompute)
        with open(os.path.join(recompute, "config.yaml"), "w") as f:
            f.write(config.replace("    plugin: transformer_lm\n", "    plugin: transformer_lm\n    kv_cache: false\n"))

        def timed(folder, words):
            best = float("inf")
            for _ in range(a.repeat):
                t = time.perf_counter()
                subprocess.run([a.loom, "--threads", str(a.threads), "generate", "--run", folder, "--words", str(words),
                                "--seed", "1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                best = min(best, time.perf_counter() - t)
            return best

        result = {"words": a.words, "threads": a.threads}
        for name, folder in (("cached", run), ("recompute", recompute)):
            full, one = timed(folder, a.words), timed(folder, 1)
            result[name] = {"seconds": full - one, "tokens_per_s": (a.words - 1) / max(full - one, 1e-9)}
        result["speedup"] = result["cached"]["tokens_per_s"] / result["recompute"]["tokens_per_s"]
        print(f"{a.words} tokens, {a.threads} threads: cached {result['cached']['tokens_per_s']:.1f} tok/s, "
              f"recomputing the prefix {result['recompute']['tokens_per_s']:.1f} tok/s, speed-up {result['speedup']:.2f}x")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
