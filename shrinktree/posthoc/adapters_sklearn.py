"""Adapters for scikit-learn trees, forests and gradient boosting."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._numba import njit
from .._tree import TreeArrays
from .node_stats import NodeStats, subtree_weighted_mean
from .parsed import NoLoss, ParsedModel, boosted_objective, build_tree, replayable

_MSE_CRITERIA = ("squared_error", "friedman_mse")

# loss: its shrinktree.losses loss (the parameters from the model), or NoLoss(link).
_GB_REGRESSOR_LOSSES = {"squared_error": "squared_error", "absolute_error": "absolute_error", "huber": "huber",
                        "quantile": "quantile"}
_GB_CLASSIFIER_LOSSES = {"log_loss": "log_loss", "exponential": NoLoss("exp_logit")}
_HGB_REGRESSOR_LOSSES = {"squared_error": "squared_error", "absolute_error": "absolute_error",
                         "quantile": "quantile", "poisson": "poisson", "gamma": "gamma"}
_HGB_CLASSIFIER_LOSSES = {"log_loss": "log_loss"}


def _loss(model, table: dict, n_outputs: int) -> tuple[str, str | None, dict, str]:
    """``(name, loss, loss_params, link)`` of a scikit-learn boosted model's loss; a clear error for one not
    in ``table``."""
    name = model.loss if isinstance(model.loss, str) else type(model.loss).__name__
    params = {}
    if name == "log_loss":
        params = {"n_classes": 2 if n_outputs == 1 else n_outputs}
    elif name == "quantile":
        # GradientBoostingRegressor's level is alpha, HistGradientBoostingRegressor's quantile.
        params = {"quantile": float(model.alpha if hasattr(model, "alpha") else model.quantile)}
    elif name == "huber":
        # GradientBoostingRegressor: the threshold is the alpha quantile of |residual| at every stage.
        params = {"huber_delta": None, "huber_quantile": float(model.alpha)}
    loss, loss_params, link = boosted_objective(table, name, f"scikit-learn {type(model).__name__}", kind="loss",
                                                **params)
    return name, loss, loss_params, link


@njit(cache=True, nogil=True)
def _convert_tree(children_left, children_right, feature, count, impurity):
    """One pass over a scikit-learn tree: parents, split features (-1 at leaves) and split gains.

    ``ok`` is False when a child does not come after its parent (the caller then reorders).
    """
    n = children_left.shape[0]
    parent = np.full(n, -1, dtype=np.int32)
    feat = np.full(n, -1, dtype=np.int32)
    gain = np.zeros(n)
    ok = True
    for i in range(n):
        lo = children_left[i]
        if lo < 0:
            continue
        hi = children_right[i]
        if lo <= i or hi <= i:
            ok = False
        parent[lo] = i
        parent[hi] = i
        feat[i] = feature[i]
        gain[i] = count[i] * impurity[i] - count[lo] * impurity[lo] - count[hi] * impurity[hi]
    return ok, parent, feat, gain


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view: the converted tree shares the model's memory and can never write into it."""
    view = array.view()
    view.flags.writeable = False
    return view


def _fast_tree(tree_, classifier: bool) -> TreeArrays:
    """TreeArrays of a scikit-learn tree with its own stored values (class proportions for classifiers).

    Links, thresholds, missing directions, counts and values are read-only views of the model's
    arrays (nothing is copied); only parents, split features and gains are computed.
    """
    n = tree_.node_count
    missing = getattr(tree_, "missing_go_to_left", None)
    missing = np.zeros(n, np.uint8) if missing is None else _readonly(np.asarray(missing, dtype=np.uint8))
    count = _readonly(np.asarray(tree_.weighted_n_node_samples, dtype=np.float64))
    left = _readonly(tree_.children_left)
    right = _readonly(tree_.children_right)
    ok, parent, feat, gain = _convert_tree(left, right, tree_.feature, count, tree_.impurity)
    value = tree_.value
    if classifier:
        raw = value[:, 0, :]
        total = raw.sum(axis=1)
        if np.any(np.abs(total - 1.0) > 1e-9):  # scikit-learn < 1.4 stored class counts
            raw = raw / np.where(total > 0, total, 1.0)[:, None]
    else:
        raw = value[:, :, 0]
    raw = _readonly(np.ascontiguousarray(raw, dtype=np.float64))
    threshold = _readonly(np.asarray(tree_.threshold, dtype=np.float64))
    if not ok:  # pragma: no cover - scikit-learn numbers children after their parents
        return build_tree(left, right, feat, threshold, missing, raw, count, count, gain)
    # Not yet pooled: factor 1 everywhere; no categorical splits.  Read-only broadcasts cost no memory.
    return TreeArrays(parent=parent, left=left, right=right, feature=feat, threshold=threshold, missing_left=missing,
                      raw_value=raw, value=raw, pooling_factor=np.broadcast_to(1.0, (n,)), weight=count,
                      count=count, gain=gain, is_categorical=np.broadcast_to(np.uint8(0), (n,)),
                      cat_offset=np.broadcast_to(np.int64(-1), (n,)))


def _fast_trees(estimators, classifier: bool) -> list[TreeArrays]:
    """``_fast_tree`` of every estimator; large forests convert on two threads (the kernel releases the GIL)."""
    if len(estimators) < 64:
        return [_fast_tree(est.tree_, classifier) for est in estimators]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda est: _fast_tree(est.tree_, classifier), estimators))


def _classifier_values(tree_) -> np.ndarray:
    value = np.asarray(tree_.value[:, 0, :], dtype=np.float64)
    total = value.sum(axis=1, keepdims=True)
    if not np.allclose(total, 1.0):  # scikit-learn < 1.4 stored class counts
        value = value / np.where(total > 0, total, 1.0)
    return value


def _thresholds_per_node(est, tree_) -> np.ndarray:
    """Candidate thresholds per feature at each node: 1 for the random splitter, else its (weighted) rows - 1."""
    if getattr(est, "splitter", "best") == "random":
        return np.ones(tree_.node_count)
    msl = est.min_samples_leaf
    n = tree_.weighted_n_node_samples.astype(np.float64)
    if isinstance(msl, float):
        return np.maximum(n - 1.0, 1.0)
    return np.maximum(n - 2.0 * msl + 1.0, 1.0)


class _StoredStats:
    """Node statistics stored in scikit-learn trees (computed only when ``"eb"`` needs them)."""

    def __init__(self, estimators, is_classifier: bool, criterion: str):
        self.estimators = list(estimators)
        self.is_classifier = is_classifier
        self.criterion = criterion

    def __call__(self) -> list[NodeStats] | None:
        if not self.is_classifier and self.criterion not in _MSE_CRITERIA:
            return None  # impurity is not a variance
        stats = []
        for est in self.estimators:
            tree_ = est.tree_
            count = tree_.weighted_n_node_samples.astype(np.float64)
            if self.is_classifier:
                value = _classifier_values(tree_)
                variance = value * (1.0 - value)
            else:
                value = np.asarray(tree_.value[:, :, 0], dtype=np.float64)
                variance = tree_.impurity
            stats.append(NodeStats.from_means(value, variance, count))
        return stats


class _Thresholds:
    """Per tree, candidate thresholds per feature at every node (computed only when ``"eb"`` needs them)."""

    def __init__(self, estimators):
        self.estimators = list(estimators)

    def __call__(self, t: int) -> np.ndarray:
        est = self.estimators[t]
        return _thresholds_per_node(est, est.tree_)


def _forest(model, estimators, is_classifier: bool) -> ParsedModel:
    from sklearn.ensemble import BaseEnsemble

    n_outputs_ = getattr(model, "n_outputs_", 1)
    if is_classifier and n_outputs_ > 1:
        raise ValueError("Multi-output classifiers are not supported by shrink.")
    criterion = getattr(model, "criterion", "squared_error")
    trees = _fast_trees(estimators, is_classifier)
    n_split = [est.max_features_ for est in estimators]
    in_bag, design_effect = None, 1.0
    if isinstance(model, BaseEnsemble) and getattr(model, "bootstrap", False):
        in_bag = _bootstrap_counts(model)
        max_samples = model.max_samples
        design_effect = 1.0 + (float(max_samples) if isinstance(max_samples, float) else 1.0)
    return ParsedModel(
        trees=trees, kind="forest",
        tree_output=np.full(len(trees), -1, dtype=np.int64),
        n_outputs=trees[0].raw_value.shape[1], aggregate="mean",
        init=np.zeros(trees[0].raw_value.shape[1]), link="proportions" if is_classifier else "identity",
        loss=None, trees_per_stage=1, classes=getattr(model, "classes_", None) if is_classifier else None,
        n_features_in=model.n_features_in_, float32_input=True, split_features=np.array(n_split, dtype=np.float64),
        split_thresholds=_Thresholds(estimators), source=type(model).__name__,
        stored_stats=_StoredStats(estimators, is_classifier, criterion), in_bag=in_bag,
        design_effect=design_effect,
    )


class _BootstrapCounts:
    """``in_bag(t, n_rows, sample_weight)``: how often the bootstrap of tree ``t`` drew each training row.

    Replays scikit-learn's own draw from each tree's stored seed (a picklable callable).
    """

    def __init__(self, model):
        self.seeds = [est.random_state for est in model.estimators_]
        self.max_samples = model.max_samples

    def __call__(self, t: int, n_rows: int, sample_weight: np.ndarray | None) -> np.ndarray:
        import inspect

        from sklearn.ensemble._forest import _generate_sample_indices, _get_n_samples_bootstrap

        if "sample_weight" in inspect.signature(_generate_sample_indices).parameters:
            n_boot = _get_n_samples_bootstrap(n_rows, self.max_samples, sample_weight)
            idx = _generate_sample_indices(self.seeds[t], n_rows, n_boot, sample_weight)
        else:  # scikit-learn < 1.8 draws without weights
            n_boot = _get_n_samples_bootstrap(n_rows, self.max_samples)
            idx = _generate_sample_indices(self.seeds[t], n_rows, n_boot)
        return np.bincount(idx, minlength=n_rows).astype(np.float64)


def _bootstrap_counts(model):
    try:
        from sklearn.ensemble._forest import _generate_sample_indices, _get_n_samples_bootstrap  # noqa: F401
    except ImportError:  # pragma: no cover - private helpers moved
        return None
    return _BootstrapCounts(model)


def _gradient_boosting(model, is_classifier: bool) -> ParsedModel:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init_est = model.init_
    if not (init_est == "zero" or isinstance(init_est, DummyClassifier | DummyRegressor)):
        raise ValueError("shrink supports GradientBoosting models whose init is 'zero' or the default constant "
                         f"estimator, not {type(init_est).__name__}.")
    n_features = model.n_features_in_
    init = np.asarray(model._raw_predict_init(np.zeros((1, n_features), dtype=np.float32)), dtype=np.float64)[0]
    n_stages, K = model.estimators_.shape
    table = _GB_CLASSIFIER_LOSSES if is_classifier else _GB_REGRESSOR_LOSSES
    name, loss, loss_params, link = _loss(model, table, K)
    trees, thresholds, n_split = [], [], []
    for stage in range(n_stages):
        for k in range(K):
            est = model.estimators_[stage, k]
            tree_ = est.tree_
            tree = _fast_tree(tree_, False)
            leaf_value = tree.raw_value * model.learning_rate
            # Internal nodes hold the mean residual, not the leaves' Newton step: use the leaves' mean.
            tree.raw_value = subtree_weighted_mean(tree.parent.astype(np.int64), tree.left.astype(np.int64),
                                                   leaf_value, tree.weight)
            tree.value = tree.raw_value
            trees.append(tree)
            thresholds.append(_thresholds_per_node(est, tree_))
            n_split.append(est.max_features_)
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=np.tile(np.arange(K), n_stages).astype(np.int64), n_outputs=K,
        aggregate="sum", init=init, link=link, loss=loss, loss_params=loss_params,
        learning_rate=float(model.learning_rate), trees_per_stage=K,
        classes=getattr(model, "classes_", None), n_features_in=n_features, float32_input=True,
        split_features=np.array(n_split, dtype=np.float64), split_thresholds=thresholds, source=type(model).__name__,
        objective=name, replay_objectives=replayable(table),
    )


def _hist_gradient_boosting(model, is_classifier: bool) -> ParsedModel:
    if getattr(model, "_preprocessor", None) is not None or np.any(getattr(model, "is_categorical_", None) or False):
        raise ValueError("shrink does not support HistGradientBoosting models with categorical features.")
    predictors = model._predictors
    K = len(predictors[0])
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    table = _HGB_CLASSIFIER_LOSSES if is_classifier else _HGB_REGRESSOR_LOSSES
    name, loss, loss_params, link = _loss(model, table, K)
    n_bins = float(model.max_bins)
    max_features = getattr(model, "max_features", 1.0)
    n_split = max(1, int(np.ceil(max_features * model.n_features_in_)))
    trees, thresholds = [], []
    for stage in predictors:
        for pred in stage:
            nodes = pred.nodes
            is_leaf = nodes["is_leaf"].astype(bool)
            if np.any(nodes["is_categorical"][~is_leaf]):
                raise ValueError("shrink does not support HistGradientBoosting models with categorical features.")
            left = np.where(is_leaf, -1, nodes["left"].astype(np.int64))
            right = np.where(is_leaf, -1, nodes["right"].astype(np.int64))
            count = nodes["count"].astype(np.float64)
            tree = build_tree(left, right, nodes["feature_idx"], nodes["num_threshold"], nodes["missing_go_to_left"],
                              nodes["value"], count, count, nodes["gain"].clip(min=0))
            tree.raw_value = subtree_weighted_mean(tree.parent.astype(np.int64), tree.left.astype(np.int64),
                                                   tree.raw_value, tree.weight)
            tree.value = tree.raw_value.copy()
            trees.append(tree)
            thresholds.append(np.minimum(np.maximum(tree.count - 1.0, 1.0), n_bins))
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=np.tile(np.arange(K), len(predictors)).astype(np.int64),
        n_outputs=K, aggregate="sum", init=baseline, link=link, loss=loss, loss_params=loss_params,
        learning_rate=float(model.learning_rate), trees_per_stage=K,
        classes=getattr(model, "classes_", None), n_features_in=model.n_features_in_, float32_input=False,
        split_features=np.full(len(trees), float(n_split)), split_thresholds=thresholds, source=type(model).__name__,
        objective=name, replay_objectives=replayable(table),
    )


def parse_sklearn(model) -> ParsedModel | None:
    """ParsedModel of a fitted scikit-learn tree model, or ``None`` when ``model`` is not one we know."""
    try:
        check_is_fitted(model)
    except TypeError:
        pass
    parsed = _parse_sklearn(model)
    if parsed is not None:
        names = getattr(model, "feature_names_in_", None)
        parsed.feature_names_in = None if names is None else np.asarray(names, dtype=object)
    return parsed


def _parse_sklearn(model) -> ParsedModel | None:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree, DecisionTreeClassifier

    if isinstance(model, BaseDecisionTree):
        return _forest(model, [model], isinstance(model, DecisionTreeClassifier))
    if isinstance(model, RandomForestClassifier | ExtraTreesClassifier):
        return _forest(model, model.estimators_, True)
    if isinstance(model, RandomForestRegressor | ExtraTreesRegressor):
        return _forest(model, model.estimators_, False)
    if isinstance(model, GradientBoostingClassifier | GradientBoostingRegressor):
        return _gradient_boosting(model, isinstance(model, GradientBoostingClassifier))
    if isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return _hist_gradient_boosting(model, isinstance(model, HistGradientBoostingClassifier))
    return None
