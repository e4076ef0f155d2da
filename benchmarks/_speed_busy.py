"""The busy-machine suite of ``benchmarks/speed.py``: fit time on one thread, two, and the default, under load.

A competing CPU load (``--busy-load`` processes spinning in pure Python, started and stopped here)
keeps the cores busy while shrinktree fits the same data with ``n_jobs=1`` and the default
``n_jobs=None``, interleaved and repeated, and once with ``n_jobs=2``.  The target: the default is
no slower than one thread.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np

JOBS = (1, 2, None)


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


class CompetingLoad:
    """``n`` processes that keep a core each busy until the block ends."""

    def __init__(self, n: int):
        self.n = n
        self._stop = multiprocessing.Event()
        self._processes = []

    def __enter__(self):
        for _ in range(self.n):
            process = multiprocessing.Process(target=_spin, args=(self._stop,), daemon=True)
            process.start()
            self._processes.append(process)
        time.sleep(1.0)  # let them reach the run queue
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
        return False


def grouped_data(n_rows: int, n_levels: int, seed: int = 0):
    """Eight numeric features and one categorical feature of ``n_levels`` levels, with a grouped target."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n_rows, 8)), columns=[f"x{i}" for i in range(8)])
    levels = rng.integers(0, n_levels, n_rows)
    X["group"] = pd.Categorical(levels)
    y = X["x0"].to_numpy() + np.sin(X["x1"].to_numpy()) + rng.normal(size=n_levels)[levels] + rng.normal(size=n_rows)
    return X, y


def time_busy(sizes, n_load: int, repeats: int, log) -> list[dict]:
    """Fit each size with every ``JOBS`` value under ``n_load`` competing processes.

    Returns
    -------
    list of dict
        Per size: ``rows``, ``times`` (n_jobs to seconds), ``threads`` (threads the default chose),
        ``load`` (1-minute load average at the end).
    """
    from shrinktree import ShrinkBoostRegressor
    from shrinktree._threads import resolve_n_jobs

    out = []
    for n_rows, n_trees in sizes:
        X, y = grouped_data(n_rows, 2_400)
        ShrinkBoostRegressor(n_estimators=2).fit(X, y)  # kernels loaded outside the timings
        times = {jobs: [] for jobs in JOBS}
        chosen = []
        with CompetingLoad(n_load):
            for round_ in range(repeats):
                for jobs in JOBS[round_ % len(JOBS):] + JOBS[:round_ % len(JOBS)]:
                    if jobs == 2 and times[2]:
                        continue  # two threads are timed once: they take several times as long
                    if jobs is None:
                        chosen.append(resolve_n_jobs(None))
                    model = ShrinkBoostRegressor(n_estimators=n_trees, n_jobs=jobs, early_stopping=False,
                                                 random_state=0)
                    start = time.perf_counter()
                    model.fit(X, y)
                    times[jobs].append(time.perf_counter() - start)
            load = os.getloadavg()[0]
        log(f"  {n_rows:,} rows, {n_trees} trees, load {load:.1f}: "
            + ", ".join(f"n_jobs={j} {min(t):.2f} s" for j, t in times.items()))
        out.append({"rows": n_rows, "trees": n_trees, "times": times, "threads": chosen, "load": load})
    return out
