"""Time the compiled node loop of one tree (``best_first.grow_tree``) alone, on the inputs a default fit gives it.

The whole fit of a small set is noisy on a shared machine (Python, gradients, pooling and the machine's other
jobs move it by 10-20% between runs); the node loop timed by itself on fixed inputs, best of many runs, shows
a change to the kernels of about 5% or more (see ``--base`` below).  A default one-thread fit of ``NAME`` (a set of
``benchmarks/fit_loop.py``) records the arguments of its first 60 trees; each is then grown again from copies
of them on one thread (the loop partitions its row arrays in place) and the best of 15 passes is printed in
microseconds per tree, with the sizes of those trees' nodes (only nodes of ``2 x min_samples_leaf`` rows or more
are searched):

    python benchmarks/grow_speed.py friedman1
    python benchmarks/grow_speed.py breast_cancer

One process still moves by 10-30% from the next on a shared machine (docs/speed.md).  To compare this checkout
with another (a ``git worktree`` of an earlier commit, say, with its own numba cache), ``--base`` runs ``--rounds``
fresh processes of each, alternating which goes first, and prints the minimum and every value of each:

    python benchmarks/grow_speed.py friedman1 --base /tmp/base --base-cache /tmp/numba-base --rounds 4

The same node loop in both checkouts (an A/A run, 6 rounds of diabetes on the AMD EPYC machine) gave a ratio of
the minima of 1.044 (88 against 85 us per tree; single processes 85-113): a difference under about 5% is noise.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
from fit_loop import load

import shrinktree.boosting.grower as grower

TREES = 60
PASSES = 15


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def time_one(name: str) -> tuple[float, str]:
    """Microseconds per tree of ``grow_tree`` on the first :data:`TREES` trees of a default fit of ``name``, and
    the sizes of those trees' nodes (rows per node; only nodes of ``2 x min_samples_leaf`` rows are searched)."""
    estimator, X, y = load(name)
    grow_tree = grower.grow_tree
    min_leaf_at = list(inspect.signature(grow_tree.py_func).parameters).index("min_samples_leaf")
    captured, node_rows, searchable = [], [], []

    def recording(*args):
        out = grow_tree(*args)
        if len(captured) < TREES:
            captured.append(_copies(args))
            rows = out[2][3]  # the n_rows row of the indices array
            node_rows.append(rows)
            searchable.append(rows[rows >= 2 * args[min_leaf_at]])
        return out

    grower.grow_tree = recording
    try:
        estimator(random_state=0, n_jobs=1).fit(X, y)
    finally:
        grower.grow_tree = grow_tree

    def one_pass() -> float:
        total = 0.0
        for args in captured:
            fresh = _copies(args)
            start = time.perf_counter()
            grow_tree(*fresh)
            total += time.perf_counter() - start
        return total

    # On one thread, as the one-thread fit grew them: with numba's default threads the replay would take the
    # parallel kernels the fit did not (a fit on one thread passes parallel thresholds no node reaches).
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one_pass()
        us = min(one_pass() for _ in range(PASSES)) / len(captured) * 1e6
    finally:
        numba.set_num_threads(previous)
    big = np.concatenate(searchable)
    sizes = (f"{np.concatenate(node_rows).size / len(captured):.1f} nodes per tree, "
             f"{big.size / len(captured):.1f} of at least 2 x min_samples_leaf rows (median {np.median(big):.0f} "
             f"rows, {np.mean(big <= 127):.0%} of them at most 127)")
    return us, sizes


def _child(root: str, cache: str, name: str) -> float:
    # One fresh process of this script with the package of the checkout at ``root`` first on the path (its own
    # numba cache), so that the base needs no copy of this script; its last line is the time.
    here = Path(__file__).resolve().parent
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=os.pathsep.join([root, str(here)]))
    done = subprocess.run([sys.executable, str(here / "grow_speed.py"), name, "--quiet"],
                          capture_output=True, text=True, env=env, check=True, cwd=root)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a set of benchmarks/fit_loop.py: diabetes, breast_cancer, friedman1, ...")
    parser.add_argument("--base", help="root of another checkout (holds shrinktree/) to compare against")
    parser.add_argument("--base-cache", help="NUMBA_CACHE_DIR of the other checkout")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quiet", action="store_true", help="print the microseconds only (the child's output)")
    args = parser.parse_args()
    if args.base is None:
        us, sizes = time_one(args.name)
        print(f"{us:.1f}" if args.quiet else
              f"{args.name}: grow_tree {us:.0f} us per tree (best of {PASSES} passes over {TREES} trees); {sizes}")
        return
    if not args.base_cache:
        parser.error("--base needs --base-cache (each checkout compiles into its own numba cache)")
    here = str(Path(__file__).resolve().parent.parent)
    this_cache = os.environ.get("NUMBA_CACHE_DIR", "")
    if not this_cache:
        parser.error("set NUMBA_CACHE_DIR for this checkout")
    runs = {"this": [], "base": []}
    for round_ in range(args.rounds):
        order = [("this", here, this_cache), ("base", args.base, args.base_cache)]
        for label, root, cache in (order if round_ % 2 == 0 else order[::-1]):
            runs[label].append(_child(root, cache, args.name))
    for label in ("this", "base"):
        values = " ".join(f"{v:.0f}" for v in runs[label])
        print(f"{args.name} {label}: min {min(runs[label]):.0f} us per tree; every process: {values}")
    print(f"this / base (minima): {min(runs['this']) / min(runs['base']):.3f}")


if __name__ == "__main__":
    main()
