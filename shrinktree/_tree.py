"""Flat node-array trees shared by the booster and the post-hoc shrinkage wrapper.

Every tree, whether grown here or read from a foreign library, is stored as a
set of parallel arrays indexed by node id.  Node ids are topologically ordered
(``parent[i] < i`` for every non-root node), so a single forward pass visits
parents before children; the shrinkage kernel relies on that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ._bitsets import concatenated_bitsets
from ._numba import njit, prange
from ._threads import threads_for_rows

LEAF = -1


def _filled(n: int, value, dtype) -> np.ndarray:
    """``np.full(n, value, dtype)`` without its Python-level overhead (a booster makes several per tree)."""
    out = np.empty(n, dtype=dtype)
    out.fill(value)
    return out


@dataclass
class TreeArrays:
    """One tree as parallel node arrays.

    Attributes
    ----------
    parent, left, right : ndarray of int32
        Node links; ``-1`` marks "none" (the root's parent, a leaf's children).
    feature : ndarray of int32
        Split feature of internal nodes, ``-1`` for leaves.
    threshold : ndarray of float64
        Numeric splits send a row left when ``x <= threshold``.
    missing_left : ndarray of uint8
        Where rows whose feature is NaN go.
    is_categorical : ndarray of uint8
        1 when the split is a categorical set split (see ``cat_offset``).
    cat_offset : ndarray of int64
        For categorical splits, the start of the node's bitset in ``cat_bitset``
        (``-1`` otherwise); a level ``c`` goes left when its bit is set.
    cat_bitset : ndarray of uint32
        Concatenated bitsets of all categorical splits of the tree.
    present_offset : ndarray of int64
        For categorical splits that know which levels their growing rows had, the start of the node's
        *present set* in ``present_bitset`` (``-1``: no present set, every level follows ``cat_bitset`` and
        NaN the missing side, the rule of models grown before present sets and of foreign trees).  A row
        whose level is absent from the set **blends**: it goes down both children, weighted by
        ``absent_left_share`` (see :func:`categorical_route`).
    present_bitset : ndarray of uint32
        Concatenated present sets: bit 0 of a set is NaN (the node's growing rows had a missing value), bit
        ``c + 1`` level ``c``.
    absent_left_share : ndarray of float64
        Share of a blended row that goes left: the left child's growing rows over both children's (by
        weight); unused (0.5) at nodes without a present set.
    raw_value : ndarray of float64, shape (n_nodes, n_outputs)
        The unpooled estimate of each node (Newton value or mean).
    value : ndarray of float64, shape (n_nodes, n_outputs)
        The pooled value used for prediction.
    pooling_factor : ndarray of float64
        ``f`` in ``value[c] = value[p] + f * (raw[c] - raw[p])``; 1 at the root.
    weight : ndarray of float64
        Information mass of each node: hessian sum (booster) or weighted count.
    count : ndarray of float64
        Weighted number of training rows in the node.
    gain : ndarray of float64
        Loss reduction of the node's split (0 for leaves).
    """

    parent: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    raw_value: np.ndarray
    value: np.ndarray
    pooling_factor: np.ndarray
    weight: np.ndarray
    count: np.ndarray
    gain: np.ndarray
    is_categorical: np.ndarray = field(default=None)
    cat_offset: np.ndarray = field(default=None)
    cat_bitset: np.ndarray = field(default=None)
    present_offset: np.ndarray = field(default=None)
    present_bitset: np.ndarray = field(default=None)
    absent_left_share: np.ndarray = field(default=None)

    def __post_init__(self):
        n = len(self.parent)
        if self.is_categorical is None:
            self.is_categorical = np.zeros(n, dtype=np.uint8)
        if self.cat_offset is None:
            self.cat_offset = _filled(n, -1, np.int64)
        if self.cat_bitset is None:
            self.cat_bitset = np.zeros(0, dtype=np.uint32)
        if self.present_offset is None:
            self.present_offset = _filled(n, -1, np.int64)
        if self.present_bitset is None:
            self.present_bitset = np.zeros(0, dtype=np.uint32)
        if self.absent_left_share is None:
            self.absent_left_share = _filled(n, 0.5, np.float64)
        if self.raw_value.ndim == 1:
            self.raw_value = self.raw_value.reshape(-1, 1)
        if self.value.ndim == 1:
            self.value = self.value.reshape(-1, 1)

    @property
    def n_nodes(self) -> int:
        return len(self.parent)

    @property
    def is_leaf(self) -> np.ndarray:
        return self.left == LEAF

    @property
    def n_leaves(self) -> int:
        return int(np.sum(self.left == LEAF))

    def depth(self) -> np.ndarray:
        """Depth of every node (the root has depth 0)."""
        depth = np.zeros(self.n_nodes, dtype=np.int32)
        for node in range(1, self.n_nodes):
            depth[node] = depth[self.parent[node]] + 1
        return depth

    def copy(self) -> TreeArrays:
        return TreeArrays(**{f.name: np.array(getattr(self, f.name), copy=True) for f in fields(self)})

    def present_set(self, node: int) -> tuple[tuple[int, ...], bool] | None:
        """The present set of ``node``: the level codes its growing rows had and whether they had NaN.

        ``None`` for a node without one (numeric splits, leaves, trees grown before present sets).  A set
        runs from its offset to the next set's (or the end of ``present_bitset``).
        """
        start = int(self.present_offset[node])
        if start < 0:
            return None
        later = self.present_offset[self.present_offset > start]
        stop = int(later.min()) if len(later) else len(self.present_bitset)
        bits = np.unpackbits(self.present_bitset[start:stop].astype("<u4").view(np.uint8), bitorder="little")
        present = np.flatnonzero(bits)
        return tuple(int(code) for code in present[present > 0] - 1), bool(bits[0]) if len(bits) else False

    def to_frame(self):
        """The node table as a pandas DataFrame: structure, raw and pooled values, pooling factors.

        At categorical nodes with a present set, ``present_levels`` (the level codes the node's growing
        rows had), ``present_missing`` (whether they had NaN) and ``absent_left_share`` (the share of a
        row whose level is absent that goes left: such a row goes down both children); ``None``, ``None``
        and NaN at every other node.
        """
        import pandas as pd

        data = {
            "parent": self.parent,
            "left": self.left,
            "right": self.right,
            "depth": self.depth(),
            "feature": self.feature,
            "threshold": np.where(self.left == LEAF, np.nan, self.threshold),
            "is_leaf": self.is_leaf,
            "count": self.count,
            "weight": self.weight,
            "gain": self.gain,
            "pooling_factor": self.pooling_factor,
        }
        present = [self.present_set(node) for node in range(self.n_nodes)]
        data["present_levels"] = pd.Series([None if p is None else p[0] for p in present], dtype=object)
        data["present_missing"] = pd.Series([None if p is None else p[1] for p in present], dtype=object)
        data["absent_left_share"] = np.where(self.present_offset >= 0, self.absent_left_share, np.nan)
        n_outputs = self.value.shape[1]
        for k in range(n_outputs):
            suffix = "" if n_outputs == 1 else f"_{k}"
            data["raw_value" + suffix] = self.raw_value[:, k]
            data["value" + suffix] = self.value[:, k]
        return pd.DataFrame(data)

    def validate(self, n_features: int | None = None, n_outputs: int | None = None) -> None:
        """Check every invariant that the numba kernels assume; raise ``ValueError`` if one fails.

        The prediction kernels index node, feature and bitset arrays without bounds checks, so a tree
        read from a file or an unpickled model must pass this check before any kernel sees it.

        Parameters
        ----------
        n_features : int, optional
            Number of input columns; split features must index one of them.
        n_outputs : int, optional
            Number of value columns the tree must have.
        """
        n = len(self.parent) if isinstance(self.parent, np.ndarray) else -1
        if n <= 0:
            raise ValueError("A tree needs at least one node.")
        integer = ("parent", "left", "right", "feature", "missing_left", "is_categorical", "cat_offset", "cat_bitset",
                   "present_offset", "present_bitset")
        for f in fields(self):
            array = getattr(self, f.name)
            if not isinstance(array, np.ndarray):
                raise ValueError(f"Tree array {f.name!r} is not an array ({type(array).__name__}).")
            wanted_kind = "iu" if f.name in integer else "f"
            if array.dtype.kind not in wanted_kind:
                raise ValueError(f"Tree array {f.name!r} has dtype {array.dtype}, expected "
                                 f"{'integers' if f.name in integer else 'floats'}.")
            if f.name in ("cat_bitset", "present_bitset"):
                if array.ndim != 1:
                    raise ValueError(f"Tree array {f.name!r} must be one-dimensional.")
            elif f.name in ("raw_value", "value"):
                if array.ndim != 2 or array.shape[0] != n or array.shape[1] < 1:
                    raise ValueError(f"Tree array {f.name!r} has shape {array.shape}, expected ({n}, n_outputs).")
                if n_outputs is not None and array.shape[1] != n_outputs:
                    raise ValueError(f"Tree array {f.name!r} has {array.shape[1]} outputs, expected {n_outputs}.")
            elif array.shape != (n,):
                raise ValueError(f"Tree array {f.name!r} has shape {array.shape}, expected ({n},).")
        if self.parent[0] != -1:
            raise ValueError("Node 0 must be the root.")
        internal = self.left != LEAF
        if np.any(self.right[internal] == LEAF) or np.any(self.right[~internal] != LEAF):
            raise ValueError("Every internal node needs two children and leaves none.")
        kids = np.concatenate([self.left[internal], self.right[internal]])
        if np.any(kids < 0) or np.any(kids >= n):
            raise ValueError("Child index out of range.")
        nodes = np.flatnonzero(internal)
        for children in (self.left[internal], self.right[internal]):
            if np.any(children <= nodes) or np.any(self.parent[children] != nodes):
                raise ValueError("Nodes must be in topological order with consistent parent links.")
        # Each non-root node is exactly one internal node's child (no node reached twice, none orphaned).
        if len(kids) != n - 1 or len(np.unique(kids)) != n - 1:
            raise ValueError("Every node but the root must be the child of exactly one internal node.")
        feature = self.feature[internal]
        if np.any(feature < 0) or (n_features is not None and np.any(feature >= n_features)):
            raise ValueError(f"Split feature index out of range (the model has {n_features} features).")
        categorical = internal & (self.is_categorical != 0)
        offsets = self.cat_offset[categorical]
        if np.any(offsets < 0) or np.any(offsets >= max(len(self.cat_bitset), 1)):
            raise ValueError("Categorical split bitset offset out of range.")
        if np.any(np.isnan(self.threshold[internal & ~categorical])):
            raise ValueError("A numeric split has a NaN threshold.")
        with_present = self.present_offset >= 0
        if np.any(with_present & ~categorical):
            raise ValueError("Only categorical splits can have a present set (present_offset).")
        if np.any(self.present_offset[with_present] >= len(self.present_bitset)):
            raise ValueError("Present set offset out of range.")
        if np.any(self.present_offset < -1):
            raise ValueError("Present set offset out of range.")
        share = self.absent_left_share[with_present]
        if not np.all((share >= 0.0) & (share <= 1.0)):  # NaN fails too
            raise ValueError("absent_left_share must lie in [0, 1] at nodes with a present set.")


# The arrays of a tree's present sets: digested only in models that have one (see :func:`digest_arrays`).
PRESENT_SET_FIELDS = ("present_offset", "present_bitset", "absent_left_share")


def has_present_sets(trees) -> bool:
    """Whether any of ``trees`` (TreeArrays) has a categorical node with a present set."""
    return any(bool(np.any(np.asarray(tree.present_offset) >= 0)) for tree in trees)


def digest_arrays(tree: TreeArrays, with_present_sets: bool) -> list:
    """A tree's arrays, in field order, for the digest of a model's prediction state.

    The present-set arrays are left out unless ``with_present_sets`` (pass :func:`has_present_sets` of the
    model's trees): models without present sets keep the digests they had before present sets existed.
    """
    return [getattr(tree, f.name) for f in fields(tree) if with_present_sets or f.name not in PRESENT_SET_FIELDS]


ROW_BLOCK = 64  # rows walked through each tree before the next tree (a multiple of 4): its nodes stay in L1

# Bits of ``FlatForest.walk_flags``: a numeric node without either bit needs nothing but ``x <= threshold``.
MISSING_LEFT_FLAG = 1
CATEGORICAL_FLAG = 2


@dataclass
class FlatForest:
    """All trees of a model concatenated, for fast prediction in one kernel.

    Besides the node arrays, prediction uses a compact copy of them (the ``walk_*`` arrays, built
    from the others): unsigned 32-bit links and features, a leaf being its own left and right child
    (``walk_left[node] == node`` marks a leaf), and one byte of flags per node, so that a numeric
    split costs one comparison without a branch.  Rows are walked in blocks of ``ROW_BLOCK`` through
    one tree after another, so each tree's nodes stay in cache for the whole block.

    The walk arrays hold one node more than the forest, the *parking leaf* (the last one): a row that
    blends at a categorical node (:func:`categorical_route`) parks there, so that the rows walked with
    it go on, and is finished by a walk over both children of the node where it blended.
    """

    tree_start: np.ndarray  # int64, node offset of each tree
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    is_categorical: np.ndarray
    cat_offset: np.ndarray
    cat_bitset: np.ndarray
    value: np.ndarray  # (n_nodes_total, n_outputs)
    present_offset: np.ndarray = field(default=None)  # int64, into present_bitset (-1: no present set)
    present_bitset: np.ndarray = field(default=None)  # uint32, every tree's present sets
    absent_left_share: np.ndarray = field(default=None)  # float64, share of a blended row sent left
    walk_left: np.ndarray = field(default=None)
    walk_right: np.ndarray = field(default=None)
    walk_feature: np.ndarray = field(default=None)
    walk_threshold: np.ndarray = field(default=None)  # NaN at categorical nodes: ``x <= NaN`` is never true
    walk_flags: np.ndarray = field(default=None)  # MISSING_LEFT_FLAG | CATEGORICAL_FLAG
    walk_value: np.ndarray = field(default=None)  # value and a row of zeros for the parking leaf
    blend_stack_size: int = field(default=0)  # room the walk over both children needs (0: no row ever blends)
    # Per tree, where its words of cat_bitset and present_bitset end: a walk reads the bitsets up to there only,
    # so that a level code past a tree's own words counts as missing there as in the tree alone (not another
    # tree's bits).  Without them (a forest built by hand) every tree reads to the arrays' ends.
    tree_cat_stop: np.ndarray = field(default=None)
    tree_present_stop: np.ndarray = field(default=None)

    def __post_init__(self):
        n_nodes = len(self.left)
        if n_nodes >= np.iinfo(np.uint32).max:  # one id more: the parking leaf
            raise ValueError(f"A forest of {n_nodes:,} nodes is too large to predict with (32-bit node ids).")
        if self.present_offset is None:
            self.present_offset = np.full(n_nodes, -1, dtype=np.int64)
        if self.present_bitset is None:
            self.present_bitset = np.zeros(0, dtype=np.uint32)
        if self.absent_left_share is None:
            self.absent_left_share = np.full(n_nodes, 0.5)
        if self.tree_cat_stop is None:
            self.tree_cat_stop = np.full(len(self.tree_start), len(self.cat_bitset), dtype=np.int64)
        if self.tree_present_stop is None:
            self.tree_present_stop = np.full(len(self.tree_start), len(self.present_bitset), dtype=np.int64)
        leaf = self.left < 0
        own = np.arange(n_nodes + 1, dtype=np.uint32)
        park = np.ones(1, dtype=bool)
        self.walk_left = np.where(np.append(leaf, park), own, np.append(self.left, 0)).astype(np.uint32)
        self.walk_right = np.where(np.append(leaf, park), own, np.append(self.right, 0)).astype(np.uint32)
        self.walk_feature = np.append(np.where(leaf, 0, self.feature), 0).astype(np.uint32)
        categorical = ~leaf & (self.is_categorical != 0)
        self.walk_threshold = np.append(np.where(categorical, np.nan, np.where(leaf, 0.0, self.threshold)),
                                        0.0).astype(np.float64)
        self.walk_flags = np.append((~leaf & (self.missing_left != 0)) * MISSING_LEFT_FLAG
                                    + categorical * CATEGORICAL_FLAG, 0).astype(np.uint8)
        # A parked row adds 0 in the walk's loop (x + 0.0 is x: the sums never hold -0.0) and its blended value after.
        self.walk_value = np.ascontiguousarray(np.vstack([self.value, np.zeros((1, self.value.shape[1]))]))
        if np.any(self.present_offset >= 0):
            # The walk over both children keeps one pending node per level below a blend: a tree's size bounds it.
            self.blend_stack_size = int(np.max(np.diff(np.append(self.tree_start, n_nodes))))

    @classmethod
    def from_trees(cls, trees: list[TreeArrays]) -> FlatForest:
        sizes = np.array([t.n_nodes for t in trees], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

        node_tree = np.repeat(np.arange(len(trees)), sizes)  # the tree of every node

        def shifted(name, offset_of):
            # Node links of every tree moved past the trees before it (-1 stays -1).
            arr = np.concatenate([getattr(t, name) for t in trees]).astype(np.int64)
            return np.where(arr >= 0, arr + offset_of[node_tree], arr)

        cat_offset, cat_bitset, tree_cat_stop = concatenated_bitsets(trees, "cat_offset", "cat_bitset")
        present_offset, present_bitset, tree_present_stop = concatenated_bitsets(trees, "present_offset",
                                                                                 "present_bitset")
        return cls(
            tree_start=starts,
            left=shifted("left", starts),
            right=shifted("right", starts),
            feature=np.concatenate([t.feature for t in trees]).astype(np.int64),
            threshold=np.concatenate([t.threshold for t in trees]).astype(np.float64),
            missing_left=np.concatenate([t.missing_left for t in trees]).astype(np.uint8),
            is_categorical=np.concatenate([t.is_categorical for t in trees]).astype(np.uint8),
            cat_offset=cat_offset,
            cat_bitset=cat_bitset,
            value=np.ascontiguousarray(np.concatenate([t.value for t in trees]).astype(np.float64)),
            present_offset=present_offset,
            present_bitset=present_bitset,
            absent_left_share=np.concatenate([t.absent_left_share for t in trees]).astype(np.float64),
            tree_cat_stop=tree_cat_stop,
            tree_present_stop=tree_present_stop,
        )

    def _walk_arrays(self) -> tuple:
        return (self.tree_start, self.walk_left, self.walk_right, self.walk_feature, self.walk_threshold,
                self.walk_flags, self.missing_left, self.cat_offset, self.cat_bitset, self.tree_cat_stop,
                self.present_offset, self.present_bitset, self.tree_present_stop)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Leaf node id (local to each tree) for every row and tree.

        A row that blends in a tree (a level absent from a categorical node's present set, see
        :func:`categorical_route`) reaches no single leaf: its entry is the node where it first blends.
        ``X`` is a C-ordered float64 or float32 matrix (float32 values compare exactly as float64).
        """
        with threads_for_rows(X.shape[0]):
            return _apply_forest(X, *self._walk_arrays())

    def predict_sum(self, X: np.ndarray, tree_output: np.ndarray, n_outputs: int) -> np.ndarray:
        """Sum of tree values per row; tree ``t`` adds its value into column ``tree_output[t]``.

        Trees with a multi-column ``value`` (post-hoc classifiers) use ``tree_output[t] == -1``
        and add all columns.  A row that blends in a tree adds that tree's share-weighted sum of the
        leaves it reaches.  Each row's values are added in tree order whatever the thread count.
        ``X`` is a C-ordered float64 or float32 matrix (float32 values compare exactly as float64).
        """
        out = np.zeros((X.shape[0], n_outputs), dtype=np.float64)
        with threads_for_rows(X.shape[0]):
            _predict_forest(X, *self._walk_arrays(), self.absent_left_share, self.walk_value,
                            tree_output.astype(np.int64), self.blend_stack_size, out)
        return out


# Outcomes of :func:`categorical_route`.
GO_RIGHT = 0
GO_LEFT = 1
BLEND = 2


@njit(cache=True, inline="always")
def categorical_route(missing, code, node, missing_left, cat_offset, cat_bitset, present_offset, present_bitset):
    """Where a row goes at categorical node ``node``: ``GO_LEFT``, ``GO_RIGHT`` or ``BLEND``.

    The one rule every walk of a tree applies (prediction, training predictions, held-out rows,
    contributions, the distributed booster).  ``missing`` is True for NaN (every level unseen at fit
    arrives as NaN); otherwise ``code`` is the level.  A code outside the split's bitset counts as missing.
    At a node with a present set (``present_offset[node] >= 0``) a level, or NaN, that the node's growing
    rows did not have blends: the row goes down both children, ``absent_left_share[node]`` of it left (a
    multilevel model's population value for a group it has not seen, taken over the node's levels).
    Without a present set, NaN follows the missing side.

    A present set has at least one word more than the split's bitset, so every code the split's bitset
    covers reads a bit of the node's own set.

    Without a branch on the row's level (selects, and loads at a valid word whatever the code): a row's
    side is a coin flip for the branch predictor, and the branches cost the row-partitioning loops of the
    grower 10 to 20 times the time of the branch-free form.  The only branch, on whether the node has a
    present set, is the same for every row at a node.
    """
    first = cat_offset[node]
    word = first + (code >> 5)
    is_missing = np.int64(missing | (code < 0) | (word >= cat_bitset.shape[0]))  # 1 or 0
    # Where the code is missing, read the node's first word (valid) and ignore it.
    split_bit = np.int64((cat_bitset[first + (word - first) * (1 - is_missing)] >> np.uint32(code & 31))
                         & np.uint32(1))
    goes_left = is_missing * np.int64(missing_left[node] == 1) + (1 - is_missing) * split_bit
    route = goes_left * GO_LEFT + (1 - goes_left) * GO_RIGHT
    start = present_offset[node]
    if start >= 0:
        bit = (code + 1) * (1 - is_missing)
        present_word = start + (bit >> 5)
        in_set = np.int64(present_word < present_bitset.shape[0])
        present_bit = np.int64((present_bitset[start + (present_word - start) * in_set] >> np.uint32(bit & 31))
                               & np.uint32(1))
        present = in_set * present_bit
        route = present * route + (1 - present) * BLEND
    return route


@njit(cache=True, inline="always")
def _goes_left(x, node, threshold, missing_left, is_categorical, cat_offset, cat_bitset):
    if np.isnan(x):
        return missing_left[node] == 1
    if is_categorical[node]:
        code = np.int64(x)
        word = cat_offset[node] + (code >> 5)
        if code < 0 or word >= cat_bitset.shape[0]:
            return missing_left[node] == 1
        return (cat_bitset[word] >> np.uint32(code & 31)) & np.uint32(1) == 1
    return x <= threshold[node]


@njit(cache=True)
def _find_leaf(X, row, root, left, right, feature, threshold, missing_left, is_categorical, cat_offset, cat_bitset):
    node = root
    while left[node] >= 0:
        if _goes_left(X[row, feature[node]], node, threshold, missing_left, is_categorical, cat_offset, cat_bitset):
            node = left[node]
        else:
            node = right[node]
    return node


@njit(cache=True, inline="always")
def _walk_goes_left_numeric(x, node, threshold, flags):
    """``x <= threshold`` with NaN to the missing side, without a branch (and never true at a categorical node,
    whose walk threshold is NaN)."""
    return (x <= threshold[node]) | ((x != x) & ((flags[node] & MISSING_LEFT_FLAG) != 0))


@njit(cache=True, inline="always")
def _walk_route(x, node, threshold, flags, missing_left, cat_offset, cat_bitset, present_offset, present_bitset):
    """:func:`categorical_route` of value ``x`` at ``node`` of the ``walk_*`` arrays, numeric nodes included."""
    if flags[node] & CATEGORICAL_FLAG:
        missing = np.isnan(x)
        code = np.int64(0) if missing else np.int64(x)
        return categorical_route(missing, code, node, missing_left, cat_offset, cat_bitset, present_offset,
                                 present_bitset)
    return GO_LEFT if _walk_goes_left_numeric(x, node, threshold, flags) else GO_RIGHT


@njit(cache=True, inline="always")
def _walk_direction(x, node, threshold, flags, missing_left, cat_offset, cat_bitset, present_offset, present_bitset):
    """:func:`_walk_route` with the numeric test first: a numeric node costs one comparison without a branch."""
    route = GO_LEFT if _walk_goes_left_numeric(x, node, threshold, flags) else GO_RIGHT
    if flags[node] & CATEGORICAL_FLAG:
        route = _walk_route(x, node, threshold, flags, missing_left, cat_offset, cat_bitset, present_offset,
                            present_bitset)
    return route


# Inlined on purpose: called once per block of rows per tree, a call that is not inlined (arguments
# boxed into a struct, no hoisting across trees) made 1,000,000-row prediction 2.2x slower
# (python benchmarks/speed.py --predict --repeats 2: 1.25x LightGBM against 0.55-0.58x).  The four
# directions are found before any lane moves and one test per pass looks for a blend: a step function
# returning each lane's next node, with the blend inside it, made the walk 1.3-2x slower.
@njit(cache=True, inline="always")
def _walk_block(X, first, size, root, left, right, feature, threshold, flags, missing_left, cat_offset, cat_bitset,
                present_offset, present_bitset, nodes, blended_at):
    """``nodes[r]`` = the leaf of row ``first + r`` (``r < size``) in the tree rooted at ``root``; returns
    whether any of the rows blended.

    Four rows go down together, each a step per pass, until all four are at leaves (a leaf is its
    own child): four independent chains of loads instead of one keep the core busy.  Past the last
    row of ``X`` the group repeats that row (``nodes`` has room for whole groups).  Node ids and
    features are unsigned, so that numba adds no negative-index wraparound to the loads.  A row that
    blends (:func:`categorical_route`) moves to the parking leaf (``left.shape[0] - 1``, its own child)
    and ``blended_at[r]`` records the node where it blended.
    """
    last = X.shape[0] - 1
    park = np.uint32(left.shape[0] - 1)
    any_blended = False
    for r in range(0, size, 4):
        row_a = np.uint64(first + r)
        row_b = np.uint64(min(first + r + 1, last))
        row_c = np.uint64(min(first + r + 2, last))
        row_d = np.uint64(min(first + r + 3, last))
        a = np.uint32(root)
        b = np.uint32(root)
        c = np.uint32(root)
        d = np.uint32(root)
        while left[a] != a or left[b] != b or left[c] != c or left[d] != d:
            go_a = _walk_direction(X[row_a, feature[a]], a, threshold, flags, missing_left, cat_offset, cat_bitset,
                                   present_offset, present_bitset)
            go_b = _walk_direction(X[row_b, feature[b]], b, threshold, flags, missing_left, cat_offset, cat_bitset,
                                   present_offset, present_bitset)
            go_c = _walk_direction(X[row_c, feature[c]], c, threshold, flags, missing_left, cat_offset, cat_bitset,
                                   present_offset, present_bitset)
            go_d = _walk_direction(X[row_d, feature[d]], d, threshold, flags, missing_left, cat_offset, cat_bitset,
                                   present_offset, present_bitset)
            if (go_a | go_b | go_c | go_d) & BLEND:  # rare: park the lanes that blend (the park is its own child)
                if go_a == BLEND:
                    blended_at[r] = a
                    a = park
                if go_b == BLEND:
                    blended_at[r + 1] = b
                    b = park
                if go_c == BLEND:
                    blended_at[r + 2] = c
                    c = park
                if go_d == BLEND:
                    blended_at[r + 3] = d
                    d = park
                any_blended = True
            a = left[a] if go_a == GO_LEFT else right[a]
            b = left[b] if go_b == GO_LEFT else right[b]
            c = left[c] if go_c == GO_LEFT else right[c]
            d = left[d] if go_d == GO_LEFT else right[d]
        nodes[r] = a
        nodes[r + 1] = b
        nodes[r + 2] = c
        nodes[r + 3] = d
    return any_blended


@njit(cache=True)
def _blended_value(X, row, start, left, right, feature, threshold, flags, missing_left, cat_offset, cat_bitset,
                   present_offset, present_bitset, absent_left_share, value, col, stack_nodes, stack_shares, sums):
    """Value of a row that blends at ``start``: the share-weighted sum of the leaves it reaches below it.

    A walk over both children of every node where the row blends (``absent_left_share[node]`` of it
    left), through an explicit stack of pending nodes and their shares, left before right.  Column
    ``col`` of ``value`` goes to ``sums[0]``; ``col == -1`` sums every column.
    """
    sums[:] = 0.0
    stack_nodes[0] = start
    stack_shares[0] = 1.0
    pending = 1
    while pending > 0:
        pending -= 1
        node = stack_nodes[pending]
        share = stack_shares[pending]
        while left[node] != node:
            route = _walk_route(X[row, feature[node]], node, threshold, flags, missing_left, cat_offset, cat_bitset,
                                present_offset, present_bitset)
            if route == BLEND:
                to_left = absent_left_share[node]
                stack_nodes[pending] = right[node]
                stack_shares[pending] = share * (1.0 - to_left)
                pending += 1
                share = share * to_left
                node = left[node]
            else:
                node = left[node] if route == GO_LEFT else right[node]
        if col >= 0:
            sums[0] += share * value[node, 0]
        else:
            for k in range(value.shape[1]):
                sums[k] += share * value[node, k]


@njit(parallel=True, cache=True)
def _apply_forest(X, tree_start, left, right, feature, threshold, flags, missing_left, cat_offset, cat_bitset,
                  tree_cat_stop, present_offset, present_bitset, tree_present_stop):
    n_rows = X.shape[0]
    n_trees = tree_start.shape[0]
    park = np.uint32(left.shape[0] - 1)
    out = np.empty((n_rows, n_trees), dtype=np.int64)
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        size = min(ROW_BLOCK, n_rows - first)
        nodes = np.empty(ROW_BLOCK, dtype=np.uint32)
        blended_at = np.empty(ROW_BLOCK, dtype=np.uint32)
        for t in range(n_trees):
            _walk_block(X, first, size, tree_start[t], left, right, feature, threshold, flags, missing_left,
                        cat_offset, cat_bitset[:tree_cat_stop[t]], present_offset,
                        present_bitset[:tree_present_stop[t]], nodes, blended_at)
            for r in range(size):
                node = blended_at[r] if nodes[r] == park else nodes[r]
                out[first + r, t] = np.int64(node) - tree_start[t]
    return out


@njit(parallel=True, cache=True)
def _predict_forest(X, tree_start, left, right, feature, threshold, flags, missing_left, cat_offset, cat_bitset,
                    tree_cat_stop, present_offset, present_bitset, tree_present_stop, absent_left_share, value,
                    tree_output, blend_stack_size, out):
    n_rows = X.shape[0]
    n_trees = tree_start.shape[0]
    n_cols = value.shape[1]
    park = np.uint32(left.shape[0] - 1)
    for block in prange((n_rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        size = min(ROW_BLOCK, n_rows - first)
        nodes = np.empty(ROW_BLOCK, dtype=np.uint32)
        blended_at = np.empty(ROW_BLOCK, dtype=np.uint32)
        stack_nodes = np.empty(blend_stack_size, dtype=np.uint32)
        stack_shares = np.empty(blend_stack_size, dtype=np.float64)
        sums = np.empty(n_cols, dtype=np.float64)
        for t in range(n_trees):
            tree_cat_bitset = cat_bitset[:tree_cat_stop[t]]
            tree_present_bitset = present_bitset[:tree_present_stop[t]]
            blended = _walk_block(X, first, size, tree_start[t], left, right, feature, threshold, flags,
                                  missing_left, cat_offset, tree_cat_bitset, present_offset, tree_present_bitset,
                                  nodes, blended_at)
            col = tree_output[t]
            if col >= 0:
                for r in range(size):
                    out[first + r, col] += value[nodes[r], 0]
            else:
                for r in range(size):
                    for k in range(n_cols):
                        out[first + r, k] += value[nodes[r], k]
            if blended:  # rare: the rows at the parking leaf added 0; add their values over both children
                for r in range(size):
                    if nodes[r] == park:
                        _blended_value(X, first + r, blended_at[r], left, right, feature, threshold, flags,
                                       missing_left, cat_offset, tree_cat_bitset, present_offset, tree_present_bitset,
                                       absent_left_share, value, col, stack_nodes, stack_shares, sums)
                        if col >= 0:
                            out[first + r, col] += sums[0]
                        else:
                            for k in range(n_cols):
                                out[first + r, k] += sums[k]
