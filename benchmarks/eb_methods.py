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

Run: ``python benchmarks/eb_methods.py [--repeats 3] [--output docs/eb_methods.md]``
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split

from shrinktree import ShrinkBoostRegressor
from shrinktree.datasets import load_dataset, ordinal_encode

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default="diabetes,hsb82,scotssec,wages,egsingle")
    parser.add_argument("--output", default=None, help="also write the markdown table to this file")
    args = parser.parse_args()
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
