"""The common form every adapter turns a fitted model into."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from .._tree import LEAF, TreeArrays
from ..losses import LINKS, Loss, loss_for_name
from .node_stats import NodeStats


class ClassProportions:
    """Averaged class proportions (classifier forests): pooling can push a node a hair outside [0, 1],
    so they are clipped and renormalized.  Not a loss's link: forests have no loss."""

    name = "proportions"

    @staticmethod
    def inverse(raw: np.ndarray) -> np.ndarray:
        proba = np.clip(raw, 0.0, 1.0)
        total = proba.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, proba / total, 1.0 / proba.shape[1])


class ExponentialLink:
    """scikit-learn's exponential (AdaBoost) loss: ``P(y=1) = expit(2 raw)``.  shrinktree.losses has no
    such loss, so ``"eb"`` cannot replay it; this is only how such a model predicts."""

    name = "exp_logit"

    @staticmethod
    def inverse(raw: np.ndarray) -> np.ndarray:
        p = expit(raw[:, 0] * 2.0)
        return np.column_stack([1.0 - p, p])


#: The links a parsed model can name: every loss's link (``shrinktree.losses.LINKS``) and the two above.
MODEL_LINKS = {**LINKS, ClassProportions.name: ClassProportions(), ExponentialLink.name: ExponentialLink()}
#: Links whose predictions are class probabilities.
CLASSIFIER_LINKS = ("logit", "softmax", "exp_logit", "proportions")


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
        Name of the link (``MODEL_LINKS``) that maps the raw prediction to ``predict``/``predict_proba``:
        the loss's own link when there is a loss (checked), else the model's (forests, objectives
        without a loss in ``shrinktree.losses``).  See :attr:`link_function`.
    loss : str or None
        Name of the :mod:`shrinktree.losses` loss that the boosted model was fitted with (resolved once by
        ``loss_for_name(loss, **loss_params)`` into :attr:`loss_function`): its gradients and hessians
        replay the fit for ``"eb"`` and its link predicts.  ``None`` for forests and for objectives that
        have no such loss (``"eb"`` then refuses the model, naming its objective).
    loss_params : dict
        The loss's parameters (``Loss.parameters()``: a quantile, a Huber threshold, a Tweedie power,
        the number of classes), plain values only.
    learning_rate : float or None
        Boosted models whose loss renews its leaf values (absolute error, quantile): the factor the
        library multiplied each renewed leaf value by, so that ``"eb"`` renews the internal nodes alike.
    start_score : callable or None
        ``start_score(y, w, loss)``: the score the library started from and folded into the first
        iteration's trees instead of ``init`` (LightGBM's ``boost_from_average``), computed from the
        training rows for the replay.  Not kept for prediction.
    offset_supported : bool
        The model's own ``fit``/``predict`` take an ``offset`` added to the raw score (shrinktree's
        regressors): ``shrink`` and the shrunk model's ``predict`` then accept one too.
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
    split_signs : list of ndarray of int8, or None
        Per tree and node, the monotonic constraint of the node's split (1, -1, or 0), for models fitted
        with monotonic constraints (shrinktree boosters): pooling keeps those splits ordered, so the shrunk
        model stays monotone.  ``None``: no constraints.
    """

    trees: list[TreeArrays]
    kind: str
    tree_output: np.ndarray
    n_outputs: int
    aggregate: str
    init: np.ndarray
    link: str | None
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
    loss_params: dict = field(default_factory=dict)
    learning_rate: float | None = None
    start_score: Callable | None = None
    offset_supported: bool = False
    split_signs: list[np.ndarray] | None = None

    def __post_init__(self):
        # The loss is resolved once, here (also when a saved model is restored: a damaged name or
        # parameter is an error, not a different loss); its link is the model's link.
        if self.loss is None:
            self._loss = None
        else:
            if not isinstance(self.loss_params, dict):
                raise ValueError("The model's loss parameters are not a mapping.")
            self._loss = loss_for_name(self.loss, **self.loss_params)
            if self.link is None:
                self.link = self._loss.link.name
            elif self.link != self._loss.link.name:
                raise ValueError(f"The loss {self.loss!r} predicts through the {self._loss.link.name!r} link, "
                                 f"not {self.link!r}.")
        if self.link not in MODEL_LINKS:
            raise ValueError(f"Unknown link {self.link!r}.")

    @property
    def loss_function(self) -> Loss | None:
        """The :mod:`shrinktree.losses` loss of a boosted model (``None``: see ``loss``)."""
        return self._loss

    @property
    def link_function(self):
        """The link object: ``inverse(raw)`` gives ``predict`` (regressors) or ``predict_proba`` (classifiers)."""
        return MODEL_LINKS[self.link]

    @property
    def is_classifier(self) -> bool:
        return self.link in CLASSIFIER_LINKS

    def split_sign(self, t: int) -> np.ndarray | None:
        """Monotonic constraint of every split of tree ``t`` (``None``: unconstrained)."""
        return None if self.split_signs is None else self.split_signs[t]

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
        return dataclasses.replace(self, stored_stats=None, in_bag=None, start_score=None, split_signs=None,
                                   split_thresholds=None if callable(self.split_thresholds) else self.split_thresholds)

    def release(self) -> None:
        """Drop the on-demand helpers, which hold the original model, once pooling is done."""
        if callable(self.stored_stats):
            self.stored_stats = None
        if callable(self.split_thresholds):
            self.split_thresholds = None
        self.start_score = None

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


def boosted_objective(objectives: dict, name: str, library: str, kind: str = "objective",
                      **params) -> tuple[str | None, dict, str]:
    """``(loss, loss_params, link)`` of one of a library's boosted objectives, for ``ParsedModel``
    (the link is the loss's own when there is a loss).

    ``objectives`` maps each objective the adapter reads to the name of its :mod:`shrinktree.losses`
    loss, or to ``NoLoss(link)`` for one without such a loss (predicted through ``link``; ``"eb"``
    refuses it).  ``params`` are the loss's parameters read from the model.  An objective not in the
    table is a clear error that names it and lists the supported ones.
    """
    if name not in objectives:
        raise ValueError(f"shrink does not support the {library} {kind} {name!r}; supported: "
                         f"{sorted(objectives)}.")
    entry = objectives[name]
    if isinstance(entry, NoLoss):
        return None, {}, entry.link
    try:
        loss = loss_for_name(entry, **params)
    except ValueError as exc:
        raise ValueError(f"shrink cannot read the {library} {kind} {name!r} with {params}: {exc}") from None
    return loss.name, loss.parameters(), loss.link.name


@dataclass(frozen=True)
class NoLoss:
    """An objective without a loss in :mod:`shrinktree.losses`: read for ``"none"``/``"hs"`` only."""

    link: str = "identity"


def replayable(objectives: dict) -> tuple[str, ...]:
    """The objectives of a ``boosted_objective`` table whose fits ``"eb"`` replays."""
    return tuple(sorted(name for name, entry in objectives.items() if not isinstance(entry, NoLoss)))


def wrapper_labels(estimator, link: str, n_outputs: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(classes, feature names)`` of the scikit-learn wrapper around a booster (``None`` for a bare
    booster): a classifier without a wrapper gets its class indices as labels."""
    classes = None
    if link in ("logit", "softmax"):
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
