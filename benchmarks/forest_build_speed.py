"""Time the end of a fit: the fitted trees gathered into one flat forest (``FlatForest.from_trees``).

A 300-tree fit of a few hundred rows takes about 0.1 s, so a step done once per fit but costing a numpy call
per tree shows: the whole flat forest of the 300 diabetes trees took 6.8 ms when the concatenated bitsets
(``shrinktree._bitsets.concatenated_bitsets``) made a ``np.where`` per tree, 1.2 ms with one for all.  A default
one-thread fit of ``NAME`` (a set of ``benchmarks/fit_loop.py``), then the best of 20 runs of each step on its
trees, in milliseconds:

    python benchmarks/forest_build_speed.py diabetes
"""

from __future__ import annotations

import sys
import time

from fit_loop import load

from shrinktree._bitsets import concatenated_bitsets
from shrinktree._tree import FlatForest

RUNS = 20


def best_ms(step) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "diabetes"
    estimator, X, y = load(name)
    model = estimator(random_state=0, n_jobs=1).fit(X, y)
    trees = [tree for iteration in model._trees for tree in iteration]
    start = time.perf_counter()
    estimator(random_state=0, n_jobs=1).fit(X, y)
    fit_ms = (time.perf_counter() - start) * 1e3
    split_sets = best_ms(lambda: concatenated_bitsets(trees, "cat_offset", "cat_bitset"))
    present_sets = best_ms(lambda: concatenated_bitsets(trees, "present_offset", "present_bitset"))
    forest = best_ms(lambda: FlatForest.from_trees(trees))
    print(f"{name}, {len(trees)} trees (one fit {fit_ms:.0f} ms): split-set bitsets {split_sets:.2f} ms, "
          f"present-set bitsets {present_sets:.2f} ms, the whole flat forest {forest:.2f} ms")


if __name__ == "__main__":
    main()
