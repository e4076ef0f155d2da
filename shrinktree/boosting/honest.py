"""Honest estimation of the pooling strength: which rows grow a tree and which are held out.

Each row's side is a hash of its content (bins, categorical codes, target) and the iteration, so a
row of weight 3 and three copies of it always land on the same side: integer weights stay exactly
equivalent to repeated rows.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange

# Share of the rows held out of growing each tree (they estimate its pooling strength).  The booster's
# private measurement switch ``_honest_fraction`` overrides it for one model (benchmarks/ablations.py).
HONEST_FRACTION = 0.5


@njit(cache=True)
def _mix64(x):
    # splitmix64 finalizer: a cheap, well-spread 64-bit hash.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(parallel=True, cache=True)
def hash_rows(binned, y_bits):
    """A 64-bit hash of each row's bins and target (``y`` viewed as uint64): identical rows hash alike."""
    n_features, n_rows = binned.shape
    out = np.empty(n_rows, dtype=np.uint64)
    for i in prange(n_rows):
        h = _mix64(y_bits[i])
        for f in range(n_features):
            h = _mix64(h ^ (np.uint64(binned[f, i]) + np.uint64(f) * np.uint64(257)))
        out[i] = h
    return out


@njit(parallel=True, cache=True)
def hash_rows_with_codes(row_hash, codes):
    """Mix the categorical codes into the row hashes of :func:`hash_rows`."""
    n_features, n_rows = codes.shape
    out = np.empty(n_rows, dtype=np.uint64)
    for i in prange(n_rows):
        h = row_hash[i]
        for f in range(n_features):
            h = _mix64(h ^ (np.uint64(codes[f, i]) + np.uint64(f + 1) * np.uint64(0x9E3779B97F4A7C15)))
        out[i] = h
    return out


@njit(parallel=True, cache=True)
def _held_out_mask_kernel(row_hash, salt, fraction):
    out = np.empty(row_hash.shape[0], dtype=np.bool_)
    threshold = np.uint64(fraction * 18446744073709551615.0)
    for i in prange(row_hash.shape[0]):
        out[i] = _mix64(row_hash[i] ^ salt) < threshold
    return out


def split_rows(is_held, rows):
    """(rows that grow the tree, rows held out), or ``None`` when one side would be empty."""
    if rows is not None:
        is_held_rows = is_held[rows]
        grow_rows, held_rows = rows[~is_held_rows], rows[is_held_rows]
    else:
        grow_rows, held_rows = np.flatnonzero(~is_held), np.flatnonzero(is_held)
    if len(grow_rows) == 0 or len(held_rows) == 0:
        return None
    return grow_rows.astype(np.int64, copy=False), held_rows.astype(np.int64, copy=False)


def held_out_mask(row_hash, iteration, seed, fraction=HONEST_FRACTION):
    """Rows held out of growing tree ``iteration`` (a share ``fraction`` of them) to estimate its pooling strength."""
    salt = np.uint64((int(seed) * 1_000_003 + iteration * 7919 + 1) % (2**63))
    return _held_out_mask_kernel(row_hash, salt, float(fraction))




def row_hashes(binned: np.ndarray, codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Content hash of every row: its bins, categorical codes and target bits."""
    # A writeable C array whatever y is, so that one compiled specialization serves every fit.
    y_bits = np.require(y, dtype=np.float64, requirements=["C", "W"]).view(np.uint64)
    row_hash = hash_rows(binned, y_bits)
    if codes.shape[0] > 0:
        row_hash = hash_rows_with_codes(row_hash, codes)
    return row_hash
