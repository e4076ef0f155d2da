"""The common form every adapter turns a fitted model into."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._tree import LEAF, TreeArrays
from .node_stats import NodeStats

LINKS = ("identity", "log", "logistic", "exp_logistic", "softmax", "proba")
LOSSES = ("squared_error", "binomial", "multinomial", "poisson")


@dataclass
class ParsedModel:
    """A fitted tree model as flat node arrays plus what is needed to predict and to estimate pooling.

    Attributes
    ----------
    trees : list of TreeArrays
        ``raw_value`` holds the model's own node values on the prediction scale (learning rate
        included); for boosted trees internal nodes hold the mass-weighted mean of their leaves.
        ``weight`` is the stored information mass of each node and ``count`` its stored
        (weighted) number of rows, the ``N`` of Hierarchical Shrinkage.
    kind : {"forest", "boosted"}
    tree_output : ndarray of int64
        Prediction column each tree adds to; ``-1`` when a tree's values hold all columns.
    n_outputs : int
        Columns of the raw prediction.
    aggregate : {"mean", "sum"}
        Forests average their trees, boosted models add them to ``init``.
    init : ndarray of shape (n_outputs,)
    link : str
        Maps the raw prediction to ``predict``/``predict_proba`` (see ``LINKS``).
    loss : str or None
        Loss whose gradients replay a boosted model's fit (``LOSSES``); ``None`` for forests and for
        boosted models whose loss cannot be replayed.
    integers_as_float32 : bool
        The library reads a numeric array (or list) of integers as float32 before anything else
        (LightGBM): integers beyond ``2**24`` round.  See :meth:`read`.
    objective : str or None
        The boosted model's loss or objective as its library names it (``"huber"``, ``"reg:squarederror"``).
    replay_objectives : tuple of str
        The losses / objectives of the model's library whose fits ``"eb"`` replays (for error messages).
    trees_per_stage : int
        Boosted models: trees grown per iteration (one per class for multiclass).
    classes : ndarray or None
    n_features_in : int
    float32_input : bool
        The library compares features as float32 (scikit-learn trees, XGBoost).
    stored_stats : list of NodeStats, callable or None
        Node statistics read from the model itself (forests of scikit-learn trees); a callable
        computes them on demand and returns ``None`` when the model stores none usable.
    split_features : ndarray
        Per tree, the number of features searched at each split.
    split_thresholds : list of ndarray, or callable
        Per tree and node, the number of candidate thresholds per searched feature (a callable
        ``split_thresholds(t)`` computes them on demand; see :meth:`thresholds`).
    in_bag : callable or None
        ``in_bag(t, n_rows)`` gives tree ``t``'s bootstrap count of every training row.
    source : str
        Class name of the original model.
    input_map : callable or None
        Maps the user's ``X`` (a DataFrame with categorical columns included) to the float matrix the
        trees route on, validating it (see ``inputs.py``); ``None``: ``X`` is validated as a float array.
    design_effect : float
        Variance inflation of node means from bootstrap multiplicities (``1 + n_boot/n``): a node mean
        over Poisson-repeated rows varies that much more than over as many distinct rows.
    route : callable or None
        Maps the validated float64 matrix (after float32 rounding) to the values the node arrays
        compare, where the library's own rules differ from ``x <= threshold`` and NaN by
        ``missing_left`` (LightGBM: near-zero values, zero as missing, integer categories); returns
        a new array.  ``None``: the matrix is compared as it is.
    """

    trees: list[TreeArrays]
    kind: str
    tree_output: np.ndarray
    n_outputs: int
    aggregate: str
    init: np.ndarray
    link: str
    loss: str | None
    trees_per_stage: int
    classes: np.ndarray | None
    n_features_in: int
    float32_input: bool
    split_features: np.ndarray
    split_thresholds: list[np.ndarray] | Callable[[int], np.ndarray]
    source: str
    stored_stats: list[NodeStats] | Callable[[], list[NodeStats] | None] | None = None
    in_bag: Callable[[int, int], np.ndarray] | None = None
    feature_names_in: np.ndarray | None = None
    counts_are_rows: bool = True
    design_effect: float = 1.0
    route: Callable[[np.ndarray], np.ndarray] | None = None
    integers_as_float32: bool = False
    objective: str | None = None
    replay_objectives: tuple[str, ...] = ()
    input_map: Callable[[object], np.ndarray] | None = None

    def thresholds(self, t: int) -> np.ndarray:
        """Candidate thresholds per feature at every node of tree ``t``."""
        st = self.split_thresholds
        return st(t) if callable(st) else st[t]

    def node_stats(self) -> list[NodeStats] | None:
        """Stored node statistics of every tree, or ``None``."""
        if callable(self.stored_stats):
            self.stored_stats = self.stored_stats()
        return self.stored_stats

    def for_prediction(self) -> ParsedModel:
        """A copy with only what prediction needs (no node statistics, no helpers holding the original model)."""
        return dataclasses.replace(self, stored_stats=None, in_bag=None,
                                   split_thresholds=None if callable(self.split_thresholds) else self.split_thresholds)

    def release(self) -> None:
        """Drop the on-demand helpers, which hold the original model, once pooling is done."""
        if callable(self.stored_stats):
            self.stored_stats = None
        if callable(self.split_thresholds):
            self.split_thresholds = None

    def read(self, X):
        """``X`` as the library reads the user's input, before validation: an integer array or list
        becomes float32 where the library casts it so (DataFrames and float arrays are left alone)."""
        if self.integers_as_float32 and isinstance(X, np.ndarray | list):
            array = np.asarray(X)
            if array.dtype.kind in "iu":
                return array.astype(np.float32)
        return X

    def prepare_X(self, X: np.ndarray) -> np.ndarray:
        """Validated float64 ``X`` as the trees compare it.

        Features are rounded to float32 where the library compares float32, then mapped by ``route``.
        """
        if self.float32_input:
            X = X.astype(np.float32).astype(np.float64)
        if self.route is not None:
            X = self.route(X)
        return np.ascontiguousarray(X)
    notes: list[str] = field(default_factory=list)


def boosted_objective(objectives: dict, name: str, library: str, kind: str = "objective") -> tuple[str, str | None]:
    """``(link, loss for replaying the fit)`` of a boosted model's loss; a clear error for one not supported."""
    if name not in objectives:
        raise ValueError(f"shrink does not support the {library} {kind} {name!r}; supported: "
                         f"{sorted(objectives)}.")
    return objectives[name]


def replayable(objectives: dict) -> tuple[str, ...]:
    """The objectives of a ``boosted_objective`` table whose fits ``"eb"`` replays."""
    return tuple(sorted(name for name, (_, loss) in objectives.items() if loss is not None))


def wrapper_labels(estimator, link: str, n_outputs: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(classes, feature names)`` of the scikit-learn wrapper around a booster (``None`` for a bare
    booster): a classifier without a wrapper gets its class indices as labels."""
    classes = None
    if link in ("logistic", "softmax"):
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            classes = np.arange(2 if n_outputs == 1 else n_outputs)
    names = getattr(estimator, "feature_names_in_", None)
    return classes, None if names is None else np.asarray(names, dtype=object)


def parent_of(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Parent of every node from child links (``-1`` for the root)."""
    n = len(left)
    parent = np.full(n, -1, dtype=np.int32)
    internal = np.flatnonzero(left >= 0)
    parent[left[internal]] = internal
    parent[right[internal]] = internal
    return parent


def build_tree(left, right, feature, threshold, missing_left, raw_value, weight, count, gain=None,
               is_categorical=None, cat_offset=None, cat_bitset=None) -> TreeArrays:
    """TreeArrays from child-linked node arrays, renumbered into topological (breadth-first) order if needed."""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    n = len(left)
    internal = left >= 0
    order = None
    if np.any(internal) and (np.any(left[internal] <= np.flatnonzero(internal)) or
                             np.any(right[internal] <= np.flatnonzero(internal))):
        order = [0]
        head = 0
        while head < len(order):
            node = order[head]
            head += 1
            if left[node] >= 0:
                order.extend((int(left[node]), int(right[node])))
        order = np.array(order, dtype=np.int64)
        if len(order) != n:
            raise ValueError("The tree's child links do not form a single tree.")
    raw_value = np.array(raw_value, dtype=np.float64, copy=True).reshape(n, -1)
    arrays = {
        "feature": np.where(internal, feature, LEAF).astype(np.int32),
        "threshold": np.where(internal, threshold, 0.0).astype(np.float64),
        "missing_left": np.asarray(missing_left).astype(np.uint8),
        "raw_value": raw_value,
        "weight": np.array(weight, dtype=np.float64, copy=True),
        "count": np.array(count, dtype=np.float64, copy=True),
        "gain": np.zeros(n) if gain is None else np.asarray(gain, dtype=np.float64),
        "is_categorical": np.zeros(n, np.uint8) if is_categorical is None else np.asarray(is_categorical, np.uint8),
        "cat_offset": np.full(n, -1, np.int64) if cat_offset is None else np.asarray(cat_offset, np.int64),
    }
    if order is not None:
        new_id = np.empty(n, dtype=np.int64)
        new_id[order] = np.arange(n)
        arrays = {k: v[order] for k, v in arrays.items()}
        left = np.where(internal, new_id[np.where(internal, left, 0)], LEAF)[order]
        right = np.where(internal, new_id[np.where(internal, right, 0)], LEAF)[order]
    left = np.where(left >= 0, left, LEAF).astype(np.int32)
    right = np.where(left >= 0, right, LEAF).astype(np.int32)
    tree = TreeArrays(
        parent=parent_of(left, right), left=left, right=right, feature=arrays["feature"],
        threshold=arrays["threshold"], missing_left=arrays["missing_left"], raw_value=arrays["raw_value"],
        value=arrays["raw_value"].copy(), pooling_factor=np.ones(n), weight=arrays["weight"],
        count=arrays["count"], gain=arrays["gain"], is_categorical=arrays["is_categorical"],
        cat_offset=arrays["cat_offset"],
        cat_bitset=np.zeros(0, np.uint32) if cat_bitset is None else np.asarray(cat_bitset, np.uint32),
    )
    return tree
