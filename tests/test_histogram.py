"""Histograms built from packed row-major bins equal the feature-major ones bit for bit; weighted count channels;
the larger child's histogram by subtraction."""

import numpy as np
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting import gradient_boosting, histogram


@pytest.fixture
def small_packing(monkeypatch):
    """Pack any matrix and send every node below half of the rows to the packed kernels."""
    monkeypatch.setattr(histogram, "PACKED_MIN_CELLS", 0)
    monkeypatch.setattr(histogram, "PACKED_MAX_SHARE_INVERSE", 2)


def test_pack_rows_is_row_major_and_padded(small_packing):
    rng = np.random.default_rng(0)
    binned = rng.integers(0, 256, size=(11, 50)).astype(np.uint8)
    packed = histogram.pack_rows(binned)
    assert packed.dtype == np.uint32 and packed.shape == (50, 3)  # 11 bytes padded to three 4-byte words
    as_bytes = packed.view(np.uint8)
    assert np.array_equal(as_bytes[:, :11], binned.T)
    assert not as_bytes[:, 11:].any()


def test_small_matrices_are_not_packed():
    assert histogram.pack_rows(np.zeros((3, 100), dtype=np.uint8)) is None


@pytest.mark.parametrize("n_rows", [30, 5000])  # the serial and the parallel kernels
@pytest.mark.parametrize("constant_hessian", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("active", [None, [0, 3, 4], [6]])
def test_packed_histogram_equals_feature_major(small_packing, n_rows, constant_hessian, active):
    rng = np.random.default_rng(n_rows)
    n_features, n_samples = 9, 4 * n_rows
    binned = rng.integers(0, 256, size=(n_features, n_samples)).astype(np.uint8)
    binned[2, ::3] = 0  # repeated bins: long read-modify-write chains
    rows = np.sort(rng.choice(n_samples, n_rows, replace=False)).astype(np.int64)
    gradients = rng.normal(size=n_rows)
    hessians = rng.random(n_rows)
    active = np.arange(n_features) if active is None else np.array(active)
    active = active.astype(np.int64)
    expected = histogram.build_histogram(binned, rows, gradients, hessians, active, 256, constant_hessian)
    packed = histogram.pack_rows(binned)
    got = histogram.build_histogram(binned, rows, gradients, hessians, active, 256, constant_hessian, packed)
    assert np.array_equal(got, expected)
    assert got[active, :, 2].sum() == n_rows * len(active)


@pytest.mark.parametrize("estimator, params", [
    (ShrinkBoostRegressor, {}),
    (ShrinkBoostRegressor, {"shrinkage": "none", "colsample": 0.5}),
    (ShrinkBoostClassifier, {"subsample": 0.8}),
])
def test_fits_with_packed_rows_are_identical(monkeypatch, estimator, params):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6000, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    signal = np.nan_to_num(X[:, 0]) + np.sin(np.nan_to_num(X[:, 1]))
    y = signal + rng.normal(size=len(X)) if estimator is ShrinkBoostRegressor else (signal > 0).astype(int)

    def fit_predict():
        model = estimator(n_estimators=8, random_state=0, **params).fit(X, y)
        return model.predict(X)

    monkeypatch.setattr(histogram, "PACKED_MIN_CELLS", 10**12)
    unpacked = fit_predict()
    monkeypatch.setattr(histogram, "PACKED_MIN_CELLS", 0)
    monkeypatch.setattr(histogram, "PACKED_MAX_SHARE_INVERSE", 2)
    # The compiled grower calls the packed kernels itself: check that packed rows reached it.
    packings = []
    monkeypatch.setattr(gradient_boosting, "pack_rows", lambda binned: packings.append(
        histogram.pack_rows(binned)) or packings[-1])
    packed = fit_predict()
    assert packings and all(p is not None for p in packings), "the rows were not packed"
    assert np.array_equal(packed, unpacked)


@pytest.mark.parametrize("constant_hessian", [0.0, 1.0])
def test_all_rows_root_equals_the_histogram_of_every_row_index(constant_hessian):
    rng = np.random.default_rng(7)
    binned = rng.integers(0, 256, size=(7, 9000)).astype(np.uint8)
    gradients = rng.normal(size=9000)
    hessians = np.full(9000, constant_hessian) if constant_hessian else rng.random(9000)
    active = np.array([0, 2, 3, 4, 6], dtype=np.int64)
    expected = histogram.build_histogram(binned, np.arange(9000, dtype=np.int64), gradients, hessians, active, 256,
                                         constant_hessian)
    got = histogram.build_histogram_all_rows(binned, gradients, hessians, histogram.NO_WEIGHTS, active, 256,
                                             constant_hessian)
    assert np.array_equal(got, expected)
    assert np.allclose(got[active, :, 1].sum(axis=1), hessians.sum())


@pytest.mark.parametrize("all_rows", [False, True])
def test_level_histogram_is_the_same_in_parallel(all_rows):
    # Enough rows times features for the parallel kernel; one feature left out stays zero.
    import numba

    rng = np.random.default_rng(5)
    n_levels = np.array([1_200, 4, 60, 2], dtype=np.int64)
    n = 40_000
    codes = np.stack([rng.integers(0, k + 1, size=n) for k in n_levels]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(n_levels + 1)]).astype(np.int64)
    rows = np.arange(n, dtype=np.int64) if all_rows else np.sort(rng.permutation(n)[:30_000]).astype(np.int64)
    g, h = rng.normal(size=len(rows) if not all_rows else n), rng.uniform(size=len(rows) if not all_rows else n)
    mask = np.array([True, True, False, True])
    assert len(rows) * 3 >= histogram.PARALLEL_LEVEL_MIN_WORK
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = histogram.build_categorical_histogram(codes, offsets, rows, all_rows, g, h, histogram.NO_WEIGHTS,
                                                       mask, 0.0)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        parallel = histogram.build_categorical_histogram(codes, offsets, rows, all_rows, g, h, histogram.NO_WEIGHTS,
                                                         mask, 0.0)
    finally:
        numba.set_num_threads(previous)
    assert serial.tobytes() == parallel.tobytes()
    column = codes[0] if all_rows else codes[0, rows]
    np.testing.assert_allclose(serial[:n_levels[0] + 1, 0], np.bincount(column, weights=g, minlength=n_levels[0] + 1))
    np.testing.assert_array_equal(serial[offsets[2]:offsets[3]], 0.0)


@pytest.mark.parametrize("n_rows", [30, 5000])  # the serial and the parallel kernels
@pytest.mark.parametrize("active", [[0, 3, 4], [6]])  # pairs and a lone feature
def test_weighted_count_channel_sums_weights_in_every_kernel(small_packing, n_rows, active):
    rng = np.random.default_rng(n_rows + 1)
    n_features, n_samples = 9, 4 * n_rows
    binned = rng.integers(0, 256, size=(n_features, n_samples)).astype(np.uint8)
    rows = np.sort(rng.choice(n_samples, n_rows, replace=False)).astype(np.int64)
    gradients, hessians = rng.normal(size=n_rows), rng.random(n_rows)
    weights = rng.random(n_rows) * 3.0
    active = np.array(active, dtype=np.int64)
    unweighted = histogram.build_histogram(binned, rows, gradients, hessians, active, 256)
    feature_major = histogram.build_histogram(binned, rows, gradients, hessians, active, 256, ordered_weights=weights)
    packed = histogram.build_histogram(binned, rows, gradients, hessians, active, 256,
                                       packed_rows=histogram.pack_rows(binned), ordered_weights=weights)
    assert np.array_equal(packed, feature_major)
    assert np.array_equal(feature_major[..., :2], unweighted[..., :2])
    for f in active:
        expected = np.zeros(256)
        for r, w in zip(binned[f, rows], weights):
            expected[r] += w  # in row order, as the kernels add
        assert np.array_equal(feature_major[f, :, 2], expected)
    every_row = np.arange(n_samples, dtype=np.int64)
    all_weights = rng.random(n_samples)
    all_g, all_h = rng.normal(size=n_samples), rng.random(n_samples)
    assert np.array_equal(histogram.build_histogram_all_rows(binned, all_g, all_h, all_weights, active, 256, 0.0),
                          histogram.build_histogram(binned, every_row, all_g, all_h, active, 256,
                                                    ordered_weights=all_weights))


def test_categorical_histogram_counts_weights():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 4, size=(2, 300)).astype(np.int32)
    offsets = np.array([0, 5, 10], dtype=np.int64)
    rows = np.sort(rng.choice(300, 120, replace=False)).astype(np.int64)
    g, h, w = rng.normal(size=120), rng.random(120), rng.random(120)
    mask = np.ones(2, dtype=np.bool_)
    unweighted = histogram.build_categorical_histogram(codes, offsets, rows, False, g, h, histogram.NO_WEIGHTS, mask,
                                                       0.0)
    weighted = histogram.build_categorical_histogram(codes, offsets, rows, False, g, h, w, mask, 0.0)
    assert np.array_equal(weighted[:, :2], unweighted[:, :2])
    assert np.array_equal(unweighted[:5, 2], np.bincount(codes[0, rows], minlength=5).astype(float))
    assert np.allclose(weighted[5:, 2], np.bincount(codes[1, rows], weights=w, minlength=5))


@pytest.mark.parametrize("n_rows, active", [(120, [0, 1]), (120, [1]), (40_000, [0, 1, 2])])  # pair, lone, parallel
def test_categorical_histogram_with_constant_hessian_counts_rows(n_rows, active):
    # Unit hessians and weights (unweighted squared error): counting rows gives the hessian sums bit for bit,
    # and neither the hessians nor the weights are read.
    rng = np.random.default_rng(n_rows)
    n_levels = np.array([900, 3, 40], dtype=np.int64)
    codes = np.stack([rng.integers(0, k + 1, size=n_rows) for k in n_levels]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(n_levels + 1)]).astype(np.int64)
    rows = rng.permutation(n_rows).astype(np.int64)
    g = rng.normal(size=n_rows)
    mask = np.isin(np.arange(3), active)
    summed = histogram.build_categorical_histogram(codes, offsets, rows, False, g, np.ones(n_rows),
                                                   histogram.NO_WEIGHTS, mask, 0.0)
    counted = histogram.build_categorical_histogram(codes, offsets, rows, False, g, np.full(n_rows, np.nan),
                                                    np.full(n_rows, np.nan), mask, 1.0)
    assert summed.tobytes() == counted.tobytes()
    assert summed[:, 2].sum() == n_rows * len(active)


def test_subtraction_snaps_only_counts_at_or_below_the_floor():
    parent = np.array([[1.0, 2.0, 0.3], [1.0, 2.0, 5.0], [4.0, 4.0, 0.1 + 0.2]])
    child = np.array([[0.5, 1.0, 0.1 + 0.2 - 1e-17], [1.0, 2.0, 1.0], [4.0, 4.0, 0.3]])
    assert parent[0, 2] - child[0, 2] != 0.0 and parent[2, 2] - child[2, 2] != 0.0  # rounding left over
    snapped = histogram.subtract_histograms(parent, child, 1e-10 * 6.0)
    assert np.array_equal(snapped[:, :2], parent[:, :2] - child[:, :2])
    assert np.array_equal(snapped[:, 2], [0.0, 4.0, 0.0])
    kept = histogram.subtract_histograms(parent, child)  # no floor: the differences as they are
    assert np.array_equal(kept, parent - child)
