"""``shrinktree.warmup()``: compile (or load from numba's cache) every kernel ahead of time.

numba compiles a kernel the first time it runs and caches the machine code on disk, so on a new
environment (or after an upgrade) the first fits of a session wait for compilation.  ``warmup``
runs tiny fits that reach every kernel (each loss, categorical features, missing values, weights,
constraints, every shrinkage mode, classifiers, the multi-threaded paths of large data,
predictions, contributions, post-hoc shrinkage and random effects), so that later sessions only
load them.  With a warm cache it takes about a second.  ``shrinktree warmup`` on the command line
calls it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np


def _frame(rng, n_rows: int, *, categorical: bool, missing: bool):
    import pandas as pd

    X = rng.normal(size=(n_rows, 3))
    signal = X[:, 0] + np.sin(X[:, 1])
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    if categorical:
        levels = rng.integers(0, 12, size=n_rows)
        signal = signal + rng.normal(size=12)[levels]
        frame["g"] = pd.Categorical(levels)
    if missing:
        frame.loc[rng.random(n_rows) < 0.1, "b"] = np.nan
    return frame, signal + rng.normal(size=n_rows)


def _steps():
    """``(name, function)`` of every warm-up fit, each reaching a different set of kernels."""
    from . import ShrinkBoostClassifier, ShrinkBoostRegressor
    from .explain import predict_contributions

    rng = np.random.default_rng(0)
    small = dict(n_estimators=3, min_samples_leaf=5, random_state=0)
    X, y = _frame(rng, 300, categorical=False, missing=True)
    Xc, yc = _frame(rng, 300, categorical=True, missing=True)
    weight = rng.integers(1, 3, size=300).astype(np.float64)
    labels3 = np.digitize(yc, [-0.5, 0.5])

    def regression_losses():
        for loss, target in (("squared_error", y), ("absolute_error", y), ("huber", y), ("quantile", y),
                             ("poisson", np.exp(y / 3)), ("gamma", np.exp(y / 3)), ("tweedie", np.exp(y / 3))):
            ShrinkBoostRegressor(loss=loss, **small).fit(X, target).predict(X)

    def shrinkage_modes():
        for data in ((X, y), (Xc, yc)):
            for params in ({"shrinkage": "none"}, {"shrinkage": "hs", "shrinkage_strength": 2.0},
                           {"eb_method": "calibrated"}, {"eb_method": "naive"}, {}):
                ShrinkBoostRegressor(**params, **small).fit(*data, sample_weight=weight).predict(data[0])
                ShrinkBoostRegressor(**params, **small).fit(*data).predict(data[0])

    def constraints_and_sampling():
        ShrinkBoostRegressor(monotonic_cst=[1, -1, 0], interaction_cst=[[0, 1], [2]], **small).fit(X, y)
        ShrinkBoostRegressor(monotonic_cst=[1, 0, 0, 0], subsample=0.5, colsample=0.7, **small).fit(
            Xc, yc, eval_set=[(Xc, yc)])

    def classifiers():
        for target in (yc > 0, labels3):
            for params in ({}, {"shrinkage": "none"}):
                model = ShrinkBoostClassifier(**params, **small).fit(Xc, target, sample_weight=weight)
                model.predict_proba(Xc)
                ShrinkBoostClassifier(**params, **small).fit(Xc, target).predict_proba(Xc)

    def explanations():
        model = ShrinkBoostRegressor(**small).fit(Xc, yc)
        model.apply(Xc)
        predict_contributions(model, Xc)
        ShrinkBoostClassifier(**small).fit(Xc, labels3).predict_contributions(Xc)

    def large_data():
        # Above the row counts where kernels switch to their multi-threaded versions.
        Xl, yl = _frame(rng, 30_000, categorical=True, missing=True)
        ShrinkBoostRegressor(n_estimators=2, random_state=0).fit(Xl, yl).predict(Xl)
        ShrinkBoostRegressor(n_estimators=2, random_state=0).fit(Xl, yl, sample_weight=np.ones(len(yl))).predict(Xl)
        ShrinkBoostClassifier(n_estimators=2, random_state=0).fit(Xl, yl > 0).predict_proba(Xl)
        rows = 150_000
        Xg = rng.random(size=(rows, 2))
        model = ShrinkBoostRegressor(n_estimators=2, max_leaf_nodes=3, shrinkage="none", early_stopping=False,
                                     random_state=0).fit(Xg, Xg[:, 0])
        model.predict(Xg.astype(np.float32))  # float32 rows are predicted without a float64 copy
        # Enough cells to pack the rows for the histograms of small nodes, and enough rows outside the
        # subsample to route them in parallel blocks (boosting/routing.py).
        Xw = rng.random(size=(200_000, 28))
        ShrinkBoostRegressor(n_estimators=2, subsample=0.5, early_stopping=False,
                             random_state=0).fit(Xw, Xw[:, 0] + Xw[:, 1])

    def posthoc_and_mixed():
        from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

        from .posthoc import shrink

        Xn = np.nan_to_num(X.to_numpy())
        for model in (GradientBoostingRegressor(n_estimators=3, random_state=0),
                      RandomForestRegressor(n_estimators=3, random_state=0)):
            shrink(model.fit(Xn, y), Xn, y).predict(Xn)
        Xm = Xc.assign(group=rng.integers(0, 10, size=len(yc)))
        ShrinkBoostRegressor(random_effects="group", **small).fit(Xm, yc).predict(Xm)

    def distributed_kernels():
        # Kernels only the dask grower calls from Python (the single-machine loop is compiled whole).
        from .boosting.histogram import subtract_histograms
        from .boosting.honest import held_out_mask, row_hashes
        from .boosting.predictor import node_statistics

        binned = np.zeros((2, 8), dtype=np.uint8)
        subtract_histograms(np.ones((2, 4, 3)), np.zeros((2, 4, 3)))
        held_out_mask(row_hashes(binned, np.zeros((0, 8), dtype=np.int32), np.arange(8.0), 255), 0, 0)
        rows = np.arange(8, dtype=np.int64)
        node_statistics(rows, np.zeros(8, dtype=np.int64), np.full(1, -1, dtype=np.int32), np.ones(8), np.ones(8),
                        np.ones(8))

    return [("regression losses", regression_losses), ("shrinkage modes", shrinkage_modes),
            ("constraints and sampling", constraints_and_sampling), ("classifiers", classifiers),
            ("contributions", explanations), ("large data, several threads", large_data),
            ("post-hoc shrinkage and random effects", posthoc_and_mixed),
            ("distributed-grower kernels", distributed_kernels)]


def warmup(verbose: bool = False) -> dict:
    """Compile every shrinktree kernel now, or load it from numba's cache when already compiled.

    Call it once after installing (or run ``shrinktree warmup``) so that no later fit waits for
    compilation.  Results of later fits do not depend on it.

    Parameters
    ----------
    verbose : bool, default=False
        Print each step and its time on standard error.

    Returns
    -------
    dict
        ``seconds`` (wall time), ``kernels_compiled`` (kernel specializations numba compiled here;
        0 when every kernel came from the cache) and ``steps`` (seconds per step).
    """
    import sys

    from ._compile_notice import install

    notice = install()
    before = notice.kernels_compiled if notice is not None else 0
    start = time.perf_counter()
    steps = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits on generated data: weight-scale and convergence notes
        for name, function in _steps():
            step_start = time.perf_counter()
            function()
            steps[name] = time.perf_counter() - step_start
            if verbose:
                print(f"shrinktree warmup: {name}: {steps[name]:.1f} s", file=sys.stderr, flush=True)
    if notice is not None:
        notice.wait_idle()
    return {"seconds": time.perf_counter() - start,
            "kernels_compiled": (notice.kernels_compiled - before) if notice is not None else 0, "steps": steps}
