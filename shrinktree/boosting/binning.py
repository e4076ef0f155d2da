"""Binning: map each numeric feature to at most ``max_bins`` uint8 bins.

Bin ``b`` holds the values ``x`` with ``thresholds[b-1] < x <= thresholds[b]``; NaN goes
to a dedicated last bin (index ``max_bins``), so the bins of a feature fit in one uint8.
Thresholds are (weighted) quantiles, midway between neighbouring distinct values, so
integer sample weights give the same bins as repeated rows.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .radix import float_keys, key_floats, sort_keys_and_order, sorted_keys

SUBSAMPLE_FOR_BINNING = 200_000


def _midpoints(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Thresholds between neighbouring distinct values ``low < high``: ``low <= t < high`` always.

    ``low / 2 + high / 2`` equals ``(low + high) / 2`` in the normal range but cannot overflow near
    the largest floats; between adjacent subnormals the midpoint rounds to an end, and ``low`` (which
    still separates the two values) is used instead.
    """
    middle = low / 2.0 + high / 2.0
    return np.where((middle >= low) & (middle < high), middle, low)


def _feature_thresholds(values: np.ndarray, weights: np.ndarray | None, max_bins: int) -> np.ndarray:
    """Thresholds of one feature from its values (NaN dropped) and their weights (``None``: every weight 1)."""
    keep = ~np.isnan(values)
    values = values[keep]
    if values.size == 0:
        return np.zeros(0)
    if weights is None:
        # Unit weights: a value's mass is its count (sums of 1.0 are exact), so the distinct values and their
        # counts come from a radix sort of the keys alone, a quarter of np.unique's and np.bincount's time
        # (python benchmarks/binning_speed.py); weights move the rows' positions along with the keys.
        distinct, counts = distinct_counts(values)
        mass = counts.astype(np.float64)
    else:
        distinct, mass = distinct_masses(values, np.ascontiguousarray(weights[keep], dtype=np.float64))
    if distinct.size <= max_bins:
        return _midpoints(distinct[:-1], distinct[1:])
    cumulative = np.cumsum(mass)
    if cumulative[-1] <= 0:
        cumulative = np.cumsum(np.ones_like(mass))
    targets = cumulative[-1] * np.arange(1, max_bins) / max_bins
    idx = np.searchsorted(cumulative, targets, side="left")
    idx = np.unique(np.clip(idx, 0, distinct.size - 2))
    return _midpoints(distinct[idx], distinct[idx + 1])


@njit(cache=True)
def distinct_counts(values):
    """``np.unique(values, return_counts=True)`` of values without NaN, by a radix sort (both zeros as ``0.0``).

    Returns
    -------
    distinct : ndarray of float64
        The distinct values in increasing order.
    counts : ndarray of int64
        How many of ``values`` equal each.
    """
    keys = sorted_keys(float_keys(values, values.shape[0]))
    m = keys.shape[0]
    distinct = np.empty(m, dtype=np.uint64)
    counts = np.empty(m, dtype=np.int64)
    k = 0
    for i in range(m):
        if k > 0 and keys[i] == distinct[k - 1]:
            counts[k - 1] += 1
        else:
            distinct[k] = keys[i]
            counts[k] = 1
            k += 1
    return key_floats(distinct, k), counts[:k].copy()


@njit(cache=True)
def distinct_masses(values, weights):
    """The distinct values of ``values`` (no NaN) and the summed ``weights`` of each, by a stable radix sort.

    ``np.unique(values, return_inverse=True)`` and ``np.bincount(inverse, weights)`` bit for bit: the stable order
    keeps each value's rows in row order, the order bincount adds them in (both zeros are one value, ``0.0``).
    """
    n = values.shape[0]
    order = np.empty(n, dtype=np.int64)
    sort_keys_and_order(float_keys(values, n), n, order)
    distinct = np.empty(n)
    mass = np.empty(n)
    k = 0
    for j in range(n):
        i = order[j]
        value = values[i] + 0.0
        if k > 0 and value == distinct[k - 1]:
            mass[k - 1] += weights[i]
        else:
            distinct[k] = value
            mass[k] = 0.0 + weights[i]  # bincount's sums start at 0.0 (0.0 + -0.0 is 0.0)
            k += 1
    return distinct[:k].copy(), mass[:k].copy()


class BinMapper:
    """Learns per-feature thresholds and maps a float matrix to uint8 bins.

    Parameters
    ----------
    max_bins : int
        Number of bins for non-missing values (at most 255); NaN uses bin ``max_bins``.
    subsample : int or None
        Rows used to compute the quantiles; ``None`` uses all rows.
    random_state : numpy Generator
    """

    def __init__(self, max_bins: int = 255, subsample: int | None = SUBSAMPLE_FOR_BINNING, random_state=None):
        self.max_bins = max_bins
        self.subsample = subsample
        self.random_state = random_state

    def fit(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> BinMapper:
        n_samples = X.shape[0]
        rows = slice(None)
        if self.subsample is not None and n_samples > self.subsample:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(n_samples, self.subsample, replace=False))
        weights = None if sample_weight is None else np.asarray(sample_weight[rows], dtype=np.float64)
        if weights is not None and np.all(weights == 1.0):
            weights = None  # unit weights: counts are the masses (see _feature_thresholds)
        # One float64 column of the used rows at a time: neither a copy of the subsampled matrix nor a
        # float64 copy of float32 input (its values widen exactly, so its thresholds are those of the
        # widened matrix).
        self.thresholds_ = [_feature_thresholds(np.asarray(X[rows, j], dtype=np.float64), weights, self.max_bins)
                            for j in range(X.shape[1])]
        self.n_bins_non_missing_ = np.array([len(t) + 1 for t in self.thresholds_], dtype=np.int64)
        # NaN takes the bin after the largest feature's last: histograms have missing_bin_ + 1 bins a feature,
        # so data whose columns have few distinct values build, zero and subtract short histograms.
        self.missing_bin_ = int(self.n_bins_non_missing_.max()) if len(self.n_bins_non_missing_) else self.max_bins
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Bins as a feature-major (n_features, n_samples) uint8 array."""
        n_features = X.shape[1]
        # Each feature's thresholds padded with +inf to SEARCH_WIDTH entries: a fixed-depth branch-free
        # search then counts the thresholds below a value (np.searchsorted's side="left").
        edges = np.full((n_features, SEARCH_WIDTH), np.inf)
        for j, thresholds in enumerate(self.thresholds_):
            edges[j, :len(thresholds)] = thresholds
        out = np.empty((n_features, X.shape[0]), dtype=np.uint8)
        # float32 is binned as it is (its values widen exactly in the comparisons), other input as float64.
        X = X if X.dtype == np.float32 else np.asarray(X, dtype=np.float64)
        _map_to_bins(X, edges, self.missing_bin_, out)
        return out

    def bin_thresholds(self, feature: int, bin_index: int) -> float:
        """The raw threshold for a split that sends bins ``<= bin_index`` left."""
        thresholds = self.thresholds_[feature]
        return float(thresholds[bin_index]) if bin_index < len(thresholds) else np.inf


# Width of the padded threshold table: a power of two above the at most 254 thresholds of a feature.
SEARCH_WIDTH = 256
# Rows binned per parallel task: each task reads its rows of ``X`` contiguously (all features of a row
# share cache lines) instead of striding down one column of a row-major matrix.
BINNING_CHUNK_ROWS = 4_096


@njit(cache=True, inline="always")
def _count_below(edges, j, x):
    # Number of edges[j] entries < x, by halving steps that never branch on the data.
    position = 0
    step = SEARCH_WIDTH // 2
    while step > 0:
        position += step * (edges[j, position + step - 1] < x)
        step //= 2
    return position


@njit(parallel=True, cache=True)
def _map_to_bins(X, edges, missing_bin, out):
    n_samples, n_features = X.shape
    n_chunks = (n_samples + BINNING_CHUNK_ROWS - 1) // BINNING_CHUNK_ROWS
    for chunk in prange(n_chunks):
        for i in range(chunk * BINNING_CHUNK_ROWS, min(n_samples, (chunk + 1) * BINNING_CHUNK_ROWS)):
            for j in range(n_features):
                x = X[i, j]
                out[j, i] = missing_bin if np.isnan(x) else _count_below(edges, j, x)
