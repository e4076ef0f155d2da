"""Hash the predictions of about 40 fitted configurations, to check that an engine change keeps models bit-identical.

Each configuration (regression under every loss, binary and multiclass classification, categorical
features, missing values, sample weights, monotone and interaction constraints, every shrinkage mode
and eb_method, subsampling, early stopping, one and two threads on data large enough to use them) is
fitted with a fixed ``random_state`` and the raw bytes of its predictions, feature importances (gain
and split counts) and per-tree pooling strengths are hashed with SHA-256.

Run from the repository root::

    python benchmarks/snapshot.py --write /tmp/before.json     # before a change
    python benchmarks/snapshot.py --compare /tmp/before.json   # after it: exit status 1 on any difference

``--large`` adds 12 fits of 300,000 x 28 generated rows (``benchmarks/speed.py``'s data; regression and
binary, eb, ``"none"`` and row plus column subsampling, one and two threads), the only ones big enough for
the packed histograms of small nodes (about a minute more).

``--set NAME=VALUE`` (repeatable) sets an attribute on every model before it is fitted, for the private
switches that are not parameters: ``--set _absent_rule=side`` fits with the rule before present sets, to
compare against hashes of the engine before them.  VALUE is read as a Python literal when it is one
(``3``, ``True``, ``0.5``), else as a string.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import time

import numpy as np
import pandas as pd

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

# Attributes set on every model before it is fitted (``--set``).
SWITCHES: dict = {}


def _with_switches(model):
    for name, value in SWITCHES.items():
        setattr(model, name, value)
    return model


def parse_switch(text: str) -> tuple[str, object]:
    """``"NAME=VALUE"`` as ``(NAME, VALUE)``, VALUE a Python literal when it reads as one, else the string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"--set takes NAME=VALUE, got {text!r}.")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _data(n_rows: int, seed: int, *, categorical: bool = False, missing: bool = False, float32: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 6)).astype(np.float32 if float32 else np.float64)
    signal = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3]
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    if categorical:
        levels = rng.integers(0, 40, size=n_rows)
        effect = rng.normal(size=40)
        signal = signal + effect[levels]
        frame["group"] = pd.Categorical([f"g{v}" for v in levels])
        frame["small"] = pd.Categorical(rng.choice(["a", "b", "c"], size=n_rows))
    if missing:
        for column in ("x1", "x4"):
            frame.loc[rng.random(n_rows) < 0.15, column] = np.nan
    noise = rng.normal(size=n_rows)
    return frame, signal, noise, rng


def _regression_target(signal, noise, kind: str):
    if kind == "positive":
        return np.exp(0.3 * signal + 0.2 * noise)
    if kind == "count":
        return np.random.default_rng(1).poisson(np.exp(0.3 * signal)).astype(float)
    return signal + noise


def configurations() -> list[tuple[str, dict]]:
    """Name and recipe of every configuration."""
    out = []

    def add(name, estimator="reg", rows=1500, target="plain", categorical=False, missing=False, weights=False,
            classes=0, float32=False, **params):
        out.append((name, dict(estimator=estimator, rows=rows, target=target, categorical=categorical,
                               missing=missing, weights=weights, classes=classes, float32=float32, params=params)))

    for loss in ("squared_error", "absolute_error", "huber", "quantile"):
        add(f"reg {loss}", loss=loss)
    add("reg huber delta", loss="huber", huber_delta=0.5)
    add("reg quantile 0.8", loss="quantile", quantile=0.8)
    for loss in ("poisson", "gamma", "tweedie"):
        add(f"reg {loss}", loss=loss, target="count" if loss == "poisson" else "positive")
    for mode in ("none", "hs"):
        add(f"reg shrinkage {mode}", shrinkage=mode, shrinkage_strength=5.0 if mode == "hs" else None)
    for method in ("calibrated", "naive"):
        add(f"reg eb_method {method}", eb_method=method)
    add("reg categorical", categorical=True)
    add("reg categorical none", categorical=True, shrinkage="none")
    add("reg categorical calibrated", categorical=True, eb_method="calibrated")
    add("reg missing", missing=True)
    add("reg missing categorical weights", missing=True, categorical=True, weights=True)
    add("reg weights", weights=True)
    add("reg weights absolute_error", weights=True, loss="absolute_error")
    add("reg monotone", monotonic_cst=[1, -1, 0, 0, 0, 0])
    add("reg interaction", interaction_cst=[[0, 1], [2, 3, 4, 5]])
    add("reg subsample colsample", subsample=0.7, colsample=0.6)
    add("reg depth l2", max_depth=3, l2_regularization=2.0, min_samples_leaf=5)
    add("reg small", rows=400, n_estimators=50)
    add("reg early stopping", rows=12_000, early_stopping=True, n_estimators=60)
    add("reg float32 missing", float32=True, missing=True)
    add("reg float32 categorical", float32=True, categorical=True)
    add("bin default", "clf", classes=2)
    add("bin none", "clf", classes=2, shrinkage="none")
    add("bin categorical missing", "clf", classes=2, categorical=True, missing=True)
    add("bin weights balanced", "clf", classes=2, weights=True, class_weight="balanced")
    add("bin monotone", "clf", classes=2, monotonic_cst=[1, 0, 0, 0, 0, 0])
    add("bin hs", "clf", classes=2, shrinkage="hs", shrinkage_strength=2.0)
    add("multi default", "clf", classes=3)
    add("multi categorical missing", "clf", classes=4, categorical=True, missing=True)
    add("multi none weights", "clf", classes=3, shrinkage="none", weights=True)
    for jobs in (1, 2):
        add(f"reg 30k n_jobs={jobs}", rows=30_000, n_jobs=jobs, n_estimators=25, missing=True)
        add(f"reg 30k categorical weights n_jobs={jobs}", rows=30_000, n_jobs=jobs, n_estimators=25,
            categorical=True, weights=True)
        add(f"bin 30k n_jobs={jobs}", "clf", classes=2, rows=30_000, n_jobs=jobs, n_estimators=25)
        add(f"multi 30k categorical n_jobs={jobs}", "clf", classes=3, rows=30_000, n_jobs=jobs, n_estimators=10,
            categorical=True)
        add(f"reg 30k early stopping n_jobs={jobs}", rows=30_000, n_jobs=jobs, n_estimators=40)
        add(f"bin 30k float32 n_jobs={jobs}", "clf", classes=2, rows=30_000, n_jobs=jobs, n_estimators=25,
            float32=True, missing=True)
    return out


LARGE_ROWS = 300_000


def large_configurations() -> list[tuple[str, dict]]:
    """Name and recipe of every ``--large`` configuration."""
    out = []
    for jobs in (1, 2):
        for task in ("regression", "binary"):
            for label, params in (("eb", {}), ("none", {"shrinkage": "none"}),
                                  ("subsample colsample", {"subsample": 0.5, "colsample": 0.6})):
                out.append((f"large {task} {label} n_jobs={jobs}", dict(task=task, params={"n_jobs": jobs, **params})))
    return out


def fit_and_hash_large(recipe: dict) -> str:
    """Fit one ``--large`` configuration and hash its predictions on the training rows."""
    from speed import make_data

    X, y = make_data(LARGE_ROWS, recipe["task"])
    X[::37, 2] = np.nan
    estimator = ShrinkBoostRegressor if recipe["task"] == "regression" else ShrinkBoostClassifier
    model = _with_switches(estimator(n_estimators=15, random_state=1, **recipe["params"])).fit(X, y)
    predictions = model.predict(X) if recipe["task"] == "regression" else model.predict_proba(X)
    digest = hashlib.sha256(np.ascontiguousarray(predictions, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(model._importances, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(model.pooling_strength_, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def fit_and_hash(recipe: dict) -> str:
    """Fit one configuration and hash its test-set predictions (and decision values for classifiers)."""
    rows = recipe["rows"]
    frame, signal, noise, rng = _data(rows + 500, seed=rows, categorical=recipe["categorical"],
                                      missing=recipe["missing"], float32=recipe["float32"])
    params = {"n_estimators": 40, "random_state": 7, **recipe["params"]}
    if recipe["estimator"] == "reg":
        y = _regression_target(signal, noise, recipe["target"])
        model = ShrinkBoostRegressor(**params)
    else:
        score = signal + noise
        edges = np.quantile(score, np.linspace(0, 1, recipe["classes"] + 1)[1:-1])
        y = np.array(["c0", "c1", "c2", "c3"])[np.searchsorted(edges, score)]
        model = ShrinkBoostClassifier(**params)
    weight = rng.integers(1, 4, size=rows).astype(float) if recipe["weights"] else None
    train, test = frame.iloc[:rows], frame.iloc[rows:]
    _with_switches(model).fit(train, y[:rows], sample_weight=weight)
    digest = hashlib.sha256()
    if recipe["estimator"] == "reg":
        digest.update(np.ascontiguousarray(model.predict(test), dtype=np.float64).tobytes())
    else:
        digest.update(np.ascontiguousarray(model.predict_proba(test), dtype=np.float64).tobytes())
    digest.update(np.asarray(model.n_iter_).tobytes())
    digest.update(np.ascontiguousarray(model._importances, dtype=np.float64).tobytes())  # gain and split count
    digest.update(np.ascontiguousarray(model.pooling_strength_, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    """Write or compare the snapshot; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", help="JSON file to write the hashes to")
    group.add_argument("--compare", help="JSON file of earlier hashes to compare against")
    parser.add_argument("--large", action="store_true", help="add the 300,000-row configurations")
    parser.add_argument("--set", action="append", type=parse_switch, default=[], metavar="NAME=VALUE",
                        help="set this attribute on every model before fitting (a private switch); repeatable")
    args = parser.parse_args(argv)
    SWITCHES.clear()
    SWITCHES.update(dict(args.set))
    start = time.perf_counter()
    hashes = {name: fit_and_hash(recipe) for name, recipe in configurations()}
    if args.large:
        hashes.update({name: fit_and_hash_large(recipe) for name, recipe in large_configurations()})
    print(f"{len(hashes)} configurations in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.write:
        with open(args.write, "w") as handle:
            json.dump(hashes, handle, indent=1)
        return 0
    with open(args.compare) as handle:
        before = json.load(handle)
    differ = [name for name in hashes if before.get(name) != hashes[name]]
    missing = [name for name in before if name not in hashes]
    for name in differ:
        print(f"DIFFERS: {name}: {before.get(name)} -> {hashes[name]}")
    for name in missing:
        print(f"MISSING: {name}")
    print(f"{len(hashes) - len(differ)} of {len(hashes)} identical")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
