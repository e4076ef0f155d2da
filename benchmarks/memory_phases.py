"""Where the peak resident memory of shrinktree's 1,000,000 x 28 float32 fit is reached, phase by phase.

``benchmarks/speed.py --memory`` gives one number per library: the peak RSS of the whole fit.  This
script finds the moment of shrinktree's peak.  A fresh interpreter (the same imports as the memory
suite's children) loads the float32 data, wraps the fit's main steps (binning, row hashes, packing, the
loss, the honest split, growing, the held-out sums, pooling, training predictions), resets the kernel's
peak-RSS mark (``/proc/self/clear_refs``) as each step starts, and reads it (``VmHWM``) as it ends; the
table gives, for each step, the largest RSS at its start and the largest peak during it, in MB above the
RSS before the fit.  ``tracemalloc`` cannot do this: the arrays of compiled kernels are not Python's.

A second child measures what numba's runtime costs the first time any compiled kernel runs in a process
(``cpu_target.target_context.refresh()``, which every kernel loaded from the cache triggers): that part
of the fit's working memory does not depend on the data.

Run from the repository root::

    python benchmarks/memory_phases.py              # 100 trees, 2 threads
    python benchmarks/memory_phases.py --trees 5    # quicker: the peak is reached in the first trees
    python benchmarks/memory_phases.py --no-packed-rows   # without the second (row-major) copy of the bins
    python benchmarks/memory_phases.py --prewarm   # numba's runtime loaded before the baseline: the data alone
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import make_data  # noqa: E402

CHILD = r"""
import functools, json, sys
import numpy as np
x_path, y_path, n_trees, threads, packed, prewarm = (sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                                     sys.argv[5], sys.argv[6])
import time
import lightgbm, sklearn, xgboost  # the memory suite's baseline
import shrinktree.boosting
if packed == "no":  # --no-packed-rows: small nodes' histograms read the feature-major bins (no second copy)
    import shrinktree.boosting.histogram as histogram
    histogram.PACKED_MIN_CELLS = 2**62
import shrinktree.boosting.binning as binning
import shrinktree.boosting.gradient_boosting as boosting
import shrinktree.boosting.grower as grower
from shrinktree import ShrinkBoostRegressor
X = np.load(x_path); y = np.load(y_path)
if prewarm == "yes":  # --prewarm: numba's runtime and the fit's kernels loaded before the baseline
    ShrinkBoostRegressor(max_leaf_nodes=31, min_samples_leaf=20, early_stopping=False, random_state=0,
                         n_jobs=threads, n_estimators=2).fit(X[:5000], y[:5000])
def status(key):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith(key + ":"))
def reset_peak():
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
steps, last_ended = {}, [None]
def wrap(owner, name, label):
    function = getattr(owner, name)
    @functools.wraps(function)
    def timed(*args, **kwargs):
        if last_ended[0] is not None:  # the peak since the last step ended: code between the steps
            gap = steps[last_ended[0]]
            gap[3] = max(gap[3], status("VmHWM") - before)
        at_start = status("VmRSS")
        reset_peak()
        try:
            return function(*args, **kwargs)
        finally:
            entry = steps.setdefault(label, [0, 0.0, 0.0, 0.0])
            entry[0] += 1
            entry[1] = max(entry[1], at_start - before)
            entry[2] = max(entry[2], status("VmHWM") - before)
            last_ended[0] = label
            reset_peak()
    setattr(owner, name, timed)
wrap(binning.BinMapper, "fit", "binning: thresholds (BinMapper.fit)")
wrap(binning.BinMapper, "transform", "binning: bins (BinMapper.transform)")
wrap(boosting, "row_hashes", "row hashes")
wrap(boosting, "pack_rows", "packed rows")
wrap(boosting, "honest_split", "honest split")
wrap(boosting, "TreeGrower", "TreeGrower()")
wrap(grower.TreeGrower, "for_tree", "TreeGrower() of later trees")
wrap(grower.TreeGrower, "grow", "grow (compiled node loop)")
wrap(boosting, "held_node_statistics", "held-out sums")
wrap(boosting, "pool_tree", "pooling")
wrap(boosting, "finish_tree", "training predictions")
model = ShrinkBoostRegressor(max_leaf_nodes=31, min_samples_leaf=20, early_stopping=False, random_state=0,
                             n_jobs=threads, n_estimators=n_trees, learning_rate=0.1)
loss_type = type(model._make_loss())
wrap(loss_type, "baseline", "loss baseline")
wrap(loss_type, "gradients", "loss gradients")
before = status("VmRSS")
reset_peak()
start = time.perf_counter()
model.fit(X, y)
seconds = time.perf_counter() - start
print(json.dumps({"before_mb": before, "seconds": seconds, "steps": [[label, *steps[label]] for label in steps]}))
"""

RUNTIME_CHILD = r"""
import json, sys
import lightgbm, sklearn, xgboost
import shrinktree.boosting
from numba.core.registry import cpu_target
def rss():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmRSS:"))
import tracemalloc
start = rss()
tracemalloc.start()
cpu_target.target_context.refresh()
python_mb = tracemalloc.get_traced_memory()[0] / 2**20
print(json.dumps({"runtime_mb": rss() - start, "python_mb": python_mb}))
"""


def run(n_rows: int, n_trees: int, threads: int, packed_rows: bool = True, prewarm: bool = False
        ) -> tuple[dict, dict]:
    """The step table and numba's runtime cost, each from a fresh interpreter (``packed_rows=False``: the fit
    without the packed row-major copy of the bins; ``prewarm``: a 5,000-row fit first, so the table shows
    the data's memory without numba's runtime and kernel loading)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    X, y = make_data(n_rows, "regression")
    with tempfile.TemporaryDirectory(prefix="shrinktree-phases-") as tmp:
        x_path, y_path = os.path.join(tmp, "X.npy"), os.path.join(tmp, "y.npy")
        np.save(x_path, X.astype(np.float32))
        np.save(y_path, y)
        del X, y
        done = subprocess.run([sys.executable, "-c", CHILD, x_path, y_path, str(n_trees), str(threads),
                               "yes" if packed_rows else "no", "yes" if prewarm else "no"],
                              capture_output=True, text=True, env=env, check=True)
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    runtime = subprocess.run([sys.executable, "-c", RUNTIME_CHILD], capture_output=True, text=True, env=env,
                             check=True)
    return steps, json.loads(runtime.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-packed-rows", action="store_true",
                        help="fit without the packed row-major copy of the bins (what that copy costs and buys)")
    parser.add_argument("--prewarm", action="store_true",
                        help="fit 5,000 rows first: numba's runtime and the kernels are loaded before the baseline")
    args = parser.parse_args()
    steps, runtime = run(args.rows, args.trees, args.threads, not args.no_packed_rows, args.prewarm)
    print(f"{args.rows:,} x 28 float32, {args.trees} trees, {args.threads} threads"
          f"{', no packed rows' if args.no_packed_rows else ''}"
          f"{', numba runtime and kernels loaded first (--prewarm)' if args.prewarm else ''}; "
          "MB above the RSS before the fit "
          f"({steps['before_mb']:.0f} MB); fit {steps['seconds']:.1f} s (timers around each step); "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| step | calls | RSS at its start | peak during it | peak after it, before the next step |")
    print("| :--- | ---: | ---: | ---: | ---: |")
    for label, calls, at_start, peak, after in steps["steps"]:
        print(f"| {label} | {calls} | {at_start:.1f} | {peak:.1f} | {after:.1f} |")
    print(f"\nnumba's runtime, set up by the first compiled kernel a process runs: {runtime['runtime_mb']:.1f} MB "
          f"({runtime['python_mb']:.1f} MB of it Python objects)")


if __name__ == "__main__":
    main()
