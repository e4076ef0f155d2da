"""Time the compiled node loop of one tree (``best_first.grow_tree``) alone, on the inputs a default fit gives it.

The whole fit of a small set is noisy on a shared machine (Python, gradients, pooling and the machine's other
jobs move it by 10-20% between runs); the node loop timed by itself on fixed inputs, best of many runs, shows
a change to the kernels of a few percent.  A default one-thread fit of ``NAME`` (a set of
``benchmarks/fit_loop.py``) records the arguments of its first 60 trees; each is then grown again from copies
of them (the loop partitions its row arrays in place) and the best of 15 passes is printed in microseconds
per tree.  Compare two versions of the engine by running this in each checkout, one after the other:

    python benchmarks/grow_speed.py friedman1
    python benchmarks/grow_speed.py breast_cancer
"""

from __future__ import annotations

import sys
import time

import numpy as np
from fit_loop import load

import shrinktree.boosting.grower as grower

TREES = 60
PASSES = 15


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def main() -> None:
    name = sys.argv[1]
    estimator, X, y = load(name)
    grow_tree = grower.grow_tree
    captured = []

    def recording(*args):
        if len(captured) < TREES:
            captured.append(_copies(args))
        return grow_tree(*args)

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

    one_pass()
    best = min(one_pass() for _ in range(PASSES))
    print(f"{name}: grow_tree {best / len(captured) * 1e6:.0f} us per tree (best of {PASSES} passes over "
          f"{len(captured)} trees)")


if __name__ == "__main__":
    main()
