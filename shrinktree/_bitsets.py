"""Per-node bitsets of several trees in one array: the split sets and the present sets of categorical nodes.

Kernels that walk several trees at once read one array of words per kind of set; each node's offset
into it is moved past the words of the trees before it.  Node links are not touched (walks that keep
tree-local node ids and walks with global ones both use this).
"""

from __future__ import annotations

import numpy as np


def concatenated_bitsets(trees, offset_name: str, bitset_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``offset_name`` of every node of ``trees`` and their ``bitset_name`` words, concatenated.

    Parameters
    ----------
    trees : sequence of TreeArrays
    offset_name : str
        ``"cat_offset"`` or ``"present_offset"``: per node, the start of its set (-1: none).
    bitset_name : str
        ``"cat_bitset"`` or ``"present_bitset"``: the tree's words.

    Returns
    -------
    offset : ndarray of int64, one entry per node of all trees
        Each tree's offsets shifted by the number of words of the trees before it (-1 stays -1).
    words : ndarray of uint32
    """
    sizes = np.array([len(getattr(t, bitset_name)) for t in trees], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    offset = [np.where(getattr(t, offset_name) >= 0, np.asarray(getattr(t, offset_name), np.int64) + start, -1)
              for t, start in zip(trees, starts)]
    offset = np.concatenate(offset + [np.zeros(0, np.int64)]).astype(np.int64)
    words = np.concatenate([getattr(t, bitset_name) for t in trees] + [np.zeros(0, np.uint32)]).astype(np.uint32)
    return offset, words


def concatenated_present_sets(trees) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``present_offset`` (shifted), ``present_bitset`` and ``absent_left_share`` of ``trees``, concatenated."""
    offset, words = concatenated_bitsets(trees, "present_offset", "present_bitset")
    share = np.concatenate([np.asarray(t.absent_left_share, np.float64) for t in trees] + [np.zeros(0)])
    return offset, words, share
