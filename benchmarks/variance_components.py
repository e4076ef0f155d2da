"""Bias and RMSE of the between-group variance tau^2 by the four estimators, measured.

For each design, ``--repeats`` data sets ``y_ij = b_i + e_ij`` with ``b_i ~ N(0, tau^2)``,
``e_ij ~ N(0, 1)`` are generated (fixed seeds) and ``tau^2`` is estimated by
``shrinktree.variance_components.fit_variance_components`` with each ``method``.  Reported per
design and estimator: mean bias, RMSE, the share of estimates at exactly ``tau^2 = 0``, and the
mean time per fit.

``--scale`` instead times each estimator on 100,000 groups of geometric sizes (mean 10 rows, about
a million rows), from the per-group statistics (computed once, timed separately).

``--mixed`` instead compares, on ``y = sin(2 x0) + x1^2 + b_school + e`` (300 schools, tau = 1,
sigma = 0.7, 4,000 training and 2,000 test rows, 3 seeds), the test RMSE of ``ShrinkBoostRegressor``
with ``random_effects="school"``, the same booster with the school as a native categorical feature,
and statsmodels' linear ``MixedLM`` (REML, BLUPs added; 0 for unseen schools).

Run: ``python benchmarks/variance_components.py [--repeats 400] [--scale | --mixed]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shrinktree.variance_components import (
    VARIANCE_ESTIMATORS,
    estimate_variance_components,
    fit_variance_components,
    group_statistics,
)

# name: (group sizes as a function of a generator, true tau^2)
DESIGNS = {
    "5 groups of 2-4 rows, tau^2 = 0.5": (lambda rng: rng.integers(2, 5, 5), 0.5),
    "20 groups of 1-3 rows, tau^2 = 0.5": (lambda rng: rng.integers(1, 4, 20), 0.5),
    "30 groups, sizes 1-3 and 20-200, tau^2 = 0.5": (lambda rng: np.r_[rng.integers(1, 4, 24),
                                                                       rng.integers(20, 201, 6)], 0.5),
    "20 groups of 1-3 rows, tau^2 = 0.05": (lambda rng: rng.integers(1, 4, 20), 0.05),
    "300 groups of 1-30 rows, tau^2 = 0.5": (lambda rng: rng.integers(1, 31, 300), 0.5),
}


def simulate(sizes_of, tau2, seed):
    rng = np.random.default_rng(seed)
    while True:
        sizes = sizes_of(rng)
        if sizes.sum() > len(sizes) + 2:  # identifiable (repeated rows) and enough rows for "bayes"
            break
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = rng.normal(0.0, np.sqrt(tau2), len(sizes))[groups] + rng.normal(size=len(groups))
    return y, groups


def scale() -> None:
    rng = np.random.default_rng(1)
    n_groups = 100_000
    groups = np.repeat(np.arange(n_groups), rng.geometric(0.1, n_groups))
    y = rng.normal(0.0, 0.5, n_groups)[groups] + rng.normal(size=len(groups))
    start = time.perf_counter()
    stats = group_statistics(y, groups)[1:]
    print(f"{n_groups} groups, {len(y)} rows, tau^2 = 0.25, sigma^2 = 1; group statistics: "
          f"{time.perf_counter() - start:.2f} s")
    estimate_variance_components(*[s[:50] for s in stats], method="bayes")  # compile
    print("| estimator | tau^2 | sigma^2 | seconds |")
    print("|---|---|---|---|")
    for method in VARIANCE_ESTIMATORS:
        start = time.perf_counter()
        vc = estimate_variance_components(*stats, method=method)
        print(f"| {method} | {vc.tau2:.4f} | {vc.sigma2:.4f} | {time.perf_counter() - start:.3f} |", flush=True)


def _rmse(pred, truth) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def mixed() -> None:
    import warnings

    import pandas as pd
    import statsmodels.formula.api as smf

    from shrinktree import ShrinkBoostRegressor

    print("| seed | random_effects='school' | school as categorical | linear MixedLM | intercept updates |")
    print("|---|---|---|---|---|")
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n, m = 6000, 300
        school = rng.integers(0, m, n)
        x = rng.normal(size=(n, 3))
        y = np.sin(2 * x[:, 0]) + x[:, 1] ** 2 + rng.normal(0.0, 1.0, m)[school] + rng.normal(0.0, 0.7, n)
        X = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "school": school})
        train, test = np.arange(n) < 4000, np.arange(n) >= 4000

        model = ShrinkBoostRegressor(random_effects="school", random_state=seed).fit(X[train], y[train])
        native = X.assign(school=X["school"].astype("category"))
        booster = ShrinkBoostRegressor(random_state=seed).fit(native[train], y[train])
        frame = X.assign(y=y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lmm = smf.mixedlm("y ~ x0 + x1 + x2", frame[train], groups=frame["school"][train]).fit(reml=True)
        blup = np.array([lmm.random_effects[g].iloc[0] if g in lmm.random_effects else 0.0
                         for g in X["school"][test]])
        linear = lmm.predict(frame[test]).to_numpy() + blup
        truth = y[test]
        print(f"| {seed} | {_rmse(model.predict(X[test]), truth):.4f} | "
              f"{_rmse(booster.predict(native[test]), truth):.4f} | {_rmse(linear, truth):.4f} | "
              f"{model.n_mixed_iter_} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--scale", action="store_true", help="time the estimators on 100,000 groups instead")
    parser.add_argument("--mixed", action="store_true", help="compare random_effects= with alternatives instead")
    args = parser.parse_args()
    if args.mixed:
        mixed()
        return
    if args.scale:
        scale()
        return
    fit_variance_components(*simulate(DESIGNS[next(iter(DESIGNS))][0], 0.5, 0), method="reml")  # compile
    print("| design | estimator | bias of tau^2 | RMSE of tau^2 | share tau^2 = 0 | ms per fit |")
    print("|---|---|---|---|---|---|")
    for name, (sizes_of, tau2) in DESIGNS.items():
        data = [simulate(sizes_of, tau2, seed) for seed in range(args.repeats)]
        for method in VARIANCE_ESTIMATORS:
            start = time.perf_counter()
            est = np.array([fit_variance_components(y, g, method=method).tau2 for y, g in data])
            ms = (time.perf_counter() - start) / len(data) * 1e3
            print(f"| {name} | {method} | {np.mean(est) - tau2:+.4f} | {np.sqrt(np.mean((est - tau2) ** 2)):.4f} "
                  f"| {np.mean(est == 0.0):.2f} | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
