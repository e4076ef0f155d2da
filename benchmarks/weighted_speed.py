"""What sample weights cost a fit: weighted against unweighted, same data, one process, interleaved.

A weighted fit sums the weights into the histograms' count channel (``min_samples_leaf`` counts weight)
and gathers one more array per node, and it cannot use the constant-hessian shortcut of unweighted
squared error.  This prints the best of ``--repeats`` times of each and their ratio; print ``uptime``
beside it (the machine is shared).

Run from the repository root::

    python benchmarks/weighted_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shrinktree import ShrinkBoostRegressor


def make_data(n_rows: int, seed: int = 0):
    """Generated regression rows with 2% missing values and weights drawn uniformly from [0.5, 2]."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 10))
    X[rng.random(X.shape) < 0.02] = np.nan
    y = np.nan_to_num(X[:, 0]) + np.sin(np.nan_to_num(X[:, 1])) + 0.5 * rng.normal(size=n_rows)
    return X, y, rng.uniform(0.5, 2.0, size=n_rows)


def time_fits(n_rows: int, n_trees: int, repeats: int) -> dict[str, float]:
    """Best fit seconds of the weighted and the unweighted fit, alternated ``repeats`` times."""
    X, y, w = make_data(n_rows)
    for weights in (None, w):  # compile or load the kernels first
        ShrinkBoostRegressor(n_estimators=3, n_jobs=1).fit(X[:5000], y[:5000],
                                                            sample_weight=None if weights is None else weights[:5000])
    best = {"weighted": np.inf, "unweighted": np.inf}
    for _ in range(repeats):
        for name, weights in (("weighted", w), ("unweighted", None)):
            model = ShrinkBoostRegressor(n_estimators=n_trees, random_state=0, n_jobs=1, early_stopping=False)
            start = time.perf_counter()
            model.fit(X, y, sample_weight=weights)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--trees", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    best = time_fits(args.rows, args.trees, args.repeats)
    print(f"{args.rows:,} x 10 rows, {args.trees} trees, one thread, best of {args.repeats}: weighted "
          f"{best['weighted']:.3f} s, unweighted {best['unweighted']:.3f} s, "
          f"ratio {best['weighted'] / best['unweighted']:.2f}x")


if __name__ == "__main__":
    main()
