"""``ShrunkRegressor`` and ``ShrunkClassifier``: fit a tree model, then shrink it (for pipelines and grid search)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .shrink import shrink


class _ShrunkMeta(MetaEstimatorMixin, BaseEstimator):
    def __init__(self, estimator=None, method="eb", strength=None, cv=5, scoring=None, grid=None, random_state=0):
        self.estimator = estimator
        self.method = method
        self.strength = strength
        self.cv = cv
        self.scoring = scoring
        self.grid = grid
        self.random_state = random_state

    def _base(self):
        raise NotImplementedError  # pragma: no cover - defined by the subclasses

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
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan" if self._allow_nan() else True,
                             y_numeric=not self._is_classifier)
        if self._is_classifier:
            check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        base = self._base() if self.estimator is None else clone(self.estimator)
        if sample_weight is None:
            base.fit(X, y)
        else:
            base.fit(X, y, sample_weight=sample_weight)
        self.estimator_ = base
        self.model_ = shrink(base, X, y, method=self.method, strength=self.strength, sample_weight=sample_weight,
                             cv=self.cv, scoring=self.scoring, grid=self.grid, random_state=self.random_state)
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

    Attributes
    ----------
    estimator_ : the fitted clone of ``estimator`` (unshrunk)
    model_ : ShrunkModelRegressor, the shrunk model used to predict
    strength_ : float or None, the ``lambda`` used by ``"hs"``
    """

    _is_classifier = False

    def _base(self):
        from sklearn.tree import DecisionTreeRegressor

        return DecisionTreeRegressor(random_state=0)

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

    def _base(self):
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(random_state=0)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the shrunk model, columns in the order of ``classes_``."""
        X = self._check_X(X)
        return self.model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
