"""Routing rows to leaves by partition gives the leaves of the tree walk."""

import numpy as np
import pytest

from shrinktree.boosting import routing
from shrinktree.boosting.routing import leaves_by_partition

MISSING_BIN = 255


def _random_tree(rng, n_splits, n_numeric, n_levels):
    """Node arrays of a random tree in creation order, with numeric and categorical splits."""
    left, right = [-1], [-1]
    feature, is_cat, threshold, missing_left, cat_offset = [-1], [0], [0], [0], [-1]
    words = []
    leaves = [0]
    for _ in range(n_splits):
        node = leaves.pop(rng.integers(len(leaves)))
        left[node], right[node] = len(left), len(left) + 1
        if len(n_levels) and rng.random() < 0.4:
            f = int(rng.integers(len(n_levels)))
            n_words = (int(n_levels[f]) + 31) // 32
            feature[node], is_cat[node], cat_offset[node] = f, 1, len(words)
            words.extend(rng.integers(0, 2**32, size=n_words, dtype=np.uint64).tolist())
        else:
            feature[node], threshold[node] = int(rng.integers(n_numeric)), int(rng.integers(0, 40))
        missing_left[node] = int(rng.integers(2))
        for _ in range(2):
            left.append(-1)
            right.append(-1)
            feature.append(-1)
            is_cat.append(0)
            threshold.append(0)
            missing_left.append(0)
            cat_offset.append(-1)
            leaves.append(len(left) - 1)
    return (np.array(left, dtype=np.int32), np.array(right, dtype=np.int32), np.array(feature, dtype=np.int32),
            np.array(is_cat, dtype=np.uint8), np.array(threshold, dtype=np.int64),
            np.array(missing_left, dtype=np.uint8), np.array(cat_offset, dtype=np.int64),
            np.array(words, dtype=np.uint32))


@pytest.mark.parametrize("block_rows", [16_384, 100])  # one block, and many routed in parallel
@pytest.mark.parametrize("seed", range(6))
def test_partition_routing_matches_the_tree_walk(monkeypatch, walk_leaves, seed, block_rows):
    monkeypatch.setattr(routing, "ROUTE_BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(seed)
    n_rows, n_numeric = 3000, 4
    binned = rng.integers(0, 40, size=(n_numeric, n_rows)).astype(np.uint8)
    binned[rng.random(binned.shape) < 0.1] = MISSING_BIN
    n_levels = np.array([5, 70], dtype=np.int64) if seed % 2 == 0 else np.zeros(0, dtype=np.int64)
    codes = np.array([rng.integers(0, n + 1, size=n_rows) for n in n_levels], dtype=np.int32).reshape(
        len(n_levels), n_rows)
    left, right, feature, is_cat, threshold, missing_left, cat_offset, words = _random_tree(
        rng, int(rng.integers(0, 30)), n_numeric, n_levels)
    rows = np.sort(rng.choice(n_rows, 1700, replace=False)).astype(np.int64)
    if seed == 5:
        rows = rng.permutation(rows)  # any row order, not only sorted
    args = (binned, codes, rows, left, right, feature, is_cat, threshold, missing_left, MISSING_BIN, n_levels,
            cat_offset, words, np.full(len(left), -1, dtype=np.int64), np.zeros(0, dtype=np.uint32))
    expected = walk_leaves(*args)
    assert np.array_equal(leaves_by_partition(*args), expected)
    assert set(np.unique(expected)) <= set(np.flatnonzero(left < 0))
