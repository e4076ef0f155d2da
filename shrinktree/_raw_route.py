"""Where a raw feature value goes at any node of a tree's node arrays: left, right, or both (blend).

For the walks over :class:`~shrinktree._tree.TreeArrays`-style arrays that do not use the prediction
kernels' compact ``walk_*`` arrays (contributions, the node statistics of the post-hoc wrapper).
Categorical nodes follow :func:`shrinktree._tree.categorical_route`, the one rule; numeric nodes
:func:`shrinktree._tree._goes_left`.
"""

from __future__ import annotations

import numpy as np

from ._numba import njit
from ._tree import BLEND, GO_LEFT, GO_RIGHT, _goes_left, categorical_route

__all__ = ["BLEND", "GO_LEFT", "GO_RIGHT", "node_route", "stop_node"]


@njit(cache=True, inline="always")
def node_route(x, node, threshold, missing_left, is_categorical, cat_offset, cat_bitset, present_offset,
               present_bitset):
    """``GO_LEFT``, ``GO_RIGHT`` or ``BLEND`` for the raw value ``x`` (NaN: missing) at internal node ``node``."""
    if is_categorical[node]:
        missing = np.isnan(x)
        return categorical_route(missing, np.int64(0) if missing else np.int64(x), node, missing_left, cat_offset,
                                 cat_bitset, present_offset, present_bitset)
    if _goes_left(x, node, threshold, missing_left, is_categorical, cat_offset, cat_bitset):
        return GO_LEFT
    return GO_RIGHT


@njit(cache=True)
def stop_node(X, row, root, left, right, feature, threshold, missing_left, is_categorical, cat_offset, cat_bitset,
              present_offset, present_bitset):
    """The leaf that row ``row`` of ``X`` reaches from ``root``, or the node where it would blend.

    A row that blends has no single leaf; it stops at that node, as the held-out rows of the
    booster's growth do (they count in the node and its ancestors only).
    """
    node = root
    while left[node] >= 0:
        route = node_route(X[row, feature[node]], node, threshold, missing_left, is_categorical, cat_offset,
                           cat_bitset, present_offset, present_bitset)
        if route == BLEND:
            return node
        node = left[node] if route == GO_LEFT else right[node]
    return node
