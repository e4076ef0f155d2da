"""Gradient histograms: per feature and bin, the sums of gradients, hessians and row counts (weights, when weighted).

Histograms have shape ``(n_features, n_bins, 3)`` and float64 sums.  Only the smaller child
of a split is built from its rows; its sibling is the parent minus it (histogram subtraction).
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from .._numba import njit, prange
from .paired_add import add_two

GRAD, HESS, COUNT = 0, 1, 2
# ``ordered_weights`` of an unweighted fit: the count channel counts rows (sums of 1.0, exact integers).  A typed
# stand-in (the same array type as real weights), so that weighted and unweighted fits share every kernel.
NO_WEIGHTS = np.zeros(0, dtype=np.float64)


@njit(cache=True)
def _gather_serial(values, sample_indices):
    out = np.empty(sample_indices.shape[0], dtype=np.float64)
    for i in range(sample_indices.shape[0]):
        out[i] = values[sample_indices[i]]
    return out


@njit(parallel=True, cache=True)
def _gather_parallel(values, sample_indices):
    out = np.empty(sample_indices.shape[0], dtype=np.float64)
    for i in prange(sample_indices.shape[0]):
        out[i] = values[sample_indices[i]]
    return out


def gather(values, sample_indices):
    """``values[sample_indices]``, contiguous, so that histogram loops read sequentially."""
    if len(sample_indices) >= PARALLEL_GATHER_MIN_ROWS:
        return _gather_parallel(values, sample_indices)
    return _gather_serial(values, sample_indices)


# Below this many rows a node's histogram is built on one thread: starting the thread pool
# costs more than it saves.  (Whole fits on fewer than 20,000 rows run on one thread anyway,
# see shrinktree._threads.)
PARALLEL_MIN_ROWS = 4_096
PARALLEL_GATHER_MIN_ROWS = 65_536
# A parallel threshold no node reaches: what a fit on one thread passes, so that the serial kernels (which sum
# more features per pass) build every histogram instead of a parallel region of one thread.
SERIAL_ONLY = np.iinfo(np.int64).max


def _row_of(sample_indices, i):
    """Row of the ``i``-th gradient: ``sample_indices[i]``, or ``i`` itself when ``sample_indices`` is None."""
    return i if sample_indices is None else sample_indices[i]


@overload(_row_of, inline="always")
def _row_of_overload(sample_indices, i):
    # Resolved when the kernel compiles: the all-rows and packed-block specializations read no index array.
    if isinstance(sample_indices, types.NoneType):
        return lambda sample_indices, i: i
    return lambda sample_indices, i: sample_indices[i]


@njit(cache=True, inline="always")
def _accumulate_pair(column_a, column_b, sample_indices, ordered_gradients, ordered_hessians, ordered_weights, hist_a,
                     hist_b, constant_hessian):
    # Two features per pass over the rows: the row index, gradient and hessian are loaded once for
    # both, and the two independent read-modify-write chains overlap (~20% faster than one feature).
    # The gradient and hessian channels are added as one pair (paired_add.add_two: the same sums).
    if constant_hessian > 0.0:
        # Every row has the same hessian (unweighted squared error): sum counts only, then scale.  The counts
        # are summed in the hessian channel, beside the gradients (one paired add), then moved to theirs.
        # Counts are sums of 1.0 (exact integers), so the result equals summing the hessians.
        for i in range(ordered_gradients.shape[0]):
            row = _row_of(sample_indices, i)
            g = ordered_gradients[i]
            add_two(hist_a, 3 * np.intp(column_a[row]), g, 1.0)
            add_two(hist_b, 3 * np.intp(column_b[row]), g, 1.0)
        _counts_to_count_channel(hist_a, constant_hessian)
        _counts_to_count_channel(hist_b, constant_hessian)
    elif ordered_weights.shape[0] == 0:
        for i in range(ordered_gradients.shape[0]):
            row = _row_of(sample_indices, i)
            g = ordered_gradients[i]
            h = ordered_hessians[i]
            b = column_a[row]
            add_two(hist_a, 3 * np.intp(b), g, h)
            hist_a[b, 2] += 1.0
            b = column_b[row]
            add_two(hist_b, 3 * np.intp(b), g, h)
            hist_b[b, 2] += 1.0
    else:
        # A weighted fit: the count channel sums the weights (what min_samples_leaf counts), in the same pass.
        for i in range(ordered_gradients.shape[0]):
            row = _row_of(sample_indices, i)
            g = ordered_gradients[i]
            h = ordered_hessians[i]
            w = ordered_weights[i]
            b = column_a[row]
            add_two(hist_a, 3 * np.intp(b), g, h)
            hist_a[b, 2] += w
            b = column_b[row]
            add_two(hist_b, 3 * np.intp(b), g, h)
            hist_b[b, 2] += w


@njit(cache=True, inline="always")
def _accumulate_quad(column_a, column_b, column_c, column_d, sample_indices, ordered_gradients, hist_a, hist_b, hist_c,
                     hist_d, constant_hessian):
    # Four features per pass, rows counted (a constant hessian, as in _accumulate_pair): when consecutive rows
    # share a bin (rows sorted by a grouping, few-valued columns) each feature's adds form a chain through
    # memory, every add waiting for the previous store; four independent chains keep twice as many adds in
    # flight as two (sorted bins: about 1.9x faster per update, random bins the same).  With hessians and
    # counts summed apart (two adds per row and feature) four features a pass were slower than two (digits,
    # 10 classes: 1.15x the node loop's time), so those stay in pairs.
    for i in range(ordered_gradients.shape[0]):
        row = _row_of(sample_indices, i)
        g = ordered_gradients[i]
        add_two(hist_a, 3 * np.intp(column_a[row]), g, 1.0)
        add_two(hist_b, 3 * np.intp(column_b[row]), g, 1.0)
        add_two(hist_c, 3 * np.intp(column_c[row]), g, 1.0)
        add_two(hist_d, 3 * np.intp(column_d[row]), g, 1.0)
    _counts_to_count_channel(hist_a, constant_hessian)
    _counts_to_count_channel(hist_b, constant_hessian)
    _counts_to_count_channel(hist_c, constant_hessian)
    _counts_to_count_channel(hist_d, constant_hessian)


@njit(cache=True, inline="always")
def _counts_to_count_channel(h, constant_hessian):
    # The rows counted in the hessian channel of a fresh (zeroed) histogram go to the count channel, and the
    # hessian sums become the counts times the constant hessian.
    for b in range(h.shape[0]):
        h[b, 2] = h[b, 1]
        h[b, 1] = h[b, 2] * constant_hessian


@njit(cache=True, inline="always")
def _accumulate_feature(column, sample_indices, ordered_gradients, ordered_hessians, ordered_weights, h,
                        constant_hessian):
    if constant_hessian > 0.0:
        for i in range(ordered_gradients.shape[0]):
            add_two(h, 3 * np.intp(column[_row_of(sample_indices, i)]), ordered_gradients[i], 1.0)
        _counts_to_count_channel(h, constant_hessian)
    elif ordered_weights.shape[0] == 0:
        for i in range(ordered_gradients.shape[0]):
            b = column[_row_of(sample_indices, i)]
            add_two(h, 3 * np.intp(b), ordered_gradients[i], ordered_hessians[i])
            h[b, 2] += 1.0
    else:
        for i in range(ordered_gradients.shape[0]):
            b = column[_row_of(sample_indices, i)]
            add_two(h, 3 * np.intp(b), ordered_gradients[i], ordered_hessians[i])
            h[b, 2] += ordered_weights[i]


# Features summed per pass over the rows: four on one thread (more independent chains of adds, see
# _accumulate_quad), two in the parallel kernels, whose groups are shared out among the threads (28 features in
# pairs split evenly over two threads, in fours not).
SERIAL_GROUP = 4
PARALLEL_GROUP = 2


# Called, not inlined: each layout of bins and rows compiles it once for the serial and the parallel kernels.
@njit(cache=True)
def _accumulate_group(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights, active_features,
                      group, width, hist, constant_hessian):
    # Group ``group`` is the active features ``width * group`` to ``width * group + width - 1`` (the last group
    # may have fewer); ``width`` is 2 or 4.  Each feature's sums add the rows in order whatever the grouping.
    first = width * group
    k = min(width, active_features.shape[0] - first)
    if k == 4 and constant_hessian > 0.0:
        fa, fb, fc, fd = (active_features[first], active_features[first + 1], active_features[first + 2],
                          active_features[first + 3])
        _accumulate_quad(binned[fa], binned[fb], binned[fc], binned[fd], sample_indices, ordered_gradients, hist[fa],
                         hist[fb], hist[fc], hist[fd], constant_hessian)
        return
    while k >= 2:
        fa, fb = active_features[first], active_features[first + 1]
        _accumulate_pair(binned[fa], binned[fb], sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                         hist[fa], hist[fb], constant_hessian)
        first += 2
        k -= 2
    if k == 1:
        fa = active_features[first]
        _accumulate_feature(binned[fa], sample_indices, ordered_gradients, ordered_hessians, ordered_weights, hist[fa],
                            constant_hessian)


@njit(parallel=True, cache=True)
def _build_histogram_parallel(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                              active_features, n_bins, constant_hessian):
    hist = np.zeros((binned.shape[0], n_bins, 3), dtype=np.float64)
    width = np.int64(PARALLEL_GROUP)  # a runtime value: one specialization of _accumulate_group for both
    for group in prange((active_features.shape[0] + width - 1) // width):
        # prange's index is unsigned: as int64, the serial kernel's specialization of _accumulate_group serves.
        _accumulate_group(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                          active_features, np.int64(group), width, hist, constant_hessian)
    return hist


@njit(cache=True)
def _build_histogram_serial(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                            active_features, n_bins, constant_hessian):
    hist = np.zeros((binned.shape[0], n_bins, 3), dtype=np.float64)
    width = np.int64(SERIAL_GROUP)
    for group in range((active_features.shape[0] + width - 1) // width):
        _accumulate_group(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                          active_features, group, width, hist, constant_hessian)
    return hist


@njit(cache=True)
def node_histogram(binned, packed_rows, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                   active_features, n_bins, constant_hessian, parallel_min_rows, packed_max_share_inverse):
    """Histogram of the rows ``sample_indices`` (with gradients, hessians and weights already gathered in that order).

    ``ordered_weights`` with no entries (:data:`NO_WEIGHTS`) counts rows (sums of 1.0); otherwise the count
    channel sums the weights.  The kernel is chosen by the node's size: with ``packed_rows`` (from
    :func:`pack_rows`; no rows for none) a node holding at most ``1 / packed_max_share_inverse`` of the rows
    gathers its rows' bins first (see the packed section below), and nodes of ``parallel_min_rows`` rows or more
    are built in parallel (a fit on one thread passes :data:`SERIAL_ONLY`: the serial kernels sum more features
    per pass).  Every kernel adds each (feature, bin) sum over the rows in the same order, so the
    histogram is the same bit for bit.
    """
    n_rows = sample_indices.shape[0]
    if packed_rows.shape[0] > 0 and n_rows * packed_max_share_inverse <= binned.shape[1]:
        if n_rows >= parallel_min_rows:
            return _build_packed_parallel(packed_rows, binned.shape[0], sample_indices, ordered_gradients,
                                          ordered_hessians, ordered_weights, active_features, n_bins,
                                          constant_hessian)
        return _build_packed_serial(packed_rows, binned.shape[0], sample_indices, ordered_gradients, ordered_hessians,
                                    ordered_weights, active_features, n_bins, constant_hessian)
    if n_rows >= parallel_min_rows:
        return _build_histogram_parallel(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                                         active_features, n_bins, constant_hessian)
    return _build_histogram_serial(binned, sample_indices, ordered_gradients, ordered_hessians, ordered_weights,
                                   active_features, n_bins, constant_hessian)


def build_histogram(binned, sample_indices, ordered_gradients, ordered_hessians, active_features, n_bins,
                    constant_hessian=0.0, packed_rows=None, ordered_weights=None):
    """:func:`node_histogram` with this module's thresholds; ``packed_rows`` and ``ordered_weights`` optional.

    ``active_features`` (int64) lists the features to build; the others stay zero.
    ``constant_hessian > 0`` declares every row's hessian equal to it; ``ordered_hessians`` is then
    not read.  ``ordered_weights`` (``None``: count rows) makes the count channel sum weights.
    """
    weights = NO_WEIGHTS if ordered_weights is None else ordered_weights
    return node_histogram(binned, NO_PACKED_ROWS if packed_rows is None else packed_rows, sample_indices,
                          ordered_gradients, ordered_hessians, weights, active_features, n_bins,
                          float(constant_hessian), PARALLEL_MIN_ROWS, PACKED_MAX_SHARE_INVERSE)


# --- nodes holding few of the rows: gather the rows' bins, then build --------------------------------
# Feature-major bins serve a node with many rows well: each feature's bins of its rows are a nearly
# sequential stream.  Once a node holds a few percent of the rows or less, its rows sit about a cache line
# apart or more in every feature, and a row costs one cache miss per feature.  Row-major packed bins (each row
# padded to whole 8-byte words) cost one or two misses per row: the node's rows are first copied into a
# contiguous block, then histogrammed from it.  Measured on 1,000,000 x 28 rows (one thread): 0.2-0.5x the
# time for nodes of 1,500-30,000 rows, 0.6-0.9x at 50,000, slower above 100,000.  Each (feature, bin) sum
# still adds the node's rows in the same order, so the histogram is identical.
PACKED_MAX_SHARE_INVERSE = 25
# Below this many cells in ``binned`` the whole matrix stays in cache and packing it buys nothing.
PACKED_MIN_CELLS = 4 * 1024 * 1024
# Bytes of a packed row's words: each row is padded to whole 4-byte words (28 features take 28 bytes; 8-byte
# words would pad them to 32, 4 MB more on 1,000,000 rows, for no measurable speed).
PACKED_WORD = np.uint32
# ``packed_rows`` of a matrix that is not packed (a typed stand-in for None in compiled code).
NO_PACKED_ROWS = np.zeros((0, 1), dtype=PACKED_WORD)


@njit(parallel=True, cache=True)
def _pack_rows_kernel(binned, out):
    n_features, n_rows = binned.shape
    n_chunks = (n_rows + 4095) // 4096
    for chunk in prange(n_chunks):
        for i in range(chunk * 4096, min(n_rows, (chunk + 1) * 4096)):
            for f in range(n_features):
                out[i, f] = binned[f, i]


def pack_rows(binned):
    """Row-major copy of the feature-major ``binned`` as uint32 words (each row zero-padded to 4-byte words).

    ``None`` when ``binned`` is small enough to stay in cache (:data:`PACKED_MIN_CELLS`).
    """
    n_features, n_rows = binned.shape
    if binned.size < PACKED_MIN_CELLS:
        return None
    word_bytes = np.dtype(PACKED_WORD).itemsize
    n_words = (n_features + word_bytes - 1) // word_bytes
    out = np.zeros((n_rows, word_bytes * n_words), dtype=np.uint8)
    _pack_rows_kernel(binned, out)
    return out.view(PACKED_WORD)


@njit(cache=True, inline="always")
def _copy_packed_row(packed_rows, sample_indices, block, i):
    row = sample_indices[i]
    for w in range(packed_rows.shape[1]):
        block[i, w] = packed_rows[row, w]


@njit(parallel=True, cache=True)
def _build_packed_parallel(packed_rows, n_features, sample_indices, ordered_gradients, ordered_hessians,
                           ordered_weights, active_features, n_bins, constant_hessian):
    n = sample_indices.shape[0]
    block = np.empty((n, packed_rows.shape[1]), dtype=PACKED_WORD)
    for i in prange(n):
        _copy_packed_row(packed_rows, sample_indices, block, i)
    # Feature f of the node's i-th row is bins[f, i]: the block seen feature-major, its rows in node order.
    bins = block.view(np.uint8).T
    hist = np.zeros((n_features, n_bins, 3), dtype=np.float64)
    width = np.int64(PARALLEL_GROUP)  # a runtime value: one specialization of _accumulate_group for both
    for group in prange((active_features.shape[0] + width - 1) // width):
        _accumulate_group(bins, None, ordered_gradients, ordered_hessians, ordered_weights, active_features,
                          np.int64(group), width, hist, constant_hessian)
    return hist


@njit(cache=True)
def _build_packed_serial(packed_rows, n_features, sample_indices, ordered_gradients, ordered_hessians,
                         ordered_weights, active_features, n_bins, constant_hessian):
    n = sample_indices.shape[0]
    block = np.empty((n, packed_rows.shape[1]), dtype=PACKED_WORD)
    for i in range(n):
        _copy_packed_row(packed_rows, sample_indices, block, i)
    bins = block.view(np.uint8).T
    hist = np.zeros((n_features, n_bins, 3), dtype=np.float64)
    width = np.int64(SERIAL_GROUP)
    for group in range((active_features.shape[0] + width - 1) // width):
        _accumulate_group(bins, None, ordered_gradients, ordered_hessians, ordered_weights, active_features, group,
                          width, hist, constant_hessian)
    return hist


@njit(cache=True)
def build_histogram_all_rows(binned, gradients, hessians, weights, active_features, n_bins, constant_hessian):
    """Histogram of every row (the root without row subsampling); the arguments as :func:`node_histogram`'s."""
    return _build_histogram_parallel(binned, None, gradients, hessians, weights, active_features, n_bins,
                                     constant_hessian)


# --- the larger child by subtraction ---------------------------------------------------------------------
# A weighted fit's count channel sums weights.  Where the larger child has no rows in a bin, parent minus
# smaller child leaves the rounding of two sums over the same rows (added in other orders) instead of 0, and an
# empty bin must read exactly 0: the missing bin's ``== 0``, the split scans' empty-bin skips and admissible
# counts, the levels present in a node and a bitset's unseen levels all test it.  So a subtracted count at or
# below ``EMPTY_WEIGHT_SHARE`` of the parent node's weight is set to 0.  Why that share: the residual of a bin
# is about 1e-16 x sqrt(rows) of the bin's weight in the histogram it was first summed in, and a chain of larger
# children each holding about half the weight inflates it by 2 per level relative to the node; 1e-10 leaves
# room for that, and a real bin under 1e-10 of its node's weight (weights 10 orders of magnitude apart) counts
# nothing anyway.  Integer weights sum exactly (below 2**53), so an empty bin is already exactly 0 there and
# the snap changes nothing; unweighted fits pass ``count_floor = -inf`` (row counts are exact).
EMPTY_WEIGHT_SHARE = 1e-10


@njit(cache=True)
def subtract_in_place(parent, child, count_floor):
    """``parent -= child`` on flat histograms (channels interleaved by 3); the parent's histogram becomes its
    other child's (no new allocation).  A count at or below ``count_floor`` becomes exactly 0 (``-inf``: none;
    see :data:`EMPTY_WEIGHT_SHARE`)."""
    # One flat loop (it vectorizes), then the snap only where there is one to make: a branch per bin in the
    # subtraction itself costs small fits a tenth of their time.
    for i in range(parent.shape[0]):
        parent[i] -= child[i]
    if count_floor > -np.inf:
        for i in range(2, parent.shape[0], 3):
            if not parent[i] > count_floor:
                parent[i] = 0.0
    return parent


def subtract_histograms(parent, child, count_floor=-np.inf):
    """The sibling's histogram: ``parent - child`` as a new array (:func:`subtract_in_place` on a copy)."""
    out = np.array(parent, dtype=np.float64, order="C")
    subtract_in_place(out.reshape(-1), np.ascontiguousarray(child, dtype=np.float64).reshape(-1), float(count_floor))
    return out


# --- categorical features ------------------------------------------------------------------------
# A categorical feature ``c`` with ``L`` levels owns the rows ``offsets[c] .. offsets[c] + L`` of one flat
# ``(offsets[-1], 3)`` histogram: one row per level and a last one for the missing code ``L``.  Its size
# grows with the number of levels, never with levels x rows.


# Rows times categorical features from which a level histogram is built in parallel (one feature per thread).
PARALLEL_LEVEL_MIN_WORK = 65_536


@njit(cache=True, inline="always")
def _accumulate_levels(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist, c, hessian_mode):
    # ``hessian_mode``: 0 adds each row's hessian and weight; 1 counts rows in both channels (a hessian of 1,
    # none read); 2 counts rows only, in the hessian channel beside the gradients (one paired add), moved to
    # theirs by _counts_to_count_channels afterwards.
    unit_weights = weights.shape[0] == 0
    column = codes[c]
    base = offsets[c]
    n = codes.shape[1] if all_rows else sample_indices.shape[0]
    if hessian_mode == 2:
        for i in range(n):
            b = base + column[i if all_rows else sample_indices[i]]
            add_two(hist, 3 * np.intp(b), gradients[i], 1.0)
    elif hessian_mode == 1:
        for i in range(n):
            b = base + column[i if all_rows else sample_indices[i]]
            add_two(hist, 3 * np.intp(b), gradients[i], 1.0)
            hist[b, 2] += 1.0
    else:
        for i in range(n):
            b = base + column[i if all_rows else sample_indices[i]]
            add_two(hist, 3 * np.intp(b), gradients[i], hessians[i])
            hist[b, 2] += 1.0 if unit_weights else weights[i]


@njit(cache=True, inline="always")
def _accumulate_level_pair(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist, ca, cb,
                           hessian_mode):
    # Two features in one pass over the rows: a feature with few levels adds row after row into the same
    # few sums, each add waiting for the previous one; the other feature's adds fill that wait.
    # ``hessian_mode`` as in _accumulate_levels.
    unit_weights = weights.shape[0] == 0
    column_a, column_b = codes[ca], codes[cb]
    base_a, base_b = offsets[ca], offsets[cb]
    n = codes.shape[1] if all_rows else sample_indices.shape[0]
    if hessian_mode == 2:
        for i in range(n):
            row = i if all_rows else sample_indices[i]
            g = gradients[i]
            add_two(hist, 3 * np.intp(base_a + column_a[row]), g, 1.0)
            add_two(hist, 3 * np.intp(base_b + column_b[row]), g, 1.0)
        return
    for i in range(n):
        row = i if all_rows else sample_indices[i]
        a = base_a + column_a[row]
        b = base_b + column_b[row]
        g = gradients[i]
        h = 1.0 if hessian_mode == 1 else hessians[i]
        w = 1.0 if unit_weights or hessian_mode == 1 else weights[i]
        add_two(hist, 3 * np.intp(a), g, h)
        hist[a, 2] += w
        add_two(hist, 3 * np.intp(b), g, h)
        hist[b, 2] += w


@njit(cache=True, inline="always")
def _counts_to_count_channels(offsets, hist, c, constant_hessian):
    # Feature ``c``'s rows, counted in the hessian channel, go to the count channel, and its hessian sums
    # become the counts times the constant hessian.
    for b in range(offsets[c], offsets[c + 1]):
        hist[b, 2] = hist[b, 1]
        hist[b, 1] = hist[b, 2] * constant_hessian


@njit(cache=True, inline="always")
def _accumulate_level_group(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist, active,
                            group, constant_hessian):
    # Group ``group`` is the active features ``2 group`` and ``2 group + 1`` (the last may be alone).
    # With a constant hessian the rows are counted, and each code's hessian sum is its count times
    # constant_hessian, set after the pass over the rows.  With a hessian of 1 (the booster's) that is also
    # the sum of 1.0 per row (counts are exact integers), so a group with more codes than rows adds 1.0 per
    # row instead of setting every code.  (Four features a pass, as the numeric histograms take on one thread,
    # were within 4% of two on the level histograms of egsingle, STAR and wages.)
    ca = active[2 * group]
    paired = 2 * group + 1 < active.shape[0]
    cb = active[2 * group + 1] if paired else ca
    n = codes.shape[1] if all_rows else sample_indices.shape[0]
    n_codes = offsets[ca + 1] - offsets[ca] + (offsets[cb + 1] - offsets[cb] if paired else 0)
    hessian_mode = 0
    if constant_hessian > 0.0:
        hessian_mode = 1 if constant_hessian == 1.0 and n < n_codes else 2
    if paired:
        _accumulate_level_pair(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist,
                               ca, cb, hessian_mode)
    else:
        _accumulate_levels(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist, ca,
                           hessian_mode)
    if hessian_mode == 2:
        _counts_to_count_channels(offsets, hist, ca, constant_hessian)
        if paired:
            _counts_to_count_channels(offsets, hist, cb, constant_hessian)


@njit(parallel=True, cache=True)
def _categorical_histogram_parallel(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, active,
                                    hist, constant_hessian):
    for group in prange((active.shape[0] + 1) // 2):
        _accumulate_level_group(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist, active,
                                group, constant_hessian)


@njit(cache=True)
def build_categorical_histogram(codes, offsets, sample_indices, all_rows, gradients, hessians, weights,
                                feature_mask, constant_hessian, parallel_min_work=PARALLEL_LEVEL_MIN_WORK):
    """Level histogram of the rows ``sample_indices``, or of every row when ``all_rows``.

    With ``all_rows`` the gradients, hessians and weights are indexed by row; otherwise they are already
    gathered in the order of ``sample_indices``.  ``weights`` with no entries (:data:`NO_WEIGHTS`): the count
    channel counts rows.  ``constant_hessian > 0`` declares every row's hessian equal to it and its weight 1
    (unweighted squared error): rows are counted, the hessian sums are the counts times it, and neither
    ``hessians`` nor ``weights`` is read.  Features are summed two at a time; from ``parallel_min_work`` rows
    times features on (:data:`SERIAL_ONLY`: never), the pairs are summed in parallel (one region of numba's
    threads).  Each feature's sums add its rows in the same order whichever the path.
    """
    hist = np.zeros((offsets[-1], 3), dtype=np.float64)
    n = codes.shape[1] if all_rows else sample_indices.shape[0]
    active = np.flatnonzero(feature_mask)
    if active.shape[0] > 2 and n * active.shape[0] >= parallel_min_work:
        _categorical_histogram_parallel(codes, offsets, sample_indices, all_rows, gradients, hessians, weights,
                                        active, hist, constant_hessian)
        return hist
    for group in range((active.shape[0] + 1) // 2):
        _accumulate_level_group(codes, offsets, sample_indices, all_rows, gradients, hessians, weights, hist,
                                active, group, constant_hessian)
    return hist
