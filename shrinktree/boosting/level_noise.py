"""Within-level moments of every categorical feature of a tree in one pass (the level pooling's noise).

The level pooling of a categorical split needs, per feature, the within-level noise ``sigma^2`` of the
tree's growing rows (:meth:`~shrinktree.boosting.grower.TreeGrower._level_noise`).  The three ratios each
row contributes (``g^2 / w``, ``g h / w``, ``h^2 / w``) do not depend on the feature: they are computed once
per row here instead of once per row and feature; the features are summed two at a time, and those pairs
in parallel when the tree has many rows.  Each level's sums add the rows in the order of ``sample_indices``
whichever the path, so the results do not depend on the thread count.

When every growing row has hessian 1 and weight 1 (unweighted squared error, the default regression) the six
sums are three: ``g h / w`` is ``g``, and ``h``, ``w`` and ``h^2 / w`` are 1, exactly, so their sums are
the gradient sum and the row count.  Those fits sum three channels instead of six (the same numbers bit for
bit).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from ..variance_components import within_variance
from .paired_add import add_four

# Rows times categorical features below which the features are summed on the calling thread.
PARALLEL_MIN_WORK = 65_536


@njit(cache=True)
def _row_ratios(sample_indices, all_rows, gradients, hessians, sample_weight):
    # Per growing row (in the order of ``sample_indices``): its row, g, h, w, g^2/w, g h/w, h^2/w; or, when
    # every row has h = w = 1, its row, g, 1, g^2 (the other three columns equal these exactly).
    n = gradients.shape[0] if all_rows else sample_indices.shape[0]
    unit = True
    for r in range(n):
        i = r if all_rows else sample_indices[r]
        unit &= (hessians[i] == 1.0) & (sample_weight[i] == 1.0)
    if unit:
        rows = np.empty(n, dtype=np.int64)
        terms = np.empty((n, 3), dtype=np.float64)
        for r in range(n):
            i = r if all_rows else sample_indices[r]
            g = gradients[i]
            rows[r] = i
            terms[r, 0] = g
            terms[r, 1] = 1.0
            terms[r, 2] = g * g
        return rows[:n], terms[:n]  # sliced as below: one return type
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


# Columns of a level's sums (g, h, w, g^2/w, g h/w, h^2/w): all six, or the three of unit rows, where the
# sums of h, w and h^2/w are one column (the row count) and that of g h/w is the gradient sum's.
_SIX_COLUMNS = np.arange(6)
_UNIT_COLUMNS = np.array([0, 1, 1, 2, 0, 1])


@njit(cache=True, inline="always")
def _summarize(stats, columns, out, c):
    # The per-level sums of feature ``c`` into its (sum_sq, mass, count, n_groups); ``columns[k]`` is the
    # column of ``stats`` holding the k-th of the six sums.
    i_g, i_h, i_w, i_gg, i_gh, i_hh = columns[0], columns[1], columns[2], columns[3], columns[4], columns[5]
    sum_sq = 0.0
    mass = 0.0
    count = 0.0
    n_groups = 0
    for b in range(stats.shape[0]):
        if stats[b, i_h] <= 0.0:
            continue
        m = stats[b, i_g] / stats[b, i_h]
        sum_sq += stats[b, i_gg] - 2.0 * m * stats[b, i_gh] + m * m * stats[b, i_hh]
        mass += stats[b, i_h]
        count += stats[b, i_w]
        n_groups += 1
    out[c, 0] = sum_sq
    out[c, 1] = mass
    out[c, 2] = count
    out[c, 3] = n_groups


@njit(cache=True, inline="always")
def _accumulate(stats, level, terms, r, n_columns):
    # A literal column count: the loop unrolls.
    for k in range(n_columns):
        stats[level, k] += terms[r, k]


@njit(cache=True, inline="always")
def _feature_group(codes, rows, terms, n_levels, active, group, out):
    # Group ``group`` is the active features ``2 group`` and ``2 group + 1`` (the last may be alone), summed
    # in one pass over the rows: a feature with few levels adds row after row into the same sums, each add
    # waiting for the previous one; the other feature's adds fill that wait.
    ca = active[2 * group]
    paired = 2 * group + 1 < active.shape[0]
    cb = active[2 * group + 1] if paired else ca
    column_a, column_b = codes[ca], codes[cb]
    unit = terms.shape[1] == 3
    n_columns = terms.shape[1]
    stats_a = np.zeros((n_levels[ca] + 1, n_columns), dtype=np.float64)
    stats_b = np.zeros((n_levels[cb] + 1 if paired else 0, n_columns), dtype=np.float64)
    if paired:
        if unit:
            for r in range(rows.shape[0]):
                a = column_a[rows[r]]
                b = column_b[rows[r]]
                _accumulate(stats_a, a, terms, r, 3)
                _accumulate(stats_b, b, terms, r, 3)
        else:
            for r in range(rows.shape[0]):
                a = column_a[rows[r]]
                b = column_b[rows[r]]
                _accumulate(stats_a, a, terms, r, 6)
                _accumulate(stats_b, b, terms, r, 6)
    elif unit:
        for r in range(rows.shape[0]):
            _accumulate(stats_a, column_a[rows[r]], terms, r, 3)
    else:
        for r in range(rows.shape[0]):
            _accumulate(stats_a, column_a[rows[r]], terms, r, 6)
    columns = _UNIT_COLUMNS if unit else _SIX_COLUMNS
    if paired:
        _summarize(stats_b, columns, out, cb)
    _summarize(stats_a, columns, out, ca)


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
    _summarize(stats, _SIX_COLUMNS, out, 0)
    return out[0]


# --- unit rows: the moments and the root's level histogram in one pass ------------------------------------
# With h = w = 1 for every row the per-level sums of the moments are the gradient sum, the row count and the
# sum of g^2; the first two are what the tree's root level histogram holds (summed over the same rows in the
# same order), so one pass gives both and the grower does not build the root's level histogram again.


@njit(cache=True, inline="always")
def _unit_group(codes, offsets, sample_indices, all_rows, gradients, active, group, width, sums):
    # Each level's (g, count, g^2) as one 4-lane add into its row of ``sums`` (the fourth lane adds 0.0 to a
    # zero): one read-modify-write per row and feature instead of three.  Group ``group`` is the active features
    # ``width * group`` on (``width`` 2 or 4; the last group may have fewer): four features a pass keep four
    # chains of adds in flight where rows sorted by a grouping repeat a level (histogram._accumulate_quad).
    first = width * group
    k = min(width, active.shape[0] - first)
    n = codes.shape[1] if all_rows else sample_indices.shape[0]
    if k == 4:
        column_a, column_b = codes[active[first]], codes[active[first + 1]]
        column_c, column_d = codes[active[first + 2]], codes[active[first + 3]]
        base_a, base_b = offsets[active[first]], offsets[active[first + 1]]
        base_c, base_d = offsets[active[first + 2]], offsets[active[first + 3]]
        for r in range(n):
            i = r if all_rows else sample_indices[r]
            g = gradients[i]
            add_four(sums, 4 * np.intp(base_a + column_a[i]), g, 1.0, g * g, 0.0)
            add_four(sums, 4 * np.intp(base_b + column_b[i]), g, 1.0, g * g, 0.0)
            add_four(sums, 4 * np.intp(base_c + column_c[i]), g, 1.0, g * g, 0.0)
            add_four(sums, 4 * np.intp(base_d + column_d[i]), g, 1.0, g * g, 0.0)
        return
    rest = first
    if k >= 2:
        column_a, column_b = codes[active[rest]], codes[active[rest + 1]]
        base_a, base_b = offsets[active[rest]], offsets[active[rest + 1]]
        for r in range(n):
            i = r if all_rows else sample_indices[r]
            g = gradients[i]
            add_four(sums, 4 * np.intp(base_a + column_a[i]), g, 1.0, g * g, 0.0)
            add_four(sums, 4 * np.intp(base_b + column_b[i]), g, 1.0, g * g, 0.0)
        rest += 2
    if rest < first + k:
        column_a = codes[active[rest]]
        base_a = offsets[active[rest]]
        for r in range(n):
            i = r if all_rows else sample_indices[r]
            g = gradients[i]
            add_four(sums, 4 * np.intp(base_a + column_a[i]), g, 1.0, g * g, 0.0)


@njit(cache=True)
def _unit_serial(codes, offsets, sample_indices, all_rows, gradients, active, sums):
    width = np.int64(4)
    for group in range((active.shape[0] + width - 1) // width):
        _unit_group(codes, offsets, sample_indices, all_rows, gradients, active, group, width, sums)


@njit(parallel=True, cache=True)
def _unit_parallel(codes, offsets, sample_indices, all_rows, gradients, active, sums):
    width = np.int64(2)  # pairs: the groups are shared out among the threads
    for group in prange((active.shape[0] + width - 1) // width):
        _unit_group(codes, offsets, sample_indices, all_rows, gradients, active, np.int64(group), width, sums)


@njit(cache=True)
def unit_level_moments(codes, offsets, sample_indices, all_rows, gradients, feature_mask,
                       parallel_min_work=PARALLEL_MIN_WORK):
    """:func:`level_moments` of rows whose hessians and weights are all 1, and their level histogram.

    ``offsets`` lays out the level histogram (:func:`~shrinktree.boosting.histogram.build_categorical_histogram`).
    From ``parallel_min_work`` rows times features on, pairs of features are summed in parallel; below it (and
    with :data:`~shrinktree.boosting.histogram.SERIAL_ONLY`, a fit on one thread) four at a time on this thread.

    Returns
    -------
    moments : ndarray of float64, shape (n_categorical, 4)
        What :func:`level_moments` returns for these rows, bit for bit.
    hist : ndarray of float64, shape (offsets[-1], 3)
        The level histogram of the rows, what ``build_categorical_histogram`` gives them with a constant
        hessian of 1, bit for bit.
    """
    n_features = offsets.shape[0] - 1
    # Per level: the gradient sum, the row count, the sum of g^2 and a lane left at zero.
    sums = np.zeros((offsets[n_features], 4), dtype=np.float64)
    active = np.flatnonzero(feature_mask)
    n = codes.shape[1] if all_rows else sample_indices.shape[0]
    if active.shape[0] > 2 and n * active.shape[0] >= parallel_min_work:
        _unit_parallel(codes, offsets, sample_indices, all_rows, gradients, active, sums)
    else:
        _unit_serial(codes, offsets, sample_indices, all_rows, gradients, active, sums)
    hist = np.zeros((offsets[n_features], 3), dtype=np.float64)
    out = np.zeros((n_features, 4), dtype=np.float64)
    for c in active:
        # _summarize's sums, with a level's hessian and weight sums both its count.
        sum_sq = 0.0
        mass = 0.0
        count = 0.0
        n_groups = 0
        for b in range(offsets[c], offsets[c + 1]):
            level_g = sums[b, 0]
            level_count = sums[b, 1]
            hist[b, 0] = level_g
            hist[b, 1] = level_count  # the hessian sum: the count (times the constant hessian, 1)
            hist[b, 2] = level_count
            if level_count <= 0.0:
                continue
            m = level_g / level_count
            sum_sq += sums[b, 2] - 2.0 * m * level_g + m * m * level_count
            mass += level_count
            count += level_count
            n_groups += 1
        out[c, 0] = sum_sq
        out[c, 1] = mass
        out[c, 2] = count
        out[c, 3] = n_groups
    return out, hist


@njit(cache=True)
def level_noise_variances(moments, feature_mask):
    """:func:`~shrinktree.variance_components.within_variance` of each feature's moments (a row of
    :func:`level_moments` or :func:`unit_level_moments`), 0 for the features left out of ``feature_mask``.

    The loop the grower ran in Python, one compiled call per tree instead of a call per feature.
    """
    out = np.zeros(moments.shape[0])
    for c in range(moments.shape[0]):
        if feature_mask[c]:
            out[c] = within_variance(moments[c, 0], moments[c, 1], moments[c, 2], int(moments[c, 3]))
    return out
