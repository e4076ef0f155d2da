"""What one worker holds of the training data, and every per-partition step of a distributed fit.

A :class:`TrainPartition` lives on the worker that holds its rows for the whole fit (the client only
ever receives sums from it).  It is made from the raw partition, then, step by step:

1. :meth:`~TrainPartition.inspect`: row counts, the class labels and categorical levels it holds, weight
   and target facts, so that the client can fix the level lists, the classes and the binning sample;
2. :meth:`~TrainPartition.encode`: codes, encoded target, zero-weight rows dropped; returns its rows of
   the binning sample;
3. :meth:`~TrainPartition.bin`: the bins (the float matrix is dropped), and the row hashes of the honest split;
4. per iteration and tree: gradients, the held-out split, root and child histograms, the partition of
   its rows at each split, held-out node sums, quantile buckets, and finally the tree's values added to
   its raw scores.

A held-out row whose level is absent from a categorical split's growing rows (its present set) stops
there, as on one machine: it counts in the node and its ancestors, takes no part in renewed leaf values,
and its raw score takes the blended value of the node's subtree; rows outside the subsample blend too.

The methods reuse the single-machine kernels on the partition's rows, so every sum a node needs is the
sum over the partitions of what these return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_array

from ..boosting.categorical import _numeric_levels, engine_codes
from ..boosting.histogram import NO_WEIGHTS, build_categorical_histogram, build_histogram, gather
from ..boosting.honest import held_out_mask, row_hashes
from ..boosting.level_noise import level_sums
from ..boosting.partition import partition_rows, partition_rows_categorical, within_node_sum_of_squares
from ..boosting.predictor import add_leaf_values, add_values_from_nodes, node_statistics
from ..boosting.routing import leaves_by_partition
from ..boosting.validation import check_no_missing_labels
from ._quantile import radix_histogram, sortable_keys


def _as_frame_or_array(X):
    if isinstance(X, (pd.DataFrame, np.ndarray)):
        return X
    return np.asarray(X)


def _vector(values, name: str) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, (pd.DataFrame,)):
        if values.shape[1] != 1:
            raise ValueError(f"{name} must be one column, got {values.shape[1]}.")
        values = values.iloc[:, 0]
    out = np.asarray(values)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {out.shape}.")
    return out


class _Spec:
    """Facts of the fit every partition needs to check and encode its rows (sent by the client)."""

    def __init__(self, n_features, columns, categorical_mask, text_columns, is_classifier):
        self.n_features = n_features
        self.columns = columns
        self.categorical_mask = categorical_mask
        self.text_columns = text_columns
        self.is_classifier = is_classifier


def _check_frame(X, spec: _Spec, where: str):
    X = _as_frame_or_array(X)
    if X.ndim != 2 or X.shape[1] != spec.n_features:
        raise ValueError(f"{where}: a partition of X has shape {X.shape}; every partition must have "
                         f"{spec.n_features} columns.")
    if isinstance(X, pd.DataFrame) and spec.columns is not None and list(X.columns) != spec.columns:
        raise ValueError(f"{where}: a partition's columns {list(X.columns)} differ from {spec.columns}.")
    return X


def _float_matrix(X_float) -> np.ndarray:
    """The encoded partition as a C-ordered float64 matrix; infinity and non-numbers raise."""
    with np.errstate(over="ignore", invalid="ignore"):
        return check_array(X_float, dtype=np.float64, ensure_all_finite="allow-nan", order="C",
                           ensure_min_samples=0, ensure_2d=True)


class TrainPartition:
    """The training rows of one partition (see the module docstring for the order of the steps)."""

    def __init__(self, X, y, weight, offset, spec: _Spec):
        X = _check_frame(X, spec, "fit")
        y = _vector(y, "y")
        if y is None or len(y) != X.shape[0]:
            raise ValueError(f"A partition of X has {X.shape[0]} rows but its partition of y has "
                             f"{None if y is None else len(y)}: X and y must be partitioned alike.")
        for name, values in (("sample_weight", weight), ("offset", offset)):
            values = _vector(values, name)
            if values is not None and len(values) != X.shape[0]:
                raise ValueError(f"A partition of X has {X.shape[0]} rows but its partition of {name} has "
                                 f"{len(values)}: they must be partitioned alike.")
        self.X, self.spec = X, spec
        self.y_raw = y
        self.weight = None if weight is None else np.asarray(_vector(weight, "sample_weight"), dtype=np.float64)
        self.offset = None if offset is None else np.asarray(_vector(offset, "offset"), dtype=np.float64)
        self.step = 0

    # -- preparation --------------------------------------------------------------------------------
    def inspect(self, loss) -> dict:
        """Counts, labels, levels and weight facts of the partition (before anything is encoded)."""
        X, spec = self.X, self.spec
        weight = self.weight
        if weight is not None:
            if not np.all(np.isfinite(weight)):
                raise ValueError("sample_weight contains NaN or infinity.")
            if np.any(weight < 0):
                raise ValueError("Negative values in data passed to sample_weight")
        if self.offset is not None and not np.all(np.isfinite(self.offset)):
            raise ValueError(f"offset has {int(np.sum(~np.isfinite(self.offset)))} NaN or infinite value(s) at fit "
                             "time.")
        keep = np.ones(X.shape[0], dtype=bool) if weight is None else weight > 0
        levels = []
        for j in np.flatnonzero(spec.categorical_mask):
            column = X.iloc[:, j] if isinstance(X, pd.DataFrame) else X[:, j]
            if spec.text_columns[j]:
                values = np.asarray(column.astype(object) if isinstance(column, pd.Series) else column, dtype=object)
                present = values[keep & ~pd.isna(values)]
                levels.append(np.asarray(pd.unique(present), dtype=object))
            else:
                values = _numeric_levels(column.to_numpy(dtype=np.float64, na_value=np.nan)
                                         if isinstance(column, pd.Series) else column, f"{j}", "fit")
                levels.append(np.unique(values[keep & ~np.isnan(values)]))
        out = {"n_rows": X.shape[0], "n_kept": int(np.sum(keep)), "levels": levels}
        if weight is not None:
            positive = weight[weight > 0]
            out["weight"] = (len(positive), float(np.sum(positive)) if len(positive) else 0.0,
                             float(np.min(positive)) if len(positive) else np.inf,
                             float(np.max(positive)) if len(positive) else -np.inf,
                             bool(np.all(positive == np.round(positive))))
        if spec.is_classifier:
            check_no_missing_labels(self.y_raw)
            labels, counts = np.unique(self.y_raw, return_counts=True)
            out["labels"] = (labels, counts)
        else:
            try:
                y = np.asarray(self.y_raw, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"y must be numbers ({exc}).") from exc
            if len(y):
                if not np.all(np.isfinite(y)):
                    raise ValueError("Input y contains NaN or infinity.")
                loss.check_target(y)
            out["target"] = (float(np.max(np.abs(y[keep]))) if keep.any() else 0.0,)
        return out

    def encode(self, encoder, classes, class_weight, sample_rows, numeric_index) -> tuple:
        """Encode the categorical columns and the target, drop zero-weight rows; returns
        ``(has_missing, sample of numeric rows, their weights)`` for the bin edges."""
        X_float = self.X if encoder is None else encoder.transform(self.X)
        X_float = _float_matrix(X_float)
        if self.spec.is_classifier:
            y = np.searchsorted(classes, self.y_raw).astype(np.float64)
            weight = self.weight
            if class_weight is not None:
                per_row = class_weight[y.astype(np.int64)]
                weight = per_row if weight is None else weight * per_row
        else:
            y = np.asarray(self.y_raw, dtype=np.float64)
            weight = self.weight
        if weight is not None:
            keep = weight > 0
            if not np.all(keep):
                X_float, y, weight = X_float[keep], y[keep], weight[keep]
                self.offset = None if self.offset is None else self.offset[keep]
        self.X = None
        self.y_raw = None
        self.y = np.ascontiguousarray(y)
        self.weight = None if weight is None else np.ascontiguousarray(weight)
        self.n_levels = np.zeros(0, dtype=np.int64) if encoder is None else encoder.n_levels_
        categorical_index = np.zeros(0, dtype=np.int64) if encoder is None else encoder.categorical_index_
        self.codes = engine_codes(X_float, categorical_index, self.n_levels)
        self.X_numeric = np.ascontiguousarray(X_float[:, numeric_index])
        has_missing = np.isnan(self.X_numeric).any(axis=0)
        sample = self.X_numeric[sample_rows]
        sample_weight = np.ones(len(sample_rows)) if self.weight is None else self.weight[sample_rows]
        return has_missing, sample, sample_weight

    def bin(self, bin_mapper, honest: bool) -> int:
        """Replace the float matrix by its bins; hash the rows for the honest split."""
        self.binned = bin_mapper.transform(self.X_numeric)
        self.missing_bin = bin_mapper.missing_bin_
        self.X_numeric = None
        self.row_hash = row_hashes(self.binned, self.codes, self.y, self.missing_bin) if honest else None
        self.n_rows = self.binned.shape[1]
        self.unit_weights = self.weight is None
        if self.weight is None:
            self.weight = np.ones(self.n_rows)
        return self.n_rows

    def rescale(self, y_exponent: int) -> None:
        """Fit ``y / 2**e`` (and the offset with it), as the single-machine booster does."""
        with np.errstate(over="ignore", under="ignore"):
            self.y = np.ldexp(self.y, -y_exponent)
            if self.offset is not None:
                self.offset = np.ldexp(self.offset, -y_exponent)

    # -- sums for the baseline -----------------------------------------------------------------------
    def baseline_sums(self, kind: str, n_classes: int = 0, top: float = 0.0) -> np.ndarray:
        """The sums a closed-form baseline needs (see :func:`shrinktree.dask._baseline.baseline`)."""
        y, w, offset = self.y, self.weight, self.offset
        if kind == "mean":
            target = y if offset is None else y - offset
            return np.array([np.sum(w * target), np.sum(w)])
        if kind == "classes":
            return np.bincount(y.astype(np.int64), weights=w, minlength=n_classes).astype(np.float64)
        if kind == "offset_max":
            return np.array([np.max(offset) if len(offset) else -np.inf])
        if kind == "exposure":
            return np.array([np.sum(w * y), np.sum(w * np.exp(offset - top))])
        raise ValueError(f"unknown baseline sums {kind!r}")

    def newton_sums(self, loss, value: float) -> np.ndarray:
        """Sums of the gradients and hessians at the constant raw score ``value`` (plus the offset)."""
        n = self.n_rows
        g, h = np.empty((1, n)), np.empty((1, n))
        base = np.zeros(n) if self.offset is None else self.offset
        loss.gradients(self.y, (base + value).reshape(-1, 1), self.weight, g, h)
        return np.array([np.sum(h), np.sum(g)])

    def quantile_buckets(self, what: str, prefix, shift: int) -> np.ndarray:
        """Radix buckets of ``y - offset`` (``"target"``) or ``|y - raw|`` (``"residual"``) of every row."""
        if what == "target":
            values = self.y if self.offset is None else self.y - self.offset
        else:
            values = np.abs(self.y - self.raw[:, 0])
        keys = sortable_keys(values)
        return radix_histogram(keys, self.weight, np.zeros(len(keys), dtype=np.int64), np.array([-1], np.int32),
                               prefix, shift)

    def start_raw(self, baseline: np.ndarray) -> None:
        self.raw = np.tile(baseline, (self.n_rows, 1))
        if self.offset is not None:
            self.raw += self.offset[:, None]

    def loss_sums(self, loss) -> np.ndarray:
        """Sum of the weighted pointwise loss and of the weights."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.array([np.sum(self.weight * loss.pointwise_loss(self.y, self.raw)), np.sum(self.weight)])

    def n_training_rows(self) -> int:
        return self.n_rows

    # -- one iteration -------------------------------------------------------------------------------
    def begin_iteration(self, loss, rows, iteration: int, seed: int, honest: bool) -> np.ndarray:
        """Gradients of every tree of the iteration; the iteration's rows (``None``: all) and their honest
        split.  Returns the partition's numbers of growing and held-out rows."""
        K = loss.n_trees_per_iteration
        self.gradients = np.empty((K, self.n_rows))
        self.hessians = np.empty((K, self.n_rows))
        loss.gradients(self.y, self.raw, self.weight, self.gradients, self.hessians)
        self.rows = rows
        self.split = None
        if honest:
            is_held = held_out_mask(self.row_hash, iteration, seed)
            if rows is not None:
                held_rows = is_held[rows]
                self.split = (rows[~held_rows].astype(np.int64), rows[held_rows].astype(np.int64))
            else:
                self.split = (np.flatnonzero(~is_held).astype(np.int64), np.flatnonzero(is_held).astype(np.int64))
            return np.array([len(self.split[0]), len(self.split[1])], dtype=np.float64)
        n = self.n_rows if rows is None else len(rows)
        return np.array([n, 0], dtype=np.float64)

    def begin_tree(self, k: int, use_split: bool, active_features, cat_offsets, cat_feature_mask, n_bins: int,
                   constant_hessian: float) -> tuple:
        """Start tree ``k`` on the growing rows: root sums, level moments and root histograms."""
        self.k = k
        self.g, self.h = self.gradients[k], self.hessians[k]
        self.held_rows = self.held_end = None
        if use_split:
            grow_rows, self.held_rows = self.split
        else:
            grow_rows = self.rows
        self.sample_indices = (np.arange(self.n_rows, dtype=np.int64) if grow_rows is None
                               else np.ascontiguousarray(grow_rows, dtype=np.int64))
        self.buffer = np.empty_like(self.sample_indices)
        self.ranges = {0: (0, len(self.sample_indices))}
        self.active_features, self.cat_offsets, self.cat_feature_mask = active_features, cat_offsets, cat_feature_mask
        self.n_bins, self.constant_hessian = n_bins, constant_hessian
        rows = self.sample_indices
        sums = np.array([np.sum(self.g[rows]), np.sum(self.h[rows]), np.sum(self.weight[rows]), len(rows)])
        moments = None
        if self.codes.shape[0] > 0:
            moments = np.zeros((len(self.n_levels), int(np.max(self.n_levels)) + 1, 6))
            for c in range(len(self.n_levels)):
                if cat_feature_mask[c]:
                    moments[c, :self.n_levels[c] + 1] = level_sums(self.codes[c], rows, self.g, self.h, self.weight,
                                                                   int(self.n_levels[c]) + 1)
        hist, cat_hist = self._histogram(0, len(rows))
        return sums, moments, hist, cat_hist

    def _histogram(self, start: int, stop: int) -> tuple:
        rows = self.sample_indices[start:stop]
        g = gather(self.g, rows)
        has_codes = self.codes.shape[0] > 0
        # A weighted fit's count channels sum the weights, in the same pass (unweighted: rows).
        w = None if self.unit_weights else gather(self.weight, rows)
        if self.constant_hessian > 0 and not has_codes:
            return build_histogram(self.binned, rows, g, g, self.active_features, self.n_bins,
                                   self.constant_hessian, ordered_weights=w), None
        h = gather(self.h, rows)
        hist = build_histogram(self.binned, rows, g, h, self.active_features, self.n_bins, self.constant_hessian,
                               ordered_weights=w)
        if not has_codes:
            return hist, None
        return hist, build_categorical_histogram(self.codes, self.cat_offsets, rows, False, g, h,
                                                 NO_WEIGHTS if w is None else w, self.cat_feature_mask, 0.0)

    def split_node(self, node: int, left: int, right: int, is_categorical: bool, feature: int, bin_index: int,
                   missing_left: bool, bitset, small_is_left: bool) -> tuple:
        """Partition the node's rows at the split; returns the smaller child's histograms and the left
        child's weight and row count (in this partition)."""
        start, stop = self.ranges.pop(node)
        if is_categorical:
            n_left, w_left = partition_rows_categorical(self.codes[feature], self.sample_indices, start, stop, bitset,
                                                        missing_left, int(self.n_levels[feature]), self.weight,
                                                        self.buffer, self.unit_weights)
        else:
            n_left, w_left = partition_rows(self.binned[feature], self.sample_indices, start, stop, bin_index,
                                            missing_left, self.missing_bin, self.weight, self.buffer,
                                            self.unit_weights)
        middle = start + n_left
        self.ranges[left] = (start, middle)
        self.ranges[right] = (middle, stop)
        hist, cat_hist = self._histogram(*self.ranges[left if small_is_left else right])
        return hist, cat_hist, float(w_left), float(n_left)

    def tree_statistics(self, tree: dict, leaf_ratio: dict | None) -> tuple:
        """Within-leaf sum of squares of the growing rows (``leaf_ratio``: each leaf's ``G / H``) and the
        node sums of the held-out rows, each counted in the node it ends at (its leaf, or where it blends) and
        that node's ancestors (the nodes are kept for :meth:`apply_tree`)."""
        within = 0.0
        if leaf_ratio is not None:
            for leaf, ratio in leaf_ratio.items():
                start, stop = self.ranges[leaf]
                within += within_node_sum_of_squares(self.sample_indices, start, stop, self.g, self.h, self.weight,
                                                     ratio)
        held = None
        self.tree = tree
        if self.held_rows is not None:
            self.held_end = self._ends(self.held_rows)
            held = node_statistics(self.held_rows, self.held_end, tree["parent"], self.g, self.h, self.weight)
        return within, held

    def _ends(self, rows):
        """The node each of ``rows`` ends at: its leaf, or the first node where it blends."""
        t = self.tree
        return leaves_by_partition(self.binned, self.codes, rows, t["left"], t["right"], t["feature"],
                                   t["is_categorical"], t["bin_threshold"], t["missing_left"], self.missing_bin,
                                   self.n_levels, t["cat_offset"], t["cat_bitset"], t["present_offset"],
                                   t["present_bitset"])

    def _leaf_of_tree_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows that grew or estimated the tree and reached a leaf, and the leaf of each (held-out rows that
        stopped where they blend take no part, as in :func:`~shrinktree.boosting.pooling.renew_leaf_values`)."""
        parts_rows, parts_leaf = [], []
        for node, (start, stop) in self.ranges.items():
            parts_rows.append(self.sample_indices[start:stop])
            parts_leaf.append(np.full(stop - start, node, dtype=np.int64))
        if self.held_rows is not None:
            at_leaf = self.tree["left"][self.held_end] < 0
            parts_rows.append(self.held_rows[at_leaf])
            parts_leaf.append(self.held_end[at_leaf])
        return np.concatenate(parts_rows), np.concatenate(parts_leaf)

    def renew_buckets(self, prefix, shift: int) -> np.ndarray:
        """Radix buckets, per node, of the residuals ``y - raw`` of the rows that grew or estimated the tree."""
        if shift == 56:
            rows, leaf = self._leaf_of_tree_rows()
            self.renew_rows = (rows, leaf, sortable_keys(self.y[rows] - self.raw[rows, self.k]))
        rows, leaf, keys = self.renew_rows
        return radix_histogram(keys, self.weight[rows], leaf, self.tree["parent"], prefix, shift)

    def _add_values_from(self, rows, nodes, value, raw) -> None:
        """``raw[rows] +=`` each row's value below the node it ended at (the blended value of the node's subtree
        where it blends), walking its bins with the single-machine kernel."""
        t = self.tree
        add_values_from_nodes(self.binned, self.codes, rows, nodes, t["left"], t["right"], t["feature"],
                              t["is_categorical"], t["bin_threshold"], t["missing_left"], self.missing_bin,
                              self.n_levels, t["cat_offset"], t["cat_bitset"], t["present_offset"],
                              t["present_bitset"], t["absent_left_share"], value, raw)

    def apply_tree(self, value: np.ndarray, stopped_node_value: bool = False) -> None:
        """Add the tree's (pooled, learning-rate scaled) node values to the raw scores of its rows.

        ``stopped_node_value``: a held-out row that stopped where it blends takes the node's own value instead
        of its subtree's blended value (``_stopped_value="node"``, the default).
        """
        raw = self.raw[:, self.k]
        leaves = np.array(list(self.ranges), dtype=np.int64)
        bounds = np.array([self.ranges[leaf] for leaf in leaves], dtype=np.int64).reshape(-1, 2)
        add_leaf_values(self.sample_indices, bounds[:, 0].copy(), bounds[:, 1].copy(), value[leaves], raw)
        # A multiclass tree's column of raw is strided: a contiguous copy, added to and written back, keeps one
        # compiled specialization of the walk (as on one machine).
        out = raw if raw.flags.c_contiguous else np.ascontiguousarray(raw)
        if self.held_rows is not None and stopped_node_value:
            out[self.held_rows] += value[self.held_end]  # distinct rows: one addition each
        elif self.held_rows is not None:
            self._add_values_from(self.held_rows, self.held_end, value, out)
        if self.rows is not None:
            outside = np.ones(self.n_rows, dtype=np.bool_)
            outside[self.rows] = False
            outside_rows = np.flatnonzero(outside)
            if len(outside_rows):
                self._add_values_from(outside_rows, self._ends(outside_rows), value, out)
        if out is not raw:
            raw[:] = out
        self.sample_indices = self.buffer = self.ranges = self.held_rows = self.held_end = self.tree = None
        self.renew_rows = None

