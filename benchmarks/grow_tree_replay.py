"""Time the compiled grower alone on the recorded trees of a default one-thread fit: the sum over trees of
each call's best time, a measure that a shared machine's load moves much less than a whole fit's CPU time.

The fit's ``grow_tree`` calls are recorded (copies of their arguments), then each is run again ``--repeats``
times (on fresh copies of the arrays it partitions in place) and its fastest run kept.  Run it in the same way on
two checkouts to compare their node loops (the Python around the grower is not in it)::

    PYTHONPATH=. python benchmarks/grow_tree_replay.py --repeats 20 egsingle wages star
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shrinktree import ShrinkBoostRegressor
from shrinktree.boosting import grower
from shrinktree.datasets import load_dataset

# grow_tree's arguments that it writes to (sample_indices, held_indices, buffer): copied before every run.
_WRITTEN = (5, 6, 7)


def record(name: str) -> list:
    """The arguments of every ``grow_tree`` call of the default one-thread fit of ``name``."""
    data = load_dataset(name)
    ShrinkBoostRegressor(n_estimators=5, n_jobs=1).fit(data.X, data.y)  # load the kernels
    calls = []
    real = grower.grow_tree

    def recording(*args):
        calls.append(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        return real(*args)

    grower.grow_tree = recording
    try:
        ShrinkBoostRegressor(random_state=0, n_jobs=1).fit(data.X, data.y)
    finally:
        grower.grow_tree = real
    return calls


def replay(calls: list, repeats: int) -> float:
    """Seconds: the sum over the calls of each one's fastest of ``repeats`` runs."""
    best = np.full(len(calls), np.inf)
    for _ in range(repeats):
        for k, args in enumerate(calls):
            args = list(args)
            for i in _WRITTEN:
                args[i] = args[i].copy()
            start = time.perf_counter()
            grower.grow_tree(*args)
            best[k] = min(best[k], time.perf_counter() - start)
    return float(best.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["egsingle", "wages", "star"])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    for name in args.datasets:
        calls = record(name)
        print(f"{name}: grow_tree {1e3 * replay(calls, args.repeats):.2f} ms per fit ({len(calls)} trees)")


if __name__ == "__main__":
    main()
