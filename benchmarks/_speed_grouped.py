"""The grouped real-data suite of ``benchmarks/speed.py``: high-cardinality categoricals, one thread and two.

Five grouped sets that ship with ``shrinktree.datasets`` (InstEval: 2,972 raters x 1,128 lecturers;
MovieLens: 671 users x 9,066 movies; STAR: 1,374 teachers; egsingle: 1,721 children; wages: 888
people), their id columns declared categorical.  shrinktree fits its defaults (300 trees) and LightGBM
its defaults with the same 300 trees, both on the pandas category columns, with ``n_jobs`` 1 and 2,
interleaved and repeated; the best time of each is kept.  The target: shrinktree no slower than
LightGBM on every set, at both thread counts.  XGBoost (``tree_method="hist"`` with its native
categorical splits, best-first with LightGBM's 31 leaves, 300 trees) is timed beside them.
"""

from __future__ import annotations

import time

N_TREES = 300
THREADS = (1, 2)
DATASETS = ("insteval", "movielens", "star", "egsingle", "wages")

SHRINKTREE = "shrinktree (default)"
LIGHTGBM = "LightGBM"
XGBOOST = "XGBoost hist"
LIBRARIES = (SHRINKTREE, LIGHTGBM, XGBOOST)


def make_model(library: str, task: str, n_jobs: int):
    """An unfitted estimator of ``library``: shrinktree's defaults, LightGBM's with ``N_TREES`` trees, or XGBoost's
    histogram method on the category columns, grown best-first to LightGBM's default 31 leaves."""
    regression = task == "regression"
    if library == SHRINKTREE:
        from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

        return (ShrinkBoostRegressor if regression else ShrinkBoostClassifier)(n_jobs=n_jobs, random_state=0)
    if library == LIGHTGBM:
        import lightgbm

        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        return cls(n_estimators=N_TREES, n_jobs=n_jobs, random_state=0, verbose=-1)
    if library == XGBOOST:
        import xgboost

        cls = xgboost.XGBRegressor if regression else xgboost.XGBClassifier
        return cls(n_estimators=N_TREES, tree_method="hist", enable_categorical=True, grow_policy="lossguide",
                   max_leaves=31, max_depth=0, learning_rate=0.1, n_jobs=n_jobs, random_state=0)
    raise ValueError(f"unknown library {library!r}")


def _grouping(X) -> str:
    """The largest categorical columns, as ``name (levels)``."""
    cats = sorted(((X[c].nunique(), c) for c in X.columns if X[c].dtype.name == "category"), reverse=True)
    return ", ".join(f"{c} {n:,}" for n, c in cats[:2])


def time_suite(repeats: int, log, names=DATASETS) -> list[dict]:
    """Best fit time of each library at each thread count on every set, interleaved ``repeats`` times.

    Returns
    -------
    list of dict
        Per set: ``name``, ``rows``, ``columns``, ``grouping`` (largest categoricals) and ``times``
        (``(library, n_jobs)`` to a list of seconds).
    """
    from shrinktree.datasets import load_dataset

    results = []
    for name in names:
        data = load_dataset(name)
        X, y, task = data.X, data.y, data.task
        keys = [(library, jobs) for jobs in THREADS for library in LIBRARIES]
        for library in LIBRARIES:  # load the kernels and warm every library's code paths
            make_model(library, task, 1).set_params(n_estimators=5).fit(X, y)
        times = {key: [] for key in keys}
        for round_ in range(repeats):
            order = keys[round_ % len(keys):] + keys[:round_ % len(keys)]
            for library, jobs in order:
                model = make_model(library, task, jobs)
                start = time.perf_counter()
                model.fit(X, y)
                times[(library, jobs)].append(time.perf_counter() - start)
        log(f"  {name}: " + ", ".join(f"{lib} n_jobs={jobs} {min(t):.2f} s" for (lib, jobs), t in times.items()))
        results.append({"name": name, "rows": X.shape[0], "columns": X.shape[1], "grouping": _grouping(X),
                        "times": times})
    return results
