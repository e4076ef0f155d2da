"""Split finding on gradient histograms.

For every feature the bins are scanned left to right; rows with a missing value are
tried on both sides (the learned default direction).  The gain is the Newton loss
reduction ``G_L^2/(H_L+l2) + G_R^2/(H_R+l2) - G^2/(H+l2)``.

Besides the best split, each node reports the *effective number of independent tests*
it searched (summed over features from the number of admissible thresholds of each).
The shrinkage estimator uses it to know how large a gain noise alone would have given.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit
from ..variance_components import level_between_variance
from .radix import float_keys, sort_keys_and_order

# In a tree grown on a few rows (fewer than 2 x min_samples_leaf: honest.growing_min_samples_leaf) many
# features split them alike, and their gains tie up to rounding, which differs between a row of weight 3
# and three copies of it.  There, gains of two features (or of a numeric and a categorical split) that agree
# to this share of the node's score are one tie, kept by the first.  Elsewhere the tolerance is 0 (models
# unchanged bit for bit).
TIE_TOLERANCE = 1e-10


@njit(cache=True, inline="always")
def _too_small(left_count, right_count, left_hessian, right_hessian, min_samples_leaf, min_hessian):
    """Whether a candidate split leaves a child below ``min_samples_leaf`` rows or ``min_hessian`` mass."""
    return (left_count < min_samples_leaf or right_count < min_samples_leaf
            or left_hessian < min_hessian or right_hessian < min_hessian)


@njit(cache=True, inline="always")
def _score(g, h, l2):
    # A node without hessian mass (a saturated classifier: p(1 - p) == 0 in float64) scores 0.
    return g * g / (h + l2) if h + l2 > 0.0 else 0.0


@njit(cache=True, inline="always")
def beats(gain, best, sum_g, sum_h, l2, tie_tolerance):
    """Whether ``gain`` exceeds ``best`` by more than ``tie_tolerance`` of the node's score ``G^2 / (H + l2)``
    and ``|best|`` (:data:`TIE_TOLERANCE`; 0: any excess)."""
    if tie_tolerance <= 0.0 or best == -np.inf:
        return gain > best
    return gain > best + tie_tolerance * (_score(sum_g, sum_h, l2) + abs(best))


@njit(cache=True, inline="always")
def _pooled_score(g, h, l2, f, parent_value, parent_raw):
    # Loss reduction -(G v + H v^2 / 2) at the pooled value v = v_p + f (raw - raw_p).
    raw = -g / (h + l2)
    v = parent_value + f * (raw - parent_raw)
    return -2.0 * (g * v + 0.5 * (h + l2) * v * v)


@njit(cache=True, inline="always")
def _clip(value, lower, upper):
    return lower if value < lower else (upper if value > upper else value)


@njit(cache=True, inline="always")
def bounded_value(g, h, l2, lower, upper):
    """The Newton value ``-G / (H + l2)`` clipped into ``[lower, upper]`` (0 without mass)."""
    return _clip(-g / (h + l2) if h + l2 > 0.0 else 0.0, lower, upper)


@njit(cache=True, inline="always")
def _score_at(g, h, l2, v):
    # Loss reduction -2 (G v + (H + l2) v^2 / 2) at the value v: G^2 / (H + l2) at the Newton value.
    return -2.0 * (g * v + 0.5 * (h + l2) * v * v)


@njit(cache=True, inline="always")
def _bounded_gain(gl, hl, gr, hr, l2, lower, upper, sign, parent_score):
    """Gain of a split whose children's values are clipped into the node's bounds; ``-inf`` when a
    monotonic constraint (``sign`` 1: increasing, -1: decreasing) orders them the other way."""
    vl = bounded_value(gl, hl, l2, lower, upper)
    vr = bounded_value(gr, hr, l2, lower, upper)
    if sign * (vr - vl) < 0.0:
        return -np.inf
    return _score_at(gl, hl, l2, vl) + _score_at(gr, hr, l2, vr) - parent_score


@njit(cache=True, error_model="numpy")
def _scan_feature(h, n_bins, missing_bin, n_directions, sum_g, sum_h, count, l2, min_samples_leaf, min_hessian,
                  parent_score, prefix, gains, position):
    """Best raw-gain threshold of one feature's histogram ``h``: the plain scan of :func:`find_node_split`.

    Three passes instead of one branchy loop: the prefix sums of the bins that can end a left side (not
    empty, at least ``min_samples_leaf`` rows on both sides), every such threshold's gain (branch-free
    arithmetic), then the first maximum among those with enough hessian on both sides.  The sums, gains
    and the order of comparison are the loop's, so the result is the same bit for bit.  ``prefix``
    (3 x n_bins), ``gains`` and ``position`` (n_bins) are scratch space.  numpy's error model: a zero
    denominator gives inf instead of an exception, and such a gain is recomputed with the guards.

    Returns
    -------
    (gain, bin, missing_left, n_admissible, left_g, left_h, left_count)
        ``gain`` is ``-inf`` when no threshold is admissible.
    """
    best_gain = -np.inf
    best_bin = 0
    best_direction = 0
    best_g = best_h = best_c = 0.0
    n_admissible = 0
    for direction in range(n_directions):
        # direction 0: missing rows go right; direction 1: missing rows go left.
        gl = h[missing_bin, 0] if direction == 1 else 0.0
        hl = h[missing_bin, 1] if direction == 1 else 0.0
        cl = h[missing_bin, 2] if direction == 1 else 0.0
        n = 0
        for b in range(n_bins):
            gl += h[b, 0]
            hl += h[b, 1]
            cl += h[b, 2]
            if count - cl < min_samples_leaf:
                break  # row counts only fall from here on: no later threshold is admissible
            prefix[0, n] = gl
            prefix[1, n] = hl
            prefix[2, n] = cl
            position[n] = b
            # An empty bin leaves the sums as they were: its threshold scores what the previous one did
            # and cannot beat it (ties keep the first), so it is overwritten.
            not_empty = (b == 0) | (h[b, 2] != 0.0) | (h[b, 0] != 0.0) | (h[b, 1] != 0.0)
            n += not_empty & (cl >= min_samples_leaf)
        for k in range(n):
            gr = sum_g - prefix[0, k]
            gains[k] = (prefix[0, k] * prefix[0, k] / (prefix[1, k] + l2) + gr * gr / ((sum_h - prefix[1, k]) + l2)
                        - parent_score)
        direction_best = -1
        direction_gain = best_gain
        for k in range(n):
            hl = prefix[1, k]
            hr = sum_h - hl
            if hl < min_hessian or hr < min_hessian:
                continue
            if direction == 0 and h[position[k], 2] > 0:
                # Only thresholds after a non-empty bin give a new partition of the rows.
                n_admissible += 1
            gain = gains[k]
            if not (hl + l2 > 0.0 and hr + l2 > 0.0):
                gain = _score(prefix[0, k], hl, l2) + _score(sum_g - prefix[0, k], hr, l2) - parent_score
            if gain > direction_gain:
                direction_gain = gain
                direction_best = k
        if direction_best >= 0:
            best_gain, best_bin, best_direction = direction_gain, position[direction_best], direction
            best_g, best_h, best_c = prefix[0, direction_best], prefix[1, direction_best], prefix[2, direction_best]
    return best_gain, best_bin, np.uint8(best_direction), n_admissible, best_g, best_h, best_c


@njit(cache=True)
def find_node_split(hist, n_bins_non_missing, has_missing, feature_mask, missing_bin,
                    sum_g, sum_h, count, l2, min_samples_leaf, min_hessian, effective_tests,
                    pooling_k, parent_value, parent_raw, constrained, monotonic_cst, lower, upper, tie_tolerance):
    """Best split of one node.

    ``pooling_k < 0`` scores candidates by the raw Newton gain; ``pooling_k >= 0`` scores them
    by the loss reduction of the children's pooled values ``f = H / (H + k)`` (the
    ``path_smooth``-like variant, used only to measure that choice).

    ``constrained`` (a tree with monotonic constraints): the children's values are clipped into the
    node's bounds ``[lower, upper]`` and candidates are scored by the loss reduction at those values;
    on a feature with ``monotonic_cst[f]`` 1 (-1) a candidate whose left value exceeds (falls below)
    its right value is not a split.  Otherwise ``monotonic_cst``, ``lower`` and ``upper`` are unused.
    ``tie_tolerance`` (:data:`TIE_TOLERANCE` or 0): features whose gains agree to it keep the first.

    Returns
    -------
    (gain, feature, bin, missing_left, left_g, left_h, left_count, n_effective_tests)
    """
    n_features = hist.shape[0]
    if constrained:
        parent_score = _score_at(sum_g, sum_h, l2, bounded_value(sum_g, sum_h, l2, lower, upper))
    elif pooling_k >= 0.0:
        parent_score = -2.0 * (sum_g * parent_value + 0.5 * (sum_h + l2) * parent_value * parent_value)
    else:
        parent_score = _score(sum_g, sum_h, l2)
    # Raw gains without bounds (the default) take the faster scan of _scan_feature.
    plain = not constrained and pooling_k < 0.0
    prefix = np.empty((3, hist.shape[1]))
    gains = np.empty(hist.shape[1])
    position = np.empty(hist.shape[1], dtype=np.int64)
    # The best feature so far (the first of equal gains, by ``beats``) and the tests summed in feature order.
    best_feature = -1
    top = -np.inf
    top_bin = 0
    top_missing_left = np.uint8(0)
    top_g = top_h = top_c = 0.0
    n_tests = 0.0
    # Serial on purpose: a node's scan is tiny (features x bins), thread start-up would dominate.
    for f in range(n_features):
        if not feature_mask[f]:
            continue
        h = hist[f]
        n_bins = n_bins_non_missing[f]
        miss_g = h[missing_bin, 0]
        miss_h = h[missing_bin, 1]
        miss_c = h[missing_bin, 2]
        n_directions = 2 if (has_missing[f] and miss_c > 0) else 1
        if plain:
            (f_gain, f_bin, f_missing_left, admissible, f_g, f_h, f_c) = _scan_feature(
                h, n_bins, missing_bin, n_directions, sum_g, sum_h, count, l2, min_samples_leaf, min_hessian,
                parent_score, prefix, gains, position)
        else:
            (f_gain, f_bin, f_missing_left, admissible, f_g, f_h, f_c) = _scan_bounded_or_pooled(
                h, n_bins, missing_bin, n_directions, miss_g, miss_h, miss_c, sum_g, sum_h, count, l2,
                min_samples_leaf, min_hessian, pooling_k, parent_value, parent_raw, constrained,
                monotonic_cst[f], lower, upper, parent_score)
        if admissible > 0:
            idx = min(admissible, effective_tests.shape[0] - 1)
            n_tests += effective_tests[idx]
        if beats(f_gain, top, sum_g, sum_h, l2, tie_tolerance):
            top = f_gain
            best_feature = f
            top_bin, top_missing_left, top_g, top_h, top_c = f_bin, f_missing_left, f_g, f_h, f_c
    if best_feature < 0:
        return (-np.inf, -1, 0, np.uint8(0), 0.0, 0.0, 0.0, n_tests)
    return (top, best_feature, top_bin, top_missing_left, top_g, top_h, top_c, n_tests)


@njit(cache=True, inline="always")
def _scan_bounded_or_pooled(h, n_bins, missing_bin, n_directions, miss_g, miss_h, miss_c, sum_g, sum_h, count, l2,
                            min_samples_leaf, min_hessian, pooling_k, parent_value, parent_raw, constrained, sign,
                            lower, upper, parent_score):
    # One feature's scan under monotonic bounds or pooled gains (the general loop of find_node_split).
    best_gain = -np.inf
    best_bin = 0
    best_missing_left = np.uint8(0)
    best_g = best_h = best_c = 0.0
    admissible = 0
    for direction in range(n_directions):
        # direction 0: missing rows go right; direction 1: missing rows go left.
        gl = miss_g if direction == 1 else 0.0
        hl = miss_h if direction == 1 else 0.0
        cl = miss_c if direction == 1 else 0.0
        for b in range(n_bins):
            gl += h[b, 0]
            hl += h[b, 1]
            cl += h[b, 2]
            if b > 0 and h[b, 2] == 0.0 and h[b, 0] == 0.0 and h[b, 1] == 0.0:
                # An empty bin leaves the sums as they were: its candidate scores what the previous
                # one did and cannot beat it (ties keep the first), so it is not scored.
                continue
            cr = count - cl
            if cr < min_samples_leaf:
                break  # row counts only fall from here on: no later threshold is admissible
            gr = sum_g - gl
            hr = sum_h - hl
            if _too_small(cl, cr, hl, hr, min_samples_leaf, min_hessian):
                continue
            if direction == 0 and h[b, 2] > 0:
                # Only thresholds after a non-empty bin give a new partition of the rows.
                admissible += 1
            if constrained:
                gain = _bounded_gain(gl, hl, gr, hr, l2, lower, upper, sign, parent_score)
            elif pooling_k >= 0.0:
                fl = hl / (hl + pooling_k) if hl + pooling_k > 0 else 1.0
                fr = hr / (hr + pooling_k) if hr + pooling_k > 0 else 1.0
                gain = (_pooled_score(gl, hl, l2, fl, parent_value, parent_raw)
                        + _pooled_score(gr, hr, l2, fr, parent_value, parent_raw) - parent_score)
            else:
                gain = _score(gl, hl, l2) + _score(gr, hr, l2) - parent_score
            if gain > best_gain:
                best_gain = gain
                best_bin = b
                best_missing_left = np.uint8(direction)
                best_g = gl
                best_h = hl
                best_c = cl
    return best_gain, best_bin, best_missing_left, admissible, best_g, best_h, best_c


# --- categorical features ------------------------------------------------------------------------
# Level pooling modes for the sorted-level scan.  LEVELS_EB_BLOCK is LEVELS_EB with the node's weak levels
# (mass below the estimated k: more noise than signal) scanned as one block (benchmarks/ablations.py).
LEVELS_RAW, LEVELS_FIXED_K, LEVELS_EB, LEVELS_EB_BLOCK = 0, 1, 2, 3


@njit(cache=True)
def level_pooling_k(level_g, level_h, n_present, sum_g, sum_h, sigma2, method=0):
    """``k = sigma^2 / tau^2`` of the levels present in a node; ``inf`` when tau^2 = 0.

    ``method`` (``shrinktree.variance_components.ESTIMATOR_CODES``) 0, the method of moments: one-way
    random-effects ANOVA with unequal masses (:func:`shrinktree.variance_components.anova_between_variance`):
    ``Q = sum_l H_l (r_l - r)^2`` (``r_l = -G_l/H_l``, ``r = -G/H``) has expectation
    ``(m - 1) sigma^2 + tau^2 (H - sum_l H_l^2 / H)``.  1, 2, 3: ML, REML or the posterior mean of the
    levels as one design with ``sigma^2`` known
    (:func:`shrinktree.variance_components.level_between_variance`).
    """
    if sum_h <= 0.0:
        return np.inf
    level_r = np.zeros(n_present)
    for t in range(n_present):
        if level_h[t] > 0.0:
            level_r[t] = -level_g[t] / level_h[t]
    tau2 = level_between_variance(level_h, level_r, n_present, sum_h, -sum_g / sum_h, sigma2, method)
    if tau2 <= 0.0:
        return np.inf
    return sigma2 / tau2


# Up to this many levels an insertion sort orders them faster than a merge sort (both stable: the same order).
INSERTION_SORT_MAX = 32


# From this many levels on, stable_order sorts by radix instead of numpy's merge sort: 0.40x the merge sort's
# time at 1,721 levels (egsingle's children), 0.84x at 160; they cross near 100-128 levels, and below that the
# merge sort wins (python benchmarks/level_sort_speed.py).  The order is the same, so are the models.
RADIX_SORT_MIN = 128


@njit(cache=True)
def _radix_order(key, m, order):
    # Stable LSD radix sort of key[:m] (no NaN): shrinktree.boosting.radix, equal keys in their order as in a stable
    # comparison sort.
    sort_keys_and_order(float_keys(key, m), m, order)


@njit(cache=True)
def stable_order(key, m, order):
    """``order[:m]`` = the positions of ``key[:m]`` in increasing order, equal keys in their order
    (``np.argsort(key[:m], kind="mergesort")``: insertion sort for the few levels of most nodes, a radix sort from
    :data:`RADIX_SORT_MIN` levels, numpy's merge sort between them and whenever a key is NaN)."""
    has_nan = False
    for i in range(m):
        has_nan |= np.isnan(key[i])
    if has_nan or INSERTION_SORT_MAX < m < RADIX_SORT_MIN:  # (numpy sorts NaN last, which comparisons cannot)
        order[:m] = np.argsort(key[:m], kind="mergesort")
        return
    if m >= RADIX_SORT_MIN:
        _radix_order(key, m, order)
        return
    for i in range(m):
        value = key[i]
        j = i
        while j > 0 and key[order[j - 1]] > value:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i


@njit(cache=True)
def find_categorical_split(cat_hist, offsets, feature_mask, sum_g, sum_h, count, l2, min_samples_leaf, min_hessian,
                           sigma2, level_mode, fixed_k, pooled_gain, constrained, lower, upper, level_method,
                           tie_tolerance, node_levels):
    """Best partition of the levels of one categorical feature into two sets, over all categorical features.

    Each level present in the node (the missing code counts as a level when it has rows) gets its
    Newton value ``r_l = -G_l / (H_l + l2)`` pooled toward the node's ``r``:
    ``r~_l = r + (r_l - r) H_l / (H_l + k)``.  ``k`` is 0 (``level_mode`` raw), ``fixed_k``, or
    estimated per node and feature by :func:`level_pooling_k` from ``sigma2[c]`` with the estimator
    ``level_method`` (``tau^2 = 0`` means
    the levels do not differ beyond noise: no split on that feature).  Levels are sorted by ``r~_l``
    and every prefix is a candidate left set.  The gain is the Newton gain of the two sides computed
    from the raw sums (``pooled_gain`` False) or from the pooled level sums ``-r~_l H_l`` (True).
    ``constrained`` (a tree with monotonic constraints on other features): the sides' values are clipped
    into the node's bounds ``[lower, upper]`` and scored at those values, as in :func:`find_node_split`.
    ``node_levels``: the node's present codes (:mod:`~shrinktree.boosting.present_levels`), or no entries
    (``NO_PRESENT``) to find them by a scan of every code's count.

    Returns
    -------
    (gain, feature, missing_left, left_g, left_h, left_count, levels_scanned, left_levels)
        ``levels_scanned`` is the largest number of levels scanned by a feature with an admissible
        partition (for the calibrated null); ``left_levels`` the codes sent left (may include the
        missing code ``L``).
    """
    n_cat = offsets.shape[0] - 1
    max_codes = 0
    for c in range(n_cat):
        max_codes = max(max_codes, offsets[c + 1] - offsets[c])
    # Scratch rows of two allocations (one per node searched: an allocation each costs about as much as
    # scanning a small node's levels).
    int_scratch = np.empty((3, max_codes), dtype=np.int64)
    float_scratch = np.empty((5, max_codes), dtype=np.float64)
    present, order, block_codes = int_scratch[0], int_scratch[1], int_scratch[2]
    key, gsum, level_g, level_h, level_c = (float_scratch[0], float_scratch[1], float_scratch[2], float_scratch[3],
                                            float_scratch[4])
    best_gain = -np.inf
    best_feature = -1
    best_missing_left = np.uint8(0)
    best_gl = 0.0
    best_hl = 0.0
    best_cl = 0.0
    best_left = np.empty(0, dtype=np.int64)
    levels_scanned = 0
    node_raw = -sum_g / (sum_h + l2) if sum_h + l2 > 0.0 else 0.0
    has_lists = node_levels.shape[0] > 0
    for c in range(n_cat):
        if not feature_mask[c]:
            continue
        base = offsets[c]
        n_codes = offsets[c + 1] - base
        missing_code = n_codes - 1
        m = np.int64(0)  # not 0: a counter starting as a literal compiles a literal specialization of callees
        if has_lists:
            m = node_levels[offsets[n_cat] + c]
            for t in range(m):
                present[t] = node_levels[base + t]
        else:
            for b in range(n_codes):
                # Branch-free: every code is written at the next slot, which only the levels with rows keep.
                present[m] = b
                m += cat_hist[base + b, 2] > 0.0
        for t in range(m):
            b = base + present[t]
            level_g[t] = cat_hist[b, 0]
            level_h[t] = cat_hist[b, 1]
            level_c[t] = cat_hist[b, 2]
        if m < 2:
            continue
        n_block = 0
        if level_mode == LEVELS_EB or level_mode == LEVELS_EB_BLOCK:
            k = level_pooling_k(level_g, level_h, m, sum_g, sum_h, sigma2[c], level_method)
            if not np.isfinite(k):
                continue
            if level_mode == LEVELS_EB_BLOCK:
                # Levels lighter than k are pooled more than halfway to the node: one block (code -1) of them.
                kept = 0
                block_g = block_h = block_c = 0.0
                for t in range(m):
                    if level_h[t] < k:
                        block_codes[n_block] = present[t]
                        n_block += 1
                        block_g += level_g[t]
                        block_h += level_h[t]
                        block_c += level_c[t]
                    else:
                        present[kept] = present[t]
                        level_g[kept] = level_g[t]
                        level_h[kept] = level_h[t]
                        level_c[kept] = level_c[t]
                        kept += 1
                if n_block > 0:
                    present[kept] = -1
                    level_g[kept] = block_g
                    level_h[kept] = block_h
                    level_c[kept] = block_c
                    kept += 1
                m = kept
                if m < 2:
                    continue
        elif level_mode == LEVELS_FIXED_K:
            k = fixed_k
        else:
            k = 0.0
        total_gsum = 0.0
        for t in range(m):
            h = level_h[t]
            raw = -level_g[t] / (h + l2) if h + l2 > 0.0 else 0.0
            f = h / (h + k) if h + k > 0.0 else 1.0
            key[t] = node_raw + f * (raw - node_raw)
            gsum[t] = -key[t] * h if pooled_gain else level_g[t]
            total_gsum += gsum[t]
        stable_order(key, m, order)
        if constrained:
            parent_score = _score_at(total_gsum, sum_h, l2, bounded_value(total_gsum, sum_h, l2, lower, upper))
        else:
            parent_score = total_gsum * total_gsum / (sum_h + l2)
        gl = 0.0
        hl = 0.0
        cl = 0.0
        sl = 0.0
        admissible = 0
        feature_best = -np.inf
        feature_j = -1
        feature_gl = feature_hl = feature_cl = 0.0
        for j in range(m - 1):
            t = order[j]
            gl += level_g[t]
            hl += level_h[t]
            cl += level_c[t]
            sl += gsum[t]
            hr = sum_h - hl
            cr = count - cl
            if _too_small(cl, cr, hl, hr, min_samples_leaf, min_hessian):
                continue
            admissible += 1
            sr = total_gsum - sl
            if constrained:
                gain = _bounded_gain(sl, hl, sr, hr, l2, lower, upper, 0, parent_score)
            else:
                gain = sl * sl / (hl + l2) + sr * sr / (hr + l2) - parent_score
            if gain > feature_best:
                feature_best = gain
                feature_j = j
                feature_gl, feature_hl, feature_cl = gl, hl, cl
        if admissible > 0:
            levels_scanned = max(levels_scanned, m)
        if feature_j >= 0 and beats(feature_best, best_gain, sum_g, sum_h, l2, tie_tolerance):
            best_gain = feature_best
            best_feature = c
            best_gl, best_hl, best_cl = feature_gl, feature_hl, feature_cl
            n_left = feature_j + 1
            for j in range(feature_j + 1):
                if present[order[j]] < 0:
                    n_left += n_block - 1
            best_left = np.empty(n_left, dtype=np.int64)
            missing_goes_left = False
            w = 0
            for j in range(feature_j + 1):
                code = present[order[j]]
                if code < 0:
                    for t in range(n_block):
                        best_left[w] = block_codes[t]
                        w += 1
                else:
                    best_left[w] = code
                    w += 1
            for j in range(n_left):
                if best_left[j] == missing_code:
                    missing_goes_left = True
            has_missing_rows = False
            for t in range(m):
                if present[t] == missing_code:
                    has_missing_rows = True
            for t in range(n_block):
                if block_codes[t] == missing_code:
                    has_missing_rows = True
            if not has_missing_rows:
                # A level without rows here is pooled all the way to the node: it sorts where ``r`` does.
                cut = 0.5 * (key[order[feature_j]] + key[order[feature_j + 1]])
                missing_goes_left = node_raw <= cut
            best_missing_left = np.uint8(1) if missing_goes_left else np.uint8(0)
    return best_gain, best_feature, best_missing_left, best_gl, best_hl, best_cl, levels_scanned, best_left


@njit(cache=True)
def categorical_bitset(level_counts, left_levels, missing_left):
    """The split's bitset over all ``L`` levels (bit set = level goes left).

    ``level_counts`` has ``L + 1`` entries (the last is the missing code).  Levels without rows in the
    node follow the missing side, like levels unseen at fit time.  The bitset always covers all ``L``
    levels, so a code never reads another node's bits.
    """
    n_levels = level_counts.shape[0] - 1
    n_words = (n_levels + 31) >> 5
    words = np.zeros(max(n_words, 1), dtype=np.uint32)
    if missing_left:
        for b in range(n_levels):
            if level_counts[b] <= 0.0:
                words[b >> 5] |= np.uint32(1) << np.uint32(b & 31)
    for j in range(left_levels.shape[0]):
        b = left_levels[j]
        if b < n_levels:
            words[b >> 5] |= np.uint32(1) << np.uint32(b & 31)
    return words


@njit(cache=True)
def present_set(level_counts):
    """The split's *present set*: which levels, and whether NaN, the node's growing rows had.

    ``level_counts`` has ``L + 1`` entries (the last is the missing code), as for :func:`categorical_bitset`;
    a level counts as present when its count is positive (the test that sends the others to the missing side
    there).  Bit 0 is NaN, bit ``c + 1`` level ``c``; the set has one word more than the split's bitset (see
    :func:`shrinktree._tree.categorical_route`, which reads it).  A row whose level (or NaN) is absent blends
    at the node.
    """
    n_levels = level_counts.shape[0] - 1
    words = np.zeros(max((n_levels + 31) >> 5, 1) + 1, dtype=np.uint32)
    if level_counts[n_levels] > 0.0:
        words[0] = np.uint32(1)
    for b in range(n_levels):
        if level_counts[b] > 0.0:
            bit = b + 1
            words[bit >> 5] |= np.uint32(1) << np.uint32(bit & 31)
    return words
