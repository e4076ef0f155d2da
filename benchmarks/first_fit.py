"""The first fit of a fresh process (warm numba cache) against the second, for this checkout and optionally another.

    python benchmarks/first_fit.py
    python benchmarks/first_fit.py --base /tmp/base --rounds 6

Each round starts one interpreter per checkout (alternating, so that the machine's load falls on both alike),
which imports shrinktree, fits the default regressor on scikit-learn's diabetes data twice and reports both
fit times: the first carries the per-process work (loading the cached kernels, tables built once), the second
is a warm fit.  Each checkout's first round is dropped (its numba cache may still be cold) unless
``--keep-first`` is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, time
from sklearn.datasets import load_diabetes
X, y = load_diabetes(return_X_y=True)
from shrinktree import ShrinkBoostRegressor
t0 = time.perf_counter()
ShrinkBoostRegressor().fit(X, y)
t1 = time.perf_counter()
ShrinkBoostRegressor().fit(X, y)
t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "second": t2 - t1}))
"""


def run(checkout: Path) -> dict:
    """One fresh interpreter of ``checkout``'s virtual environment (else this one's), in its root."""
    python = checkout / ".venv" / "bin" / "python"
    out = subprocess.run([str(python if python.exists() else sys.executable), "-c", CHILD], cwd=checkout,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="another checkout (with its own .venv) to alternate with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--keep-first", action="store_true", help="keep each checkout's first round")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    checkouts = {"this checkout": here}
    if args.base:
        checkouts["base"] = Path(args.base).resolve()
    times = {name: [] for name in checkouts}
    for round_ in range(args.rounds + (0 if args.keep_first else 1)):
        for name, path in checkouts.items():
            result = run(path)
            if round_ > 0 or args.keep_first:
                times[name].append(result)
    print("| checkout | first fit s (min, median) | second fit s (min, median) |")
    print("| :--- | ---: | ---: |")
    for name, results in times.items():
        first = [r["first"] for r in results]
        second = [r["second"] for r in results]
        print(f"| {name} | {min(first):.3f}, {statistics.median(first):.3f} | "
              f"{min(second):.3f}, {statistics.median(second):.3f} |")


if __name__ == "__main__":
    main()
