"""Time the numeric split scan (``splitting._scan_feature``) alone, by node size, with three rewrites kept out.

On small data the scan is about a third of a fit (docs/speed.md, "A third machine").  Histograms of random
subsets of the 2,000 Friedman #1 rows (255 bins, unit hessians, the rows' centred targets as gradients) are
scanned feature by feature 2,000 times each; the best of 5 runs is printed in ns per feature for:

- ``current``: ``_scan_feature`` as the fit calls it;
- ``prefix pass``: its first pass only (the prefix sums over the bins), and ``prefix + gains`` its first two;
- ``non-empty list``: the non-empty bins listed first, the prefix sums over those only;
- ``every bin``: prefix sums stored at every bin, the emptiness test moved to the comparison pass;
- ``bitmap scan``: the prefix pass over only the bins a bitmap of the node's rows marks (one bit per bin, 4
  words of 64; a clear bin holds exact zeros), and ``bitmap pass`` the cost of building that bitmap from the
  rows.  Inside a fit (the bitmap built for each smaller child of at most 127 rows, inherited by the larger
  child, a separate copy of the scan for the features that keep one) it gave no measurable gain in
  ``benchmarks/grow_speed.py``: the nodes below ``2 x min_samples_leaf`` rows, where it pays most, are not
  searched (docs/speed.md).

All three rewrites give the same result as ``current`` (checked), so any could replace it bit for bit.  Also
printed: one dependent float64 add, the bound of a prefix sum on this CPU.

    python benchmarks/scan_speed.py
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros
from sklearn.datasets import make_friedman1

from shrinktree.boosting.binning import BinMapper
from shrinktree.boosting.histogram import _build_histogram_serial
from shrinktree.boosting.splitting import _scan_feature, _score

NODE_ROWS = (1000, 500, 300, 150, 80, 50)
CALLS = 2000


@njit(error_model="numpy")
def _scan_listed(h, n_bins, missing_bin, n_directions, sum_g, sum_h, count, l2, min_samples_leaf, min_hessian,
                 parent_score, prefix, gains, position, nonempty):
    # The non-empty-bin list rewrite (same result as _scan_feature).
    m = 0
    for b in range(n_bins):
        nonempty[m] = b
        m += (b == 0) | (h[b, 2] != 0.0) | (h[b, 0] != 0.0) | (h[b, 1] != 0.0)
    best_gain = -np.inf
    best_bin = 0
    best_direction = 0
    best_g = best_h = best_c = 0.0
    n_admissible = 0
    for direction in range(n_directions):
        gl = h[missing_bin, 0] if direction == 1 else 0.0
        hl = h[missing_bin, 1] if direction == 1 else 0.0
        cl = h[missing_bin, 2] if direction == 1 else 0.0
        n = 0
        for j in range(m):
            b = nonempty[j]
            gl += h[b, 0]
            hl += h[b, 1]
            cl += h[b, 2]
            if count - cl < min_samples_leaf:
                break
            prefix[0, n] = gl
            prefix[1, n] = hl
            prefix[2, n] = cl
            position[n] = b
            n += cl >= min_samples_leaf
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



@njit(error_model="numpy")
def _scan_every_bin(h, n_bins, missing_bin, n_directions, sum_g, sum_h, count, l2, min_samples_leaf, min_hessian,
                    parent_score, prefix, gains, position):
    # The every-bin rewrite (same result as _scan_feature).
    best_gain = -np.inf
    best_bin = 0
    best_direction = 0
    best_g = best_h = best_c = 0.0
    n_admissible = 0
    for direction in range(n_directions):
        gl = h[missing_bin, 0] if direction == 1 else 0.0
        hl = h[missing_bin, 1] if direction == 1 else 0.0
        cl = h[missing_bin, 2] if direction == 1 else 0.0
        end = n_bins
        for b in range(n_bins):
            gl += h[b, 0]
            hl += h[b, 1]
            cl += h[b, 2]
            prefix[0, b] = gl
            prefix[1, b] = hl
            prefix[2, b] = cl
            if count - cl < min_samples_leaf:
                end = b
                break
        for b in range(end):
            gr = sum_g - prefix[0, b]
            gains[b] = (prefix[0, b] * prefix[0, b] / (prefix[1, b] + l2) + gr * gr / ((sum_h - prefix[1, b]) + l2)
                        - parent_score)
        direction_best = -1
        direction_gain = best_gain
        for b in range(end):
            not_empty = (b == 0) | (h[b, 2] != 0.0) | (h[b, 0] != 0.0) | (h[b, 1] != 0.0)
            if not not_empty:
                continue
            if prefix[2, b] < min_samples_leaf:
                continue
            hl = prefix[1, b]
            hr = sum_h - hl
            if hl < min_hessian or hr < min_hessian:
                continue
            if direction == 0 and h[b, 2] > 0:
                n_admissible += 1
            gain = gains[b]
            if not (hl + l2 > 0.0 and hr + l2 > 0.0):
                gain = _score(prefix[0, b], hl, l2) + _score(sum_g - prefix[0, b], hr, l2) - parent_score
            if gain > direction_gain:
                direction_gain = gain
                direction_best = b
        if direction_best >= 0:
            best_gain, best_bin, best_direction = direction_gain, direction_best, direction
            best_g, best_h, best_c = prefix[0, direction_best], prefix[1, direction_best], prefix[2, direction_best]
    return best_gain, best_bin, np.uint8(best_direction), n_admissible, best_g, best_h, best_c


@njit(error_model="numpy")
def _scan_passes(h, n_bins, missing_bin, n_directions, sum_g, sum_h, count, l2, min_samples_leaf, min_hessian,
                 parent_score, prefix, gains, position, stage):
    # _scan_feature's first pass (stage 1) or first two passes (stage 2).
    best_gain = -np.inf
    n_admissible = 0
    for _ in range(n_directions):
        gl = 0.0
        hl = 0.0
        cl = 0.0
        n = 0
        for b in range(n_bins):
            gl += h[b, 0]
            hl += h[b, 1]
            cl += h[b, 2]
            if count - cl < min_samples_leaf:
                break
            prefix[0, n] = gl
            prefix[1, n] = hl
            prefix[2, n] = cl
            position[n] = b
            not_empty = (b == 0) | (h[b, 2] != 0.0) | (h[b, 0] != 0.0) | (h[b, 1] != 0.0)
            n += not_empty & (cl >= min_samples_leaf)
        if stage == 1:
            return float(n), 0, np.uint8(0), 0, 0.0, 0.0, 0.0
        for k in range(n):
            gr = sum_g - prefix[0, k]
            gains[k] = (prefix[0, k] * prefix[0, k] / (prefix[1, k] + l2) + gr * gr / ((sum_h - prefix[1, k]) + l2)
                        - parent_score)
        if stage == 2:
            return gains[0], n, np.uint8(0), 0, 0.0, 0.0, 0.0
    return best_gain, 0, np.uint8(0), n_admissible, 0.0, 0.0, 0.0



# The bitmap rewrite's layout: per feature, column 0 says whether a bitmap is kept, then 4 words of 64 bins.
OCCUPIED_WORDS = 4
OCCUPIED_BINS_PER_ROW = 2


@njit(error_model="numpy")
def _scan_bitmap(h, n_bins, missing_bin, n_directions, sum_g, sum_h, count, l2, min_samples_leaf,
                 min_hessian, parent_score, prefix, gains, position, occupied, f):
    # The bitmap rewrite: the prefix pass over bin 0 and the bins set in row f of ``occupied`` only (same
    # result as _scan_feature: a bin whose bit is clear holds exact zeros and ends no left side).
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
        # _scan_feature's prefix pass over bin 0, then the set bits of the bitmap in order.
        b = 0
        done = n_bins <= 0
        w = 0
        bits = occupied[f, 1] & ~np.uint64(1)
        while not done:
            gl += h[b, 0]
            hl += h[b, 1]
            cl += h[b, 2]
            if count - cl < min_samples_leaf:
                break
            prefix[0, n] = gl
            prefix[1, n] = hl
            prefix[2, n] = cl
            position[n] = b
            not_empty = (b == 0) | (h[b, 2] != 0.0) | (h[b, 0] != 0.0) | (h[b, 1] != 0.0)
            n += not_empty & (cl >= min_samples_leaf)
            while bits == 0 and w < OCCUPIED_WORDS - 1:
                w += 1
                bits = occupied[f, 1 + w]
            b = 64 * w + np.int64(trailing_zeros(bits))
            bits &= bits - np.uint64(1)
            done = b >= n_bins  # also when no bit is left (trailing_zeros(0) is 64)
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




@njit
def fill_occupied_bins(binned, sample_indices, start, stop, active_features, n_bins_non_missing, occupied):
    # The bitmap of the rows sample_indices[start:stop] for the features with at least OCCUPIED_BINS_PER_ROW
    # bins per row (column 0: 1 where a feature keeps one); False when none does.
    n_rows = stop - start
    n_kept = 0
    for k in range(active_features.shape[0]):
        n_kept += n_bins_non_missing[active_features[k]] >= OCCUPIED_BINS_PER_ROW * n_rows
    if n_kept == 0:
        return False
    occupied[:, 0] = 0
    one = np.uint64(1)
    for k in range(active_features.shape[0]):
        f = active_features[k]
        if n_bins_non_missing[f] < OCCUPIED_BINS_PER_ROW * n_rows:
            continue
        for w in range(1, 1 + OCCUPIED_WORDS):
            occupied[f, w] = 0
        occupied[f, 0] = one
        column = binned[f]
        for i in range(start, stop):
            b = np.int64(column[sample_indices[i]])
            occupied[f, 1 + (b >> 6)] |= one << np.uint64(b & 63)
    return True


@njit
def _run(variant, hist, n_bins, missing_bin, calls, sum_g, sum_h, count, occupied):
    prefix = np.empty((3, hist.shape[1]))
    gains = np.empty(hist.shape[1])
    position = np.empty(hist.shape[1], np.int64)
    nonempty = np.empty(hist.shape[1], np.int64)
    parent_score = sum_g * sum_g / sum_h
    total = 0.0
    for _ in range(calls):
        for f in range(hist.shape[0]):
            args = (hist[f], n_bins[f], missing_bin, 1, sum_g, sum_h, count, 0.0, 20.0, 1e-3, parent_score)
            if variant == 0:
                out = _scan_feature(*args, prefix, gains, position)
            elif variant == 5:
                out = _scan_bitmap(*args, prefix, gains, position, occupied, f)
            elif variant == 1:
                out = _scan_listed(*args, prefix, gains, position, nonempty)
            elif variant == 2:
                out = _scan_every_bin(*args, prefix, gains, position)
            else:
                out = _scan_passes(*args, prefix, gains, position, variant - 2)
            total += out[0] + out[1] + out[3] + out[4] if variant < 3 or variant == 5 else out[0]
    return total


@njit
def _dependent_adds(values, calls):
    total = 0.0
    for _ in range(calls):
        for i in range(values.shape[0]):
            total += values[i]
    return total


@njit
def _bitmaps(binned, rows, features, n_bins, calls):
    occupied = np.empty((binned.shape[0], 5), dtype=np.uint64)
    total = 0
    for _ in range(calls):
        total += fill_occupied_bins(binned, rows, 0, rows.shape[0], features, n_bins, occupied)
    return total


VARIANTS = {"current": 0, "non-empty list": 1, "every bin": 2, "prefix pass": 3, "prefix + gains": 4,
            "bitmap scan": 5}


def main() -> None:
    X, y = make_friedman1(n_samples=2_000, n_features=10, noise=1.0, random_state=0)
    mapper = BinMapper(255, random_state=0).fit(X)
    binned = mapper.transform(X)
    gradients = y - y.mean()
    rng = np.random.default_rng(0)
    values = rng.random(256)
    _dependent_adds(values, 1)
    start = time.perf_counter()
    _dependent_adds(values, 100_000)
    print(f"one dependent float64 add: {(time.perf_counter() - start) / 25_600_000 * 1e9:.2f} ns")
    features = np.arange(X.shape[1], dtype=np.int64)
    print("node rows | " + " | ".join(VARIANTS) + " | bitmap pass   (ns per feature, best of 5)")
    for n_rows in NODE_ROWS:
        rows = np.sort(rng.choice(len(y), n_rows, replace=False)).astype(np.int32)
        hist = _build_histogram_serial(binned, rows, gradients[rows], np.ones(n_rows), np.empty(0),
                                       np.arange(X.shape[1], dtype=np.int64), mapper.missing_bin_ + 1, 1.0)
        sums = hist[0, :, 0].sum(), hist[0, :, 1].sum(), hist[0, :, 2].sum()
        # The rows' bitmap of every feature (here even where the fit would keep none: more rows than bins / 2).
        occupied = np.empty((X.shape[1], 1 + OCCUPIED_WORDS), dtype=np.uint64)
        fill_occupied_bins(binned, rows, 0, n_rows, features, np.full(X.shape[1], 2 * n_rows), occupied)
        scan = (hist, mapper.n_bins_non_missing_, mapper.missing_bin_)
        reference = _run(0, *scan, 1, *sums, occupied)
        for variant in (1, 2, 5):
            assert _run(variant, *scan, 1, *sums, occupied) == reference
        cells = []
        for variant in VARIANTS.values():
            _run(variant, *scan, 1, *sums, occupied)
            best = np.inf
            for _ in range(5):
                start = time.perf_counter()
                _run(variant, *scan, CALLS, *sums, occupied)
                best = min(best, time.perf_counter() - start)
            cells.append(f"{best / CALLS / X.shape[1] * 1e9:.0f}")
        all_bins = np.full(X.shape[1], 2 * n_rows)
        _bitmaps(binned, rows, features, all_bins, 1)
        best = np.inf
        for _ in range(5):
            start = time.perf_counter()
            _bitmaps(binned, rows, features, all_bins, CALLS)
            best = min(best, time.perf_counter() - start)
        cells.append(f"{best / CALLS / X.shape[1] * 1e9:.0f}")
        print(f"{n_rows} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
