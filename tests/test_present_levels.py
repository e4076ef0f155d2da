"""The present-level lists of unweighted fits: the same subtraction, lists and split search as the dense scan."""

import numpy as np
import pytest

from shrinktree.boosting.histogram import NO_WEIGHTS, build_categorical_histogram, subtract_in_place
from shrinktree.boosting.present_levels import NO_PRESENT, empty_levels, list_present_levels, split_present_levels
from shrinktree.boosting.splitting import LEVELS_EB, find_categorical_split


def _node(seed, n_rows=400):
    rng = np.random.default_rng(seed)
    n_levels = np.array([900, 3, 40], dtype=np.int64)
    n_samples = 2_000
    codes = np.stack([rng.integers(0, k + 1, size=n_samples) for k in n_levels]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(n_levels + 1)]).astype(np.int64)
    rows = np.sort(rng.choice(n_samples, n_rows, replace=False)).astype(np.int64)
    g = rng.normal(size=n_samples)
    mask = np.array([True, False, True])
    return codes, offsets, rows, g, mask


def _histogram(codes, offsets, rows, g, mask):
    return build_categorical_histogram(codes, offsets, rows, False, g[rows], np.ones(len(rows)), NO_WEIGHTS, mask,
                                       1.0)


def _lists(hist, offsets, mask):
    levels = empty_levels(offsets)
    list_present_levels(hist, offsets, mask, levels)
    return levels


def _as_lists(levels, offsets):
    n = len(offsets) - 1
    return [list(levels[offsets[c]:offsets[c] + levels[offsets[-1] + c]]) for c in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_gives_the_dense_subtraction_and_the_childrens_lists(seed):
    codes, offsets, rows, g, mask = _node(seed)
    small_rows = np.sort(np.random.default_rng(seed).choice(rows, 90, replace=False))
    large_rows = np.setdiff1d(rows, small_rows)
    parent, small = _histogram(codes, offsets, rows, g, mask), _histogram(codes, offsets, small_rows, g, mask)
    dense = parent.copy()
    subtract_in_place(dense.reshape(-1), small.reshape(-1), -np.inf)
    parent_levels, small_levels = _lists(parent, offsets, mask), empty_levels(offsets)
    split_present_levels(parent, small, offsets, parent_levels, small_levels)
    assert parent.tobytes() == dense.tobytes()
    assert _as_lists(small_levels, offsets) == _as_lists(_lists(small, offsets, mask), offsets)
    large = _histogram(codes, offsets, large_rows, g, mask)
    assert _as_lists(parent_levels, offsets) == _as_lists(_lists(large, offsets, mask), offsets)
    expected = [sorted(set(codes[0, small_rows])), [], sorted(set(codes[2, small_rows]))]
    assert _as_lists(small_levels, offsets) == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_search_from_the_lists_is_the_scans(seed):
    codes, offsets, rows, g, mask = _node(seed, n_rows=150)
    hist = _histogram(codes, offsets, rows, g, mask)
    args = (hist, offsets, mask, float(np.sum(g[rows])), float(len(rows)), float(len(rows)), 0.0, 5.0, 1e-3,
            np.array([0.5, 0.5, 0.5]), LEVELS_EB, 0.0, False, False, -np.inf, np.inf, 0, 0.0)
    scanned = find_categorical_split(*args, NO_PRESENT)
    listed = find_categorical_split(*args, _lists(hist, offsets, mask))
    assert scanned[1] >= 0
    assert repr(scanned[:7]) == repr(listed[:7])
    assert np.array_equal(scanned[7], listed[7])


def _skewed_node(seed, n_rows=1_500, n_levels=40, effect=0.3):
    """One categorical feature whose levels hold from a few rows to a few hundred, with a level effect."""
    rng = np.random.default_rng(seed)
    share = 1.0 / np.arange(1, n_levels + 2)
    codes = rng.choice(n_levels + 1, size=(1, n_rows), p=share / share.sum()).astype(np.int32)
    offsets = np.array([0, n_levels + 1], dtype=np.int64)
    g = rng.normal(size=n_rows) + effect * rng.normal(size=n_levels + 1)[codes[0]]
    rows = np.arange(n_rows, dtype=np.int64)
    return _histogram(codes, offsets, rows, g, np.array([True])), offsets, g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weak_level_block_keeps_the_weak_levels_together(seed):
    from shrinktree.boosting.splitting import LEVELS_EB_BLOCK, level_pooling_k

    hist, offsets, g = _skewed_node(seed)
    n_rows = float(len(g))
    args = (hist, offsets, np.array([True]), float(np.sum(g)), n_rows, n_rows, 0.0, 5.0, 1e-3, np.array([1.0]))
    tail = (0.0, False, False, -np.inf, np.inf, 0, 0.0, NO_PRESENT)
    gain, feature, missing_left, gl, hl, cl, scanned, left = find_categorical_split(*args, LEVELS_EB_BLOCK, *tail)
    assert feature == 0
    present = np.flatnonzero(hist[:, 2] > 0)
    k = level_pooling_k(hist[present, 0], hist[present, 1], len(present), float(np.sum(g)), n_rows, 1.0, 0)
    weak = set(present[hist[present, 1] < k].tolist())
    assert weak and len(weak) < len(present)  # the node has both kinds of level
    on_left = set(left.tolist())
    assert weak <= on_left or not (weak & on_left)  # the weak levels go to one side together
    assert np.isclose(gl, hist[left, 0].sum()) and cl == hist[left, 2].sum()  # the left sums are its levels'
    # The block is scanned as one level.
    plain = find_categorical_split(*args, LEVELS_EB, *tail)
    assert scanned == len(present) - len(weak) + 1 and plain[6] == len(present)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weak_level_block_without_weak_levels_is_the_pooled_scan(seed):
    from shrinktree.boosting.splitting import LEVELS_EB_BLOCK, level_pooling_k

    hist, offsets, g = _skewed_node(seed, n_levels=3, effect=1.0)  # every level holds hundreds of rows
    n_rows = float(len(g))
    present = np.flatnonzero(hist[:, 2] > 0)
    k = level_pooling_k(hist[present, 0], hist[present, 1], len(present), float(np.sum(g)), n_rows, 1.0, 0)
    assert np.all(hist[present, 1] >= k)  # no weak level: the block mode must be the pooled scan
    args = (hist, offsets, np.array([True]), float(np.sum(g)), n_rows, n_rows, 0.0, 5.0, 1e-3, np.array([1.0]))
    tail = (0.0, False, False, -np.inf, np.inf, 0, 0.0, NO_PRESENT)
    block = find_categorical_split(*args, LEVELS_EB_BLOCK, *tail)
    plain = find_categorical_split(*args, LEVELS_EB, *tail)
    assert block[1] == 0
    assert repr(block[:7]) == repr(plain[:7]) and np.array_equal(block[7], plain[7])
