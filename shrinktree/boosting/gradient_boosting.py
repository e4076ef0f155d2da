"""scikit-learn estimators: ShrinkBoostRegressor and ShrinkBoostClassifier."""

from __future__ import annotations

import numbers
import sys
import time
import warnings
from dataclasses import fields

import numpy as np
import pandas as pd
from numba import njit, prange
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._integrity import DIGEST_KEY, ModelIntegrityError, check_digest, state_digest
from .._safe_state import encode, restore
from .._shrinkage import (
    SHRINKAGE_MODES,
    categorical_null_gain,
    effective_tests_table,
    null_gain_factor,
    shrink_tree_values,
    within_variance,
)
from .._threads import threads_for_rows
from .._tree import FlatForest, TreeArrays
from ..exceptions import SampleWeightScaleWarning
from .binning import BinMapper
from .categorical import FROM_DTYPE, CategoricalEncoder, check_columns, engine_codes, resolve_categorical_features
from .grower import TreeGrower
from .loss import BinaryLogLoss, MultinomialLogLoss, SquaredError
from .predictor import add_leaf_values, add_tree_binned, add_values_by_leaf, leaves_binned, node_statistics
from .splitting import LEVELS_EB, LEVELS_FIXED_K, LEVELS_RAW

MIN_HESSIAN = 1e-3
# Categorical partitions are scored by the Newton gain of the pooled level sums, except with
# eb_method="calibrated", whose null correction is that of a scan maximizing the raw gain
# (see docs/categorical.md for the measurements behind this choice).
POOLED_LEVEL_GAIN = {"honest": True, "naive": True, "calibrated": False}
EB_METHODS = ("honest", "calibrated", "naive")
HONEST_FRACTION = 0.5
# Weights up to this keep every sum of squared (weighted) gradients far below float64's overflow,
# and positive weights from MIN_SAMPLE_WEIGHT keep products of weights and hessians clear of underflow.
MAX_SAMPLE_WEIGHT = 1e100
MIN_SAMPLE_WEIGHT = 1e-100
# Weights are frequency weights, so their total sets how much data the pooling believes it has: a mean
# weight outside this range is worth a warning (see docs/shrinkage.md, "Sample weights").
TYPICAL_MEAN_WEIGHT = (0.5, 2.0)


@njit(cache=True)
def _mix64(x):
    # splitmix64 finalizer: a cheap, well-spread 64-bit hash.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(parallel=True, cache=True)
def hash_rows(binned, y_bits):
    """A 64-bit hash of each row's bins and target (``y`` viewed as uint64): identical rows hash alike."""
    n_features, n_rows = binned.shape
    out = np.empty(n_rows, dtype=np.uint64)
    for i in prange(n_rows):
        h = _mix64(y_bits[i])
        for f in range(n_features):
            h = _mix64(h ^ (np.uint64(binned[f, i]) + np.uint64(f) * np.uint64(257)))
        out[i] = h
    return out


@njit(parallel=True, cache=True)
def hash_rows_with_codes(row_hash, codes):
    """Mix the categorical codes into the row hashes of :func:`hash_rows`."""
    n_features, n_rows = codes.shape
    out = np.empty(n_rows, dtype=np.uint64)
    for i in prange(n_rows):
        h = row_hash[i]
        for f in range(n_features):
            h = _mix64(h ^ (np.uint64(codes[f, i]) + np.uint64(f + 1) * np.uint64(0x9E3779B97F4A7C15)))
        out[i] = h
    return out


@njit(parallel=True, cache=True)
def _held_out_mask_kernel(row_hash, salt, fraction):
    out = np.empty(row_hash.shape[0], dtype=np.bool_)
    threshold = np.uint64(fraction * 18446744073709551615.0)
    for i in prange(row_hash.shape[0]):
        out[i] = _mix64(row_hash[i] ^ salt) < threshold
    return out


def _split_rows(is_held, rows):
    """(rows that grow the tree, rows held out), or ``None`` when one side would be empty."""
    if rows is not None:
        is_held_rows = is_held[rows]
        grow_rows, held_rows = rows[~is_held_rows], rows[is_held_rows]
    else:
        grow_rows, held_rows = np.flatnonzero(~is_held), np.flatnonzero(is_held)
    if len(grow_rows) == 0 or len(held_rows) == 0:
        return None
    return grow_rows.astype(np.int64, copy=False), held_rows.astype(np.int64, copy=False)


def _ldexp(value, exponent):
    """``value * 2**exponent``; beyond float64's range it is inf or 0, without a warning."""
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(value, exponent)


def _held_out_mask(row_hash, iteration, seed):
    """Rows held out of growing tree ``iteration`` to estimate its pooling strength honestly."""
    salt = np.uint64((int(seed) * 1_000_003 + iteration * 7919 + 1) % (2**63))
    return _held_out_mask_kernel(row_hash, salt, HONEST_FRACTION)


def _check_number(name, value, low=None, high=None, integer=False, low_open=False, allow_none=False):
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}.")


def _check_no_missing_labels(y) -> None:
    """Class labels may be of any type, but none may be missing (NaN, None, ``pd.NA``, ``NaT``)."""
    if y is None:
        return  # scikit-learn's validation says that y is required
    try:
        labels = np.asarray(y, dtype=object).ravel()
    except (TypeError, ValueError):
        return  # scikit-learn's target validation reports what is wrong with such a y
    missing = np.flatnonzero(pd.isna(labels))
    if len(missing):
        rows = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"y has {len(missing)} missing class label(s) (NaN, None or pd.NA), at rows {rows}; "
                         "drop those rows or give them a label.")


def _check_fit_weights(sample_weight: np.ndarray) -> np.ndarray:
    """Reject weights the arithmetic cannot carry; warn when their scale changes the pooling.

    Weights are frequency weights (a row of weight 2 counts as two rows), so integer weights give the
    model of repeated rows.  The pooling strength then depends on the weights' total: a mean weight far
    from 1 makes the data look larger or smaller than it is.  Unless the weights look like counts
    (integers that vary), :class:`SampleWeightScaleWarning` says so, with what to pass for relative
    weights.
    """
    positive = sample_weight[sample_weight > 0]
    if len(positive) == 0:
        raise ValueError("sample_weight must have at least one positive entry.")
    if np.max(positive) > MAX_SAMPLE_WEIGHT:
        raise ValueError(
            f"sample_weight values above {MAX_SAMPLE_WEIGHT:g} are not supported: sums of squared "
            f"gradients would overflow float64. Rescale the weights (got max {np.max(positive):g})."
        )
    if np.min(positive) < MIN_SAMPLE_WEIGHT:
        raise ValueError(
            f"positive sample_weight values below {MIN_SAMPLE_WEIGHT:g} are not supported: products of "
            f"weights and hessians would underflow float64 (got min {np.min(positive):g}). Set such weights "
            "to 0 to drop their rows, or rescale the weights."
        )
    mean = float(np.mean(positive))
    low, high = TYPICAL_MEAN_WEIGHT
    # Integer weights that vary are read as counts of repeated rows, whatever their mean; a constant
    # weight other than 1 carries nothing but its scale, so it is almost surely a rescaling.
    counts = bool(np.all(positive == np.round(positive))) and np.min(positive) != np.max(positive)
    if not low <= mean <= high and not counts:
        warnings.warn(
            f"sample_weight has mean {mean:.4g} over its {len(positive)} rows with positive weight, so the "
            f"data count as {mean * len(positive):.4g} rows: shrinktree reads weights as frequency weights "
            "(a row of weight 2 counts as two rows), and pools "
            f"{'less' if mean > high else 'more'} than with unit weights. If these are relative weights "
            "(survey, importance or inverse-probability weights), pass sample_weight / sample_weight.mean(); "
            "if they are counts of repeated rows, this is intended.",
            SampleWeightScaleWarning, stacklevel=6)
    return sample_weight


class _BaseShrinkBoost(BaseEstimator):
    """Histogram gradient boosting whose node values are pooled toward their parents."""

    def __init__(self, *, shrinkage="eb", shrinkage_strength=None, eb_method="honest", learning_rate=0.1,
                 n_estimators=300, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20, l2_regularization=0.0,
                 max_bins=255, categorical_features=FROM_DTYPE,
                 subsample=1.0, colsample=1.0, early_stopping="auto", validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-7, random_state=None, verbose=0):
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
        self.subsample = subsample
        self.colsample = colsample
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # -- validation -----------------------------------------------------------------------------
    def _validate_hyperparameters(self):
        if self.shrinkage not in SHRINKAGE_MODES:
            raise ValueError(f"shrinkage must be one of {SHRINKAGE_MODES}, got {self.shrinkage!r}.")
        if self.shrinkage == "hs":
            if self.shrinkage_strength is None:
                raise ValueError("shrinkage='hs' needs shrinkage_strength (the lambda of Hierarchical Shrinkage).")
        if self.eb_method not in EB_METHODS:
            raise ValueError(f"eb_method must be one of {EB_METHODS}, got {self.eb_method!r}.")
        _check_number("shrinkage_strength", self.shrinkage_strength, low=0, allow_none=True)
        _check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        _check_number("n_estimators", self.n_estimators, low=1, integer=True)
        _check_number("max_leaf_nodes", self.max_leaf_nodes, low=2, integer=True)
        _check_number("max_depth", self.max_depth, low=1, integer=True, allow_none=True)
        _check_number("min_samples_leaf", self.min_samples_leaf, low=1, integer=True)
        _check_number("l2_regularization", self.l2_regularization, low=0)
        _check_number("max_bins", self.max_bins, low=2, high=255, integer=True)
        _check_number("subsample", self.subsample, low=0, high=1, low_open=True)
        _check_number("colsample", self.colsample, low=0, high=1, low_open=True)
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(f"early_stopping must be 'auto', True or False, got {self.early_stopping!r}.")
        _check_number("validation_fraction", self.validation_fraction, low=0, high=1, low_open=True)
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be < 1, got {self.validation_fraction!r}.")
        _check_number("n_iter_no_change", self.n_iter_no_change, low=1, integer=True)
        _check_number("tol", self.tol, low=0)
        _check_number("verbose", self.verbose, low=0, integer=True)

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
            _check_no_missing_labels(y)
        with np.errstate(over="ignore", invalid="ignore"):  # scikit-learn's finiteness check sums X
            X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan",
                                 y_numeric=self._y_numeric, order="C")
        if sample_weight is not None:
            sample_weight = _check_fit_weights(_check_sample_weight(sample_weight, X, dtype=np.float64,
                                                                    ensure_non_negative=True))
        return X, y, sample_weight

    def _validate_predict_input(self, X):
        check_is_fitted(self, "_trees")
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
            return validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False, order="C")

    def _level_pooling(self):
        """How categorical levels are pooled before sorting: (mode, fixed k)."""
        if self.shrinkage == "eb":
            return LEVELS_EB, 0.0
        if self.shrinkage == "hs":
            return LEVELS_FIXED_K, float(self.shrinkage_strength)
        return LEVELS_RAW, 0.0

    # -- fitting --------------------------------------------------------------------------------
    def _fit_or_keep_state(self, X, y, sample_weight):
        """Fit; when fitting fails, restore every attribute as it was, so an earlier fit stays intact."""
        saved = dict(self.__dict__)
        try:
            n_rows = len(X)
        except TypeError:
            n_rows = 0
        try:
            with threads_for_rows(n_rows):
                return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, sample_weight):
        self._validate_hyperparameters()
        X, y, sample_weight = self._validate_fit_input(X, y, sample_weight)
        y = self._encode_y(y)
        if sample_weight is not None:
            # Zero-weight rows carry no information; dropping them keeps weights equivalent to repetition.
            keep = sample_weight > 0
            if not np.all(keep):
                X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
                if self._categorical is not None:
                    X = self._categorical.restrict_to_present(X)
        start_time = time.perf_counter()
        if hasattr(self, "validation_score_"):
            del self.validation_score_  # from an earlier fit with early stopping
        seed_source = check_random_state(self.random_state)
        seeds = seed_source.randint(0, 2**31 - 1, size=3)
        rng = np.random.default_rng(seeds[0])

        n_samples = X.shape[0]
        # "auto" leaves pooled boosting without early stopping: trees that only fit noise are pooled back
        # to their root, so the rows a validation split would take are worth more as training rows
        # (measured in docs/accuracy.md, variant "shrinktree eb early stopping").
        use_early_stopping = self.early_stopping is True or (
            self.early_stopping == "auto" and n_samples > 10_000 and self.shrinkage != "eb")
        X_val = y_val = w_val = None
        if use_early_stopping:
            n_validation = int(np.ceil(self.validation_fraction * n_samples))
            if n_validation < 1 or n_samples - n_validation < 1:
                raise ValueError(
                    f"early_stopping=True holds out validation_fraction={self.validation_fraction} of the "
                    f"{n_samples} rows, which leaves {'no validation' if n_validation < 1 else 'no training'} "
                    "rows; pass early_stopping=False or a validation_fraction that leaves rows on both sides.")
            # Stratify when every class can appear on both sides of the split.
            class_counts = np.bincount(y.astype(np.int64)) if self._is_classifier else None
            n_classes = 0 if class_counts is None else len(class_counts)
            stratify = y if (class_counts is not None and np.min(class_counts) >= 2
                             and min(n_validation, n_samples - n_validation) >= n_classes) else None
            parts = train_test_split(X, y, np.arange(n_samples), test_size=n_validation,
                                     random_state=int(seeds[1]), stratify=stratify)
            X, X_val, y, y_val, idx_train, idx_val = parts
            if sample_weight is not None:
                w_val = sample_weight[idx_val]
                sample_weight = sample_weight[idx_train]
            n_samples = X.shape[0]
        weight = np.ones(n_samples) if sample_weight is None else np.ascontiguousarray(sample_weight)
        # Unweighted squared error: every hessian is 1, so histograms can count rows instead.
        constant_hessian = 1.0 if (sample_weight is None and not self._is_classifier) else 0.0
        unit_weights = sample_weight is None

        n_features = X.shape[1]
        encoder = self._categorical
        if encoder is None:
            self._numeric_index = np.arange(n_features, dtype=np.int64)
            self._categorical_index = np.zeros(0, dtype=np.int64)
            n_levels = np.zeros(0, dtype=np.int64)
            X_numeric = X
        else:
            self._numeric_index = np.flatnonzero(~encoder.mask_).astype(np.int64)
            self._categorical_index = encoder.categorical_index_
            n_levels = encoder.n_levels_
            X_numeric = np.ascontiguousarray(X[:, self._numeric_index])
        self.is_categorical_ = np.zeros(n_features, dtype=bool)
        self.is_categorical_[self._categorical_index] = True
        codes = engine_codes(X, self._categorical_index, n_levels)
        codes_val = None
        self._bin_mapper = BinMapper(self.max_bins, random_state=int(seeds[2])).fit(X_numeric, sample_weight)
        binned = self._bin_mapper.transform(X_numeric)
        missing_bin = self._bin_mapper.missing_bin_
        has_missing = np.isnan(X_numeric).any(axis=0)
        n_bins_non_missing = self._bin_mapper.n_bins_non_missing_
        effective_tests = effective_tests_table(self.max_bins + 1)
        honest = self.shrinkage == "eb" and self.eb_method == "honest"
        row_hash = hash_rows(binned, y.view(np.uint64)) if honest else None
        if honest and codes.shape[0] > 0:
            row_hash = hash_rows_with_codes(row_hash, codes)
        # Fit on y / 2^e (e: the binary exponent of max |y|) so that no sum of squared gradients
        # overflows or underflows whatever the target's units.  Dividing by a power of two is exact,
        # so the model is the same up to that factor, multiplied back into it at the end.
        y_exponent = self._target_exponent(y)
        y = _ldexp(y, -y_exponent)
        if use_early_stopping:
            y_val = _ldexp(y_val, -y_exponent)
        loss_exponent = 2 * y_exponent  # losses and gains scale with y^2

        loss = self._make_loss()
        n_trees_per_iteration = loss.n_trees_per_iteration
        self._baseline = loss.baseline(y, weight)
        raw = np.tile(self._baseline, (n_samples, 1))
        gradients = np.empty((n_trees_per_iteration, n_samples))
        hessians = np.empty((n_trees_per_iteration, n_samples))
        if use_early_stopping:
            binned_val = self._bin_mapper.transform(np.ascontiguousarray(X_val[:, self._numeric_index]))
            codes_val = engine_codes(X_val, self._categorical_index, n_levels)
            raw_val = np.tile(self._baseline, (X_val.shape[0], 1))
            w_val_eff = np.ones(X_val.shape[0]) if w_val is None else w_val
            self.validation_score_ = [-_ldexp(loss.loss(y_val, raw_val, w_val_eff), loss_exponent)]
        # The training loss costs a pass over every row per iteration: track it only when reported.
        track_train_loss = bool(self.verbose) or use_early_stopping
        self.train_score_ = [-_ldexp(loss.loss(y, raw, weight), loss_exponent)] if track_train_loss else []
        tol = _ldexp(self.tol, -loss_exponent)  # in the fitted (scaled) loss units

        self._trees = []
        self.pooling_strength_ = []
        importances = np.zeros(n_features)
        n_features_per_tree = max(1, int(np.ceil(self.colsample * n_features)))
        n_rows_per_tree = max(1, int(np.ceil(self.subsample * n_samples)))
        # Private measurement switch (benchmarks/eb_methods.py): score splits by pooled values with the
        # previous tree's k, as LightGBM's path_smooth does; off (-1) in normal use, see docs/shrinkage.md.
        pooled_gain_k = [getattr(self, "_pooled_split_gain_k", -1.0)] * n_trees_per_iteration
        y_loss = y
        best_score, no_improvement = -np.inf, 0

        for iteration in range(self.n_estimators):
            loss.gradients(y_loss if not self._is_classifier or n_trees_per_iteration == 1 else y_loss.astype(np.int64),
                           raw if n_trees_per_iteration > 1 else raw, weight, gradients, hessians)
            if n_rows_per_tree < n_samples:
                rows = np.sort(rng.choice(n_samples, n_rows_per_tree, replace=False))
            else:
                rows = None
            if n_features_per_tree < n_features:
                feature_mask = np.zeros(n_features, dtype=np.bool_)
                feature_mask[rng.choice(n_features, n_features_per_tree, replace=False)] = True
            else:
                feature_mask = np.ones(n_features, dtype=np.bool_)
            cat_feature_mask = np.ascontiguousarray(feature_mask[self._categorical_index])
            feature_mask = np.ascontiguousarray(feature_mask[self._numeric_index])
            held_out = None
            if self.shrinkage == "eb" and self.eb_method == "honest":
                # Each row's side depends only on its content and the iteration, so a row of
                # weight w and w copies of it always land on the same side.
                held_out = _split_rows(_held_out_mask(row_hash, iteration, seeds[0]), rows)
            iteration_trees, iteration_k = [], []
            for k in range(n_trees_per_iteration):
                tree, pooling_k, (local, local_threshold) = self._grow_and_pool(
                    binned, gradients[k], hessians[k], weight, rows, held_out, n_bins_non_missing, has_missing,
                    missing_bin, feature_mask, effective_tests, pooled_gain_k[k], importances, raw[:, k],
                    codes, n_levels, cat_feature_mask, constant_hessian, unit_weights,
                )
                if pooled_gain_k[k] >= 0:
                    pooled_gain_k[k] = pooling_k if np.isfinite(pooling_k) else 1e12
                if use_early_stopping:
                    update = np.zeros(X_val.shape[0])
                    add_tree_binned(binned_val, codes_val, tree.left, tree.right, local, tree.is_categorical,
                                    local_threshold, tree.missing_left, missing_bin, n_levels, tree.cat_offset,
                                    tree.cat_bitset, np.ascontiguousarray(tree.value[:, 0]), update)
                    raw_val[:, k] += update
                iteration_trees.append(tree)
                iteration_k.append(pooling_k)
            self._trees.append(iteration_trees)
            self.pooling_strength_.append(iteration_k)
            if track_train_loss:
                self.train_score_.append(-_ldexp(loss.loss(y, raw, weight), loss_exponent))
                message = f"[{iteration + 1}/{self.n_estimators}] train loss {-self.train_score_[-1]:.5g}"
            if use_early_stopping:
                score = -loss.loss(y_val, raw_val, w_val_eff)
                self.validation_score_.append(_ldexp(score, loss_exponent))
                message += f", validation loss {-self.validation_score_[-1]:.5g}"
                if best_score == -np.inf or score > best_score + tol:
                    best_score, no_improvement = score, 0
                else:
                    no_improvement += 1
            if self.verbose:
                ks = ", ".join(f"{kk:.3g}" for kk in iteration_k)
                print(f"{message}, pooling k [{ks}], {time.perf_counter() - start_time:.2f}s", file=sys.stdout)
            if use_early_stopping and no_improvement >= self.n_iter_no_change:
                break

        self.n_iter_ = len(self._trees)
        if y_exponent != 0:
            self._baseline = np.ldexp(self._baseline, y_exponent)
            for tree in (t for trees in self._trees for t in trees):
                tree.value = np.ldexp(tree.value, y_exponent)
                tree.raw_value = np.ldexp(tree.raw_value, y_exponent)
                tree.gain = _ldexp(tree.gain, loss_exponent)
        self.pooling_strength_ = np.array(self.pooling_strength_)
        self.train_score_ = np.array(self.train_score_)
        if use_early_stopping:
            self.validation_score_ = np.array(self.validation_score_)
        total = importances.sum()
        self.feature_importances_ = importances / total if total > 0 else importances
        self._forest = FlatForest.from_trees([t for trees in self._trees for t in trees])
        self._tree_output = np.tile(np.arange(n_trees_per_iteration), self.n_iter_)
        return self

    def _grow_and_pool(self, binned, gradients, hessians, weight, rows, held_out, n_bins_non_missing,
                       has_missing, missing_bin, feature_mask, effective_tests, pooled_gain_k, importances, raw,
                       codes, n_levels, cat_feature_mask, constant_hessian=0.0, unit_weights=False):
        """Grow one tree, pool its node values, and add its predictions to ``raw`` (training rows).

        Returns the tree (features as column indices of ``X``), its pooling strength, and the grower's
        local feature indices and bin thresholds (for predicting on binned data).
        """
        n_samples = binned.shape[1]
        grow_rows, estimation_rows = rows, None
        if held_out is not None:
            grow_rows, estimation_rows = held_out
        level_mode, level_k = self._level_pooling()
        grown = TreeGrower(
            binned, gradients, hessians, weight, grow_rows, n_bins_non_missing, has_missing, missing_bin,
            feature_mask, effective_tests, max_leaf_nodes=self.max_leaf_nodes, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=float(self.l2_regularization),
            min_hessian=MIN_HESSIAN, pooling_k=pooled_gain_k, codes=codes, n_levels=n_levels,
            cat_feature_mask=cat_feature_mask, level_mode=level_mode, level_k=level_k,
            pooled_level_gain=getattr(self, "_pooled_level_gain", POOLED_LEVEL_GAIN[self.eb_method]),
            constant_hessian=constant_hessian, unit_weights=unit_weights,
            compute_within_ss=self.shrinkage == "eb" and estimation_rows is None,
        ).grow()
        local = (grown.feature, grown.bin_threshold)
        is_cat = grown.is_categorical.astype(bool)
        internal = grown.left >= 0
        # Local (numeric or categorical) feature indices -> column indices of X.
        feature = np.full(len(grown.feature), -1, dtype=np.int32)
        feature[internal & ~is_cat] = self._numeric_index[grown.feature[internal & ~is_cat]]
        feature[internal & is_cat] = self._categorical_index[grown.feature[internal & is_cat]]
        leaves = grown.leaf_nodes
        sum_g, sum_h, count = grown.sum_gradients, grown.sum_hessians, grown.weighted_count
        estimation_leaf_of_row = None
        if estimation_rows is not None:
            estimation_leaf_of_row = leaves_binned(binned, codes, estimation_rows, grown.left, grown.right,
                                                   grown.feature, grown.is_categorical, grown.bin_threshold,
                                                   grown.missing_left, missing_bin, n_levels, grown.cat_offset,
                                                   grown.cat_bitset)
            held = node_statistics(estimation_rows, estimation_leaf_of_row, grown.parent, gradients, hessians, weight)
            # Values use every row; the pooling strength only the rows that did not choose the splits.
            sum_g, sum_h, count = sum_g + held[:, 0], sum_h + held[:, 1], count + held[:, 2]

        l2 = float(self.l2_regularization)
        denominator = sum_h + l2
        safe = np.where(denominator > 0, denominator, 1.0)
        raw_value = np.where(denominator > 0, -sum_g / safe, 0.0)
        mapper = self._bin_mapper
        threshold = np.full(len(grown.left), np.nan)
        for node in np.flatnonzero(internal & ~is_cat):
            threshold[node] = mapper.bin_thresholds(int(grown.feature[node]), int(grown.bin_threshold[node]))
        tree = TreeArrays(
            parent=grown.parent, left=grown.left, right=grown.right, feature=feature, threshold=threshold,
            missing_left=grown.missing_left, raw_value=raw_value.copy(), value=raw_value.copy(),
            pooling_factor=np.ones(len(grown.left)), weight=sum_h.copy(), count=count.copy(), gain=grown.gain.copy(),
            is_categorical=grown.is_categorical.copy(), cat_offset=grown.cat_offset.copy(),
            cat_bitset=grown.cat_bitset.copy(),
        )
        sigma2 = null_factor = est_weight = est_raw = None
        if self.shrinkage == "eb":
            if estimation_rows is not None:
                h_held = held[:, 1]
                ok = h_held[leaves] > 0
                ratio = np.where(ok, held[leaves, 0] / np.where(ok, h_held[leaves], 1.0), 0.0)
                sum_sq = np.sum(held[leaves, 3] - 2 * ratio * held[leaves, 4] + ratio**2 * held[leaves, 5])
                sigma2 = within_variance(sum_sq, float(np.sum(h_held[leaves])), float(np.sum(held[leaves, 2])),
                                         int(ok.sum()))
                null_factor = np.where(internal, 1.0, 0.0)
                est_weight = h_held
                est_raw = np.where(h_held > 0, -held[:, 0] / np.where(h_held > 0, h_held, 1.0), 0.0)
            else:
                sigma2 = within_variance(grown.within_ss, float(np.sum(grown.sum_hessians[leaves])),
                                         float(np.sum(grown.weighted_count[leaves])), len(leaves))
                if self.eb_method == "naive":
                    null_factor = np.where(internal, 1.0, 0.0)
                else:
                    # A sorted-level scan searches far more partitions than an ordered feature: the node's
                    # null gain is the larger of its numeric features' and its categorical features'.
                    null = np.maximum(null_gain_factor(grown.null_factor_tests),
                                      categorical_null_gain(grown.levels_scanned))
                    null_factor = np.where(internal, null, 0.0)
        pooling_k = shrink_tree_values(tree, self.shrinkage, self.shrinkage_strength, sigma2, null_factor,
                                       est_weight, est_raw)
        # Importance: the loss reduction each split achieves with the pooled (not raw) values.
        pooled = tree.value[:, 0]
        node_loss = sum_g * pooled + 0.5 * denominator * pooled**2
        for node in np.flatnonzero(internal):
            reduction = node_loss[node] - node_loss[grown.left[node]] - node_loss[grown.right[node]]
            importances[feature[node]] += max(reduction, 0.0)
        tree.raw_value *= self.learning_rate
        tree.value *= self.learning_rate

        # Training predictions: grown rows from the partition, held-out rows from their leaves,
        # rows outside the subsample by walking the tree.
        value = np.ascontiguousarray(tree.value[:, 0])
        add_leaf_values(grown.sample_indices, grown.leaf_start, grown.leaf_stop, value[leaves], raw)
        if estimation_rows is not None:
            add_values_by_leaf(estimation_rows, estimation_leaf_of_row, value, raw)
        if rows is not None:
            outside = np.ones(n_samples, dtype=np.bool_)
            outside[rows] = False
            outside_rows = np.flatnonzero(outside)
            if len(outside_rows):
                leaf = leaves_binned(binned, codes, outside_rows, grown.left, grown.right, grown.feature,
                                     grown.is_categorical, grown.bin_threshold, grown.missing_left, missing_bin,
                                     n_levels, grown.cat_offset, grown.cat_bitset)
                add_values_by_leaf(outside_rows, leaf, value, raw)
        return tree, pooling_k, local

    # -- saving and restoring -------------------------------------------------------------------
    def _prediction_state(self) -> list:
        """Everything predictions depend on, for the digest that detects a damaged restored model."""
        encoder = self._categorical
        return [
            self.n_features_in_, self._baseline, self._numeric_index, self._categorical_index,
            getattr(self, "classes_", None),
            [[[getattr(tree, f.name) for f in fields(tree)] for tree in trees] for trees in self._trees],
            None if encoder is None else [encoder.mask_, encoder.categorical_index_, encoder.n_levels_,
                                          encoder.from_text_, list(encoder.levels_)],
        ]

    def __reduce__(self):
        # Pickle plain Python values only: see shrinktree._safe_state for why.
        return restore, (type(self), encode(self.__getstate__()))

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
        super().__setstate__(state)
        if "_trees" in self.__dict__:
            try:
                self._restore_prediction_state(expected)
            except ModelIntegrityError:
                raise
            except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
                raise ModelIntegrityError(f"The restored {type(self).__name__} is damaged: {exc}") from exc

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
        for index in (self._numeric_index, self._categorical_index):
            if index.dtype.kind not in "iu" or np.any(index < 0) or np.any(index >= n_features):
                raise ModelIntegrityError("The feature index arrays are out of range.")
        if self._categorical is not None:
            self._categorical.validate(n_features)
        if not isinstance(self._trees, list) or not self._trees:
            raise ModelIntegrityError("The model has no trees.")
        for trees in self._trees:
            if not isinstance(trees, list) or len(trees) != n_outputs:
                raise ModelIntegrityError(f"Every iteration must hold {n_outputs} tree(s).")
            for tree in trees:
                if not isinstance(tree, TreeArrays):
                    raise ModelIntegrityError(f"A tree is a {type(tree).__name__}, not TreeArrays.")
                tree.validate(n_features=n_features, n_outputs=1)
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
        """
        return self._validate_predict_input(X)

    @property
    def trees_(self) -> list[list[TreeArrays]]:
        """Per iteration, the list of its trees (one per class for multiclass) as node arrays."""
        check_is_fitted(self, "_trees")
        return self._trees

    def _raw_predict(self, X):
        X = self._validate_predict_input(X)
        return self._baseline + self._forest.predict_sum(X, self._tree_output, len(self._baseline))

    def _staged_raw_predict(self, X):
        X = self._validate_predict_input(X)
        raw = np.tile(self._baseline, (X.shape[0], 1)).astype(np.float64)
        n_out = len(self._baseline)
        for trees in self._trees:
            forest = FlatForest.from_trees(trees)
            raw = raw + forest.predict_sum(X, np.arange(len(trees)), n_out)
            yield raw.copy()

    # -- explanation ----------------------------------------------------------------------------
    def predict_contributions(self, X):
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

        Returns
        -------
        ndarray of float64
            Shape ``(n_samples, n_features + 1)`` (regression and binary classification) or
            ``(n_samples, n_classes, n_features + 1)`` (multiclass, one block per class).  The last
            column is the expected value; each row (block) sums to ``predict`` (regression) or
            ``decision_function`` (classification).  ``reshape(n_samples, -1)`` gives LightGBM's
            ``pred_contrib`` layout.
        """
        from ..explain import predict_contributions

        return predict_contributions(self, X)



class ShrinkBoostRegressor(RegressorMixin, _BaseShrinkBoost):
    """Gradient-boosted regression trees with hierarchical (partial-pooling) node shrinkage.

    Parameters
    ----------
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
    early_stopping : "auto" or bool, default="auto"
        "auto" enables it when there are more than 10,000 rows and ``shrinkage`` is not
        ``"eb"``: with data-estimated pooling, trees that only fit noise are pooled back to
        their root, and the validation rows are worth more as training rows.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-7
    random_state : int, RandomState or None
    verbose : int, default=0
        Print a progress line per iteration when positive.

    Attributes
    ----------
    trees_ : list of list of TreeArrays
        Each tree's node arrays: ``raw_value``, pooled ``value`` and ``pooling_factor`` per node.
    pooling_strength_ : ndarray of shape (n_iter_, n_trees_per_iteration)
        The estimated ``k = sigma^2/tau^2`` of each tree (``inf``: pooled to the root).
    feature_importances_ : ndarray
        Loss reduction of each feature's splits at the pooled values, normalized to sum to one.
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
        Negative loss on the validation split, likewise; only set when early stopping is used.
    """

    _is_classifier = False
    _y_numeric = True

    def fit(self, X, y, sample_weight=None) -> ShrinkBoostRegressor:
        """Fit the boosted, pooled ensemble.

        When fitting fails (invalid data or parameters), the estimator keeps the state of its
        previous fit unchanged.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
            Numeric features (NaN marks a missing value) and categorical features (see
            ``categorical_features``; missing values allowed).
        y : array-like of shape (n_samples,)
            Finite target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights, as in scikit-learn: a row of weight 2 counts as two rows,
            so integer weights give the model of repeated rows, and zero-weight rows are dropped.
            The pooling strength is estimated from how much data each node holds, so the weights'
            total matters: a mean weight outside [0.5, 2] raises
            :class:`~shrinktree.exceptions.SampleWeightScaleWarning` unless the weights look like
            counts (integers that vary).  Pass relative weights
            (survey, importance or inverse-probability weights) as
            ``sample_weight / sample_weight.mean()``.  Positive weights must lie in
            [1e-100, 1e100].

        Returns
        -------
        self
        """
        return self._fit_or_keep_state(X, y, sample_weight)

    def _encode_y(self, y):
        return np.ascontiguousarray(y, dtype=np.float64)

    def _target_exponent(self, y) -> int:
        largest = float(np.max(np.abs(y))) if len(y) else 0.0
        return int(np.frexp(largest)[1]) if largest > 0 else 0

    def _make_loss(self):
        return SquaredError()

    def predict(self, X):
        """Predicted values."""
        return self._raw_predict(X)[:, 0]

    def staged_predict(self, X):
        """Predictions after each iteration (a generator)."""
        for raw in self._staged_raw_predict(X):
            yield raw[:, 0]


class ShrinkBoostClassifier(ClassifierMixin, _BaseShrinkBoost):
    """Gradient-boosted classification trees with hierarchical (partial-pooling) node shrinkage.

    Binary targets use the log loss with one tree per iteration; more classes use the softmax
    loss with one tree per class and iteration.  Labels may be of any type.  Parameters are
    those of :class:`ShrinkBoostRegressor`.
    """

    _is_classifier = True
    _y_numeric = False

    def fit(self, X, y, sample_weight=None) -> ShrinkBoostClassifier:
        """Fit the boosted, pooled ensemble.

        When fitting fails (invalid data or parameters), the estimator keeps the state of its
        previous fit unchanged.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
            Numeric features (NaN marks a missing value) and categorical features (see
            ``categorical_features``; missing values allowed).
        y : array-like of shape (n_samples,)
            Class labels of any type (at least two classes; no missing labels).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights, as in scikit-learn: a row of weight 2 counts as two rows,
            so integer weights give the model of repeated rows, and zero-weight rows are dropped.
            The pooling strength is estimated from how much data each node holds, so the weights'
            total matters: a mean weight outside [0.5, 2] raises
            :class:`~shrinktree.exceptions.SampleWeightScaleWarning` unless the weights look like
            counts (integers that vary).  Pass relative weights
            (survey, importance or inverse-probability weights) as
            ``sample_weight / sample_weight.mean()``.  Positive weights must lie in
            [1e-100, 1e100].

        Returns
        -------
        self
        """
        return self._fit_or_keep_state(X, y, sample_weight)

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

    def _make_loss(self):
        if self.n_classes_ == 2:
            return BinaryLogLoss()
        loss = MultinomialLogLoss(self.n_classes_)
        # Private measurement switch (benchmarks/multiclass.py): the unscaled diagonal hessian p (1 - p).
        if getattr(self, "_diagonal_multiclass_hessian", False):
            loss.hessian_scale = 1.0
        return loss

    def _proba_from_raw(self, raw):
        return BinaryLogLoss.proba(raw) if self.n_classes_ == 2 else MultinomialLogLoss.proba(raw)

    def decision_function(self, X):
        """Raw scores: log-odds (binary, shape (n,)) or per-class logits (shape (n, n_classes))."""
        raw = self._raw_predict(X)
        return raw[:, 0] if self.n_classes_ == 2 else raw

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        return self._proba_from_raw(self._raw_predict(X))

    def _labels_from_raw(self, raw):
        # Decide on the raw scores (not rounded probabilities) so predict agrees with decision_function.
        index = (raw[:, 0] > 0).astype(np.int64) if self.n_classes_ == 2 else np.argmax(raw, axis=1)
        return self.classes_[index]

    def predict(self, X):
        """Predicted class labels."""
        return self._labels_from_raw(self._raw_predict(X))

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
