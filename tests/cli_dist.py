#!/usr/bin/env python3
"""loom under mpirun, as far as it goes today: `loom run` with 2 ranks stops on every rank with
one line saying data-parallel training is not available yet (exit 2), before it creates a run
folder; `loom validate` still works under the launcher; one rank trains as without mpirun.

usage: cli_dist.py LOOM SOURCE_DIR MPIRUN
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loomtest import check, finish  # noqa: E402

LOOM, SRC, MPIRUN = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="loom-dist-")


def mpirun(n, *args):
    return subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(n), LOOM, *args],
                          capture_output=True, text=True, timeout=300)


try:
    quick = [os.path.join(SRC, "pipelines", "quickstart.yaml"), "--set", f"components.data.dir={TMP}/markov",
             "--set", "components.data.train_tokens=3000", "--set", "stages.train.epochs=1",
             "--set", "stages.train.max_batches_per_epoch=2", "--quiet"]
    r = mpirun(2, "run", *quick, "--out", f"{TMP}/two")
    lines = [l for l in (r.stdout + r.stderr).splitlines() if "data-parallel training is not available yet" in l]
    check(r.returncode == 2, f"exit {r.returncode}:\n{r.stdout}{r.stderr}")
    check(len(lines) == 2 and "2 ranks" in lines[0], "one line per rank:\n" + r.stdout + r.stderr)
    check(not os.path.exists(f"{TMP}/two"), "no run folder is made")
    r = mpirun(2, "validate", os.path.join(SRC, "pipelines", "quickstart.yaml"))
    check(r.returncode == 0, f"validate under mpirun: exit {r.returncode}\n{r.stdout}{r.stderr}")
    r = mpirun(1, "run", *quick, "--out", f"{TMP}/one")
    check(r.returncode == 0 and os.path.exists(f"{TMP}/one/summary.json"), f"one rank trains:\n{r.stdout}{r.stderr}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)
finish("cli_dist")
