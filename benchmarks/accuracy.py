"""Test accuracy of shrinktree against LightGBM (default and tuned ``path_smooth``) on real datasets.

Every model sees the same repeated random train/test splits of each dataset.  Regression is
scored by test RMSE / sd(y_test), classification by log loss (plus AUC for binary and accuracy
for multiclass targets); each cell is the mean over the splits with its standard error.  The
comparison columns use the standard error of the *paired* per-split difference, since all
models share the splits.

Every column's label names the input its model gets: "ordinal codes" (categorical columns as
integer codes, treated as ordered numbers) or "native categories" (the DataFrame with its pandas
``category`` columns, which is what shrinktree's and LightGBM's defaults get from a user who passes
one; ``--variants`` only).  The summary lines say which columns they compare.

Every run also stores its per-split scores as JSON (``benchmarks/results/<page>[-variants].json``), and
``--render-from`` rewrites the page's result block from such a file without fitting anything.

Run from the repository root::

    python benchmarks/accuracy.py                      # full run, writes docs/accuracy.md
    python benchmarks/accuracy.py --quick              # small smoke run, prints only
    python benchmarks/accuracy.py --datasets diabetes,churn --repeats 3
    python benchmarks/accuracy.py --render-from benchmarks/results/accuracy-variants.json
    python benchmarks/accuracy.py --peers --repeats 3   # + CatBoost, ChimeraBoost, Perpetual, GPBoost (block "peers")

``--peers`` adds the default-settings peers of the shared registry ``shrinktree.bench.models.MODELS`` (one
thread each, on the DataFrame) beside the native-categories columns of shrinktree and LightGBM, and a table of
shrinktree's wins against each and against the best of LightGBM, CatBoost and ChimeraBoost; a peer that
cannot fit a dataset is listed with the error it raised.
"""

from __future__ import annotations

# Accuracy does not depend on the thread count, and one thread per model keeps this long run from
# oversubscribing a shared machine (spinning OpenMP/numba threads slow everyone down).  Set before
# numba, LightGBM or scikit-learn start their thread pools; override with BENCH_THREADS.
from _bench_threads import pin_threads  # benchmarks/ is sys.path[0] when a script runs

THREADS = pin_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO_ROOT,
    command_line,
    default_results_path,
    git_commit,
    markdown_table,
    mean_se,
    relative_to_repo,
    render_stored_run,
    run_header,
    verdict,
    write_json_record,
    write_results,
)

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor  # noqa: E402
from shrinktree.bench.models import MODELS as REGISTRY  # noqa: E402
from shrinktree.datasets import HOLDOUT, load_dataset, ordinal_encode  # noqa: E402

DATASETS = ("diabetes", "breast_cancer", "wine", "hsb82", "scotssec", "egsingle", "wages", "star", "insteval",
            "lending_club", "churn", "mplsstops", "diamonds")
QUICK_DATASETS = ("diabetes", "breast_cancer", "wine", "scotssec", "churn")
PATH_SMOOTH_GRID = (0, 1, 3, 10, 30, 100, 300, 1000)
QUICK_PATH_SMOOTH_GRID = (0, 10, 100)
MAX_ROWS = 50_000
TEST_SIZE = 0.25
LGBM_JOBS = int(THREADS)

# Column labels name the model and its input (see the module docstring).
ORDINAL = "ordinal codes"
NATIVE = "native categories"
SHRINKTREE_EB = f"shrinktree eb (default), {ORDINAL}"
SHRINKTREE_NONE = f"shrinktree none, {ORDINAL}"
LGBM_DEFAULT = f"LightGBM default, {ORDINAL}"
LGBM_TUNED = f"LightGBM tuned path_smooth, {ORDINAL}"
HGB_DEFAULT = f"sklearn HGB default, {ORDINAL}"
MODELS = (SHRINKTREE_EB, SHRINKTREE_NONE, LGBM_DEFAULT, LGBM_TUNED, HGB_DEFAULT)
SHRINKTREE_NATIVE = f"shrinktree eb (default), {NATIVE}"
# Extra shrinktree settings for diagnosis (--variants): name -> keyword arguments.
VARIANTS = {
    f"shrinktree eb early stopping, {ORDINAL}": {"early_stopping": True},
    f"shrinktree eb calibrated, {ORDINAL}": {"eb_method": "calibrated"},
    SHRINKTREE_NATIVE: {},
}
LGBM_NATIVE = f"LightGBM default, {NATIVE}"
# The default-settings peers (--peers), each an entry of the shared registry shrinktree.bench.models.MODELS:
# column label -> registry name.  They get the DataFrame, whose category columns each takes natively.
PEERS = {
    f"CatBoost default, {NATIVE}": "catboost",
    f"ChimeraBoost default, {NATIVE}": "chimeraboost",
    f"Perpetual default, {NATIVE}": "perpetual",
    f"GPBoost, main grouping as random effect, {NATIVE}": "gpboost",
}
CATBOOST, CHIMERABOOST = f"CatBoost default, {NATIVE}", f"ChimeraBoost default, {NATIVE}"
# "The best of LightGBM/CatBoost/ChimeraBoost": the lowest mean of these columns on a dataset.
STRONGEST_DEFAULTS = (LGBM_DEFAULT, LGBM_NATIVE, CATBOOST, CHIMERABOOST)
# The columns that get the DataFrame with its category columns; every other column gets ordinal codes.
FRAME_MODELS = (SHRINKTREE_NATIVE, LGBM_NATIVE, *PEERS)


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
    failures: dict = field(default_factory=dict)  # peer model -> why it has no result on this dataset


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
    if model in PEERS:
        return REGISTRY[PEERS[model]].build(task, seed, int(THREADS))
    raise ValueError(f"unknown model {model!r}")


def model_input(model: str, X_frame, X_ordinal):
    """The feature matrix a model is given: the DataFrame for ``FRAME_MODELS``, ordinal codes otherwise.

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
    return X_frame if model in FRAME_MODELS else X_ordinal


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
    warm_up(models, data.task, X_frame, X_ordinal, y)
    for seed, (train, test) in enumerate(splitter.split(X_ordinal, y)):
        for model in models:
            if model in result.failures:
                continue
            estimator = make_model(model, data.task, seed, grid)
            X_train = model_input(model, X_frame.iloc[train], X_ordinal[train])
            X_test = model_input(model, X_frame.iloc[test], X_ordinal[test])
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    estimator.fit(X_train, y[train])
                seconds = time.perf_counter() - start
                metrics = score(data.task, estimator, X_test, y[test])
            except Exception as exc:
                if model not in PEERS:
                    raise
                # A peer that fails is recorded with its reason, never silently dropped.
                result.failures[model] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                result.scores.pop(model, None)
                result.seconds.pop(model, None)
                log(f"  {name}: {model} failed ({result.failures[model]})")
                continue
            result.seconds.setdefault(model, []).append(seconds)
            if model == LGBM_TUNED:
                result.path_smooth.append(estimator.best_params_["path_smooth"])
            for metric, value in metrics.items():
                result.scores.setdefault(model, {}).setdefault(metric, []).append(value)
        eb = result.scores[SHRINKTREE_EB][primary_metric(data.task)][-1]
        lgb = result.scores[LGBM_DEFAULT][primary_metric(data.task)][-1]
        log(f"  {name} split {seed + 1}/{repeats}: {primary_metric(data.task)} {SHRINKTREE_EB} {eb:.4f}, "
            f"{LGBM_DEFAULT} {lgb:.4f}, path_smooth chosen {result.path_smooth[-1]}")
    return result


def warm_up(models: list[str], task: str, X_frame, X_ordinal, y) -> None:
    """Fit each column whose library compiles just in time (numba: shrinktree, ChimeraBoost) once, untimed.

    The first fit in a process loads or compiles the kernels; without this its time would land in the
    first split's fit time.

    Parameters
    ----------
    models : list of str
    task : {"regression", "binary", "multiclass"}
    X_frame : pandas.DataFrame
    X_ordinal : ndarray
    y : ndarray
    """
    rows = np.arange(min(len(y), 300))
    for model in models:
        compiles = (REGISTRY[PEERS[model]].compiles if model in PEERS
                    else model in (SHRINKTREE_EB, SHRINKTREE_NONE) or model in VARIANTS)
        if not compiles:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                make_model(model, task, 0, ()).fit(model_input(model, X_frame.iloc[rows], X_ordinal[rows]), y[rows])
        except Exception:  # noqa: BLE001 - a real failure is recorded (or raised) by the timed fits
            pass


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


def _cell(values, digits=4) -> str:
    mean, se = mean_se(values)
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if np.isfinite(se) else f"{mean:.{digits}f}"


def _rows_label(result: DatasetResult) -> str:
    if result.n_rows < result.n_rows_total:
        return f"{result.n_rows:,} of {result.n_rows_total:,}*"
    return f"{result.n_rows:,}"


def _mean(result: DatasetResult, model: str, metric: str) -> float:
    return float(np.mean(result.scores[model][metric]))


def columns(results: list[DatasetResult]) -> list[str]:
    """Every column of a run, in the order first fitted; peers that failed everywhere included."""
    out = []
    for r in results:
        for model in [*r.scores, *r.failures]:
            if model not in out:
                out.append(model)
    order = [*MODELS, *VARIANTS, LGBM_NATIVE, *PEERS]
    return sorted(out, key=lambda m: order.index(m) if m in order else len(order))


def peer_counts(results: list[DatasetResult], reference: str = SHRINKTREE_NATIVE) -> list[dict]:
    """How ``reference`` (shrinktree's default on native categories) fares against each peer and the best default.

    Parameters
    ----------
    results : list of DatasetResult
    reference : str
        The shrinktree column compared.

    Returns
    -------
    list of dict
        One per rival (each peer column, then ``"best of LightGBM/CatBoost/ChimeraBoost"``): ``rival``,
        ``n`` (datasets where both have results), ``wins`` (lower mean error), ``within_2pct`` (at most 2%
        worse), ``mean_rel`` (mean over datasets of reference / rival - 1, in percent), ``worst`` (the dataset and
        relative difference where the reference is furthest behind), ``time_ratio`` (median over datasets of
        the reference's mean fit time over the rival's), ``failed`` (datasets where the rival has no result).
    """
    def rel_rows(rival_error, rival_seconds):
        rows = []
        for r in results:
            if reference not in r.scores:
                continue
            error, seconds = rival_error(r), rival_seconds(r)
            if error is None:
                continue
            own = _mean(r, reference, primary_metric(r.task))
            rows.append((r.name, own / error - 1.0, float(np.mean(r.seconds[reference])) / seconds))
        return rows

    def summarise(rival, rows, failed):
        rel = np.array([row[1] for row in rows])
        worst = max(rows, key=lambda row: row[1]) if rows else None
        return {"rival": rival, "n": len(rows), "wins": int((rel < 0).sum()), "within_2pct": int((rel <= 0.02).sum()),
                "mean_rel": float(100 * rel.mean()) if rows else float("nan"),
                "worst": (worst[0], 100 * worst[1]) if worst else None,
                "time_ratio": float(np.median([row[2] for row in rows])) if rows else float("nan"), "failed": failed}

    out = []
    for peer in [m for m in columns(results) if m in PEERS]:
        rows = rel_rows(lambda r, p=peer: _mean(r, p, primary_metric(r.task)) if p in r.scores else None,
                        lambda r, p=peer: float(np.mean(r.seconds[p])) if p in r.seconds else None)
        out.append(summarise(peer, rows, [r.name for r in results if peer in r.failures]))

    def best(r):
        present = [m for m in STRONGEST_DEFAULTS if m in r.scores]
        return min(present, key=lambda m: _mean(r, m, primary_metric(r.task))) if present else None

    rows = rel_rows(lambda r: _mean(r, best(r), primary_metric(r.task)) if best(r) else None,
                    lambda r: float(np.mean(r.seconds[best(r)])) if best(r) else None)
    out.append(summarise("best of LightGBM/CatBoost/ChimeraBoost", rows, []))
    return out


def peer_section(results: list[DatasetResult]) -> str:
    """Markdown: the win/loss counts of shrinktree's default against each peer, and why a peer has no result."""
    lines = [f"### \"{SHRINKTREE_NATIVE}\" against the default-settings peers\n"]
    rows = []
    for c in peer_counts(results):
        worst = f"{c['worst'][0]} ({c['worst'][1]:+.1f}%)" if c["worst"] else "-"
        rows.append([c["rival"], f"{c['wins']} of {c['n']}", f"{c['within_2pct']} of {c['n']}",
                     f"{c['mean_rel']:+.2f}%", worst, f"{c['time_ratio']:.2f}", ", ".join(c["failed"]) or "-"])
    lines.append(markdown_table(["rival", "shrinktree lower error", "shrinktree at most 2% worse",
                                 "mean relative error (shrinktree / rival - 1)", "shrinktree furthest behind",
                                 "fit time ratio (shrinktree / rival, median)", "no result on"], rows))
    lines.append("\n\"Best of LightGBM/CatBoost/ChimeraBoost\": per dataset the lowest mean error of "
                 + ", ".join(f"\"{m}\"" for m in STRONGEST_DEFAULTS) + "; its fit time is that column's.")
    failures = [(r.name, m, why) for r in results for m, why in r.failures.items()]
    if failures:
        lines.append("\nPeers without a result (the error each raised on the first split):\n")
        lines += [f"- {name}, {model}: {why}" for name, model, why in failures]
    return "\n".join(lines)


def summary_counts(results: list[DatasetResult]) -> dict:
    """How many datasets each summary line counts.

    Parameters
    ----------
    results : list of DatasetResult

    Returns
    -------
    dict
        ``ordinal_beats_default`` / ``ordinal_beats_tuned``: datasets where shrinktree's default on ordinal
        codes has a lower mean than LightGBM's default / tuned ``path_smooth`` on ordinal codes;
        ``ordinal_ties_tuned``: where it is at most one standard error of the paired difference worse than the
        tuned model.  With the native-categories columns (``--variants``), ``native_beats_native``,
        ``native_beats_best_default`` and ``native_beats_tuned``: datasets where shrinktree's default on native
        categories has a lower mean than LightGBM's default on native categories, than the better of
        LightGBM's default on either input, and than LightGBM tuned on ordinal codes.
    """
    counts = {"ordinal_beats_default": 0, "ordinal_beats_tuned": 0, "ordinal_ties_tuned": 0}
    native = all(SHRINKTREE_NATIVE in r.scores and LGBM_NATIVE in r.scores for r in results)
    if native:
        counts.update(native_beats_native=0, native_beats_best_default=0, native_beats_tuned=0)
    for r in results:
        metric = primary_metric(r.task)
        d_def, _ = paired(r, metric, SHRINKTREE_EB, LGBM_DEFAULT)
        d_tun, se_tun = paired(r, metric, SHRINKTREE_EB, LGBM_TUNED)
        counts["ordinal_beats_default"] += d_def < 0
        counts["ordinal_beats_tuned"] += d_tun < 0
        counts["ordinal_ties_tuned"] += d_tun <= (se_tun if np.isfinite(se_tun) else 0.0)
        if native:
            eb = _mean(r, SHRINKTREE_NATIVE, metric)
            lgb = _mean(r, LGBM_NATIVE, metric)
            counts["native_beats_native"] += eb < lgb
            counts["native_beats_best_default"] += eb < min(lgb, _mean(r, LGBM_DEFAULT, metric))
            counts["native_beats_tuned"] += eb < _mean(r, LGBM_TUNED, metric)
    return {k: int(v) for k, v in counts.items()}


def summary_text(counts: dict, n: int) -> str:
    """The summary lines under the test-error table, each naming the columns (and so the input) it compares.

    Parameters
    ----------
    counts : dict
        From :func:`summary_counts`.
    n : int
        Number of datasets.

    Returns
    -------
    str
    """
    lines = [
        f"Summary, every model on ordinal codes (the \"{ORDINAL}\" columns): \"{SHRINKTREE_EB}\" has a lower mean "
        f"than \"{LGBM_DEFAULT}\" on {counts['ordinal_beats_default']} of {n} datasets and than \"{LGBM_TUNED}\" on "
        f"{counts['ordinal_beats_tuned']} of {n}; it ties or beats the tuned model (worse by at most one standard "
        f"error of the paired difference) on {counts['ordinal_ties_tuned']} of {n}."
    ]
    if "native_beats_native" in counts:
        lines.append(
            f"Summary, native categories (the DataFrame with its category columns, what shrinktree's and "
            f"LightGBM's defaults get from a user who passes one): \"{SHRINKTREE_NATIVE}\" has a lower mean than "
            f"\"{LGBM_NATIVE}\" on {counts['native_beats_native']} of {n} datasets, than the better of LightGBM's "
            f"default on either input on {counts['native_beats_best_default']} of {n}, and than \"{LGBM_TUNED}\" on "
            f"{counts['native_beats_tuned']} of {n} (lower mean; no standard-error margin in this line).")
    return "\n\n".join(lines)


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
    models = columns(results)
    header = ["dataset", "task", "rows", "metric", *models, f"{ORDINAL}: eb vs LGBM default",
              f"{ORDINAL}: eb vs tuned path_smooth"]
    rows = []
    for r in results:
        metric = primary_metric(r.task)
        d_def, se_def = paired(r, metric, SHRINKTREE_EB, LGBM_DEFAULT)
        d_tun, se_tun = paired(r, metric, SHRINKTREE_EB, LGBM_TUNED)
        beats_default = d_def < 0
        ties_tuned = d_tun <= (se_tun if np.isfinite(se_tun) else 0.0)
        mark_def = f"{'✅' if beats_default else '❌'} {verdict(d_def, se_def)} ({d_def:+.4f} ± {se_def:.4f})"
        mark_tun = f"{'✅' if ties_tuned else '❌'} {verdict(d_tun, se_tun)} ({d_tun:+.4f} ± {se_tun:.4f})"
        best = min((m for m in models if m in r.scores), key=lambda m: np.mean(r.scores[m][metric]))
        cells = []
        for model in models:
            if model not in r.scores:
                cells.append("failed")
                continue
            cell = _cell(r.scores[model][metric])
            cells.append(f"**{cell}**" if model == best else cell)
        rows.append([r.name, r.task, _rows_label(r), metric, *cells, mark_def, mark_tun])
    parts.append(f"### Test error (lower is better; mean ± standard error over {repeats} splits)\n")
    parts.append(markdown_table(header, rows))
    parts.append("\n" + summary_text(summary_counts(results), len(results)) + "\n\n" + MARKS)
    if any(r.n_rows < r.n_rows_total for r in results):
        parts.append(f"\n\\* subsampled once (fixed seed) to {MAX_ROWS:,} rows before splitting.")

    extra = [r for r in results if secondary_metric(r.task)]
    if extra:
        parts.append("\n### Classification: AUC (binary) / accuracy (multiclass), higher is better\n")
        rows = [[r.name, secondary_metric(r.task),
                 *[_cell(r.scores[m][secondary_metric(r.task)]) if m in r.scores else "failed" for m in models]]
                for r in extra]
        parts.append(markdown_table(["dataset", "metric", *models], rows))

    parts.append("\n### Mean fit time per split (seconds; noisy, shared 2-core machine)\n")
    rows = [[r.name, *[f"{np.mean(r.seconds[m]):.2f}" if m in r.seconds else "failed" for m in models]]
            for r in results]
    parts.append(markdown_table(["dataset", *models], rows))
    parts.append(f"\nThe tuned LightGBM time includes its 3-fold grid search over {len(grid)} values and the refit.")
    if any(m in PEERS for m in models):
        parts.append("\n" + peer_section(results))

    parts.append("\n### `path_smooth` chosen by 3-fold CV on each training part\n")
    rows = [[r.name, ", ".join(f"{v:g}" for v in r.path_smooth)] for r in results]
    parts.append(markdown_table(["dataset", "chosen per split"], rows, align=["l", "l"]))
    return "\n".join(parts)


MARKS = (f"Marks (the two \"{ORDINAL}: eb vs\" columns): ✅/❌ answer \"beats LightGBM default (lower mean)\" and "
         "\"ties or beats tuned path_smooth (difference ≤ one standard error)\"; the word says whether the paired "
         f"difference (\"{SHRINKTREE_EB}\" minus the rival on {ORDINAL}, shown as mean ± standard error over the "
         "same splits) is beyond one standard error. Bold: lowest mean in the row.")

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
- Each column's label names its model's input. "ordinal codes": `ordinal_encode(X)`, categorical
  columns (group ids, factors) as integer codes, treated as ordered numbers. "native categories"
  (`--variants` only): the DataFrame with its pandas `category` columns, which shrinktree's and
  LightGBM's defaults split natively; this is what a user who passes the DataFrame gets.
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


def compose_block(record: dict, rendered_by: str | None = None) -> str:
    """The markdown written between the page's result marks, from a run record.

    Parameters
    ----------
    record : dict
        What :func:`main` stores as JSON: ``header`` (lines from ``run_header``), ``results`` (list of
        :class:`DatasetResult`), ``datasets`` (names planned), ``repeats``, ``grid``, ``seconds``, ``threads``.
    rendered_by : str, optional
        The command that re-renders a stored record, named under the original header.

    Returns
    -------
    str
    """
    results, planned = record["results"], record["datasets"]
    block = "\n".join(record["header"])
    if rendered_by:
        block += f"\n{rendered_by}\n"
    block += "\n" + render(results, record["repeats"], tuple(record["grid"]))
    if len(results) < len(planned):
        block = (f"**Partial results: {len(results)} of {len(planned)} datasets done; the run is still going "
                 f"or was stopped.**\n\n{block}")
    return block + f"\n\nRun time: {record['seconds']:.0f} s ({record['threads']} thread(s) per model)."


def save_record(record: dict, path: Path) -> None:
    """Write a run record as JSON (through a temporary file, so a stopped run leaves the last complete one)."""
    data = {**record, "results": [asdict(r) for r in record["results"]]}
    write_json_record(data, path)


def load_record(path: Path) -> dict:
    """Read a run record written by :func:`save_record`."""
    data = json.loads(Path(path).read_text())
    data["results"] = [DatasetResult(**r) for r in data["results"]]
    return data


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, or re-render a stored run (``--render-from``).

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
    parser.add_argument("--peers", action="store_true",
                        help="also fit the default-settings peers (" + ", ".join(PEERS) + ") and the native-categories "
                             "columns of shrinktree and LightGBM they are compared with")
    parser.add_argument("--output", help="markdown file to write the results into (default docs/accuracy.md; "
                                         "'-' for none; with --render-from, the page the run wrote)")
    parser.add_argument("--results", help="JSON file for the per-split scores (default "
                                          "benchmarks/results/<page>[-variants].json when a page is written)")
    parser.add_argument("--render-from", metavar="JSON",
                        help="fit nothing: rewrite the result block of the page from a stored run")
    args = parser.parse_args(argv)
    git_commit()  # the code this run imports, named in the result header

    if args.render_from:
        return render_stored_run(args.render_from, args.output, load_record, compose_block,
                                 "benchmarks/accuracy.py", "Accuracy benchmark", INTRO)

    if args.datasets == "holdout":
        datasets = list(HOLDOUT)
    else:
        datasets = args.datasets.split(",") if args.datasets else list(QUICK_DATASETS if args.quick else DATASETS)
    repeats = args.repeats or (2 if args.quick else 5)
    grid = QUICK_PATH_SMOOTH_GRID if args.quick else PATH_SMOOTH_GRID
    output = args.output or ("-" if args.quick else str(REPO_ROOT / "docs" / "accuracy.md"))
    if args.variants and args.peers:
        parser.error("--variants and --peers write different result blocks: run them separately")
    if args.variants:
        models, key = [*MODELS, *VARIANTS, LGBM_NATIVE], "variants"
    elif args.peers:
        missing = [name for name in PEERS.values() if not REGISTRY[name].available()]
        if missing:
            parser.error(f"--peers needs the packages of {', '.join(missing)} (pip install 'shrinktree[bench]')")
        models, key = [*MODELS, SHRINKTREE_NATIVE, LGBM_NATIVE, *PEERS], "peers"
    else:
        models, key = list(MODELS), None
    results_path = Path(args.results) if args.results else (
        default_results_path(output, key) if output != "-" else None)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    record = {"command": command_line(), "output": relative_to_repo(Path(output)) if output != "-" else None,
              "key": key,
              "datasets": datasets, "repeats": repeats, "grid": list(grid), "max_rows": args.max_rows,
              "threads": THREADS, "models": models, "results": [], "seconds": 0.0}
    start = time.perf_counter()
    for name in datasets:
        log(f"{name}: {repeats} splits ({time.perf_counter() - start:.0f}s elapsed)")
        record["results"].append(run_dataset(name, repeats, grid, args.max_rows, log, models))
        record["header"] = run_header("benchmarks/accuracy.py")
        record["seconds"] = time.perf_counter() - start
        block = compose_block(record)
        if output != "-":
            write_results(Path(output), "benchmarks/accuracy.py", "Accuracy benchmark", INTRO, block, key=key)
        if results_path is not None:
            save_record(record, results_path)
    print(block)
    if output != "-":
        log(f"wrote {output}")
    if results_path is not None:
        log(f"wrote {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
