"""scikit-learn estimators: ShrinkBoostRegressor and ShrinkBoostClassifier.

This module is the estimator layer: parameters, input checks, the boosting loop and prediction.
Losses live in :mod:`shrinktree.losses`, the pooling plan and each tree's empirical-Bayes inputs in
:mod:`.pooling`, the honest row split in :mod:`.honest`, growing in :mod:`.grower`.
"""

from __future__ import annotations

import inspect
import numbers
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._integrity import DIGEST_KEY, ModelIntegrityError, check_digest, state_digest
from .._numba import njit
from .._safe_state import SafeStateMixin
from .._shrinkage import effective_tests_table
from .._threads import check_n_jobs, threads
from .._tree import FlatForest, TreeArrays, digest_arrays, has_present_sets
from ..callbacks import CallbackEnv, PrintProgress
from ..losses import Loss, classification_loss, regression_loss
from .binning import BinMapper
from .categorical import FROM_DTYPE, CategoricalEncoder, check_columns, engine_codes, resolve_categorical_features
from .category_pairs import CategoryPairs, category_pairs, check_category_pairs, folding
from .category_pairs import check_compatible as check_pairs_compatible
from .category_pairs import check_min_rows as check_pair_min_rows
from .constraints import InteractionSets, resolve_interaction_cst, resolve_monotonic_cst, split_signs
from .cross_features import CrossColumns, append_crosses, check_cross_features, cross_pairs, fold_columns
from .evaluation import EvalSet
from .grower import TreeGrower, threshold_table
from .histogram import pack_rows
from .holdout_split import holdout_split
from .honest import (
    DEFAULT_MIN_LEAF_RULE,
    HONEST_FRACTION,
    check_min_leaf_rule,
    growing_split_rules,
    held_node_statistics,
    honest_split,
    row_hashes,
)
from .mixed import MixedEffectsMixin
from .pooling import MomentMemory, PoolingPlan, check_tau_memory, pool_tree, renew_leaf_values
from .predictor import add_leaf_values, add_values_from_nodes
from .random_effects import auto_groupings
from .routing import leaves_by_partition
from .validation import check_fit_weights, check_no_missing_labels, check_number, check_offset, eval_set_entries

MIN_HESSIAN = 1e-3

# How a row whose level is absent from a categorical node's growing rows is routed (the private switch
# ``_absent_rule``): ``"blend"`` (the default) goes down both children by their growing weights
# (shrinktree._tree.categorical_route); ``"side"`` follows the split's missing side, the rule of models before
# present sets, kept to reproduce them bit for bit (benchmarks/snapshot.py --set _absent_rule=side).
ABSENT_RULES = ("blend", "side")
# The training prediction of a held-out row that stopped at a node where it blends (the private switch
# ``_stopped_value``): ``"node"`` (the default), the node's pooled value: the row counted in the statistics of that
# node and its ancestors only, so its prediction is what this tree estimated there, and its next gradient is its
# residual from it; ``"blend"``, the blended value of the node's subtree (what prediction gives a new row).  Equal in
# accuracy on 28 sets, lower spread with "node" on grouseticks and epil (docs/ablations.md, "In the engine").
STOPPED_VALUES = ("node", "blend")
DEFAULT_STOPPED_VALUE = "node"


def check_absent_switches(rule, stopped_value) -> None:
    """A ``ValueError`` (before any kernel runs) unless ``rule`` is one of :data:`ABSENT_RULES` and
    ``stopped_value`` one of :data:`STOPPED_VALUES`."""
    if not isinstance(rule, str) or rule not in ABSENT_RULES:
        raise ValueError(f"_absent_rule must be one of {ABSENT_RULES}, got {rule!r}.")
    if not isinstance(stopped_value, str) or stopped_value not in STOPPED_VALUES:
        raise ValueError(f"_stopped_value must be one of {STOPPED_VALUES}, got {stopped_value!r}.")


@njit(cache=True)
def add_importances(sum_g, sum_h, l2, pooled, left, right, feature, importances):
    """Add each split's loss reduction at the pooled values (row 0) and a count (row 1) to its feature.

    The node loss is ``G v + (H + l2) v^2 / 2``; a split's reduction is its node's loss minus its children's,
    counted from 0 up.  Splits are added in node order.
    """
    n_nodes = left.shape[0]
    node_loss = np.empty(n_nodes)
    for i in range(n_nodes):
        v = pooled[i]
        node_loss[i] = sum_g[i] * v + 0.5 * (sum_h[i] + l2) * (v * v)
    for i in range(n_nodes):
        if left[i] < 0:
            continue
        reduction = node_loss[i] - node_loss[left[i]] - node_loss[right[i]]
        # np.maximum(reduction, 0.0): NaN and -0.0 kept, as before.
        importances[0, feature[i]] += reduction if (reduction >= 0.0 or np.isnan(reduction)) else 0.0
        importances[1, feature[i]] += 1.0


# The held-out statistics of a tree without held-out rows (no rows: none added).
_NO_HELD_STATISTICS = np.zeros((0, 6))


@njit(cache=True)
def add_tree_importances(extra, sum_gradients, sum_hessians, l2, pooled, left, right, feature, importances):
    """:func:`add_importances` of one tree: the node sums of its growing rows plus ``extra``'s (the held-out rows'
    statistics, :func:`~shrinktree.boosting.predictor.node_statistics` layout; no rows: none), at the pooled
    values ``pooled``.  Importance: the loss reduction each split achieves with the pooled (not raw) values, in
    the Newton space the splits were chosen in (the surrogate's, for losses that renew leaf values)."""
    if extra.shape[0] > 0:
        add_importances(sum_gradients + extra[:, 0], sum_hessians + extra[:, 1], l2, pooled, left, right, feature,
                        importances)
    else:
        add_importances(sum_gradients, sum_hessians, l2, pooled, left, right, feature, importances)


@njit(cache=True)
def finish_tree(score, extra, sum_gradients, sum_hessians, l2, left, right, feature, importances, learning_rate,
                raw_value, value, leaf_nodes, sample_indices, leaf_start, leaf_stop, held_indices, held_leaf_start,
                held_leaf_stop, out):
    """The end of a tree in one compiled call: its importances, its step, its training predictions.

    With ``score``, :func:`add_tree_importances` at the pooled values.  Then ``raw_value`` and ``value`` (``(n_nodes,
    n_outputs)``) are multiplied by ``learning_rate`` in place, and each leaf's scaled value is added to ``out`` at
    the rows of its run of ``sample_indices`` and of ``held_indices`` (no entries: no held-out rows).  The same
    operations, in the same order, as the numpy steps they replace; returns the scaled values as one column.
    """
    n_nodes = left.shape[0]
    if score:
        add_tree_importances(extra, sum_gradients, sum_hessians, l2, value[:, 0].copy(), left, right, feature,
                             importances)
    column = np.empty(n_nodes)
    for i in range(n_nodes):
        for k in range(raw_value.shape[1]):
            raw_value[i, k] *= learning_rate
            value[i, k] *= learning_rate
        column[i] = value[i, 0]
    leaf_values = np.empty(leaf_nodes.shape[0])
    for j in range(leaf_nodes.shape[0]):
        leaf_values[j] = column[leaf_nodes[j]]
    add_leaf_values(sample_indices, leaf_start, leaf_stop, leaf_values, out)
    if held_indices.shape[0] > 0:
        add_leaf_values(held_indices, held_leaf_start, held_leaf_stop, leaf_values, out)
    return column


def _ldexp(value, exponent):
    """``value * 2**exponent``; beyond float64's range it is inf or 0, without a warning."""
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(value, exponent)


def _scaled_offset(offset, exponent):
    return None if offset is None else _ldexp(offset, -exponent)


def _start_raw(baseline, offset, n_rows):
    raw = np.tile(baseline, (n_rows, 1))
    if offset is not None:
        raw += offset[:, None]
    return raw


def _check_metrics(eval_metric) -> dict:
    """``eval_metric`` as ``{name: metric(y_true, y_pred)}``: callables, a list of them, or a dict."""
    if eval_metric is None:
        return {}
    if callable(eval_metric):
        eval_metric = [eval_metric]
    if isinstance(eval_metric, dict):
        items = list(eval_metric.items())
    elif isinstance(eval_metric, (list, tuple)):
        items = [(getattr(f, "__name__", f"metric_{i}"), f) for i, f in enumerate(eval_metric)]
    else:
        raise TypeError(f"eval_metric must be a callable metric(y_true, y_pred), a list or a dict of them; got "
                        f"{eval_metric!r}.")
    for name, function in items:
        if not callable(function) or not isinstance(name, str):
            raise TypeError(f"eval_metric entries must be named callables metric(y_true, y_pred); got {function!r}.")
    return dict(items)


def _check_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"callbacks must be callables callback(env) -> bool | None; got {callback!r}.")
    return callbacks


@dataclass
class _Rows:
    """Rows of one side of the validation split (``weight`` and ``offset`` may be ``None``)."""

    X: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None
    offset: np.ndarray | None

    def take(self, index: np.ndarray) -> _Rows:
        return _Rows(self.X[index], self.y[index], None if self.weight is None else self.weight[index],
                     None if self.offset is None else self.offset[index])


@dataclass
class _FitData:
    """What every tree of one fit is grown from: binned features, codes and the binning facts."""

    binned: np.ndarray
    codes: np.ndarray
    n_levels: np.ndarray
    n_bins_non_missing: np.ndarray
    has_missing: np.ndarray
    missing_bin: int
    effective_tests: np.ndarray
    weight: np.ndarray
    constant_hessian: float
    unit_weights: bool
    row_hash: np.ndarray | None
    # Raw threshold after each bin of each numeric feature (grower.threshold_table).
    thresholds: np.ndarray
    # ``binned`` row-major for the histograms of small nodes (None for data that stays in cache).
    packed_rows: np.ndarray | None
    # Constraints in the grower's numbering: per numeric feature, and the interaction groups.
    monotonic_cst: np.ndarray | None = None
    interactions: InteractionSets | None = None
    # The fit-wide settings of its first TreeGrower (TreeGrower.fit_settings): every later tree's grower is a copy
    # with new rows (TreeGrower.for_tree), so the estimator's parameters are read once per fit.
    grower: TreeGrower | None = None

    def ends_of(self, grown, tree: TreeArrays, rows: np.ndarray) -> np.ndarray:
        """The node each of ``rows`` ends at in the grown tree (its leaf, or where it blends), by partitioning
        them node by node on the binned data (:func:`~shrinktree.boosting.routing.leaves_by_partition`)."""
        return leaves_by_partition(self.binned, self.codes, rows, grown.left, grown.right, grown.feature,
                                   grown.is_categorical, grown.bin_threshold, grown.missing_left, self.missing_bin,
                                   self.n_levels, grown.cat_offset, grown.cat_bitset, tree.present_offset,
                                   tree.present_bitset)

    def add_values_from(self, grown, tree: TreeArrays, rows: np.ndarray, nodes: np.ndarray, value: np.ndarray,
                        out: np.ndarray) -> None:
        """``out[rows] +=`` each row's value of the tree below the node it ended at: the node's own value at a
        leaf, the blended value of its subtree where it blends
        (:func:`~shrinktree.boosting.predictor.add_values_from_nodes`, on the binned data)."""
        add_values_from_nodes(self.binned, self.codes, rows, nodes, grown.left, grown.right, grown.feature,
                              grown.is_categorical, grown.bin_threshold, grown.missing_left, self.missing_bin,
                              self.n_levels, grown.cat_offset, grown.cat_bitset, tree.present_offset,
                              tree.present_bitset, tree.absent_left_share, value, out)


class _BaseShrinkBoost(SafeStateMixin, BaseEstimator):
    """Histogram gradient boosting whose node values are pooled toward their parents."""

    def __init__(self, *, shrinkage="eb", shrinkage_strength=None, eb_method="honest", learning_rate=0.1,
                 n_estimators=300, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20, l2_regularization=0.0,
                 max_bins=255, categorical_features=FROM_DTYPE,
                 monotonic_cst=None, interaction_cst=None,
                 subsample=1.0, colsample=1.0, early_stopping="auto", validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-7, random_state=None, verbose=0, n_jobs=None, importance_type="gain",
                 variance_estimator="auto", cross_features=False):
        self.shrinkage = shrinkage
        self.shrinkage_strength = shrinkage_strength
        self.eb_method = eb_method
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_bins = max_bins
        self.categorical_features = categorical_features
        self.monotonic_cst = monotonic_cst
        self.interaction_cst = interaction_cst
        self.subsample = subsample
        self.colsample = colsample
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.importance_type = importance_type
        self.variance_estimator = variance_estimator
        self.cross_features = cross_features

    # -- validation -----------------------------------------------------------------------------
    def _validate_hyperparameters(self) -> PoolingPlan:
        """Check every parameter; returns the resolved pooling plan."""
        check_number("shrinkage_strength", self.shrinkage_strength, low=0, allow_none=True)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("n_estimators", self.n_estimators, low=1, integer=True)
        check_number("max_leaf_nodes", self.max_leaf_nodes, low=2, integer=True)
        check_number("max_depth", self.max_depth, low=1, integer=True, allow_none=True)
        check_number("min_samples_leaf", self.min_samples_leaf, low=1, integer=True)
        check_number("l2_regularization", self.l2_regularization, low=0)
        check_number("max_bins", self.max_bins, low=2, high=255, integer=True)
        check_number("subsample", self.subsample, low=0, high=1, low_open=True)
        check_number("colsample", self.colsample, low=0, high=1, low_open=True)
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(f"early_stopping must be 'auto', True or False, got {self.early_stopping!r}.")
        check_number("validation_fraction", self.validation_fraction, low=0, high=1, low_open=True)
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be < 1, got {self.validation_fraction!r}.")
        check_number("n_iter_no_change", self.n_iter_no_change, low=1, integer=True)
        check_number("tol", self.tol, low=0)
        check_number("verbose", self.verbose, low=0, integer=True)
        if self.importance_type not in ("gain", "split"):
            raise ValueError(f"importance_type must be 'gain' or 'split', got {self.importance_type!r}.")
        check_cross_features(self.cross_features)
        if check_category_pairs(getattr(self, "_category_pairs", False)):  # private measurement switch
            check_pairs_compatible(self)
            check_pair_min_rows(getattr(self, "_category_pair_min_rows", 0.0))
        self._check_loss_parameters()
        self._honest_design()  # the private measurement switches, checked before any kernel runs
        check_tau_memory(getattr(self, "_tau_memory", 0.0))
        return PoolingPlan.resolve(self.shrinkage, self.shrinkage_strength, self.eb_method, self.variance_estimator)

    def _check_loss_parameters(self) -> None:
        """Subclasses check the parameters of their loss here."""

    def _weights_with_class_weight(self, y, sample_weight):
        return sample_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate_fit_input(self, X, y, sample_weight):
        self._categorical = None
        check_columns(X)
        selection = self.categorical_features
        if not hasattr(X, "shape") and not (isinstance(selection, str) or selection is None):
            X = np.asarray(X, dtype=object)
        mask = resolve_categorical_features(X, selection)
        if mask is not None and mask.any():
            self._categorical = CategoricalEncoder()
            X = self._categorical.fit_transform(X, mask)
        if not self._y_numeric:
            check_no_missing_labels(y)
        with np.errstate(over="ignore", invalid="ignore"):  # scikit-learn's finiteness check sums X
            # float32 stays float32 (binning reads it as it is: no float64 copy of the matrix); the
            # bins and so the model are those of the same values as float64.
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan",
                                 y_numeric=self._y_numeric, order="C")
        if sample_weight is not None:
            sample_weight = check_fit_weights(_check_sample_weight(sample_weight, X, dtype=np.float64,
                                                                    ensure_non_negative=True))
        return X, y, sample_weight

    def _resolve_constraints(self, n_features: int, n_trees_per_iteration: int) -> None:
        """Check ``monotonic_cst`` and ``interaction_cst`` against the fitted columns (see :mod:`.constraints`)."""
        names = getattr(self, "feature_names_in_", None)
        categorical = np.zeros(n_features, dtype=bool) if self._categorical is None else self._categorical.mask_
        self._monotonic_cst = resolve_monotonic_cst(self.monotonic_cst, n_features, names, categorical,
                                                    n_trees_per_iteration)
        self._interaction_cst = resolve_interaction_cst(self.interaction_cst, n_features, names)

    def _validate_predict_input(self, X, keep_float32=False):
        check_is_fitted(self, "_trees")
        return self._encode_features(X, keep_float32)

    def _encode_features(self, X, keep_float32=False):
        """``X`` as the float matrix the trees route on, checked against the fitted features.

        With ``keep_float32``, float32 input stays float32 (no copy): the prediction kernels compare
        its values as float64, so the routing is the same.
        """
        check_columns(X)
        encoder = getattr(self, "_categorical", None)
        if encoder is not None:
            if not hasattr(X, "shape"):
                X = np.asarray(X, dtype=object)
            if len(X.shape) != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1] if len(X.shape) == 2 else X.shape} features, but "
                                 f"{type(self).__name__} is expecting {self.n_features_in_} features as input.")
            if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
                if list(map(str, X.columns)) != list(map(str, self.feature_names_in_)):
                    raise ValueError("The feature names should match those that were passed during fit "
                                     "(same names, same order).")
            X = encoder.transform(X)
        with np.errstate(over="ignore", invalid="ignore"):  # scikit-learn's finiteness check sums X
            dtype = (np.float64, np.float32) if keep_float32 else np.float64
            X = validate_data(self, X, dtype=dtype, ensure_all_finite="allow-nan", reset=False, order="C")
        X = append_crosses(X, getattr(self, "_crosses", None))
        pairs = getattr(self, "_pairs", None)
        return X if pairs is None else pairs.append(X)

    # -- fitting --------------------------------------------------------------------------------
    def _fit_or_keep_state(self, X, y, sample_weight, offset=None, eval_set=None, eval_sample_weight=None,
                           callbacks=None, eval_metric=None):
        """Fit; when fitting fails, restore every attribute as it was, so an earlier fit stays intact."""
        saved = dict(self.__dict__)
        try:
            n_rows = len(X)
        except TypeError:
            n_rows = 0
        try:
            check_n_jobs(self.n_jobs)
            self.__dict__.pop("_random_effects_fit", None)
            # the default path calls _fit directly: the weight warning's stacklevel counts these frames
            spec = getattr(self, "random_effects", None)
            rule = getattr(self, "_auto_random_effects", None)
            if spec is None and rule is not None:
                # Private measurement switch (benchmarks/ablations.py, "random effect: main grouping"): the
                # categorical columns that become random intercepts, chosen from the data.
                spec = auto_groupings(X, y, self._is_classifier, *rule)
            with threads(self.n_jobs, n_rows):
                if spec is None:
                    return self._fit(X, y, sample_weight, offset, eval_set, eval_sample_weight, callbacks,
                                     eval_metric)
                return self._fit_mixed(X, y, sample_weight, offset, eval_set, eval_sample_weight, callbacks,
                                       eval_metric, spec=spec)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, sample_weight, offset, eval_set, eval_sample_weight, callbacks, eval_metric):
        plan = self._validate_hyperparameters()
        callbacks = _check_callbacks(callbacks)
        metrics = _check_metrics(eval_metric)
        pairs = cross_pairs(self, X, y, sample_weight, offset)  # None without cross_features
        combined = category_pairs(self, X, y, sample_weight, offset)  # None without _category_pairs
        X, y, sample_weight = self._validate_fit_input(X, y, sample_weight)
        offset = check_offset(offset, X.shape[0], "fit")
        y = self._encode_y(y)
        sample_weight = self._weights_with_class_weight(y, sample_weight)
        loss = self._make_loss()
        loss.check_target(y)
        check_absent_switches(getattr(self, "_absent_rule", "blend"),
                              getattr(self, "_stopped_value", DEFAULT_STOPPED_VALUE))
        self._resolve_constraints(X.shape[1], loss.n_trees_per_iteration)
        if sample_weight is not None:
            # Zero-weight rows carry no information; dropping them keeps weights equivalent to repetition.
            keep = sample_weight > 0
            if not np.all(keep):
                X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
                offset = None if offset is None else offset[keep]
                if self._categorical is not None:
                    X = self._categorical.restrict_to_present(X)
        X = self._attach_crosses(X, pairs, sample_weight)
        X = self._attach_category_pairs(X, combined)
        for stale in ("validation_score_", "best_iteration_"):
            self.__dict__.pop(stale, None)  # from an earlier fit with early stopping
        user_sets = self._check_eval_sets(eval_set, eval_sample_weight, offset is not None)
        seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=3)
        # Random effects (the offset-update hook of .mixed) move the offsets during the fit: no early stopping.
        use_early_stopping = getattr(self, "_offset_update", None) is None and (self.early_stopping is True or (
            self.early_stopping == "auto" and X.shape[0] > 10_000 and plan.early_stops_by_default))
        train, validation = _Rows(X, y, sample_weight, offset), None
        if use_early_stopping and not user_sets:
            train, validation = self._validation_split(train, int(seeds[1]))
        data = self._training_data(train, plan, loss, seeds)
        evaluated = ([] if validation is None else [("validation", validation)]) + [
            (f"valid_{i}", rows) for i, rows in enumerate(user_sets)]
        monitor = None if not use_early_stopping else ("valid_0" if user_sets else "validation")
        self._boost(data, plan, loss, train, evaluated, monitor, callbacks, metrics, seeds)
        return self

    def _attach_crosses(self, X, pairs, weight):
        """``X`` with this fit's cross columns appended (``pairs``: :func:`.cross_features.cross_pairs`).

        The columns' statistics come from the training rows; an earlier fit's columns are dropped first.
        """
        self.__dict__.pop("_crosses", None)
        if pairs is None or len(pairs) == 0:  # off, or fewer than two numeric columns with a positive gain
            return X
        self._crosses = CrossColumns.fit(X, pairs, weight, getattr(self, "_cross_scaling", "standardized"))
        return self._crosses.append(X)

    def _attach_category_pairs(self, X, pairs):
        """``X`` with this fit's category pair columns appended (``pairs``: :func:`.category_pairs.category_pairs`).

        Their levels are the combinations in the training rows (after zero-weight rows are dropped, so with
        the encoder's final codes); an earlier fit's pairs are dropped first.
        """
        self.__dict__.pop("_pairs", None)
        if pairs is None or len(pairs) == 0:  # off, or fewer than two category columns with a positive gain
            return X
        encoder = self._categorical
        self._pairs = CategoryPairs.fit(X, pairs, encoder.categorical_index_, encoder.n_levels_,
                                        getattr(self, "_category_pair_min_rows", 0.0))
        if len(self._pairs) == 0:  # every pair had too few rows per combination
            del self._pairs
            return X
        return self._pairs.append(X)

    def _check_eval_sets(self, eval_set, eval_sample_weight, with_offset: bool) -> list[_Rows]:
        """The user's ``eval_set`` as rows mapped like ``X`` (levels unseen in training count as missing)."""
        eval_set = eval_set_entries(eval_set, eval_sample_weight,
                                    "(X, y) tuples (or (X, y, offset) for a model with an offset)")
        out = []
        for i, entry in enumerate(eval_set):
            X_eval, y_eval = entry[0], entry[1]
            offset = entry[2] if len(entry) == 3 else None
            if with_offset and offset is None:
                raise ValueError(f"eval_set[{i}] needs an offset: the model is fitted with one; pass (X, y, offset).")
            try:
                X_eval = self._encode_features(X_eval)
                y_eval = self._encode_eval_y(y_eval)
                if len(y_eval) != X_eval.shape[0]:
                    raise ValueError(f"X has {X_eval.shape[0]} rows and y has {len(y_eval)}.")
                weight = None if eval_sample_weight is None else eval_sample_weight[i]
                if weight is not None:
                    weight = check_fit_weights(_check_sample_weight(weight, X_eval, dtype=np.float64,
                                                                    ensure_non_negative=True))
                offset = check_offset(offset, X_eval.shape[0], "fit")
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"eval_set[{i}]: {exc}") from exc
            out.append(_Rows(X_eval, y_eval, weight, offset))
        return out

    def _validation_split(self, rows: _Rows, seed: int) -> tuple[_Rows, _Rows]:
        """Hold out ``validation_fraction`` of the rows for early stopping (stratified when possible)."""
        n_samples = rows.X.shape[0]
        n_validation = int(np.ceil(self.validation_fraction * n_samples))
        if n_validation < 1 or n_samples - n_validation < 1:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={self.validation_fraction} of the "
                f"{n_samples} rows, which leaves {'no validation' if n_validation < 1 else 'no training'} "
                "rows; pass early_stopping=False or a validation_fraction that leaves rows on both sides.")
        labels = rows.y if self._is_classifier else None
        train_index, validation_index = holdout_split(n_samples, n_validation, seed, labels)
        return rows.take(train_index), rows.take(validation_index)

    def _training_data(self, train: _Rows, plan: PoolingPlan, loss: Loss, seeds) -> _FitData:
        """Bin the training rows and gather everything the trees are grown from."""
        X, n_features = train.X, train.X.shape[1]
        encoder = self._categorical
        if encoder is None:
            self._numeric_index = np.arange(n_features, dtype=np.int64)
            self._categorical_index = np.zeros(0, dtype=np.int64)
            n_levels = np.zeros(0, dtype=np.int64)
            X_numeric = X
        else:
            # Cross columns (after the user's) are numeric, category pairs (after those) categorical.
            pairs = getattr(self, "_pairs", None)
            n_pairs = 0 if pairs is None else len(pairs)
            numeric = np.ones(n_features, dtype=bool)
            numeric[:len(encoder.mask_)] = ~encoder.mask_
            numeric[n_features - n_pairs:] = False
            self._numeric_index = np.flatnonzero(numeric).astype(np.int64)
            self._categorical_index = encoder.categorical_index_
            n_levels = encoder.n_levels_
            if n_pairs:
                self._categorical_index = np.concatenate([self._categorical_index,
                                                          np.arange(n_features - n_pairs, n_features)])
                n_levels = np.concatenate([n_levels, pairs.n_levels]).astype(np.int64)
            X_numeric = np.ascontiguousarray(X[:, self._numeric_index])
        self.is_categorical_ = np.zeros(self.n_features_in_, dtype=bool)
        self.is_categorical_[self._categorical_index[self._categorical_index < self.n_features_in_]] = True
        codes = engine_codes(X, self._categorical_index, n_levels)
        self._bin_mapper = BinMapper(self.max_bins, random_state=int(seeds[2])).fit(X_numeric, train.weight)
        binned = self._bin_mapper.transform(X_numeric)
        unit_weights = train.weight is None
        return _FitData(
            binned=binned, codes=codes, n_levels=n_levels, n_bins_non_missing=self._bin_mapper.n_bins_non_missing_,
            # NaN is exactly what lands in the missing bin; one uint8 row at a time needs no n x d temporary.
            has_missing=np.array([bool((row == self._bin_mapper.missing_bin_).any()) for row in binned], dtype=bool),
            missing_bin=self._bin_mapper.missing_bin_,
            effective_tests=effective_tests_table(self.max_bins + 1),
            weight=np.ones(X.shape[0]) if unit_weights else np.ascontiguousarray(train.weight),
            # Every unweighted hessian equal to 1: histograms can count rows instead.
            constant_hessian=1.0 if (unit_weights and loss.constant_hessian) else 0.0, unit_weights=unit_weights,
            row_hash=row_hashes(binned, codes, train.y, self._bin_mapper.missing_bin_) if plan.honest else None,
            thresholds=threshold_table(self._bin_mapper), packed_rows=pack_rows(binned),
            monotonic_cst=None if self._monotonic_cst is None else self._monotonic_cst[self._numeric_index],
            interactions=None if self._interaction_cst is None else InteractionSets(
                self._interaction_cst, self._numeric_index, self._categorical_index),
        )

    def _boost(self, data: _FitData, plan: PoolingPlan, loss: Loss, train: _Rows, evaluated: list, monitor,
               callbacks: list, metrics: dict, seeds):
        """The boosting iterations, scoring the ``evaluated`` sets; early stopping on the ``monitor`` set."""
        start_time = time.perf_counter()
        rng = np.random.default_rng(seeds[0])
        # Fit on y / 2^e (e: the binary exponent of max |y|) so that no sum of squared gradients
        # overflows or underflows whatever the target's units.  Dividing by a power of two is exact,
        # so the model is the same up to that factor, multiplied back into it at the end.
        y_exponent = self._target_exponent(train.y) if loss.scale_equivariant else 0
        loss = loss.rescaled(y_exponent)
        # Unscaled (exponent 0: every classifier, and targets already below 1 in size) the target is read as it is:
        # no copy of it (8 MB at 1,000,000 rows); nothing in the loop writes to it.
        y = train.y if y_exponent == 0 else _ldexp(train.y, -y_exponent)
        offset = _scaled_offset(train.offset, y_exponent)
        # Under y -> c y the reported loss scales with c^loss_degree and split gains with c^gain_degree.
        loss_exponent, gain_exponent = loss.loss_degree * y_exponent, loss.gain_degree * y_exponent
        weight = data.weight
        n_samples, n_features = data.binned.shape[1], len(self._numeric_index) + len(self._categorical_index)
        n_trees_per_iteration = loss.n_trees_per_iteration
        self._baseline = loss.baseline(y, weight, offset)
        raw = _start_raw(self._baseline, offset, n_samples)
        gradients = np.empty((n_trees_per_iteration, n_samples))
        # Unweighted rows under a constant-hessian loss: every hessian the loss writes is its row's weight, 1.0,
        # so the hessians share the unit weights' memory (each iteration rewrites the same ones in place).
        hessians = (weight.reshape(1, n_samples) if data.constant_hessian > 0 and n_trees_per_iteration == 1
                    else np.empty((n_trees_per_iteration, n_samples)))
        sets = [EvalSet(name, rows.X, _ldexp(rows.y, -y_exponent), rows.weight,
                        _scaled_offset(rows.offset, y_exponent), self._baseline, self._bin_mapper,
                        self._numeric_index, self._categorical_index, data.n_levels) for name, rows in evaluated]
        if self.verbose:
            callbacks = [PrintProgress(), *callbacks]
        # The training loss costs a pass over every row per iteration: track it only when reported.
        track_train_loss = bool(callbacks) or monitor is not None
        metric = loss.name

        def in_target_units(value):
            return float(_ldexp(value, loss_exponent))

        def extra_metrics(name, eval_rows, rows):
            if metrics:
                prediction = self._prediction_from_raw(_ldexp(eval_rows.raw, y_exponent), loss)
                truth = self._target_values(rows.y)
                for metric_name, function in metrics.items():
                    self.evals_result_[name][metric_name].append(float(function(truth, prediction)))

        self.evals_result_ = {name: {metric: [in_target_units(s.loss(loss))], **{m: [] for m in metrics}}
                              for name, s in zip((n for n, _ in evaluated), sets)}
        for (name, rows), eval_rows in zip(evaluated, sets):
            extra_metrics(name, eval_rows, rows)
        if track_train_loss:
            self.evals_result_ = {"training": {metric: [in_target_units(loss.loss(y, raw, weight))]},
                                  **self.evals_result_}
        tol = _ldexp(self.tol, -loss_exponent)  # in the fitted (scaled) loss units

        self._trees = []
        self.pooling_strength_ = []
        importances = []  # per iteration: (gain, split count) of every feature
        n_features_per_tree = max(1, int(np.ceil(self.colsample * n_features)))
        # Without column subsampling every tree may split on every feature (read only, shared by the trees),
        # except the numeric features with one bin and no missing value: no threshold of theirs separates rows,
        # so their histograms and scans are skipped (the same trees: they never offer a split).
        splittable = (data.n_bins_non_missing > 1) | data.has_missing
        every_numeric = np.ascontiguousarray(splittable, dtype=np.bool_)
        every_categorical = np.ones(len(self._categorical_index), dtype=np.bool_)
        n_rows_per_tree = max(1, int(np.ceil(self.subsample * n_samples)))
        # Private measurement switch (benchmarks/eb_methods.py): score splits by pooled values with the
        # previous tree's k, as LightGBM's path_smooth does; off (-1) in normal use, see docs/shrinkage.md.
        pooled_gain_k = [getattr(self, "_pooled_split_gain_k", -1.0)] * n_trees_per_iteration
        # Private measurement switch ``_tau_memory`` (benchmarks/ablations.py, "tau memory"): the discount of
        # the moment sums of tau^2 carried from tree to tree of each output; 0 (the default) carries none.
        decay = check_tau_memory(getattr(self, "_tau_memory", 0.0))
        memories = [MomentMemory(decay) if decay > 0 else None for _ in range(n_trees_per_iteration)]
        best_score, best_iteration, no_improvement = -np.inf, 0, 0
        honest_fraction, alternate = self._honest_design()

        offset_update = getattr(self, "_offset_update", None)  # random effects: see .mixed
        for iteration in range(self.n_estimators):
            if offset_update is not None:
                shift = offset_update(iteration, y, raw[:, 0], weight, y_exponent)
                if shift is not None:
                    raw[:, 0] += shift
            loss.start_iteration(y, raw, weight)
            loss.gradients(y, raw, weight, gradients, hessians)
            if n_rows_per_tree < n_samples:
                rows = np.sort(rng.choice(n_samples, n_rows_per_tree, replace=False))
            else:
                rows = None
            if n_features_per_tree < n_features:
                feature_mask = np.zeros(n_features, dtype=np.bool_)
                feature_mask[rng.choice(n_features, n_features_per_tree, replace=False)] = True
                cat_feature_mask = np.ascontiguousarray(feature_mask[self._categorical_index])
                feature_mask = np.ascontiguousarray(feature_mask[self._numeric_index] & splittable)
            else:
                feature_mask, cat_feature_mask = every_numeric, every_categorical
            held_out = None
            if plan.honest:
                # Each row's side depends only on its content and the iteration, so a row of
                # weight w and w copies of it always land on the same side.  With ``alternate`` the
                # rows that grew the previous tree are the ones held out of this one.
                held_out = honest_split(data.row_hash, rows, iteration, seeds[0], honest_fraction, alternate)
            iteration_trees, iteration_k = [], []
            iteration_importance = np.zeros((2, n_features))
            for k in range(n_trees_per_iteration):
                tree, pooling_k, (local, local_threshold) = self._grow_and_pool(
                    data, plan, loss, gradients[k], hessians[k], rows, held_out, feature_mask, cat_feature_mask,
                    pooled_gain_k[k], iteration_importance, raw[:, k], y, memory=memories[k])
                if pooled_gain_k[k] >= 0:
                    pooled_gain_k[k] = pooling_k if np.isfinite(pooling_k) else 1e12
                for eval_rows in sets:
                    eval_rows.add_tree(tree, local, local_threshold, k)
                iteration_trees.append(tree)
                iteration_k.append(pooling_k)
            self._trees.append(iteration_trees)
            self.pooling_strength_.append(iteration_k)
            importances.append(iteration_importance)
            if track_train_loss:
                self.evals_result_["training"][metric].append(in_target_units(loss.loss(y, raw, weight)))
            for (name, rows), eval_rows in zip(evaluated, sets):
                score = -eval_rows.loss(loss)
                self.evals_result_[name][metric].append(in_target_units(-score))
                extra_metrics(name, eval_rows, rows)
                if name == monitor:
                    if best_score == -np.inf or score > best_score + tol:
                        best_score, best_iteration, no_improvement = score, iteration + 1, 0
                    else:
                        no_improvement += 1
            stop = monitor is not None and no_improvement >= self.n_iter_no_change
            if callbacks:
                env = CallbackEnv(self, iteration + 1, self.n_estimators, self.evals_result_, self._trees,
                                  iteration_k, time.perf_counter() - start_time)
                stop = any([bool(callback(env)) for callback in callbacks]) or stop
            if stop:
                break

        if offset_update is not None:
            offset_update(None, y, raw[:, 0], weight, y_exponent)  # the finished fixed part, no shift
        if monitor is not None and best_iteration > 0:
            # Early stopping chose the iteration with the best validation loss: keep the model there.
            self.best_iteration_ = best_iteration
            del self._trees[best_iteration:], self.pooling_strength_[best_iteration:], importances[best_iteration:]
        self.n_iter_ = len(self._trees)
        if y_exponent != 0:
            self._baseline = np.ldexp(self._baseline, y_exponent)
            with np.errstate(over="ignore", under="ignore"):  # as _ldexp, entered once for every tree
                for tree in (t for trees in self._trees for t in trees):
                    tree.value = np.ldexp(tree.value, y_exponent)
                    tree.raw_value = np.ldexp(tree.raw_value, y_exponent)
                    tree.gain = np.ldexp(tree.gain, gain_exponent)
        self.pooling_strength_ = np.array(self.pooling_strength_)
        self.train_score_ = -np.array(self.evals_result_["training"][metric]) if track_train_loss else np.array([])
        if monitor is not None:
            self.validation_score_ = -np.array(self.evals_result_[monitor][metric])
        self._importances = np.sum(importances, axis=0) if importances else np.zeros((2, n_features))
        self._forest = FlatForest.from_trees([t for trees in self._trees for t in trees])
        self._tree_output = np.tile(np.arange(n_trees_per_iteration), self.n_iter_)

    def _honest_design(self) -> tuple[float, bool]:
        """The held-out share and whether trees alternate sides, from the private measurement switches.

        ``_honest_fraction`` (default ``HONEST_FRACTION``) and ``_honest_alternate`` (default False: every tree
        draws its own held-out rows) exist for benchmarks/ablations.py only; unset, the fit is today's design.
        The third switch, ``_min_leaf_of_all_rows`` (:meth:`_grow_min_leaf`), is checked here too.
        """
        check_min_leaf_rule(getattr(self, "_min_leaf_of_all_rows", DEFAULT_MIN_LEAF_RULE))
        fraction = getattr(self, "_honest_fraction", HONEST_FRACTION)
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 < fraction < 1.0:
            raise ValueError(f"_honest_fraction must be a number strictly between 0 and 1, got {fraction!r}.")
        return float(fraction), bool(getattr(self, "_honest_alternate", False))

    def _grow_min_leaf(self, data: _FitData, held_out) -> tuple[int, float]:
        """``min_samples_leaf`` as the grower counts it on the rows that choose the splits, and its tie tolerance.

        An honest tree whose growing rows (their weight, in a weighted fit) are fewer than
        ``2 * min_samples_leaf`` asks only their share of it
        (:func:`~shrinktree.boosting.honest.growing_min_samples_leaf`, the rule the distributed booster
        applies too); the private switch ``_min_leaf_of_all_rows`` (benchmarks/ablations.py) picks another.
        Such a tree breaks ties between features up to rounding by their order
        (:func:`~shrinktree.boosting.honest.growing_tie_tolerance`).
        """
        if held_out is None:
            return self.min_samples_leaf, 0.0
        grow_rows = held_out[0]
        size = len(grow_rows) if data.unit_weights else float(np.sum(data.weight[grow_rows]))
        # _honest_design's fraction (the switches were checked before the first tree; not again per tree).
        fraction = float(getattr(self, "_honest_fraction", HONEST_FRACTION))
        rule = getattr(self, "_min_leaf_of_all_rows", DEFAULT_MIN_LEAF_RULE)
        return growing_split_rules(self.min_samples_leaf, size, fraction, rule)

    def _grow_and_pool(self, data: _FitData, plan: PoolingPlan, loss: Loss, gradients, hessians, rows, held_out,
                       feature_mask, cat_feature_mask, pooled_gain_k, importances, raw, y, memory=None):
        """Grow one tree, pool its node values, and add its predictions to ``raw`` (training rows).

        Returns the tree (features as column indices of ``X``), its pooling strength, and the grower's
        local feature indices and bin thresholds (for predicting on binned data).
        """
        binned, codes, weight = data.binned, data.codes, data.weight
        grow_rows, estimation_rows = rows, None
        if held_out is not None:
            grow_rows, estimation_rows = held_out
        min_samples_leaf, tie_tolerance = self._grow_min_leaf(data, held_out)
        # One tree an iteration: no later tree reads the held-out rows in their order, so no copy of them.
        held_in_place = loss.n_trees_per_iteration == 1
        if data.grower is not None:
            grower = data.grower.for_tree(gradients, hessians, grow_rows, estimation_rows, feature_mask,
                                          cat_feature_mask, min_samples_leaf, tie_tolerance, pooled_gain_k,
                                          held_in_place)
        else:
            grower = TreeGrower(
                binned, gradients, hessians, weight, grow_rows, data.n_bins_non_missing, data.has_missing,
                data.missing_bin, feature_mask, data.effective_tests, max_leaf_nodes=self.max_leaf_nodes,
                max_depth=self.max_depth, min_samples_leaf=min_samples_leaf, tie_tolerance=tie_tolerance,
                l2_regularization=float(self.l2_regularization), min_hessian=MIN_HESSIAN, pooling_k=pooled_gain_k,
                codes=codes, n_levels=data.n_levels, cat_feature_mask=cat_feature_mask,
                # Private measurement switch ``_level_mode`` (benchmarks/ablations.py): another level scan.
                level_mode=getattr(self, "_level_mode", plan.level_mode),
                level_k=plan.strength, pooled_level_gain=getattr(self, "_pooled_level_gain", plan.pooled_level_gain),
                level_method=plan.level_method,
                constant_hessian=data.constant_hessian, unit_weights=data.unit_weights,
                compute_within_ss=plan.in_sample_eb, monotonic_cst=data.monotonic_cst,
                interaction_cst=data.interactions, held_indices=estimation_rows, packed_rows=data.packed_rows,
                partition_held_in_place=held_in_place,
                blend_absent=getattr(self, "_absent_rule", "blend") == "blend",
            )
            data.grower = grower.fit_settings()
        grown = grower.grow()
        local = (grown.feature, grown.bin_threshold)
        held = None
        if estimation_rows is not None:
            # The grower partitioned the held-out rows too: the rows ending at each leaf, or stopping at a node
            # where they blend, are a run of grown.held_indices (they count in that node and its ancestors).
            held = held_node_statistics(grown.held_indices, *grown.held_runs(), grown.parent, gradients, hessians,
                                        weight)
        l2 = float(grower.l2)  # the fit's, as the grower read it at the first tree
        tree = grown.node_arrays(self._numeric_index, self._categorical_index, data.thresholds, l2,
                                 held)
        sign = split_signs(tree, self._monotonic_cst)
        pooling_k = pool_tree(tree, plan, grown, held, sign, memory)
        # Private measurement switch (benchmarks/loss_pooling.py): keep the surrogate's Newton values.
        renews = loss.renews_leaves and getattr(self, "_renew_leaf_values", True)
        extra = _NO_HELD_STATISTICS if held is None else held
        if renews:
            # Importances at the surrogate's pooled values, before they are renewed.
            add_tree_importances(extra, grown.sum_gradients, grown.sum_hessians, l2,
                                 np.ascontiguousarray(tree.value[:, 0]), grown.left, grown.right, tree.feature,
                                 importances)
            # The node each held-out row ends at: rows that stopped at an internal node reach no leaf, so they
            # take no part in the renewed values (renew_leaf_values reads the rows of leaves only).
            held_end = None if estimation_rows is None else grown.held_end_nodes()
            renew_leaf_values(tree, loss, grown, grown.held_indices, held_end, y, raw, weight, sign)

        # Training predictions: grown rows from the partition, held-out rows from their leaves (those that
        # stopped where they blend: the blended value of the node's subtree), rows outside the subsample by
        # partitioning them node by node (boosting/routing.py), blending as the held-out rows do.
        # A multiclass tree's column of raw is strided: a contiguous copy, added to and written back, keeps
        # one compiled specialization of the kernels for every fit.
        out = raw if raw.flags.c_contiguous else np.ascontiguousarray(raw)
        has_held = estimation_rows is not None
        # Importances (unless renewed above), the learning rate and the leaves' rows in one compiled call.
        value = finish_tree(
            not renews, extra, grown.sum_gradients, grown.sum_hessians, l2,
            grown.left, grown.right, tree.feature, importances, float(self.learning_rate), tree.raw_value,
            tree.value, grown.leaf_nodes, grown.sample_indices, grown.leaf_start, grown.leaf_stop,
            grown.held_indices if has_held else grown.sample_indices[:0],
            grown.held_leaf_start if has_held else grown.leaf_start[:0],
            grown.held_leaf_stop if has_held else grown.leaf_stop[:0], out)
        if estimation_rows is not None:
            stopped = grown.held_stopped_nodes
            if stopped is not None and len(stopped):
                if getattr(self, "_stopped_value", DEFAULT_STOPPED_VALUE) == "node":
                    add_leaf_values(grown.held_indices, grown.held_stopped_start, grown.held_stopped_stop,
                                    value[stopped], out)
                else:
                    lengths = grown.held_stopped_stop - grown.held_stopped_start
                    # Positions of the stopped runs in grown.held_indices, run after run.
                    run_first = np.cumsum(lengths) - lengths
                    positions = np.arange(lengths.sum()) + np.repeat(grown.held_stopped_start - run_first, lengths)
                    # int64 rows, as outside_rows: one compiled specialization of the walk
                    data.add_values_from(grown, tree, grown.held_indices[positions].astype(np.int64),
                                         np.repeat(stopped, lengths), value, out)
        if rows is not None:
            outside = np.ones(binned.shape[1], dtype=np.bool_)
            outside[rows] = False
            outside_rows = np.flatnonzero(outside)
            if len(outside_rows):
                data.add_values_from(grown, tree, outside_rows, data.ends_of(grown, tree, outside_rows), value, out)
        if out is not raw:
            raw[:] = out
        return tree, pooling_k, local

    # -- saving and restoring -------------------------------------------------------------------
    def _prediction_state(self) -> list:
        """Everything predictions depend on, for the digest that detects a damaged restored model.

        A tree's present-set arrays count only in models that have a present set, so that models saved
        before present sets existed keep their digests.
        """
        encoder = self._categorical
        with_present_sets = has_present_sets(t for trees in self._trees for t in trees)
        return [
            self.n_features_in_, self._baseline, self._numeric_index, self._categorical_index,
            getattr(self, "classes_", None),
            [[digest_arrays(tree, with_present_sets) for tree in trees] for trees in self._trees],
            None if encoder is None else [encoder.mask_, encoder.categorical_index_, encoder.n_levels_,
                                          encoder.from_text_, list(encoder.levels_)],
            # Only models with cross columns add them: the digests of all others stay as they were.
            *([] if getattr(self, "_crosses", None) is None else [[self._crosses.pairs, self._crosses.operations,
                                                                   self._crosses.location, self._crosses.scale]]),
            *([] if getattr(self, "_pairs", None) is None else [[self._pairs.pairs, self._pairs.right_levels,
                                                                 self._pairs.keys, self._pairs.offsets]]),
        ]

    def __getstate__(self):
        state = super().__getstate__()
        if "_trees" in state:
            # The flat forest is derived from the trees: rebuilt on restore rather than trusted.
            state = {key: value for key, value in state.items() if key not in ("_forest", "_tree_output")}
            state[DIGEST_KEY] = state_digest(self._prediction_state())
        return state

    def __setstate__(self, state):
        state = dict(state)
        expected = state.pop(DIGEST_KEY, None)
        # A model saved before a parameter existed was fitted as its default fits (defaults keep earlier models).
        for name, default in self._get_param_defaults().items():
            state.setdefault(name, default)
        super().__setstate__(state)
        if "_trees" in self.__dict__:
            try:
                self._restore_prediction_state(expected)
            except ModelIntegrityError:
                raise
            except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
                raise ModelIntegrityError(f"The restored {type(self).__name__} is damaged: {exc}") from exc

    @classmethod
    def _get_param_defaults(cls) -> dict:
        """Every constructor parameter's default."""
        signature = inspect.signature(cls.__init__)
        return {name: p.default for name, p in signature.parameters.items()
                if name != "self" and p.kind == p.KEYWORD_ONLY}

    def _restore_prediction_state(self, expected_digest) -> None:
        """Check a restored model (digest and structure) and rebuild the arrays the kernels index."""
        check_digest(expected_digest, self._prediction_state(), type(self).__name__)
        n_features = self.n_features_in_
        if not isinstance(n_features, numbers.Integral) or n_features < 1:
            raise ModelIntegrityError(f"n_features_in_ must be a positive int, got {n_features!r}.")
        baseline = self._baseline
        n_outputs = 1 if not self._is_classifier or self.n_classes_ == 2 else self.n_classes_
        if not (isinstance(baseline, np.ndarray) and baseline.dtype.kind == "f" and baseline.shape == (n_outputs,)):
            raise ModelIntegrityError(f"The baseline must be {n_outputs} float(s).")
        if self._is_classifier and len(self.classes_) != self.n_classes_:
            raise ModelIntegrityError("classes_ and n_classes_ disagree.")
        crosses = getattr(self, "_crosses", None)
        if crosses is not None and not isinstance(crosses, CrossColumns):
            raise ModelIntegrityError(f"The cross columns are a {type(crosses).__name__}, not CrossColumns.")
        pairs = getattr(self, "_pairs", None)
        if pairs is not None and not isinstance(pairs, CategoryPairs):
            raise ModelIntegrityError(f"The category pairs are a {type(pairs).__name__}, not CategoryPairs.")
        # The trees split on the cross columns and category pairs too, numbered after the user's.
        n_tree_features = (n_features + (0 if crosses is None else len(crosses))
                           + (0 if pairs is None else len(pairs)))
        for index in (self._numeric_index, self._categorical_index):
            if index.dtype.kind not in "iu" or np.any(index < 0) or np.any(index >= n_tree_features):
                raise ModelIntegrityError("The feature index arrays are out of range.")
        if self._categorical is not None:
            self._categorical.validate(n_features)
        if crosses is not None:
            crosses.validate(n_features, np.isin(np.arange(n_features), self._categorical_index))
        if pairs is not None:
            pairs.validate(n_features, np.isin(np.arange(n_features), self._categorical_index))
        if not isinstance(self._trees, list) or not self._trees:
            raise ModelIntegrityError("The model has no trees.")
        for trees in self._trees:
            if not isinstance(trees, list) or len(trees) != n_outputs:
                raise ModelIntegrityError(f"Every iteration must hold {n_outputs} tree(s).")
            for tree in trees:
                if not isinstance(tree, TreeArrays):
                    raise ModelIntegrityError(f"A tree is a {type(tree).__name__}, not TreeArrays.")
                tree.validate(n_features=n_tree_features, n_outputs=1)
        self._forest = FlatForest.from_trees([t for trees in self._trees for t in trees])
        self._tree_output = np.tile(np.arange(n_outputs), len(self._trees))

    # -- prediction -----------------------------------------------------------------------------
    @property
    def categories_(self) -> list:
        """Per feature, the levels seen at fit time (``None`` for numeric features)."""
        check_is_fitted(self, "_trees")
        out = [None] * self.n_features_in_
        if self._categorical is not None:
            for j, levels in zip(self._categorical.categorical_index_, self._categorical.levels_):
                out[j] = levels
        return out

    def tree_input(self, X) -> np.ndarray:
        """The float matrix that the trees in ``trees_`` route on.

        Numeric features as given; categorical features as the float code of each level (its position
        in ``categories_``), NaN for missing values and levels not seen at fit time.  Use it to evaluate
        ``trees_`` outside the estimator (for example the post-hoc shrinkage wrapper).

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of float64, shape (n_samples, n_features)
            With ``cross_features``, shape ``(n_samples, n_features + len(cross_features_))``: the cross
            columns the trees also split on follow the columns of ``X``; with the private switch
            ``_category_pairs`` the codes of the category pairs follow those (NaN where either column is
            missing or the combination was not seen at fit; :mod:`.category_pairs`).
        """
        return self._validate_predict_input(X)

    @property
    def cross_features_(self) -> list[tuple[int, int, str]]:
        """The cross columns the trees split on after the ``n_features_in_`` columns of ``X``, in order:
        ``(i, j, "difference" or "product")`` of columns ``i`` and ``j`` (empty without ``cross_features``)."""
        check_is_fitted(self, "_trees")
        crosses = getattr(self, "_crosses", None)
        return [] if crosses is None else crosses.description()

    @property
    def trees_(self) -> list[list[TreeArrays]]:
        """Per iteration, the list of its trees (one per class for multiclass) as node arrays."""
        check_is_fitted(self, "_trees")
        return self._trees

    def _raw_predict(self, X, offset=None):
        X = self._validate_predict_input(X, keep_float32=True)
        offset = check_offset(offset, X.shape[0], "predict")
        with threads(self.n_jobs, X.shape[0]):
            raw = self._baseline + self._forest.predict_sum(X, self._tree_output, len(self._baseline))
        return raw if offset is None else raw + offset[:, None]

    def apply(self, X) -> np.ndarray:
        """Leaf index of every row in every tree (node ids as in ``trees_[i][k].to_frame()``).

        A row whose level of a categorical feature is absent from a node's present set (levels unseen
        at fit included, as NaN where the node's growing rows had no NaN) goes down both children of
        that node and reaches no single leaf: its entry is that node, the first where it blends (an
        internal node: ``trees_[i][k].left[node] != -1``).

        Returns
        -------
        ndarray of int64
            Shape ``(n_samples, n_iter_)`` for the regressor and ``(n_samples, n_iter_, n_trees_per_iteration)``
            for the classifier (one tree per class for multiclass, one for binary), as scikit-learn's
            gradient boosting.
        """
        X = self._validate_predict_input(X, keep_float32=True)
        with threads(self.n_jobs, X.shape[0]):
            leaves = self._forest.apply(X)
        if not self._is_classifier:
            return leaves
        return leaves.reshape(X.shape[0], self.n_iter_, len(self._baseline))

    @property
    def feature_importances_(self) -> np.ndarray:
        """Per feature: ``importance_type="gain"``, the loss reduction of its splits at the pooled values
        (in each tree's Newton space), normalized to sum to one; ``"split"``, the number of splits on it."""
        check_is_fitted(self, "_trees")
        crosses = folding(getattr(self, "_crosses", None), getattr(self, "_pairs", None))
        if self.importance_type == "split":
            # A split on a cross column is a split on both its parents.
            return fold_columns(self._importances[1], self.n_features_in_, crosses, share=1.0).astype(np.int64)
        gain = fold_columns(self._importances[0], self.n_features_in_, crosses)  # half to each parent
        total = gain.sum()
        return gain / total if total > 0 else gain

    def _staged_raw_predict(self, X, offset=None):
        X = self._validate_predict_input(X)
        offset = check_offset(offset, X.shape[0], "predict")
        raw = _start_raw(np.asarray(self._baseline, dtype=np.float64), offset, X.shape[0])
        n_out = len(self._baseline)
        for trees in self._trees:
            forest = FlatForest.from_trees(trees)
            raw = raw + forest.predict_sum(X, np.arange(len(trees)), n_out)
            yield raw.copy()

    # -- explanation ----------------------------------------------------------------------------
    def predict_contributions(self, X, offset=None):
        """Exact SHAP values (path-dependent TreeSHAP) of every feature for every row, on the raw scale.

        Computed from the pooled node values, with each node's weighted training row count as its
        cover, following the trees' own routing (missing values, categorical splits).  A method of its
        own rather than a ``predict(X, pred_contrib=True)`` flag: ``predict`` keeps one meaning (values,
        or class labels) and one shape, as scikit-learn's meta-estimators and pipelines expect, and the
        contributions add up to the raw score (``decision_function`` of a classifier), not to what
        ``predict`` returns.  See ``docs/explain.md``.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), default=None
            Regressors fitted with an offset: the rows' offsets, added to the last column.

        Returns
        -------
        ndarray of float64
            Shape ``(n_samples, n_features + 1)`` (regression and binary classification) or
            ``(n_samples, n_classes, n_features + 1)`` (multiclass, one block per class).  The last
            column is the expected value (plus the offset); each row (block) sums to the raw score:
            ``predict`` of identity-link regressors, ``log(predict)`` of log-link ones (Poisson, gamma,
            Tweedie), ``decision_function`` of classifiers.  ``reshape(n_samples, -1)`` gives
            LightGBM's ``pred_contrib`` layout.
        """
        from ..explain import predict_contributions

        with threads(self.n_jobs, len(X) if hasattr(X, "__len__") else 0):
            return predict_contributions(self, X, offset)



_COMMON_PARAMETERS = """\
    shrinkage : {"eb", "hs", "none"}, default="eb"
        How each node's Newton value is pooled toward its parent's pooled value.
        ``"eb"`` estimates the pooling strength of every tree from its own gradient statistics
        (empirical Bayes); ``"hs"`` uses the fixed ``shrinkage_strength`` (Hierarchical
        Shrinkage); ``"none"`` is plain boosting.
    shrinkage_strength : float, default=None
        ``lambda`` of ``"hs"``; ignored otherwise.
    eb_method : {"honest", "calibrated", "naive"}, default="honest"
        How ``"eb"`` keeps split selection from inflating the between-node spread.
        ``"honest"``: each tree is grown on half of the rows and its pooling strength is
        estimated on the other half (the values still use every row); ``"calibrated"``: every
        row grows the tree and the spread is corrected by the gain that noise alone gives
        for the number of candidate thresholds searched; ``"naive"``: no correction (for
        comparison only: it pools far too little).  A row's half depends on its content
        (bins, categories, target) and the iteration, so repeated rows share a side; a
        rescaled target draws other halves (the other methods give the same model up to
        the scale).
    learning_rate : float, default=0.1
    n_estimators : int, default=300
        Maximum number of boosting iterations.  Three times LightGBM's default on purpose:
        pooling pulls trees that only fit noise back to their root, so extra iterations cost
        little variance, while the step each tree takes is smaller than in plain boosting.
        ``python benchmarks/accuracy.py --variants`` measured a lower test error with 300 trees
        than with 100 on 11 of 13 real datasets, the other two within 0.001 (``docs/accuracy.md``).
    max_leaf_nodes : int, default=31
        Leaves per tree; trees grow best-first (leaf-wise).
    max_depth : int or None, default=None
    min_samples_leaf : int, default=20
        Smallest leaf a split may make, counted on the rows that choose the splits (with the default
        honest ``"eb"``, the half of the rows that grows each tree).  With ``sample_weight`` it counts
        weight, the summed weights of the leaf's rows, so that integer weights give the model of repeated
        rows; scikit-learn's ``HistGradientBoosting*`` and decision trees count rows instead (the trees
        have ``min_weight_fraction_leaf`` for weight), and LightGBM's ``min_data_in_leaf`` counts rows
        estimated from each side's share of the weighted hessian.  A tree whose growing rows are fewer than
        ``2 * min_samples_leaf`` (tiny data, where it could not make a single split) asks only their share
        of it, ``ceil(min_samples_leaf / 2)``, so that its leaves hold about ``min_samples_leaf`` rows of all
        (:func:`~shrinktree.boosting.honest.growing_min_samples_leaf`; ``docs/ablations.md``).
    l2_regularization : float, default=0.0
    max_bins : int, default=255
        Bins for non-missing values (at most 255); missing values get their own bin.
    categorical_features : "from_dtype", None, or array-like of int, str or bool, default="from_dtype"
        Which features are categorical.  ``"from_dtype"``: the DataFrame columns of ``category``,
        ``object`` or string dtype (numpy input has none); indices, column names or a boolean mask
        select features explicitly (numeric values are levels by value and must be integers);
        ``None``: no categorical features.  Any number of levels is allowed.  A categorical split
        sends a set of levels left: the levels present in a node are pooled toward the node's value
        (``n / (n + k)``, ``k`` estimated from the spread of the levels in that node for
        ``shrinkage="eb"``, ``shrinkage_strength`` for ``"hs"``, none for ``"none"``), sorted, and
        every prefix is a candidate.  Missing values and levels not seen at fit time go to each
        split's learned default side.  See ``docs/categorical.md``.
    subsample : float, default=1.0
        Fraction of rows drawn (without replacement) for each iteration.
    colsample : float, default=1.0
        Fraction of features each iteration may split on.
    monotonic_cst : array-like of int of shape (n_features,), dict or None, default=None
        Monotonic constraint of each feature, as in scikit-learn: ``1`` increasing, ``-1`` decreasing,
        ``0`` none; by position, or a dict by feature name (fit on a DataFrame; unlisted features are
        unconstrained).  Numeric features only: a constraint on a categorical feature raises a
        ``ValueError``.  Splits on a constrained feature keep their children's values in order and value
        bounds propagate down the tree as in scikit-learn's HistGradientBoosting; the pooling keeps the
        order (the two children of a constrained split share one pooling factor, the larger of theirs),
        so predictions are monotone along every constrained feature for every ``shrinkage`` and loss,
        and after :func:`shrinktree.shrink` (``docs/shrinkage.md``, "Pooling keeps monotone constraints").
        Only non-missing values are ordered: missing values go to each split's learned side.  In the
        classifier it constrains the log-odds of ``classes_[1]``, for binary targets only (a multiclass
        fit raises a ``ValueError``, as in scikit-learn).
    interaction_cst : {"pairwise", "no_interactions"}, sequence of lists, tuples or sets, or None, default=None
        Groups of features allowed to interact, as in scikit-learn: every root-to-leaf path of a tree
        splits on features of one group only.  A group lists feature positions or (fit on a DataFrame)
        column names, categorical features included; the features in no group form one more group
        together.  ``"pairwise"``: every pair of features is a group; ``"no_interactions"``: every
        feature is a group of its own (an additive model).
    early_stopping : "auto" or bool, default="auto"
        "auto" enables it when there are more than 10,000 rows and ``shrinkage`` is not
        ``"eb"``: with data-estimated pooling, trees that only fit noise are pooled back to
        their root, and the validation rows are worth more as training rows.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-7
    random_state : int, RandomState or None
    verbose : int, default=0
        Print a progress line per iteration when positive (the :class:`~shrinktree.callbacks.PrintProgress`
        callback).
    n_jobs : int or None, default=None
        Threads for fitting and prediction: ``None`` uses every core that no other running process holds
        when the fit (or prediction) starts, so a busy machine is not made slower by threads that wait
        for their share of a core; ``-1`` uses every core regardless, ``-2`` all but one.
        The model is bit-identical for any value (every parallel kernel splits its work by feature or
        by row and adds float64 sums in a fixed order); fits on fewer than 20,000 rows run on one thread.
    importance_type : {"gain", "split"}, default="gain"
        What ``feature_importances_`` measures (LightGBM's names): ``"gain"``, the loss reduction of a
        feature's splits at the pooled values, normalized to sum to one; ``"split"``, its number of splits.
    variance_estimator : {"auto", "moments", "ml", "reml", "bayes"}, default="auto"
        How the variance components behind every pooling strength ``k = sigma^2 / tau^2`` are estimated
        (:mod:`shrinktree.variance_components`; ``docs/shrinkage.md``, "Variance components").  For the
        tree pooling (``shrinkage="eb"``: the two children of every split, ``sigma^2`` from the
        within-node residuals) and the level pooling of categorical splits (the levels present in a
        node): ``"moments"`` the method of moments; ``"ml"``, ``"reml"`` maximum (restricted)
        likelihood; ``"bayes"`` the posterior mean of ``tau^2`` under the uniform shrinkage prior
        (``shrinkage="hs"`` and ``"none"`` estimate nothing there).  ``"auto"`` is ``"moments"`` there:
        with the default ``eb_method="honest"`` no other estimator was better on the measured datasets
        (``docs/shrinkage.md``, "Which estimator"); for ``random_effects`` it is ``"reml"``.
    cross_features : bool, int or "auto", default=False
        Add numeric cross columns that the trees may split on: a short probe fit (25 trees, otherwise
        these parameters) ranks the numeric columns of ``X`` by gain importance, and for every pair of the
        top 4 (``True``) or top ``m`` (an int ``m >= 2``) with a positive gain the trees also see their
        difference (each parent divided by its training standard deviation, so that units do not matter)
        and their product (each parent minus its training mean).  An interaction such as ``x_i > x_j``
        is then one split instead of a staircase.  Categorical columns are never crossed; a missing
        parent makes the cross missing.  ``predict`` and every other method take the columns of ``X`` as
        before (``n_features_in_`` and ``feature_names_in_`` are the user's); ``feature_importances_`` and
        ``predict_contributions`` give each parent half of its crosses' gain and contributions (a split
        count to both), so contributions still sum to the raw score; ``cross_features_`` lists the
        columns; ``tree_input`` and ``trees_`` include them (after the user's columns).  ``"auto"``: the
        top 4's crosses are kept only if they win a race, a fit without and a fit with them on 80% of
        the rows scored on the other 20% (``cross_race_``), and the model is then fitted on every row
        with the winner; this costs two more fits.  Not combinable
        with ``monotonic_cst``, ``interaction_cst`` or ``random_effects`` (a ``ValueError``): a cross
        mixes two constrained columns.  Off by default: on the benchmark datasets they lower the error
        where the signal is such an interaction (diamonds, computers: 3-4%) and raise it on most others
        unless raced (``docs/ablations.md``, "Cross features").
"""

_COMMON_ATTRIBUTES = """\
    Attributes
    ----------
    trees_ : list of list of TreeArrays
        Each tree's node arrays: ``raw_value``, pooled ``value`` and ``pooling_factor`` per node.
    pooling_strength_ : ndarray of shape (n_iter_, n_trees_per_iteration)
        The estimated ``k = sigma^2/tau^2`` of each tree (``inf``: pooled to the root).
    feature_importances_ : ndarray
        See ``importance_type``.
    is_categorical_ : ndarray of bool
        Which features were handled as categorical.
    categories_ : list
        Per feature, the levels seen at fit time (the code of a level is its position), ``None``
        for numeric features.
    n_iter_ : int
        Number of iterations fitted (fewer than ``n_estimators`` when early stopping stopped).
    train_score_ : ndarray
        Negative training loss before the first and after every iteration, in the target's units
        (only recorded with early stopping or ``verbose``; empty otherwise).
    validation_score_ : ndarray
        Negative loss on the set early stopping watches (the first ``eval_set``, or the internal
        ``validation_fraction`` split) before the first and after every iteration that ran; only set
        when early stopping is used.
    best_iteration_ : int
        With early stopping, the number of iterations at the best validation loss: the model keeps
        those (``n_iter_ == best_iteration_``), the later ones are dropped.
    evals_result_ : dict
        ``{set: {metric: [loss before the first and after every iteration]}}`` in the target's units:
        ``"training"`` (tracked with early stopping, ``verbose`` or callbacks), ``"validation"`` (the
        internal early-stopping split) and ``"valid_0"``, ``"valid_1"``, ... for ``eval_set``; the
        metric is the loss's name.
    cross_features_ : list of (int, int, str)
        With ``cross_features``: the cross columns the trees split on after the columns of ``X``, as
        ``(i, j, "difference" or "product")`` of columns ``i`` and ``j``; empty otherwise.
    cross_race_ : dict
        With ``cross_features="auto"`` (and at least one pair to cross): the held-out loss ``"without"`` and
        ``"with"`` the crosses, and whether they were ``"kept"``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names.
"""


class ShrinkBoostRegressor(RegressorMixin, MixedEffectsMixin, _BaseShrinkBoost):
    """Regressor docstring: composed below from the shared parameter and attribute texts."""

    _is_classifier = False
    _y_numeric = True

    def __init__(self, *, loss="squared_error", quantile=None, huber_delta=None, power=1.5, shrinkage="eb",
                 shrinkage_strength=None, eb_method="honest", learning_rate=0.1,
                 n_estimators=300, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20, l2_regularization=0.0,
                 max_bins=255, categorical_features=FROM_DTYPE, subsample=1.0, colsample=1.0, early_stopping="auto",
                 monotonic_cst=None, interaction_cst=None,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-7, random_state=None, verbose=0,
                 n_jobs=None, importance_type="gain", random_effects=None, variance_estimator="auto",
                 cross_features=False):
        super().__init__(shrinkage=shrinkage, shrinkage_strength=shrinkage_strength, eb_method=eb_method,
            learning_rate=learning_rate, n_estimators=n_estimators, max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth, min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_bins=max_bins, categorical_features=categorical_features, subsample=subsample, colsample=colsample,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            monotonic_cst=monotonic_cst, interaction_cst=interaction_cst,
            n_iter_no_change=n_iter_no_change, tol=tol, random_state=random_state, verbose=verbose,
            n_jobs=n_jobs, importance_type=importance_type, variance_estimator=variance_estimator,
            cross_features=cross_features)
        self.loss = loss
        self.quantile = quantile
        self.huber_delta = huber_delta
        self.power = power
        self.random_effects = random_effects

    def _check_loss_parameters(self):
        self._make_loss()
        if self.loss != "quantile" and self.quantile is not None:
            raise ValueError(f"quantile={self.quantile!r} is only used with loss='quantile' (loss={self.loss!r}).")

    def _make_loss(self) -> Loss:
        return regression_loss(self.loss, quantile=self.quantile, huber_delta=self.huber_delta, power=self.power)

    def fit(self, X, y, sample_weight=None, *, offset=None, eval_set=None, eval_sample_weight=None,
            eval_metric=None, callbacks=None) -> ShrinkBoostRegressor:
        # The docstring is _fit_docstring(...) below: the parameters both fits share are written once.
        return self._fit_or_keep_state(X, y, sample_weight, offset, eval_set, eval_sample_weight, callbacks,
                                       eval_metric)

    def _encode_y(self, y):
        return np.ascontiguousarray(y, dtype=np.float64)

    def _target_values(self, y):
        return y

    def _prediction_from_raw(self, raw, loss):
        return loss.link.inverse(raw[:, 0])

    def _encode_eval_y(self, y):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional, got shape {y.shape}.")
        try:
            y = np.ascontiguousarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numbers ({exc}).") from exc
        self._make_loss().check_target(y)
        return y

    def _target_exponent(self, y) -> int:
        largest = float(np.max(np.abs(y))) if len(y) else 0.0
        return int(np.frexp(largest)[1]) if largest > 0 else 0

    def predict(self, X, offset=None, include_random_effects=True) -> np.ndarray:
        """Predicted values on the response scale (the mean for the log-link losses).

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), default=None
            The rows' offsets, when the model was fitted with one (``log(exposure)`` for rates).
        include_random_effects : bool, default=True
            With ``random_effects``: add each row's group intercept to the fixed part (0 for a group
            not seen in fit: the population level); ``False`` gives the fixed part only.
        """
        if getattr(self, "_random_effects_fit", None) is None:
            return self._make_loss().link.inverse(self._raw_predict(X, offset)[:, 0])
        return self._make_loss().link.inverse(self._raw_predict(X, offset, include_random_effects)[:, 0])

    def staged_predict(self, X, offset=None):
        """Predictions after each iteration (a generator)."""
        link = self._make_loss().link
        for raw in self._staged_raw_predict(X, offset):
            yield link.inverse(raw[:, 0])


class ShrinkBoostClassifier(ClassifierMixin, MixedEffectsMixin, _BaseShrinkBoost):
    """Classifier docstring: composed below from the shared parameter and attribute texts."""

    _is_classifier = True
    _y_numeric = False

    def __init__(self, *, class_weight=None, shrinkage="eb", shrinkage_strength=None, eb_method="honest",
                 learning_rate=0.1,
                 n_estimators=300, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20, l2_regularization=0.0,
                 max_bins=255, categorical_features=FROM_DTYPE, subsample=1.0, colsample=1.0, early_stopping="auto",
                 monotonic_cst=None, interaction_cst=None,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-7, random_state=None, verbose=0,
                 n_jobs=None, importance_type="gain", random_effects=None, variance_estimator="auto",
                 cross_features=False):
        super().__init__(shrinkage=shrinkage, shrinkage_strength=shrinkage_strength, eb_method=eb_method,
            learning_rate=learning_rate, n_estimators=n_estimators, max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth, min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_bins=max_bins, categorical_features=categorical_features, subsample=subsample, colsample=colsample,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            monotonic_cst=monotonic_cst, interaction_cst=interaction_cst,
            n_iter_no_change=n_iter_no_change, tol=tol, random_state=random_state, verbose=verbose,
            n_jobs=n_jobs, importance_type=importance_type, variance_estimator=variance_estimator,
            cross_features=cross_features)
        self.class_weight = class_weight
        self.random_effects = random_effects

    def _check_loss_parameters(self):
        weights = self.class_weight
        if not (weights is None or weights == "balanced" or isinstance(weights, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict mapping classes to weights; "
                             f"got {weights!r}.")

    def _weights_with_class_weight(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        try:
            per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=self.classes_[y.astype(int)])
        except (ValueError, KeyError) as exc:
            raise ValueError(f"class_weight {self.class_weight!r} does not fit the classes {self.classes_.tolist()}: "
                             f"{exc}") from exc
        if np.any(~np.isfinite(per_class)) or np.any(per_class < 0):
            raise ValueError("class_weight values must be finite and non-negative.")
        weights = per_class[y.astype(np.int64)]
        return check_fit_weights(weights if sample_weight is None else sample_weight * weights)

    def fit(self, X, y, sample_weight=None, *, eval_set=None, eval_sample_weight=None, eval_metric=None,
            callbacks=None) -> ShrinkBoostClassifier:
        # The docstring is _fit_docstring(...) below: the parameters both fits share are written once.
        return self._fit_or_keep_state(X, y, sample_weight, None, eval_set, eval_sample_weight, callbacks,
                                       eval_metric)

    def _encode_y(self, y):
        check_classification_targets(y)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"The classifier needs at least 2 classes in y; got only one class: {self.classes_.tolist()}."
            )
        self.n_classes_ = len(self.classes_)
        return self._label_encoder.transform(y).astype(np.float64)

    def _target_exponent(self, y) -> int:
        return 0  # class indices

    def _target_values(self, y):
        return self.classes_[y.astype(np.int64)]

    def _prediction_from_raw(self, raw, loss):
        return loss.link.inverse(raw)

    def _encode_eval_y(self, y):
        check_no_missing_labels(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional, got shape {y.shape}.")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels not seen in training: {unseen[:5].tolist()}.")
        return self._label_encoder.transform(y).astype(np.float64)

    def _make_loss(self) -> Loss:
        loss = classification_loss(self.n_classes_)
        # Private measurement switch (benchmarks/multiclass.py): the unscaled diagonal hessian p (1 - p).
        if self.n_classes_ > 2 and getattr(self, "_diagonal_multiclass_hessian", False):
            loss.hessian_scale = 1.0
        return loss

    def _proba_from_raw(self, raw):
        return classification_loss(self.n_classes_).link.inverse(raw)

    def _classifier_raw(self, X, include_random_effects):
        if getattr(self, "_random_effects_fit", None) is None:
            return self._raw_predict(X)
        return self._raw_predict(X, None, include_random_effects)

    def decision_function(self, X, include_random_effects=True):
        """Raw scores: log-odds (binary, shape (n,)) or per-class logits (shape (n, n_classes)).

        With ``random_effects``, ``include_random_effects`` adds each row's group intercepts to the
        log-odds (0 for a group not seen in fit); ``False`` gives the fixed part only.
        """
        raw = self._classifier_raw(X, include_random_effects)
        return raw[:, 0] if self.n_classes_ == 2 else raw

    def predict_proba(self, X, include_random_effects=True):
        """Class probabilities, columns in the order of ``classes_`` (``include_random_effects``: see
        :meth:`decision_function`)."""
        return self._proba_from_raw(self._classifier_raw(X, include_random_effects))

    def _labels_from_raw(self, raw):
        # Decide on the raw scores (not rounded probabilities) so predict agrees with decision_function.
        index = (raw[:, 0] > 0).astype(np.int64) if self.n_classes_ == 2 else np.argmax(raw, axis=1)
        return self.classes_[index]

    def predict(self, X, include_random_effects=True):
        """Predicted class labels (``include_random_effects``: see :meth:`decision_function`)."""
        return self._labels_from_raw(self._classifier_raw(X, include_random_effects))

    def staged_predict_proba(self, X):
        """Class probabilities after each iteration (a generator)."""
        for raw in self._staged_raw_predict(X):
            yield self._proba_from_raw(raw)

    def staged_decision_function(self, X):
        """Raw scores after each iteration (a generator), shaped like :meth:`decision_function`."""
        for raw in self._staged_raw_predict(X):
            yield raw[:, 0] if self.n_classes_ == 2 else raw

    def staged_predict(self, X):
        """Predicted labels after each iteration (a generator)."""
        for raw in self._staged_raw_predict(X):
            yield self._labels_from_raw(raw)



_REGRESSOR_INTRO = """\
Gradient-boosted regression trees with hierarchical (partial-pooling) node shrinkage.

    Parameters
    ----------
    loss : str or object, default="squared_error"
        ``"squared_error"``, ``"absolute_error"``, ``"huber"`` (threshold ``huber_delta``),
        ``"quantile"`` (level ``quantile``), or, with a log link for counts, rates and positive
        amounts, ``"poisson"``, ``"gamma"`` and ``"tweedie"`` (variance power ``power``): these
        predict on the response scale, and an ``offset`` (such as ``log(exposure)``) passed to
        ``fit`` and ``predict`` models rates.  Or a custom objective: an object with
        ``gradients(y, raw) -> (gradient, hessian)`` (see :class:`shrinktree.losses.CustomLoss`).
        Absolute error and quantile leaves hold weighted quantiles of the residuals, pooled with
        the factors of the row-mass surrogate (``docs/shrinkage.md``, "Pooling under every loss").
    quantile : float, default=None
        The quantile of ``loss="quantile"``, strictly between 0 and 1 (``None``: the median).
    huber_delta : float, default=None
        The threshold of ``loss="huber"`` in the target's units; ``None`` sets it before every
        iteration to the 0.9 quantile of the absolute residuals.
    power : float, default=1.5
        The variance power of ``loss="tweedie"``, strictly between 1 and 2.
    random_effects : str, int, tuple or list of them, default=None
        Grouping columns of ``X`` (names, or indices for arrays) modelled as random intercepts, as
        ``(1 | group)`` in lme4, with ``loss="squared_error"`` or ``"poisson"``: the boosted trees fit
        the fixed part without those columns, and each grouping's intercepts are pooled toward zero
        with their own variance component (REML, or ``variance_estimator``).  A list gives several
        (crossed or nested) groupings; a tuple of columns in the list is their combination, e.g.
        ``["school", ("school", "class")]`` for classes nested in schools.  ``predict`` adds a row's
        intercepts (0 for a missing or unseen group; ``include_random_effects=False`` leaves them
        out).  Fitted attributes ``variance_components_``, ``random_effects_`` and ``n_mixed_iter_``;
        see ``docs/mixed_effects.md``.
"""
_CLASSIFIER_INTRO = """\
Gradient-boosted classification trees with hierarchical (partial-pooling) node shrinkage.

    Binary targets use the log loss with one tree per iteration; more classes use the softmax
    loss with one tree per class and iteration.  Labels may be of any type.

    Parameters
    ----------
    class_weight : "balanced", dict or None, default=None
        Weights of the classes, multiplied into ``sample_weight``: ``"balanced"`` gives class ``c``
        the weight ``n_samples / (n_classes * n_c)``; a dict maps labels to weights (others get 1).
    random_effects : str, int, tuple or list of them, default=None
        Binary classification only: grouping columns of ``X`` modelled as random intercepts on the
        log-odds (PQL variance components, conditional modes), as for the regressor; see
        ``docs/mixed_effects.md``.
"""
_CLASSIFIER_ATTRIBUTES = """\
    classes_ : ndarray
        The class labels, in the order of ``predict_proba``'s columns.
    n_classes_ : int
"""
def _fit_docstring(y_doc: str, offset_doc: str = "", eval_set_offset: str = "") -> str:
    """The ``fit`` docstring of an estimator: its own ``y`` (and ``offset``) entries, the shared rest."""
    return f"""Fit the boosted, pooled ensemble.

        When fitting fails (invalid data or parameters), the estimator keeps the state of its
        previous fit unchanged.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
            Numeric features (NaN marks a missing value) and categorical features (see
            ``categorical_features``; missing values allowed).
        y : array-like of shape (n_samples,)
            {y_doc}
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights, as in scikit-learn: a row of weight 2 counts as two rows,
            so integer weights give the model of repeated rows (``min_samples_leaf`` counts weight), and
            zero-weight rows are dropped.
            The pooling strength is estimated from how much data each node holds, so the weights'
            total matters: a mean weight outside [0.5, 2] raises
            :class:`~shrinktree.exceptions.SampleWeightScaleWarning` unless the weights look like
            counts (integers that vary).  Pass relative weights
            (survey, importance or inverse-probability weights) as
            ``sample_weight / sample_weight.mean()``.  Positive weights must lie in
            [1e-100, 1e100].{offset_doc}
        eval_set : list of (X, y) tuples, default=None
            Sets scored with the model's loss after every iteration (``evals_result_``), mapped like
            ``X`` (levels unseen in training count as missing).  With early stopping the first one is
            watched instead of an internal ``validation_fraction`` split.{eval_set_offset}
        eval_sample_weight : list of array-like or None, default=None
            One weight array (or ``None``) per ``eval_set`` entry.
        eval_metric : callable, list or dict of callables, default=None
            More metrics ``metric(y_true, y_pred) -> float`` recorded for every eval set after every
            iteration in ``evals_result_`` under their ``__name__`` (or dict key); ``y_pred`` is what
            ``predict`` returns for a regressor and ``predict_proba`` for a classifier, so scikit-learn's
            metrics work as they are.  Early stopping still watches the loss.
        callbacks : list of callables, default=None
            Called after every iteration with a :class:`~shrinktree.callbacks.CallbackEnv`; one that
            returns ``True`` stops training (the model keeps the iterations so far).

        Returns
        -------
        self
        """

ShrinkBoostRegressor.__doc__ = _REGRESSOR_INTRO + _COMMON_PARAMETERS + "\n" + _COMMON_ATTRIBUTES
ShrinkBoostClassifier.__doc__ = (_CLASSIFIER_INTRO + _COMMON_PARAMETERS + "\n" + _COMMON_ATTRIBUTES
                                 + _CLASSIFIER_ATTRIBUTES)

ShrinkBoostRegressor.fit.__doc__ = _fit_docstring(
    "Finite target values (non-negative for ``\"poisson\"`` and ``\"tweedie\"``, positive\n"
    "            for ``\"gamma\"``).",
    offset_doc="""
        offset : array-like of shape (n_samples,), default=None
            Added to every row's raw score (the log of the mean for the log-link losses): pass
            ``log(exposure)`` to model a rate.  The same offset must then be passed to ``predict``.""",
    eval_set_offset=" With an ``offset`` the\n            entries are ``(X, y, offset)``.")
ShrinkBoostClassifier.fit.__doc__ = _fit_docstring(
    "Class labels of any type (at least two classes; no missing labels).")
