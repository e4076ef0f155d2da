"""The best-first node loop of one tree, compiled, and the node rules it shares with the distributed grower.

On small data a tree is a few dozen splits of a few hundred rows each: driving them from Python cost
more than the arithmetic (about 20 us per split in heap, node objects and a dozen kernel calls).
:func:`grow_tree` runs the whole loop (histograms, split search, partition, heap) in one call.  The rules
of a node, its split search (:func:`search_node`), its values (:func:`node_values`) and its children's
monotonic bounds (:func:`child_bounds`), are compiled once and also serve the Python loop of
:class:`~shrinktree.dask._grower.DistributedGrower`, whose histograms come from the workers.

Nodes are numbered in creation order (a parent before its children); the next node split is the open
node of largest gain, ties going to the older node (the order of a heap on ``(-gain, node id)``).

Compile time matters as much as speed here (a kernel recompiles the code of every kernel it calls): the
node rules are inlined into :func:`grow_tree`, and it picks the next split by a scan, not with heapq.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit
from .histogram import (
    EMPTY_WEIGHT_SHARE,
    PARALLEL_LEVEL_MIN_WORK,
    SERIAL_ONLY,
    _gather_parallel,
    _gather_serial,
    build_categorical_histogram,
    build_histogram_all_rows,
    node_histogram,
    subtract_in_place,
)
from .numpy_sum import pairwise_sum_of
from .partition import partition_node, partition_node_categorical, within_node_sum_of_squares
from .present_levels import list_present_levels, split_present_levels
from .splitting import beats, categorical_bitset, find_categorical_split, find_node_split, present_set


@njit(cache=True)
def node_values(g, h, l2, pooling_k, has_parent, parent_value, parent_raw):
    """(raw Newton value, value) of a node; with ``pooling_k >= 0`` the value is pooled toward the parent's."""
    raw = -g / (h + l2) if h + l2 > 0 else 0.0
    if not has_parent or pooling_k < 0:
        return raw, raw
    f = h / (h + pooling_k) if h + pooling_k > 0 else 1.0
    return raw, parent_value + f * (raw - parent_raw)


@njit(cache=True, inline="always")
def _python_max(a, b):
    # Python's max(a, b) (the first of equals), so that the bounds are those the Python grower set.
    return b if b > a else a


@njit(cache=True, inline="always")
def _python_min(a, b):
    return b if b < a else a


@njit(cache=True)
def child_bounds(sign, lower, upper, left_raw, right_raw):
    """(left lower, left upper, right lower, right upper): the value bounds of a split node's children.

    Both inherit ``[lower, upper]``; a monotonic split (``sign`` 1 or -1) also bounds its two sides at the
    midpoint of their clipped values.
    """
    left_lower = right_lower = lower
    left_upper = right_upper = upper
    if sign != 0:
        v_left = _python_min(_python_max(left_raw, lower), upper)
        v_right = _python_min(_python_max(right_raw, lower), upper)
        mid = 0.5 * (v_left + v_right)
        if sign > 0:
            left_upper, right_lower = mid, mid
        else:
            right_upper, left_lower = mid, mid
    return left_lower, left_upper, right_lower, right_upper


@njit(cache=True, inline="always")
def _unsearchable(count, depth, min_samples_leaf, max_depth):
    # search_node's rule for a node it does not search: too small for two leaves, or at the depth limit.
    return count < 2 * min_samples_leaf or (max_depth >= 0 and depth >= max_depth)


@njit(cache=True, inline="always")
def search_node(hist, cat_hist, node_levels, feature_mask, cat_feature_mask, sum_g, sum_h, count, at_depth_limit,
                value, raw, lower, upper, n_bins_non_missing, has_missing, missing_bin, effective_tests,
                min_samples_leaf, l2, min_hessian, pooling_k, constrained, monotonic_cst, cat_offsets, level_sigma2,
                level_mode, level_k, pooled_level_gain, level_method, tie_tolerance):
    """The best split of one node: numeric thresholds, then categorical partitions when there are any.

    ``count`` is the node's size as ``min_samples_leaf`` counts it (rows, or the weight of a weighted fit, as
    the histograms' count channel); a node smaller than ``2 * min_samples_leaf``, or at the depth limit
    (``at_depth_limit``), is not searched.  ``tie_tolerance``: see :func:`~shrinktree.boosting.splitting.beats`.
    ``cat_hist`` has no rows without categorical features.  ``node_levels``: the node's present levels, or
    none (:func:`~shrinktree.boosting.splitting.find_categorical_split`).  (At most 30 arguments: a call
    with more is built as ``CALL_FUNCTION_EX``, which numba cannot inline.)

    Returns
    -------
    (searched, gain, feature, bin, missing_left, left_g, left_h, left_count, n_effective_tests,
     is_categorical, left_levels, levels_scanned)
        ``feature`` indexes the numeric or the categorical features (``-1``: none admissible);
        ``left_levels`` are the codes a categorical split sends left (empty otherwise).
    """
    no_levels = np.zeros(0, dtype=np.int64)
    has_codes = cat_hist.shape[0] > 0
    if _unsearchable(count, 0, min_samples_leaf, -1) or at_depth_limit:
        return False, -np.inf, -1, 0, np.uint8(0), 0.0, 0.0, 0.0, 0.0, False, no_levels, 0
    gain, feature, bin_index, missing_left, gl, hl, cl, n_tests = find_node_split(
        hist, n_bins_non_missing, has_missing, feature_mask, missing_bin, sum_g, sum_h, float(count), l2,
        float(min_samples_leaf), min_hessian, effective_tests, pooling_k, value, raw, constrained, monotonic_cst,
        lower, upper, tie_tolerance)
    if not has_codes:
        return True, gain, feature, bin_index, missing_left, gl, hl, cl, n_tests, False, no_levels, 0
    cat_gain, cat_feature, cat_missing_left, cat_gl, cat_hl, cat_cl, scanned, left_levels = find_categorical_split(
        cat_hist, cat_offsets, cat_feature_mask, sum_g, sum_h, float(count), l2, float(min_samples_leaf),
        min_hessian, level_sigma2, level_mode, level_k, pooled_level_gain, constrained, lower, upper, level_method,
        tie_tolerance, node_levels)
    if cat_feature >= 0 and beats(cat_gain, gain, sum_g, sum_h, l2, tie_tolerance):
        return (True, cat_gain, cat_feature, 0, cat_missing_left, cat_gl, cat_hl, cat_cl, n_tests, True, left_levels,
                scanned)
    return True, gain, feature, bin_index, missing_left, gl, hl, cl, n_tests, False, no_levels, scanned


@njit(cache=True, inline="always")
def _level_work(parallel_rows):
    # The level histograms' parallel threshold: never in parallel when the numeric ones are not (one thread).
    return SERIAL_ONLY if parallel_rows == SERIAL_ONLY else PARALLEL_LEVEL_MIN_WORK


@njit(cache=True)
def _histograms(binned, packed_rows, codes, has_codes, gradients, hessians, sample_weight, unit_weights,
                sample_indices, start, stop, root_of_all_rows, active_features, n_bins, constant_hessian, cat_offsets,
                cat_feature_mask, parallel_rows, parallel_gather_rows, packed_max_share_inverse):
    # The node's numeric histogram and its level histogram (empty without categoricals); a weighted fit's
    # count channels sum the weights in the same pass.
    no_levels = np.zeros((0, 3))
    if root_of_all_rows:
        weights = np.empty(0) if unit_weights else sample_weight  # no entries: count rows
        hist = build_histogram_all_rows(binned, gradients, hessians, weights, active_features, n_bins,
                                        constant_hessian)
        if not has_codes:
            return hist, no_levels
        return hist, build_categorical_histogram(codes, cat_offsets, sample_indices, root_of_all_rows, gradients,
                                                 hessians, weights, cat_feature_mask, constant_hessian,
                                                 _level_work(parallel_rows))
    rows = sample_indices[start:stop]
    n = stop - start
    gather = n >= parallel_gather_rows
    g = _gather_parallel(gradients, rows) if gather else _gather_serial(gradients, rows)
    if constant_hessian > 0:
        h = g  # not read: every row's hessian is constant_hessian
    else:
        h = _gather_parallel(hessians, rows) if gather else _gather_serial(hessians, rows)
    if unit_weights:
        w = np.empty(0)
    else:
        w = _gather_parallel(sample_weight, rows) if gather else _gather_serial(sample_weight, rows)
    hist = node_histogram(binned, packed_rows, rows, g, h, w, active_features, n_bins, constant_hessian, parallel_rows,
                          packed_max_share_inverse)
    if not has_codes:
        return hist, no_levels
    return hist, build_categorical_histogram(codes, cat_offsets, rows, root_of_all_rows, g, h, w, cat_feature_mask,
                                             constant_hessian, _level_work(parallel_rows))


@njit(cache=True, inline="always")
def next_candidate(candidates, n_candidates, gains):
    """Position in ``candidates[:n_candidates]`` of the node of largest gain, the oldest among equal gains.

    The node a heap on ``(-gain, node id)`` pops first, whatever the order of ``candidates``.
    """
    best = 0
    for k in range(1, n_candidates):
        other, current = candidates[k], candidates[best]
        if gains[other] > gains[current] or (gains[other] == gains[current] and other < current):
            best = k
    return best


# Slots of left levels a tree starts with; enough for most trees (max_leaf_nodes slots could be large).
_INITIAL_SLOTS = 16


@njit(cache=True)
def grow_tree(binned, codes, gradients, hessians, sample_weight, sample_indices, held_indices, buffer, all_rows,
              n_bins_non_missing, has_missing, missing_bin, feature_mask,
              active_features, effective_tests, max_leaf_nodes, max_depth, min_samples_leaf, l2, min_hessian,
              pooling_k, cat_offsets, n_levels, cat_feature_mask, level_sigma2, level_mode, level_k,
              pooled_level_gain, level_method, constant_hessian, compute_within_ss, unit_weights, constrained,
              monotonic_cst, numeric_groups, categorical_groups, parallel_rows, parallel_gather_rows, packed_rows,
              packed_max_share_inverse, tie_tolerance, root_levels, blend_absent):
    """Grow one tree best-first; the arguments are :class:`~shrinktree.boosting.grower.TreeGrower`'s.

    ``blend_absent``: every categorical split gets a present set
    (:func:`~shrinktree.boosting.splitting.present_set`), and the held-out rows that blend there
    (:func:`shrinktree._tree.categorical_route`) stop at the split: they are in neither child's run but in
    the node's *stopped run*, behind its children's.  Otherwise no present sets, and every held-out row
    reaches a leaf (the rule before present sets).

    ``root_levels``: the root's level histogram when the caller has it
    (:func:`~shrinktree.boosting.level_noise.unit_level_moments`); no rows to build it here.

    ``sample_indices`` (the growing rows) and ``held_indices`` (rows held out, possibly none) are
    partitioned in place: each node's rows end up as one run of each.  ``numeric_groups`` and
    ``categorical_groups`` (``n_groups x n_features`` booleans, no rows without interaction constraints)
    say which features each interaction group holds.  ``packed_rows`` (no rows: none) and
    ``packed_max_share_inverse`` choose the packed histograms of small nodes
    (:func:`~shrinktree.boosting.histogram.node_histogram`).

    Returns
    -------
    structure : ndarray of int32, shape (4, n_nodes)
        Rows ``parent``, ``left``, ``right``, ``feature``.
    flags : ndarray of uint8, shape (2, n_nodes)
        Rows ``missing_left``, ``is_categorical``.
    indices : ndarray of int64, shape (5, n_nodes)
        Rows ``bin_threshold``, ``cat_offset``, ``levels_scanned``, ``n_rows``, ``present_offset`` (-1: none).
    statistics : ndarray of float64, shape (5, n_nodes)
        Rows ``sum_gradients``, ``sum_hessians``, ``weighted_count``, ``gain``, ``null_factor_tests``.
    cat_bitset : ndarray of uint32
    present_bitset : ndarray of uint32
        The present sets, concatenated in node order (no words without ``blend_absent``).
    within_ss : float
    leaves : ndarray of int64, shape (5, n_leaves)
        Rows ``leaf_nodes``, ``leaf_start``, ``leaf_stop``, ``held_leaf_start``, ``held_leaf_stop``.
    stopped : ndarray of int64, shape (3, n_stopping_nodes)
        Rows ``node``, ``held_start``, ``held_stop``: the internal nodes where held-out rows stopped and
        their runs of ``held_indices``.

    The node arrays are in creation order, as in :class:`~shrinktree.boosting.grower.GrownTree`; they come
    packed in a few arrays because returning each array to Python has a cost of its own.
    """
    has_codes = codes.shape[0] > 0
    has_groups = numeric_groups.shape[0] > 0
    n_groups = numeric_groups.shape[0]
    n_bins = missing_bin + 1
    n_samples = binned.shape[1]
    capacity = 2 * max_leaf_nodes - 1
    start = np.zeros(capacity, dtype=np.int64)
    stop = np.zeros(capacity, dtype=np.int64)
    held_start = np.zeros(capacity, dtype=np.int64)
    held_stop = np.zeros(capacity, dtype=np.int64)
    sum_g = np.zeros(capacity)
    sum_h = np.zeros(capacity)
    weight = np.zeros(capacity)
    count = np.zeros(capacity, dtype=np.int64)
    depth = np.zeros(capacity, dtype=np.int64)
    parent = np.full(capacity, -1, dtype=np.int32)
    left = np.full(capacity, -1, dtype=np.int32)
    right = np.full(capacity, -1, dtype=np.int32)
    value = np.zeros(capacity)
    raw = np.zeros(capacity)
    lower = np.full(capacity, -np.inf)
    upper = np.full(capacity, np.inf)
    groups = np.ones((capacity, n_groups), dtype=np.bool_)
    # The best split found for each node (kept for the nodes that get split).
    split_gain = np.zeros(capacity)
    split_feature = np.full(capacity, -1, dtype=np.int64)
    split_bin = np.zeros(capacity, dtype=np.int64)
    split_missing_left = np.zeros(capacity, dtype=np.uint8)
    split_gl = np.zeros(capacity)
    split_hl = np.zeros(capacity)
    split_cl = np.zeros(capacity)
    split_tests = np.zeros(capacity)
    split_is_cat = np.zeros(capacity, dtype=np.bool_)
    split_scanned = np.zeros(capacity, dtype=np.int64)
    # Histograms live in slots, one per open node that has them (at most one per leaf), reused once freed;
    # a categorical candidate's left levels live in its slot of a flat pool that doubles when full.
    slot_of = np.full(capacity, -1, dtype=np.int64)
    free_slots = np.empty(max_leaf_nodes, dtype=np.int64)
    n_free = 0
    levels_slots = min(max_leaf_nodes, _INITIAL_SLOTS)
    max_codes = 0
    for f in range(cat_offsets.shape[0] - 1):
        max_codes = max(max_codes, cat_offsets[f + 1] - cat_offsets[f])
    levels_pool = np.empty(levels_slots * max_codes, dtype=np.int64)
    n_levels_in_slot = np.zeros(max_leaf_nodes, dtype=np.int64)
    # The bitsets of categorical splits, in the order of the splits; bitset_start/bitset_words say where.
    max_words = max((max_codes - 1 + 31) >> 5, 1) if has_codes else 0
    bitset_pool = np.zeros((max_leaf_nodes - 1) * max_words, dtype=np.uint32)
    bitset_start = np.zeros(capacity, dtype=np.int64)
    bitset_words = np.zeros(capacity, dtype=np.int64)
    n_pooled_words = 0
    # The present sets likewise (one word more than a bitset each), when absent levels blend.
    present_pool = np.zeros((max_leaf_nodes - 1) * (max_words + 1) if blend_absent else 0, dtype=np.uint32)
    present_start = np.full(capacity, -1, dtype=np.int64)
    n_present_words = 0
    no_present_set = np.zeros(0, dtype=np.uint32)
    # Open nodes that may be split (at most one per leaf).
    candidates = np.empty(max_leaf_nodes, dtype=np.int64)
    n_candidates = 0

    # The root's sums in numpy's order (np.sum of the gathered rows), as the Python grower took them.
    root_g = pairwise_sum_of(gradients, sample_indices)
    root_h = pairwise_sum_of(hessians, sample_indices)
    root_weight = pairwise_sum_of(sample_weight, sample_indices)
    stop[0] = sample_indices.shape[0]
    held_stop[0] = held_indices.shape[0]
    sum_g[0], sum_h[0], weight[0], count[0] = root_g, root_h, root_weight, sample_indices.shape[0]
    # ``weight`` is what min_samples_leaf counts, as the count channel of the histograms does: the summed
    # weights, in an unweighted fit the rows (sums of 1.0).  ``count`` (rows) lays out the partition.
    # Flags passed to other kernels are runtime booleans: a literal True or False would compile another
    # specialization of the callee.
    is_child = n_samples < 0
    raw[0], value[0] = node_values(root_g, root_h, l2, pooling_k, is_child, 0.0, 0.0)
    is_child = not is_child
    build_root_levels = has_codes and root_levels.shape[0] == 0
    root_hist, root_cat_hist = _histograms(binned, packed_rows, codes, build_root_levels, gradients, hessians,
                                           sample_weight, unit_weights, sample_indices, start[0], stop[0],
                                           all_rows and stop[0] == n_samples, active_features, n_bins,
                                           constant_hessian, cat_offsets, cat_feature_mask, parallel_rows,
                                           parallel_gather_rows, packed_max_share_inverse)
    if has_codes and not build_root_levels:
        root_cat_hist = root_levels
    hists, cat_hists = [root_hist], [root_cat_hist]
    no_hist, no_cat_hist = np.zeros((0, 0, 0)), np.zeros((0, 3))
    # An unweighted fit keeps each slot's present levels as lists (shrinktree.boosting.present_levels): the
    # split search reads them instead of every code's count, and the larger child's level histogram is
    # subtracted at the parent's present codes only.
    use_present = has_codes and unit_weights
    levels_size = cat_offsets[-1] + cat_offsets.shape[0] - 1
    no_present = np.zeros(0, dtype=np.int64)  # not the module's NO_PRESENT: a global is typed read-only
    presents = [np.zeros(levels_size if use_present else 0, dtype=np.int64)]
    if use_present:
        list_present_levels(root_cat_hist, cat_offsets, cat_feature_mask, presents[0])
    slot_of[0] = 0
    n_nodes = 1
    to_search = np.zeros(2, dtype=np.int64)
    n_to_search = 1
    n_leaves = 1
    while True:
        for s in range(n_to_search):
            node = to_search[s]
            slot = slot_of[node]
            hist, cat_hist = hists[slot], cat_hists[slot]
            node_levels = presents[slot] if use_present else no_present
            node_features, node_cat_features = feature_mask, cat_feature_mask
            if has_groups:
                allowed = np.zeros(feature_mask.shape[0], dtype=np.bool_)
                cat_allowed = np.zeros(cat_feature_mask.shape[0], dtype=np.bool_)
                for q in range(n_groups):
                    if groups[node, q]:
                        allowed |= numeric_groups[q]
                        cat_allowed |= categorical_groups[q]
                node_features = feature_mask & allowed
                node_cat_features = cat_feature_mask & cat_allowed
            at_depth_limit = max_depth >= 0 and depth[node] >= max_depth
            (searched, gain, feature, bin_index, missing_left, gl, hl, cl, n_tests, is_cat, levels,
             scanned) = search_node(hist, cat_hist, node_levels, node_features,
                                    node_cat_features, sum_g[node], sum_h[node], weight[node], at_depth_limit,
                                    value[node], raw[node], lower[node], upper[node], n_bins_non_missing,
                                    has_missing, missing_bin, effective_tests, min_samples_leaf, l2,
                                    min_hessian, pooling_k, constrained, monotonic_cst, cat_offsets, level_sigma2,
                                    level_mode, level_k, pooled_level_gain, level_method, tie_tolerance)
            split_gain[node], split_feature[node], split_bin[node] = gain, feature, bin_index
            split_missing_left[node], split_gl[node], split_hl[node], split_cl[node] = missing_left, gl, hl, cl
            split_tests[node], split_is_cat[node], split_scanned[node] = n_tests, is_cat, scanned
            if searched and feature >= 0 and gain > 0:
                candidates[n_candidates] = node
                n_candidates += 1
                n_levels_in_slot[slot] = levels.shape[0]
                for k in range(levels.shape[0]):
                    levels_pool[slot * max_codes + k] = levels[k]
            else:
                free_slots[n_free] = slot
                n_free += 1
                slot_of[node] = -1
                hists[slot], cat_hists[slot] = no_hist, no_cat_hist
        if n_candidates == 0 or n_leaves >= max_leaf_nodes:
            break
        best = next_candidate(candidates, n_candidates, split_gain)
        node = candidates[best]
        n_candidates -= 1
        candidates[best] = candidates[n_candidates]
        slot = slot_of[node]
        hist, cat_hist = hists[slot], cat_hists[slot]
        feature = split_feature[node]
        missing_left = split_missing_left[node]
        gl, hl, cl = split_gl[node], split_hl[node], split_cl[node]
        if split_is_cat[node]:
            base = cat_offsets[feature]
            level_counts = cat_hist[base:cat_offsets[feature + 1], 2]
            bitset = categorical_bitset(level_counts,
                                        levels_pool[slot * max_codes:slot * max_codes + n_levels_in_slot[slot]],
                                        missing_left != 0)
            bitset_start[node], bitset_words[node] = n_pooled_words, bitset.shape[0]
            bitset_pool[n_pooled_words:n_pooled_words + bitset.shape[0]] = bitset
            n_pooled_words += bitset.shape[0]
            present = no_present_set
            if blend_absent:
                present = present_set(level_counts)
                present_start[node] = n_present_words
                present_pool[n_present_words:n_present_words + present.shape[0]] = present
                n_present_words += present.shape[0]
            n_left, w_left, n_held_left, n_held_right = partition_node_categorical(
                codes[feature], sample_indices, start[node], stop[node], held_indices, held_start[node],
                held_stop[node], bitset, missing_left != 0, n_levels[feature], sample_weight, buffer,
                unit_weights, present)
        else:
            if hist[feature, missing_bin, 2] == 0:
                # No missing rows seen here: send future missing values to the larger child.
                missing_left = np.uint8(1) if cl >= weight[node] - cl else np.uint8(0)
                split_missing_left[node] = missing_left
            n_left, w_left, n_held_left = partition_node(
                binned[feature], sample_indices, start[node], stop[node], held_indices, held_start[node],
                held_stop[node], split_bin[node], missing_left != 0, missing_bin, sample_weight, buffer,
                unit_weights)
            n_held_right = held_stop[node] - held_start[node] - n_held_left
        a, b = n_nodes, n_nodes + 1
        left[node], right[node] = a, b
        n_nodes += 2
        mid, held_mid = start[node] + n_left, held_start[node] + n_held_left
        start[a], stop[a], start[b], stop[b] = start[node], mid, mid, stop[node]
        held_start[a], held_stop[a] = held_start[node], held_mid
        held_start[b], held_stop[b] = held_mid, held_mid + n_held_right  # the rest of the node's run stopped
        sum_g[a], sum_h[a], count[a], weight[a] = gl, hl, n_left, w_left
        sum_g[b], sum_h[b] = sum_g[node] - gl, sum_h[node] - hl
        count[b], weight[b] = count[node] - n_left, weight[node] - w_left
        for child in (a, b):
            depth[child] = depth[node] + 1
            parent[child] = node
            raw[child], value[child] = node_values(sum_g[child], sum_h[child], l2, pooling_k, is_child, value[node],
                                                   raw[node])
        if constrained:
            sign = 0 if split_is_cat[node] else monotonic_cst[feature]
            lower[a], upper[a], lower[b], upper[b] = child_bounds(sign, lower[node], upper[node], raw[a], raw[b])
        if has_groups:
            member = categorical_groups[:, feature] if split_is_cat[node] else numeric_groups[:, feature]
            for q in range(n_groups):
                groups[a, q] = groups[b, q] = groups[node, q] and member[q]
        n_leaves += 1
        if n_leaves >= max_leaf_nodes:
            break  # the last split: its children stay leaves, their histograms and searches are not needed
        if _unsearchable(weight[a], depth[a], min_samples_leaf, max_depth) and _unsearchable(
                weight[b], depth[b], min_samples_leaf, max_depth):
            # Neither child can be split (search_node would not search them): they stay leaves, and the histograms
            # only their searches would read are not built.  The parent's slot is free again.
            free_slots[n_free] = slot
            n_free += 1
            slot_of[node] = -1
            hists[slot], cat_hists[slot] = no_hist, no_cat_hist
            n_to_search = 0
            continue
        # The smaller child by the count channel (rows when unweighted): the rule the distributed grower
        # applies before its workers partition.
        small, large = (a, b) if cl <= weight[node] - cl else (b, a)
        small_hist, small_cat_hist = _histograms(
            binned, packed_rows, codes, has_codes, gradients, hessians, sample_weight, unit_weights, sample_indices,
            start[small], stop[small], not is_child, active_features, n_bins, constant_hessian, cat_offsets,
            cat_feature_mask, parallel_rows, parallel_gather_rows, packed_max_share_inverse)
        # The parent's slot becomes the larger child's (parent minus smaller child, in place; flat, so that
        # both histograms use one specialization); a weighted fit's empty bins snap to 0 (EMPTY_WEIGHT_SHARE).
        count_floor = -np.inf if unit_weights else EMPTY_WEIGHT_SHARE * weight[node]
        subtract_in_place(hist.reshape(hist.size), small_hist.reshape(small_hist.size), count_floor)
        slot_of[large], slot_of[node] = slot, -1
        if n_free > 0:
            n_free -= 1
            slot_of[small] = free_slots[n_free]
            hists[slot_of[small]], cat_hists[slot_of[small]] = small_hist, small_cat_hist
        else:
            slot_of[small] = len(hists)
            hists.append(small_hist)
            cat_hists.append(small_cat_hist)
            if use_present:
                presents.append(np.zeros(levels_size, dtype=np.int64))
            if len(hists) > levels_slots:
                levels_slots = min(2 * levels_slots, max_leaf_nodes)
                grown_levels_pool = np.empty(levels_slots * max_codes, dtype=np.int64)
                for k in range(levels_pool.shape[0]):
                    grown_levels_pool[k] = levels_pool[k]
                levels_pool = grown_levels_pool
        if use_present:
            split_present_levels(cat_hist, small_cat_hist, cat_offsets, presents[slot], presents[slot_of[small]])
        elif has_codes:
            subtract_in_place(cat_hist.reshape(cat_hist.size), small_cat_hist.reshape(small_cat_hist.size),
                              count_floor)
        to_search[0], to_search[1] = a, b
        n_to_search = 2

    internal = left[:n_nodes] >= 0
    structure = np.empty((4, n_nodes), dtype=np.int32)
    structure[0] = parent[:n_nodes]
    structure[1] = left[:n_nodes]
    structure[2] = right[:n_nodes]
    structure[3] = -1
    flags = np.zeros((2, n_nodes), dtype=np.uint8)
    indices = np.zeros((5, n_nodes), dtype=np.int64)
    indices[1] = -1
    indices[3] = count[:n_nodes]
    indices[4] = -1
    statistics = np.zeros((5, n_nodes))
    statistics[0] = sum_g[:n_nodes]
    statistics[1] = sum_h[:n_nodes]
    statistics[2] = weight[:n_nodes]
    cat_bitset = np.zeros(n_pooled_words, dtype=np.uint32)
    n_words = 0
    present_bitset = np.zeros(n_present_words, dtype=np.uint32)
    n_present = 0
    n_stopping = 0
    for i in range(n_nodes):
        if not internal[i]:
            continue
        n_stopping += held_stop[i] > held_stop[right[i]]
        structure[3, i] = split_feature[i]
        indices[0, i] = split_bin[i]
        flags[0, i] = split_missing_left[i]
        statistics[3, i] = split_gain[i]
        statistics[4, i] = split_tests[i]
        indices[2, i] = split_scanned[i]
        if split_is_cat[i]:
            flags[1, i] = 1
            indices[1, i] = n_words
            for k in range(bitset_words[i]):
                cat_bitset[n_words + k] = bitset_pool[bitset_start[i] + k]
            n_words += bitset_words[i]
            if present_start[i] >= 0:
                indices[4, i] = n_present
                for k in range(bitset_words[i] + 1):
                    present_bitset[n_present + k] = present_pool[present_start[i] + k]
                n_present += bitset_words[i] + 1
    stopped = np.empty((3, n_stopping), dtype=np.int64)
    k = 0
    for node in range(n_nodes):
        if internal[node] and held_stop[node] > held_stop[right[node]]:
            stopped[0, k], stopped[1, k], stopped[2, k] = node, held_stop[right[node]], held_stop[node]
            k += 1
    within_ss = 0.0
    leaves = np.empty((5, n_leaves), dtype=np.int64)
    k = 0
    for node in range(n_nodes):
        if internal[node]:
            continue
        leaves[0, k], leaves[1, k], leaves[2, k] = node, start[node], stop[node]
        leaves[3, k], leaves[4, k] = held_start[node], held_stop[node]
        k += 1
        if compute_within_ss and sum_h[node] > 0:
            within_ss += within_node_sum_of_squares(sample_indices, start[node], stop[node], gradients,
                                                    hessians, sample_weight, sum_g[node] / sum_h[node])
    return structure, flags, indices, statistics, cat_bitset, present_bitset, within_ss, leaves, stopped
