"""Within-level moments of every categorical feature of a tree in one pass (the level pooling's noise).

The level pooling of a categorical split needs, per feature, the within-level noise ``sigma^2`` of the
tree's growing rows (:meth:`~shrinktree.boosting.grower.TreeGrower._level_noise`).  The three ratios each
row contributes (``g^2 / w``, ``g h / w``, ``h^2 / w``) do not depend on the feature: they are computed once
per row here instead of once per row and feature; the features are summed two at a time, and those pairs
in parallel when the tree has many rows.  Each level's sums add the rows in the order of ``sample_indices``
whichever the path, so the results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange

# Rows times categorical features below which the features are summed on the calling thread.
PARALLEL_MIN_WORK = 65_536


@njit(cache=True)
def _row_ratios(sample_indices, all_rows, gradients, hessians, sample_weight):
    # Per growing row (in the order of ``sample_indices``): its row, g, h, w, g^2/w, g h/w, h^2/w.
    n = gradients.shape[0] if all_rows else sample_indices.shape[0]
    rows = np.empty(n, dtype=np.int64)
    terms = np.empty((n, 6), dtype=np.float64)
    m = 0
    for r in range(n):
        i = r if all_rows else sample_indices[r]
        w = sample_weight[i]
        if w <= 0.0:
            continue
        g = gradients[i]
        h = hessians[i]
        rows[m] = i
        terms[m, 0] = g
        terms[m, 1] = h
        terms[m, 2] = w
        terms[m, 3] = g * g / w
        terms[m, 4] = g * h / w
        terms[m, 5] = h * h / w
        m += 1
    return rows[:m], terms[:m]


@njit(cache=True, inline="always")
def _summarize(stats, out, c):
    # The per-level sums of feature ``c`` into its (sum_sq, mass, count, n_groups).
    sum_sq = 0.0
    mass = 0.0
    count = 0.0
    n_groups = 0
    for b in range(stats.shape[0]):
        if stats[b, 1] <= 0.0:
            continue
        m = stats[b, 0] / stats[b, 1]
        sum_sq += stats[b, 3] - 2.0 * m * stats[b, 4] + m * m * stats[b, 5]
        mass += stats[b, 1]
        count += stats[b, 2]
        n_groups += 1
    out[c, 0] = sum_sq
    out[c, 1] = mass
    out[c, 2] = count
    out[c, 3] = n_groups


@njit(cache=True, inline="always")
def _feature_group(codes, rows, terms, n_levels, active, group, out):
    # Group ``group`` is the active features ``2 group`` and ``2 group + 1`` (the last may be alone), summed
    # in one pass over the rows: a feature with few levels adds row after row into the same sums, each add
    # waiting for the previous one; the other feature's adds fill that wait.
    ca = active[2 * group]
    paired = 2 * group + 1 < active.shape[0]
    cb = active[2 * group + 1] if paired else ca
    column_a, column_b = codes[ca], codes[cb]
    stats_a = np.zeros((n_levels[ca] + 1, 6), dtype=np.float64)
    stats_b = np.zeros((n_levels[cb] + 1 if paired else 0, 6), dtype=np.float64)
    if paired:
        for r in range(rows.shape[0]):
            a = column_a[rows[r]]
            b = column_b[rows[r]]
            for k in range(6):
                stats_a[a, k] += terms[r, k]
                stats_b[b, k] += terms[r, k]
        _summarize(stats_b, out, cb)
    else:
        for r in range(rows.shape[0]):
            a = column_a[rows[r]]
            for k in range(6):
                stats_a[a, k] += terms[r, k]
    _summarize(stats_a, out, ca)


@njit(cache=True)
def _moments_serial(codes, rows, terms, n_levels, active, out):
    for group in range((active.shape[0] + 1) // 2):
        _feature_group(codes, rows, terms, n_levels, active, group, out)


@njit(parallel=True, cache=True)
def _moments_parallel(codes, rows, terms, n_levels, active, out):
    for group in prange((active.shape[0] + 1) // 2):
        _feature_group(codes, rows, terms, n_levels, active, group, out)


@njit(cache=True)
def level_moments(codes, sample_indices, all_rows, gradients, hessians, sample_weight, n_levels, feature_mask):
    """Within-level moments of each categorical feature over the growing rows (rows of weight 0 left out).

    Parameters
    ----------
    codes : ndarray of int32, shape (n_categorical, n_samples)
        Level codes, the missing code ``n_levels[c]`` included.
    sample_indices : ndarray of int64
        The growing rows (ignored when ``all_rows``).
    all_rows : bool
        Every row grows the tree (gradients indexed by row).
    gradients, hessians, sample_weight : ndarray of float64, shape (n_samples,)
    n_levels : ndarray of int64, shape (n_categorical,)
    feature_mask : ndarray of bool, shape (n_categorical,)
        Features left out have zero moments.

    Returns
    -------
    ndarray of float64, shape (n_categorical, 4)
        Per feature ``(sum_sq, mass, count, n_groups)``: ``sum_sq = sum_l sum_{i in l} w_i (g~_i - h~_i m_l)^2``
        with ``m_l = G_l / H_l`` (``g = w g~``, ``h = w h~``), the noise left once every level has its own
        value; ``mass`` and ``count`` the hessian and weight of the levels with mass, ``n_groups`` their number.
    """
    rows, terms = _row_ratios(sample_indices, all_rows, gradients, hessians, sample_weight)
    out = np.zeros((codes.shape[0], 4), dtype=np.float64)
    active = np.flatnonzero(feature_mask)
    if active.shape[0] > 2 and rows.shape[0] * active.shape[0] >= PARALLEL_MIN_WORK:
        _moments_parallel(codes, rows, terms, n_levels, active, out)
    else:
        _moments_serial(codes, rows, terms, n_levels, active, out)
    return out


@njit(cache=True)
def level_sums(column, sample_indices, gradients, hessians, sample_weight, n_codes):
    """Per level code, the six sums behind :func:`level_moments` over ``sample_indices`` (weight-0 rows out).

    The per-partition half of the moments of a distributed fit: sums of ``g, h, w, g^2/w, g h/w, h^2/w`` per
    code, added over the partitions and then summarized by :func:`summarize_level_sums`.  Rows are added in the
    order of ``sample_indices``, as :func:`level_moments` adds them.

    Returns
    -------
    ndarray of float64, shape (n_codes, 6)
    """
    stats = np.zeros((n_codes, 6), dtype=np.float64)
    for r in range(sample_indices.shape[0]):
        i = sample_indices[r]
        w = sample_weight[i]
        if w <= 0.0:
            continue
        g = gradients[i]
        h = hessians[i]
        b = column[i]
        stats[b, 0] += g
        stats[b, 1] += h
        stats[b, 2] += w
        stats[b, 3] += g * g / w
        stats[b, 4] += g * h / w
        stats[b, 5] += h * h / w
    return stats


@njit(cache=True)
def summarize_level_sums(stats):
    """``(sum_sq, mass, count, n_groups)`` of one feature from its per-level sums (see :func:`level_moments`)."""
    out = np.zeros((1, 4), dtype=np.float64)
    _summarize(stats, out, 0)
    return out[0]

