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
from numba import njit


@njit(cache=True, inline="always")
def _score(g, h, l2):
    return g * g / (h + l2)


@njit(cache=True, inline="always")
def _pooled_score(g, h, l2, f, parent_value, parent_raw):
    # Loss reduction -(G v + H v^2 / 2) at the pooled value v = v_p + f (raw - raw_p).
    raw = -g / (h + l2)
    v = parent_value + f * (raw - parent_raw)
    return -2.0 * (g * v + 0.5 * (h + l2) * v * v)


@njit(cache=True)
def find_node_split(hist, n_bins_non_missing, has_missing, feature_mask, missing_bin,
                    sum_g, sum_h, count, l2, min_samples_leaf, min_hessian, effective_tests,
                    pooling_k, parent_value, parent_raw):
    """Best split of one node.

    ``pooling_k < 0`` scores candidates by the raw Newton gain; ``pooling_k >= 0`` scores them
    by the loss reduction of the children's pooled values ``f = H / (H + k)`` (the
    ``path_smooth``-like variant, used only to measure that choice).

    Returns
    -------
    (gain, feature, bin, missing_left, left_g, left_h, left_count, n_effective_tests)
    """
    n_features = hist.shape[0]
    best_gain = np.full(n_features, -np.inf)
    best_bin = np.zeros(n_features, dtype=np.int64)
    best_missing_left = np.zeros(n_features, dtype=np.uint8)
    best_stats = np.zeros((n_features, 3))
    n_admissible = np.zeros(n_features, dtype=np.int64)
    if pooling_k >= 0.0:
        parent_score = -2.0 * (sum_g * parent_value + 0.5 * (sum_h + l2) * parent_value * parent_value)
    else:
        parent_score = _score(sum_g, sum_h, l2)
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
                gr = sum_g - gl
                hr = sum_h - hl
                cr = count - cl
                if cl < min_samples_leaf or cr < min_samples_leaf:
                    continue
                if hl < min_hessian or hr < min_hessian:
                    continue
                if direction == 0 and h[b, 2] > 0:
                    # Only thresholds after a non-empty bin give a new partition of the rows.
                    admissible += 1
                if pooling_k >= 0.0:
                    fl = hl / (hl + pooling_k) if hl + pooling_k > 0 else 1.0
                    fr = hr / (hr + pooling_k) if hr + pooling_k > 0 else 1.0
                    gain = (_pooled_score(gl, hl, l2, fl, parent_value, parent_raw)
                            + _pooled_score(gr, hr, l2, fr, parent_value, parent_raw) - parent_score)
                else:
                    gain = _score(gl, hl, l2) + _score(gr, hr, l2) - parent_score
                if gain > best_gain[f]:
                    best_gain[f] = gain
                    best_bin[f] = b
                    best_missing_left[f] = direction
                    best_stats[f, 0] = gl
                    best_stats[f, 1] = hl
                    best_stats[f, 2] = cl
        n_admissible[f] = admissible
    best_feature = -1
    top = -np.inf
    n_tests = 0.0
    for f in range(n_features):
        if n_admissible[f] > 0:
            idx = min(n_admissible[f], effective_tests.shape[0] - 1)
            n_tests += effective_tests[idx]
        if best_gain[f] > top:
            top = best_gain[f]
            best_feature = f
    if best_feature < 0:
        return (-np.inf, -1, 0, np.uint8(0), 0.0, 0.0, 0.0, n_tests)
    return (top, best_feature, best_bin[best_feature], best_missing_left[best_feature],
            best_stats[best_feature, 0], best_stats[best_feature, 1], best_stats[best_feature, 2], n_tests)
