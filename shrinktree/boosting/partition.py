"""Stable in-place row partitions of a node at a split, and the within-node sum of squares.

A node's rows are a contiguous slice of one index array; a split moves its left rows to the front of
the slice and its right rows behind them, each run in the rows' original order.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit
from .._tree import BLEND, GO_LEFT, categorical_route

# Row indices of a fit's partitions are int32 whenever every row fits in one (half the memory of int64 for the
# growing rows, the held-out rows and the partition buffer); int64 only beyond 2**31 - 1 rows.
_INT32_ROWS = np.iinfo(np.int32).max


def row_index_dtype(n_rows: int) -> type:
    """The integer type of the row indices of ``n_rows`` rows: int32 when they fit, int64 otherwise."""
    return np.int32 if n_rows <= _INT32_ROWS else np.int64


@njit(cache=True, inline="always")
def _goes_left(b, bin_threshold, missing_left, missing_bin):
    if b == missing_bin:
        return missing_left
    return b <= bin_threshold


@njit(cache=True, inline="always")
def _side_table(bin_threshold, missing_left, missing_bin):
    # 1 for every bin a row goes left from (``b <= bin_threshold``, the missing bin by ``missing_left``): one
    # load per row instead of :func:`_goes_left`'s two compares.  Bins past the missing bin (none in binned
    # data) go right, as the compares would send them.
    table = np.zeros(max(missing_bin + 1, 256), dtype=np.uint8)
    for b in range(min(bin_threshold + 1, missing_bin)):
        table[b] = 1
    table[missing_bin] = 1 if missing_left else 0
    return table


@njit(cache=True, inline="always")
def _route(sample_indices, buffer, start, idx, go_left, n_left, n_right, weight_left, sample_weight, unit_weights):
    # Branch-free: write the row to both runs, advance only its side's counter.  Positions and rows are never
    # negative: as unsigned indices they skip numba's wraparound test of negative ones.
    sample_indices[np.uintp(start + n_left)] = idx
    buffer[np.uintp(n_right)] = idx
    if not unit_weights:
        weight_left += sample_weight[np.uintp(idx)] * go_left
    return n_left + go_left, n_right + 1 - go_left, weight_left


@njit(cache=True, inline="always")
def _close_partition(sample_indices, buffer, start, n_left, n_right, weight_left, unit_weights):
    # The right run goes back behind the left one; returns (n_left, weighted_left).
    for i in range(n_right):
        sample_indices[np.uintp(start + n_left + i)] = buffer[np.uintp(i)]
    return n_left, float(n_left) if unit_weights else weight_left


@njit(cache=True)
def partition_rows(binned_column, sample_indices, start, stop, bin_threshold, missing_left, missing_bin,
                   sample_weight, buffer, unit_weights=False):
    """Stable in-place partition of ``sample_indices[start:stop]``; returns (n_left, weighted_left).

    ``buffer`` is scratch space of at least ``stop - start`` entries.  With ``unit_weights``
    every row weighs 1 and ``sample_weight`` is not read.

    One branch-free pass: each row is written both to the left run (compacted in place; its write
    position never passes the read position) and to the right run in ``buffer``, and only the
    counter of its side advances.  A split is a coin flip per row for the branch predictor, so
    this is about three times faster than branching on the side.  A row's side is read from a table of
    the bins (:func:`_side_table`), with unsigned indices: 2.5x faster again on a few thousand rows.
    """
    side = _side_table(bin_threshold, missing_left, missing_bin)
    n_left, n_right, weight_left = 0, 0, 0.0
    for i in range(start, stop):
        idx = sample_indices[i]
        go_left = side[np.uintp(binned_column[np.uintp(idx)])]
        n_left, n_right, weight_left = _route(sample_indices, buffer, start, idx, go_left, n_left, n_right,
                                              weight_left, sample_weight, unit_weights)
    return _close_partition(sample_indices, buffer, start, n_left, n_right, weight_left, unit_weights)


@njit(cache=True)
def partition_rows_categorical(codes_column, sample_indices, start, stop, bitset, missing_left, n_levels,
                               sample_weight, buffer, unit_weights=False):
    """Like :func:`partition_rows` for a categorical split: a code goes left when its bit is set."""
    n_left, n_right, weight_left = 0, 0, 0.0
    for i in range(start, stop):
        idx = sample_indices[i]
        code = codes_column[np.uintp(idx)]
        if code >= n_levels:
            go_left = missing_left
        else:
            go_left = (bitset[np.uintp(code >> 5)] >> np.uint32(code & 31)) & np.uint32(1) == 1
        n_left, n_right, weight_left = _route(sample_indices, buffer, start, idx, go_left, n_left, n_right,
                                              weight_left, sample_weight, unit_weights)
    return _close_partition(sample_indices, buffer, start, n_left, n_right, weight_left, unit_weights)


@njit(cache=True)
def partition_node(binned_column, sample_indices, start, stop, held_indices, held_start, held_stop, bin_threshold,
                   missing_left, missing_bin, sample_weight, buffer, unit_weights):
    """:func:`partition_rows` of a node's growing rows, then of its held-out rows by the same split.

    One call per split for both: routing the held-out rows with the partition gives each its leaf
    without a second walk down the finished tree.  Returns ``(n_left, weighted_left, n_held_left)``.
    """
    n_left, weight_left = partition_rows(binned_column, sample_indices, start, stop, bin_threshold, missing_left,
                                         missing_bin, sample_weight, buffer, unit_weights)
    n_held_left = 0
    has_held = held_stop > held_start  # a runtime flag: a literal True would compile another specialization
    if has_held:
        n_held_left, _ = partition_rows(binned_column, held_indices, held_start, held_stop, bin_threshold,
                                        missing_left, missing_bin, sample_weight, buffer, has_held)
    return n_left, weight_left, n_held_left


@njit(cache=True)
def categorical_route_table(node, missing_left, cat_offset, cat_bitset, present_offset, present_bitset, n_levels):
    """``table[code]``: :func:`shrinktree._tree.categorical_route` of every code ``0 .. n_levels`` (the last: missing)
    at categorical node ``node``.

    For loops over more rows than codes: a row's route is then one load, as a numeric split's side is
    (:func:`_side_table`), instead of the rule's arithmetic per row.
    """
    table = np.empty(n_levels + 1, dtype=np.uint8)
    for code in range(n_levels + 1):
        table[code] = categorical_route(code >= n_levels, np.int64(code), node, missing_left, cat_offset, cat_bitset,
                                        present_offset, present_bitset)
    return table


@njit(cache=True)
def partition_rows_stopping(codes_column, indices, start, stop, bitset, missing_left, n_levels, present, buffer):
    """Stable in-place three-way partition of ``indices[start:stop]`` at a categorical split with a present set.

    The rows that go left come first, then those that go right, then those that **blend** (their level, or
    NaN, is absent from the node's growing rows, ``present``: :func:`~shrinktree.boosting.splitting.present_set`);
    each run in the rows' original order.  The rule is :func:`shrinktree._tree.categorical_route` (a code
    ``>= n_levels`` is missing), applied once per code (:func:`categorical_route_table`) when the rows
    outnumber the codes.  Held-out rows only: a blending row stops at the node.  ``buffer`` is scratch space of
    at least ``stop - start`` entries.  Returns ``(n_left, n_right)``.

    One pass with two runs in ``buffer``: right rows from its front, blending rows from its back (reversed
    when copied back), so the three runs need no more scratch than two.
    """
    offsets = np.zeros(1, dtype=np.int64)
    sides = np.full(1, np.uint8(1) if missing_left else np.uint8(0))
    n = stop - start
    by_table = n > n_levels
    table = (categorical_route_table(0, sides, offsets, bitset, offsets, present, n_levels) if by_table
             else np.zeros(1, dtype=np.uint8))
    n_left, n_right, n_stopped = 0, 0, 0
    for i in range(start, stop):
        idx = indices[i]
        code = np.int64(codes_column[np.uintp(idx)])
        if by_table:  # the same for every row
            route = np.int64(table[np.uintp(min(code, n_levels))])
        else:
            route = categorical_route(code >= n_levels, code, 0, sides, offsets, bitset, offsets, present)
        # Branch-free as _route: written to all three runs, only its own counter advances (the slots of the
        # right and the blending runs meet only when both take the same row, n_right + n_stopped = n - 1).
        go_left = np.int64(route == GO_LEFT)
        stops = np.int64(route == BLEND)
        indices[np.uintp(start + n_left)] = idx
        buffer[np.uintp(n - 1 - n_stopped)] = idx
        buffer[np.uintp(n_right)] = idx
        n_left += go_left
        n_stopped += stops
        n_right += 1 - go_left - stops
    for k in range(n_right):
        indices[np.uintp(start + n_left + k)] = buffer[np.uintp(k)]
    for k in range(n_stopped):
        indices[np.uintp(start + n_left + n_right + k)] = buffer[np.uintp(n - 1 - k)]
    return n_left, n_right


@njit(cache=True)
def partition_node_categorical(codes_column, sample_indices, start, stop, held_indices, held_start, held_stop, bitset,
                               missing_left, n_levels, sample_weight, buffer, unit_weights, present):
    """:func:`partition_node` for a categorical split (:func:`partition_rows_categorical`).

    ``present``: the node's present set (:func:`~shrinktree.boosting.splitting.present_set`), or no words for
    none.  With one, the held-out rows that blend stop at the node: they are left behind both children's runs
    (:func:`partition_rows_stopping`).  Returns ``(n_left, weighted_left, n_held_left, n_held_right)``.
    """
    n_left, weight_left = partition_rows_categorical(codes_column, sample_indices, start, stop, bitset, missing_left,
                                                     n_levels, sample_weight, buffer, unit_weights)
    n_held_left = 0
    n_held_right = held_stop - held_start
    has_held = held_stop > held_start  # a runtime flag: a literal True would compile another specialization
    if has_held and present.shape[0] > 0:
        n_held_left, n_held_right = partition_rows_stopping(codes_column, held_indices, held_start, held_stop,
                                                            bitset, missing_left, n_levels, present, buffer)
    elif has_held:
        n_held_left, _ = partition_rows_categorical(codes_column, held_indices, held_start, held_stop, bitset,
                                                    missing_left, n_levels, sample_weight, buffer, has_held)
        n_held_right -= n_held_left
    return n_left, weight_left, n_held_left, n_held_right


@njit(cache=True)
def within_node_sum_of_squares(sample_indices, start, stop, gradients, hessians, sample_weight, ratio):
    """sum_i w_i (g~_i - h~_i * ratio)^2 over the node's rows (g = w g~, h = w h~)."""
    total = 0.0
    for i in range(start, stop):
        idx = sample_indices[i]
        w = sample_weight[idx]
        if w <= 0.0:
            continue
        r = gradients[idx] - hessians[idx] * ratio
        total += r * r / w
    return total
