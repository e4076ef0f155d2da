"""Node statistics of fitted trees, recomputed by passing rows through them.

A node's statistics are weighted sums over the rows that reach it of a per-row
"gradient" ``g`` (one column per output) and "hessian" ``h``:

* ``G = sum w g``, ``H = sum w h``, ``C = sum w``,
* ``Sgg = sum w g^2``, ``Sgh = sum w g h``, ``Shh = sum w h^2``.

The raw (Newton) value of a node is ``-G/H`` and its within sum of squares around it is
``Sgg - 2 r Sgh + r^2 Shh`` with ``r = G/H``.  Forests use ``g = -y`` and ``h = 1``, so the raw
value is the node mean and the sum of squares the usual one; boosted trees use the gradients
and hessians of their loss at the stage that grew the tree.

A row that would blend at a categorical node (its level, or NaN, absent from the node's present set:
:func:`shrinktree._tree.categorical_route`) reaches no single leaf: it stops at that node and counts
there and in its ancestors only, as the booster's held-out rows of growth do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._bitsets import concatenated_bitsets
from .._numba import njit, prange
from .._raw_route import stop_node
from .._tree import FlatForest, TreeArrays


@dataclass
class NodeStats:
    """Per-node sums for one tree; ``G``, ``Sgg``, ``Sgh`` have one column per output."""

    G: np.ndarray  # (n_nodes, n_outputs)
    H: np.ndarray  # (n_nodes,)
    C: np.ndarray  # (n_nodes,)
    Sgg: np.ndarray  # (n_nodes, n_outputs)
    Sgh: np.ndarray  # (n_nodes, n_outputs)
    Shh: np.ndarray  # (n_nodes,)

    @classmethod
    def from_means(cls, mean: np.ndarray, variance: np.ndarray, count: np.ndarray) -> NodeStats:
        """Statistics of ``g = -y, h = 1`` from stored node means, variances and weighted counts."""
        mean = mean.reshape(len(count), -1)
        variance = np.broadcast_to(np.asarray(variance, dtype=np.float64).reshape(len(count), -1), mean.shape)
        c = count.astype(np.float64)
        G = -mean * c[:, None]
        return cls(G=G, H=c.copy(), C=c.copy(), Sgg=c[:, None] * (np.maximum(variance, 0.0) + mean**2), Sgh=G.copy(),
                   Shh=c.copy())

    @property
    def raw(self) -> np.ndarray:
        """Newton value ``-G/H`` of every node (0 where the node has no mass)."""
        ok = self.H > 0
        return np.where(ok[:, None], -self.G / np.where(ok, self.H, 1.0)[:, None], 0.0)

    def within_ss(self) -> np.ndarray:
        """Within sum of squares of every node and output around its own raw value."""
        ok = self.H > 0
        r = np.where(ok[:, None], self.G / np.where(ok, self.H, 1.0)[:, None], 0.0)
        return np.maximum(self.Sgg - 2.0 * r * self.Sgh + r**2 * self.Shh[:, None], 0.0)


@njit(cache=True, inline="always")
def _add_row(out, node, g, h, i, wi):
    """Add row ``i`` (weight ``wi``) to ``out[node]``; columns G(K), H, C, Sgg(K), Sgh(K), Shh."""
    K = g.shape[1]
    hi = h[i]
    for k in range(K):
        gk = g[i, k]
        out[node, k] += wi * gk
        out[node, K + 2 + k] += wi * gk * gk
        out[node, 2 * K + 2 + k] += wi * gk * hi
    out[node, K] += wi * hi
    out[node, K + 1] += wi
    out[node, 3 * K + 2] += wi * hi * hi


@njit(cache=True, inline="always")
def _aggregate_up(out, parent):
    """Add every node's sums into its parent's, children first (nodes are topologically ordered)."""
    for node in range(parent.shape[0] - 1, 0, -1):
        p = parent[node]
        for c in range(out.shape[1]):
            out[p, c] += out[node, c]


@njit(cache=True)
def _accumulate_tree(X, left, right, feature, threshold, missing_left, is_categorical, cat_offset, cat_bitset,
                     present_offset, present_bitset, parent, g, h, w, out, leaf_out):
    """Sums of one tree over all rows with positive weight; ``out`` columns: G(K), H, C, Sgg(K), Sgh(K), Shh.

    ``leaf_out[i]``: the leaf of row ``i``, or the node where it stopped (it would blend there).
    """
    n_rows = X.shape[0]
    for i in range(n_rows):
        node = stop_node(X, i, 0, left, right, feature, threshold, missing_left, is_categorical, cat_offset,
                         cat_bitset, present_offset, present_bitset)
        leaf_out[i] = node
        wi = w[i]
        if wi <= 0.0:
            continue
        _add_row(out, node, g, h, i, wi)
    _aggregate_up(out, parent)


@njit(parallel=True, cache=True)
def _accumulate_forest(X, tree_start, tree_stop, left, right, feature, threshold, missing_left, is_categorical,
                       cat_offset, cat_bitset, cat_stop, present_offset, present_bitset, present_stop, parent, g, h,
                       weights, out):
    """Node sums of many trees at once (parallel over trees); tree ``t`` uses row weights ``weights[t]``.

    Node arrays are concatenated with tree-local child ids; ``out`` rows follow the same concatenation.
    Tree ``t`` reads the bitset words up to ``cat_stop[t]`` and ``present_stop[t]`` only (its own).
    """
    n_trees = tree_start.shape[0]
    n_rows = X.shape[0]
    for t in prange(n_trees):
        s = tree_start[t]
        e = tree_stop[t]
        sub = out[s:e]
        lf = left[s:e]
        rt = right[s:e]
        ft = feature[s:e]
        th = threshold[s:e]
        ml = missing_left[s:e]
        ic = is_categorical[s:e]
        co = cat_offset[s:e]
        po = present_offset[s:e]
        pa = parent[s:e]
        cb = cat_bitset[:cat_stop[t]]
        pb = present_bitset[:present_stop[t]]
        for i in range(n_rows):
            wi = weights[t, i]
            if wi <= 0.0:
                continue
            node = stop_node(X, i, 0, lf, rt, ft, th, ml, ic, co, cb, po, pb)
            _add_row(sub, node, g, h, i, wi)
        _aggregate_up(sub, pa)


def _unpack(out: np.ndarray, K: int) -> NodeStats:
    return NodeStats(G=out[:, :K].copy(), H=out[:, K].copy(), C=out[:, K + 1].copy(),
                     Sgg=out[:, K + 2:2 * K + 2].copy(), Sgh=out[:, 2 * K + 2:3 * K + 2].copy(),
                     Shh=out[:, 3 * K + 2].copy())


def tree_stats(tree: TreeArrays, X: np.ndarray, g: np.ndarray, h: np.ndarray,
               w: np.ndarray) -> tuple[NodeStats, np.ndarray]:
    """Node statistics of one tree over the rows of ``X`` and each row's leaf.

    Parameters
    ----------
    tree : TreeArrays
    X : ndarray of shape (n_rows, n_features), float64, C-contiguous
    g : ndarray of shape (n_rows, n_outputs)
    h, w : ndarray of shape (n_rows,)

    Returns
    -------
    stats : NodeStats
    leaf : ndarray of int64, shape (n_rows,)
        Each row's leaf, or for a row that would blend, the node where it stopped (an internal node).
    """
    K = g.shape[1]
    out = np.zeros((tree.n_nodes, 3 * K + 3))
    leaf = np.empty(X.shape[0], dtype=np.int64)
    _accumulate_tree(X, tree.left.astype(np.int64), tree.right.astype(np.int64), tree.feature.astype(np.int64),
                     tree.threshold.astype(np.float64), tree.missing_left.astype(np.uint8),
                     tree.is_categorical.astype(np.uint8), tree.cat_offset.astype(np.int64),
                     tree.cat_bitset.astype(np.uint32), tree.present_offset.astype(np.int64),
                     tree.present_bitset.astype(np.uint32), tree.parent.astype(np.int64), g, h, w, out, leaf)
    return _unpack(out, K), leaf


def stopped_row_values(tree: TreeArrays, X: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """Each row's ``raw_value`` of ``tree`` from the nodes :func:`tree_stats` stopped it at, shape (n_rows,).

    A row at a leaf takes the leaf's value; a row that stopped at an internal node (it blends there)
    takes the blended value of its walk, the prediction kernel's (``FlatForest.predict_sum``).
    """
    values = np.array(tree.raw_value[leaf, 0], dtype=np.float64)
    stopped = np.flatnonzero(tree.left[leaf] >= 0)
    if len(stopped):
        forest = FlatForest.from_trees([dataclasses.replace(tree, value=tree.raw_value)])
        values[stopped] = forest.predict_sum(np.ascontiguousarray(X[stopped]), np.zeros(1, np.int64), 1)[:, 0]
    return values


def forest_stats(trees: list[TreeArrays], X: np.ndarray, g: np.ndarray, h: np.ndarray,
                 weights_of: callable, chunk: int = 32) -> list[NodeStats]:
    """Node statistics of many trees sharing ``g`` and ``h``; ``weights_of(t)`` gives tree ``t``'s row weights.

    Trees are processed in chunks (parallel within a chunk) so that the per-tree weight matrix stays small.
    """
    K = g.shape[1]
    result: list[NodeStats] = []
    for lo in range(0, len(trees), chunk):
        part = trees[lo:lo + chunk]
        sizes = np.array([t.n_nodes for t in part], dtype=np.int64)
        stop = np.cumsum(sizes)
        start = stop - sizes

        def cat(name, dtype, parts=part):
            return np.concatenate([getattr(t, name) for t in parts]).astype(dtype)

        # Node ids stay tree-local; the bitset offsets point into the chunk's concatenated words.
        cat_offset, bitset, cat_stop = concatenated_bitsets(part, "cat_offset", "cat_bitset")
        present_offset, present_bitset, present_stop = concatenated_bitsets(part, "present_offset", "present_bitset")
        weights = np.stack([weights_of(lo + j) for j in range(len(part))]).astype(np.float64)
        out = np.zeros((int(stop[-1]), 3 * K + 3))
        _accumulate_forest(X, start, stop, cat("left", np.int64), cat("right", np.int64), cat("feature", np.int64),
                           cat("threshold", np.float64), cat("missing_left", np.uint8),
                           cat("is_categorical", np.uint8), cat_offset, bitset, cat_stop, present_offset,
                           present_bitset, present_stop, cat("parent", np.int64),
                           g, h, weights, out)
        for s, e in zip(start, stop):
            result.append(_unpack(out[s:e], K))
    return result


@njit(cache=True)
def subtree_weighted_mean(parent, left, leaf_value, mass):
    """Internal-node values as the mass-weighted mean of the leaf values below them.

    For Newton values this is exact: a parent's ``-G/H`` is the ``H``-weighted mean of its
    children's.  Leaves keep ``leaf_value``; a node without mass takes the plain mean of its children.
    """
    n_nodes, K = leaf_value.shape
    total = np.zeros((n_nodes, K))
    m = np.zeros(n_nodes)
    plain = np.zeros((n_nodes, K))
    n_kids = np.zeros(n_nodes)
    out = np.zeros((n_nodes, K))
    for node in range(n_nodes - 1, -1, -1):
        if left[node] < 0:
            for k in range(K):
                out[node, k] = leaf_value[node, k]
        else:
            for k in range(K):
                out[node, k] = total[node, k] / m[node] if m[node] > 0 else plain[node, k] / max(n_kids[node], 1.0)
        p = parent[node]
        if p >= 0:
            mm = max(mass[node], 0.0)
            for k in range(K):
                total[p, k] += mm * out[node, k]
                plain[p, k] += out[node, k]
            m[p] += mm
            n_kids[p] += 1.0
    return out
