"""Bias and RMSE of the between-group variance tau^2 by the four estimators, measured.

For each design, ``--repeats`` data sets ``y_ij = b_i + e_ij`` with ``b_i ~ N(0, tau^2)``,
``e_ij ~ N(0, 1)`` are generated (fixed seeds) and ``tau^2`` is estimated by
``shrinktree.variance_components.fit_variance_components`` with each ``method``.  Reported per
design and estimator: mean bias, RMSE, the share of estimates at exactly ``tau^2 = 0``, and the
mean time per fit.

``--scale`` instead times each estimator on 100,000 groups of geometric sizes (mean 10 rows, about
a million rows), from the per-group statistics (computed once, timed separately).

Run: ``python benchmarks/variance_components.py [--repeats 400] [--scale]``
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--scale", action="store_true", help="time the estimators on 100,000 groups instead")
    args = parser.parse_args()
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
