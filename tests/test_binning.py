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
