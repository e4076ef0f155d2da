"""Best-first growth of one tree on the client, from histograms summed over the workers' partitions.

:class:`DistributedGrower` is :class:`~shrinktree.boosting.grower.TreeGrower`'s loop with the data
taken out: the split search, the node values, the monotonic bounds and interaction groups are the
single-machine grower's own methods, run once per node on the summed histograms; the rows stay on the
workers, which partition them at each split and build the smaller child's histogram
(:meth:`~shrinktree.dask._partition.TrainPartition.split_node`).  The larger child's histogram is the
parent's minus the smaller one, as on one machine.  A categorical split's present set (the levels its
growing rows had, where other levels blend) is read off the node's summed level histogram with the
single-machine :func:`~shrinktree.boosting.splitting.present_set`.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..boosting.grower import GrownTree, TreeGrower, _Node, absent_left_shares
from ..boosting.histogram import EMPTY_WEIGHT_SHARE, subtract_histograms
from ..boosting.honest import DEFAULT_MIN_LEAF_RULE, HONEST_FRACTION, growing_split_rules
from ..boosting.level_noise import level_noise_variances, summarize_level_sums
from ..boosting.splitting import LEVELS_RAW, categorical_bitset, present_set


def level_noise(moments: np.ndarray, n_levels: np.ndarray, cat_feature_mask: np.ndarray) -> np.ndarray:
    """Per categorical feature, the within-level noise variance from the per-level sums added over the
    partitions (:func:`~shrinktree.boosting.level_noise.level_sums`)."""
    summaries = np.zeros((len(n_levels), 4))
    for c in np.flatnonzero(cat_feature_mask):
        summaries[c] = summarize_level_sums(np.ascontiguousarray(moments[c, :int(n_levels[c]) + 1]))
    return level_noise_variances(summaries, np.ascontiguousarray(cat_feature_mask, dtype=np.bool_))


class DistributedGrower(TreeGrower):
    """Grow tree ``k`` of an iteration over the partitions (parameters as :class:`TreeGrower`'s, without data).

    Parameters
    ----------
    partitions : Partitions
        The training partitions, after :meth:`~shrinktree.dask._partition.TrainPartition.begin_iteration`.
    k : int
        Which of the iteration's trees (its gradients) to grow.
    use_split : bool
        Grow on the honest split's growing rows (``False``: every row of the iteration).
    unit_weights : bool
        Whether every weight is 1.  Otherwise the histograms' count channel and ``min_samples_leaf`` count
        weight (the workers' histograms sum weights there, and the larger child's empty bins are snapped
        to 0 after subtraction, as on one machine).
    min_leaf_rule :
        How an honest tree counts ``min_samples_leaf`` (:func:`~shrinktree.boosting.honest.growing_min_samples_leaf`,
        applied to the growing rows' weight once the root sums arrive).
    blend_absent : bool
        Give every categorical split a present set, as :class:`TreeGrower` does (False: none, the rule before
        present sets).
    """

    def __init__(self, partitions, k, use_split, n_bins_non_missing, has_missing, missing_bin, feature_mask,
                 effective_tests, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20, l2_regularization=0.0,
                 min_hessian=1e-3, pooling_k=-1.0, n_levels=None, cat_feature_mask=None, level_mode=LEVELS_RAW,
                 level_k=0.0, pooled_level_gain=False, constant_hessian=0.0, compute_within_ss=True,
                 monotonic_cst=None, interaction_cst=None, level_method=0, unit_weights=True,
                 min_leaf_rule=DEFAULT_MIN_LEAF_RULE, blend_absent=True):
        # TreeGrower's split search and value methods read these attributes; the data stays on the workers.
        self.partitions, self.k, self.use_split = partitions, k, use_split
        self.constrained = monotonic_cst is not None and bool(np.any(monotonic_cst != 0))
        self.monotonic_cst = (np.ascontiguousarray(monotonic_cst, dtype=np.int8) if self.constrained
                              else np.zeros(len(n_bins_non_missing), dtype=np.int8))
        self.interactions = interaction_cst
        self.constant_hessian = float(constant_hessian)
        self.compute_within_ss = compute_within_ss
        has_codes = n_levels is not None and len(n_levels) > 0
        # ``codes`` only marks whether there are categorical features (TreeGrower._find_split tests it).
        self.codes = True if has_codes else None
        self.n_levels = np.ascontiguousarray(n_levels if has_codes else np.zeros(0), dtype=np.int64)
        self.cat_offsets = np.concatenate([[0], np.cumsum(self.n_levels + 1)]).astype(np.int64)
        self.cat_feature_mask = (np.ascontiguousarray(cat_feature_mask, dtype=np.bool_) if has_codes
                                 else np.zeros(0, dtype=np.bool_))
        self.level_mode, self.level_k, self.pooled_level_gain = level_mode, float(level_k), bool(pooled_level_gain)
        self.level_method = int(level_method)
        self.n_bins = missing_bin + 1
        self.n_bins_non_missing, self.has_missing, self.missing_bin = n_bins_non_missing, has_missing, missing_bin
        self.feature_mask = feature_mask
        self.active_features = np.flatnonzero(feature_mask).astype(np.int64)
        self.effective_tests = effective_tests
        self.max_leaf_nodes, self.max_depth, self.min_samples_leaf = max_leaf_nodes, max_depth, min_samples_leaf
        self.l2, self.min_hessian, self.pooling_k = l2_regularization, min_hessian, pooling_k
        self.unit_weights, self.min_leaf_rule = bool(unit_weights), min_leaf_rule
        self.tie_tolerance = 0.0
        self.blend_absent = bool(blend_absent)
        self.present_sets = {}  # node id -> present set of the node's categorical split

    def grow(self) -> GrownTree:
        sums, moments, hist, cat_hist = self.partitions.total(
            "begin_tree", self.k, self.use_split, self.active_features, self.cat_offsets, self.cat_feature_mask,
            self.n_bins, self.constant_hessian)
        n_rows = int(round(sums[3]))
        if self.use_split:
            # The root's weight (its rows when unweighted) is known only now, summed over the partitions.
            self.min_samples_leaf, self.tie_tolerance = growing_split_rules(
                self.min_samples_leaf, float(sums[2]), HONEST_FRACTION, self.min_leaf_rule)
        root = _Node(0, n_rows, float(sums[0]), float(sums[1]), n_rows, float(sums[2]), 0, -1)
        self._set_values(root, None)
        nodes = [root]
        if self.codes is not None:
            self.level_sigma2 = level_noise(moments, self.n_levels, self.cat_feature_mask)
        root.hist, root.cat_hist = hist, cat_hist
        self._find_split(root)
        heap = []
        if root.split is not None and root.split[1] >= 0 and root.split[0] > 0:
            heapq.heappush(heap, (-root.split[0], 0))
        n_leaves = 1
        while heap and n_leaves < self.max_leaf_nodes:
            _, node_id = heapq.heappop(heap)
            node = nodes[node_id]
            gain, feature, bin_idx, missing_left, gl, hl, cl, _, is_cat, left_levels, _ = node.split
            bitset = None
            if is_cat:
                base = self.cat_offsets[feature]
                level_counts = node.cat_hist[base:self.cat_offsets[feature + 1], 2]
                node.bitset = bitset = categorical_bitset(level_counts, left_levels, bool(missing_left))
                if self.blend_absent:
                    self.present_sets[node_id] = present_set(level_counts)
            else:
                if node.hist[feature, self.missing_bin, 2] == 0:
                    # No missing rows seen here: send future missing values to the larger child.
                    missing_left = np.uint8(cl >= node.weight - cl)
            # The count channel (rows when unweighted, else weight) picks the smaller child, as on one machine.
            small_is_left = bool(cl <= node.weight - cl)
            left_id, right_id = len(nodes), len(nodes) + 1
            small_hist, small_cat_hist, w_left, n_left_rows = self.partitions.total(
                "split_node", node_id, left_id, right_id, bool(is_cat), int(feature), int(bin_idx),
                bool(missing_left), bitset, small_is_left)
            n_left = int(round(n_left_rows))
            if self.unit_weights and n_left != int(round(cl)):
                raise RuntimeError(f"The partitions sent {n_left_rows} rows left where the histogram counted {cl}.")
            node.split = (gain, feature, bin_idx, missing_left, gl, hl, cl, *node.split[7:])
            left = _Node(node.start, node.start + n_left, gl, hl, n_left, w_left, node.depth + 1, node_id)
            right = _Node(node.start + n_left, node.stop, node.g - gl, node.h - hl, node.count - n_left,
                          node.weight - w_left, node.depth + 1, node_id)
            self._set_values(left, node)
            self._set_values(right, node)
            if self.constrained or self.interactions is not None:
                self._constrain_children(node, left, right, feature, is_cat)
            small, large = (left, right) if small_is_left else (right, left)
            small.hist, small.cat_hist = small_hist, small_cat_hist
            # A weighted fit's empty bins snap to 0 (histogram.EMPTY_WEIGHT_SHARE), as on one machine.
            count_floor = -np.inf if self.unit_weights else EMPTY_WEIGHT_SHARE * node.weight
            large.hist = subtract_histograms(node.hist, small.hist, count_floor)
            if small.cat_hist is not None:
                large.cat_hist = subtract_histograms(node.cat_hist, small.cat_hist, count_floor)
            node.hist = node.cat_hist = None
            node.left, node.right = left_id, right_id
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
        """The grown tree; ``within_ss`` and the row layout are filled in from the partitions afterwards."""
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
        bitsets, present_sets = [], []
        present_offset = np.full(n, -1, dtype=np.int64)
        n_words = n_present_words = 0
        for i, nd in enumerate(nodes):
            if nd.left >= 0:
                feature[i], bin_threshold[i], missing_left[i] = nd.split[1], nd.split[2], nd.split[3]
                gain[i], tests[i], levels_scanned[i] = nd.split[0], nd.split[7], nd.split[10]
                if nd.split[8]:
                    is_categorical[i] = 1
                    cat_offset[i] = n_words
                    bitsets.append(nd.bitset)
                    n_words += len(nd.bitset)
                    if i in self.present_sets:
                        present_offset[i] = n_present_words
                        present_sets.append(self.present_sets[i])
                        n_present_words += len(self.present_sets[i])
        cat_bitset = np.concatenate(bitsets).astype(np.uint32) if bitsets else np.zeros(0, dtype=np.uint32)
        present_bitset = (np.concatenate(present_sets).astype(np.uint32) if present_sets
                          else np.zeros(0, dtype=np.uint32))
        # As TreeGrower: present sets whenever absent levels blend and there are categorical features.
        blends = self.blend_absent and self.codes is not None
        return GrownTree(
            parent=parent, left=left, right=right, feature=feature, bin_threshold=bin_threshold,
            missing_left=missing_left, is_categorical=is_categorical, cat_offset=cat_offset, cat_bitset=cat_bitset,
            levels_scanned=levels_scanned,
            sum_gradients=np.array([nd.g for nd in nodes]), sum_hessians=np.array([nd.h for nd in nodes]),
            weighted_count=np.array([nd.weight for nd in nodes]),
            n_rows=np.array([nd.count for nd in nodes], dtype=np.int64), gain=gain, null_factor_tests=tests,
            within_ss=0.0, sample_indices=None, leaf_start=None, leaf_stop=None, leaf_nodes=np.flatnonzero(left < 0),
            present_offset=present_offset if blends else None, present_bitset=present_bitset if blends else None,
        )


def tree_dict(grown: GrownTree) -> dict:
    """The grown tree's routing arrays (grower feature numbering), as the partitions walk it.

    Without present sets (``grown.present_offset`` None) every level routes by the split's bitset, NaN and
    absent levels by the missing side.
    """
    n_nodes = len(grown.left)
    present_offset = (np.full(n_nodes, -1, dtype=np.int64) if grown.present_offset is None
                      else grown.present_offset)
    present_bitset = np.zeros(0, dtype=np.uint32) if grown.present_bitset is None else grown.present_bitset
    return {"parent": grown.parent, "left": grown.left, "right": grown.right, "feature": grown.feature,
            "is_categorical": grown.is_categorical, "bin_threshold": grown.bin_threshold,
            "missing_left": grown.missing_left, "cat_offset": grown.cat_offset, "cat_bitset": grown.cat_bitset,
            "present_offset": present_offset, "present_bitset": present_bitset,
            "absent_left_share": absent_left_shares(grown.left, grown.right, present_offset, grown.weighted_count)}
