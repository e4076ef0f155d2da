"""Wrappers that fit the default-settings peers (CatBoost, ChimeraBoost, GPBoost) on a pandas DataFrame.

Each wrapper is a scikit-learn estimator whose only job is to hand the library its defaults, one
thread and the DataFrame's ``category`` columns in the form the library takes them natively; nothing
is tuned.  Perpetual takes a DataFrame with ``category`` columns as it is and needs no wrapper (see
:mod:`shrinktree.bench.models`).

GPBoost's random effect is the *main grouping* of the data (:func:`main_grouping`): the categorical
column with the most levels, if it has at least :data:`MIN_GROUP_LEVELS` of them.  A dataset without
one, or a multiclass target (GPBoost has no multiclass likelihood), is refused with a
:class:`PeerUnsupported` error that the benchmarks record as the reason the peer has no result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

# A categorical column with fewer levels than this is a factor, not a grouping of the rows.
MIN_GROUP_LEVELS = 20
# GPBoost's boosting part at LightGBM's defaults (gpboost.train has no default number of rounds).
GPBOOST_ROUNDS = 100
GPBOOST_LEARNING_RATE = 0.1


class PeerUnsupported(ValueError):
    """A peer cannot be fitted on this data with its defaults (the message says why)."""


def _frame(X) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"The peer wrappers take a pandas DataFrame, got {type(X).__name__}.")
    return X


def category_columns(X: pd.DataFrame) -> list[str]:
    """Names of the ``category`` columns of ``X``, in column order."""
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


def main_grouping(X: pd.DataFrame) -> str | None:
    """The categorical column with the most levels observed, if it has at least ``MIN_GROUP_LEVELS``.

    Parameters
    ----------
    X : pandas.DataFrame

    Returns
    -------
    str or None
        The column name; ``None`` when no categorical column has that many levels.
    """
    counts = {c: int(X[c].nunique(dropna=True)) for c in category_columns(_frame(X))}
    if not counts:
        return None
    best = max(counts, key=lambda c: (counts[c], -list(X.columns).index(c)))
    return best if counts[best] >= MIN_GROUP_LEVELS else None


def _labels_as_text(X: pd.DataFrame, column: str) -> np.ndarray:
    """A grouping column's labels as strings, a missing label as a level of its own."""
    return X[column].astype(object).where(X[column].notna(), "__missing__").astype(str).to_numpy()


def _as_strings(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Category columns as strings, missing values as their own level (what CatBoost accepts)."""
    out = X.copy()
    for c in columns:
        out[c] = _labels_as_text(X, c)
    return out


def _library_options(options: dict | None, reserved: set[str]) -> dict:
    """A peer's extra library keyword arguments, checked: a dict that sets none of the wrapper's own keys.

    Parameters
    ----------
    options : dict or None
        Keyword arguments for the library's estimator (None: none).
    reserved : set of str
        Keys the wrapper sets itself (seed, threads, categorical columns, output).

    Returns
    -------
    dict
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict of keyword arguments or None, got {type(options).__name__}.")
    clash = sorted(set(options) & reserved)
    if clash:
        raise ValueError(f"options may not set {clash}: the wrapper sets them (use its own parameters).")
    return dict(options)


class _Peer(BaseEstimator):
    """Shared scikit-learn plumbing: ``task``, ``random_state`` and ``n_threads`` are the only parameters."""

    def __init__(self, task: str = "regression", random_state: int = 0, n_threads: int | None = 1):
        self.task = task
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_task(self) -> bool:
        if self.task not in ("regression", "binary", "multiclass"):
            raise ValueError(f"task must be 'regression', 'binary' or 'multiclass', got {self.task!r}.")
        return self.task != "regression"

    def _labels(self, y) -> np.ndarray:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("A classification target needs at least two classes.")
        return codes

    def predict(self, X) -> np.ndarray:
        """Predicted values (regression) or classes (classification)."""
        if self.task == "regression":
            return self._raw_predict(_frame(X))
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        if self.task == "regression":
            raise AttributeError("predict_proba is only defined for classification.")
        proba = np.asarray(self._raw_predict(_frame(X)), dtype=np.float64)
        return np.column_stack([1.0 - proba, proba]) if proba.ndim == 1 else proba


class CatBoostDefaults(_Peer):
    """CatBoost with its defaults, the DataFrame's category columns as native ``cat_features``.

    Parameters
    ----------
    task : {"regression", "binary", "multiclass"}
    random_state : int
        CatBoost's ``random_seed``.
    n_threads : int or None
        CatBoost's ``thread_count`` (its own default when None).
    options : dict or None
        Further keyword arguments of CatBoost's estimator, each replacing one default (for ablations such as
        ``benchmarks/peer_ablations.py``); None (the default): CatBoost's defaults.
    """

    RESERVED = {"random_seed", "random_state", "thread_count", "verbose", "allow_writing_files", "cat_features"}

    def __init__(self, task: str = "regression", random_state: int = 0, n_threads: int | None = 1,
                 options: dict | None = None):
        super().__init__(task=task, random_state=random_state, n_threads=n_threads)
        self.options = options

    def fit(self, X, y) -> CatBoostDefaults:
        """Fit on a DataFrame; returns self."""
        import catboost

        X = _frame(X)
        classification = self._check_task()
        options = _library_options(self.options, self.RESERVED)
        self.cat_features_ = category_columns(X)
        cls = catboost.CatBoostClassifier if classification else catboost.CatBoostRegressor
        target = self._labels(y) if classification else np.asarray(y, dtype=np.float64)
        model = cls(random_seed=int(self.random_state), verbose=0, allow_writing_files=False,
                    cat_features=self.cat_features_ or None, **options,
                    **({} if self.n_threads is None else {"thread_count": int(self.n_threads)}))
        model.fit(_as_strings(X, self.cat_features_), target)
        self.model_ = model
        return self

    def _raw_predict(self, X):
        X = _as_strings(X, self.cat_features_)
        if self.task == "regression":
            return self.model_.predict(X)
        return self.model_.predict_proba(X)


class ChimeraBoostDefaults(_Peer):
    """ChimeraBoost with its defaults, the DataFrame's category columns passed as ``cat_features``.

    Parameters
    ----------
    task : {"regression", "binary", "multiclass"}
    random_state : int
    n_threads : int or None
        ChimeraBoost's ``thread_count`` (its own default when None).
    random_effect : str or None
        A column fitted as ChimeraBoost's random intercept (``random_effects=True``, ``groups=`` that
        column, which is then left out of the features; it takes one grouping).  None (the default): no
        random effect.
    n_estimators : int or None
        ChimeraBoost's ``n_estimators`` (its own default, with its early stopping, when None).
    options : dict or None
        Further keyword arguments of ChimeraBoost's estimator, each replacing one default (for ablations such
        as ``benchmarks/peer_ablations.py``); None (the default): ChimeraBoost's defaults.
    """

    RESERVED = {"random_state", "thread_count", "cat_features", "random_effects", "n_estimators"}

    def __init__(self, task: str = "regression", random_state: int = 0, n_threads: int | None = 1,
                 random_effect: str | None = None, n_estimators: int | None = None, options: dict | None = None):
        super().__init__(task=task, random_state=random_state, n_threads=n_threads)
        self.random_effect = random_effect
        self.n_estimators = n_estimators
        self.options = options

    def _split_groups(self, X: pd.DataFrame):
        if self.random_effect is None:
            return X, {}
        if self.random_effect not in X.columns:
            raise ValueError(f"The random-effect column {self.random_effect!r} is not in X.")
        return X.drop(columns=[self.random_effect]), {"groups": _labels_as_text(X, self.random_effect)}

    def fit(self, X, y) -> ChimeraBoostDefaults:
        """Fit on a DataFrame; returns self."""
        import chimeraboost

        X = _frame(X)
        classification = self._check_task()
        cls = chimeraboost.ChimeraBoostClassifier if classification else chimeraboost.ChimeraBoostRegressor
        target = self._labels(y) if classification else np.asarray(y, dtype=np.float64)
        features, groups = self._split_groups(X)
        options = _library_options(self.options, self.RESERVED)
        if self.random_effect is not None:
            options["random_effects"] = True
        if self.n_estimators is not None:
            options["n_estimators"] = int(self.n_estimators)
        model = cls(random_state=int(self.random_state), **options,
                    **({} if self.n_threads is None else {"thread_count": int(self.n_threads)}))
        model.fit(features, target, cat_features=category_columns(features) or None, **groups)
        self.model_ = model
        return self

    def _raw_predict(self, X):
        features, groups = self._split_groups(X)
        if self.task == "regression":
            return self.model_.predict(features, **groups)
        return self.model_.predict_proba(features, **groups)


class GPBoostGrouped(_Peer):
    """GPBoost: LightGBM-default trees on the other columns plus a random intercept for the main grouping.

    The grouping is :func:`main_grouping` of the training DataFrame; its column is the random effect
    and is left out of the trees.  Squared error (Gaussian likelihood) for regression, the logit
    Bernoulli likelihood for binary targets; the variance of the random effect is estimated by GPBoost
    as it boosts (its default).  Test rows of groups not seen in training get a random effect of zero.

    Parameters
    ----------
    task : {"regression", "binary"}
    random_state : int
    n_threads : int or None
        GPBoost's ``num_threads`` for both the trees and the random-effects model.
    groupings : list of str or None
        Columns to fit as grouped random intercepts (crossed or nested, as GPBoost's ``group_data``), all
        left out of the trees.  None (the default): the main grouping alone.
    n_rounds : int or None
        Boosting rounds (``GPBOOST_ROUNDS``, LightGBM's default, when None).

    Raises
    ------
    PeerUnsupported
        At fit, for a multiclass target or data without a main grouping.
    """

    def __init__(self, task: str = "regression", random_state: int = 0, n_threads: int | None = 1,
                 groupings: list[str] | None = None, n_rounds: int | None = None):
        super().__init__(task=task, random_state=random_state, n_threads=n_threads)
        self.groupings = groupings
        self.n_rounds = n_rounds

    def _groupings(self, X: pd.DataFrame) -> list[str]:
        if self.groupings is not None:
            missing = [g for g in self.groupings if g not in X.columns]
            if not self.groupings or missing:
                raise ValueError(f"groupings must be a non-empty list of columns of X; not in X: {missing}.")
            return list(self.groupings)
        group = main_grouping(X)
        if group is None:
            raise PeerUnsupported(f"no categorical column with at least {MIN_GROUP_LEVELS} levels to use as the "
                                  "random-effect grouping.")
        return [group]

    def fit(self, X, y) -> GPBoostGrouped:
        """Fit on a DataFrame; returns self."""
        X = _frame(X)
        classification = self._check_task()
        if self.task == "multiclass":
            raise PeerUnsupported("GPBoost has no multiclass likelihood.")
        groupings = self._groupings(X)
        import gpboost

        target = self._labels(y).astype(np.float64) if classification else np.asarray(y, dtype=np.float64)
        features = X.drop(columns=groupings)
        threads = {} if self.n_threads is None else {"num_threads": int(self.n_threads)}
        params = {"objective": "binary" if classification else "regression", "learning_rate": GPBOOST_LEARNING_RATE,
                  "verbose": -1, "seed": int(self.random_state), **threads}
        # The random-effects part takes its thread count from a process-wide setting: set it for this fit only.
        previous = gpboost.get_num_threads()
        if self.n_threads is not None:
            gpboost.set_num_threads(int(self.n_threads))
        try:
            gp_model = gpboost.GPModel(group_data=self._groups(X, groupings),
                                       likelihood="bernoulli_logit" if classification else "gaussian")
            dataset = gpboost.Dataset(features, target, categorical_feature=category_columns(features) or "auto",
                                      free_raw_data=False)
            rounds = GPBOOST_ROUNDS if self.n_rounds is None else int(self.n_rounds)
            self.booster_ = gpboost.train(params=params, train_set=dataset, gp_model=gp_model, num_boost_round=rounds)
        finally:
            gpboost.set_num_threads(previous)
        self.group_columns_ = groupings
        return self

    @staticmethod
    def _groups(X: pd.DataFrame, groupings: list[str]) -> np.ndarray:
        return np.column_stack([_labels_as_text(X, g) for g in groupings])

    def _raw_predict(self, X):
        features = X.drop(columns=self.group_columns_)
        result = self.booster_.predict(data=features, group_data_pred=self._groups(X, self.group_columns_),
                                       pred_latent=False)
        return np.asarray(result["response_mean"], dtype=np.float64)
