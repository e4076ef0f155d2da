"""BinMapper: a subsample's thresholds are those of the subsampled matrix, gathered one column at a time."""

import numpy as np
import pytest

from shrinktree.boosting.binning import BinMapper


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_subsampled_thresholds_equal_those_of_the_subsampled_rows(dtype, weighted):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5_000, 4)).astype(dtype)
    X[rng.random(5_000) < 0.1, 2] = np.nan
    X[:, 3] = rng.integers(0, 7, size=5_000)  # few distinct values: midpoints, not quantiles
    weight = rng.integers(1, 4, size=5_000).astype(np.float64) if weighted else None
    mapper = BinMapper(32, subsample=1_000, random_state=5).fit(X, weight)
    rows = np.sort(np.random.default_rng(5).choice(5_000, 1_000, replace=False))
    reference = BinMapper(32, subsample=None).fit(X[rows], None if weight is None else weight[rows])
    assert len(mapper.thresholds_) == 4
    for got, expected in zip(mapper.thresholds_, reference.thresholds_):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(mapper.n_bins_non_missing_, reference.n_bins_non_missing_)
    # and without subsampling, every row is used
    full = BinMapper(32, subsample=None).fit(X, weight)
    assert any(len(a) != len(b) or np.any(a != b) for a, b in zip(full.thresholds_, mapper.thresholds_))


@pytest.mark.parametrize("max_bins", [255, 16, 3])
def test_unit_weights_take_counts_and_give_the_weighted_path_thresholds_bit_for_bit(max_bins):
    # Unweighted fits count each value's rows (a radix sort) instead of summing unit weights over its
    # inverse (an argsort): the same thresholds, zero signs included, on ties, NaN, signed zeros and extremes.
    from shrinktree.boosting.binning import _feature_thresholds

    rng = np.random.default_rng(11)
    columns = [rng.normal(size=3_000), rng.integers(-40, 40, 3_000).astype(np.float64),
               np.where(rng.random(3_000) < 0.5, 0.0, -0.0) + rng.integers(-3, 3, 3_000) * (rng.random(3_000) < 0.3),
               np.round(rng.normal(size=3_000) * 100) / 7, rng.standard_cauchy(3_000) * 1e300]
    for values in columns:
        values[rng.random(values.size) < 0.05] = np.nan
        counted = _feature_thresholds(values.copy(), None, max_bins)
        summed = _feature_thresholds(values.copy(), np.ones(values.size), max_bins)
        assert counted.dtype == summed.dtype == np.float64 and counted.shape == summed.shape
        assert np.array_equal(counted.view(np.uint64), summed.view(np.uint64))
    X = np.column_stack(columns)
    unweighted = BinMapper(max_bins, subsample=None).fit(X)
    ones = BinMapper(max_bins, subsample=None).fit(X, np.ones(X.shape[0]))
    twos = BinMapper(max_bins, subsample=None).fit(X, np.full(X.shape[0], 2.0))
    for a, b, c in zip(unweighted.thresholds_, ones.thresholds_, twos.thresholds_):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_distinct_counts_are_numpys_unique_with_counts():
    from shrinktree.boosting.binning import distinct_counts

    rng = np.random.default_rng(12)
    cases = [np.zeros(0), np.array([3.0]), rng.normal(size=20_000), rng.integers(-5, 5, 20_000).astype(np.float64),
             np.array([0.0, -0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, 1e308, -1e308, 5e-324, -5e-324, 5e-324]),
             rng.standard_cauchy(5_000) * 1e300, np.full(1_000, 2.5)]
    for values in cases:
        distinct, counts = distinct_counts(values)
        expected, expected_counts = np.unique(values, return_counts=True)
        assert distinct.dtype == np.float64 and counts.dtype == np.int64
        np.testing.assert_array_equal(distinct, expected)  # -0.0 == 0.0: both zeros are one value
        np.testing.assert_array_equal(counts, expected_counts)
        assert not np.any(np.signbit(distinct) & (distinct == 0.0))  # the zero comes back as 0.0


def test_distinct_masses_are_numpys_unique_and_bincount_bit_for_bit():
    from shrinktree.boosting.binning import distinct_masses

    rng = np.random.default_rng(13)
    for values in (rng.normal(size=20_000), rng.integers(-5, 5, 20_000).astype(np.float64),
                   np.where(rng.random(2_000) < 0.5, 0.0, -0.0), np.zeros(0)):
        for weights in (rng.exponential(size=values.size), rng.integers(0, 3, values.size) * 0.1,
                        np.where(rng.random(values.size) < 0.5, -0.0, 0.7)):
            distinct, mass = distinct_masses(values, weights)
            expected, inverse = np.unique(values, return_inverse=True)
            expected_mass = np.bincount(inverse, weights=weights, minlength=expected.size)
            np.testing.assert_array_equal(distinct, expected)
            # The same additions in the same order: equal bits, signed zeros included.
            assert np.array_equal(mass.view(np.uint64), expected_mass.astype(np.float64).view(np.uint64))
