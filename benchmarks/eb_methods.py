"""How the empirical-Bayes pooling strength should be estimated, measured.

Compares, with everything else at defaults:

* ``eb_method="naive"``: tau^2 from the same rows that chose the splits (no correction);
* ``eb_method="calibrated"``: the same rows, with the noise term inflated by the expected best
  gain of pure noise over the candidates searched;
* ``eb_method="honest"``: each tree grown on half the rows, tau^2 and sigma^2 from the other half;
* ``shrinkage="none"``: plain boosting;
* ``pooled split gain``: honest eb whose split search scores candidates by the loss reduction of
  the *pooled* child values (as LightGBM's ``path_smooth`` does), with ``k`` of the previous tree.

on pure noise (variance of the predictions: lower is better), on generated signal of three
noise levels and on real datasets (test RMSE / sd(y): lower is better).

``--variance-estimators`` instead compares the four ``variance_estimator=`` values of the tree and level
pooling (``eb_method`` honest, the default, or ``--eb-method``) on the design datasets with their
categorical columns as native categoricals: per dataset the test RMSE / sd(y) (mean over ``--repeats``
75/25 splits, each fitted with ``random_state`` = the split's seed), the prediction spread (on the first
split, the standard deviation of a test row's prediction over ``--repeats`` values of ``random_state``,
averaged over the rows and divided by sd(y)) and the mean fit time; plus the variance of the predictions
on pure noise and the RMSE on Friedman 1 (noise 1).

Run: ``python benchmarks/eb_methods.py [--repeats 3] [--output docs/eb_methods.md]`` or
``python benchmarks/eb_methods.py --variance-estimators [--repeats 3] [--datasets ...]``
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split

from shrinktree import ShrinkBoostRegressor
from shrinktree.datasets import HOLDOUT, load_dataset, ordinal_encode
from shrinktree.variance_components import VARIANCE_ESTIMATORS

VARIANTS = {
    "none": dict(shrinkage="none"),
    "eb naive": dict(eb_method="naive"),
    "eb calibrated": dict(eb_method="calibrated"),
    "eb honest (default)": dict(eb_method="honest"),
    "eb honest + pooled split gain": dict(eb_method="honest", _pooled_split_gain=True),
}


def make_model(spec: dict, seed: int) -> ShrinkBoostRegressor:
    """A regressor for one variant; the pooled-split-gain switch is an experimental private attribute."""
    spec = dict(spec)
    pooled = spec.pop("_pooled_split_gain", False)
    model = ShrinkBoostRegressor(random_state=seed, **spec)
    if pooled:
        model._pooled_split_gain_k = 1.0  # k used for the first tree; later trees use the previous tree's k
    return model


def relative_rmse(model, X_train, X_test, y_train, y_test) -> float:
    model.fit(X_train, y_train)
    return float(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / np.std(y_test))


def noise_variance(spec: dict, repeats: int) -> float:
    values = []
    for seed in range(repeats):
        rng = np.random.default_rng(seed)
        X, y = rng.normal(size=(2000, 8)), rng.normal(size=2000)
        model = make_model(spec, seed).fit(X, y)
        values.append(np.var(model.predict(rng.normal(size=(2000, 8)))))
    return float(np.mean(values))


def signal_error(spec: dict, noise: float, repeats: int) -> float:
    values = []
    for seed in range(repeats):
        X, y = make_friedman1(n_samples=3000, noise=noise, random_state=seed)
        parts = train_test_split(X, y, test_size=0.5, random_state=seed)
        values.append(relative_rmse(make_model(spec, seed), *parts))
    return float(np.mean(values))


def real_error(spec: dict, name: str, repeats: int) -> float:
    data = load_dataset(name)
    X = ordinal_encode(data.X)
    values = []
    for seed in range(repeats):
        parts = train_test_split(X, data.y.astype(float), test_size=0.25, random_state=seed)
        values.append(relative_rmse(make_model(spec, seed), *parts))
    return float(np.mean(values))


def estimator_scores(estimator: str, eb_method: str, name: str, repeats: int) -> tuple[float, float, float, float]:
    """Mean and sd over splits of the test RMSE / sd(y), the prediction spread / sd(y), the mean fit time (s)."""
    data = load_dataset(name)
    y = data.y.astype(float)
    errors, times, first_split = [], [], []
    for seed in range(repeats):
        X_train, X_test, y_train, y_test = train_test_split(data.X, y, test_size=0.25, random_state=seed)
        seeds = range(repeats) if seed == 0 else (seed,)
        for state in seeds:
            model = ShrinkBoostRegressor(random_state=state, eb_method=eb_method, variance_estimator=estimator)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
            prediction = model.predict(X_test)
            if state == seed:
                errors.append(np.sqrt(np.mean((prediction - y_test) ** 2)) / np.std(y_test))
            if seed == 0:
                first_split.append(prediction)
    spread = float(np.mean(np.std(np.array(first_split), axis=0)) / np.std(y))
    return float(np.mean(errors)), float(np.std(errors)), spread, float(np.mean(times))


def compare_estimators(args) -> str:
    """The ``--variance-estimators`` table (markdown)."""
    datasets = [d for d in args.datasets.split(",") if d]
    held_out = sorted(set(datasets) & set(HOLDOUT))
    if held_out:
        raise SystemExit(f"{held_out} are HOLDOUT datasets, kept out of design measurements.")
    # Compile (or load) every kernel first, with and without categorical features, so that no fit time includes
    # numba's compilation.
    for warm in (load_dataset("hsb82"), load_dataset("diabetes")):
        for estimator in VARIANCE_ESTIMATORS:
            ShrinkBoostRegressor(n_estimators=3, eb_method=args.eb_method,
                                 variance_estimator=estimator).fit(warm.X, warm.y)
    columns = ["pure noise: var(pred)", "friedman1 noise 1"]
    for name in datasets:
        columns += [f"{name} RMSE/sd", f"{name} spread", f"{name} fit s"]
    rows = []
    for estimator in VARIANCE_ESTIMATORS:
        start = time.perf_counter()
        spec = dict(eb_method=args.eb_method, variance_estimator=estimator)
        cells = [f"{noise_variance(spec, args.repeats):.4f}", f"{signal_error(spec, 1.0, args.repeats):.4f}"]
        for name in datasets:
            error, error_sd, spread, fit_time = estimator_scores(estimator, args.eb_method, name, args.repeats)
            cells += [f"{error:.4f} ± {error_sd:.4f}", f"{spread:.4f}", f"{fit_time:.2f}"]
        rows.append((estimator, cells))
        print(f"{estimator}: done in {time.perf_counter() - start:.0f}s", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"Command: `nice -n 10 python benchmarks/eb_methods.py --variance-estimators --repeats {args.repeats} "
        f"--eb-method {args.eb_method} --datasets {args.datasets}` (commit {commit or 'unknown'}). Regression, "
        f"eb_method={args.eb_method!r}, native categoricals. RMSE/sd: test RMSE / sd(y), mean ± sd over "
        f"{args.repeats} splits; spread: sd of a test prediction over {args.repeats} random_state values on the "
        "first split, / sd(y); fit s: mean fit time in seconds (2-core machine shared with other jobs: noisy).",
        "",
        "| measure | " + " | ".join(name for name, _ in rows) + " |",
        "|---" * (len(rows) + 1) + "|",
    ]
    for i, column in enumerate(columns):
        lines.append(f"| {column} | " + " | ".join(cells[i] for _, cells in rows) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default=None,
                        help="default: diabetes,hsb82,scotssec,wages,egsingle (with --variance-estimators: and star)")
    parser.add_argument("--output", default=None, help="also write the markdown table to this file")
    parser.add_argument("--variance-estimators", action="store_true",
                        help="compare the variance_estimator values instead of the eb methods")
    parser.add_argument("--eb-method", default="honest", help="eb_method of --variance-estimators")
    args = parser.parse_args()
    if args.datasets is None:
        args.datasets = "diabetes,hsb82,scotssec,wages,egsingle" + (",star" if args.variance_estimators else "")
    if args.variance_estimators:
        table = compare_estimators(args)
        print(table)
        if args.output:
            with open(args.output, "w") as handle:
                handle.write(table + "\n")
        return
    datasets = [d for d in args.datasets.split(",") if d]
    columns = ["pure noise: var(pred)", "friedman1 noise 0.3", "friedman1 noise 1", "friedman1 noise 3"] + datasets
    rows = []
    for name, spec in VARIANTS.items():
        start = time.perf_counter()
        cells = [noise_variance(spec, args.repeats)]
        cells += [signal_error(spec, noise, args.repeats) for noise in (0.3, 1.0, 3.0)]
        for dataset in datasets:
            try:
                cells.append(real_error(spec, dataset, args.repeats))
            except ImportError:
                cells.append(float("nan"))
        rows.append((name, cells))
        print(f"{name}: done in {time.perf_counter() - start:.0f}s", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"Command: `python benchmarks/eb_methods.py --repeats {args.repeats} --datasets {args.datasets}` "
        f"(commit {commit or 'unknown'}). Regression; test RMSE / sd(y) averaged over {args.repeats} splits, "
        "except the first column (variance of predictions on pure noise, y ~ N(0, 1)).",
        "",
        "| variant | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, cells in rows:
        lines.append(f"| {name} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()
