"""The prediction suite of ``benchmarks/speed.py``: 1,000,000 rows through 300-tree models.

shrinktree (defaults but 300 trees of at most 31 leaves, no early stopping), LightGBM and XGBoost
(``tree_method="hist"``, best-first to 31 leaves) are fitted once each on the first ``fit_rows``
generated rows; then every model predicts the same 1,000,000 rows, as float32 and as float64, with
one thread and with two, interleaved and repeated (best of ``repeats``).  Times are wall seconds
of ``predict`` (input checks and the link included).
"""

from __future__ import annotations

import os
import time

import numpy as np

N_TREES = 300
N_LEAVES = 31
SHRINKTREE = "shrinktree (default)"
LIGHTGBM = "LightGBM"
XGBOOST = "XGBoost hist"
LIBRARIES = (SHRINKTREE, LIGHTGBM, XGBOOST)


def fit_models(X: np.ndarray, y: np.ndarray, threads: int) -> dict:
    """Every library's 300-tree regressor fitted on ``X, y``."""
    import lightgbm
    import xgboost

    from shrinktree import ShrinkBoostRegressor

    return {
        SHRINKTREE: ShrinkBoostRegressor(n_estimators=N_TREES, max_leaf_nodes=N_LEAVES, early_stopping=False,
                                         random_state=0, n_jobs=threads).fit(X, y),
        LIGHTGBM: lightgbm.LGBMRegressor(n_estimators=N_TREES, num_leaves=N_LEAVES, min_child_samples=20,
                                         n_jobs=threads, random_state=0, verbose=-1).fit(X, y),
        XGBOOST: xgboost.XGBRegressor(n_estimators=N_TREES, tree_method="hist", grow_policy="lossguide",
                                      max_leaves=N_LEAVES, max_depth=0, n_jobs=threads, random_state=0).fit(X, y),
    }


def predict_with(library: str, model, X: np.ndarray, threads: int) -> np.ndarray:
    """``model.predict(X)`` on ``threads`` threads."""
    if library == LIGHTGBM:
        return model.predict(X, num_threads=threads)
    model.set_params(n_jobs=threads)
    return model.predict(X)


def time_predictions(models: dict, X: np.ndarray, thread_counts, repeats: int, log) -> list[dict]:
    """Best ``predict`` wall time of every library for float32 and float64 ``X`` and each thread count.

    Returns
    -------
    list of dict
        Per (dtype, threads): ``dtype``, ``threads``, ``load`` (1-minute load average at the start)
        and ``times`` (library to list of seconds).
    """
    inputs = {"float32": np.ascontiguousarray(X, dtype=np.float32), "float64": np.ascontiguousarray(X, np.float64)}
    for library, model in models.items():  # load kernels, build every library's predictor once
        predict_with(library, model, inputs["float32"][:1000], 1)
        predict_with(library, model, inputs["float64"][:1000], 1)
    results = []
    for dtype, data in inputs.items():
        for threads in thread_counts:
            times = {library: [] for library in LIBRARIES}
            load = os.getloadavg()[0]
            for round_ in range(repeats):
                order = LIBRARIES[round_ % len(LIBRARIES):] + LIBRARIES[:round_ % len(LIBRARIES)]
                for library in order:
                    start = time.perf_counter()
                    predict_with(library, models[library], data, threads)
                    times[library].append(time.perf_counter() - start)
            log(f"  {dtype}, {threads} thread(s), load {load:.1f}: "
                + ", ".join(f"{lib} {min(t):.2f} s" for lib, t in times.items()))
            results.append({"dtype": dtype, "threads": threads, "load": load, "times": times})
    return results
