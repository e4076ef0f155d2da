"""Pooling of parsed trees with the shared shrinkage kernel (``shrinktree._shrinkage``)."""

from __future__ import annotations

import numpy as np

from .._shrinkage import (
    between_node_moments,
    eb_factors,
    effective_tests_table,
    null_gain_factor,
    pool_values,
    shrink_tree_values,
    within_variance,
)
from .._tree import TreeArrays
from ..variance_components import ESTIMATOR_CODES, joint_tree_ratio, tree_between_variance
from .node_stats import NodeStats, forest_stats, stopped_row_values, subtree_weighted_mean, tree_stats
from .parsed import ParsedModel

#: Nodes with at least this (weighted) number of rows form the groups whose pooled within
#: variance estimates sigma^2 (the deepest such nodes: leaves when leaves are this large).
MIN_GROUP_ROWS = 10.0
_MAX_THRESHOLDS = 1024


def frontier(stats: NodeStats, left: np.ndarray, right: np.ndarray, min_rows: float = MIN_GROUP_ROWS) -> np.ndarray:
    """Mask of the deepest nodes holding at least ``min_rows`` rows (no child of theirs does)."""
    big = stats.C >= min_rows
    internal = left >= 0
    big_child = np.zeros(len(left), dtype=bool)
    big_child[internal] = big[left[internal]] | big[right[internal]]
    mask = big & ~big_child
    if not mask.any():
        mask[0] = True
    return mask


def node_sigma2(stats: NodeStats, tree: TreeArrays) -> np.ndarray:
    """Within-node noise variance per unit of mass, one value per output, pooled over the frontier nodes."""
    mask = frontier(stats, tree.left, tree.right)
    ss = stats.within_ss()[mask].sum(axis=0)
    mass, count, groups = float(stats.H[mask].sum()), float(stats.C[mask].sum()), int(mask.sum())
    return np.array([within_variance(float(s), mass, count, groups) for s in ss])


def calibrated_null_factor(tree: TreeArrays, n_features: float, thresholds: np.ndarray,
                           rows: np.ndarray | None = None) -> np.ndarray:
    """Expected best split statistic under noise for each internal node (0 for leaves).

    ``n_features`` features are searched at ``thresholds[node]`` candidate thresholds each.  A node
    of ``rows`` rows has at most ``2^(rows-1) - 1`` distinct ways to split, however many features
    are searched (two rows: one), which caps the effective number of tests of small nodes.
    """
    table = effective_tests_table(_MAX_THRESHOLDS)
    m = np.clip(np.asarray(thresholds, dtype=np.float64), 1, _MAX_THRESHOLDS).astype(np.int64)
    n_eff = max(float(n_features), 1.0) * table[m]
    if rows is not None:
        distinct = np.exp2(np.clip(np.asarray(rows, dtype=np.float64) - 1.0, 0.0, 60.0)) - 1.0
        n_eff = np.minimum(n_eff, np.maximum(distinct, 1.0))
    return np.where(tree.left >= 0, null_gain_factor(n_eff), 0.0)


def eb_pool_tree(tree: TreeArrays, sigma2: np.ndarray, null_factor: np.ndarray, est: NodeStats,
                 joint: bool, split_sign: np.ndarray | None = None, variance_estimator: str = "moments") -> float:
    """Empirical-Bayes pooling of one tree in place; returns ``k = sigma^2/tau^2``.

    A single-output tree goes through :func:`shrink_tree_values`, exactly as in the booster.
    Several outputs either share one factor (``joint``: class proportions, so that they keep
    summing to one; ``k`` from the summed moments, or for the other ``variance_estimator`` values the
    ratio ``tau^2 / sigma^2`` the outputs share, :func:`~shrinktree.variance_components.joint_tree_ratio`)
    or get one factor each.  ``split_sign``: the monotonic constraint of every split, kept by the
    pooling (single-output trees).
    """
    if not all(np.all(np.isfinite(a)) for a in (sigma2, est.G, est.H, est.Sgg, est.Sgh, est.Shh)):
        # Sums of squared targets overflow near |y| ~ 1e150: pooling would silently give NaN or 0.
        raise ValueError("The node statistics overflow float64: the target (or the model's values) is too "
                         "large in magnitude. Rescale y, for example divide it by its standard deviation, "
                         "refit the model and shrink it again.")
    est_weight = np.ascontiguousarray(est.H, dtype=np.float64)
    est_raw = np.ascontiguousarray(est.raw, dtype=np.float64)
    null_factor = np.ascontiguousarray(null_factor, dtype=np.float64)
    n_outputs = tree.raw_value.shape[1]
    if n_outputs == 1:
        return shrink_tree_values(tree, "eb", sigma2=float(sigma2[0]), null_factor=null_factor,
                                  estimation_weight=est_weight, estimation_raw=est_raw[:, 0], split_sign=split_sign,
                                  variance_estimator=variance_estimator)
    parent = tree.parent
    method = ESTIMATOR_CODES[variance_estimator]
    if method != 0:
        if joint:
            ratio = joint_tree_ratio(tree.left, tree.right, est_weight, est_raw, sigma2, null_factor, method)
            factor = eb_factors(parent, tree.weight, 1.0, ratio)
            k = 1.0 / ratio if ratio > 0 else np.inf
        else:
            factor = np.empty((tree.n_nodes, n_outputs))
            ks = []
            for j in range(n_outputs):
                tau2 = tree_between_variance(tree.left, tree.right, est_weight, np.ascontiguousarray(est_raw[:, j]),
                                             float(sigma2[j]), null_factor, method)
                factor[:, j] = eb_factors(parent, tree.weight, float(sigma2[j]), tau2)[:, 0]
                ks.append(sigma2[j] / tau2 if tau2 > 0 else np.inf)
            k = float(np.mean(ks))
        return _pool_with(tree, factor, k)
    moments = [between_node_moments(tree.left, tree.right, est_weight, np.ascontiguousarray(est_raw[:, j]),
                                    float(sigma2[j]), null_factor) for j in range(n_outputs)]
    if joint:
        num = sum(m[0] for m in moments)
        den = sum(m[1] for m in moments)
        s2 = float(np.sum(sigma2))
        tau2 = num / den if den > 0 and num > 0 else 0.0
        factor = eb_factors(parent, tree.weight, s2, tau2)
        k = s2 / tau2 if tau2 > 0 else np.inf
    else:
        factor = np.empty((tree.n_nodes, n_outputs))
        ks = []
        for j, (num, den) in enumerate(moments):
            tau2 = num / den if den > 0 and num > 0 else 0.0
            factor[:, j] = eb_factors(parent, tree.weight, float(sigma2[j]), tau2)[:, 0]
            ks.append(sigma2[j] / tau2 if tau2 > 0 else np.inf)
        k = float(np.mean(ks))
    return _pool_with(tree, factor, k)


def _pool_with(tree: TreeArrays, factor: np.ndarray, k: float) -> float:
    out = np.empty_like(tree.raw_value)
    pool_values(tree.parent, tree.raw_value, factor, out)
    tree.value = out
    tree.pooling_factor = factor[:, 0].copy() if factor.shape[1] == 1 else factor.mean(axis=1)
    return float(k)


def forest_targets(parsed: ParsedModel, y: np.ndarray) -> np.ndarray:
    """``g = -y`` per output: one-hot class indicators for classifiers, the target(s) for regressors."""
    if parsed.is_classifier:
        onehot = np.zeros((len(y), parsed.n_outputs))
        onehot[np.arange(len(y)), y.astype(np.int64)] = 1.0
        return -onehot
    return -y.reshape(len(y), -1).astype(np.float64)


def eb_forest(parsed: ParsedModel, data, variance_estimator: str = "moments") -> tuple[list[float], str]:
    """EB pooling of every tree of a forest; returns the per-tree ``k`` and where the statistics came from."""
    trees = parsed.trees
    joint = parsed.is_classifier
    honest = data is not None and parsed.in_bag is not None
    if honest:
        X, y, w, weighted = data
        g = np.ascontiguousarray(forest_targets(parsed, y))
        h = np.ones(len(y))
        n, sw = len(y), (w if weighted else None)
        est_stats = forest_stats(trees, X, g, h, lambda t: w * (parsed.in_bag(t, n, sw) == 0))
        source = "honest: out-of-bag rows of X, y"
    elif parsed.node_stats() is not None:
        est_stats = parsed.node_stats()
        source = "calibrated: node statistics stored in the model"
    elif data is not None:
        X, y, w, weighted = data
        g = np.ascontiguousarray(forest_targets(parsed, y))
        in_bag, sw = parsed.in_bag, (w if weighted else None)
        est_stats = forest_stats(trees, X, g, np.ones(len(y)),
                                 lambda t: w if in_bag is None else in_bag(t, len(y), sw))
        source = "calibrated: node statistics recomputed from X, y"
    else:
        raise ValueError(f"method='eb' for this {parsed.source} (criterion without stored node variances) "
                         "needs the training rows: pass X and y.")
    ks = []
    for t, tree in enumerate(trees):
        est = est_stats[t]
        sigma2 = node_sigma2(est, tree)
        if honest:
            null = np.where(tree.left >= 0, 1.0, 0.0)
        else:
            null = calibrated_null_factor(tree, parsed.split_features[t], parsed.thresholds(t), est.C)
            null = null * parsed.design_effect
        ks.append(eb_pool_tree(tree, sigma2, null, est, joint, variance_estimator=variance_estimator))
    return ks, source


def replay_loss(parsed: ParsedModel):
    """The loss whose gradients replay a boosted model's fit; a clear error for an objective without one."""
    loss = parsed.loss_function
    if loss is None:
        supported = ", ".join(repr(o) for o in parsed.replay_objectives) or "none of its losses"
        raise ValueError(f"method='eb' does not support {parsed.source} fitted with the loss {parsed.objective!r}: "
                         "it replays the fit with the matching loss of shrinktree.losses to recompute the gradient "
                         f"statistics, and {parsed.objective!r} has none (its library's objectives that it replays: "
                         f"{supported}). method='hs' and method='none' support this model.")
    return loss


def replay_boosting(parsed: ParsedModel, X: np.ndarray, y: np.ndarray, w: np.ndarray, on_tree,
                    offset: np.ndarray | None = None) -> None:
    """Pass ``X, y`` through a boosted model stage by stage, recomputing each tree's gradient statistics.

    The gradients and hessians are the model's loss's (``parsed.loss_function``) at the model's own,
    unpooled raw predictions of the earlier stages: ``init``, plus ``offset`` when given, plus the
    library's starting score (``parsed.start_score``, folded into the first stage's trees), plus the
    earlier trees.  ``on_tree(t, stats, leaf, raw, start)`` receives tree ``t``'s statistics, each row's
    leaf, the raw score column the tree was grown at and the starting score its values include.  A row
    that blends in a tree stops at the node where it blends (``leaf`` is that internal node: it counts
    there and in its ancestors only) and its raw score takes the blended value, as in the booster.
    """
    loss = replay_loss(parsed)
    loss.check_target(y)
    n, n_outputs = X.shape[0], parsed.n_outputs
    raw = np.tile(parsed.init, (n, 1)).astype(np.float64)
    if offset is not None:
        raw += offset[:, None]
    start = np.zeros(n_outputs)
    if parsed.start_score is not None and offset is None:
        start = np.asarray(parsed.start_score(y, w, loss), dtype=np.float64).reshape(n_outputs)
        raw += start
    unit = np.ones(n)
    gradients, hessians = np.empty((n_outputs, n)), np.empty((n_outputs, n))
    per_stage = parsed.trees_per_stage
    for first in range(0, len(parsed.trees), per_stage):
        loss.start_iteration(y, raw, w)
        # Unweighted derivatives: tree_stats weights every row.
        loss.gradients(y, raw, unit, gradients, hessians)
        stage_start = start if first == 0 else np.zeros(n_outputs)
        updates = []
        for t in range(first, first + per_stage):
            k = int(parsed.tree_output[t])
            tree = parsed.trees[t]
            stats, leaf = tree_stats(tree, X, np.ascontiguousarray(gradients[k][:, None]),
                                     np.ascontiguousarray(hessians[k]), w)
            updates.append((k, stopped_row_values(tree, X, leaf) - stage_start[k]))
            on_tree(t, stats, leaf, raw[:, k], float(stage_start[k]))
        for k, update in updates:
            raw[:, k] += update


def renewed_values(tree: TreeArrays, leaf: np.ndarray, residual: np.ndarray, w: np.ndarray, loss,
                   learning_rate: float, start: float) -> np.ndarray:
    """Node values of a tree whose leaves the library renewed (absolute error, quantile), as the booster
    renews them: every internal node gets ``start + learning_rate * loss.renew_value`` of the residuals
    of its rows (``shrinktree.boosting.pooling.renew_leaf_values``); leaves keep the model's values, and
    a node without rows the mass-weighted mean of its leaves."""
    values = subtree_weighted_mean(tree.parent.astype(np.int64), tree.left.astype(np.int64), tree.raw_value,
                                   tree.weight)
    keep = w > 0
    leaf, residual, w = leaf[keep], residual[keep], w[keep]
    order = np.argsort(leaf, kind="stable")
    leaf, residual, w = leaf[order], residual[order], w[order]
    bounds = np.searchsorted(leaf, np.arange(tree.n_nodes + 1))
    below = [[] for _ in range(tree.n_nodes)]
    for node in range(tree.n_nodes - 1, -1, -1):
        below[node] = [node] if tree.left[node] < 0 else below[tree.left[node]] + below[tree.right[node]]
    for node in np.flatnonzero(tree.left >= 0):
        rows = np.concatenate([np.arange(bounds[lf], bounds[lf + 1]) for lf in below[node]])
        if len(rows):
            values[node, 0] = start + learning_rate * loss.renew_value(residual[rows], w[rows])
    return values


def within_leaf_range(tree: TreeArrays, values: np.ndarray) -> np.ndarray:
    """``values`` (n_nodes, 1) with every internal node's clipped into the range of the leaves below it."""
    low = np.where(tree.left < 0, values[:, 0], np.inf)
    high = np.where(tree.left < 0, values[:, 0], -np.inf)
    for node in range(tree.n_nodes - 1, 0, -1):
        parent = tree.parent[node]
        low[parent] = min(low[parent], low[node])
        high[parent] = max(high[parent], high[node])
    return np.clip(values[:, 0], low, high).reshape(-1, 1)


def eb_boosted(parsed: ParsedModel, data, offset: np.ndarray | None = None,
               variance_estimator: str = "moments") -> tuple[list[float], str]:
    """EB pooling of every tree of a boosted model from replayed gradient statistics.

    For losses that renew their leaf values the factors come from the surrogate's statistics (the row
    mass) and the pooled values are the renewed ones, as in the booster.
    """
    if data is None:
        raise ValueError(f"method='eb' for {parsed.source} needs the training rows X, y: boosted trees do not "
                         "store the gradient statistics that the pooling strength is estimated from.")
    X, y, w, _ = data
    ks = [0.0] * len(parsed.trees)
    loss = replay_loss(parsed)
    renew = loss.renews_leaves and parsed.learning_rate is not None

    def on_tree(t, stats, leaf, raw, start):
        tree = parsed.trees[t]
        tree.weight = stats.H.copy()
        tree.count = stats.C.copy()
        if renew:
            tree.raw_value = renewed_values(tree, leaf, y - raw, w, loss, float(parsed.learning_rate), start)
            if parsed.split_sign(t) is not None:
                # A monotone model's leaves are separated at its constrained splits; internal nodes kept
                # within their leaves' range keep that, so the pooling keeps the model monotone.
                tree.raw_value = within_leaf_range(tree, tree.raw_value)
        else:
            tree.raw_value = subtree_weighted_mean(tree.parent.astype(np.int64), tree.left.astype(np.int64),
                                                   tree.raw_value, tree.weight)
        thresholds = np.minimum(parsed.thresholds(t), np.maximum(stats.C - 1.0, 1.0))
        null = calibrated_null_factor(tree, parsed.split_features[t], thresholds, stats.C)
        ks[t] = eb_pool_tree(tree, node_sigma2(stats, tree), null, stats, joint=False, split_sign=parsed.split_sign(t),
                             variance_estimator=variance_estimator)

    replay_boosting(parsed, X, y, w, on_tree, offset)
    return ks, "calibrated: gradient statistics recomputed by replaying the boosting on X, y"


def hs_pool(parsed: ParsedModel, strength: float) -> list[float]:
    """Hierarchical Shrinkage of every tree with ``lambda = strength``."""
    return [shrink_tree_values(tree, "hs", strength=float(strength), split_sign=parsed.split_sign(t))
            for t, tree in enumerate(parsed.trees)]


def none_pool(parsed: ParsedModel) -> list[float]:
    return [shrink_tree_values(tree, "none") for tree in parsed.trees]


def recount(parsed: ParsedModel, X: np.ndarray, w: np.ndarray) -> None:
    """Replace the stored node counts by the weighted row counts of ``X`` (models that store no counts)."""
    for tree in parsed.trees:
        stats, _ = tree_stats(tree, X, np.zeros((len(w), 1)), np.ones(len(w)), w)
        tree.count = stats.C.copy()
