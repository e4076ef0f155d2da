"""The fitted, shrunk model that :func:`shrinktree.shrink` returns."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from .._integrity import DIGEST_KEY, ModelIntegrityError, check_digest, state_digest
from .._safe_state import SafeStateMixin
from .._tree import FlatForest, TreeArrays, digest_arrays, has_present_sets
from ..boosting.validation import check_offset
from .inputs import tree_matrix
from .parsed import ParsedModel


class _ShrunkModel(SafeStateMixin, BaseEstimator):
    """A fitted tree model whose node values were pooled toward their parents.

    Built by :func:`shrinktree.shrink`; not meant to be constructed or fitted directly.

    Attributes
    ----------
    trees_ : list of TreeArrays
        Every tree's node table: ``raw_value`` (the original model's value, learning rate
        included), pooled ``value``, ``pooling_factor``, ``count`` and ``weight``.
    pooling_strength_ : ndarray
        Per tree, ``k`` (``sigma^2/tau^2`` for ``"eb"``, ``lambda`` for ``"hs"``).
    method_ : str
    strength_ : float or None
        The ``lambda`` used by ``"hs"`` (chosen by cross-validation when asked).
    source_ : str
        Class name of the shrunk model.
    stats_source_ : str
        Where the statistics for the pooling came from (see ``docs/posthoc.md``).
    n_features_in_ : int
    classes_ : ndarray (classifiers)
    """

    def _set_state(self, parsed: ParsedModel, method: str, strength, pooling_strength, stats_source: str):
        self._parsed = parsed
        self.trees_ = parsed.trees
        self.pooling_strength_ = np.asarray(pooling_strength, dtype=np.float64)
        self.method_ = method
        self.strength_ = strength
        self.source_ = parsed.source
        self.stats_source_ = stats_source
        self.n_features_in_ = parsed.n_features_in
        if parsed.feature_names_in is not None:
            self.feature_names_in_ = np.asarray(parsed.feature_names_in, dtype=object)
        if parsed.classes is not None:
            self.classes_ = np.asarray(parsed.classes)
        self._forest = None
        return self

    @property
    def pooling_factors_(self) -> list[np.ndarray]:
        """Per tree, the pooling factor of every node (1 at the root)."""
        self._check_fitted()
        return [t.pooling_factor for t in self.trees_]

    def tree_frame(self, index: int):
        """Node table of tree ``index`` as a pandas DataFrame."""
        self._check_fitted()
        return self.trees_[index].to_frame()

    def _check_fitted(self):
        if not hasattr(self, "trees_"):
            raise NotFittedError(f"This {type(self).__name__} holds no model; build it with shrinktree.shrink.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _prediction_state(self) -> list:
        """Everything predictions depend on, for the digest that detects a damaged restored model.

        The trees' present-set arrays count only in models with a present set, so that models saved
        before they existed keep their digests.
        """
        parsed = self._parsed
        with_present_sets = has_present_sets(self.trees_)
        return [
            self.n_features_in_, getattr(self, "classes_", None), parsed.tree_output, parsed.n_outputs,
            parsed.init, parsed.aggregate, parsed.link, parsed.loss, sorted(parsed.loss_params.items()),
            parsed.offset_supported, parsed.float32_input, parsed.integers_as_float32,
            _route_state(parsed.route), [digest_arrays(tree, with_present_sets) for tree in self.trees_],
        ]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_forest"] = None  # derived from the trees: rebuilt on restore rather than trusted
        if "trees_" in state:
            state["_parsed"] = self._parsed.for_prediction()
            state["trees_"] = state["_parsed"].trees
            state[DIGEST_KEY] = state_digest(self._prediction_state())
        return state

    def __setstate__(self, state):
        state = dict(state)
        expected = state.pop(DIGEST_KEY, None)
        self.__dict__.update(state)
        self._forest = None
        if "trees_" not in state:
            return
        try:
            check_digest(expected, self._prediction_state(), type(self).__name__)
            self._validate_restored()
        except ModelIntegrityError:
            raise
        except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
            raise ModelIntegrityError(f"The restored {type(self).__name__} is damaged: {exc}") from exc

    def _validate_restored(self) -> None:
        """Check what the prediction kernel indexes: tree structure, features and output columns."""
        parsed = self._parsed
        n_outputs = parsed.n_outputs
        trees = self.trees_
        if not isinstance(n_outputs, int) or n_outputs < 1 or not trees or len(trees) != len(parsed.trees):
            raise ModelIntegrityError("The restored model's trees or output count are inconsistent.")
        output = np.asarray(parsed.tree_output)
        if output.dtype.kind not in "iu" or output.shape != (len(trees),) or np.any(output < -1) \
                or np.any(output >= n_outputs):
            raise ModelIntegrityError("The restored model's tree-to-output map is out of range.")
        if parsed.route is not None:
            parsed.route.validate(self.n_features_in_)
        if np.shape(parsed.init) != (n_outputs,):
            raise ModelIntegrityError("The restored model's initial prediction has the wrong shape.")
        for tree, column in zip(trees, output):
            if not isinstance(tree, TreeArrays):
                raise ModelIntegrityError(f"A tree is a {type(tree).__name__}, not TreeArrays.")
            tree.validate(n_features=self.n_features_in_, n_outputs=n_outputs if column < 0 else None)

    def _get_forest(self) -> FlatForest:
        if getattr(self, "_forest", None) is None:
            self._forest = FlatForest.from_trees(self.trees_)
        return self._forest

    def _check_X(self, X) -> np.ndarray:
        self._check_fitted()
        if self._parsed.input_map is not None:
            # Names and width checked here; the map validates values and codes (categorical columns included).
            validate_data(self, X, skip_check_array=True, reset=False)
            return tree_matrix(self._parsed, X)[1]
        X = validate_data(self, self._parsed.read(X), dtype=np.float64, ensure_all_finite="allow-nan", reset=False,
                          order="C")
        return self._parsed.prepare_X(X)

    def _raw(self, X, offset=None) -> np.ndarray:
        """Raw prediction (before the link) of shape (n_rows, n_outputs), plus ``offset`` when given."""
        X = self._check_X(X)
        raw = raw_predict(self._parsed, self._get_forest(), X)
        if offset is not None:
            raw += check_model_offset(self._parsed, offset, X.shape[0], "predict")[:, None]
        return raw

    def predict_contributions(self, X) -> np.ndarray:
        """Exact SHAP values (path-dependent TreeSHAP) of every feature for every row, on the raw scale.

        Computed from the pooled node values with each node's weighted row count as its cover (see
        ``docs/explain.md``); a method of its own rather than a ``predict`` flag, as for the boosters.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of float64
            Shape ``(n_samples, n_features + 1)`` for one output, ``(n_samples, n_outputs, n_features + 1)``
            otherwise (one block per output column).  The last column is the expected value; each row
            (block) sums to the raw prediction before the link (``decision_function`` of boosted
            classifiers; the averaged class proportions of forest classifiers; ``predict`` of
            identity-link regressors, its log for Poisson models).
        """
        from ..explain import predict_contributions

        return predict_contributions(self, X)


def _route_state(route) -> list | None:
    """An input route's class and attributes, for the digest (its repr would name its address)."""
    return None if route is None else [type(route).__name__, sorted(vars(route).items())]


def raw_predict(parsed: ParsedModel, forest: FlatForest, X: np.ndarray) -> np.ndarray:
    """Sum (or mean) of tree values plus ``init`` for validated, float64 ``X``."""
    out = forest.predict_sum(X, parsed.tree_output, parsed.n_outputs)
    if parsed.aggregate == "mean":
        out /= len(parsed.trees)
    return out + parsed.init


def apply_link(parsed: ParsedModel, raw: np.ndarray) -> np.ndarray:
    """``predict`` of regressors / ``predict_proba`` of classifiers from the raw prediction: the inverse
    link of the model's loss (or, without a loss, of the model: see ``ParsedModel.link``)."""
    return parsed.link_function.inverse(raw)


def check_model_offset(parsed: ParsedModel, offset, n_rows: int, where: str) -> np.ndarray:
    """``offset`` as a float64 array of ``n_rows`` finite values; an error for a model whose own fit and
    predict take none."""
    if not parsed.offset_supported:
        raise ValueError(f"offset is supported for shrinktree regressors, whose fit and predict take one; "
                         f"{parsed.source} does not (LightGBM's init_score and XGBoost's base_margin are not "
                         "read).")
    return check_offset(offset, n_rows, where)


class ShrunkModelRegressor(RegressorMixin, _ShrunkModel):
    """A shrunk regression model (see :func:`shrinktree.shrink`)."""

    def predict(self, X, offset=None) -> np.ndarray:
        """Predicted values, shape (n_samples,) (or (n_samples, n_outputs) for multi-output trees).

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), optional
            Shrunk shrinktree regressors only: the rows' offsets (``log(exposure)`` for rates), added to
            the raw score before the inverse link, as in ``ShrinkBoostRegressor.predict``.
        """
        raw = self._raw(X, offset)
        out = apply_link(self._parsed, raw)
        return out[:, 0] if out.shape[1] == 1 else out


def _has_scores(model) -> bool:
    parsed = getattr(model, "_parsed", None)
    return parsed is None or parsed.link != "proportions"


class ShrunkModelClassifier(ClassifierMixin, _ShrunkModel):
    """A shrunk classification model (see :func:`shrinktree.shrink`)."""

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        raw = self._raw(X)
        return apply_link(self._parsed, raw)

    @available_if(_has_scores)
    def decision_function(self, X) -> np.ndarray:
        """Raw scores of boosted classifiers (log-odds, or per-class logits); forests have none."""
        raw = self._raw(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict(self, X) -> np.ndarray:
        """Predicted class labels."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_model(parsed: ParsedModel, method: str, strength, pooling_strength, stats_source: str) -> _ShrunkModel:
    cls = ShrunkModelClassifier if parsed.is_classifier else ShrunkModelRegressor
    return cls()._set_state(parsed, method, strength, pooling_strength, stats_source)


__all__ = ["ShrunkModelClassifier", "ShrunkModelRegressor", "TreeArrays", "apply_link", "check_model_offset",
           "make_model", "raw_predict"]
