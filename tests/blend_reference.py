"""A slow, obviously correct walk of a :class:`~shrinktree._tree.TreeArrays` for tests.

It applies the routing rule of :func:`shrinktree._tree.categorical_route` written out in plain Python:
at a categorical node with a present set, a level (or NaN) absent from the set goes down both children,
``absent_left_share`` of it left.  Tests compare every compiled walk (prediction, training predictions,
contributions, the distributed booster) with it.
"""

from __future__ import annotations

import math

import numpy as np


def _bit(words: np.ndarray, start: int, bit: int) -> int | None:
    """Bit ``bit`` of the set starting at word ``start``; None past the array's end."""
    word = start + (bit >> 5)
    if bit < 0 or word >= len(words):
        return None
    return (int(words[word]) >> (bit & 31)) & 1


def route(tree, node: int, x: float) -> str:
    """``"left"``, ``"right"`` or ``"blend"`` for value ``x`` at internal node ``node``."""
    missing = math.isnan(x)
    if tree.is_categorical[node]:
        code = -1 if missing else int(x)
        if not missing and _bit(tree.cat_bitset, int(tree.cat_offset[node]), code) is None:
            missing = True
        start = int(tree.present_offset[node])
        if start >= 0 and not _bit(tree.present_bitset, start, 0 if missing else code + 1):
            return "blend"
        if missing:
            return "left" if tree.missing_left[node] == 1 else "right"
        return "left" if _bit(tree.cat_bitset, int(tree.cat_offset[node]), code) else "right"
    if missing:
        return "left" if tree.missing_left[node] == 1 else "right"
    return "left" if x <= tree.threshold[node] else "right"


def leaf_shares(tree, x: np.ndarray, node: int = 0, share: float = 1.0) -> dict[int, float]:
    """The leaves a row ``x`` reaches from ``node`` and the share of it each receives."""
    if tree.left[node] < 0:
        return {node: share}
    where = route(tree, node, float(x[tree.feature[node]]))
    if where == "left":
        return leaf_shares(tree, x, int(tree.left[node]), share)
    if where == "right":
        return leaf_shares(tree, x, int(tree.right[node]), share)
    p_left = float(tree.absent_left_share[node])
    out = leaf_shares(tree, x, int(tree.left[node]), share * p_left)
    for leaf, s in leaf_shares(tree, x, int(tree.right[node]), share * (1.0 - p_left)).items():
        out[leaf] = out.get(leaf, 0.0) + s
    return out


def tree_values(tree, X: np.ndarray) -> np.ndarray:
    """Each row's value of ``tree`` (shape ``(n_rows, n_outputs)``), blending where the rule says so."""
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros((X.shape[0], tree.value.shape[1]))
    for r in range(X.shape[0]):
        for leaf, s in leaf_shares(tree, X[r]).items():
            out[r] += s * tree.value[leaf]
    return out
