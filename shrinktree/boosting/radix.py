"""Stable LSD radix sorting of float64 keys, by 8-bit digits of an order-preserving map of their bits.

The map sends a float's bits to an unsigned integer that compares as the float does: negative floats get all
bits flipped, the others the sign bit set.  ``-0.0 + 0.0`` is ``0.0``, so the two zeros, equal to comparisons,
get one pattern and keep their order.  No key may be NaN.  A pass whose digit is the same for every key would
move nothing and is skipped (keys close to each other share their high bytes).

Used by the categorical split search (:func:`~shrinktree.boosting.splitting.stable_order`, the order of many
levels' pooled values) and by binning (:func:`~shrinktree.boosting.binning.distinct_counts` and
:func:`~shrinktree.boosting.binning.distinct_masses`, the distinct values of a feature's binned rows).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit

SIGN_BIT = np.uint64(1) << np.uint64(63)
DIGIT_MASK = np.uint64(255)


@njit(cache=True)
def float_keys(values, m):
    """The order-preserving unsigned keys of ``values[:m]`` (no NaN)."""
    plus_zero = np.empty(m)
    for i in range(m):
        plus_zero[i] = values[i] + 0.0
    bits = plus_zero.view(np.uint64)
    keys = np.empty(m, dtype=np.uint64)
    for i in range(m):
        b = bits[i]
        keys[i] = ~b if b & SIGN_BIT else b | SIGN_BIT
    return keys


@njit(cache=True, inline="always")
def _digit_starts(keys, m, shift, counts):
    # counts[d] becomes where digit d's keys start; False when every key has the same digit (nothing moves).
    counts[:] = 0
    for i in range(m):
        counts[(keys[i] >> shift) & DIGIT_MASK] += 1
    if counts[(keys[0] >> shift) & DIGIT_MASK] == m:
        return False
    total = 0
    for d in range(256):
        c = counts[d]
        counts[d] = total
        total += c
    return True


@njit(cache=True)
def _sort(keys, m, order, with_order):
    # The passes: keys[:m] (overwritten: one of the two buffers) in increasing order, and with ``with_order`` their
    # positions moved along with them in ``order[:m]``.  Returns the buffer that holds the sorted keys.
    if m == 0:
        return keys  # (the digit count reads the first key)
    source_key = keys
    target_key = np.empty(m, dtype=np.uint64)
    source_order = np.empty(m if with_order else 0, dtype=order.dtype)
    target_order = np.empty(m if with_order else 0, dtype=order.dtype)
    for i in range(source_order.shape[0]):
        source_order[i] = i
    counts = np.empty(256, dtype=np.int64)
    for shift in range(0, 64, 8):
        s = np.uint64(shift)
        if not _digit_starts(source_key, m, s, counts):
            continue
        for i in range(m):
            d = (source_key[i] >> s) & DIGIT_MASK
            position = counts[d]
            counts[d] = position + 1
            target_key[position] = source_key[i]
            if with_order:  # loop-invariant: compiled as two loops
                target_order[position] = source_order[i]
        source_key, target_key = target_key, source_key
        source_order, target_order = target_order, source_order
    if with_order:
        order[:m] = source_order
    return source_key


@njit(cache=True)
def sort_keys_and_order(keys, m, order):
    """``order[:m]`` = the positions of ``keys[:m]`` in increasing order, equal keys in their order (``keys`` is
    overwritten: it serves as one of the two buffers)."""
    _sort(keys, m, order, m >= 0)  # (a runtime True: a literal would compile a specialization of its own)


@njit(cache=True)
def sorted_keys(keys):
    """``keys`` in increasing order: ``keys`` itself or a new array (``keys`` is overwritten either way)."""
    no_order = np.zeros(0, dtype=np.int64)
    return _sort(keys, keys.shape[0], no_order, keys.shape[0] < 0)


@njit(cache=True)
def key_floats(keys, m):
    """The floats whose keys (:func:`float_keys`) are ``keys[:m]`` (``0.0`` for both zeros)."""
    bits = np.empty(m, dtype=np.uint64)
    for i in range(m):
        key = keys[i]
        bits[i] = key & ~SIGN_BIT if key & SIGN_BIT else ~key
    return bits.view(np.float64)
