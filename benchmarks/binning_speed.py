"""Binning's distinct values and their masses: the radix sorts against numpy's unique and bincount.

    python benchmarks/binning_speed.py
    python benchmarks/binning_speed.py --rows 200000 --repeats 5

On the columns of ``benchmarks/speed.py``'s generated data (the 200,000 rows ``BinMapper`` bins of a larger
fit), each column's distinct values and masses are computed three ways: ``binning.distinct_counts`` (unit
weights, what an unweighted fit does), ``binning.distinct_masses`` with random weights (a weighted fit), and
numpy's ``np.unique(return_inverse=True)`` with ``np.bincount`` (what both did before).  It checks that the
results agree bit for bit, and prints the best total time over the columns of each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed  # noqa: E402

from shrinktree.boosting.binning import distinct_counts, distinct_masses  # noqa: E402


def best_time(function, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def numpy_masses(values, weights):
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, np.bincount(inverse, weights=weights, minlength=distinct.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    X, _ = speed.make_data(args.rows, "regression")
    columns = [np.ascontiguousarray(X[:, j], dtype=np.float64) for j in range(X.shape[1])]
    weights = np.random.default_rng(0).exponential(size=args.rows)
    ones = np.ones(args.rows)
    distinct_counts(columns[0][:10])  # load the kernels
    distinct_masses(columns[0][:10], weights[:10])
    for column in columns:
        for w, ours in ((ones, distinct_counts(column)), (weights, distinct_masses(column, weights))):
            distinct, mass = numpy_masses(column, w)
            if not (np.array_equal(ours[0], distinct) and np.array_equal(np.asarray(ours[1], dtype=np.float64).view(
                    np.uint64), mass.view(np.uint64))):
                raise SystemExit("the radix sort and numpy disagree")
    rows = [("unit weights: binning.distinct_counts", lambda: [distinct_counts(c) for c in columns]),
            ("weights: binning.distinct_masses", lambda: [distinct_masses(c, weights) for c in columns]),
            ("numpy: np.unique's inverse, np.bincount", lambda: [numpy_masses(c, weights) for c in columns])]
    print(f"{len(columns)} columns of {args.rows:,} rows; the three agree bit for bit")
    print(f"| computation | s, all columns (best of {args.repeats}) |")
    print("| :--- | ---: |")
    for name, run in rows:
        print(f"| {name} | {best_time(run, args.repeats):.3f} |")


if __name__ == "__main__":
    main()
