"""What the hessian channel costs the compiled node loop: three trees of a 1,000,000-row fit, grown again.

Captures the growers of trees 5, 15 and 25 of a 30-tree default fit, then grows each again (CPU time, best of
``REPEATS``, ``THREADS`` numba threads): as fitted; with every hessian set to 1 and summed (the same trees as the
next, so the difference is the hessian gather and sums); with the hessians counted as a constant (squared
error's path).  Prints the rows each tree histograms (its smaller children).  Usage::

    THREADS=1 REPEATS=3 python benchmarks/hessian_channel_replay.py binary
"""

from __future__ import annotations

import copy
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402

VARIANTS = ("as fitted", "unit hessians summed", "constant hessian (counted)")


def main() -> int:
    """Capture, replay and print the best CPU seconds of each variant."""
    speed.set_threads(int(os.environ.get("THREADS", "1")))
    from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
    from shrinktree.boosting import grower as grower_module

    task = sys.argv[1] if len(sys.argv) > 1 else "binary"
    X, y = speed.make_data(1_000_000, task)
    captured, counter = [], [0]
    original = grower_module.TreeGrower.grow

    def capture(self):
        if counter[0] in (5, 15, 25):
            kept = copy.copy(self)
            kept.sample_indices, kept.held_indices = self.sample_indices.copy(), self.held_indices.copy()
            kept.gradients, kept.hessians = self.gradients.copy(), self.hessians.copy()
            captured.append(kept)
        counter[0] += 1
        return original(self)

    cls = ShrinkBoostClassifier if task == "binary" else ShrinkBoostRegressor
    cls(n_estimators=3, early_stopping=False, random_state=0).fit(X[:20_000], y[:20_000])
    grower_module.TreeGrower.grow = capture
    try:
        cls(n_estimators=30, max_leaf_nodes=31, early_stopping=False, random_state=0).fit(X, y)
    finally:
        grower_module.TreeGrower.grow = original

    def run(kept, variant):
        grower = copy.copy(kept)
        grower.sample_indices, grower.held_indices = kept.sample_indices.copy(), kept.held_indices.copy()
        if variant > 0:
            grower.hessians = np.ones_like(kept.hessians)
        if variant == 2:
            grower.constant_hessian = 1.0
        start = time.process_time()
        tree = grower.grow()
        return time.process_time() - start, tree

    for kept in captured:
        for variant in range(3):
            tree = run(kept, variant)[1]
            internal = np.flatnonzero(tree.left >= 0)
            small = int(np.minimum(tree.n_rows[tree.left[internal]], tree.n_rows[tree.right[internal]]).sum())
            print(f"{VARIANTS[variant]}: {small} rows histogrammed")
    best = [np.inf] * 3
    for _ in range(int(os.environ.get("REPEATS", "5"))):
        for variant in range(3):
            best[variant] = min(best[variant], sum(run(kept, variant)[0] for kept in captured))
    print(os.popen("uptime").read().strip())
    print(f"{task}: grow_tree CPU s of 3 trees: " + "; ".join(f"{n} {s:.3f}" for n, s in zip(VARIANTS, best)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
