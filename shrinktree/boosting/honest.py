"""Honest estimation of the pooling strength: which rows grow a tree and which are held out.

Each row's side is a hash of its content (bins, categorical codes, target) and the iteration, so a
row of weight 3 and three copies of it always land on the same side: integer weights stay exactly
equivalent to repeated rows.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .partition import row_index_dtype
from .predictor import add_children_to_parents, add_row_statistics
from .splitting import TIE_TOLERANCE

# Share of the rows held out of growing each tree (they estimate its pooling strength).  The booster's
# private measurement switch ``_honest_fraction`` overrides it for one model (benchmarks/ablations.py).
HONEST_FRACTION = 0.5

# How an honest tree counts ``min_samples_leaf`` (:func:`growing_min_samples_leaf`); the booster's private
# measurement switch ``_min_leaf_of_all_rows`` overrides it for one model (benchmarks/ablations.py).
MIN_LEAF_RULES = (False, True, "if-constant")
DEFAULT_MIN_LEAF_RULE = "if-constant"


def growing_min_samples_leaf(min_samples_leaf: int, growing_size: float, fraction: float = HONEST_FRACTION,
                             rule=DEFAULT_MIN_LEAF_RULE) -> int:
    """``min_samples_leaf`` as the grower of an honest tree asks it of the rows that choose the splits.

    Parameters
    ----------
    min_samples_leaf : int
        The estimator's parameter.
    growing_size : float
        Size of the rows that grow the tree as ``min_samples_leaf`` counts it: their number, or their
        summed weight in a weighted fit.
    fraction : float
        Share of the rows held out of growing the tree.
    rule : {"if-constant", False, True}
        ``"if-constant"`` (the default): a tree whose growing rows are fewer than ``2 * min_samples_leaf``,
        which could not make a single split, asks only their share ``ceil((1 - fraction) * min_samples_leaf)``,
        so that its leaves hold about ``min_samples_leaf`` rows of all; every other tree asks it in full.
        ``False``: always in full (the rule before; tiny honest fits were a constant).  ``True``: always the
        share.  Both others are for benchmarks/ablations.py only.

    Returns
    -------
    int
        The ``min_samples_leaf`` the grower applies, at least 1.
    """
    if rule is False or (rule == "if-constant" and growing_size >= 2 * min_samples_leaf):
        return min_samples_leaf
    return max(1, int(np.ceil(min_samples_leaf * (1.0 - fraction))))


def growing_tie_tolerance(min_samples_leaf: int, growing_size: float) -> float:
    """The grower's tie tolerance (:data:`~shrinktree.boosting.splitting.TIE_TOLERANCE`) for a tree whose
    growing rows are fewer than ``2 * min_samples_leaf``, the trees :func:`growing_min_samples_leaf` lets
    split on few rows; 0 for every other tree."""
    return TIE_TOLERANCE if growing_size < 2 * min_samples_leaf else 0.0


def growing_split_rules(min_samples_leaf: int, growing_size: float, fraction: float = HONEST_FRACTION,
                        rule=DEFAULT_MIN_LEAF_RULE) -> tuple[int, float]:
    """``(min_samples_leaf, tie_tolerance)`` the grower of an honest tree applies: :func:`growing_min_samples_leaf`
    and :func:`growing_tie_tolerance` of the same growing rows, for the booster and the distributed grower alike."""
    return (growing_min_samples_leaf(min_samples_leaf, growing_size, fraction, rule),
            growing_tie_tolerance(min_samples_leaf, growing_size))


def check_min_leaf_rule(rule) -> None:
    """A clear error for a ``_min_leaf_of_all_rows`` switch that is not one of :data:`MIN_LEAF_RULES`."""
    if not any(rule is r if isinstance(r, bool) else (isinstance(rule, str) and rule == r) for r in MIN_LEAF_RULES):
        raise ValueError(f"_min_leaf_of_all_rows must be one of {MIN_LEAF_RULES}, got {rule!r}.")


@njit(cache=True)
def _mix64(x):
    # splitmix64 finalizer: a cheap, well-spread 64-bit hash.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# The bin a missing value hashes as, whatever bin the binning gave it: a row's side of the honest split
# does not depend on how many bins the other features have.
HASHED_MISSING_BIN = 255


@njit(parallel=True, cache=True)
def hash_rows(binned, y_bits, missing_bin):
    """A 64-bit hash of each row's bins and target (``y`` viewed as uint64): identical rows hash alike.

    The missing bin ``missing_bin`` hashes as :data:`HASHED_MISSING_BIN`."""
    n_features, n_rows = binned.shape
    out = np.empty(n_rows, dtype=np.uint64)
    missing = np.uint64(missing_bin)
    for i in prange(n_rows):
        h = _mix64(y_bits[i])
        for f in range(n_features):
            b = np.uint64(binned[f, i])
            if b == missing:
                b = np.uint64(HASHED_MISSING_BIN)
            h = _mix64(h ^ (b + np.uint64(f) * np.uint64(257)))
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


@njit(cache=True)
def _split_by_hash(row_hash, rows, all_rows, salt, fraction, held_below, out):
    # Serial on purpose, without a boolean-indexing temporary: one pass hashes each row and counts the held
    # ones, a second writes both sides into one array of the rows' length (growing rows first, each side in
    # the rows' order), so no scratch array longer than the result is allocated.  ``out`` (the rows' length) gets
    # both sides.
    threshold = np.uint64(fraction * 18446744073709551615.0)
    n = row_hash.shape[0] if all_rows else rows.shape[0]
    is_held = np.empty(n, dtype=np.bool_)
    n_held = 0
    for r in range(n):
        i = r if all_rows else rows[r]
        is_held[r] = (_mix64(row_hash[i] ^ salt) < threshold) == held_below
        n_held += is_held[r]
    n_grow = n - n_held
    grown, held = 0, 0
    for r in range(n):
        # Branch-free (a row's side is a coin flip): the position is chosen arithmetically.
        side = np.int64(is_held[r])
        out[grown + side * (n_grow + held - grown)] = r if all_rows else rows[r]
        held += side
        grown += 1 - side
    return out[:n_grow], out[n_grow:]


def _salt(iteration, seed):
    return np.uint64((int(seed) * 1_000_003 + iteration * 7919 + 1) % (2**63))


def honest_split(row_hash, rows, iteration, seed, fraction=HONEST_FRACTION, alternate=False):
    """(rows that grow tree ``iteration``, rows held out of it), or ``None`` when one side would be empty.

    The same sides as :func:`split_rows` of :func:`held_out_mask` (``alternate``: of the rows that grew
    the previous tree, ``~held_out_mask(row_hash, iteration - 1, ...)``) in one compiled pass.
    ``rows`` (sorted int64) restricts the split to a row subsample; ``None`` for every row.  Both sides are
    int32 when every row index fits in it (:func:`~shrinktree.boosting.partition.row_index_dtype`), int64 otherwise.
    """
    flip = alternate and iteration % 2 == 1
    salt = _salt(iteration - 1 if flip else iteration, seed)
    all_rows = rows is None
    out = np.empty(row_hash.shape[0] if all_rows else rows.shape[0], dtype=row_index_dtype(row_hash.shape[0]))
    grow_rows, held_rows = _split_by_hash(row_hash, np.zeros(0, dtype=np.int64) if all_rows else rows, all_rows,
                                          salt, float(fraction), not flip, out)
    if len(grow_rows) == 0 or len(held_rows) == 0:
        return None
    return grow_rows, held_rows


# From this many rows on, held_node_statistics sums in row order (sequential reads of the gradients); fewer rows
# stay in cache, and walking the leaves' runs reads only the held-out rows.
ROW_ORDER_MIN_ROWS = 65_536


@njit(cache=True)
def held_node_statistics(held_indices, leaf_nodes, leaf_start, leaf_stop, parent, gradients, hessians,
                         sample_weight):
    """:func:`~shrinktree.boosting.predictor.node_statistics` of the held-out rows, read off the grower's partition.

    Leaf ``leaf_nodes[j]`` holds ``held_indices[leaf_start[j]:leaf_stop[j]]`` in the rows' original order, so
    each leaf sums its rows in the order a pass over every held-out row would: the same sums bit for bit.

    When every leaf's rows are increasing (held-out rows drawn in row order), the rows are summed in one pass
    over the rows in row order, each into its leaf's sums: the same order within every leaf, but reading the
    gradients, hessians and weights sequentially instead of one cache miss per row and array.
    """
    out = np.zeros((parent.shape[0], 6))
    n_leaves = leaf_nodes.shape[0]
    if gradients.shape[0] >= ROW_ORDER_MIN_ROWS:
        # Rows not held out go to a spare last row of sums: adding them costs less than a branch per row that
        # the predictor gets wrong half of the time.
        leaf_of = np.full(gradients.shape[0], n_leaves, dtype=np.int32)
        increasing = True
        for j in range(n_leaves):
            previous = -1
            for p in range(leaf_start[j], leaf_stop[j]):
                i = held_indices[p]
                increasing &= i > previous
                previous = i
                leaf_of[i] = j
        if increasing:
            sums = np.zeros((n_leaves + 1, 6))
            for i in range(leaf_of.shape[0]):
                add_row_statistics(sums, leaf_of[i], i, gradients, hessians, sample_weight)
            for j in range(n_leaves):
                out[leaf_nodes[j]] = sums[j]
            add_children_to_parents(out, parent)
            return out
    # Each leaf's run in its order (in row order when the runs increase, as above: the same sums).
    for j in range(n_leaves):
        for p in range(leaf_start[j], leaf_stop[j]):
            add_row_statistics(out, leaf_nodes[j], held_indices[p], gradients, hessians, sample_weight)
    add_children_to_parents(out, parent)
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
    return _held_out_mask_kernel(row_hash, _salt(iteration, seed), float(fraction))


def row_hashes(binned: np.ndarray, codes: np.ndarray, y: np.ndarray, missing_bin: int) -> np.ndarray:
    """Content hash of every row: its bins (``missing_bin``: the bin of missing values), categorical codes and
    target bits."""
    # A writeable C array whatever y is, so that one compiled specialization serves every fit.
    y_bits = np.require(y, dtype=np.float64, requirements=["C", "W"]).view(np.uint64)
    row_hash = hash_rows(binned, y_bits, np.int64(missing_bin))
    if codes.shape[0] > 0:
        row_hash = hash_rows_with_codes(row_hash, codes)
    return row_hash
