"""Present sets added by hand to fitted models, for tests of the walks that blend (``tests/blend_reference.py``).

Models from the grower of this branch have none; these give every categorical node a random one, so that
prediction, pickling and the model file are tested on trees whose rows blend.
"""

from __future__ import annotations

import numpy as np

from shrinktree._tree import LEAF, FlatForest


def bits(positions, n_words: int) -> np.ndarray:
    """A bitset of ``n_words`` uint32 words with the given bit positions set."""
    words = np.zeros(n_words, dtype=np.uint32)
    for p in positions:
        words[p >> 5] |= np.uint32(1) << np.uint32(p & 31)
    return words


def add_present_sets(model, rng, kept: float = 0.8) -> None:
    """Give every categorical node of a fitted booster a random present set (each bit kept with probability
    ``kept``) and a random ``absent_left_share``, then rebuild its flat forest."""
    for trees in model._trees:
        for tree in trees:
            internal = (tree.left != LEAF) & (tree.is_categorical != 0)
            offsets = np.full(tree.n_nodes, -1, dtype=np.int64)
            words = []
            for node in np.flatnonzero(internal):
                n_words = len(tree.cat_bitset) - int(tree.cat_offset[node]) + 1  # more than the split's bitset
                offsets[node] = sum(len(w) for w in words)
                words.append(bits(np.flatnonzero(rng.random(32 * n_words) < kept), n_words))
            tree.present_offset = offsets
            tree.present_bitset = np.concatenate(words + [np.zeros(0, dtype=np.uint32)])
            tree.absent_left_share = np.where(internal, rng.random(tree.n_nodes), 0.5)
    model._forest = FlatForest.from_trees([t for trees in model._trees for t in trees])
