"""``ShrunkRegressor`` and ``ShrunkClassifier``: fit a tree model, then shrink it (for pipelines and grid search)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_array, check_is_fitted, column_or_1d, validate_data

from .adapters import adapter_for
from .inputs import categorical_columns
from .shrink import shrink


def _check_categorical_base(base, columns: list, X) -> None:
    """Only base models whose categorical handling ``shrink`` can follow may see categorical columns."""
    adapter = adapter_for(base)
    categorical = None if adapter is None else adapter.categorical
    if categorical == "any":
        return
    if categorical == "category":
        text = [c for c in columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
        if text:
            raise ValueError(f"Columns {text[:5]} hold text but are not pandas 'category'; LightGBM (and so "
                             "shrink) handles categorical columns of dtype 'category' only: convert them with "
                             ".astype('category').")
        return
    raise ValueError(f"X has categorical (category/text) columns {columns[:5]}; the post-hoc wrapper supports "
                     f"them with LightGBM and shrinktree ShrinkBoost* base models, not {type(base).__name__}. "
                     "Encode them as numbers for this model.")


class _ShrunkMeta(MetaEstimatorMixin, BaseEstimator):
    def __init__(self, estimator=None, method="eb", strength=None, cv=5, scoring=None, grid=None, random_state=0,
                 variance_estimator="auto"):
        self.estimator = estimator
        self.variance_estimator = variance_estimator
        self.method = method
        self.strength = strength
        self.cv = cv
        self.scoring = scoring
        self.grid = grid
        self.random_state = random_state

    # The estimator used when ``estimator=None``; each subclass names its own tree.
    _default_estimator: type

    def _base(self):
        return self._default_estimator(random_state=0)

    def _allow_nan(self) -> bool:
        base = self._base() if self.estimator is None else self.estimator
        try:
            return bool(get_tags(base).input_tags.allow_nan)
        except Exception:  # noqa: BLE001 - estimators without tags
            return False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan()
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit a clone of ``estimator`` on ``X, y`` and shrink it with ``method`` (see :func:`shrinktree.shrink`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        base = self._base() if self.estimator is None else clone(self.estimator)
        columns = categorical_columns(X)
        if columns:
            # Categorical DataFrame: the base model and shrink map the categories; only names, width and y here.
            _check_categorical_base(base, columns, X)
            validate_data(self, X, skip_check_array=True)
            y = column_or_1d(check_array(y, ensure_2d=False, dtype=None if self._is_classifier else np.float64),
                             warn=True)
            if len(y) != X.shape[0]:
                raise ValueError(f"y has {len(y)} rows but X has {X.shape[0]}.")
        else:
            X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if self._allow_nan() else True,
                                 y_numeric=not self._is_classifier)
        if self._is_classifier:
            check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if sample_weight is None:
            base.fit(X, y)
        else:
            base.fit(X, y, sample_weight=sample_weight)
        self.estimator_ = base
        self.model_ = shrink(base, X, y, method=self.method, strength=self.strength, sample_weight=sample_weight,
                             cv=self.cv, scoring=self.scoring, grid=self.grid, random_state=self.random_state,
                             variance_estimator=self.variance_estimator)
        self.strength_ = self.model_.strength_
        if self._is_classifier:
            self.classes_ = self.model_.classes_
        return self

    @property
    def pooling_factors_(self) -> list[np.ndarray]:
        """Per tree, the pooling factor of every node."""
        check_is_fitted(self, "model_")
        return self.model_.pooling_factors_

    def _check_X(self, X):
        check_is_fitted(self, "model_")
        if categorical_columns(X):
            validate_data(self, X, skip_check_array=True, reset=False)
            return X  # the shrunk model maps the categories (or explains why it cannot)
        return validate_data(self, X, ensure_all_finite="allow-nan" if self._allow_nan() else True, reset=False)


class ShrunkRegressor(RegressorMixin, _ShrunkMeta):
    """A tree regressor whose node values are shrunk toward their parents after fitting.

    Parameters
    ----------
    estimator : estimator, default=None
        A supported tree model (see :data:`shrinktree.posthoc.SUPPORTED`); default
        ``DecisionTreeRegressor()`` (grown fully: the pooling
        takes the place of pruning).
    method : {"eb", "hs", "none"}, default="eb"
    strength : float, "cv", "gcv" or None
        ``lambda`` of ``"hs"``.
    cv, scoring, grid, random_state
        Cross-validation of ``strength='cv'``.
    variance_estimator : {"auto", "moments", "ml", "reml", "bayes"}, default="auto"
        How ``"eb"`` estimates the variance components (see :func:`shrinktree.shrink`).

    Attributes
    ----------
    estimator_ : the fitted clone of ``estimator`` (unshrunk)
    model_ : ShrunkModelRegressor, the shrunk model used to predict
    strength_ : float or None, the ``lambda`` used by ``"hs"``
    """

    _is_classifier = False

    _default_estimator = DecisionTreeRegressor

    def predict(self, X) -> np.ndarray:
        """Predicted values of the shrunk model."""
        X = self._check_X(X)
        return self.model_.predict(X)


class ShrunkClassifier(ClassifierMixin, _ShrunkMeta):
    """A tree classifier whose node values are shrunk toward their parents after fitting.

    Parameters are those of :class:`ShrunkRegressor`; the default estimator is
    ``DecisionTreeClassifier()``.
    """

    _is_classifier = True

    _default_estimator = DecisionTreeClassifier

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the shrunk model, columns in the order of ``classes_``."""
        X = self._check_X(X)
        return self.model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
