"""The small-data suite of ``benchmarks/speed.py``: 400-5,000 rows, 300 trees, one thread per library.

The sets are regression, binary and one multiclass set (digits, ten classes: 300 iterations of ten trees).
On small data a fit is a few thousand tiny kernel calls, so the per-iteration Python overhead, not
the arithmetic, decides the time.  Every library fits 300 trees of at most 31 leaves with at least
20 rows per leaf and learning rate 0.1 (shrinktree with its defaults), interleaved in one process
and repeated; the best time of each is kept.
"""

from __future__ import annotations

import time

import numpy as np

N_TREES = 300

SHRINKTREE = "shrinktree (default)"
LIGHTGBM = "LightGBM"
XGBOOST = "XGBoost hist"
LIBRARIES = (SHRINKTREE, LIGHTGBM, XGBOOST)


def datasets() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(name, task, X, y)`` of every small set: scikit-learn's bundled data and generated rows."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_classification, make_friedman1

    out = []
    X, y = load_diabetes(return_X_y=True)
    out.append(("diabetes (442 x 10)", "regression", X, y))
    X, y = load_breast_cancer(return_X_y=True)
    out.append(("breast cancer (569 x 30)", "binary", X, y.astype(np.float64)))
    X, y = make_friedman1(n_samples=2_000, n_features=10, noise=1.0, random_state=0)
    out.append(("Friedman #1 (2,000 x 10)", "regression", X, y))
    X, y = make_classification(n_samples=5_000, n_features=20, n_informative=8, random_state=0)
    out.append(("generated binary (5,000 x 20)", "binary", X, y.astype(np.float64)))
    # Ten classes: every library grows one tree per class and iteration, 3,000 trees in all.
    X, y = load_digits(return_X_y=True)
    out.append(("digits (1,797 x 64, 10 classes)", "multiclass", X, y))
    return out


def make_model(library: str, task: str):
    """An unfitted estimator of ``library`` with the suite's settings (one thread)."""
    regression = task == "regression"
    if library == SHRINKTREE:
        from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

        return (ShrinkBoostRegressor if regression else ShrinkBoostClassifier)(n_jobs=1, random_state=0)
    if library == LIGHTGBM:
        import lightgbm

        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        return cls(n_estimators=N_TREES, num_leaves=31, min_child_samples=20, learning_rate=0.1, n_jobs=1,
                   random_state=0, verbose=-1)
    if library == XGBOOST:
        import xgboost

        cls = xgboost.XGBRegressor if regression else xgboost.XGBClassifier
        return cls(n_estimators=N_TREES, tree_method="hist", grow_policy="lossguide", max_leaves=31, max_depth=0,
                   min_child_weight=1.0, learning_rate=0.1, n_jobs=1, random_state=0)
    raise ValueError(f"unknown library {library!r}")


def time_suite(repeats: int, log) -> list[dict]:
    """Best fit time of every library on every set, interleaved ``repeats`` times.

    Returns
    -------
    list of dict
        Per set: ``name``, ``rows``, ``task`` and ``times`` (library to list of seconds).
    """
    results = []
    for name, task, X, y in datasets():
        for library in LIBRARIES:  # load the kernels and warm every library's code paths
            make_model(library, task).fit(X, y)
        times = {library: [] for library in LIBRARIES}
        for round_ in range(repeats):
            order = LIBRARIES[round_ % len(LIBRARIES):] + LIBRARIES[:round_ % len(LIBRARIES)]
            for library in order:
                model = make_model(library, task)
                start = time.perf_counter()
                model.fit(X, y)
                times[library].append(time.perf_counter() - start)
        log(f"  {name}: " + ", ".join(f"{lib} {min(t):.3f} s" for lib, t in times.items()))
        results.append({"name": name, "rows": X.shape[0], "task": task, "times": times})
    return results
