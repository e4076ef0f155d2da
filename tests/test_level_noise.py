"""The within-level moments of the level pooling: one pass over every categorical feature."""

import numba
import numpy as np
import pytest

from shrinktree.boosting import level_noise
from shrinktree.boosting.level_noise import level_moments


def _reference(codes, rows, g, h, w, n_levels, mask):
    # The sums written out with numpy: per level, then per feature.
    out = np.zeros((codes.shape[0], 4))
    keep = rows[w[rows] > 0]
    for c in np.flatnonzero(mask):
        n_codes = n_levels[c] + 1
        column = codes[c, keep]
        gr, hr, wr = g[keep], h[keep], w[keep]
        sums = [np.bincount(column, weights=v, minlength=n_codes)
                for v in (gr, hr, wr, gr * gr / wr, gr * hr / wr, hr * hr / wr)]
        has_mass = sums[1] > 0
        m = sums[0][has_mass] / sums[1][has_mass]
        out[c] = (np.sum(sums[3][has_mass] - 2 * m * sums[4][has_mass] + m * m * sums[5][has_mass]),
                  sums[1][has_mass].sum(), sums[2][has_mass].sum(), has_mass.sum())
    return out


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n = 6_000
    n_levels = np.array([900, 3, 40], dtype=np.int64)
    codes = np.stack([rng.integers(0, k + 1, size=n) for k in n_levels]).astype(np.int32)
    g, h = rng.normal(size=n), rng.uniform(0.1, 1.0, size=n)
    w = rng.choice([0.0, 1.0, 2.5], size=n)
    return codes, g * w, h * w, w, n_levels


@pytest.mark.parametrize("all_rows", [False, True])
def test_moments_match_numpy(data, all_rows):
    codes, g, h, w, n_levels = data
    rows = np.arange(codes.shape[1]) if all_rows else np.random.default_rng(0).permutation(codes.shape[1])[:4_000]
    mask = np.array([True, False, True])
    got = level_moments(codes, rows, all_rows, g, h, w, n_levels, mask)
    np.testing.assert_allclose(got, _reference(codes, rows, g, h, w, n_levels, mask), rtol=1e-9)
    assert np.all(got[1] == 0.0)


def test_parallel_and_serial_paths_agree_bit_for_bit(data):
    codes, g, h, w, n_levels = data
    rows = np.arange(codes.shape[1], dtype=np.int64)
    mask = np.ones(3, dtype=np.bool_)
    ratios = level_noise._row_ratios(rows, False, g, h, w)
    serial, parallel = np.zeros((3, 4)), np.zeros((3, 4))
    level_noise._moments_serial(codes, *ratios, n_levels, np.flatnonzero(mask), serial)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        level_noise._moments_parallel(codes, *ratios, n_levels, np.flatnonzero(mask), parallel)
    finally:
        numba.set_num_threads(previous)
    assert serial.tobytes() == parallel.tobytes()
    assert serial.tobytes() == level_moments(codes, rows, False, g, h, w, n_levels, mask).tobytes()


@pytest.mark.parametrize("paired", [True, False])
def test_unit_rows_sum_three_columns_bit_for_bit(data, paired):
    # Unit hessians and weights (unweighted squared error): the three-column path gives the six-column
    # path's moments exactly.
    codes, g, _, _, n_levels = data
    n = codes.shape[1]
    rows = np.random.default_rng(1).permutation(n)[:5_000].astype(np.int64)
    ones = np.ones(n)
    mask = np.array([True, paired, True])
    got = level_moments(codes, rows, False, g, ones, ones, n_levels, mask)
    gr = g[rows]
    six = np.stack([gr, np.ones(len(rows)), np.ones(len(rows)), gr * gr, gr, np.ones(len(rows))], axis=1)
    expected = np.zeros((3, 4))
    level_noise._moments_serial(codes, rows, six, n_levels, np.flatnonzero(mask), expected)
    assert level_noise._row_ratios(rows, False, g, ones, ones)[1].shape[1] == 3
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("all_rows", [False, True])
@pytest.mark.parametrize("mask", [[True, True, True], [True, False, True], [False, True, False]])
def test_unit_moments_and_root_histogram_in_one_pass(data, all_rows, mask):
    # The fused pass gives level_moments' moments and the level histogram of the same rows, bit for bit.
    from shrinktree.boosting.histogram import NO_WEIGHTS, build_categorical_histogram

    codes, g, _, _, n_levels = data
    n = codes.shape[1]
    rows = np.arange(n, dtype=np.int64) if all_rows else np.random.default_rng(2).permutation(n)[:5_000]
    offsets = np.concatenate([[0], np.cumsum(n_levels + 1)]).astype(np.int64)
    mask = np.array(mask)
    ones = np.ones(n)
    moments, hist = level_noise.unit_level_moments(codes, offsets, rows, all_rows, g, mask)
    assert moments.tobytes() == level_moments(codes, rows, all_rows, g, ones, ones, n_levels, mask).tobytes()
    ordered = g if all_rows else g[rows]
    expected = build_categorical_histogram(codes, offsets, rows, all_rows, ordered, ones, NO_WEIGHTS, mask, 1.0)
    assert hist.tobytes() == expected.tobytes()
