"""Where a default one-thread fit's time goes per tree: each compiled call from Python, and Python itself.

Every numba kernel that shrinktree's Python code calls (a ``CPUDispatcher`` in a ``shrinktree`` module's
namespace) is wrapped, for the timed fits only, in a timer; the fit's time less the kernels' time is the Python
work around them (the boosting loop, the grower's set-up, pooling, trees as objects).  The wrappers add well
under a microsecond per call.  Per set: fit ms per tree, compiled calls ms per tree, Python ms per tree, then
each kernel's calls per tree, ms per tree and us per call; best of ``--repeats`` fits.  Print ``uptime`` beside
the results.

Run from the repository root::

    python benchmarks/grouped_calls.py --repeats 3
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

from numba.core.registry import CPUDispatcher

from shrinktree import ShrinkBoostRegressor
from shrinktree.datasets import load_dataset

DATASETS = ("egsingle", "wages", "star")
N_TREES = 300  # the default n_estimators


def _timer(kernel, label, stats):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return kernel(*args, **kwargs)
        finally:
            entry = stats[label]
            entry[0] += 1
            entry[1] += time.perf_counter() - start
    return timed


def _wrap_kernels(stats) -> list:
    """Replace every kernel in shrinktree's modules by a timer; returns what to put back."""
    replaced = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("shrinktree"):
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher):
                label = f"{value.py_func.__module__.rsplit('.', 1)[-1]}.{value.__name__}"
                replaced.append((module, attribute, value))
                setattr(module, attribute, _timer(value, label, stats))
    return replaced


def profile(name: str, repeats: int) -> str:
    data = load_dataset(name)
    ShrinkBoostRegressor(n_estimators=5, n_jobs=1).fit(data.X, data.y)  # load (or compile) the kernels
    stats = collections.defaultdict(lambda: [0, 0.0])
    replaced = _wrap_kernels(stats)
    best = None
    try:
        for _ in range(repeats):
            stats.clear()
            start = time.perf_counter()
            ShrinkBoostRegressor(random_state=0, n_jobs=1).fit(data.X, data.y)
            seconds = time.perf_counter() - start
            if best is None or seconds < best[0]:
                best = (seconds, {label: tuple(entry) for label, entry in stats.items()})
    finally:
        for module, attribute, value in replaced:
            setattr(module, attribute, value)
    seconds, calls = best
    compiled = sum(entry[1] for entry in calls.values())
    lines = [f"| {name} | {1e3 * seconds / N_TREES:.3f} | {1e3 * compiled / N_TREES:.3f} | "
             f"{1e3 * (seconds - compiled) / N_TREES:.3f} | "
             f"{sum(entry[0] for entry in calls.values()) / N_TREES:.1f} |"]
    for label, (n_calls, kernel_seconds) in sorted(calls.items(), key=lambda item: -item[1][1]):
        if n_calls >= N_TREES // 2:  # per-tree kernels (not the once-per-fit binning and hashing)
            lines.append(f"|   {label} | {1e3 * kernel_seconds / N_TREES:.3f} | | | {n_calls / N_TREES:.1f} "
                         f"({1e6 * kernel_seconds / n_calls:.1f} us each) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    print("| data / kernel | fit (kernel) ms per tree | compiled calls ms per tree | Python ms per tree | "
          "calls per tree |")
    print("| :--- | ---: | ---: | ---: | ---: |")
    for name in args.datasets.split(","):
        print(profile(name, args.repeats), flush=True)


if __name__ == "__main__":
    main()
