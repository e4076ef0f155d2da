"""numpy's pairwise summation, compiled: ``pairwise_sum(a) == np.sum(a)`` bit for bit for float64 arrays.

Compiled code that replaces a ``np.sum`` of the booster must add in numpy's order, or the models would
move by rounding.  numpy sums a contiguous float64 array from 0 with eight interleaved accumulators over
blocks of at most 128 values, splitting longer runs in halves (a multiple of 8 long); a run shorter than 8
is added left to right.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit

_BLOCK = 128


@njit(cache=True)
def _block(a, start, n):
    # One run of at most _BLOCK values, as numpy adds it.
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = start + 8
    stop8 = start + n - n % 8
    while i < stop8:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < start + n:
        res += a[i]
        i += 1
    return res


@njit(cache=True)
def _pairwise(a, start, n):
    # numpy's recursion sum(first half) + sum(second half), run on an explicit stack: a recursive
    # function loaded from numba's cache crashes.
    frame_start = np.empty(64, dtype=np.int64)
    frame_n = np.empty(64, dtype=np.int64)
    frame_phase = np.zeros(64, dtype=np.int64)
    frame_left = np.zeros(64)
    top = 0
    frame_start[0], frame_n[0], frame_phase[0] = start, n, 0
    returned = 0.0
    while top >= 0:
        s, m = frame_start[top], frame_n[top]
        if m <= _BLOCK:
            returned = _block(a, s, m)
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if frame_phase[top] == 0:
            frame_phase[top] = 1
            top += 1
            frame_start[top], frame_n[top], frame_phase[top] = s, half, 0
        elif frame_phase[top] == 1:
            frame_left[top] = returned
            frame_phase[top] = 2
            top += 1
            frame_start[top], frame_n[top], frame_phase[top] = s + half, m - half, 0
        else:
            returned = frame_left[top] + returned
            top -= 1
    return returned


@njit(cache=True)
def pairwise_sum(a):
    """``np.sum(a)`` of a one-dimensional float64 array, in numpy's order of additions."""
    if a.shape[0] == 0:
        return 0.0
    return 0.0 + _pairwise(a, np.int64(0), a.shape[0])  # a literal 0 would compile another specialization


@njit(cache=True)
def pairwise_sum_of(values, rows):
    """``np.sum(values[rows])``: the gathered values summed in numpy's order."""
    gathered = np.empty(rows.shape[0])
    for i in range(rows.shape[0]):
        gathered[i] = values[rows[i]]
    return pairwise_sum(gathered)
