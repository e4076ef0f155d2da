"""Leaf of each row of a grown tree, found by partitioning the rows node by node.

For the rows the grower did not partition: rows outside the subsample, and the held-out rows of the
distributed grower (the single-machine grower partitions its held-out rows alongside its growing rows).
Walking every row from the root down costs a data-dependent branch per level and row, which the branch
predictor gets wrong about half of the time.  Partitioning the rows at each internal node, in creation
order (a parent before its children), with the grower's branch-free stable partition sends every row to
the same leaf for a few sequential passes instead.

A row whose level is absent from a categorical node's present set blends there
(:func:`shrinktree._tree.categorical_route`): it has no single leaf, and its partition ends at that node;
its value is then the blended value of the node's subtree
(:func:`~shrinktree.boosting.predictor.add_values_from_nodes`).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._tree import BLEND, GO_LEFT, categorical_route
from .partition import _close_partition, _goes_left, _route, categorical_route_table

# Rows routed together: each block is partitioned through the whole tree on its own (its scratch arrays
# stay in cache, and blocks run in parallel); the leaves do not depend on the blocking.
ROUTE_BLOCK_ROWS = 16_384


@njit(cache=True)
def _route_block(binned, codes, rows, first_row, last_row, left, right, feature, is_categorical, bin_threshold,
                 missing_left, missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset, out):
    # Positions into ``rows`` rather than rows, so that the leaves come back in the order of ``rows``.
    n = last_row - first_row
    n_nodes = left.shape[0]
    positions = np.arange(first_row, last_row)
    buffer = np.empty(n, dtype=np.int64)
    no_weights = np.empty(0, dtype=np.float64)
    no_table = np.zeros(1, dtype=np.uint8)
    start = np.zeros(n_nodes, dtype=np.int64)
    stop = np.zeros(n_nodes, dtype=np.int64)
    stop[0] = n
    for node in range(n_nodes):
        first, last = start[node], stop[node]
        if left[node] < 0:
            for p in range(first, last):
                out[positions[p]] = node
            continue
        f = feature[node]
        goes_missing_left = missing_left[node] == 1
        n_left, n_right, unused_weight = 0, 0, 0.0
        if is_categorical[node]:
            column = codes[f]
            # The rule once per code when the node's rows outnumber its codes (categorical_route_table).
            by_table = last - first > n_levels[f]
            table = (categorical_route_table(node, missing_left, cat_offset, cat_bitset, present_offset,
                                             present_bitset, n_levels[f]) if by_table else no_table)
            for p in range(first, last):
                position = positions[p]
                code = np.int64(column[rows[position]])
                if by_table:
                    route = np.int64(table[np.uintp(min(code, n_levels[f]))])
                else:
                    route = categorical_route(code >= n_levels[f], code, node, missing_left, cat_offset, cat_bitset,
                                              present_offset, present_bitset)
                if route == BLEND:
                    out[position] = node  # ends here: left out of both children's runs
                    continue
                n_left, n_right, unused_weight = _route(positions, buffer, first, position, route == GO_LEFT,
                                                        n_left, n_right, unused_weight, no_weights, True)
        else:
            column = binned[f]
            threshold = bin_threshold[node]
            for p in range(first, last):
                position = positions[p]
                go_left = _goes_left(column[rows[position]], threshold, goes_missing_left, missing_bin)
                n_left, n_right, unused_weight = _route(positions, buffer, first, position, go_left, n_left,
                                                        n_right, unused_weight, no_weights, True)
        _close_partition(positions, buffer, first, n_left, n_right, unused_weight, True)
        start[left[node]], stop[left[node]] = first, first + n_left
        start[right[node]], stop[right[node]] = first + n_left, first + n_left + n_right


@njit(parallel=True, cache=True)
def _route_blocks(binned, codes, rows, block_rows, left, right, feature, is_categorical, bin_threshold, missing_left,
                  missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset, out):
    n_blocks = (rows.shape[0] + block_rows - 1) // block_rows
    for block in prange(n_blocks):
        _route_block(binned, codes, rows, block * block_rows, min(rows.shape[0], (block + 1) * block_rows), left,
                     right, feature, is_categorical, bin_threshold, missing_left, missing_bin, n_levels, cat_offset,
                     cat_bitset, present_offset, present_bitset, out)


def leaves_by_partition(binned, codes, rows, left, right, feature, is_categorical, bin_threshold, missing_left,
                        missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset):
    """The node each row in ``rows`` ends at: the leaf a walk from the root down reaches, or the first node
    where it blends (:func:`shrinktree._tree.categorical_route`; a present set is needed for that).

    ``feature`` indexes ``binned`` (numeric splits) or ``codes`` (categorical splits); nodes are in
    creation order, so every parent precedes its children.  ``present_offset`` (-1: no present set) and
    ``present_bitset`` as in :class:`~shrinktree._tree.TreeArrays`.
    """
    out = np.empty(rows.shape[0], dtype=np.int64)
    if rows.shape[0] <= ROUTE_BLOCK_ROWS:
        _route_block(binned, codes, rows, 0, rows.shape[0], left, right, feature, is_categorical, bin_threshold,
                     missing_left, missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset, out)
    else:
        _route_blocks(binned, codes, rows, ROUTE_BLOCK_ROWS, left, right, feature, is_categorical, bin_threshold,
                      missing_left, missing_bin, n_levels, cat_offset, cat_bitset, present_offset, present_bitset,
                      out)
    return out
