"""The sort of a node's pooled level values: numpy's stable merge sort against the radix sort, by number of levels.

``shrinktree.boosting.splitting.stable_order`` sorts the pooled values of the levels present in a node before
the categorical split scan; from ``RADIX_SORT_MIN`` levels it takes ``_radix_order``.  This times both on the same
keys, in one process, interleaved, best of 5, and checks that they give the same order.  The keys are shaped
like pooled level values: clustered around the node's value (the pooling pulls them toward it), a few equal.

    python benchmarks/level_sort_speed.py
    python benchmarks/level_sort_speed.py --sizes 100,200,300
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from shrinktree.boosting.splitting import RADIX_SORT_MIN, _radix_order


@njit(cache=True)
def _merge_order(key, m, order):
    order[:m] = np.argsort(key[:m], kind="mergesort")


@njit(cache=True)
def _sort_many(which, keys, order):
    m = keys.shape[1]
    for r in range(keys.shape[0]):
        if which == 0:
            _merge_order(keys[r], m, order)
        else:
            _radix_order(keys[r], m, order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="40,100,200,256,400,1000,2000", help="numbers of levels")
    parser.add_argument("--keys", type=int, default=2000, help="sorts per timing")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"RADIX_SORT_MIN = {RADIX_SORT_MIN}")
    print("| levels | merge sort us | radix sort us | radix / merge |")
    print("| ---: | ---: | ---: | ---: |")
    for m in (int(s) for s in args.sizes.split(",")):
        keys = 0.3 + 0.05 * rng.standard_normal((args.keys, m)) * rng.uniform(0.1, 1.0, size=(args.keys, 1))
        keys[:, ::9] = keys[:, :1]  # levels pooled to the same value
        order, check = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
        for row in keys[:50]:
            _merge_order(row, m, order)
            _radix_order(row, m, check)
            assert np.array_equal(order, check), "the radix sort's order differs from the merge sort's"
        best = [np.inf, np.inf]
        for _ in range(5):
            for which in (0, 1):
                start = time.perf_counter()
                _sort_many(which, keys, order)
                best[which] = min(best[which], (time.perf_counter() - start) / args.keys * 1e6)
        print(f"| {m:,} | {best[0]:.2f} | {best[1]:.2f} | {best[1] / best[0]:.2f} |")


if __name__ == "__main__":
    main()
