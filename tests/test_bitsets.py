"""Concatenated per-node bitsets of several trees (shrinktree._bitsets) against the per-tree rule."""

from types import SimpleNamespace

import numpy as np
import pytest

from shrinktree._bitsets import concatenated_bitsets


def per_tree(trees):
    # Each tree's offsets moved past the words of the trees before it, -1 kept: the rule, tree by tree.
    offsets, words, stops, end = [], [], [], 0
    for tree in trees:
        offsets.extend(o + end if o >= 0 else -1 for o in tree.cat_offset)
        words.extend(tree.cat_bitset)
        end += len(tree.cat_bitset)
        stops.append(end)
    return offsets, words, stops


@pytest.mark.parametrize("n_trees", [0, 1, 7])
def test_offsets_move_past_earlier_trees_words(n_trees):
    rng = np.random.default_rng(n_trees)
    trees = []
    for _ in range(n_trees):
        n_nodes = int(rng.integers(1, 9))
        n_words = int(rng.integers(0, 6))
        offset = np.where(rng.random(n_nodes) < 0.5, -1, rng.integers(0, max(n_words, 1), n_nodes))
        trees.append(SimpleNamespace(cat_offset=offset.astype(np.int64),
                                     cat_bitset=rng.integers(0, 2**32, n_words).astype(np.uint32)))
    offset, words, stop = concatenated_bitsets(trees, "cat_offset", "cat_bitset")
    expected = per_tree(trees)
    assert offset.dtype == np.int64 and words.dtype == np.uint32 and stop.dtype == np.int64
    assert offset.tolist() == expected[0]
    assert words.tolist() == expected[1]
    assert stop.tolist() == expected[2]
