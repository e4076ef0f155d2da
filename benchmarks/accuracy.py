"""Test accuracy of shrinktree against LightGBM (default and tuned ``path_smooth``) on real datasets.

Every model sees the same repeated random train/test splits of each dataset.  Regression is
scored by test RMSE / sd(y_test), classification by log loss (plus AUC for binary and accuracy
for multiclass targets); each cell is the mean over the splits with its standard error.  The
comparison columns use the standard error of the *paired* per-split difference, since all
models share the splits.

Run from the repository root::

    python benchmarks/accuracy.py                      # full run, writes docs/accuracy.md
    python benchmarks/accuracy.py --quick              # small smoke run, prints only
    python benchmarks/accuracy.py --datasets diabetes,churn --repeats 3
"""

from __future__ import annotations

import os

# Accuracy does not depend on the thread count, and one thread per model keeps this long run from
# oversubscribing a shared machine (spinning OpenMP/numba threads slow everyone down).  Set before
# numba, LightGBM or scikit-learn start their thread pools; override with BENCH_THREADS.
THREADS = os.environ.get("BENCH_THREADS", "1")
for _variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_variable, THREADS)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, git_commit, markdown_table, run_header, write_results  # noqa: E402

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor  # noqa: E402
from shrinktree.datasets import HOLDOUT, load_dataset, ordinal_encode  # noqa: E402

# What shrinktree is given: "ordinal" (integer codes for categorical columns, like every other
# model) or "frame" (the pandas DataFrame with its category columns, once the booster handles them).
SHRINKTREE_INPUT = "ordinal"

DATASETS = ("diabetes", "breast_cancer", "wine", "hsb82", "scotssec", "egsingle", "wages", "star", "insteval",
            "lending_club", "churn", "mplsstops", "diamonds")
QUICK_DATASETS = ("diabetes", "breast_cancer", "wine", "scotssec", "churn")
PATH_SMOOTH_GRID = (0, 1, 3, 10, 30, 100, 300, 1000)
QUICK_PATH_SMOOTH_GRID = (0, 10, 100)
MAX_ROWS = 50_000
TEST_SIZE = 0.25
LGBM_JOBS = int(THREADS)

SHRINKTREE_EB = "shrinktree eb (default)"
SHRINKTREE_NONE = "shrinktree none"
LGBM_DEFAULT = "LightGBM default"
LGBM_TUNED = "LightGBM tuned path_smooth"
HGB_DEFAULT = "sklearn HGB default"
MODELS = (SHRINKTREE_EB, SHRINKTREE_NONE, LGBM_DEFAULT, LGBM_TUNED, HGB_DEFAULT)
# Extra shrinktree settings for diagnosis (--variants): name -> keyword arguments.
VARIANTS = {
    "shrinktree eb early stopping": {"early_stopping": True},
    "shrinktree eb calibrated": {"eb_method": "calibrated"},
    "shrinktree eb native categories": {},
}
LGBM_NATIVE = "LightGBM default native categories"
# Variants that get the DataFrame with its category columns whatever SHRINKTREE_INPUT says.
FRAME_VARIANTS = ("shrinktree eb native categories", LGBM_NATIVE)


@dataclass
class DatasetResult:
    """Per-split scores of every model on one dataset."""

    name: str
    task: str
    n_rows: int
    n_rows_total: int
    n_features: int
    n_categorical: int
    scores: dict = field(default_factory=dict)  # model -> metric -> list of per-split values
    seconds: dict = field(default_factory=dict)  # model -> list of fit seconds
    path_smooth: list = field(default_factory=list)  # chosen path_smooth per split


def primary_metric(task: str) -> str:
    """Name of the metric the comparison marks are based on (lower is better).

    Parameters
    ----------
    task : {"regression", "binary", "multiclass"}

    Returns
    -------
    str
    """
    return "RMSE/sd" if task == "regression" else "log loss"


def secondary_metric(task: str) -> str | None:
    """Name of the extra metric reported for classification (higher is better), or None.

    Parameters
    ----------
    task : {"regression", "binary", "multiclass"}

    Returns
    -------
    str or None
    """
    return {"binary": "AUC", "multiclass": "accuracy"}.get(task)


def _lgbm(task: str, seed: int, **params):
    import lightgbm

    cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    return cls(random_state=seed, n_jobs=LGBM_JOBS, verbose=-1, **params)


def make_model(model: str, task: str, seed: int, grid: tuple):
    """A fresh, unfitted estimator for one column of the table.

    Parameters
    ----------
    model : str
        One of ``MODELS``, of ``VARIANTS`` or ``LGBM_NATIVE``.
    task : {"regression", "binary", "multiclass"}
    seed : int
        Random state of the split; also used for the model and its CV folds.
    grid : tuple of float
        ``path_smooth`` values searched for the tuned LightGBM.

    Returns
    -------
    estimator
    """
    regression = task == "regression"
    if model in (SHRINKTREE_EB, SHRINKTREE_NONE) or model in VARIANTS:
        cls = ShrinkBoostRegressor if regression else ShrinkBoostClassifier
        kwargs = {SHRINKTREE_EB: {}, SHRINKTREE_NONE: {"shrinkage": "none"}, **VARIANTS}[model]
        return cls(random_state=seed, **kwargs)
    if model in (LGBM_DEFAULT, LGBM_NATIVE):
        return _lgbm(task, seed)
    if model == LGBM_TUNED:
        folds = (KFold if regression else StratifiedKFold)(n_splits=3, shuffle=True, random_state=seed)
        scoring = "neg_root_mean_squared_error" if regression else "neg_log_loss"
        return GridSearchCV(_lgbm(task, seed), {"path_smooth": list(grid)}, scoring=scoring, cv=folds, n_jobs=1,
                            refit=True)
    if model == HGB_DEFAULT:
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(random_state=seed)
    raise ValueError(f"unknown model {model!r}")


def model_input(model: str, X_frame, X_ordinal):
    """The feature matrix a model is given (see ``SHRINKTREE_INPUT``).

    Parameters
    ----------
    model : str
    X_frame : pandas.DataFrame
        Rows of the split with categorical columns as pandas categories.
    X_ordinal : ndarray
        The same rows through :func:`shrinktree.datasets.ordinal_encode`.

    Returns
    -------
    DataFrame or ndarray
    """
    if model in FRAME_VARIANTS or (
            (model in (SHRINKTREE_EB, SHRINKTREE_NONE) or model in VARIANTS) and SHRINKTREE_INPUT == "frame"):
        return X_frame
    return X_ordinal


def score(task: str, estimator, X_test, y_test) -> dict:
    """Test metrics of a fitted estimator.

    Parameters
    ----------
    task : {"regression", "binary", "multiclass"}
    estimator : fitted estimator
    X_test : array-like
    y_test : ndarray

    Returns
    -------
    dict
        Metric name to value.
    """
    if task == "regression":
        residual = estimator.predict(X_test) - y_test
        return {"RMSE/sd": float(np.sqrt(np.mean(residual**2)) / np.std(y_test))}
    proba = estimator.predict_proba(X_test)
    classes = estimator.classes_
    out = {"log loss": float(log_loss(y_test, proba, labels=classes))}
    if task == "binary":
        out["AUC"] = float(roc_auc_score(y_test == classes[1], proba[:, 1]))
    else:
        out["accuracy"] = float(accuracy_score(y_test, classes[np.argmax(proba, axis=1)]))
    return out


def run_dataset(name: str, repeats: int, grid: tuple, max_rows: int, log, models=MODELS) -> DatasetResult:
    """Fit and score every model on ``repeats`` random splits of one dataset.

    Parameters
    ----------
    name : str
        Dataset name for :func:`shrinktree.datasets.load_dataset`.
    repeats : int
    grid : tuple of float
        ``path_smooth`` grid of the tuned LightGBM.
    max_rows : int
        Larger datasets are subsampled (once, with a fixed seed) to this many rows.
    log : callable
        Receives progress lines.
    models : sequence of str
        Columns to fit: ``MODELS`` and optionally names from ``VARIANTS``.

    Returns
    -------
    DatasetResult
    """
    data = load_dataset(name)
    X_frame, y = data.X, np.asarray(data.y)
    n_total = len(y)
    if n_total > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(n_total, max_rows, replace=False))
        X_frame, y = X_frame.iloc[keep].reset_index(drop=True), y[keep]
    X_ordinal = ordinal_encode(X_frame)
    result = DatasetResult(name, data.task, len(y), n_total, X_frame.shape[1], len(data.categorical_columns))
    if data.task == "regression":
        splitter = ShuffleSplit(n_splits=repeats, test_size=TEST_SIZE, random_state=0)
    else:
        splitter = StratifiedShuffleSplit(n_splits=repeats, test_size=TEST_SIZE, random_state=0)
    for seed, (train, test) in enumerate(splitter.split(X_ordinal, y)):
        for model in models:
            estimator = make_model(model, data.task, seed, grid)
            X_train = model_input(model, X_frame.iloc[train], X_ordinal[train])
            X_test = model_input(model, X_frame.iloc[test], X_ordinal[test])
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                estimator.fit(X_train, y[train])
            result.seconds.setdefault(model, []).append(time.perf_counter() - start)
            if model == LGBM_TUNED:
                result.path_smooth.append(estimator.best_params_["path_smooth"])
            for metric, value in score(data.task, estimator, X_test, y[test]).items():
                result.scores.setdefault(model, {}).setdefault(metric, []).append(value)
        eb = result.scores[SHRINKTREE_EB][primary_metric(data.task)][-1]
        lgb = result.scores[LGBM_DEFAULT][primary_metric(data.task)][-1]
        log(f"  {name} split {seed + 1}/{repeats}: {primary_metric(data.task)} shrinktree eb {eb:.4f}, "
            f"LightGBM default {lgb:.4f}, path_smooth chosen {result.path_smooth[-1]}")
    return result


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean.

    Parameters
    ----------
    values : sequence of float

    Returns
    -------
    (float, float)
        The standard error is NaN for a single value.
    """
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return float(values.mean()), float(se)


def paired(result: DatasetResult, metric: str, model: str, rival: str) -> tuple[float, float]:
    """Mean and standard error over splits of ``metric(model) - metric(rival)``.

    Parameters
    ----------
    result : DatasetResult
    metric : str
    model, rival : str

    Returns
    -------
    (float, float)
    """
    diff = np.asarray(result.scores[model][metric]) - np.asarray(result.scores[rival][metric])
    return mean_se(diff)


def verdict(diff: float, se: float) -> str:
    """Word for a paired difference of a lower-is-better metric (shrinktree minus rival).

    Parameters
    ----------
    diff, se : float

    Returns
    -------
    str
        ``better`` beyond one standard error, ``worse`` beyond one standard error, else ``tie``
        (with the sign of the mean difference).
    """
    if not np.isfinite(se):
        return "better" if diff < 0 else "worse" if diff > 0 else "tie"
    if diff < -se:
        return "better"
    if diff > se:
        return "worse"
    return "tie (-)" if diff < 0 else "tie (+)" if diff > 0 else "tie"


def _cell(values, digits=4) -> str:
    mean, se = mean_se(values)
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if np.isfinite(se) else f"{mean:.{digits}f}"


def _rows_label(result: DatasetResult) -> str:
    if result.n_rows < result.n_rows_total:
        return f"{result.n_rows:,} of {result.n_rows_total:,}*"
    return f"{result.n_rows:,}"


def render(results: list[DatasetResult], repeats: int, grid: tuple) -> str:
    """Markdown of the result tables.

    Parameters
    ----------
    results : list of DatasetResult
    repeats : int
    grid : tuple of float

    Returns
    -------
    str
    """
    parts = []
    models = list(results[0].scores)
    header = ["dataset", "task", "rows", "metric", *models, "eb vs LGBM default", "eb vs tuned path_smooth"]
    rows = []
    summary = {"default_beats": 0, "tuned_ties": 0}
    for r in results:
        metric = primary_metric(r.task)
        d_def, se_def = paired(r, metric, SHRINKTREE_EB, LGBM_DEFAULT)
        d_tun, se_tun = paired(r, metric, SHRINKTREE_EB, LGBM_TUNED)
        beats_default = d_def < 0
        ties_tuned = d_tun <= (se_tun if np.isfinite(se_tun) else 0.0)
        summary["default_beats"] += beats_default
        summary["tuned_ties"] += ties_tuned
        mark_def = f"{'✅' if beats_default else '❌'} {verdict(d_def, se_def)} ({d_def:+.4f} ± {se_def:.4f})"
        mark_tun = f"{'✅' if ties_tuned else '❌'} {verdict(d_tun, se_tun)} ({d_tun:+.4f} ± {se_tun:.4f})"
        best = min(models, key=lambda m: np.mean(r.scores[m][metric]))
        cells = []
        for model in models:
            cell = _cell(r.scores[model][metric])
            cells.append(f"**{cell}**" if model == best else cell)
        rows.append([r.name, r.task, _rows_label(r), metric, *cells, mark_def, mark_tun])
    parts.append(f"### Test error (lower is better; mean ± standard error over {repeats} splits)\n")
    parts.append(markdown_table(header, rows))
    parts.append(
        f"\nSummary: shrinktree's default beats LightGBM's default (lower mean) on {summary['default_beats']} "
        f"of {len(results)} datasets, and ties or beats LightGBM with tuned `path_smooth` (within one standard "
        f"error of the paired difference) on {summary['tuned_ties']} of {len(results)}.\n\n"
        "Marks: ✅/❌ answer \"beats LightGBM default (lower mean)\" and \"ties or beats tuned path_smooth "
        "(difference ≤ one standard error)\"; the word says whether the paired difference "
        "(shrinktree eb minus rival, shown as mean ± standard error over the same splits) is beyond one "
        "standard error. Bold: lowest mean in the row.")
    if any(r.n_rows < r.n_rows_total for r in results):
        parts.append(f"\n\\* subsampled once (fixed seed) to {MAX_ROWS:,} rows before splitting.")

    extra = [r for r in results if secondary_metric(r.task)]
    if extra:
        parts.append("\n### Classification: AUC (binary) / accuracy (multiclass), higher is better\n")
        rows = [[r.name, secondary_metric(r.task), *[_cell(r.scores[m][secondary_metric(r.task)]) for m in models]]
                for r in extra]
        parts.append(markdown_table(["dataset", "metric", *models], rows))

    parts.append("\n### Mean fit time per split (seconds; noisy, shared 2-core machine)\n")
    rows = [[r.name, *[f"{np.mean(r.seconds[m]):.2f}" for m in models]] for r in results]
    parts.append(markdown_table(["dataset", *models], rows))
    parts.append(f"\nThe tuned LightGBM time includes its 3-fold grid search over {len(grid)} values and the refit.")

    parts.append("\n### `path_smooth` chosen by 3-fold CV on each training part\n")
    rows = [[r.name, ", ".join(f"{v:g}" for v in r.path_smooth)] for r in results]
    parts.append(markdown_table(["dataset", "chosen per split"], rows, align=["l", "l"]))
    return "\n".join(parts)


INTRO = """
How accurate is shrinktree's default (`shrinkage="eb"`) next to LightGBM's default and next to
LightGBM whose fixed smoothing strength `path_smooth` is tuned by cross-validation (the strongest
fixed-strength rival of a data-estimated pooling strength)? Plain boosting (`shrinkage="none"`) and
scikit-learn's HistGradientBoosting defaults are given for reference.

Set-up (see `benchmarks/accuracy.py`):

- Real datasets that load offline through `shrinktree.datasets`; those above 50,000 rows are
  subsampled once (fixed seed) to 50,000 rows.
- Repeated random 75/25 train/test splits (stratified for classification), the same splits for all
  models; each model's `random_state` is the split index.
- Every model gets `ordinal_encode(X)`: categorical columns (group ids, factors) become integer codes,
  treated as ordered numbers. (`SHRINKTREE_INPUT = "frame"` in the script hands shrinktree the
  DataFrame with its categories instead, once the booster takes them natively.)
- Defaults everywhere: 100 trees for LightGBM and HGB, 300 for shrinktree; learning rate 0.1, 31
  leaves, min 20 rows per leaf. scikit-learn HGB and shrinktree's `shrinkage="none"` stop early on a
  10% validation split when the training part has more than 10,000 rows (their `"auto"` default;
  shrinktree's pooled default does not); LightGBM's default never stops early.
- Tuned LightGBM: `GridSearchCV` over `path_smooth` in (0, 1, 3, 10, 30, 100, 300, 1000), 3-fold CV
  on the training part scored by RMSE / log loss, then refit on the whole training part.
- One thread per model (`BENCH_THREADS=1` by default; accuracy does not depend on it), so the fit
  times in the tables are single-threaded and only indicative.
- Metrics: regression test RMSE / sd(y_test); classification log loss (primary), AUC (binary) or
  accuracy (multiclass).
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
    parser.add_argument("--datasets", help=f"comma-separated names (default: {','.join(DATASETS)}), or "
                                           "'holdout': the datasets kept out of every choice of a default")
    parser.add_argument("--repeats", type=int, help="random train/test splits per dataset (default 5; quick 2)")
    parser.add_argument("--quick", action="store_true",
                        help=f"small smoke run: {','.join(QUICK_DATASETS)}, 2 splits, path_smooth grid "
                             f"{QUICK_PATH_SMOOTH_GRID}; writes nothing unless --output is given")
    parser.add_argument("--max-rows", type=int, default=MAX_ROWS, help="subsample larger datasets to this")
    parser.add_argument("--variants", action="store_true",
                        help=f"also fit diagnostic settings: {', '.join([*VARIANTS, LGBM_NATIVE])}")
    parser.add_argument("--output", help="markdown file to write the results into (default docs/accuracy.md; "
                                         "'-' for none)")
    args = parser.parse_args(argv)
    git_commit()  # the code this run imports, named in the result header
    if args.datasets == "holdout":
        datasets = list(HOLDOUT)
    else:
        datasets = args.datasets.split(",") if args.datasets else list(QUICK_DATASETS if args.quick else DATASETS)
    repeats = args.repeats or (2 if args.quick else 5)
    grid = QUICK_PATH_SMOOTH_GRID if args.quick else PATH_SMOOTH_GRID
    output = args.output or ("-" if args.quick else str(REPO_ROOT / "docs" / "accuracy.md"))
    models = [*MODELS, *VARIANTS, LGBM_NATIVE] if args.variants else list(MODELS)
    key = "variants" if args.variants else None

    def log(message):
        print(message, file=sys.stderr, flush=True)

    results = []
    start = time.perf_counter()
    for i, name in enumerate(datasets):
        log(f"{name}: {repeats} splits ({time.perf_counter() - start:.0f}s elapsed)")
        results.append(run_dataset(name, repeats, grid, args.max_rows, log, models))
        block = "\n".join(run_header("benchmarks/accuracy.py")) + "\n" + render(results, repeats, grid)
        if i + 1 < len(datasets):
            block = (f"**Partial results: {i + 1} of {len(datasets)} datasets done; the run is still going "
                     f"or was stopped.**\n\n{block}")
        block += f"\n\nRun time: {time.perf_counter() - start:.0f} s ({THREADS} thread(s) per model)."
        if output != "-":
            write_results(Path(output), "benchmarks/accuracy.py", "Accuracy benchmark", INTRO, block, key=key)
    print(block)
    if output != "-":
        log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
