#!/usr/bin/env python3
"""Side-by-side benchmark: loom vs the PyTorch reference, Transformer LM on WikiText-2.

Trains the same 2-layer Transformer word-level language model (the TransformerModel of
PyTorch's word_language_model example: 200 wide, 2 heads, feed-forward 200, dropout 0.2,
SGD lr 5, clipping 0.25) for N batches with loom (bench/transformer_wikitext2_bench.yaml,
the transformer_lm plugin) and with bench/reference/transformer_lm.py (PyTorch), one after
the other, then compares training throughput (tokens/s), validation perplexity and peak RSS.

Examples (from the repository root):

  python3 bench/transformer_bench.py                  # loom, then PyTorch
  python3 bench/transformer_bench.py --batches 100 --threads 2 --json /tmp/tf_bench.json
  python3 bench/transformer_bench.py --reference-only --reference-env default

The command line, the output and the JSON are those of bench/lm_bench.py, whose code this
driver uses. The reference runs "tuned" by default: OMP_WAIT_POLICY=PASSIVE,
MALLOC_MMAP_MAX_=0 and torch.set_flush_denormal(True), since loom always flushes
subnormals. If loom has no transformer_lm plugin, the driver says so before running
anything; --reference-only still runs the PyTorch side.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_bench  # noqa: E402

REPO_ROOT = lm_bench.REPO_ROOT

TRANSFORMER_BENCH = lm_bench.Bench(
    description="loom vs PyTorch Transformer word-level LM benchmark (WikiText-2).",
    reference_script=os.path.join(REPO_ROOT, "bench", "reference", "transformer_lm.py"),
    pipeline=os.path.join(REPO_ROOT, "bench", "transformer_wikitext2_bench.yaml"),
    reference_env_help="tuned: OMP_WAIT_POLICY=PASSIVE, MALLOC_MMAP_MAX_=0 and "
                       "torch.set_flush_denormal(True) for the reference; default: none "
                       "of them (default: tuned)",
    tuned_reference_flags=["--flush-denormal"],
    required_plugins=["transformer_lm"])


def main(argv=None):
    return lm_bench.main(argv, TRANSFORMER_BENCH)


if __name__ == "__main__":
    sys.exit(main())
