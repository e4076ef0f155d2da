"""Prediction on binned data during training (training rows out of the bag, validation rows)."""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._tree import BLEND, GO_LEFT, GO_RIGHT, categorical_route

# Rows of one parallel task of add_tree_binned (each task allocates the scratch of blended walks once).
WALK_BLOCK_ROWS = 1024


@njit(cache=True, inline="always")
def binned_route(binned, codes, i, node, feature, is_categorical, bin_threshold, missing_left, missing_bin, n_levels,
                 cat_offset, cat_bitset, present_offset, present_bitset):
    """Where row ``i`` of the binned data goes at internal node ``node``: ``GO_LEFT``, ``GO_RIGHT`` or ``BLEND``.

    Categorical nodes apply :func:`shrinktree._tree.categorical_route` (a code ``>= n_levels`` is missing);
    numeric nodes compare the bin with the split's bin (the missing bin by ``missing_left``).
    """
    f = feature[node]
    if is_categorical[node]:
        code = np.int64(codes[f, i])
        return categorical_route(code >= n_levels[f], code, node, missing_left, cat_offset, cat_bitset,
                                 present_offset, present_bitset)
    b = binned[f, i]
    if b == missing_bin:
        return GO_LEFT if missing_left[node] == 1 else GO_RIGHT
    return GO_LEFT if b <= bin_threshold[node] else GO_RIGHT


@njit(cache=True)
def _blended_value(binned, codes, i, node, left, right, feature, is_categorical, bin_threshold, missing_left,
                   missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset, absent_left_share,
                   value, stack_node, stack_share):
    # The subtree of ``node`` walked down both children wherever the row blends, depth first, left subtrees
    # first: sum over the leaves reached of (product of the shares on the way) x value.  The stack (scratch of
    # one entry per node: each node is pushed at most once) is the caller's, allocated once for many rows.
    stack_node[0], stack_share[0] = node, 1.0
    depth = 1
    total = 0.0
    while depth > 0:
        depth -= 1
        at, share = stack_node[depth], stack_share[depth]
        while left[at] >= 0:
            route = binned_route(binned, codes, i, at, feature, is_categorical, bin_threshold, missing_left,
                                 missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset)
            if route == BLEND:
                p_left = absent_left_share[at]
                stack_node[depth], stack_share[depth] = right[at], share * (1.0 - p_left)
                depth += 1
                share = share * p_left
                at = left[at]
            else:
                at = left[at] if route == GO_LEFT else right[at]
        total += share * value[at]
    return total


@njit(cache=True, inline="always")
def binned_tree_value(binned, codes, i, node, left, right, feature, is_categorical, bin_threshold, missing_left,
                      missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset,
                      absent_left_share, value, stack_node, stack_share):
    """The value of row ``i`` of the binned data in the subtree of ``node``: its leaf's, or, once it blends,
    the share-weighted sum of the leaves it reaches (the rule of :func:`shrinktree._tree.categorical_route`).

    The one binned walk of a tree with blending (training predictions of held-out rows that stopped, of rows
    outside the subsample, evaluation rows).  A row goes down one path until it first blends; from there a
    stack walk takes both children (a rare row, so the common path keeps a plain loop).  ``stack_node`` (int64)
    and ``stack_share`` (float64), one entry per node of the tree, are its scratch space.
    """
    while left[node] >= 0:
        route = binned_route(binned, codes, i, node, feature, is_categorical, bin_threshold, missing_left,
                             missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset)
        if route == BLEND:
            return _blended_value(binned, codes, i, node, left, right, feature, is_categorical, bin_threshold,
                                  missing_left, missing_bin, n_levels, cat_offset, cat_bitset, present_offset,
                                  present_bitset, absent_left_share, value, stack_node, stack_share)
        node = left[node] if route == GO_LEFT else right[node]
    return value[node]


@njit(parallel=True, cache=True)
def add_tree_binned(binned, codes, left, right, feature, is_categorical, bin_threshold, missing_left, missing_bin,
                    n_levels, cat_offset, cat_bitset, present_offset, present_bitset, absent_left_share, value, out):
    """``out[i] +=`` the tree's value of every row of the feature-major ``binned`` matrix (:func:`binned_tree_value`).

    ``feature`` indexes ``binned`` (numeric splits) or ``codes`` (categorical splits, ``is_categorical``);
    a categorical code ``>= n_levels`` is missing.
    """
    n_rows = binned.shape[1]
    n_blocks = (n_rows + WALK_BLOCK_ROWS - 1) // WALK_BLOCK_ROWS
    for block in prange(n_blocks):
        stack_node = np.empty(left.shape[0], dtype=np.int64)
        stack_share = np.empty(left.shape[0])
        for i in range(block * WALK_BLOCK_ROWS, min(n_rows, (block + 1) * WALK_BLOCK_ROWS)):
            out[i] += binned_tree_value(binned, codes, i, 0, left, right, feature, is_categorical, bin_threshold,
                                        missing_left, missing_bin, n_levels, cat_offset, cat_bitset, present_offset,
                                        present_bitset, absent_left_share, value, stack_node, stack_share)


@njit(parallel=True, cache=True)
def add_values_from_nodes(binned, codes, rows, nodes, left, right, feature, is_categorical, bin_threshold,
                          missing_left, missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset,
                          absent_left_share, value, out):
    """``out[rows[r]] +=`` the value of row ``rows[r]`` in the subtree of ``nodes[r]`` (:func:`binned_tree_value`);
    ``rows`` are distinct.

    ``nodes[r]`` is the row's leaf, or the node where it stopped because it blends there (a held-out row of
    growth, a row routed by :func:`~shrinktree.boosting.routing.leaves_by_partition`): such a row takes the
    blended value of that node's subtree.  At a leaf, ``out[rows[r]] += value[nodes[r]]``.
    """
    n_blocks = (rows.shape[0] + WALK_BLOCK_ROWS - 1) // WALK_BLOCK_ROWS
    for block in prange(n_blocks):  # the rows are distinct: each block adds into its own rows of ``out``
        stack_node = np.empty(left.shape[0], dtype=np.int64)
        stack_share = np.empty(left.shape[0])
        for r in range(block * WALK_BLOCK_ROWS, min(rows.shape[0], (block + 1) * WALK_BLOCK_ROWS)):
            out[rows[r]] += binned_tree_value(binned, codes, rows[r], nodes[r], left, right, feature, is_categorical,
                                              bin_threshold, missing_left, missing_bin, n_levels, cat_offset,
                                              cat_bitset, present_offset, present_bitset, absent_left_share, value,
                                              stack_node, stack_share)


# From this many rows on, add_leaf_values adds the leaves in parallel; below, starting the threads costs more
# than the adds (a few microseconds a call, twice a tree, on data of a few hundred rows).
LEAF_VALUES_PARALLEL_MIN_ROWS = 65_536


@njit(parallel=True, cache=True)
def _add_leaf_values_parallel(sample_indices, leaf_start, leaf_stop, leaf_values, out):
    for j in prange(leaf_start.shape[0]):
        v = leaf_values[j]
        for p in range(leaf_start[j], leaf_stop[j]):
            out[sample_indices[p]] += v


@njit(cache=True)
def add_leaf_values(sample_indices, leaf_start, leaf_stop, leaf_values, out):
    """``out[i] += value`` for the rows of each leaf, read off the grower's partition.

    Leaves hold disjoint rows, so each row gets one add whatever the order: large partitions are processed
    in parallel (:data:`LEAF_VALUES_PARALLEL_MIN_ROWS`), small ones serially, with the same result.
    """
    if sample_indices.shape[0] >= LEAF_VALUES_PARALLEL_MIN_ROWS:
        _add_leaf_values_parallel(sample_indices, leaf_start, leaf_stop, leaf_values, out)
        return
    for j in range(leaf_start.shape[0]):
        v = leaf_values[j]
        for p in range(leaf_start[j], leaf_stop[j]):
            out[sample_indices[p]] += v


@njit(cache=True, inline="always")
def add_row_statistics(out, node, i, gradients, hessians, sample_weight):
    """Add row ``i`` to node ``node``'s sums of g, h, w, g^2/w, g h/w, h^2/w."""
    w = sample_weight[i]
    inv_w = 1.0 / w if w > 0 else 0.0
    g = gradients[i]
    h = hessians[i]
    out[node, 0] += g
    out[node, 1] += h
    out[node, 2] += w
    out[node, 3] += g * g * inv_w
    out[node, 4] += g * h * inv_w
    out[node, 5] += h * h * inv_w


@njit(cache=True, inline="always")
def add_children_to_parents(out, parent):
    """Aggregate per-node sums up the tree: children come after their parents in node order."""
    for node in range(parent.shape[0] - 1, 0, -1):
        for c in range(out.shape[1]):
            out[parent[node], c] += out[node, c]


@njit(cache=True)
def node_statistics(rows, leaf_of_row, parent, gradients, hessians, sample_weight):
    """Per-node sums over ``rows`` given each row's leaf, aggregated up the tree.

    Columns: sums of g, h, w, g^2/w, g h/w, h^2/w.  The last three give a node's
    within sum of squares ``sum w (g~ - h~ m)^2 = S_gg - 2 m S_gh + m^2 S_hh`` for any ``m``.
    """
    out = np.zeros((parent.shape[0], 6))
    for r in range(rows.shape[0]):
        add_row_statistics(out, leaf_of_row[r], rows[r], gradients, hessians, sample_weight)
    add_children_to_parents(out, parent)
    return out


@njit(cache=True)
def add_values_by_leaf(rows, leaf_of_row, value, out):
    """``out[rows[r]] += value[leaf_of_row[r]]``."""
    for r in range(rows.shape[0]):
        out[rows[r]] += value[leaf_of_row[r]]
