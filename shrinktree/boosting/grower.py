"""Leaf-wise (best-first) growth of one tree on binned data.

The grower keeps the rows of every node as a contiguous slice of one index array
(partitioned in place at each split), builds the histogram of the smaller child only
and derives its sibling by subtraction.  It returns the node arrays with each node's
gradient statistics; pooling the values is left to the shrinkage kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import get_num_threads

from .._numba import njit
from .._tree import TreeArrays, _filled
from . import histogram
from .best_first import child_bounds, grow_tree, node_values, search_node
from .histogram import NO_PACKED_ROWS, PARALLEL_GATHER_MIN_ROWS, PARALLEL_MIN_ROWS, SERIAL_ONLY
from .level_noise import PARALLEL_MIN_WORK, level_moments, level_noise_variances, unit_level_moments
from .partition import row_index_dtype
from .present_levels import NO_PRESENT
from .splitting import LEVELS_RAW

_NO_FEATURES = np.zeros(0, dtype=np.bool_)
_NO_INDICES = np.zeros(0, dtype=np.int64)
_NO_VALUES = np.zeros(0)
_NO_LEVEL_HISTOGRAM = np.zeros((0, 3))
_NO_EXTRA = np.zeros((0, 3))
_NO_CATEGORICAL_OFFSETS = np.zeros(1, dtype=np.int64)  # read only: a tree without categorical features


def threshold_table(bin_mapper) -> np.ndarray:
    """``table[f, b]``: the raw threshold of a split sending bins ``<= b`` of numeric feature ``f`` left.

    ``bin_mapper.bin_thresholds(f, b)`` for every bin, once per fit (``inf`` past the last threshold).
    """
    edges = bin_mapper.thresholds_
    table = np.full((len(edges), max((len(t) for t in edges), default=0) + 1), np.inf)
    for f, t in enumerate(edges):
        table[f, :len(t)] = t
    return table


@njit(cache=True)
def _node_arrays(left, is_categorical, grower_feature, bin_threshold, numeric_index, categorical_index, thresholds,
                 sum_g, sum_h, count, extra, l2):
    # GrownTree.node_arrays in one pass: features as columns of X, thresholds, Newton values of all rows.
    n_nodes = left.shape[0]
    has_extra = extra.shape[0] > 0
    feature = np.full(n_nodes, -1, dtype=np.int32)
    threshold = np.full(n_nodes, np.nan)
    raw_value = np.empty(n_nodes)
    total_h = np.empty(n_nodes)
    total_count = np.empty(n_nodes)
    for i in range(n_nodes):
        g = sum_g[i] + extra[i, 0] if has_extra else sum_g[i]
        total_h[i] = sum_h[i] + extra[i, 1] if has_extra else sum_h[i]
        total_count[i] = count[i] + extra[i, 2] if has_extra else count[i]
        denominator = total_h[i] + l2
        raw_value[i] = -g / denominator if denominator > 0 else 0.0
        if left[i] >= 0:
            if is_categorical[i]:
                feature[i] = categorical_index[grower_feature[i]]
            else:
                feature[i] = numeric_index[grower_feature[i]]
                threshold[i] = thresholds[grower_feature[i], bin_threshold[i]]
    return feature, threshold, raw_value, raw_value.copy(), total_h, total_count


@njit(cache=True)
def _absent_left_shares(left, right, present_offset, growing_weight):
    # One compiled pass: numpy's half-dozen calls on a tree's few dozen nodes cost more than the arithmetic.
    share = np.full(left.shape[0], 0.5)
    for i in range(left.shape[0]):
        if present_offset[i] >= 0:
            left_weight = growing_weight[left[i]]
            both = left_weight + growing_weight[right[i]]
            if both > 0:
                share[i] = left_weight / both
    return share


def absent_left_shares(left: np.ndarray, right: np.ndarray, present_offset: np.ndarray,
                       growing_weight: np.ndarray) -> np.ndarray:
    """``TreeArrays.absent_left_share``: at each node with a present set, the left child's growing weight over
    both children's (0.5 elsewhere, and where the children have none).

    Parameters
    ----------
    left, right : ndarray of int32
        Children of every node (-1 for leaves).
    present_offset : ndarray of int64
        -1 at nodes without a present set.
    growing_weight : ndarray of float64
        Weighted count of every node's growing rows (:attr:`GrownTree.weighted_count`).
    """
    return _absent_left_shares(np.ascontiguousarray(left, dtype=np.int32), np.ascontiguousarray(right, dtype=np.int32),
                               np.ascontiguousarray(present_offset, dtype=np.int64),
                               np.ascontiguousarray(growing_weight, dtype=np.float64))


def _parallel_thresholds(one_thread: bool):
    """The node sizes from which ``grow_tree`` builds histograms and gathers rows in parallel.

    On one thread (``n_jobs=1``, or a fit below ``shrinktree._threads.PARALLEL_MIN_ROWS``) never: a parallel region
    of one thread costs its start-up, and the serial histogram kernels sum more features per pass.
    """
    if one_thread:
        return SERIAL_ONLY, SERIAL_ONLY
    return PARALLEL_MIN_ROWS, PARALLEL_GATHER_MIN_ROWS


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
    # Held-out rows partitioned alongside (honest estimation): leaf ``leaf_nodes[j]`` holds
    # ``held_indices[held_leaf_start[j]:held_leaf_stop[j]]``, in their original order.  ``None`` without them.
    held_indices: np.ndarray | None = None
    held_leaf_start: np.ndarray | None = None
    held_leaf_stop: np.ndarray | None = None
    # Categorical splits' present sets (``TreeArrays.present_offset``/``present_bitset``; ``None``: none).  Held-out
    # rows that blend at node ``held_stopped_nodes[j]`` stop there: ``held_indices[held_stopped_start[j]:
    # held_stopped_stop[j]]``, in their original order (no entries: none stopped).
    present_offset: np.ndarray | None = None
    present_bitset: np.ndarray | None = None
    held_stopped_nodes: np.ndarray | None = None
    held_stopped_start: np.ndarray | None = None
    held_stopped_stop: np.ndarray | None = None

    def held_runs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(nodes, start, stop)``: the runs of :attr:`held_indices` by the node each held-out row ends at, the
        leaves' (in :attr:`leaf_nodes` order) then the nodes where rows stopped."""
        if self.held_stopped_nodes is None or len(self.held_stopped_nodes) == 0:
            return self.leaf_nodes, self.held_leaf_start, self.held_leaf_stop
        return (np.concatenate([self.leaf_nodes, self.held_stopped_nodes]),
                np.concatenate([self.held_leaf_start, self.held_stopped_start]),
                np.concatenate([self.held_leaf_stop, self.held_stopped_stop]))

    def held_end_nodes(self) -> np.ndarray:
        """The node each position of :attr:`held_indices` ends at (its leaf, or the node where it stopped)."""
        nodes, start, stop = self.held_runs()
        in_place = np.argsort(start, kind="stable")
        return np.repeat(nodes[in_place], (stop - start)[in_place])

    def sums(self, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per node, the sums of gradients, hessians and weights, with ``extra`` rows' sums added."""
        if extra is None:
            return self.sum_gradients, self.sum_hessians, self.weighted_count
        return self.sum_gradients + extra[:, 0], self.sum_hessians + extra[:, 1], self.weighted_count + extra[:, 2]

    def node_arrays(self, numeric_index: np.ndarray, categorical_index: np.ndarray, thresholds: np.ndarray,
                    l2_regularization: float, extra: np.ndarray | None = None) -> TreeArrays:
        """The tree as node arrays in the units of ``X``, with Newton values (not yet pooled).

        Parameters
        ----------
        numeric_index, categorical_index : ndarray of int64
            Column of ``X`` of each numeric and each categorical feature the grower indexes.
        thresholds : ndarray of float64, shape (n_numeric, n_bins)
            :func:`threshold_table`: the raw threshold of a split after each bin of each numeric feature.
        l2_regularization : float
        extra : ndarray of shape (n_nodes, >= 3), optional
            Sums of gradients, hessians and weights of rows that did not grow the tree (held out):
            values use every row, the pooling strength only the rows that did not choose the splits.
        """
        feature, threshold, raw_value, value, sum_h, count = _node_arrays(
            self.left, self.is_categorical, self.feature, self.bin_threshold, numeric_index, categorical_index,
            thresholds, self.sum_gradients, self.sum_hessians, self.weighted_count,
            _NO_EXTRA if extra is None else extra, float(l2_regularization))
        present = {}
        if self.present_offset is not None:
            present = dict(present_offset=self.present_offset.copy(), present_bitset=self.present_bitset.copy(),
                           absent_left_share=absent_left_shares(self.left, self.right, self.present_offset,
                                                                self.weighted_count))
        return TreeArrays(
            parent=self.parent, left=self.left, right=self.right, feature=feature, threshold=threshold,
            missing_left=self.missing_left, raw_value=raw_value, value=value,
            pooling_factor=_filled(len(self.left), 1.0, np.float64), weight=sum_h, count=count, gain=self.gain.copy(),
            is_categorical=self.is_categorical.copy(), cat_offset=self.cat_offset.copy(),
            cat_bitset=self.cat_bitset.copy(), **present,
        )


@lru_cache(maxsize=8)
def _no_groups(n_numeric: int, n_categorical: int) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`TreeGrower._group_arrays` of a fit without interaction constraints: no rows, so shared (nothing
    can be written into them)."""
    return np.zeros((0, n_numeric), dtype=np.bool_), np.zeros((0, n_categorical), dtype=np.bool_)


class _Node:
    __slots__ = ("start", "stop", "held_start", "held_stop", "g", "h", "count", "weight", "depth", "hist",
                 "cat_hist", "split", "parent", "left", "right", "value", "raw", "bitset", "lower", "upper", "groups")

    def __init__(self, start, stop, g, h, count, weight, depth, parent, held_start=0, held_stop=0):
        self.start, self.stop = start, stop
        self.held_start, self.held_stop = held_start, held_stop
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


def _writeable_rows(rows, dtype):
    """``np.require(rows, dtype, ["C", "W"])``, without its cost (several microseconds a tree) when ``rows`` is
    already such an array, as the honest split's rows are."""
    if isinstance(rows, np.ndarray) and rows.dtype == dtype and rows.flags.c_contiguous and rows.flags.writeable:
        return rows
    return np.require(rows, dtype=dtype, requirements=["C", "W"])


class TreeGrower:
    """Grow one tree best-first.

    Parameters
    ----------
    binned : ndarray of uint8, shape (n_features, n_samples)
    gradients, hessians, sample_weight : ndarray of float64, shape (n_samples,)
        Gradients and hessians already multiplied by the sample weights.
    sample_indices : ndarray of int32 or int64, or None
        Rows to grow on (row subsampling); ``None`` for all.  Kept as int32 (copied if need be) whenever the
        rows fit in it (:func:`~shrinktree.boosting.partition.row_index_dtype`).
    held_indices : ndarray of int32 or int64, or None
        Rows held out of growing (honest estimation), partitioned by every split alongside the growing
        rows so that each one's leaf is known (:attr:`GrownTree.held_indices`).  Not modified, unless
        ``partition_held_in_place``.
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
    tie_tolerance : float
        Gains of two features that agree to this share of the node's score are one tie, kept by the first
        (:data:`~shrinktree.boosting.splitting.TIE_TOLERANCE` for trees grown on few rows; 0 otherwise).
    packed_rows : ndarray of uint32 or None
        ``binned`` as row-major words (:func:`~shrinktree.boosting.histogram.pack_rows`): histograms of
        nodes with few rows are then built from it (faster, the same sums).
    partition_held_in_place : bool
        Partition the caller's ``held_indices`` in place instead of a copy (an array as long as them), when
        the caller does not need their order afterwards.
    blend_absent : bool
        Give every categorical split a present set, so that a level absent from its growing rows blends
        (:func:`shrinktree._tree.categorical_route`), and stop the held-out rows that blend at the split
        (:attr:`GrownTree.held_stopped_nodes`).  False: the rule before present sets.
    """

    def __init__(self, binned, gradients, hessians, sample_weight, sample_indices, n_bins_non_missing,
                 has_missing, missing_bin, feature_mask, effective_tests, max_leaf_nodes=31, max_depth=None,
                 min_samples_leaf=20, l2_regularization=0.0, min_hessian=1e-3, pooling_k=-1.0, codes=None,
                 n_levels=None, cat_feature_mask=None, level_mode=LEVELS_RAW, level_k=0.0, pooled_level_gain=False,
                 constant_hessian=0.0, compute_within_ss=True, unit_weights=False, monotonic_cst=None,
                 interaction_cst=None, level_method=0, held_indices=None, packed_rows=None, tie_tolerance=0.0,
                 partition_held_in_place=False, blend_absent=True):
        self.packed_rows = NO_PACKED_ROWS if packed_rows is None else packed_rows
        # numba's thread count, read once per fit (the fit sets it before its first grower; numba's
        # get_num_threads costs microseconds, paid twice a tree otherwise).  It chooses kernels, never the model.
        self.one_thread = get_num_threads() == 1
        self.blend_absent = bool(blend_absent)
        # Read when a fit's first grower is built, not at import: the tests move the packing threshold.
        self.packed_max_share_inverse = int(histogram.PACKED_MAX_SHARE_INVERSE)
        self.constrained = monotonic_cst is not None and bool(np.any(monotonic_cst != 0))
        self.monotonic_cst = (np.ascontiguousarray(monotonic_cst, dtype=np.int8) if self.constrained
                              else np.zeros(len(n_bins_non_missing), dtype=np.int8))
        self.interactions = interaction_cst
        self.constant_hessian = float(constant_hessian)
        self.unit_weights = bool(unit_weights)
        self.compute_within_ss = compute_within_ss
        self.codes = np.ascontiguousarray(codes) if codes is not None and codes.shape[0] > 0 else None
        self.n_levels = np.ascontiguousarray(n_levels, dtype=np.int64) if self.codes is not None else _NO_INDICES
        self.cat_offsets = (np.concatenate([[0], np.cumsum(self.n_levels + 1)]).astype(np.int64)
                            if self.codes is not None else _NO_CATEGORICAL_OFFSETS)
        self.level_mode = level_mode
        self.level_k = float(level_k)
        self.pooled_level_gain = bool(pooled_level_gain)
        self.level_method = int(level_method)
        self.binned = binned
        self.sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        self.n_bins = missing_bin + 1
        self.n_bins_non_missing = n_bins_non_missing
        self.has_missing = has_missing
        self.missing_bin = missing_bin
        self.effective_tests = effective_tests
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.l2 = l2_regularization
        self.min_hessian = min_hessian
        self._set_tree(gradients, hessians, sample_indices, held_indices, feature_mask, cat_feature_mask,
                       min_samples_leaf, tie_tolerance, pooling_k, partition_held_in_place)

    def _set_tree(self, gradients, hessians, sample_indices, held_indices, feature_mask, cat_feature_mask,
                  min_samples_leaf, tie_tolerance, pooling_k, partition_held_in_place) -> None:
        """The arguments that change from tree to tree of one fit (see the class's parameters)."""
        # Contiguous float64 (no copy when they already are): one compiled specialization of the loop.
        self.gradients = np.ascontiguousarray(gradients, dtype=np.float64)
        self.hessians = np.ascontiguousarray(hessians, dtype=np.float64)
        self.feature_mask = np.ascontiguousarray(feature_mask, dtype=np.bool_)
        # ndarray.nonzero: np.flatnonzero's Python layers cost more than the call (a tree at a time).
        self.active_features = self.feature_mask.nonzero()[0].astype(np.int64, copy=False)
        self.cat_feature_mask = (np.ascontiguousarray(cat_feature_mask, dtype=np.bool_) if self.codes is not None
                                 else _NO_FEATURES)
        self.min_samples_leaf = min_samples_leaf
        self.tie_tolerance = float(tie_tolerance)
        self.pooling_k = pooling_k
        n_samples = self.binned.shape[1]
        self.all_rows = sample_indices is None
        # int32 rows whenever they fit (partition.row_index_dtype): half the memory, one compiled specialization.
        rows_dtype = row_index_dtype(n_samples)
        self.sample_indices = (np.arange(n_samples, dtype=rows_dtype) if sample_indices is None
                               else np.ascontiguousarray(sample_indices, dtype=rows_dtype))
        # A copy unless the caller allows otherwise: its held-out rows serve every tree of a multiclass
        # iteration in their order.
        self.held_indices = (np.zeros(0, dtype=rows_dtype) if held_indices is None
                             else _writeable_rows(held_indices, rows_dtype)
                             if partition_held_in_place else np.array(held_indices, dtype=rows_dtype))
        self.buffer = np.empty(max(len(self.sample_indices), len(self.held_indices)), dtype=rows_dtype)

    def _copy(self) -> TreeGrower:
        # A shallow copy without copy.copy's generic protocol (several microseconds, paid per tree).
        grower = object.__new__(type(self))
        grower.__dict__.update(self.__dict__)
        return grower

    def fit_settings(self) -> TreeGrower:
        """A copy holding only the fit-wide settings, as a template for :meth:`for_tree`: it keeps no rows of
        this tree alive (its row, held-out and scratch arrays are left out)."""
        template = self._copy()
        template.sample_indices = template.held_indices = template.buffer = None
        template.gradients = template.hessians = None
        template.__dict__.pop("level_sigma2", None)
        return template

    def for_tree(self, gradients, hessians, sample_indices, held_indices, feature_mask, cat_feature_mask,
                 min_samples_leaf, tie_tolerance=0.0, pooling_k=-1.0, partition_held_in_place=False) -> TreeGrower:
        """A grower of another tree of the same fit: this one's fit-wide settings, new rows and gradients.

        The same grower as a new :class:`TreeGrower` given the same arguments, without redoing the conversions
        that hold for the whole fit (the booster grows hundreds of trees of a few dozen rows each, where they
        were a visible share of the time).  ``self`` is not changed.
        """
        grower = self._copy()
        grower._set_tree(gradients, hessians, sample_indices, held_indices, feature_mask, cat_feature_mask,
                         min_samples_leaf, tie_tolerance, pooling_k, partition_held_in_place)
        return grower

    def _level_noise(self):
        """Per categorical feature, the within-level noise variance per unit hessian on the growing rows, and
        the root's level histogram when the same pass gives it (no rows otherwise)."""
        root_levels = _NO_LEVEL_HISTOGRAM
        if self.constant_hessian == 1.0 and self.unit_weights:
            moments, root_levels = unit_level_moments(
                self.codes, self.cat_offsets, self.sample_indices, self.all_rows, self.gradients,
                self.cat_feature_mask, SERIAL_ONLY if self.one_thread else PARALLEL_MIN_WORK)
        else:
            moments = level_moments(self.codes, self.sample_indices, self.all_rows, self.gradients, self.hessians,
                                    self.sample_weight, self.n_levels, self.cat_feature_mask)
        return level_noise_variances(moments, self.cat_feature_mask), root_levels

    def _find_split(self, node):
        """Search ``node``'s best split into ``node.split`` (``None`` when it is not searched).

        The split tuple: ``(gain, feature, bin, missing_left, gl, hl, cl, n_tests, is_categorical, left_levels,
        levels_scanned)``; ``feature`` indexes the numeric or the categorical features; ``node.weight`` is
        the size ``min_samples_leaf`` counts (rows when unweighted, as the count channel).  The rule is
        :func:`~shrinktree.boosting.best_first.search_node`, the one :func:`grow_tree` applies; the Python
        loop of the distributed grower calls it through this method.
        """
        feature_mask = self.feature_mask
        has_codes = self.codes is not None
        cat_feature_mask = self.cat_feature_mask if has_codes else _NO_FEATURES
        if self.interactions is not None:
            allowed, cat_allowed = self.interactions.masks(node.groups)
            feature_mask = feature_mask & allowed
            if has_codes:
                cat_feature_mask = cat_feature_mask & cat_allowed
        (searched, gain, feature, bin_index, missing_left, gl, hl, cl, n_tests, is_cat, left_levels,
         scanned) = search_node(
            node.hist, node.cat_hist if has_codes else _NO_LEVEL_HISTOGRAM, NO_PRESENT, feature_mask,
            cat_feature_mask, float(node.g), float(node.h), float(node.weight),
            bool(self._max_depth >= 0 and node.depth >= self._max_depth), float(node.value), float(node.raw),
            float(node.lower), float(node.upper), self.n_bins_non_missing, self.has_missing,
            int(self.missing_bin), self.effective_tests, int(self.min_samples_leaf),
            float(self.l2), float(self.min_hessian), float(self.pooling_k), self.constrained, self.monotonic_cst,
            self.cat_offsets, self.level_sigma2 if has_codes else _NO_VALUES, int(self.level_mode),
            float(self.level_k), bool(self.pooled_level_gain), int(self.level_method), float(self.tie_tolerance))
        node.split = ((gain, feature, bin_index, missing_left, gl, hl, cl, n_tests, is_cat,
                       left_levels if is_cat else None, scanned) if searched else None)

    @property
    def _max_depth(self) -> int:
        return -1 if self.max_depth is None else int(self.max_depth)

    def _set_values(self, node, parent):
        node.raw, node.value = node_values(float(node.g), float(node.h), float(self.l2), float(self.pooling_k),
                                           parent is not None, 0.0 if parent is None else float(parent.value),
                                           0.0 if parent is None else float(parent.raw))

    def _constrain_children(self, node, left, right, feature, is_cat):
        """Bounds and interaction groups of the two children of ``node`` split on ``feature``."""
        if self.constrained:
            sign = 0 if is_cat else int(self.monotonic_cst[feature])
            left.lower, left.upper, right.lower, right.upper = child_bounds(
                sign, float(node.lower), float(node.upper), float(left.raw), float(right.raw))
        if self.interactions is not None:
            groups = self.interactions.after_split(node.groups, feature, bool(is_cat))
            left.groups = right.groups = groups

    def grow(self) -> GrownTree:
        rows = self.sample_indices
        sw = self.sample_weight
        has_codes = self.codes is not None
        root_levels = _NO_LEVEL_HISTOGRAM
        if has_codes:
            self.level_sigma2, root_levels = self._level_noise()
        numeric_groups, categorical_groups = self._group_arrays()
        structure, flags, indices, statistics, cat_bitset, present_bitset, within_ss, leaves, stopped = grow_tree(
            self.binned, self.codes if has_codes else np.zeros((0, self.binned.shape[1]), dtype=np.int32),
            self.gradients, self.hessians, sw, rows, self.held_indices, self.buffer, self.all_rows,
            self.n_bins_non_missing, self.has_missing,
            int(self.missing_bin), self.feature_mask, self.active_features, self.effective_tests,
            int(self.max_leaf_nodes), self._max_depth, int(self.min_samples_leaf), float(self.l2),
            float(self.min_hessian), float(self.pooling_k), self.cat_offsets,
            self.n_levels if has_codes else _NO_INDICES, self.cat_feature_mask if has_codes else _NO_FEATURES,
            self.level_sigma2 if has_codes else _NO_VALUES, int(self.level_mode), float(self.level_k),
            bool(self.pooled_level_gain), int(self.level_method), self.constant_hessian,
            bool(self.compute_within_ss), self.unit_weights, self.constrained, self.monotonic_cst, numeric_groups,
            categorical_groups, *_parallel_thresholds(self.one_thread), self.packed_rows,
            self.packed_max_share_inverse, float(self.tie_tolerance), root_levels, self.blend_absent)
        held = len(self.held_indices) > 0
        blends = self.blend_absent and has_codes
        # Rows of the packed arrays are contiguous views.
        return GrownTree(
            parent=structure[0], left=structure[1], right=structure[2], feature=structure[3],
            bin_threshold=indices[0], missing_left=flags[0], is_categorical=flags[1], cat_offset=indices[1],
            cat_bitset=cat_bitset, levels_scanned=indices[2], sum_gradients=statistics[0],
            sum_hessians=statistics[1], weighted_count=statistics[2], n_rows=indices[3], gain=statistics[3],
            null_factor_tests=statistics[4], within_ss=within_ss, sample_indices=rows, leaf_start=leaves[1],
            leaf_stop=leaves[2], leaf_nodes=leaves[0], held_indices=self.held_indices if held else None,
            held_leaf_start=leaves[3] if held else None, held_leaf_stop=leaves[4] if held else None,
            present_offset=indices[4] if blends else None, present_bitset=present_bitset if blends else None,
            held_stopped_nodes=stopped[0] if held else None, held_stopped_start=stopped[1] if held else None,
            held_stopped_stop=stopped[2] if held else None,
        )

    def _group_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Which numeric and which categorical features each interaction group holds (no rows without groups)."""
        n_numeric = len(self.feature_mask)
        n_categorical = len(self.n_levels) if self.codes is not None else 0
        if self.interactions is None:
            return _no_groups(n_numeric, n_categorical)
        sets = self.interactions.groups
        numeric = np.zeros((len(sets), n_numeric), dtype=np.bool_)
        categorical = np.zeros((len(sets), n_categorical), dtype=np.bool_)
        for q, members in enumerate(sets):
            for is_cat, j in members:
                (categorical if is_cat else numeric)[q, j] = True
        return numeric, categorical
