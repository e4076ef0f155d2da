"""The paired (2-lane) and 4-lane histogram adds give the sums of scalar adds in row order, bit for bit."""

import numpy as np
import pytest
from numba import njit

from shrinktree.boosting import histogram
from shrinktree.boosting.paired_add import add_four, add_two


@njit(cache=False)
def _paired(hist, index, x, y):
    add_two(hist, index, x, y)


@njit(cache=False)
def _four(hist, index, x, y, z, w):
    add_four(hist, index, x, y, z, w)


def test_add_two_adds_both_lanes_and_nothing_else():
    hist = np.arange(12, dtype=np.float64).reshape(4, 3)
    _paired(hist, 4, 0.25, -1.5)
    expected = np.arange(12, dtype=np.float64).reshape(4, 3)
    expected.flat[4] += 0.25
    expected.flat[5] += -1.5
    assert np.array_equal(hist, expected)


def test_add_four_adds_four_lanes_and_nothing_else():
    hist = np.arange(16, dtype=np.float64).reshape(4, 4) / 3.0
    expected = hist.copy()
    _four(hist, 8, 0.1, -2.5, 1e300, 7.0)
    for k, value in enumerate((0.1, -2.5, 1e300, 7.0)):
        expected.flat[8 + k] += value
    assert np.array_equal(hist, expected)


def _reference(binned, rows, g, h, w, active, n_bins, constant_hessian):
    # Each (feature, bin) sum adds its rows in row order, one scalar add at a time (np.add.at is unbuffered).
    hist = np.zeros((binned.shape[0], n_bins, 3))
    for f in active:
        bins = binned[f, rows]
        np.add.at(hist[f, :, 0], bins, g)
        if constant_hessian > 0:
            np.add.at(hist[f, :, 2], bins, np.ones(len(rows)))
            hist[f, :, 1] = hist[f, :, 2] * constant_hessian
        else:
            np.add.at(hist[f, :, 1], bins, h)
            np.add.at(hist[f, :, 2], bins, np.ones(len(rows)) if w is None else w)
    return hist


@pytest.mark.parametrize("n_rows", [300, 9_000])  # serial and parallel kernels
@pytest.mark.parametrize("constant_hessian, weighted", [(0.0, False), (0.0, True), (1.0, False), (0.75, False)])
@pytest.mark.parametrize("packed", [False, True])
# Groups of four and of two, with a pair or a lone feature left over.
@pytest.mark.parametrize("active", [[0, 1, 2, 3, 4], [0, 2, 4], [0, 1, 2, 3, 4, 5]])
def test_histograms_equal_scalar_sums_in_row_order(monkeypatch, n_rows, constant_hessian, weighted, packed, active):
    if packed:
        monkeypatch.setattr(histogram, "PACKED_MIN_CELLS", 0)
        monkeypatch.setattr(histogram, "PACKED_MAX_SHARE_INVERSE", 2)
    rng = np.random.default_rng(3)
    n_all, n_bins = 2 * n_rows + 7, 256
    binned = rng.integers(0, 40, size=(6, n_all)).astype(np.uint8)
    binned[2] = rng.integers(0, 3, size=n_all)  # few bins: many adds into the same sums
    binned[4] = np.sort(binned[4])  # sorted: runs of one bin
    rows = np.sort(rng.choice(n_all, n_rows, replace=False)).astype(np.int32)
    g, h, w = rng.standard_normal(n_rows), rng.random(n_rows), rng.random(n_rows) * 3
    active = np.array(active, dtype=np.int64)
    packed_rows = histogram.pack_rows(binned) if packed else None
    got = histogram.build_histogram(binned, rows, g, h, active, n_bins, constant_hessian=constant_hessian,
                                    packed_rows=packed_rows, ordered_weights=w if weighted else None)
    expected = _reference(binned, rows, g, h, w if weighted else None, active, n_bins, constant_hessian)
    assert np.array_equal(got, expected)


def _level_reference(codes, offsets, rows, g, h, w, active, constant_hessian):
    # Each level's sums add the node's rows in row order, one scalar add at a time.
    hist = np.zeros((offsets[-1], 3))
    for c in active:
        levels = offsets[c] + codes[c, rows]
        np.add.at(hist[:, 0], levels, g)
        if constant_hessian > 0:
            np.add.at(hist[:, 2], levels, np.ones(len(rows)))
            hist[offsets[c]:offsets[c + 1], 1] = hist[offsets[c]:offsets[c + 1], 2] * constant_hessian
        else:
            np.add.at(hist[:, 1], levels, h)
            np.add.at(hist[:, 2], levels, np.ones(len(rows)) if w is None else w)
    return hist


@pytest.mark.parametrize("n_rows", [200, 30_000])  # serial and parallel kernels
# Hessians and weights summed, rows counted with a hessian of 1 (fewer rows than levels: every channel added per
# row) and with another constant hessian (counts scaled afterwards).
@pytest.mark.parametrize("constant_hessian, weighted", [(0.0, False), (0.0, True), (1.0, False), (0.75, False)])
def test_level_histograms_equal_scalar_sums_in_row_order(n_rows, constant_hessian, weighted):
    rng = np.random.default_rng(11)
    n_levels = np.array([500, 3, 40, 2, 7], dtype=np.int64)  # two pairs and an unpaired last feature
    n_all = 2 * n_rows + 5
    codes = np.stack([rng.integers(0, k + 1, size=n_all) for k in n_levels]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(n_levels + 1)]).astype(np.int64)
    rows = np.sort(rng.choice(n_all, n_rows, replace=False)).astype(np.int64)
    g, h, w = rng.standard_normal(n_rows), rng.random(n_rows), rng.random(n_rows) * 3
    mask = np.ones(len(n_levels), dtype=np.bool_)
    got = histogram.build_categorical_histogram(codes, offsets, rows, False, g, h,
                                                w if weighted else histogram.NO_WEIGHTS, mask, constant_hessian)
    expected = _level_reference(codes, offsets, rows, g, h, w if weighted else None, np.arange(len(n_levels)),
                                constant_hessian)
    assert np.array_equal(got, expected)
