"""Exact weighted quantiles of rows spread over partitions, by radix selection on the float bits.

A float64 maps to a 64-bit key whose unsigned order is the numeric order (:func:`sortable_keys`).  The
lower weighted ``q``-quantile of a group of rows (what :func:`shrinktree.losses.weighted_quantile`
returns: the smallest value whose weight share reaches ``q``) is then found one byte of its key at a
time, from the top: every partition sums its rows' weights into 256 buckets per group (the next byte
of the key, among rows whose higher bytes match the prefix chosen so far), the sums are added across
partitions, and the client picks the bucket where the cumulative weight reaches ``q`` times the
group's total.  Eight rounds fix all 64 bits, so the result is one of the rows' values exactly, and
each round sends ``256`` sums per group, whatever the number of rows.

Groups are the nodes of a tree: a row counts in its leaf and in every ancestor of it (``parent``),
so a node's quantile is taken over the rows of all its leaves, as in
:func:`shrinktree.boosting.pooling.renew_leaf_values`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

_SIGN = np.uint64(1 << 63)
N_ROUNDS = 8


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """Keys whose unsigned order is the numeric order of the float64 ``values`` (NaN excluded)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def values_of_keys(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`sortable_keys`."""
    keys = np.asarray(keys, dtype=np.uint64)
    bits = np.where(keys & _SIGN, keys ^ _SIGN, ~keys)
    return bits.view(np.float64)


@njit(cache=True)
def radix_histogram(keys, weights, leaf_of_row, parent, prefix, shift):
    """Per node, the weights of its rows whose key matches ``prefix`` above bit ``shift + 8``, by the byte at
    ``shift``.  Row ``i`` counts in node ``leaf_of_row[i]`` and its ancestors."""
    out = np.zeros((parent.shape[0], 256), dtype=np.float64)
    high = np.uint64(shift + 8)
    low = np.uint64(shift)
    everything = shift + 8 >= 64
    for i in range(keys.shape[0]):
        key = keys[i]
        node = leaf_of_row[i]
        bucket = np.int64((key >> low) & np.uint64(255))
        while node >= 0:
            if everything or (key >> high) == (prefix[node] >> high):
                out[node, bucket] += weights[i]
            node = parent[node]
    return out


def select_quantiles(histogram: Callable[[np.ndarray, int], np.ndarray], quantile: float, n_groups: int) -> np.ndarray:
    """The lower weighted ``quantile`` of every group (0 for an empty group).

    Parameters
    ----------
    histogram : callable
        ``histogram(prefix, shift)``: the ``(n_groups, 256)`` bucket weights of :func:`radix_histogram`
        summed over every partition.
    quantile : float
    n_groups : int

    Returns
    -------
    ndarray of float64, shape (n_groups,)
    """
    prefix = np.zeros(n_groups, dtype=np.uint64)
    below = np.zeros(n_groups)
    target = None
    for shift in range(64 - 8, -1, -8):
        counts = histogram(prefix, shift)
        if target is None:
            total = counts.sum(axis=1)
            target = quantile * total
            empty = total <= 0
        for g in range(n_groups):
            if empty[g]:
                continue
            cumulative = below[g] + np.cumsum(counts[g])
            reached = np.flatnonzero(cumulative >= target[g])
            # Rounding may leave the target above the total: the largest value, as weighted_quantile does.
            bucket = int(reached[0]) if len(reached) else int(np.flatnonzero(counts[g] > 0)[-1])
            below[g] += float(np.sum(counts[g, :bucket]))
            prefix[g] |= np.uint64(bucket) << np.uint64(shift)
    out = values_of_keys(prefix)
    out[empty] = 0.0
    return out
