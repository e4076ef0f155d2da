"""Exact SHAP values of shrinktree's boosters and of post-hoc shrunk models, and their export to shap.

The estimators' ``predict_contributions`` methods call :func:`predict_contributions` here; the
numba kernel is in :mod:`shrinktree.explain.treeshap`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._tree import LEAF, FlatForest, TreeArrays
from ..boosting.category_pairs import folding
from ..boosting.cross_features import fold_columns
from .treeshap import flat_cover, forest_contributions


@dataclass
class _Ensemble:
    """What the contributions of a fitted model are computed from."""

    trees: list[TreeArrays]
    forest: FlatForest
    tree_output: np.ndarray  # output column of each tree, -1: the tree's values hold every column
    n_outputs: int
    init: np.ndarray  # (n_outputs,), added to the expected value
    scale: float  # 1 / n_trees for averaged forests, 1 for boosted sums
    n_features: int
    float32_input: bool
    link: str  # "identity", "log", "logit", "softmax" (boosters) or the shrunk model's link
    objective: str | None  # shap's name of the loss, where shap knows it
    feature_names: np.ndarray | None
    # A booster's cross columns (cross_features) and category pairs (_category_pairs): the trees' columns
    # after the n_features of X, each with its two parent columns.
    crosses: object = None


def _is_booster(model) -> bool:
    from ..boosting.gradient_boosting import _BaseShrinkBoost

    return isinstance(model, _BaseShrinkBoost)


def _is_shrunk(model) -> bool:
    from ..posthoc.model import _ShrunkModel

    return isinstance(model, _ShrunkModel)


def _ensemble(model) -> _Ensemble:
    """The trees, output map and offset of a fitted booster or shrunk model (its prediction state as is)."""
    names = getattr(model, "feature_names_in_", None)
    if _is_booster(model):
        # Exactly what _raw_predict adds up: the flat forest, its tree-to-output map and the baseline.
        trees = [tree for iteration in model._trees for tree in iteration]
        baseline = np.asarray(model._baseline, dtype=np.float64).ravel()
        loss = model._make_loss()
        objective = {"squared_error": "squared_error", "log_loss": "binary_crossentropy" if len(baseline) == 1
                     else None}.get(loss.name)
        return _Ensemble(trees=trees, forest=model._forest, tree_output=np.asarray(model._tree_output, np.int64),
                         n_outputs=len(baseline), init=baseline, scale=1.0, n_features=int(model.n_features_in_),
                         float32_input=False, link=loss.link.name, objective=objective, feature_names=names,
                         crosses=folding(getattr(model, "_crosses", None), getattr(model, "_pairs", None)))
    if _is_shrunk(model):
        parsed = model._parsed
        return _Ensemble(trees=list(model.trees_), forest=model._get_forest(),
                         tree_output=np.asarray(parsed.tree_output, np.int64), n_outputs=int(parsed.n_outputs),
                         init=np.asarray(parsed.init, dtype=np.float64).ravel(),
                         scale=1.0 / len(parsed.trees) if parsed.aggregate == "mean" else 1.0,
                         n_features=int(model.n_features_in_), float32_input=bool(parsed.float32_input),
                         link={"logistic": "logit"}.get(parsed.link, parsed.link), objective=None,
                         feature_names=names)
    raise TypeError(f"Contributions are computed for shrinktree's ShrinkBoostRegressor/ShrinkBoostClassifier and "
                    f"for the models shrinktree.shrink returns, not for {type(model).__name__}.")


def tree_input(model, X) -> np.ndarray:
    """``X`` as the model's trees route on it, through the model's own prediction-time validation.

    Categorical levels become the codes the trees split on; a shrunk model's inputs are mapped as its
    library reads them (float32 rounding, LightGBM's zero-as-missing columns, XGBoost's ``missing``
    value as NaN).  Give this matrix to an explainer from :func:`to_shap` when the model remaps its
    inputs, and it routes every row as the model does.

    Parameters
    ----------
    model : fitted shrinktree booster or shrunk model
    X : array-like or pandas DataFrame of shape (n_samples, n_features)

    Returns
    -------
    ndarray of float64, shape (n_samples, n_features)
    """
    return _validated_input(model, X)


def _validated_input(model, X) -> np.ndarray:
    """``X`` through the model's own prediction-time validation (the matrix its trees route on)."""
    if _is_booster(model):
        return model._validate_predict_input(X)
    if _is_shrunk(model):
        return model._check_X(X)
    raise TypeError(f"Contributions are computed for shrinktree's ShrinkBoostRegressor/ShrinkBoostClassifier and "
                    f"for the models shrinktree.shrink returns, not for {type(model).__name__}.")


def _n_crosses(ensemble: _Ensemble) -> int:
    return 0 if ensemble.crosses is None else len(ensemble.crosses)


def _node_count(trees: list[TreeArrays]) -> np.ndarray:
    return np.concatenate([np.asarray(t.count, dtype=np.float64) for t in trees])


def predict_contributions(model, X, offset=None) -> np.ndarray:
    """Exact path-dependent TreeSHAP values of a fitted shrinktree model, on the raw score scale.

    Parameters
    ----------
    model : ShrinkBoostRegressor, ShrinkBoostClassifier, ShrunkModelRegressor or ShrunkModelClassifier
        A fitted model.
    X : array-like or pandas DataFrame of shape (n_samples, n_features)
        Validated exactly as for the model's predictions (categorical columns included).
    offset : array-like of shape (n_samples,), optional
        For boosted regressors fitted with an offset: the rows' offsets, added to the last column so
        that each row sums to the raw score ``predict(X, offset)`` is computed from.

    Returns
    -------
    ndarray of float64
        Shape ``(n_samples, n_features + 1)`` for models with one output (regression, binary
        classification), ``(n_samples, n_outputs, n_features + 1)`` otherwise (one block per class of a
        multiclass booster or per output column of a shrunk model).  Column ``j < n_features`` is
        feature ``j``'s contribution, the last column the expected value (plus the row's offset); each
        row (block) sums to the raw score before the link: ``decision_function`` of boosted
        classifiers, ``predict`` of identity-link regressors, ``log(predict)`` of log-link ones
        (Poisson, gamma, Tweedie), the averaged class proportions of a shrunk forest classifier.
        A row whose level is absent from a categorical node's present set blends there (both
        children, ``absent_left_share`` of it left) and its values add up to that blended score.
        ``result.reshape(n_samples, -1)`` is LightGBM's ``pred_contrib`` layout.
    """
    X = _validated_input(model, X)
    if offset is not None:
        if not _is_booster(model) or model._is_classifier:
            raise ValueError(f"offset applies to boosted regressors fitted with one, not to {type(model).__name__}.")
        from ..boosting.validation import check_offset

        offset = check_offset(offset, X.shape[0], "predict")
    ensemble = _ensemble(model)
    # X holds the cross columns after the user's (the trees split on them); each parent gets half of a cross's.
    phi, expected = forest_contributions(ensemble.forest, _node_count(ensemble.trees), ensemble.tree_output,
                                         ensemble.n_outputs, X, ensemble.n_features + _n_crosses(ensemble))
    phi = fold_columns(phi, ensemble.n_features, ensemble.crosses)
    if ensemble.scale != 1.0:
        phi *= ensemble.scale
        expected = expected * ensemble.scale
    phi[:, :, -1] = expected + ensemble.init
    if offset is not None:
        phi[:, :, -1] += offset[:, None]
    return phi[:, 0, :] if ensemble.n_outputs == 1 else phi


# -- shap interoperability ---------------------------------------------------------------------------
def _tree_covers(ensemble: _Ensemble) -> list[np.ndarray]:
    forest = ensemble.forest
    starts = np.asarray(forest.tree_start, dtype=np.int64)
    cover = flat_cover(np.asarray(forest.left, np.int64), np.asarray(forest.right, np.int64),
                       _node_count(ensemble.trees), starts)
    return np.split(cover, starts[1:])


def to_shap(model) -> dict:
    """The model as the tree-ensemble description that ``shap.TreeExplainer`` accepts.

    ``shap.TreeExplainer(shrinktree.explain.to_shap(model))`` then explains the model as shap
    explains its own supported libraries (``shap_values``, ``explainer(X)`` and every plot), and its
    path-dependent values equal :func:`predict_contributions`.

    The description is shap's documented dictionary format for custom tree models: ``{"trees":
    [...], "base_offset": ..., "input_dtype": ...}``, each tree a dict of ``children_left``,
    ``children_right``, ``children_default``, ``features``, ``thresholds``, ``values`` and
    ``node_sample_weight``.  shap routes ``x <= threshold`` left and missing values to
    ``children_default``, as shrinktree does.  Values are the pooled node values (divided by the
    number of trees for averaged forests); the node sample weights are the covers
    :func:`predict_contributions` uses (weighted training row counts summed up from the leaves).

    Parameters
    ----------
    model : fitted ShrinkBoostRegressor, ShrinkBoostClassifier or shrunk model

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        When a tree has a categorical (set) split: shap's format holds thresholds only.  Use
        :func:`explanation` for those models; it wraps :func:`predict_contributions` in a
        ``shap.Explanation`` that shap's plots accept.

    Notes
    -----
    Give the explainer the numbers the trees route on, :func:`tree_input`, when the model remaps its
    inputs: categorical columns (that it never split on), or a shrunk LightGBM model with
    zero-as-missing features or an XGBoost model with a ``missing`` value other than NaN.  Offsets are
    not part of the description (add them to the expected value).
    """
    ensemble = _ensemble(model)
    if _n_crosses(ensemble):
        raise ValueError(f"This {type(model).__name__} was fitted with cross_features or category pairs: its trees "
                         "split on columns that X does not hold, which shap's tree format cannot compute. Use "
                         "shrinktree.explain.explanation(model, X) or model.predict_contributions(X): they give "
                         "each parent column half of its crosses' (or pairs') contributions.")
    if any(np.any(t.is_categorical[t.left != LEAF]) for t in ensemble.trees):
        raise ValueError(f"This {type(model).__name__} has categorical (level-set) splits, which shap's tree "
                         "format cannot express (it holds thresholds only). Use "
                         "shrinktree.explain.explanation(model, X) for a shap.Explanation of the same exact values "
                         "that shap's plots accept.")
    trees = []
    K = ensemble.n_outputs
    for tree, cover, column in zip(ensemble.trees, _tree_covers(ensemble), ensemble.tree_output):
        leaf = tree.left == LEAF
        left = np.where(leaf, -1, tree.left).astype(np.int32)
        right = np.where(leaf, -1, tree.right).astype(np.int32)
        if column >= 0:
            values = np.zeros((tree.n_nodes, K))
            values[:, column] = tree.value[:, 0]
        else:
            values = np.array(tree.value, dtype=np.float64)
        trees.append({
            "children_left": left,
            "children_right": right,
            "children_default": np.where(tree.missing_left == 1, left, right).astype(np.int32),
            "features": np.where(leaf, -1, tree.feature).astype(np.int32),
            "thresholds": np.where(leaf, 0.0, tree.threshold).astype(np.float64),
            "values": values * ensemble.scale,
            "node_sample_weight": np.asarray(cover, dtype=np.float64),
        })
    description = {
        "trees": trees,
        "base_offset": ensemble.init.copy() if K > 1 else float(ensemble.init[0]),
        # Float32 models (scikit-learn, XGBoost) compare features rounded to float32: shap rounds them too.
        "input_dtype": np.float32 if ensemble.float32_input else np.float64,
    }
    # Lets shap explain probabilities or the loss (interventional mode) where its conversions apply.
    if ensemble.link == "identity":
        description["tree_output"] = "raw_value"
    elif ensemble.link == "logit":
        description["tree_output"] = "log_odds"
    if ensemble.objective is not None:
        description["objective"] = ensemble.objective
    return description


def shap_explainer(model, data=None, **kwargs):
    """``shap.TreeExplainer`` of a fitted shrinktree model (see :func:`to_shap`); needs ``shap`` installed.

    Parameters
    ----------
    model : fitted shrinktree booster or shrunk model without categorical splits
    data : array-like, optional
        Background data for shap's interventional mode; without it the explainer is path-dependent
        and its values equal :func:`predict_contributions`.
    **kwargs
        Passed to ``shap.TreeExplainer``.
    """
    import shap

    return shap.TreeExplainer(to_shap(model), data, **kwargs)


def explanation(model, X):
    """The exact contributions of ``X`` as a ``shap.Explanation``, for shap's plots; needs ``shap`` installed.

    Works for every model, categorical splits included.  ``values`` has shape ``(n_samples,
    n_features)`` (or ``(n_samples, n_features, n_outputs)``, shap's multi-output layout),
    ``base_values`` the expected value(s), ``data`` the numbers the trees route on (categorical
    levels as their codes) and ``feature_names`` the fitted column names where known.
    """
    import shap

    data = _validated_input(model, X)[:, :int(model.n_features_in_)]  # without a booster's cross columns
    contributions = predict_contributions(model, X)
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    if contributions.ndim == 2:
        values, base = contributions[:, :-1], contributions[:, -1]
    else:
        values, base = np.transpose(contributions[:, :, :-1], (0, 2, 1)), contributions[:, :, -1]
    return shap.Explanation(values=values, base_values=base, data=data, feature_names=names)
