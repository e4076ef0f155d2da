"""How the booster pools: the pooling mode resolved once, and the empirical-Bayes inputs of each tree.

:class:`PoolingPlan` turns the estimator's ``shrinkage``, ``shrinkage_strength``, ``eb_method`` and
``variance_estimator`` into the facts the fit needs (whether rows are held out, how categorical levels are
pooled and by which estimator, whether in-sample within-node variances are needed); :func:`pool_tree`
assembles the within-node noise, the split-selection correction and the estimation masses of a grown tree
and calls the shrinkage kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._numba import njit
from .._shrinkage import (
    SHRINKAGE_MODES,
    categorical_null_gain,
    eb_factors,
    keep_monotone,
    null_gain_factor,
    pool_values,
    pooling_strength,
    propagate_bounds,
    shrink_tree_values,
    within_variance,
)
from ..variance_components import ESTIMATOR_CODES, between_node_variance, resolve_variance_estimator
from .numpy_sum import pairwise_sum
from .splitting import LEVELS_EB, LEVELS_FIXED_K, LEVELS_RAW

EB_METHODS = ("honest", "calibrated", "naive")
# Categorical partitions are scored by the Newton gain of the pooled level sums, except with
# eb_method="calibrated", whose null correction is that of a scan maximizing the raw gain
# (see docs/categorical.md for the measurements behind this choice).
POOLED_LEVEL_GAIN = {"honest": True, "naive": True, "calibrated": False}


@dataclass(frozen=True)
class PoolingPlan:
    """The pooling of one fit, resolved from the estimator's parameters.

    Attributes
    ----------
    mode : {"eb", "hs", "none"}
    strength : float
        ``lambda`` of ``"hs"`` (0 otherwise).
    eb_method : {"honest", "calibrated", "naive"}
    variance_estimator : {"moments", "ml", "reml", "bayes"}
        How ``"eb"`` estimates ``tau^2`` of the tree's splits and of the levels in a node (``"auto"``
        resolves to ``"moments"``).
    """

    mode: str
    strength: float
    eb_method: str
    variance_estimator: str = "moments"

    @classmethod
    def resolve(cls, shrinkage, shrinkage_strength, eb_method, variance_estimator="auto") -> PoolingPlan:
        """Validate the parameters and resolve them (``ValueError`` on a bad combination)."""
        if shrinkage not in SHRINKAGE_MODES:
            raise ValueError(f"shrinkage must be one of {SHRINKAGE_MODES}, got {shrinkage!r}.")
        if shrinkage == "hs" and shrinkage_strength is None:
            raise ValueError("shrinkage='hs' needs shrinkage_strength (the lambda of Hierarchical Shrinkage).")
        if eb_method not in EB_METHODS:
            raise ValueError(f"eb_method must be one of {EB_METHODS}, got {eb_method!r}.")
        strength = float(shrinkage_strength) if shrinkage == "hs" else 0.0
        return cls(shrinkage, strength, eb_method, resolve_variance_estimator(variance_estimator, auto="moments"))

    @property
    def honest(self) -> bool:
        """Whether each tree's pooling strength is estimated on rows held out of growing it."""
        return self.mode == "eb" and self.eb_method == "honest"

    @property
    def in_sample_eb(self) -> bool:
        """Whether the pooling strength is estimated on the rows that grew the tree."""
        return self.mode == "eb" and not self.honest

    @property
    def level_mode(self) -> int:
        return {"eb": LEVELS_EB, "hs": LEVELS_FIXED_K, "none": LEVELS_RAW}[self.mode]

    @property
    def level_method(self) -> int:
        """The levels' estimator as a ``ESTIMATOR_CODES`` value for the numba split search."""
        return ESTIMATOR_CODES[self.variance_estimator]

    @property
    def pooled_level_gain(self) -> bool:
        return POOLED_LEVEL_GAIN[self.eb_method]

    @property
    def early_stops_by_default(self) -> bool:
        """``early_stopping="auto"`` leaves data-estimated pooling without early stopping: trees that only
        fit noise are pooled back to their root, so the validation rows are worth more as training rows
        (measured in docs/accuracy.md, variant "shrinktree eb early stopping")."""
        return self.mode != "eb"


def bound_raw_values(tree, split_sign: np.ndarray) -> None:
    """Clip ``tree.raw_value`` into the bounds of its monotonic splits, propagated from the root as the grower
    does (:func:`~shrinktree._shrinkage.propagate_bounds`).  The grower bounded the values of the rows that
    chose the splits; the values of every row (held-out rows included) or renewed leaf values are bounded
    again here, with the same rule."""
    raw = np.ascontiguousarray(tree.raw_value[:, 0], dtype=np.float64).copy()
    propagate_bounds(tree.left, tree.right, split_sign, raw)
    tree.raw_value = raw.reshape(-1, 1)


# Share of the held-out rows' sum of squared gradients below which their within-leaf sum of squares,
# computed as sum(g^2 / w) - 2 m sum(g h / w) + m^2 sum(h^2 / w) per leaf, is float64 cancellation, not spread.
ROUNDING_SHARE = 1e-12


@njit(cache=True)
def honest_inputs(held, leaves, left):
    """The honest estimate's inputs from the held-out rows' node statistics, in one pass.

    Returns ``(sum_sq, mass, count, n_groups, null_factor, estimation_weight, estimation_raw)``: the
    within-leaf sum of squares of the held-out rows about their own leaf means, their hessian mass and
    row count over the leaves (summed as ``np.sum`` does), the number of leaves with held-out mass, ones
    at the splits, and each node's held-out mass and Newton value.
    """
    n_leaves = leaves.shape[0]
    terms = np.empty(n_leaves)
    mass = np.empty(n_leaves)
    count = np.empty(n_leaves)
    n_groups = 0
    squares = 0.0
    for j in range(n_leaves):
        leaf = leaves[j]
        squares += held[leaf, 3]
        h = held[leaf, 1]
        ratio = held[leaf, 0] / h if h > 0 else 0.0
        terms[j] = held[leaf, 3] - 2.0 * ratio * held[leaf, 4] + ratio * ratio * held[leaf, 5]
        mass[j] = h
        count[j] = held[leaf, 2]
        n_groups += h > 0
    n_nodes = held.shape[0]
    null_factor = np.empty(n_nodes)
    estimation_weight = np.empty(n_nodes)
    estimation_raw = np.empty(n_nodes)
    for i in range(n_nodes):
        h = held[i, 1]
        null_factor[i] = 1.0 if left[i] >= 0 else 0.0
        estimation_weight[i] = h
        estimation_raw[i] = -held[i, 0] / h if h > 0 else 0.0
    sum_sq = pairwise_sum(terms)
    if sum_sq <= ROUNDING_SHARE * squares:
        # Every leaf's held-out rows alike (tiny data): what is left is rounding, which differs between a row
        # of weight 3 and three copies of it, and would decide between no pooling (no noise) and full pooling.
        sum_sq = 0.0
    return (sum_sq, pairwise_sum(mass), pairwise_sum(count), n_groups, null_factor, estimation_weight,
            estimation_raw)


@njit(cache=True)
def honest_moment_pooling(held, leaves, left, right, parent, weight, raw_value):
    """The honest moment-estimator pooling of a single-output tree in one compiled call.

    The same steps, bit for bit, as :func:`pool_tree`'s general path for this case: :func:`honest_inputs`,
    :func:`~shrinktree.variance_components.within_variance`, the moment estimate of ``tau^2``
    (:func:`~shrinktree.variance_components.between_node_variance`), the factors ``n / (n + k)``
    (:func:`~shrinktree._shrinkage.eb_factors`) and the top-down pooling (:func:`~shrinktree._shrinkage.pool_values`);
    one call instead of a dozen small ones per tree, whose dispatch was a visible share of small fits.

    Returns
    -------
    (value, pooling_factor, k)
        The pooled values ``(n_nodes, 1)``, the factors ``(n_nodes,)`` and ``k = sigma^2 / tau^2`` (``inf``:
        pooled to the root).
    """
    sum_sq, mass, count, n_groups, null_factor, h_held, estimation_raw = honest_inputs(held, leaves, left)
    sigma2 = within_variance(sum_sq, mass, count, n_groups)
    tau2 = between_node_variance(left, right, h_held, estimation_raw, sigma2, null_factor)
    factor = eb_factors(parent, weight, sigma2, tau2)
    value = np.empty_like(raw_value)
    pool_values(parent, raw_value, factor, value)
    return value, factor[:, 0].copy(), pooling_strength(sigma2, tau2)


class MomentMemory:
    """Moment sums of ``tau^2`` carried across the trees of one output, discounted by ``decay`` per tree.

    A tree's own splits give a noisy moment estimate (often truncated to zero: the tree pooled to its
    root); the discounted sums of the recent trees' numerators and denominators estimate the slowly
    changing ``tau^2`` from many more splits.  A measurement switch only (``_tau_memory``): the default
    estimates each tree's ``tau^2`` from its own splits (docs/ablations.md, "tau memory").
    """

    def __init__(self, decay: float):
        self.decay = float(decay)
        self.numerator = 0.0
        self.denominator = 0.0

    def update(self, numerator: float, denominator: float) -> float:
        self.numerator = self.decay * self.numerator + numerator
        self.denominator = self.decay * self.denominator + denominator
        if self.denominator <= 0.0 or self.numerator <= 0.0:
            return 0.0
        return self.numerator / self.denominator


def check_tau_memory(decay) -> float:
    """The private switch ``_tau_memory`` (:class:`MomentMemory`'s discount), a number in ``[0, 1)``; 0 is off."""
    if isinstance(decay, bool) or not isinstance(decay, int | float) or not 0.0 <= decay < 1.0:
        raise ValueError(f"_tau_memory must be a number in [0, 1), got {decay!r}.")
    return float(decay)


def pool_tree(tree, plan: PoolingPlan, grown, held: np.ndarray | None, split_sign: np.ndarray | None = None,
              memory: MomentMemory | None = None) -> float:
    """Pool ``tree``'s values in place with the plan's factors; returns the tree's ``k``.

    Parameters
    ----------
    tree : TreeArrays
        Newton values of every row (grown and held out) in ``raw_value``.
    plan : PoolingPlan
    grown : GrownTree
        The grower's statistics of the rows that chose the splits.
    held : ndarray of shape (n_nodes, 6) or None
        :func:`~shrinktree.boosting.predictor.node_statistics` of the held-out rows (honest ``"eb"``).
    split_sign : ndarray of int8 or None
        Per node, the monotonic constraint of its split (``None``: the model has none).  The raw values
        are then bounded (:func:`bound_raw_values`) and pooled so that the tree stays monotone
        (``docs/shrinkage.md``, "Pooling keeps monotone constraints").
    """
    if split_sign is not None:
        bound_raw_values(tree, split_sign)
    if plan.mode != "eb":
        return shrink_tree_values(tree, plan.mode, plan.strength, split_sign=split_sign)
    leaves = grown.leaf_nodes
    if (held is not None and split_sign is None and memory is None and plan.variance_estimator == "moments"
            and tree.raw_value.shape[1] == 1):
        tree.value, tree.pooling_factor, k = honest_moment_pooling(
            held, leaves, tree.left, tree.right, tree.parent, np.ascontiguousarray(tree.weight, dtype=np.float64),
            np.ascontiguousarray(tree.raw_value, dtype=np.float64))
        return float(k)
    if held is not None:
        sum_sq, mass, count, n_groups, null_factor, h_held, estimation_raw = honest_inputs(held, leaves, grown.left)
        sigma2 = within_variance(sum_sq, mass, count, n_groups)
        return shrink_tree_values(tree, "eb", None, sigma2, null_factor, h_held, estimation_raw, split_sign,
                                  plan.variance_estimator, memory)
    internal = grown.left >= 0
    sigma2 = within_variance(grown.within_ss, float(np.sum(grown.sum_hessians[leaves])),
                             float(np.sum(grown.weighted_count[leaves])), len(leaves))
    if plan.eb_method == "naive":
        null_factor = np.where(internal, 1.0, 0.0)
    else:
        # A sorted-level scan searches far more partitions than an ordered feature: the node's null
        # gain is the larger of its numeric features' and its categorical features'.
        null = np.maximum(null_gain_factor(grown.null_factor_tests), categorical_null_gain(grown.levels_scanned))
        null_factor = np.where(internal, null, 0.0)
    return shrink_tree_values(tree, "eb", None, sigma2, null_factor, split_sign=split_sign,
                              variance_estimator=plan.variance_estimator)


def renew_leaf_values(tree, loss, grown, held_rows, held_leaf, y, raw, weight,
                      split_sign: np.ndarray | None = None) -> None:
    """Replace the Newton values of ``tree`` by the loss's renewed values and pool those.

    For losses whose hessian is degenerate (absolute error, quantile) the tree is grown and its pooling
    factors are estimated in the Newton space of the surrogate hessian (the row mass).  Each node's
    value is then the loss's own estimate from its rows (the weighted quantile of the residuals
    ``y - raw`` of every row, grown and held out, in the node), pooled toward its parent's with the
    factors the surrogate's statistics gave.  With monotonic constraints (``split_sign``) the renewed values
    are bounded like Newton values before pooling (:func:`bound_raw_values`), and pooled to stay monotone.
    """
    leaves = grown.leaf_nodes
    parts_rows = [grown.sample_indices[start:stop] for start, stop in zip(grown.leaf_start, grown.leaf_stop)]
    parts_leaf = [np.full(stop - start, leaf, dtype=np.int64)
                  for leaf, start, stop in zip(leaves, grown.leaf_start, grown.leaf_stop)]
    if held_rows is not None:
        parts_rows.append(held_rows)
        parts_leaf.append(np.asarray(held_leaf, dtype=np.int64))
    rows = np.concatenate(parts_rows)
    leaf_of_row = np.concatenate(parts_leaf)
    order = np.argsort(leaf_of_row, kind="stable")
    rows, leaf_of_row = rows[order], leaf_of_row[order]
    residual = y[rows] - raw[rows]
    row_weight = weight[rows]
    bounds = np.searchsorted(leaf_of_row, np.arange(tree.n_nodes + 1))
    # Rows of every node: its leaves' runs, gathered bottom-up (children have larger ids than parents).
    members = [[] for _ in range(tree.n_nodes)]
    for node in range(tree.n_nodes - 1, -1, -1):
        if grown.left[node] < 0:
            members[node] = [node]
        else:
            members[node] = members[grown.left[node]] + members[grown.right[node]]
    renewed = np.empty(tree.n_nodes)
    for node in range(tree.n_nodes):
        index = np.concatenate([np.arange(bounds[leaf], bounds[leaf + 1]) for leaf in members[node]])
        renewed[node] = loss.renew_value(residual[index], row_weight[index])
    set_renewed_values(tree, renewed, split_sign)


def set_renewed_values(tree, renewed, split_sign) -> None:
    """Give ``tree`` the renewed raw node values and pool them again with the tree's pooling factors.

    Monotonic trees (``split_sign`` not None) keep their bounds and order, as :func:`pool_tree` does.
    """
    tree.raw_value = renewed.reshape(-1, 1)
    if split_sign is not None:
        bound_raw_values(tree, split_sign)
        keep_monotone(tree, split_sign, tree.pooling_factor.reshape(-1, 1))
        return
    value = np.empty_like(tree.raw_value)
    pool_values(tree.parent, tree.raw_value, tree.pooling_factor.reshape(-1, 1), value)
    tree.value = value
