"""Speed of post-hoc shrinkage: shrinktree.shrink vs imodels' HSTreeRegressor on a 500-tree random forest.

Fits one RandomForestRegressor (500 trees) on 100,000 generated rows, then times, in the same run:

* imodels: ``HSTreeRegressor(model, reg_param)``, which shrinks the forest in place (the deep copy
  that keeps the original intact is made before the clock starts, so imodels is timed on the
  shrinking alone);
* shrinktree: ``shrink(model, method="hs", strength=reg_param)``, which converts every tree into
  node arrays and pools them with the numba kernel (conversion included), after a warm-up call
  on a small forest so that loading the compiled kernels is not counted; three calls, each
  doing all the work, reported as the first and the best;

checks that the two agree to 1e-10, and prints the ratio.  Also times ``method="eb"`` (stored
statistics, and honest out-of-bag estimation from ``X, y``).

Usage::

    python benchmarks/posthoc_speed.py [--rows 100000] [--trees 500] [--min-samples-leaf 20] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.ensemble import RandomForestRegressor

from shrinktree import shrink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--min-samples-leaf", type=int, default=20)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--reg-param", type=float, default=10.0)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/posthoc.md alone")
    args = parser.parse_args()

    from imodels import HSTreeRegressor

    X, y = make_friedman1(n_samples=args.rows, n_features=10, noise=1.0, random_state=0)
    X_test, _ = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=1)
    start = time.perf_counter()
    model = RandomForestRegressor(n_estimators=args.trees, min_samples_leaf=args.min_samples_leaf,
                                  max_features=0.5, n_jobs=args.n_jobs, random_state=0).fit(X, y)
    fit_seconds = time.perf_counter() - start
    n_nodes = sum(est.tree_.node_count for est in model.estimators_)
    print(f"RandomForestRegressor: {args.trees} trees, {args.rows} rows, {n_nodes} nodes, fit {fit_seconds:.1f}s",
          flush=True)

    small = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X[:500], y[:500])
    shrink(small, method="hs", strength=1.0)  # warm-up: load the compiled kernels
    shrink(small, X[:500], y[:500])
    shrink(small)

    # Each call converts and pools every tree from scratch (nothing is cached between calls); the
    # first call also pays for touching fresh memory.  Report it and the best of three.
    times = []
    for _ in range(3):
        start = time.perf_counter()
        ours = shrink(model, method="hs", strength=args.reg_param)
        times.append(time.perf_counter() - start)
    first_seconds, ours_seconds = times[0], min(times)
    print(f"shrinktree.shrink(method='hs'): first call {first_seconds:.3f}s, best of 3 {ours_seconds:.3f}s",
          flush=True)

    victim = copy.deepcopy(model)
    start = time.perf_counter()
    theirs = HSTreeRegressor(victim, reg_param=args.reg_param)
    imodels_seconds = time.perf_counter() - start
    print(f"imodels HSTreeRegressor: {imodels_seconds:.3f}s", flush=True)

    diff = float(np.max(np.abs(ours.predict(X_test) - theirs.predict(X_test))))
    ratio = imodels_seconds / ours_seconds
    ratio_first = imodels_seconds / first_seconds
    print(f"max |prediction difference| = {diff:.2e}; speed ratio imodels/shrinktree = {ratio:.0f}x "
          f"(best of 3), {ratio_first:.0f}x (first call)", flush=True)

    start = time.perf_counter()
    shrink(model)
    eb_stored = time.perf_counter() - start
    start = time.perf_counter()
    shrink(model, X, y)
    eb_oob = time.perf_counter() - start
    print(f"shrinktree.shrink(method='eb'): stored statistics {eb_stored:.3f}s, "
          f"out-of-bag rows of X, y {eb_oob:.3f}s", flush=True)
    result = {"rows": args.rows, "trees": args.trees, "nodes": n_nodes, "fit_seconds": fit_seconds,
              "shrinktree_hs_seconds": ours_seconds,
              "shrinktree_hs_first_seconds": first_seconds, "imodels_seconds": imodels_seconds, "ratio": ratio,
              "max_abs_diff": diff, "eb_stored_seconds": eb_stored, "eb_oob_seconds": eb_oob}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    if not args.no_write:
        from _common import command_line
        from posthoc import write_doc

        table = "\n".join([
            "| | seconds |", "|---|---|",
            f"| fit RandomForestRegressor ({args.trees} trees, {args.rows} rows, {n_nodes} nodes) "
            f"| {fit_seconds:.1f} |",
            f"| imodels `HSTreeRegressor(model, reg_param={args.reg_param:g})` | {imodels_seconds:.3f} |",
            f"| `shrink(model, method='hs', strength={args.reg_param:g})`, first call | {first_seconds:.4f} |",
            f"| `shrink(model, method='hs', strength={args.reg_param:g})`, best of 3 calls | {ours_seconds:.4f} |",
            f"| `shrink(model)` (eb, stored statistics) | {eb_stored:.4f} |",
            f"| `shrink(model, X, y)` (eb, out-of-bag rows) | {eb_oob:.3f} |",
            "",
            f"Speed ratio imodels / shrinktree (hs): **{ratio:.0f}x** (best of 3), {ratio_first:.0f}x (first call); "
            f"largest prediction difference {diff:.1e}.",
        ])
        write_doc(table, command_line(), "<!-- posthoc-speed:start -->", "<!-- posthoc-speed:end -->")


if __name__ == "__main__":
    main()
