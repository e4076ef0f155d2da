"""The stability comparison: accuracy, prediction spread across half-sample refits, importance agreement, time.

Protocol, identical for every model on a dataset:

1. Split the rows into train and test (75/25 by default; stratified for classification).
2. Fit each model on the whole training part: test accuracy and fit time.
3. Draw ``n_halves`` random halves of the training rows (the same halves for every model) and
   refit each model on each half.  For every test row take the standard deviation of the
   refits' predictions (regression: divided by the standard deviation of ``y``; classification:
   of the predicted class probabilities), and average over the test rows: the *spread*.
4. For each half-sample refit compute permutation importances on (up to ``importance_rows``)
   test rows, with the same rows and permutations for every model and refit, and average the
   Spearman rank correlation over all pairs of refits: the *importance agreement*.
5. On the same test rows, each refit's exact SHAP values (path-dependent TreeSHAP on the raw
   score scale: shrinktree's ``predict_contributions``, LightGBM's and XGBoost's ``pred_contrib``)
   give every row a vector of per-feature contributions (for multiclass, the class blocks one
   after the other).  The Pearson correlation of a row's vectors from two refits, averaged over
   the rows and all pairs of refits, is the *SHAP agreement* (see :func:`shap_agreement`).

Steps 1-4 are repeated ``n_repeats`` times with different splits and averaged.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

from ..datasets import ordinal_encode
from .models import ModelSpec, resolve_models

Progress = Callable[[int, int, str], None]

RESULT_COLUMNS = ("dataset", "task", "model", "n_rows", "n_features", "n_train", "error", "auc", "spread",
                  "importance_corr", "shap_corr", "fit_seconds", "failed")


@dataclass
class BenchmarkResult:
    """Outcome of :func:`run_stability` on one dataset.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model with columns :data:`RESULT_COLUMNS`.  ``error`` is the test RMSE divided
        by the standard deviation of ``y`` (regression) or the test log loss (classification);
        ``auc`` is the test ROC AUC (one-vs-rest for more than two classes; NaN for regression);
        ``spread`` the mean prediction spread across half-sample refits; ``importance_corr`` the
        mean Spearman correlation of permutation importances between refits; ``shap_corr`` the SHAP
        agreement between refits (NaN for models without exact TreeSHAP); ``fit_seconds`` the time to
        fit on the whole training part.
    skipped : list of str
        Requested models whose package is not installed.
    notes : list of str
        Subsampling, failures and other remarks worth printing with the table.
    """

    table: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _check_positive_int(name: str, value, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


def encode_target(y, task: str) -> tuple[np.ndarray, str]:
    """The target as floats (regression) or class codes 0..K-1, and the task refined to binary/multiclass."""
    y = np.asarray(y)
    if task == "regression":
        try:
            values = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError("A regression target must be numeric.") from exc
        if not np.all(np.isfinite(values)):
            raise ValueError("The target has missing or infinite values; drop those rows first.")
        return values, task
    if task not in ("binary", "multiclass", "classification"):
        raise ValueError(f"Unknown task {task!r}; expected regression, binary, multiclass or classification.")
    if pd.isna(y).any():
        raise ValueError("The target has missing values; drop those rows first.")
    codes = LabelEncoder().fit_transform(y.astype(str) if y.dtype == object else y)
    n_classes = int(codes.max()) + 1 if len(codes) else 0
    if n_classes < 2:
        raise ValueError("A classification target needs at least two classes.")
    return codes.astype(np.int64), "binary" if n_classes == 2 else "multiclass"


def _inputs(X: pd.DataFrame, kind: str):
    if kind == "ordinal":
        return ordinal_encode(X)
    if kind == "frame":
        return X
    raise ValueError(f"Unknown model input kind {kind!r}.")


def _take(data, rows: np.ndarray):
    if isinstance(data, pd.DataFrame):
        return data.iloc[rows].reset_index(drop=True)
    return data[rows]


def _predict(model, X, task: str) -> np.ndarray:
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    return np.asarray(model.predict_proba(X), dtype=np.float64)


def _loss(y: np.ndarray, prediction: np.ndarray, task: str, n_classes: int) -> float:
    if task == "regression":
        return float(np.mean((prediction - y) ** 2))
    proba = np.clip(prediction, 1e-15, 1.0)
    return float(log_loss(y, proba / proba.sum(axis=1, keepdims=True), labels=np.arange(n_classes)))


def _accuracy(y: np.ndarray, prediction: np.ndarray, task: str, n_classes: int, y_scale: float):
    if task == "regression":
        return float(np.sqrt(np.mean((prediction - y) ** 2)) / y_scale), np.nan
    error = _loss(y, prediction, task, n_classes)
    if len(np.unique(y)) < n_classes:
        return error, np.nan
    if task == "binary":
        return error, float(roc_auc_score(y, prediction[:, 1]))
    return error, float(roc_auc_score(y, prediction, multi_class="ovr", labels=np.arange(n_classes)))


def prediction_spread(predictions: np.ndarray, task: str, y_scale: float = 1.0) -> float:
    """Mean over test rows of the standard deviation of predictions across refits.

    Parameters
    ----------
    predictions : ndarray of shape (n_refits, n_rows) or (n_refits, n_rows, n_classes)
        Regression predictions or class probabilities of each refit.
    task : {"regression", "binary", "multiclass"}
    y_scale : float, default=1.0
        Regression spreads are divided by it (the standard deviation of ``y``).

    Returns
    -------
    float
        For binary tasks the spread of the positive-class probability; for multiclass the
        spread averaged over classes.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.shape[0] < 2:
        raise ValueError("The spread needs at least two refits.")
    sd = np.std(predictions, axis=0, ddof=1)
    if task == "regression":
        return float(np.mean(sd) / y_scale)
    if task == "binary":
        return float(np.mean(sd[:, 1]))
    return float(np.mean(sd))


def importance_agreement(importances: np.ndarray) -> float:
    """Mean Spearman rank correlation of feature importances over all pairs of refits.

    Parameters
    ----------
    importances : ndarray of shape (n_refits, n_features)

    Returns
    -------
    float
        NaN when there are fewer than two features or every pair has a constant importance vector.
    """
    importances = np.asarray(importances, dtype=np.float64)
    if importances.ndim != 2 or importances.shape[0] < 2:
        raise ValueError("Importance agreement needs an (n_refits >= 2, n_features) array.")
    if importances.shape[1] < 2:
        return np.nan
    correlations = []
    for a, b in combinations(range(importances.shape[0]), 2):
        if np.ptp(importances[a]) == 0 or np.ptp(importances[b]) == 0:
            continue
        correlations.append(spearmanr(importances[a], importances[b]).statistic)
    return float(np.mean(correlations)) if correlations else np.nan


def shap_vectors(model, X) -> np.ndarray | None:
    """Exact path-dependent SHAP values of every row on the raw score scale, bias columns dropped.

    Parameters
    ----------
    model : fitted estimator
        A shrinktree booster (``predict_contributions``), a LightGBM or XGBoost scikit-learn model
        (``pred_contrib``), or a fitted search over one (its ``best_estimator_``).
    X : ndarray or pandas.DataFrame
        The model's own input.

    Returns
    -------
    ndarray of shape (n_rows, n_features * n_outputs) or None
        Per row the feature contributions, the blocks of the outputs (classes) one after the other;
        ``None`` for models without exact TreeSHAP.
    """
    model = getattr(model, "best_estimator_", model)
    n_features = X.shape[1]
    module = type(model).__module__ or ""
    if hasattr(model, "predict_contributions"):
        values = model.predict_contributions(X)
    elif module.startswith("lightgbm"):
        values = np.asarray(model.predict(X, pred_contrib=True))
    elif module.startswith("xgboost"):
        import xgboost

        values = np.asarray(model.get_booster().predict(xgboost.DMatrix(X), pred_contribs=True))
    else:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(values.shape[0], -1, n_features + 1)
    return values[:, :, :-1].reshape(values.shape[0], -1)


def shap_agreement(values: np.ndarray) -> float:
    """Mean Pearson correlation of each row's SHAP vectors over all pairs of refits.

    Parameters
    ----------
    values : ndarray of shape (n_refits, n_rows, n_columns)
        Each refit's per-row SHAP vectors (:func:`shap_vectors`).

    Returns
    -------
    float
        The correlation between the two vectors of a row (over its feature columns) is averaged
        over every row and pair of refits; pairs where either vector is constant (for example all
        zero: every tree pooled to its root) have no correlation and are left out.  NaN with fewer
        than two columns or no such pair.  1 means the refits explain every row the same way up
        to scale.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[0] < 2:
        raise ValueError("SHAP agreement needs an (n_refits >= 2, n_rows, n_columns) array.")
    if values.shape[2] < 2:
        return np.nan
    centered = values - values.mean(axis=2, keepdims=True)
    norms = np.sqrt(np.sum(centered**2, axis=2))
    correlations = []
    for a, b in combinations(range(values.shape[0]), 2):
        scale = norms[a] * norms[b]
        ok = scale > 1e-12 * np.maximum(np.max(norms[a]) * np.max(norms[b]), 1e-300)
        correlations.append(np.sum(centered[a][ok] * centered[b][ok], axis=1) / scale[ok])
    correlations = np.concatenate(correlations)
    return float(np.mean(correlations)) if len(correlations) else np.nan


def permutation_importances(model, X, y: np.ndarray, task: str, n_classes: int,
                            permutations: np.ndarray) -> np.ndarray:
    """Increase of the test loss when each feature's column is permuted (one fixed permutation per feature).

    Parameters
    ----------
    model : fitted estimator
    X : ndarray or pandas.DataFrame of shape (n_rows, n_features)
    y : ndarray of shape (n_rows,)
    task : {"regression", "binary", "multiclass"}
    n_classes : int
    permutations : ndarray of shape (n_features, n_rows)
        Row order used for each feature; shared across models so they are compared on equal terms.
    """
    base = _loss(y, _predict(model, X, task), task, n_classes)
    out = np.empty(permutations.shape[0])
    for j, order in enumerate(permutations):
        if isinstance(X, pd.DataFrame):
            shuffled = X.copy()
            column = X.columns[j]
            shuffled[column] = X[column].iloc[order].set_axis(X.index)
        else:
            shuffled = X.copy()
            shuffled[:, j] = X[order, j]
        out[j] = _loss(y, _predict(model, shuffled, task), task, n_classes) - base
    return out


def random_half(y: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a random half of the rows (stratified by class for classification)."""
    if task == "regression":
        return np.sort(rng.permutation(len(y))[: len(y) // 2])
    rows = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rows.append(rng.permutation(members)[: max(1, len(members) // 2)])
    return np.sort(np.concatenate(rows))


def _warm_up(spec: ModelSpec, task: str, data, y: np.ndarray, train: np.ndarray, n_threads: int | None) -> None:
    """Fit once, untimed, on a few rows so just-in-time compilation is not counted as fit time."""
    rows = train[: min(len(train), 500)]
    for early_stopping in (False, True):  # compile the validation-scoring path as well
        model = spec.build(task, 0, n_threads)
        if "early_stopping" in model.get_params():
            model.set_params(early_stopping=early_stopping)
        model.fit(_take(data, rows), y[rows])
        _predict(model, _take(data, rows), task)


@contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """Limit numba, OpenMP and BLAS thread pools to ``n_threads`` inside the block (no limit when None)."""
    if n_threads is None:
        yield
        return
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        numba.set_num_threads(previous)


def _fit(spec: ModelSpec, task: str, seed: int, n_threads: int | None, X, y):
    model = spec.build(task, seed, n_threads)
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def run_stability(X: pd.DataFrame, y, task: str, models: list[str] | None = None, *, dataset: str = "data",
                  n_halves: int = 4, n_repeats: int = 1, test_size: float = 0.25, max_rows: int | None = None,
                  importance_rows: int = 2000, random_state: int = 0, n_threads: int | None = None,
                  progress: Progress | None = None) -> BenchmarkResult:
    """Compare models on one dataset: accuracy, prediction spread, importance agreement and fit time.

    Parameters
    ----------
    X : pandas.DataFrame
        Features; columns of ``category`` dtype are categorical.
    y : array-like of shape (n_rows,)
    task : {"regression", "binary", "multiclass", "classification"}
        Classification tasks are refined to binary or multiclass from the number of classes.
    models : list of str, optional
        Names from :data:`shrinktree.bench.models.MODELS`; all by default.  Models whose package
        is missing are skipped and listed in the result.
    dataset : str
        Name written into the result table.
    n_halves : int, default=4
        Number of random half-sample refits (at least 2).
    n_repeats : int, default=1
        Number of train/test splits averaged.
    test_size : float, default=0.25
    max_rows : int, optional
        Subsample the rows to this many first (noted in the result).
    importance_rows : int, default=2000
        Test rows used for permutation importances.
    random_state : int, default=0
        Seeds the splits, halves, permutations and the models.
    n_threads : int, optional
        Limit every model's thread pools (numba, OpenMP, BLAS) to this many threads, for timings
        that compare like with like; by default the libraries choose.
    progress : callable, optional
        Called as ``progress(done, total, message)`` after each fit.

    Returns
    -------
    BenchmarkResult
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame (categorical columns as the 'category' dtype).")
    _check_positive_int("n_halves", n_halves, low=2)
    _check_positive_int("n_repeats", n_repeats)
    _check_positive_int("importance_rows", importance_rows)
    if max_rows is not None:
        _check_positive_int("max_rows", max_rows, low=20)
    if n_threads is not None:
        _check_positive_int("n_threads", n_threads)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size!r}.")
    if X.shape[1] == 0:
        raise ValueError("X has no feature columns.")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
    specs, skipped = resolve_models(models)
    if not specs:
        raise ValueError(f"None of the requested models can run here: {', '.join(skipped)} not installed.")
    y, task = encode_target(y, task)
    X = X.reset_index(drop=True)
    notes = []
    rng = np.random.default_rng(random_state)
    n_total = len(X)
    if max_rows is not None and n_total > max_rows:
        keep = np.sort(rng.choice(n_total, max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
        notes.append(f"{dataset}: subsampled to {max_rows:,} of {n_total:,} rows")
    n_classes = 1 if task == "regression" else int(y.max()) + 1
    if len(X) < 40:
        raise ValueError(f"The stability benchmark needs at least 40 rows; {dataset} has {len(X)}.")
    inputs = {kind: _inputs(X, kind) for kind in {spec.inputs for spec in specs}}
    total, done = n_repeats * len(specs) * (n_halves + 1), 0
    records: dict[str, list[dict]] = {spec.name: [] for spec in specs}
    from .peers import PeerUnsupported

    failed: dict[str, str] = {}
    not_applicable: set[str] = set()
    with thread_limit(n_threads):
        for repeat in range(n_repeats):
            split_seed = int(rng.integers(2**31 - 1))
            stratify = y if task != "regression" else None
            train, test = train_test_split(np.arange(len(y)), test_size=test_size, random_state=split_seed,
                                           stratify=stratify)
            y_train, y_test = y[train], y[test]
            y_scale = float(np.std(y_test)) if task == "regression" else 1.0
            y_scale = y_scale if y_scale > 0 else 1.0
            halves = [train[random_half(y_train, task, rng)] for _ in range(n_halves)]
            importance_idx = test[np.sort(rng.permutation(len(test))[:importance_rows])]
            n_features = X.shape[1]
            permutations = np.array([rng.permutation(len(importance_idx)) for _ in range(n_features)])
            for spec in specs:
                data = inputs[spec.inputs]
                if spec.name in failed:
                    done += n_halves + 1
                    continue
                fits_done = 0
                try:
                    if spec.compiles and repeat == 0:
                        _warm_up(spec, task, data, y, train, n_threads)
                    seed = random_state + 1000 * repeat
                    model, seconds = _fit(spec, task, seed, n_threads, _take(data, train), y_train)
                    done, fits_done = done + 1, fits_done + 1
                    if progress:
                        progress(done, total, f"{dataset}: {spec.name} on the training rows ({seconds:.1f}s)")
                    error, auc = _accuracy(y_test, _predict(model, _take(data, test), task), task, n_classes, y_scale)
                    predictions, importances, shaps = [], [], []
                    for h, half in enumerate(halves):
                        refit, _ = _fit(spec, task, seed + h + 1, n_threads, _take(data, half), y[half])
                        predictions.append(_predict(refit, _take(data, test), task))
                        importances.append(permutation_importances(refit, _take(data, importance_idx),
                                                                   y[importance_idx], task, n_classes, permutations))
                        shaps.append(shap_vectors(refit, _take(data, importance_idx)))
                        done, fits_done = done + 1, fits_done + 1
                        if progress:
                            progress(done, total, f"{dataset}: {spec.name} on random half {h + 1}/{n_halves}")
                except PeerUnsupported as exc:  # a peer that does not apply to this data (GPBoost without groups)
                    not_applicable.add(spec.name)
                    failed[spec.name] = str(exc)
                    notes.append(f"{dataset}: {spec.name} does not apply ({exc})")
                    done += n_halves + 1 - fits_done
                    continue
                except Exception as exc:  # a model that fails is reported, not allowed to end the whole comparison
                    failed[spec.name] = f"{type(exc).__name__}: {exc}"
                    last = traceback.format_exc(limit=1).strip().splitlines()[-1]
                    notes.append(f"{dataset}: {spec.name} failed ({last})")
                    done += n_halves + 1 - fits_done
                    continue
                records[spec.name].append({
                    "error": error, "auc": auc, "fit_seconds": seconds,
                    "spread": prediction_spread(np.array(predictions), task, y_scale),
                    "importance_corr": importance_agreement(np.array(importances)),
                    "shap_corr": np.nan if any(v is None for v in shaps) else shap_agreement(np.array(shaps)),
                })
    rows = []
    for spec in specs:
        if spec.name in not_applicable:  # said in the notes; no row of dashes
            continue
        summary = pd.DataFrame(records[spec.name]).mean() if records[spec.name] else pd.Series(dtype=float)
        rows.append({
            "dataset": dataset, "task": task, "model": spec.name, "n_rows": len(X), "n_features": X.shape[1],
            "n_train": len(X) - int(round(test_size * len(X))),
            "error": summary.get("error", np.nan), "auc": summary.get("auc", np.nan),
            "spread": summary.get("spread", np.nan), "importance_corr": summary.get("importance_corr", np.nan),
            "shap_corr": summary.get("shap_corr", np.nan),
            "fit_seconds": summary.get("fit_seconds", np.nan), "failed": spec.name in failed,
        })
    return BenchmarkResult(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)), skipped, notes)
