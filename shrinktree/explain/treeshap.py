"""Exact path-dependent TreeSHAP on flat node arrays (numba).

The algorithm is the polynomial-time "path-dependent" TreeSHAP of Lundberg, Erion and Lee
(*Consistent individualized feature attribution for tree ensembles*, 2018, Algorithm 2).  For one
tree ``f`` and one row ``x`` it returns the exact Shapley values of the game

    v(S) = E[f(x) | x_S],

where the conditional expectation is taken the "path-dependent" way: at a split on a feature in
``S`` follow ``x``; at a split on any other feature average both children, weighted by the share
of the node's *cover* (training mass) that each child holds.  Walking the tree once, the kernel
keeps, for the features met on the way to a node, the weights of all subset sizes at once
("extending" the path by one feature, "unwinding" it again to read one feature's share off at a
leaf, or when a feature splits a second time), so that a tree of ``L`` leaves and depth ``D``
costs ``O(L D^2)`` per row instead of ``2^M`` evaluations of ``v``.

Conventions shared with the rest of shrinktree:

* Routing is that of prediction (:func:`shrinktree._raw_route.node_route`): a numeric split sends
  ``x <= threshold`` left and NaN to ``missing_left``; a categorical split routes by
  :func:`shrinktree._tree.categorical_route`, the one rule: a level goes left when its bit is set
  (codes outside the bitset and NaN follow ``missing_left``), and at a node with a present set a
  level (or NaN) that the node's growing rows did not have **blends**: ``x`` goes down both children,
  ``absent_left_share`` of it left.  In the game below, a feature in ``S`` whose value blends at a
  node sends the expectation down both children with the weights (share, 1 - share) where a routed
  value sends it down one with (1, 0): the "one fraction" of the path entry is the share instead of
  0 or 1.  Everything else in the algorithm is unchanged, so the values are still the exact Shapley
  values of ``v``, and they add up to the blended prediction.
* Values are the **pooled** node values ``TreeArrays.value``.
* Cover is the weighted number of training rows, ``TreeArrays.count``, summed up from the leaves
  (see :func:`flat_cover`).

Everything is accumulated in float64; rows run in parallel (``prange``).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._raw_route import BLEND, GO_RIGHT, node_route
from .._threads import threads_for_rows

# A leaf that no training row reached gets this fraction of its tree's total cover: it then weighs
# (almost) nothing in the expectation, every cover ratio stays finite, and shap's TreeExplainer, which
# rejects nodes of zero cover, accepts the exported trees.
EMPTY_LEAF_MASS = 1e-12
# Below this many row-trees the kernel runs on the calling thread (a parallel region costs more).
PARALLEL_MIN_WORK = 20_000


@njit(cache=True)
def flat_cover(left, right, count, tree_start):
    """Cover of every node of a flat forest: leaf counts, internal nodes the sum of their two children.

    Parameters
    ----------
    left, right : ndarray of int64
        Child links of the concatenated trees (global node ids, ``-1`` for leaves); every child
        has a larger id than its parent.
    count : ndarray of float64
        The stored weighted row count of every node; only the leaves' are read.
    tree_start : ndarray of int64
        First node of each tree.

    Returns
    -------
    ndarray of float64
        Summing up from the leaves makes a parent's cover exactly its children's sum, so the cover
        fractions at each split add up to one.  Leaves with a non-positive or non-finite count get
        ``EMPTY_LEAF_MASS`` times their tree's total (1 each if no leaf of the tree has a positive count).
    """
    n_nodes = left.shape[0]
    n_trees = tree_start.shape[0]
    cover = np.zeros(n_nodes)
    for t in range(n_trees):
        start = tree_start[t]
        stop = tree_start[t + 1] if t + 1 < n_trees else n_nodes
        total = 0.0
        for node in range(start, stop):
            c = count[node]
            if left[node] < 0 and c > 0 and np.isfinite(c):
                total += c
        floor = EMPTY_LEAF_MASS * total if total > 0 else 1.0
        for node in range(stop - 1, start - 1, -1):
            if left[node] < 0:
                c = count[node]
                cover[node] = c if (c > 0 and np.isfinite(c) and total > 0) else floor
            else:
                cover[node] = cover[left[node]] + cover[right[node]]
    return cover


@njit(cache=True)
def flat_depth(left, right, tree_start):
    """Largest depth of any tree in a flat forest (a lone root has depth 0)."""
    n_nodes = left.shape[0]
    depth = np.zeros(n_nodes, dtype=np.int64)
    deepest = 0
    for t in range(tree_start.shape[0]):
        depth[tree_start[t]] = 0
    for node in range(n_nodes):
        if left[node] >= 0:
            d = depth[node] + 1
            depth[left[node]] = d
            depth[right[node]] = d
            if d > deepest:
                deepest = d
    return deepest


@njit(cache=True)
def expected_values(left, right, value, cover, tree_start, tree_output, n_outputs):
    """Sum over trees of each tree's cover-weighted mean leaf value, per output column.

    This is ``v(empty set)`` of the TreeSHAP game, the value every row's contributions start from.
    """
    n_nodes = left.shape[0]
    n_trees = tree_start.shape[0]
    n_cols = value.shape[1]
    mean = np.zeros((n_nodes, n_cols))
    out = np.zeros(n_outputs)
    for node in range(n_nodes - 1, -1, -1):
        if left[node] < 0:
            for k in range(n_cols):
                mean[node, k] = value[node, k]
        else:
            a, b = left[node], right[node]
            inv = 1.0 / (cover[a] + cover[b])
            for k in range(n_cols):
                mean[node, k] = (cover[a] * mean[a, k] + cover[b] * mean[b, k]) * inv
    for t in range(n_trees):
        root = tree_start[t]
        col = tree_output[t]
        if col >= 0:
            out[col] += mean[root, 0]
        else:
            for k in range(n_cols):
                out[k] += mean[root, k]
    return out


# -- the path of unique features -------------------------------------------------------------------
# Level ``r`` of the four path arrays holds the path of the node being visited at tree depth ``r``:
# entries 0..m, entry 0 a placeholder (feature -1) that carries the weight of the empty subset.  For
# entry i: ``feat`` the feature, ``zero`` the fraction of the cover that reaches this node when the
# feature is unknown, ``one`` 1 or 0 whether x itself goes this way, and ``w`` the summed weight of
# the subsets of path features of size i.


# The fractions ``one`` are 0 or 1 (whether x goes this way, multiplied over the splits of a feature)
# except below a node where x blends, where they are the share of x that goes this way.  The loops
# below keep their short forms for 0 and 1.  Removing an entry whose ``one`` lies strictly between 0
# and 1 inverts the extension step from the side that divides by the larger of ``one`` and ``zero``
# (from the top it divides by ``one``, from the bottom by ``zero``): the error carried from step to
# step is then multiplied by at most the smaller over the larger.  ``inv[k]`` is ``1 / k``.


@njit(cache=True)
def _extend(feat, zero, one, w, inv, r, m, z, o, f):
    """Append feature ``f`` (fractions ``z``, ``o``) as entry ``m`` of level ``r`` and update the weights."""
    feat[r, m] = f
    zero[r, m] = z
    one[r, m] = o
    w[r, m] = 1.0 if m == 0 else 0.0
    scale = inv[m + 1]
    if o != 0.0:
        for i in range(m - 1, -1, -1):
            w[r, i + 1] += w[r, i] * o * (i + 1) * scale
            w[r, i] = z * w[r, i] * (m - i) * scale
    else:
        for i in range(m - 1, -1, -1):
            w[r, i] = z * w[r, i] * (m - i) * scale


@njit(cache=True)
def _unwind(feat, zero, one, w, inv, r, m, e):
    """Remove entry ``e`` from the ``m + 1``-entry path of level ``r`` (the inverse of :func:`_extend`)."""
    z = zero[r, e]
    o = one[r, e]
    if o >= z and o != 0.0:
        carry = w[r, m]
        for i in range(m - 1, -1, -1):
            previous = w[r, i]
            w[r, i] = carry * (m + 1) * inv[i + 1] / o
            carry = previous - w[r, i] * z * (m - i) * inv[m + 1]
    elif o == 0.0:
        factor = (m + 1) / z
        for i in range(m - 1, -1, -1):
            w[r, i] = w[r, i] * factor * inv[m - i]
    else:
        below = 0.0
        for i in range(m):
            w[r, i] = (w[r, i] - o * below * i * inv[m + 1]) * (m + 1) / z * inv[m - i]
            below = w[r, i]
    for i in range(e, m):
        feat[r, i] = feat[r, i + 1]
        zero[r, i] = zero[r, i + 1]
        one[r, i] = one[r, i + 1]


@njit(cache=True)
def _add_leaf(zero, one, w, inv, r, m, feat, value, node, col, out, row):
    """Add each path feature's share of leaf ``node``'s value: the path's total weight without that feature.

    The total without an entry whose ``one`` is 0 is ``(m + 1) / zero * sum_j w[j] / (m - j)``, and its
    share ``(one - zero) * total`` is minus the ``(m + 1) * sum_j w[j] / (m - j)`` that all such entries
    have in common.  Other entries undo their extension step (from the top, or from the bottom where
    ``one < zero``) and add ``(one - zero) * total``.
    """
    shared = 0.0
    for j in range(m):
        shared += w[r, j] * inv[m - j]
    shared *= m + 1
    n_cols = value.shape[1]
    for e in range(1, m + 1):
        z = zero[r, e]
        o = one[r, e]
        if o >= z and o != 0.0:
            total = 0.0
            carry = w[r, m]
            for i in range(m - 1, -1, -1):
                part = carry * inv[i + 1] / o
                total += part
                carry = w[r, i] - part * z * (m - i)
            scale = total * (m + 1) * (o - z)
        elif o == 0.0:
            # (one - zero) * total = -zero * shared / zero: the same for every such entry.
            scale = -shared
        else:
            total = 0.0
            below = 0.0
            for i in range(m):
                below = (w[r, i] - o * below * i * inv[m + 1]) * (m + 1) / z * inv[m - i]
                total += below
            scale = total * (o - z)
        f = feat[r, e]
        if col >= 0:
            out[row, col, f] += scale * value[node, 0]
        else:
            for k in range(n_cols):
                out[row, k, f] += scale * value[node, k]


@njit(cache=True)
def _row_tree(X, row, root, left, right, feature, threshold, missing_left, is_categorical, cat_offset, cat_bitset,
              present_offset, present_bitset, absent_left_share, value, cover, col, out, feat, zero, one, w, inv,
              s_node, s_depth, s_len, s_zero, s_one, s_feat):
    """Add one tree's contributions for one row into ``out[row]`` (shape ``(n_outputs, n_features + 1)``)."""
    s_node[0] = root
    s_depth[0] = 0
    s_len[0] = 0
    s_zero[0] = 1.0
    s_one[0] = 1.0
    s_feat[0] = -1
    top = 1
    while top > 0:
        top -= 1
        node = s_node[top]
        r = s_depth[top]
        m = s_len[top]
        if r > 0:
            for i in range(m):
                feat[r, i] = feat[r - 1, i]
                zero[r, i] = zero[r - 1, i]
                one[r, i] = one[r - 1, i]
                w[r, i] = w[r - 1, i]
        _extend(feat, zero, one, w, inv, r, m, s_zero[top], s_one[top], s_feat[top])
        if left[node] < 0:
            _add_leaf(zero, one, w, inv, r, m, feat, value, node, col, out, row)
            continue
        f = feature[node]
        route = node_route(X[row, f], node, threshold, missing_left, is_categorical, cat_offset, cat_bitset,
                           present_offset, present_bitset)
        # The share of x that goes to the "hot" and the "cold" child: all or nothing unless x blends.
        hot_one = 1.0
        cold_one = 0.0
        if route == BLEND:
            hot_one = absent_left_share[node]
            cold_one = 1.0 - hot_one
        if route != GO_RIGHT:  # a blended x takes its left share as the "hot" one
            hot, cold = left[node], right[node]
        else:
            hot, cold = right[node], left[node]
        inv_cover = 1.0 / cover[node]
        carried_zero = 1.0
        carried_one = 1.0
        # A feature already on the path is taken off and put back with both splits' fractions combined.
        for i in range(1, m + 1):
            if feat[r, i] == f:
                carried_zero = zero[r, i]
                carried_one = one[r, i]
                _unwind(feat, zero, one, w, inv, r, m, i)
                m -= 1
                break
        # Cold child below, hot child on top: the hot subtree is finished before the cold child
        # reads this level's path again.
        s_node[top] = cold
        s_depth[top] = r + 1
        s_len[top] = m + 1
        s_zero[top] = cover[cold] * inv_cover * carried_zero
        s_one[top] = carried_one * cold_one
        s_feat[top] = f
        s_node[top + 1] = hot
        s_depth[top + 1] = r + 1
        s_len[top + 1] = m + 1
        s_zero[top + 1] = cover[hot] * inv_cover * carried_zero
        s_one[top + 1] = carried_one * hot_one
        s_feat[top + 1] = f
        top += 2


@njit(parallel=True, cache=True)
def _treeshap_forest(X, tree_start, left, right, feature, threshold, missing_left, is_categorical, cat_offset,
                     cat_bitset, tree_cat_stop, present_offset, present_bitset, tree_present_stop, absent_left_share,
                     value, cover, tree_output, max_depth, out):
    n_rows = X.shape[0]
    n_trees = tree_start.shape[0]
    levels = max_depth + 1
    for row in prange(n_rows):
        feat = np.empty((levels, levels), dtype=np.int64)
        zero = np.empty((levels, levels))
        one = np.empty((levels, levels))
        w = np.empty((levels, levels))
        s_node = np.empty(levels + 1, dtype=np.int64)
        s_depth = np.empty(levels + 1, dtype=np.int64)
        s_len = np.empty(levels + 1, dtype=np.int64)
        s_zero = np.empty(levels + 1)
        s_one = np.empty(levels + 1)
        s_feat = np.empty(levels + 1, dtype=np.int64)
        inv = np.empty(levels + 2)
        inv[0] = 0.0
        for k in range(1, levels + 2):
            inv[k] = 1.0 / k
        for t in range(n_trees):
            # Each tree reads its own words of the bitsets only (a code past them is missing, or absent, there),
            # as the prediction kernels do.
            _row_tree(X, row, tree_start[t], left, right, feature, threshold, missing_left, is_categorical,
                      cat_offset, cat_bitset[:tree_cat_stop[t]], present_offset, present_bitset[:tree_present_stop[t]],
                      absent_left_share, value, cover, tree_output[t], out, feat, zero, one, w, inv, s_node, s_depth,
                      s_len, s_zero, s_one, s_feat)


def forest_contributions(forest, count: np.ndarray, tree_output: np.ndarray, n_outputs: int, X: np.ndarray,
                         n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row, per-feature TreeSHAP values of a flat forest, and the expected value.

    Parameters
    ----------
    forest : FlatForest
        The trees (``value`` holds the pooled node values), with their present sets.
    count : ndarray of float64
        ``TreeArrays.count`` of every node, concatenated in the forest's order.
    tree_output : ndarray of int64
        Output column of each tree; ``-1`` when the tree's values hold every column.
    n_outputs : int
    X : ndarray of float64, shape (n_rows, n_features)
        Validated input, as the prediction kernels route on it.
    n_features : int

    Returns
    -------
    phi : ndarray of float64, shape (n_rows, n_outputs, n_features + 1)
        The last column is left zero for the caller's expected value.
    expected : ndarray of float64, shape (n_outputs,)
        Sum over trees of their expected values (without any offset).
    """
    left = np.ascontiguousarray(forest.left, dtype=np.int64)
    right = np.ascontiguousarray(forest.right, dtype=np.int64)
    starts = np.ascontiguousarray(forest.tree_start, dtype=np.int64)
    cover = flat_cover(left, right, np.ascontiguousarray(count, dtype=np.float64), starts)
    output = np.ascontiguousarray(tree_output, dtype=np.int64)
    value = np.ascontiguousarray(forest.value, dtype=np.float64)
    expected = expected_values(left, right, value, cover, starts, output, int(n_outputs))
    X = np.ascontiguousarray(X, dtype=np.float64)
    phi = np.zeros((X.shape[0], int(n_outputs), int(n_features) + 1))
    if X.shape[0] == 0:
        return phi, expected
    depth = flat_depth(left, right, starts)
    with threads_for_rows(X.shape[0] * len(starts), PARALLEL_MIN_WORK):
        _treeshap_forest(X, starts, left, right, np.ascontiguousarray(forest.feature, dtype=np.int64),
                         np.ascontiguousarray(forest.threshold, dtype=np.float64),
                         np.ascontiguousarray(forest.missing_left, dtype=np.uint8),
                         np.ascontiguousarray(forest.is_categorical, dtype=np.uint8),
                         np.ascontiguousarray(forest.cat_offset, dtype=np.int64),
                         np.ascontiguousarray(forest.cat_bitset, dtype=np.uint32),
                         np.ascontiguousarray(forest.tree_cat_stop, dtype=np.int64),
                         np.ascontiguousarray(forest.present_offset, dtype=np.int64),
                         np.ascontiguousarray(forest.present_bitset, dtype=np.uint32),
                         np.ascontiguousarray(forest.tree_present_stop, dtype=np.int64),
                         np.ascontiguousarray(forest.absent_left_share, dtype=np.float64), value, cover, output,
                         depth, phi)
    return phi, expected
