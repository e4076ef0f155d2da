"""Adapter for shrinktree's own boosters (``ShrinkBoostRegressor``, ``ShrinkBoostClassifier``).

The model's trees are copied with their *pooled* node values as the raw values: ``method="none"``
reproduces the model exactly, and ``"hs"``/``"eb"`` pool on top of the model as it predicts (for a
model fitted with ``shrinkage="none"`` that is re-pooling its Newton values).  The learning rate is
already folded into every node value.  ``X`` goes through the model's ``tree_input`` (categorical
levels become the codes its trees route on).  The loss is the model's own (``_make_loss()``): its
link predicts (the log link of ``"poisson"``, ``"gamma"``, ``"tweedie"``), its gradients replay the
fit for ``"eb"``, and an ``offset`` the model was fitted with is passed to ``shrink`` and ``predict``.
A custom objective is refused: the shrunk model keeps a copy of the booster, which cannot be saved
with the user's objective object.  A model fitted with ``monotonic_cst`` passes the constraint of
every split on, and the pooling keeps the shrunk model monotone.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..losses import REGRESSION_LOSSES, CustomLoss
from .inputs import ShrinkBoostInput
from .parsed import ParsedModel


def parse_shrinkboost(model) -> ParsedModel | None:
    """ParsedModel of a fitted ``ShrinkBoostRegressor``/``ShrinkBoostClassifier``; ``None`` for other classes."""
    from ..boosting.constraints import split_signs
    from ..boosting.gradient_boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

    if not isinstance(model, (ShrinkBoostRegressor, ShrinkBoostClassifier)):
        return None
    check_is_fitted(model, "_trees")
    if getattr(model, "_crosses", None) is not None:
        raise ValueError("shrink does not support a model fitted with cross_features: its trees split on cross "
                         "columns that X does not hold. Fit it with cross_features=False to shrink it.")
    if getattr(model, "_pairs", None) is not None:
        raise ValueError("shrink does not support a model fitted with category pairs (_category_pairs): its trees "
                         "split on pair columns that X does not hold.")
    stages = model.trees_
    K = len(model._baseline)
    trees = []
    for stage in stages:
        if len(stage) != K:
            raise ValueError(f"Each boosting iteration should hold {K} trees, found {len(stage)}.")
        for tree in stage:
            t = tree.copy()
            t.raw_value = np.array(tree.value, dtype=np.float64, copy=True)
            t.value = t.raw_value.copy()
            t.pooling_factor = np.ones(t.n_nodes)
            t.validate()
            trees.append(t)
    if not trees:
        raise ValueError("The shrinktree model has no trees.")
    loss = model._make_loss()
    classes = np.asarray(model.classes_) if isinstance(model, ShrinkBoostClassifier) else None
    if isinstance(loss, CustomLoss):
        raise ValueError(f"shrink does not support a ShrinkBoostRegressor with a custom objective "
                         f"({type(loss.objective).__name__}): the shrunk model keeps a copy of the booster to map "
                         "its inputs, and a saved model cannot hold the objective object. Supported: the losses "
                         f"{sorted(REGRESSION_LOSSES)}.")
    n_features = int(model.n_features_in_)
    max_bins = float(model.max_bins)
    names = getattr(model, "feature_names_in_", None)
    monotonic_cst = getattr(model, "_monotonic_cst", None)  # absent from models fitted before the constraints
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=np.tile(np.arange(K), len(stages)).astype(np.int64), n_outputs=K,
        aggregate="sum", init=np.asarray(model._baseline, dtype=np.float64).ravel().copy(), link=loss.link.name,
        loss=loss.name, loss_params=loss.parameters(), learning_rate=float(model.learning_rate),
        offset_supported=classes is None,
        trees_per_stage=K, classes=classes, n_features_in=n_features, float32_input=False,
        split_features=np.full(len(trees), float(model.colsample) * n_features),
        split_thresholds=[np.minimum(np.maximum(t.count - 1.0, 1.0), max_bins) for t in trees],
        source=type(model).__name__, feature_names_in=None if names is None else np.asarray(names, dtype=object),
        input_map=ShrinkBoostInput(model), objective=loss.name, replay_objectives=(loss.name,),
        split_signs=None if monotonic_cst is None else [split_signs(t, monotonic_cst) for t in trees],
    )
