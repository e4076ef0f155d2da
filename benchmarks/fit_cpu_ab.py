"""CPU time of the default one-thread fit of a few sets, this checkout against another one, alternately.

The sets are those of ``benchmarks/fit_loop.py`` (grouped sets of ``shrinktree.datasets``, ``diabetes``,
``breast_cancer``, ``friedman1``, ``digits``, ``wine``), each fitted as it fits them; the grouped ones by default.

On a shared machine wall times move with the other jobs' load; the CPU time of a one-thread fit moves much
less.  Each round runs, in one child process per checkout (each with its own numba cache), a warm-up fit and
``--fits`` timed fits of every set, alternating which checkout goes first; the best CPU time of each is kept.
Print ``uptime`` beside the results.

Run from the repository root, with another checkout of the package (``git archive`` of a commit, say)::

    python benchmarks/fit_cpu_ab.py --base /tmp/main-copy --base-cache /tmp/numba-main --rounds 4
    python benchmarks/fit_cpu_ab.py --base /tmp/main-copy --base-cache /tmp/numba-main --datasets diabetes,wine \
        --fits 15

``--base-set NAME=VALUE`` (repeatable) sets a private switch on the base's models, so that the base can be this
same checkout with a switch (``--base . --base-cache $NUMBA_CACHE_DIR --base-set _absent_rule=side``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import child_result_of_checkout

DATASETS = ("egsingle", "wages", "star")

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[4])  # this checkout's benchmarks/ (fit_loop), whichever package is imported
from fit_loop import load
names, n_fits = sys.argv[1].split(","), int(sys.argv[2])
switches = json.loads(sys.argv[3])
out = {}
for name in names:
    estimator, X, y = load(name)
    estimator(n_estimators=5, n_jobs=1).fit(X, y)  # load the kernels
    times = []
    for _ in range(n_fits):
        model = estimator(random_state=0, n_jobs=1)
        for switch, value in switches.items():
            setattr(model, switch, value)
        start = time.process_time()
        model.fit(X, y)
        times.append(time.process_time() - start)
    out[name] = min(times)
import shrinktree
out["package"] = shrinktree.__file__
print(json.dumps(out))
"""



def child_times(root: str, cache: str, names, n_fits: int, switches: dict | None = None) -> dict:
    """Best CPU seconds of ``n_fits`` default fits of each set, in a child importing shrinktree from ``root``
    (``switches``: private attributes set on each model before it is fitted)."""
    env = {**os.environ, "PYTHONPATH": root, "NUMBA_CACHE_DIR": cache, "SHRINKTREE_COMPILE_NOTICE": "0"}
    done = subprocess.run([sys.executable, "-c", _CHILD, ",".join(names), str(n_fits), json.dumps(switches or {}),
                           str(Path(__file__).resolve().parent)], env=env, check=True, capture_output=True, text=True,
                          cwd=root)
    return child_result_of_checkout(json.loads(done.stdout.strip().splitlines()[-1]), root)


def compare(base: str, base_cache: str, this_cache: str, names, rounds: int, n_fits: int,
            base_switches: dict | None = None) -> dict:
    """Per set, the best CPU seconds of the base checkout and of this one, alternating ``rounds`` times."""
    this = str(Path(__file__).resolve().parents[1])
    checkouts = [("base", base, base_cache, base_switches), ("this", this, this_cache, None)]
    best = {label: {} for label, _, _, _ in checkouts}
    for round_ in range(rounds):
        for label, root, cache, switches in checkouts[::-1] if round_ % 2 else checkouts:
            for name, seconds in child_times(root, cache, names, n_fits, switches).items():
                best[label][name] = min(best[label].get(name, float("inf")), seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="root of the other checkout (holds shrinktree/)")
    parser.add_argument("--base-cache", required=True, help="NUMBA_CACHE_DIR of the other checkout")
    parser.add_argument("--cache", default=os.environ.get("NUMBA_CACHE_DIR", ""),
                        help="NUMBA_CACHE_DIR of this checkout (default: the environment's)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--base-set", action="append", default=[], metavar="NAME=VALUE",
                        help="set this private switch on the base's models (a Python literal, else a string)")
    args = parser.parse_args()
    names = args.datasets.split(",")
    base_switches = {}
    for text in args.base_set:
        name, _, value = text.partition("=")
        try:
            base_switches[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            base_switches[name] = value
    best = compare(args.base, args.base_cache, args.cache, names, args.rounds, args.fits, base_switches)
    print("| data | base CPU s | this CPU s | this / base |")
    print("| :--- | ---: | ---: | ---: |")
    for name in names:
        print(f"| {name} | {best['base'][name]:.3f} | {best['this'][name]:.3f} | "
              f"{best['this'][name] / best['base'][name]:.3f} |")


if __name__ == "__main__":
    main()
