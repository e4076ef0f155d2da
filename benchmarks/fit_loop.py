"""Fit the default one-thread model of one grouped set N times (a load for profilers such as ``perf``).

    python benchmarks/fit_loop.py egsingle 40
"""

from __future__ import annotations

import sys
import time

from shrinktree import ShrinkBoostRegressor
from shrinktree.datasets import load_dataset


def main() -> None:
    name, n_fits = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    data = load_dataset(name)
    ShrinkBoostRegressor(n_estimators=5, n_jobs=1).fit(data.X, data.y)  # load the kernels
    start = time.perf_counter()
    for _ in range(n_fits):
        ShrinkBoostRegressor(random_state=0, n_jobs=1).fit(data.X, data.y)
    print(f"{n_fits} fits of {name} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
