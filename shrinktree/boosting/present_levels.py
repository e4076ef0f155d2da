"""The levels present in a node's level histogram, kept as lists from parent to children.

The categorical split search scans only the levels a node has rows of, and finding them meant reading
every code's count: 1,722 codes of egsingle's ``childid`` for a node of a hundred rows.  In an unweighted
fit a level has rows in a child only if it has rows in the parent (counts are exact row counts), so the
children's lists are the parent's list filtered by their counts.  The list of a feature ``c`` lives at
``present[offsets[c]:offsets[c] + n_present[c]]`` (the layout of the level histogram), codes relative to
``offsets[c]`` in increasing order, the order a scan over the codes finds them.

The larger child's histogram is the parent's minus the smaller child's; where the smaller child has no
rows its sums are exactly 0, and ``x - 0.0`` is ``x``, so subtracting at the parent's present codes only
gives the dense subtraction's histogram bit for bit (unweighted fits only: a weighted fit snaps
near-empty counts everywhere, see :data:`~shrinktree.boosting.histogram.EMPTY_WEIGHT_SHARE`).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit

# ``levels`` of a node searched without lists (a typed stand-in: the split search then scans every code).
NO_PRESENT = np.zeros(0, dtype=np.int64)


def empty_levels(offsets):
    """A node's ``levels`` array (no lists written yet)."""
    return np.zeros(offsets[-1] + offsets.shape[0] - 1, dtype=np.int64)


@njit(cache=True)
def list_present_levels(cat_hist, offsets, feature_mask, levels):
    """Write into ``levels`` the codes with rows (count > 0) of each feature in ``feature_mask``.

    Features left out of the mask get empty lists.
    """
    n_features = offsets.shape[0] - 1
    for c in range(n_features):
        base = offsets[c]
        m = np.int64(0)  # not 0: a counter starting as a literal compiles a literal specialization of callees
        if feature_mask[c]:
            for b in range(offsets[c + 1] - base):
                # Branch-free: every code is written at the next slot, which only the codes with rows keep.
                levels[base + m] = b
                m += cat_hist[base + b, 2] > 0.0
        levels[offsets[n_features] + c] = m


@njit(cache=True)
def split_present_levels(parent_hist, small_hist, offsets, parent_levels, small_levels):
    """At a split: the smaller child's lists, the larger child's histogram and lists, in place.

    ``parent_hist`` becomes the larger child's (``parent - small`` at the parent's present codes)
    and ``parent_levels`` its lists; ``small_levels`` receives the smaller child's.  Unweighted fits only
    (see the module notes).
    """
    n_features = offsets.shape[0] - 1
    lengths = offsets[n_features]
    for c in range(n_features):
        base = offsets[c]
        n_small = np.int64(0)
        n_large = np.int64(0)
        # One branch-free pass over the parent's list: subtract (where the smaller child has no rows its sums
        # are 0), then keep the code in each child's list that has rows of it.  The larger child's list
        # overwrites the parent's in place, never ahead of the read position.
        for t in range(parent_levels[lengths + c]):
            b = parent_levels[base + t]
            i = base + b
            parent_hist[i, 0] -= small_hist[i, 0]
            parent_hist[i, 1] -= small_hist[i, 1]
            parent_hist[i, 2] -= small_hist[i, 2]
            small_levels[base + n_small] = b
            n_small += small_hist[i, 2] > 0.0
            parent_levels[base + n_large] = b
            n_large += parent_hist[i, 2] > 0.0
        small_levels[lengths + c] = n_small
        parent_levels[lengths + c] = n_large
