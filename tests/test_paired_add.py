"""The paired (2-lane) histogram adds give the sums of scalar adds in row order, bit for bit."""

import numpy as np
import pytest
from numba import njit

from shrinktree.boosting import histogram
from shrinktree.boosting.paired_add import add_two


@njit(cache=False)
def _paired(hist, index, x, y):
    add_two(hist, index, x, y)


def test_add_two_adds_both_lanes_and_nothing_else():
    hist = np.arange(12, dtype=np.float64).reshape(4, 3)
    _paired(hist, 4, 0.25, -1.5)
    expected = np.arange(12, dtype=np.float64).reshape(4, 3)
    expected.flat[4] += 0.25
    expected.flat[5] += -1.5
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
def test_histograms_equal_scalar_sums_in_row_order(monkeypatch, n_rows, constant_hessian, weighted, packed):
    if packed:
        monkeypatch.setattr(histogram, "PACKED_MIN_CELLS", 0)
        monkeypatch.setattr(histogram, "PACKED_MAX_SHARE_INVERSE", 2)
    rng = np.random.default_rng(3)
    n_all, n_bins = 2 * n_rows + 7, 256
    binned = rng.integers(0, 40, size=(5, n_all)).astype(np.uint8)
    binned[2] = rng.integers(0, 3, size=n_all)  # few bins: many adds into the same sums
    rows = np.sort(rng.choice(n_all, n_rows, replace=False)).astype(np.int32)
    g, h, w = rng.standard_normal(n_rows), rng.random(n_rows), rng.random(n_rows) * 3
    active = np.arange(5, dtype=np.int64)  # two pairs and an unpaired last feature
    packed_rows = histogram.pack_rows(binned) if packed else None
    got = histogram.build_histogram(binned, rows, g, h, active, n_bins, constant_hessian=constant_hessian,
                                    packed_rows=packed_rows, ordered_weights=w if weighted else None)
    expected = _reference(binned, rows, g, h, w if weighted else None, active, n_bins, constant_hessian)
    assert np.array_equal(got, expected)
