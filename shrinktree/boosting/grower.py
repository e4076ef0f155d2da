"""Leaf-wise (best-first) growth of one tree on binned data.

The grower keeps the rows of every node as a contiguous slice of one index array
(partitioned in place at each split), builds the histogram of the smaller child only
and derives its sibling by subtraction.  It returns the node arrays with each node's
gradient statistics; pooling the values is left to the shrinkage kernel.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from .._numba import njit
from .._shrinkage import within_variance
from .._tree import TreeArrays
from .histogram import (
    build_categorical_histogram,
    build_histogram,
    build_histogram_all_rows,
    gather,
    subtract_histograms,
    subtract_in_place,
    within_level_moments,
)
from .partition import partition_rows, partition_rows_categorical
from .splitting import LEVELS_RAW, categorical_bitset, find_categorical_split, find_node_split


@njit(cache=True)
def within_node_sum_of_squares(sample_indices, start, stop, gradients, hessians, sample_weight, ratio):
    """sum_i w_i (g~_i - h~_i * ratio)^2 over the node's rows (g = w g~, h = w h~)."""
    total = 0.0
    for i in range(start, stop):
        idx = sample_indices[i]
        w = sample_weight[idx]
        if w <= 0.0:
            continue
        r = gradients[idx] - hessians[idx] * ratio
        total += r * r / w
    return total


@dataclass
class GrownTree:
    """Structure and statistics of a grown tree, in creation (topological) order."""

    parent: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    bin_threshold: np.ndarray
    missing_left: np.ndarray
    is_categorical: np.ndarray
    cat_offset: np.ndarray
    cat_bitset: np.ndarray
    levels_scanned: np.ndarray
    sum_gradients: np.ndarray
    sum_hessians: np.ndarray
    weighted_count: np.ndarray
    n_rows: np.ndarray
    gain: np.ndarray
    null_factor_tests: np.ndarray
    within_ss: float
    sample_indices: np.ndarray
    leaf_start: np.ndarray
    leaf_stop: np.ndarray
    leaf_nodes: np.ndarray

    def sums(self, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per node, the sums of gradients, hessians and weights, with ``extra`` rows' sums added."""
        if extra is None:
            return self.sum_gradients, self.sum_hessians, self.weighted_count
        return self.sum_gradients + extra[:, 0], self.sum_hessians + extra[:, 1], self.weighted_count + extra[:, 2]

    def node_arrays(self, numeric_index: np.ndarray, categorical_index: np.ndarray, bin_thresholds,
                    l2_regularization: float, extra: np.ndarray | None = None) -> TreeArrays:
        """The tree as node arrays in the units of ``X``, with Newton values (not yet pooled).

        Parameters
        ----------
        numeric_index, categorical_index : ndarray of int64
            Column of ``X`` of each numeric and each categorical feature the grower indexes.
        bin_thresholds : callable
            ``bin_thresholds(feature, bin)``: the raw threshold of a split after ``bin``.
        l2_regularization : float
        extra : ndarray of shape (n_nodes, >= 3), optional
            Sums of gradients, hessians and weights of rows that did not grow the tree (held out):
            values use every row, the pooling strength only the rows that did not choose the splits.
        """
        is_cat = self.is_categorical.astype(bool)
        internal = self.left >= 0
        feature = np.full(len(self.feature), -1, dtype=np.int32)
        feature[internal & ~is_cat] = numeric_index[self.feature[internal & ~is_cat]]
        feature[internal & is_cat] = categorical_index[self.feature[internal & is_cat]]
        sum_g, sum_h, count = self.sums(extra)
        denominator = sum_h + l2_regularization
        raw_value = np.where(denominator > 0, -sum_g / np.where(denominator > 0, denominator, 1.0), 0.0)
        threshold = np.full(len(self.left), np.nan)
        for node in np.flatnonzero(internal & ~is_cat).tolist():
            threshold[node] = bin_thresholds(int(self.feature[node]), int(self.bin_threshold[node]))
        return TreeArrays(
            parent=self.parent, left=self.left, right=self.right, feature=feature, threshold=threshold,
            missing_left=self.missing_left, raw_value=raw_value.copy(), value=raw_value.copy(),
            pooling_factor=np.ones(len(self.left)), weight=sum_h.copy(), count=count.copy(), gain=self.gain.copy(),
            is_categorical=self.is_categorical.copy(), cat_offset=self.cat_offset.copy(),
            cat_bitset=self.cat_bitset.copy(),
        )


class _Node:
    __slots__ = ("start", "stop", "g", "h", "count", "weight", "depth", "hist", "cat_hist", "split", "parent",
                 "left", "right", "value", "raw", "bitset", "lower", "upper", "groups")

    def __init__(self, start, stop, g, h, count, weight, depth, parent):
        self.start, self.stop = start, stop
        self.g, self.h, self.count, self.weight = g, h, count, weight
        self.depth, self.parent = depth, parent
        self.hist = self.cat_hist = self.bitset = None
        self.split = None
        self.left = self.right = -1
        self.value = self.raw = 0.0
        # Bounds of the node's value under monotonic constraints; interaction groups its path allows
        # (``None``: every group).
        self.lower, self.upper = -np.inf, np.inf
        self.groups = None


class TreeGrower:
    """Grow one tree best-first.

    Parameters
    ----------
    binned : ndarray of uint8, shape (n_features, n_samples)
    gradients, hessians, sample_weight : ndarray of float64, shape (n_samples,)
        Gradients and hessians already multiplied by the sample weights.
    sample_indices : ndarray of int64 or None
        Rows to grow on (row subsampling); ``None`` for all.
    n_bins_non_missing, has_missing : per-feature binning facts.
    missing_bin : int
    feature_mask : ndarray of bool
        Features this tree may split on (column subsampling).
    effective_tests : ndarray
        ``effective_tests[m]``: effective number of independent tests of ``m`` thresholds.
    pooling_k : float
        ``< 0`` to score splits by raw gain; otherwise ``k`` of the pooled-gain variant.
    codes : ndarray of int32, shape (n_categorical, n_samples) or None
        Codes of the categorical features (``0 .. L-1``, missing code ``L``).
    n_levels : ndarray of int64
        ``L`` of each categorical feature.
    cat_feature_mask : ndarray of bool
        Categorical features this tree may split on.
    level_mode, level_k, pooled_level_gain :
        How levels are pooled before sorting (see :func:`find_categorical_split`).
    level_method : int
        The estimator of the levels' ``tau^2`` with ``level_mode`` EB
        (``shrinktree.variance_components.ESTIMATOR_CODES``; 0, the method of moments, by default).
    constant_hessian : float
        ``> 0`` when every row's hessian equals it (unweighted squared error): histograms then
        count rows instead of summing hessians.
    compute_within_ss : bool
        Whether to sum the within-leaf squares of the gradients (only the in-sample estimates
        of the pooling strength need them).
    unit_weights : bool
        Whether every sample weight is 1 (the partition then counts rows instead of summing weights).
    monotonic_cst : ndarray of int8 or None
        Per numeric feature, 1 (increasing), -1 (decreasing) or 0.  Splits on a constrained feature keep
        their children's values in order, and every node's value stays within bounds propagated from
        the root (the midpoint of a constrained split's two values bounds the two subtrees).
    interaction_cst : InteractionSets or None
        The feature groups a root-to-leaf path may draw its features from (see
        :class:`~shrinktree.boosting.constraints.InteractionSets`).
    packed_rows : ndarray of uint64 or None
        ``binned`` as row-major words (:func:`~shrinktree.boosting.histogram.pack_rows`): histograms of
        nodes with few rows are then built from it (faster, the same sums).
    """

    def __init__(self, binned, gradients, hessians, sample_weight, sample_indices, n_bins_non_missing,
                 has_missing, missing_bin, feature_mask, effective_tests, max_leaf_nodes=31, max_depth=None,
                 min_samples_leaf=20, l2_regularization=0.0, min_hessian=1e-3, pooling_k=-1.0, codes=None,
                 n_levels=None, cat_feature_mask=None, level_mode=LEVELS_RAW, level_k=0.0, pooled_level_gain=False,
                 constant_hessian=0.0, compute_within_ss=True, unit_weights=False, monotonic_cst=None,
                 interaction_cst=None, level_method=0, packed_rows=None):
        self.packed_rows = packed_rows
        self.constrained = monotonic_cst is not None and bool(np.any(monotonic_cst != 0))
        self.monotonic_cst = (np.ascontiguousarray(monotonic_cst, dtype=np.int8) if self.constrained
                              else np.zeros(len(n_bins_non_missing), dtype=np.int8))
        self.interactions = interaction_cst
        self.constant_hessian = float(constant_hessian)
        self.unit_weights = bool(unit_weights)
        self.compute_within_ss = compute_within_ss
        self.codes = codes if codes is not None and codes.shape[0] > 0 else None
        if self.codes is not None:
            self.n_levels = np.ascontiguousarray(n_levels, dtype=np.int64)
            self.cat_offsets = np.concatenate([[0], np.cumsum(self.n_levels + 1)]).astype(np.int64)
            self.cat_feature_mask = cat_feature_mask
            self.level_mode = level_mode
            self.level_k = float(level_k)
            self.pooled_level_gain = bool(pooled_level_gain)
            self.level_method = int(level_method)
        self.binned = binned
        self.gradients = gradients
        self.hessians = hessians
        self.sample_weight = sample_weight
        self.n_bins = missing_bin + 1
        self.n_bins_non_missing = n_bins_non_missing
        self.has_missing = has_missing
        self.missing_bin = missing_bin
        self.feature_mask = feature_mask
        self.active_features = np.flatnonzero(feature_mask).astype(np.int64)
        self.effective_tests = effective_tests
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2 = l2_regularization
        self.min_hessian = min_hessian
        self.pooling_k = pooling_k
        n_samples = binned.shape[1]
        self.all_rows = sample_indices is None
        self.sample_indices = (np.arange(n_samples, dtype=np.int64) if sample_indices is None
                               else np.ascontiguousarray(sample_indices, dtype=np.int64))
        self.buffer = np.empty_like(self.sample_indices)

    def _histogram(self, node):
        """Numeric histogram of the node, and its categorical level histogram when there are categoricals."""
        if self.all_rows and node.start == 0 and node.stop == self.binned.shape[1]:
            hist = build_histogram_all_rows(self.binned, self.gradients, self.hessians, self.active_features,
                                            self.n_bins, self.constant_hessian)
            if self.codes is None:
                return hist, None
            return hist, build_categorical_histogram(self.codes, self.cat_offsets, self.sample_indices, True,
                                                     self.gradients, self.hessians, self.cat_feature_mask)
        rows = self.sample_indices[node.start:node.stop]
        g = gather(self.gradients, rows)
        if self.constant_hessian > 0 and self.codes is None:
            hist = build_histogram(self.binned, rows, g, g, self.active_features, self.n_bins, self.constant_hessian,
                                   self.packed_rows)
            return hist, None
        h = gather(self.hessians, rows)
        hist = build_histogram(self.binned, rows, g, h, self.active_features, self.n_bins, self.constant_hessian,
                               self.packed_rows)
        if self.codes is None:
            return hist, None
        return hist, build_categorical_histogram(self.codes, self.cat_offsets, rows, False, g, h,
                                                 self.cat_feature_mask)

    def _level_noise(self):
        """Per categorical feature, the within-level noise variance per unit hessian on the growing rows."""
        sigma2 = np.zeros(len(self.n_levels))
        for c in range(len(self.n_levels)):
            if not self.cat_feature_mask[c]:
                continue
            sum_sq, mass, count, n_groups = within_level_moments(
                self.codes[c], self.sample_indices, self.all_rows, self.gradients, self.hessians,
                self.sample_weight, int(self.n_levels[c]) + 1)
            sigma2[c] = within_variance(sum_sq, mass, count, n_groups)
        return sigma2

    def _find_split(self, node):
        if node.count < 2 * self.min_samples_leaf or (self.max_depth is not None and node.depth >= self.max_depth):
            return
        feature_mask = self.feature_mask
        cat_feature_mask = self.cat_feature_mask if self.codes is not None else None
        if self.interactions is not None:
            allowed, cat_allowed = self.interactions.masks(node.groups)
            feature_mask = feature_mask & allowed
            if cat_feature_mask is not None:
                cat_feature_mask = cat_feature_mask & cat_allowed
        split = find_node_split(
            node.hist, self.n_bins_non_missing, self.has_missing, feature_mask, self.missing_bin,
            node.g, node.h, float(node.count), self.l2, float(self.min_samples_leaf), self.min_hessian,
            self.effective_tests, self.pooling_k, node.value, node.raw, self.constrained, self.monotonic_cst,
            node.lower, node.upper,
        )
        # Split tuple: (gain, feature, bin, missing_left, gl, hl, cl, n_tests, is_categorical, left_levels,
        # levels_scanned); ``feature`` indexes the numeric or the categorical features.
        split = (*split, False, None, 0)
        if self.codes is not None:
            cat = find_categorical_split(
                node.cat_hist, self.cat_offsets, cat_feature_mask, node.g, node.h, float(node.count), self.l2,
                float(self.min_samples_leaf), self.min_hessian, self.level_sigma2, self.level_mode, self.level_k,
                self.pooled_level_gain, self.constrained, node.lower, node.upper, self.level_method,
            )
            gain, feature, missing_left, gl, hl, cl, scanned, left_levels = cat
            if feature >= 0 and gain > split[0]:
                split = (gain, feature, 0, missing_left, gl, hl, cl, split[7], True, left_levels, scanned)
            else:
                split = (*split[:10], scanned)
        node.split = split

    def _set_values(self, node, parent):
        node.raw = -node.g / (node.h + self.l2) if node.h + self.l2 > 0 else 0.0
        if parent is None or self.pooling_k < 0:
            node.value = node.raw
        else:
            f = node.h / (node.h + self.pooling_k) if node.h + self.pooling_k > 0 else 1.0
            node.value = parent.value + f * (node.raw - parent.raw)

    def _constrain_children(self, node, left, right, feature, is_cat):
        """Bounds and interaction groups of the two children of ``node`` split on ``feature``."""
        if self.constrained:
            sign = 0 if is_cat else int(self.monotonic_cst[feature])
            left.lower = right.lower = node.lower
            left.upper = right.upper = node.upper
            if sign != 0:
                v_left = min(max(left.raw, node.lower), node.upper)
                v_right = min(max(right.raw, node.lower), node.upper)
                mid = 0.5 * (v_left + v_right)
                low_side, high_side = (left, right) if sign > 0 else (right, left)
                low_side.upper = mid
                high_side.lower = mid
        if self.interactions is not None:
            groups = self.interactions.after_split(node.groups, feature, bool(is_cat))
            left.groups = right.groups = groups

    def grow(self) -> GrownTree:
        rows = self.sample_indices
        sw = self.sample_weight
        if self.all_rows:
            g, h, w = self.gradients, self.hessians, sw
        else:
            g, h, w = self.gradients[rows], self.hessians[rows], sw[rows]
        root = _Node(0, len(rows), float(np.sum(g)), float(np.sum(h)), len(rows), float(np.sum(w)), 0, -1)
        self._set_values(root, None)
        nodes = [root]
        if self.codes is not None:
            self.level_sigma2 = self._level_noise()
        root.hist, root.cat_hist = self._histogram(root)
        self._find_split(root)
        heap = []
        if root.split is not None and root.split[1] >= 0 and root.split[0] > 0:
            heapq.heappush(heap, (-root.split[0], 0))
        n_leaves = 1
        while heap and n_leaves < self.max_leaf_nodes:
            _, node_id = heapq.heappop(heap)
            node = nodes[node_id]
            gain, feature, bin_idx, missing_left, gl, hl, cl, _, is_cat, left_levels, _ = node.split
            if is_cat:
                base = self.cat_offsets[feature]
                node.bitset = categorical_bitset(node.cat_hist[base:self.cat_offsets[feature + 1], 2], left_levels,
                                                 bool(missing_left))
                n_left, w_left = partition_rows_categorical(
                    self.codes[feature], self.sample_indices, node.start, node.stop, node.bitset, bool(missing_left),
                    int(self.n_levels[feature]), sw, self.buffer, self.unit_weights)
            else:
                n_missing = node.hist[feature, self.missing_bin, 2]
                if n_missing == 0:
                    # No missing rows seen here: send future missing values to the larger child.
                    missing_left = np.uint8(cl >= node.count - cl)
                n_left, w_left = partition_rows(self.binned[feature], self.sample_indices, node.start, node.stop,
                                                bin_idx, bool(missing_left), self.missing_bin, sw, self.buffer,
                                                self.unit_weights)
            node.split = (gain, feature, bin_idx, missing_left, gl, hl, cl, *node.split[7:])
            mid = node.start + n_left
            left = _Node(node.start, mid, gl, hl, n_left, w_left, node.depth + 1, node_id)
            right = _Node(mid, node.stop, node.g - gl, node.h - hl, node.count - n_left, node.weight - w_left,
                          node.depth + 1, node_id)
            self._set_values(left, node)
            self._set_values(right, node)
            if self.constrained or self.interactions is not None:
                self._constrain_children(node, left, right, feature, is_cat)
            small, large = (left, right) if n_left <= node.count - n_left else (right, left)
            small.hist, small.cat_hist = self._histogram(small)
            large.hist = subtract_histograms(node.hist, small.hist)
            if small.cat_hist is not None:
                # The parent's level histogram is no longer needed: it becomes the larger child's.
                large.cat_hist = subtract_in_place(node.cat_hist, small.cat_hist)
            node.hist = node.cat_hist = None
            node.left, node.right = len(nodes), len(nodes) + 1
            nodes.append(left)
            nodes.append(right)
            n_leaves += 1
            for child_id in (node.left, node.right):
                child = nodes[child_id]
                self._find_split(child)
                if child.split is not None and child.split[1] >= 0 and child.split[0] > 0:
                    heapq.heappush(heap, (-child.split[0], child_id))
                else:
                    child.hist = child.cat_hist = None
        return self._finalize(nodes)

    def _finalize(self, nodes) -> GrownTree:
        n = len(nodes)
        parent = np.array([nd.parent for nd in nodes], dtype=np.int32)
        left = np.array([nd.left for nd in nodes], dtype=np.int32)
        right = np.array([nd.right for nd in nodes], dtype=np.int32)
        feature = np.full(n, -1, dtype=np.int32)
        bin_threshold = np.zeros(n, dtype=np.int64)
        missing_left = np.zeros(n, dtype=np.uint8)
        gain = np.zeros(n)
        tests = np.zeros(n)
        is_categorical = np.zeros(n, dtype=np.uint8)
        cat_offset = np.full(n, -1, dtype=np.int64)
        levels_scanned = np.zeros(n, dtype=np.int64)
        bitsets = []
        n_words = 0
        for i, nd in enumerate(nodes):
            if nd.left >= 0:
                feature[i] = nd.split[1]
                bin_threshold[i] = nd.split[2]
                missing_left[i] = nd.split[3]
                gain[i] = nd.split[0]
                tests[i] = nd.split[7]
                levels_scanned[i] = nd.split[10]
                if nd.split[8]:
                    is_categorical[i] = 1
                    cat_offset[i] = n_words
                    bitsets.append(nd.bitset)
                    n_words += len(nd.bitset)
        cat_bitset = np.concatenate(bitsets).astype(np.uint32) if bitsets else np.zeros(0, dtype=np.uint32)
        leaf_nodes = np.flatnonzero(left < 0)
        leaf_start = np.array([nodes[i].start for i in leaf_nodes], dtype=np.int64)
        leaf_stop = np.array([nodes[i].stop for i in leaf_nodes], dtype=np.int64)
        within_ss = 0.0
        for i in leaf_nodes if self.compute_within_ss else ():
            nd = nodes[i]
            if nd.h > 0:
                within_ss += within_node_sum_of_squares(self.sample_indices, nd.start, nd.stop, self.gradients,
                                                        self.hessians, self.sample_weight, nd.g / nd.h)
        return GrownTree(
            parent=parent, left=left, right=right, feature=feature, bin_threshold=bin_threshold,
            missing_left=missing_left, is_categorical=is_categorical, cat_offset=cat_offset, cat_bitset=cat_bitset,
            levels_scanned=levels_scanned,
            sum_gradients=np.array([nd.g for nd in nodes]), sum_hessians=np.array([nd.h for nd in nodes]),
            weighted_count=np.array([nd.weight for nd in nodes]),
            n_rows=np.array([nd.count for nd in nodes], dtype=np.int64), gain=gain, null_factor_tests=tests,
            within_ss=within_ss, sample_indices=self.sample_indices, leaf_start=leaf_start, leaf_stop=leaf_stop,
            leaf_nodes=leaf_nodes,
        )
