"""The memory suite of ``benchmarks/speed.py``: peak resident memory of one fit, each library in its own process.

The generated 1,000,000 x 28 data is saved as float32 ``.npy``; a fresh interpreter per library
imports every library, loads the data, resets the kernel's peak-RSS mark (``/proc/self/clear_refs``),
fits 100 trees of 31 leaves and reports the peak resident set size during the fit (``VmHWM``) and
the resident size just before it (the same in every process: interpreter, libraries and data).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
library, x_path, y_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import lightgbm, sklearn, xgboost  # every library imported in every child: the same baseline
import shrinktree.boosting
X = np.load(x_path); y = np.load(y_path)
def status(key):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith(key + ":"))
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as handle:  # the peak (VmHWM) restarts from the current RSS
    handle.write("5")
start = time.perf_counter()
common = dict(n_estimators=100, learning_rate=0.1)
if library == "shrinktree":
    from shrinktree import ShrinkBoostRegressor
    ShrinkBoostRegressor(max_leaf_nodes=31, min_samples_leaf=20, early_stopping=False, random_state=0,
                         n_jobs=threads, **common).fit(X, y)
elif library == "LightGBM":
    lightgbm.LGBMRegressor(num_leaves=31, min_child_samples=20, n_jobs=threads, verbose=-1, **common).fit(X, y)
elif library == "XGBoost hist":
    xgboost.XGBRegressor(tree_method="hist", grow_policy="lossguide", max_leaves=31, max_depth=0, n_jobs=threads,
                         **common).fit(X, y)
seconds = time.perf_counter() - start
print(json.dumps({"before_mb": before, "peak_mb": status("VmHWM"), "seconds": seconds,
                  "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LIBRARIES = ("shrinktree", "LightGBM", "XGBoost hist")


def peak_memory(x_path: str, y_path: str, threads: int, log, repo_root, libraries=LIBRARIES) -> dict:
    """Peak RSS (MB) and fit seconds of every library in ``libraries``, each in a fresh process."""
    out = {}
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    for library in libraries:
        done = subprocess.run([sys.executable, "-c", CHILD, library, x_path, y_path, str(threads)],
                              capture_output=True, text=True, env=env, check=True)
        out[library] = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"  {library}: {out[library]['before_mb']:.0f} MB before the fit, peak {out[library]['peak_mb']:.0f} MB")
    return out
