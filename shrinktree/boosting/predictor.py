"""Prediction on binned data during training (training rows out of the bag, validation rows)."""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange


@njit(cache=True, inline="always")
def _goes_left_binned(binned, codes, i, node, feature, is_categorical, bin_threshold, missing_left, missing_bin,
                      n_levels, cat_offset, cat_bitset):
    f = feature[node]
    if is_categorical[node]:
        code = codes[f, i]
        if code >= n_levels[f]:
            return missing_left[node] == 1
        word = cat_bitset[cat_offset[node] + (code >> 5)]
        return (word >> np.uint32(code & 31)) & np.uint32(1) == 1
    b = binned[f, i]
    if b == missing_bin:
        return missing_left[node] == 1
    return b <= bin_threshold[node]


@njit(parallel=True, cache=True)
def add_tree_binned(binned, codes, left, right, feature, is_categorical, bin_threshold, missing_left, missing_bin,
                    n_levels, cat_offset, cat_bitset, value, out):
    """``out[i] += value[leaf(i)]`` for every row of the feature-major ``binned`` matrix.

    ``feature`` indexes ``binned`` (numeric splits) or ``codes`` (categorical splits, ``is_categorical``);
    a categorical code ``>= n_levels`` (missing) follows ``missing_left``.
    """
    n_rows = binned.shape[1]
    for i in prange(n_rows):
        node = 0
        while left[node] >= 0:
            if _goes_left_binned(binned, codes, i, node, feature, is_categorical, bin_threshold, missing_left,
                                 missing_bin, n_levels, cat_offset, cat_bitset):
                node = left[node]
            else:
                node = right[node]
        out[i] += value[node]


@njit(parallel=True, cache=True)
def add_leaf_values(sample_indices, leaf_start, leaf_stop, leaf_values, out):
    """``out[i] += value`` for the rows of each leaf, read off the grower's partition.

    Leaves hold disjoint rows, so they can be processed in parallel.
    """
    for j in prange(leaf_start.shape[0]):
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
