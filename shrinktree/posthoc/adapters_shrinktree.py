"""Adapter for shrinktree's own boosters (``ShrinkBoostRegressor``, ``ShrinkBoostClassifier``).

The model's trees are copied with their *pooled* node values as the raw values: ``method="none"``
reproduces the model exactly, and ``"hs"``/``"eb"`` pool on top of the model as it predicts (for a
model fitted with ``shrinkage="none"`` that is re-pooling its Newton values).  The learning rate is
already folded into every node value.  ``X`` goes through the model's ``tree_input`` (categorical
levels become the codes its trees route on).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .inputs import ShrinkBoostInput
from .parsed import ParsedModel


def parse_shrinkboost(model) -> ParsedModel | None:
    """ParsedModel of a fitted ``ShrinkBoostRegressor``/``ShrinkBoostClassifier``; ``None`` for other classes."""
    from ..boosting.gradient_boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

    if not isinstance(model, (ShrinkBoostRegressor, ShrinkBoostClassifier)):
        return None
    check_is_fitted(model, "_trees")
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
    if isinstance(model, ShrinkBoostClassifier):
        link, loss = ("logistic", "binomial") if K == 1 else ("softmax", "multinomial")
        classes, objective = np.asarray(model.classes_), "log_loss"
    else:
        link, loss, classes, objective = "identity", "squared_error", None, "squared_error"
    n_features = int(model.n_features_in_)
    max_bins = float(model.max_bins)
    names = getattr(model, "feature_names_in_", None)
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=np.tile(np.arange(K), len(stages)).astype(np.int64), n_outputs=K,
        aggregate="sum", init=np.asarray(model._baseline, dtype=np.float64).ravel().copy(), link=link, loss=loss,
        trees_per_stage=K, classes=classes, n_features_in=n_features, float32_input=False,
        split_features=np.full(len(trees), float(model.colsample) * n_features),
        split_thresholds=[np.minimum(np.maximum(t.count - 1.0, 1.0), max_bins) for t in trees],
        source=type(model).__name__, feature_names_in=None if names is None else np.asarray(names, dtype=object),
        input_map=ShrinkBoostInput(model), objective=objective, replay_objectives=(objective,),
    )
