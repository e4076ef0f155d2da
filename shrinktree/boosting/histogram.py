"""Gradient histograms: per feature and bin, the sums of gradients, hessians and row counts.

Histograms have shape ``(n_features, n_bins, 3)`` and float64 sums.  Only the smaller child
of a split is built from its rows; its sibling is the parent minus it (histogram subtraction).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

GRAD, HESS, COUNT = 0, 1, 2


@njit(cache=True)
def gather(values, sample_indices):
    """``values[sample_indices]``, contiguous, so that histogram loops read sequentially."""
    out = np.empty(sample_indices.shape[0], dtype=np.float64)
    for i in range(sample_indices.shape[0]):
        out[i] = values[sample_indices[i]]
    return out


# Below this many rows a node's histogram is built on one thread: starting the thread pool
# costs more than it saves, and far more when the machine is busy.
PARALLEL_MIN_ROWS = 20_000


@njit(cache=True, inline="always")
def _accumulate_feature(column, sample_indices, ordered_gradients, ordered_hessians, h):
    for i in range(sample_indices.shape[0]):
        b = column[sample_indices[i]]
        h[b, 0] += ordered_gradients[i]
        h[b, 1] += ordered_hessians[i]
        h[b, 2] += 1.0


@njit(parallel=True, cache=True)
def _build_histogram_parallel(binned, sample_indices, ordered_gradients, ordered_hessians, feature_mask, n_bins):
    n_features = binned.shape[0]
    hist = np.zeros((n_features, n_bins, 3), dtype=np.float64)
    for f in prange(n_features):
        if feature_mask[f]:
            _accumulate_feature(binned[f], sample_indices, ordered_gradients, ordered_hessians, hist[f])
    return hist


@njit(cache=True)
def _build_histogram_serial(binned, sample_indices, ordered_gradients, ordered_hessians, feature_mask, n_bins):
    n_features = binned.shape[0]
    hist = np.zeros((n_features, n_bins, 3), dtype=np.float64)
    for f in range(n_features):
        if feature_mask[f]:
            _accumulate_feature(binned[f], sample_indices, ordered_gradients, ordered_hessians, hist[f])
    return hist


def build_histogram(binned, sample_indices, ordered_gradients, ordered_hessians, feature_mask, n_bins):
    """Histogram of the rows ``sample_indices`` (with gradients already gathered in that order)."""
    kernel = _build_histogram_parallel if len(sample_indices) >= PARALLEL_MIN_ROWS else _build_histogram_serial
    return kernel(binned, sample_indices, ordered_gradients, ordered_hessians, feature_mask, n_bins)


@njit(parallel=True, cache=True)
def build_histogram_all_rows(binned, gradients, hessians, feature_mask, n_bins):
    """Histogram of every row (the root without row subsampling)."""
    n_features, n_rows = binned.shape
    hist = np.zeros((n_features, n_bins, 3), dtype=np.float64)
    for f in prange(n_features):
        if not feature_mask[f]:
            continue
        column = binned[f]
        h = hist[f]
        for i in range(n_rows):
            b = column[i]
            h[b, 0] += gradients[i]
            h[b, 1] += hessians[i]
            h[b, 2] += 1.0
    return hist


@njit(cache=True)
def subtract_histograms(parent, child):
    """The sibling's histogram: ``parent - child``."""
    return parent - child
