"""CPU and wall time of 1,000,000 x 28 regression and binary fits, this checkout against another, alternately.

Each round runs one child process per checkout (each with its own numba cache), alternating which goes
first; a child fits shrinktree's default (``benchmarks/speed.py``'s settings, ``--trees`` trees, ``--jobs``
threads) ``--fits`` times per task after a warm-up fit, and reports its best CPU and wall seconds.  Run it
twice or more (the first round of a cold cache compiles); print ``uptime`` beside the results::

    python benchmarks/fit_1m_cpu_ab.py --base /tmp/main-copy --base-cache /tmp/numba-main --jobs 1 --trees 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import child_result_of_checkout

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[4])
import speed
from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
jobs, trees, fits = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
for task in ("regression", "binary"):
    X, y = speed.make_data(1_000_000, task)
    cls = ShrinkBoostRegressor if task == "regression" else ShrinkBoostClassifier
    def model(n):
        return cls(n_estimators=n, max_leaf_nodes=speed.N_LEAVES, max_bins=speed.N_BINS,
                   learning_rate=speed.LEARNING_RATE, min_samples_leaf=speed.MIN_LEAF, early_stopping=False,
                   random_state=0, n_jobs=jobs)
    model(2).fit(X, y)  # load (or compile) every kernel the timed fits use
    cpu, wall = [], []
    for _ in range(fits):
        w, c = time.perf_counter(), time.process_time()
        model(trees).fit(X, y)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    out[task] = [min(cpu), min(wall)]
import shrinktree
out["package"] = shrinktree.__file__
print(json.dumps(out))
"""



def child_times(root: str, cache: str, jobs: int, trees: int, fits: int) -> dict:
    """Per task, [best CPU s, best wall s] of ``fits`` fits in a child importing shrinktree from ``root``."""
    env = {**os.environ, "PYTHONPATH": root, "NUMBA_CACHE_DIR": cache, "SHRINKTREE_COMPILE_NOTICE": "0",
           "PYTHONDONTWRITEBYTECODE": "1"}
    bench = str(Path(__file__).resolve().parent)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(jobs), str(trees), str(fits), bench], env=env,
                          check=True, capture_output=True, text=True, cwd=root)
    return child_result_of_checkout(json.loads(done.stdout.strip().splitlines()[-1]), root)


def main(argv: list[str] | None = None) -> int:
    """Print the best CPU and wall seconds of each checkout and task, and this checkout's ratios to the base."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other checkout's root (its shrinktree/ is imported)")
    parser.add_argument("--base-cache", required=True, help="NUMBA_CACHE_DIR for the base checkout")
    parser.add_argument("--cache", default=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-ab-this"),
                        help="NUMBA_CACHE_DIR for this checkout (default: the environment's)")
    parser.add_argument("--jobs", type=int, default=1, help="n_jobs of the fits (default 1)")
    parser.add_argument("--trees", type=int, default=30, help="trees per fit (default 30)")
    parser.add_argument("--fits", type=int, default=2, help="timed fits per child and task (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args(argv)
    this = str(Path(__file__).resolve().parents[1])
    checkouts = [("base", args.base, args.base_cache), ("this", this, args.cache)]
    best: dict = {"base": {}, "this": {}}
    for round_ in range(args.rounds):
        for label, root, cache in checkouts[::-1] if round_ % 2 else checkouts:
            times = child_times(root, cache, args.jobs, args.trees, args.fits)
            print(f"round {round_ + 1} {label}: {json.dumps(times)} (load {os.getloadavg()[0]:.2f})", flush=True)
            for task, (cpu, wall) in times.items():
                old = best[label].get(task, [float("inf"), float("inf")])
                best[label][task] = [min(old[0], cpu), min(old[1], wall)]
    print("| task | base CPU s | this CPU s | CPU ratio | base wall s | this wall s | wall ratio |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task in best["this"]:
        (bc, bw), (tc, tw) = best["base"][task], best["this"][task]
        print(f"| {task} | {bc:.2f} | {tc:.2f} | {tc / bc:.2f}x | {bw:.2f} | {tw:.2f} | {tw / bw:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
