"""Binning's thresholds: the unit-weight path (counts from a radix sort) against the weighted one (np.unique's inverse).

    python benchmarks/binning_speed.py
    python benchmarks/binning_speed.py --rows 200000 --repeats 5

On the columns of ``benchmarks/speed.py``'s generated data (the 200,000 rows ``BinMapper`` bins of a larger
fit), each column's thresholds are computed both ways: ``binning._feature_thresholds`` with no weights (what an
unweighted fit does) and with unit weights passed as an array (the weighted path: ``np.unique``'s argsort for the
inverse, then ``np.bincount``).  It checks that both give the same thresholds bit for bit, and prints the best
total time over the columns of each, with numpy's sort and the radix sort of one column beside them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed  # noqa: E402

from shrinktree.boosting.binning import _feature_thresholds, distinct_counts  # noqa: E402


def best_time(function, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    X, _ = speed.make_data(args.rows, "regression")
    columns = [np.ascontiguousarray(X[:, j], dtype=np.float64) for j in range(X.shape[1])]
    ones = np.ones(args.rows)
    distinct_counts(columns[0][:10])  # load the kernel
    for column in columns:
        counted, summed = _feature_thresholds(column, None, 255), _feature_thresholds(column, ones, 255)
        if not np.array_equal(counted.view(np.uint64), summed.view(np.uint64)):
            raise SystemExit("the two paths gave different thresholds")
    unit = best_time(lambda: [_feature_thresholds(c, None, 255) for c in columns], args.repeats)
    weighted = best_time(lambda: [_feature_thresholds(c, ones, 255) for c in columns], args.repeats)
    numpy_sort = best_time(lambda: np.sort(columns[0]), args.repeats)
    radix = best_time(lambda: distinct_counts(columns[0]), args.repeats)
    print(f"{len(columns)} columns of {args.rows:,} rows, same thresholds on both paths")
    print(f"| path | s, all columns (best of {args.repeats}) |")
    print("| :--- | ---: |")
    print(f"| unit weights: counts from a radix sort | {unit:.3f} |")
    print(f"| weighted: np.unique's inverse and np.bincount | {weighted:.3f} |")
    print(f"\none column: np.sort {1e3 * numpy_sort:.2f} ms, binning.distinct_counts {1e3 * radix:.2f} ms")


if __name__ == "__main__":
    main()
