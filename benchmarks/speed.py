"""Training speed of shrinktree next to LightGBM, XGBoost (hist) and scikit-learn HistGradientBoosting.

Generated Higgs-like data (28 features: 21 "low-level" kinematics of five objects and 7
"high-level" pair masses; a nonlinear target), 100 trees of 31 leaves on 255 bins, no early
stopping, for regression and binary classification.  All models are timed in this one process,
interleaved and repeated (best of ``--repeats``), and reported as ratios to LightGBM and to HGB.
Also measured in child processes: the first fit in a fresh interpreter with a warm numba cache
(from process start, import included) and, optionally, the compile time with a cold cache.

Run from the repository root::

    python benchmarks/speed.py                         # 1,000,000 rows, writes docs/speed.md
    python benchmarks/speed.py --rows 100000 --output -
    python benchmarks/speed.py --profile               # also: where shrinktree's fit time goes
    python benchmarks/speed.py --small --repeats 5     # the small-data suite (400-5,000 rows, 300 trees)
    python benchmarks/speed.py --grouped --repeats 2   # grouped real data, 1 and 2 threads, vs LightGBM, XGBoost
    python benchmarks/speed.py --busy --repeats 1      # n_jobs=1, 2 and the default under a competing load
    python benchmarks/speed.py --memory                # peak memory of the float32 fit, one process each
    python benchmarks/speed.py --memory --large-rows 10000000   # and a 10,000,000-row fit, one process each
    python benchmarks/speed.py --predict --repeats 3   # 1,000,000 rows through 300-tree models
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _speed_busy  # noqa: E402
import _speed_grouped  # noqa: E402
import _speed_memory  # noqa: E402
import _speed_predict  # noqa: E402
import _speed_small  # noqa: E402
from _common import REPO_ROOT, git_commit, markdown_table, run_header, write_results  # noqa: E402

N_FEATURES = 28
N_TREES = 100
N_LEAVES = 31
N_BINS = 255
LEARNING_RATE = 0.1
MIN_LEAF = 20
N_JOBS = 2  # threads of every library; --threads changes it before any thread pool starts

ST_EB = "shrinktree eb (default)"
ST_NONE = "shrinktree none"
LGBM = "LightGBM"
XGB = "XGBoost hist"
HGB = "sklearn HGB"
MODELS = (ST_EB, ST_NONE, LGBM, XGB, HGB)
PEERS = (LGBM, XGB, HGB)


def set_threads(n: int) -> None:
    """Use ``n`` threads in numba, OpenMP (scikit-learn) and LightGBM, here and in child processes.

    Must run before numba, scikit-learn's OpenMP code or LightGBM are first imported.

    Parameters
    ----------
    n : int
    """
    global N_JOBS
    if "numba" in sys.modules or "lightgbm" in sys.modules or "sklearn" in sys.modules:
        raise RuntimeError("set_threads must run before numba, scikit-learn and LightGBM are imported")
    N_JOBS = n
    os.environ["NUMBA_NUM_THREADS"] = str(n)
    os.environ["OMP_NUM_THREADS"] = str(n)


def make_data(n_rows: int, task: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Higgs-like data: kinematics of five objects, pair masses, and a nonlinear target.

    Parameters
    ----------
    n_rows : int
    task : {"regression", "binary"}
    seed : int

    Returns
    -------
    X : ndarray of shape (n_rows, 28), float64, C order
    y : ndarray of shape (n_rows,)
        Float target for regression, 0/1 for binary.
    """
    rng = np.random.default_rng(seed)
    n_objects = 5
    pt = rng.lognormal(0.0, 0.5, size=(n_rows, n_objects))
    eta = rng.normal(0.0, 1.2, size=(n_rows, n_objects))
    phi = rng.uniform(-np.pi, np.pi, size=(n_rows, n_objects))
    btag = rng.integers(0, 3, size=(n_rows, 4)).astype(np.float64)
    missing_et = rng.exponential(1.0, size=n_rows)
    missing_phi = rng.uniform(-np.pi, np.pi, size=n_rows)
    pairs = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (0, 4), (1, 3)]
    masses = np.column_stack([
        np.sqrt(2 * pt[:, i] * pt[:, j] * (np.cosh(eta[:, i] - eta[:, j]) - np.cos(phi[:, i] - phi[:, j])))
        for i, j in pairs
    ])
    X = np.column_stack([pt, eta, phi, btag, missing_et, missing_phi, masses])
    assert X.shape[1] == N_FEATURES
    signal = (1.5 * np.exp(-((masses[:, 0] - 1.2) ** 2) / 0.2)
              + 0.8 * np.tanh(masses[:, 3] - 1.0)
              + 0.4 * btag[:, 0] * btag[:, 1]
              + 0.5 * np.sin(phi[:, 0] - missing_phi) * (missing_et > 1.0)
              + 0.3 * np.abs(eta[:, 1] - eta[:, 2])
              - 0.6 * (pt[:, 4] > 1.5) * (eta[:, 4] ** 2 < 1.0))
    if task == "regression":
        y = signal + rng.normal(0.0, 1.0, size=n_rows)
    else:
        logit = 2.0 * (signal - np.median(signal))
        y = (rng.uniform(size=n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    return np.ascontiguousarray(X), y


def make_model(model: str, task: str):
    """An unfitted estimator with the benchmark's matching settings.

    Parameters
    ----------
    model : str
        One of ``MODELS``.
    task : {"regression", "binary"}

    Returns
    -------
    estimator
    """
    regression = task == "regression"
    if model in (ST_EB, ST_NONE):
        from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

        cls = ShrinkBoostRegressor if regression else ShrinkBoostClassifier
        return cls(shrinkage="eb" if model == ST_EB else "none", n_estimators=N_TREES, max_leaf_nodes=N_LEAVES,
                   max_bins=N_BINS, learning_rate=LEARNING_RATE, min_samples_leaf=MIN_LEAF, early_stopping=False,
                   random_state=0)
    if model == LGBM:
        import lightgbm

        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        return cls(n_estimators=N_TREES, num_leaves=N_LEAVES, max_bin=N_BINS, learning_rate=LEARNING_RATE,
                   min_child_samples=MIN_LEAF, n_jobs=N_JOBS, random_state=0, verbose=-1)
    if model == XGB:
        import xgboost

        # Best-first growth to at most 31 leaves, as LightGBM and shrinktree grow; XGBoost has no
        # minimum row count per leaf (its min_child_weight bounds the hessian sum instead: default 1).
        cls = xgboost.XGBRegressor if regression else xgboost.XGBClassifier
        return cls(n_estimators=N_TREES, tree_method="hist", grow_policy="lossguide", max_leaves=N_LEAVES,
                   max_depth=0, max_bin=N_BINS, learning_rate=LEARNING_RATE, n_jobs=N_JOBS, random_state=0)
    if model == HGB:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(max_iter=N_TREES, max_leaf_nodes=N_LEAVES, max_bins=N_BINS, learning_rate=LEARNING_RATE,
                   min_samples_leaf=MIN_LEAF, early_stopping=False, random_state=0)
    raise ValueError(f"unknown model {model!r}")


def n_trees_fitted(estimator) -> int:
    """Number of boosting iterations a fitted estimator ran.

    Parameters
    ----------
    estimator : fitted estimator

    Returns
    -------
    int
    """
    if hasattr(estimator, "booster_"):
        return estimator.booster_.current_iteration()
    if hasattr(estimator, "get_booster"):
        return estimator.get_booster().num_boosted_rounds()
    return int(estimator.n_iter_)


def time_models(X, y, task: str, repeats: int, log) -> dict:
    """Fit every model ``repeats`` times, interleaved (the order rotates each round).

    Parameters
    ----------
    X, y : ndarray
    task : {"regression", "binary"}
    repeats : int
    log : callable

    Returns
    -------
    dict
        Model name to the list of fit times in seconds.
    """
    times = {m: [] for m in MODELS}
    for round_ in range(repeats):
        order = MODELS[round_ % len(MODELS):] + MODELS[:round_ % len(MODELS)]
        for model in order:
            estimator = make_model(model, task)
            start = time.perf_counter()
            estimator.fit(X, y)
            seconds = time.perf_counter() - start
            if n_trees_fitted(estimator) != N_TREES:
                raise RuntimeError(f"{model} fitted {n_trees_fitted(estimator)} trees, expected {N_TREES}")
            times[model].append(seconds)
            log(f"  {task} round {round_ + 1}/{repeats}: {model} {seconds:.2f} s")
            del estimator
    return times


CHILD_CODE = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
t1 = time.perf_counter()
X = np.load(sys.argv[1]); y = np.load(sys.argv[2])
t2 = time.perf_counter()
kw = dict(n_estimators=%(trees)d, max_leaf_nodes=%(leaves)d, max_bins=%(bins)d, learning_rate=%(lr)r,
          min_samples_leaf=%(leaf)d, early_stopping=False, random_state=0)
ShrinkBoostRegressor(**kw).fit(X, y)
t3 = time.perf_counter()
out = {"import": t1 - t0, "load": t2 - t1, "fit_regression": t3 - t2}
if sys.argv[3] == "1":
    ShrinkBoostClassifier(**kw).fit(X, (y > np.median(y)).astype(np.float64))
    out["fit_binary"] = time.perf_counter() - t3
print(json.dumps(out))
"""


def run_child(x_path: str, y_path: str, with_classifier: bool, cache_dir: str | None = None) -> dict:
    """Fit shrinktree in a fresh interpreter and return its timings.

    Parameters
    ----------
    x_path, y_path : str
        ``.npy`` files with the features and regression target.
    with_classifier : bool
        Also fit a classifier after the regressor (to compile its loss kernels).
    cache_dir : str, optional
        ``NUMBA_CACHE_DIR`` for the child (an empty directory measures a cold cache).

    Returns
    -------
    dict
        ``wall`` (from just before starting the process to its exit), ``import``, ``load``,
        ``fit_regression`` and, with ``with_classifier``, ``fit_binary`` in seconds.
    """
    code = CHILD_CODE % {"trees": N_TREES, "leaves": N_LEAVES, "bins": N_BINS, "lr": LEARNING_RATE,
                         "leaf": MIN_LEAF}
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, x_path, y_path, "1" if with_classifier else "0"],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=True)
    wall = time.perf_counter() - start
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


# -- profiling ----------------------------------------------------------------------------------------------

PHASES = (
    ("compiled best-first node loop (histograms, split search, partitions, heap)", ("grow_tree",)),
    ("node arrays and importances", ("node_arrays", "importances")),
    ("held-out rows (hash, split, node stats)", ("hash_rows", "held_out", "split_by_hash", "node_statistics",
                                                "add_values_by_leaf")),
    ("histogram build", ("histogram",)),
    ("split finding", ("split",)),
    ("row partition", ("partition",)),
    # Rows outside the subsample reach their leaves by boosting/routing.py.
    # finish_tree adds a tree's leaf values with its importances and learning-rate step (one compiled call).
    ("training predictions (and each tree's importances and step)", ("add_leaf_values", "add_tree_binned",
                                                                     "routing.", "finish_tree")),
    ("gradients / loss", ("gradient", "loss")),
    ("binning", ("bin",)),
    ("within-node sums / shrinkage", ("within", "shrink", "moments", "variance", "factor", "pool", "honest_inputs")),
)


def _phase_of(name: str) -> str:
    lowered = name.lower()
    for phase, keys in PHASES:
        if any(k in lowered for k in keys):
            return phase
    return "other compiled kernels"


class KernelTimer:
    """Wrap every numba dispatcher bound in a shrinktree module with a timer, and undo it.

    Compiled kernels calling each other are not affected (their calls are resolved at compile
    time), so each recorded call is one call from Python.  Fit once before wrapping so that no
    kernel needs compiling while wrapped.
    """

    def __init__(self):
        self.seconds = {}
        self.calls = {}
        self.in_grow = {}
        self._patched = []
        self._growing = False

    def _wrap(self, qualname, dispatcher):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return dispatcher(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[qualname] = self.seconds.get(qualname, 0.0) + elapsed
                self.calls[qualname] = self.calls.get(qualname, 0) + 1
                if self._growing:
                    self.in_grow[qualname] = self.in_grow.get(qualname, 0.0) + elapsed
        return timed

    def __enter__(self):
        from numba.core.dispatcher import Dispatcher

        from shrinktree.boosting import grower

        wrappers = {}
        for module_name, module in list(sys.modules.items()):
            if not module_name.startswith("shrinktree") or module is None:
                continue
            for attr, value in list(vars(module).items()):
                if isinstance(value, Dispatcher):
                    qualname = f"{value.py_func.__module__.removeprefix('shrinktree.')}.{value.py_func.__name__}"
                    if id(value) not in wrappers:
                        wrappers[id(value)] = self._wrap(qualname, value)
                    self._patched.append((module, attr, value))
                    setattr(module, attr, wrappers[id(value)])
        original_grow = grower.TreeGrower.grow
        self.grow_seconds = 0.0
        self.n_grows = 0

        def grow(tree_grower):
            self._growing = True
            start = time.perf_counter()
            try:
                return original_grow(tree_grower)
            finally:
                self.grow_seconds += time.perf_counter() - start
                self.n_grows += 1
                self._growing = False

        self._patched.append((grower.TreeGrower, "grow", original_grow))
        grower.TreeGrower.grow = grow
        return self

    def __exit__(self, *exc):
        for owner, attr, value in reversed(self._patched):
            setattr(owner, attr, value)
        self._patched = []
        return False


def small_suite(repeats: int, log, targets: list) -> str:
    """The small-data suite as markdown; appends its targets (no slower than LightGBM) to ``targets``."""
    results = _speed_small.time_suite(repeats, log)
    libraries = _speed_small.LIBRARIES
    rows = []
    for result in results:
        best = {lib: min(t) for lib, t in result["times"].items()}
        ours = best[_speed_small.SHRINKTREE]
        rows.append([result["name"], result["task"], *(f"{best[lib]:.3f}" for lib in libraries),
                     f"{ours / best[_speed_small.LIGHTGBM]:.2f}x", f"{ours / best[_speed_small.XGBOOST]:.2f}x",
                     f"{1e3 * ours / _speed_small.N_TREES:.2f}"])
        ratio = ours / best[_speed_small.LIGHTGBM]
        targets.append([f"small data, {result['name']}: shrinktree / LightGBM, 300 trees, 1 thread", "1.0x",
                        f"{ratio:.2f}x", "met" if ratio <= 1.0 else "missed"])
    table = markdown_table(["data", "task", *(f"{lib} s" for lib in libraries), "/ LightGBM", "/ XGBoost",
                            "shrinktree ms per tree"], rows)
    return (f"### Small data, {_speed_small.N_TREES} trees, one thread (best of {repeats})\n\n{table}\n")


def grouped_suite(repeats: int, log, targets: list) -> str:
    """The grouped real-data suite as markdown, XGBoost beside LightGBM; appends its targets (no slower than
    LightGBM, 1 and 2 threads)."""
    results = _speed_grouped.time_suite(repeats, log)
    rows = []
    for result in results:
        best = {key: min(t) for key, t in result["times"].items()}
        cells = []
        for jobs in _speed_grouped.THREADS:
            ours, lgbm = best[(_speed_grouped.SHRINKTREE, jobs)], best[(_speed_grouped.LIGHTGBM, jobs)]
            xgb = best[(_speed_grouped.XGBOOST, jobs)]
            cells += [f"{ours:.2f}", f"{lgbm:.2f}", f"{ours / lgbm:.2f}x", f"{xgb:.2f}", f"{ours / xgb:.2f}x"]
            targets.append([f"grouped data, {result['name']}: shrinktree / LightGBM, {_speed_grouped.N_TREES} trees, "
                            f"{jobs} thread(s)", "1.0x", f"{ours / lgbm:.2f}x", "met" if ours <= lgbm else "missed"])
        rows.append([f"{result['name']} ({result['rows']:,} x {result['columns']}; {result['grouping']})", *cells])
    header = ["data (largest categoricals: levels)"]
    for jobs in _speed_grouped.THREADS:
        header += [f"shrinktree {jobs}t s", f"LightGBM {jobs}t s", f"/ LightGBM {jobs}t", f"XGBoost {jobs}t s",
                   f"/ XGBoost {jobs}t"]
    import xgboost

    return (f"### Grouped real data, {_speed_grouped.N_TREES} trees, default settings, 1 and 2 threads "
            f"(best of {repeats}; XGBoost {xgboost.__version__})\n\n{markdown_table(header, rows)}\n")


def _memory_run(n_rows: int, log, libraries=_speed_memory.LIBRARIES) -> dict:
    """Peak memory and fit time of each library on ``n_rows`` generated float32 rows, one process each."""
    X, y = make_data(n_rows, "regression")
    with tempfile.TemporaryDirectory(prefix="shrinktree-memory-") as tmp:
        x_path, y_path = os.path.join(tmp, "X.npy"), os.path.join(tmp, "y.npy")
        np.save(x_path, X.astype(np.float32))
        np.save(y_path, y)
        del X, y  # the children, not this process, should hold the data
        return _speed_memory.peak_memory(x_path, y_path, N_JOBS, log, REPO_ROOT, libraries)


def memory_suite(n_rows: int, log, targets: list, large_rows: int = 0) -> str:
    """The memory suite as markdown; appends its targets (peak memory at most LightGBM's and, with
    ``large_rows``, fit time growing at most linearly from ``n_rows`` to ``large_rows``)."""
    load = os.getloadavg()[0]
    result = _memory_run(n_rows, log)
    rows = [[lib, f"{r['before_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - r['before_mb']:.0f}",
             f"{r['seconds']:.1f}"] for lib, r in result.items()]
    ratio = result["shrinktree"]["peak_mb"] / result["LightGBM"]["peak_mb"]
    targets.append([f"peak memory of the {n_rows:,} x 28 float32 fit: shrinktree / LightGBM", "1.0x",
                    f"{ratio:.2f}x", "met" if ratio <= 1.0 else "missed"])
    table = markdown_table(["library", "RSS before the fit MB", "peak RSS in the fit MB", "fit's working memory MB",
                            "fit s"], rows)
    text = (f"### Peak memory, {n_rows:,} x 28 float32, 100 trees, {N_JOBS} thread(s), one process each "
            f"(load {load:.1f} at the start)\n\n{table}\n")
    if large_rows:
        load = os.getloadavg()[0]
        log(f"  {large_rows:,} rows")
        large = _memory_run(large_rows, log, libraries=("shrinktree", "LightGBM"))
        growth = large_rows / n_rows
        rows = []
        for lib, r in large.items():
            scaling = r["seconds"] / result[lib]["seconds"]
            rows.append([lib, f"{r['before_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - r['before_mb']:.0f}",
                         f"{r['seconds']:.1f}", f"{scaling:.1f}x"])
            if lib == "shrinktree":
                targets.append([f"fit time {large_rows:,} / {n_rows:,} rows (shrinktree, 100 trees)",
                                f"{growth:.1f}x", f"{scaling:.1f}x", "met" if scaling <= growth else "missed"])
        ratio = large["shrinktree"]["peak_mb"] / large["LightGBM"]["peak_mb"]
        targets.append([f"peak memory of the {large_rows:,} x 28 float32 fit: shrinktree / LightGBM", "1.0x",
                        f"{ratio:.2f}x", "met" if ratio <= 1.0 else "missed"])
        table = markdown_table(["library", "RSS before the fit MB", "peak RSS in the fit MB",
                                "fit's working memory MB", "fit s", f"time / time at {n_rows:,}"], rows)
        text += (f"\n### {large_rows:,} x 28 float32, 100 trees, {N_JOBS} thread(s), one process each "
                 f"(load {load:.1f} at the start)\n\n{table}\n")
    return text


def predict_suite(n_rows: int, fit_rows: int, repeats: int, log, targets: list) -> str:
    """The prediction suite as markdown; appends its targets (predict no slower than LightGBM's)."""
    X, y = make_data(max(n_rows, fit_rows), "regression")
    log(f"  fitting {_speed_predict.N_TREES}-tree models on {fit_rows:,} rows")
    models = _speed_predict.fit_models(X[:fit_rows].astype(np.float32), y[:fit_rows], N_JOBS)
    thread_counts = sorted({1, N_JOBS})
    results = _speed_predict.time_predictions(models, X[:n_rows], thread_counts, repeats, log)
    ours = _speed_predict.SHRINKTREE
    rows32 = X[:n_rows].astype(np.float32)
    reference = _speed_predict.predict_with(ours, models[ours], rows32, 1)
    for data in (rows32, rows32.astype(np.float64)):  # float32 rows and their exact float64 copy
        for threads in thread_counts:
            if not np.array_equal(_speed_predict.predict_with(ours, models[ours], data, threads), reference):
                raise RuntimeError(f"shrinktree's predictions of the same rows changed with {data.dtype} input "
                                   f"on {threads} thread(s)")
    libraries = _speed_predict.LIBRARIES
    rows = []
    for result in results:
        best = {lib: min(t) for lib, t in result["times"].items()}
        rows.append([result["dtype"], str(result["threads"]), f"{result['load']:.1f}",
                     *(f"{best[lib]:.2f}" for lib in libraries), f"{best[ours] / best[_speed_predict.LIGHTGBM]:.2f}x",
                     f"{best[ours] / best[_speed_predict.XGBOOST]:.2f}x"])
        ratio = best[ours] / best[_speed_predict.LIGHTGBM]
        targets.append([f"predict {n_rows:,} {result['dtype']} rows, {_speed_predict.N_TREES} trees, "
                        f"{result['threads']} thread(s): shrinktree / LightGBM", "1.0x", f"{ratio:.2f}x",
                        "met" if ratio <= 1.0 else "missed"])
    table = markdown_table(["input", "threads", "load (1 min)", *(f"{lib} s" for lib in libraries), "/ LightGBM",
                            "/ XGBoost"], rows)
    return (f"### Predict {n_rows:,} rows x 28, {_speed_predict.N_TREES} trees of 31 leaves fitted on "
            f"{fit_rows:,} rows (best of {repeats})\n\n{table}\n\nshrinktree's predictions of the float32 rows "
            "and of their float64 copy are the same array on every thread count (checked in this run).\n")


def busy_suite(n_load: int, repeats: int, log, targets: list) -> str:
    """The busy-machine suite as markdown; appends its targets (default no slower than one thread)."""
    results = _speed_busy.time_busy(((31_000, 300), (300_000, 100)), n_load, repeats, log)
    rows = []
    for result in results:
        best = {jobs: min(t) for jobs, t in result["times"].items()}
        label = f"{result['rows']:,} rows x 9 (one 2,400-level categorical), {result['trees']} trees"
        rows.append([label, f"{result['load']:.1f}", *(f"{best[j]:.2f}" for j in _speed_busy.JOBS),
                     ", ".join(map(str, sorted(set(result["threads"])))), f"{best[None] / best[1]:.2f}x",
                     f"{best[2] / best[1]:.2f}x"])
        ratio = best[None] / best[1]
        targets.append([f"busy machine ({n_load} competing processes), {label}: default n_jobs / n_jobs=1",
                        "1.0x", f"{ratio:.2f}x", "met" if ratio <= 1.0 else "missed"])
    table = markdown_table(["data", "load (1 min)", "n_jobs=1 s", "n_jobs=2 s", "default s", "threads chosen",
                            "default / 1 thread", "2 threads / 1 thread"], rows)
    return (f"### Busy machine: {n_load} competing CPU-bound processes (best of {repeats})\n\n{table}\n")


def profile_fit(X, y, task: str, log, factory=None) -> str:
    """Where one shrinktree eb fit spends its time: kernels by phase, Python overhead, cProfile top.

    Parameters
    ----------
    X, y : ndarray
    task : {"regression", "binary"}
    log : callable

    Returns
    -------
    str
        Markdown.
    """
    if factory is None:
        def factory():
            return make_model(ST_EB, task)
    factory().fit(X[:20_000], y[:20_000])  # every kernel compiled/loaded before wrapping
    with KernelTimer() as timer:
        start = time.perf_counter()
        model = factory().fit(X, y)
        total = time.perf_counter() - start
    n_nodes = sum(len(tree.left) for trees in model.trees_ for tree in trees)
    n_splits = sum(int((tree.left >= 0).sum()) for trees in model.trees_ for tree in trees)
    log(f"  profiled fit: {total:.2f} s")
    by_phase = {}
    for name, seconds in timer.seconds.items():
        by_phase.setdefault(_phase_of(name), []).append((seconds, name))
    rows = []
    kernels_total = sum(timer.seconds.values())
    for phase, entries in sorted(by_phase.items(), key=lambda kv: -sum(s for s, _ in kv[1])):
        seconds = sum(s for s, _ in entries)
        names = ", ".join(f"`{n.split('.')[-1]}` ({timer.calls[n]} calls, {s:.2f} s)"
                          for s, n in sorted(entries, reverse=True))
        rows.append([phase, f"{seconds:.2f}", f"{100 * seconds / total:.0f}%", names])
    python_grow = timer.grow_seconds - sum(timer.in_grow.values())
    python_rest = total - kernels_total - python_grow
    rows.append(["Python in `TreeGrower.grow` (around the compiled node loop)", f"{python_grow:.2f}",
                 f"{100 * python_grow / total:.0f}%",
                 f"{1e6 * python_grow / max(n_splits, 1):.0f} µs per split ({n_splits} splits, {n_nodes} nodes)"])
    rows.append(["Python/numpy elsewhere in `fit` (validation, node arrays, pooling, importances)",
                 f"{python_rest:.2f}", f"{100 * python_rest / total:.0f}%", ""])
    table = markdown_table(["phase", "seconds", "share", "kernels called from Python"], rows,
                           align=["l", "r", "r", "l"])

    profiler = cProfile.Profile()
    profiler.enable()
    factory().fit(X, y)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(15)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    start_at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    top = "\n".join(lines[start_at:start_at + 16])
    return (f"Wrapped fit (timers around every compiled kernel called from Python): {total:.2f} s for "
            f"{X.shape[0]:,} rows, {task}.\n\n{table}\n\n"
            "cProfile of a second fit, top 15 by own time (compiled kernels' time is charged to the Python "
            f"function calling them):\n\n```\n{top}\n```")


INTRO = """
How long does shrinktree take to train next to LightGBM and scikit-learn's HistGradientBoosting
with matching settings (100 trees, 31 leaves, 255 bins, learning rate 0.1, at least 20 rows per
leaf, no early stopping, 2 threads unless `--threads` says otherwise) on 1,000,000 generated
Higgs-like rows x 28 features? The target is shrinktree with `shrinkage="eb"` at most 1.5x
LightGBM's time on this 2-core machine.

The machine's 2 cores are shared with other jobs, so timings are noisy: the models are fitted
interleaved in one process, each `--repeats` times, and the best time is kept. Ratios are best
time / best time. Fit time includes binning for every library (LightGBM builds its Dataset inside
`fit`).
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of generated data (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=2, help="fits per model and task; the best is kept")
    parser.add_argument("--tasks", default="regression,binary", help="comma-separated: regression, binary")
    parser.add_argument("--no-child", action="store_true", help="skip the fresh-process first-fit measurement")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache compile measurement")
    parser.add_argument("--compile-rows", type=int, default=20_000, help="rows for the cold/warm compile fits")
    parser.add_argument("--profile", action="store_true", help="also break down one shrinktree eb fit")
    parser.add_argument("--output", help="markdown file for the results (default docs/speed.md; '-' for none)")
    parser.add_argument("--threads", type=int, default=N_JOBS,
                        help="threads for every library: NUMBA_NUM_THREADS, OMP_NUM_THREADS, LightGBM n_jobs "
                             f"(default {N_JOBS})")
    parser.add_argument("--small", action="store_true",
                        help="run the small-data suite (400-5,000 rows, 300 trees, one thread) instead; with "
                             "--profile also break down the breast cancer and Friedman fits")
    parser.add_argument("--grouped", action="store_true",
                        help="run the grouped real-data suite instead (InstEval, MovieLens, STAR, egsingle, wages; "
                             "300 trees, 1 and 2 threads, against LightGBM and XGBoost)")
    parser.add_argument("--busy", action="store_true",
                        help="run the busy-machine suite instead: n_jobs=1, 2 and the default under a competing "
                             "CPU load started and stopped by the benchmark")
    parser.add_argument("--busy-load", type=int, default=2, help="competing processes for --busy (default 2)")
    parser.add_argument("--memory", action="store_true",
                        help="run the memory suite instead: peak resident memory of a --rows x 28 float32 fit, "
                             "each library in its own process")
    parser.add_argument("--large-rows", type=int, default=0,
                        help="with --memory, also fit this many rows (e.g. 10000000) in a process per library "
                             "and report time(large)/time(--rows)")
    parser.add_argument("--predict", action="store_true",
                        help="run the prediction suite instead: --rows rows through 300-tree models fitted on "
                             "--fit-rows rows, float32 and float64, one thread and --threads")
    parser.add_argument("--fit-rows", type=int, default=200_000, help="training rows for --predict (default 200,000)")
    args = parser.parse_args(argv)
    if args.memory or args.predict:
        args.no_child, args.no_cold = True, True
    if args.small:
        args.threads, args.no_child, args.no_cold = 1, True, True
    if args.busy or args.grouped:
        args.no_child, args.no_cold = True, True
    git_commit()  # the code this run imports, named in the result header
    set_threads(args.threads)
    output = args.output or str(REPO_ROOT / "docs" / "speed.md")
    tasks = args.tasks.split(",")

    def log(message):
        print(message, file=sys.stderr, flush=True)

    parts = []
    targets = []  # [target, limit, measured, verdict] of every issue-17 target this run measures
    datasets = {}
    warm_fit = {}
    if args.small:
        tasks = []
        log("small-data suite (one thread per library)")
        parts.append(small_suite(args.repeats, log, targets))
    if args.memory:
        tasks = []
        log(f"memory suite ({args.rows:,} rows, float32, one process per library)")
        parts.append(memory_suite(args.rows, log, targets, args.large_rows))
    if args.grouped:
        tasks = []
        log("grouped real-data suite (1 and 2 threads)")
        parts.append(grouped_suite(args.repeats, log, targets))
    if args.predict:
        tasks = []
        log(f"prediction suite ({args.rows:,} rows)")
        parts.append(predict_suite(args.rows, args.fit_rows, args.repeats, log, targets))
    if args.busy:
        tasks = []
        log(f"busy-machine suite ({args.busy_load} competing processes)")
        parts.append(busy_suite(args.busy_load, args.repeats, log, targets))
    for task in tasks:
        X, y = make_data(args.rows, task)
        datasets[task] = (X, y)
        for model in (ST_EB, ST_NONE):  # load or compile the kernels outside the timings
            make_model(model, task).fit(X[:5_000], y[:5_000])
        log(f"{task}: {args.rows:,} rows x {X.shape[1]} features")
        times = time_models(X, y, task, args.repeats, log)
        best = {m: min(t) for m, t in times.items()}
        warm_fit[task] = best[ST_EB]
        fastest = min(PEERS, key=best.get)
        rows = [[m, f"{best[m]:.2f}", ", ".join(f"{t:.2f}" for t in times[m]), f"{best[m] / best[LGBM]:.2f}x",
                 f"{best[m] / best[XGB]:.2f}x", f"{best[m] / best[HGB]:.2f}x", f"{best[m] / best[fastest]:.2f}x"]
                for m in MODELS]
        parts.append(f"### {task.capitalize()}, {args.rows:,} rows x {X.shape[1]} features\n")
        parts.append(markdown_table(["model", "best s", "all fits s", "/ LightGBM", "/ XGBoost", "/ sklearn HGB",
                                     "/ fastest peer"], rows))
        parts.append("")
        for model, limit in ((ST_EB, 0.8), (ST_NONE, 1.0)):
            ratio = best[model] / best[fastest]
            targets.append([f"{args.rows:,} x 28 {task}, {N_JOBS} thread(s): {model} / fastest peer ({fastest})",
                            f"{limit:.1f}x", f"{ratio:.2f}x", "met" if ratio <= limit else "missed"])

    if not args.no_child or not args.no_cold:
        X, y = datasets.get("regression") or make_data(args.rows, "regression")
        with tempfile.TemporaryDirectory(prefix="shrinktree-speed-") as tmp:
            x_path, y_path = os.path.join(tmp, "X.npy"), os.path.join(tmp, "y.npy")
            np.save(x_path, X)
            np.save(y_path, y)
            if not args.no_child:
                log("first fit in a fresh process (warm numba cache)")
                child = run_child(x_path, y_path, with_classifier=False)
                in_process = warm_fit.get("regression")
                first = child["wall"] - child["load"]
                parts.append("### First fit in a fresh process (warm numba cache)\n")
                parts.append(
                    f"A child `python -c` imports shrinktree, loads the {args.rows:,}-row regression data from "
                    f"`.npy` and fits `shrinkage=\"eb\"`: {first:.2f} s from process start to the end of the fit "
                    f"without the data loading (interpreter start-up and import {child['wall'] - child['load'] - child['fit_regression']:.2f} s, "  # noqa: E501
                    f"of which `import shrinktree` {child['import']:.2f} s; fit {child['fit_regression']:.2f} s)"
                    + (f", against {in_process:.2f} s for a warm fit in this process." if in_process else ".")
                )
                parts.append("")
            if not args.no_cold:
                small_x, small_y = os.path.join(tmp, "Xs.npy"), os.path.join(tmp, "ys.npy")
                np.save(small_x, X[:args.compile_rows])
                np.save(small_y, y[:args.compile_rows])
                log("cold numba cache")
                with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
                    cold = run_child(small_x, small_y, with_classifier=True, cache_dir=cache)
                    warm = run_child(small_x, small_y, with_classifier=True, cache_dir=cache)
                rows = [[label, f"{r['wall']:.2f}", f"{r['import']:.2f}", f"{r['fit_regression']:.2f}",
                         f"{r['fit_binary']:.2f}"] for label, r in (("cold (empty NUMBA_CACHE_DIR)", cold),
                                                                     ("warm (same cache, second process)", warm))]
                compile_s = (cold["wall"] - warm["wall"])
                parts.append(f"### Compile time (cold numba cache), {args.compile_rows:,} rows\n")
                parts.append(markdown_table(["child process", "wall s", "import s", "regressor fit s",
                                             "classifier fit s"], rows))
                parts.append(f"\nCompiling every kernel costs about {compile_s:.1f} s once per environment "
                             "(cold wall minus warm wall); afterwards numba loads them from its cache.\n")

    if args.profile and args.small:
        # The two sets that were slower than LightGBM when issue 17 was filed, and the multiclass set.
        for name, task, X, y in _speed_small.datasets():
            if not name.startswith(("breast cancer", "Friedman", "digits")):
                continue
            log(f"profiling the {name} fit")
            parts.append(f"### Where the 300-tree {name} fit spends its time\n")
            parts.append(profile_fit(X, y, task, log, factory=lambda task=task: _speed_small.make_model(
                _speed_small.SHRINKTREE, task)))
    elif args.profile:
        task = "regression" if "regression" in datasets else tasks[0]
        X, y = datasets[task]
        log("profiling a shrinktree eb fit")
        parts.append(f"### Where a shrinktree eb fit spends its time ({task})\n")
        parts.append(profile_fit(X, y, task, log))

    if targets:
        parts.append("### Targets of issue 17 measured in this run\n")
        parts.append(markdown_table(["target", "at most", "measured", ""], targets))
        parts.append("")

    header = run_header("benchmarks/speed.py") + [f"Threads per library: {N_JOBS}.", ""]
    block = "\n".join(header) + "\n" + "\n".join(parts)
    print(block)
    if output != "-":
        suite = next((name for name in ("small", "grouped", "busy", "memory", "predict") if getattr(args, name)),
                     f"threads={N_JOBS}")
        write_results(Path(output), "benchmarks/speed.py", "Speed benchmark", INTRO, block, key=suite)
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
