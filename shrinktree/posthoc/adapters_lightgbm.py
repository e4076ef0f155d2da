"""Adapter for LightGBM models (``LGBMRegressor``, ``LGBMClassifier``, ``Booster``), read from ``dump_model``.

LightGBM is imported lazily: it is an optional dependency.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError

from .inputs import LightGBMPandasInput
from .node_stats import subtree_weighted_mean
from .parsed import ParsedModel, boosted_objective, build_tree, wrapper_labels

_OBJECTIVES = {
    # objective name: (link, loss for replaying the fit)
    "regression": ("identity", "squared_error"),
    "regression_l1": ("identity", None),
    "huber": ("identity", None),
    "fair": ("identity", None),
    "quantile": ("identity", None),
    "mape": ("identity", None),
    "poisson": ("log", "poisson"),
    "gamma": ("log", None),
    "tweedie": ("log", None),
    "binary": ("logistic", "binomial"),
    "multiclass": ("softmax", "multinomial"),
}


def _booster(model):
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return model, None
    if isinstance(model, lightgbm.LGBMModel):
        if not getattr(model, "fitted_", False):
            raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet: fit it before shrinking.")
        return model.booster_, model
    return None, None


def _flatten(structure: dict) -> dict:
    """Node arrays of one ``tree_structure`` in pre-order (parents before children)."""
    nodes, stack = [], [(structure, -1, 0)]
    while stack:
        node, parent, side = stack.pop()
        index = len(nodes)
        nodes.append((node, parent, side))
        if "split_index" in node:
            stack.append((node["right_child"], index, 1))
            stack.append((node["left_child"], index, 0))
    n = len(nodes)
    left = np.full(n, -1, np.int64)
    right = np.full(n, -1, np.int64)
    feature = np.full(n, -1, np.int64)
    threshold = np.zeros(n)
    missing_left = np.zeros(n, np.uint8)
    value = np.zeros(n)
    weight = np.zeros(n)
    count = np.zeros(n)
    gain = np.zeros(n)
    is_cat = np.zeros(n, np.uint8)
    cat_offset = np.full(n, -1, np.int64)
    bitsets: list[np.ndarray] = []
    for i, (node, parent, side) in enumerate(nodes):
        if parent >= 0:
            (left if side == 0 else right)[parent] = i
        if "split_index" in node:
            feature[i] = node["split_feature"]
            gain[i] = node.get("split_gain", 0.0)
            weight[i] = node["internal_weight"]
            count[i] = node["internal_count"]
            missing = node.get("missing_type", "None")
            if node["decision_type"] == "==":
                cats = np.array([int(c) for c in str(node["threshold"]).split("||")], dtype=np.int64)
                is_cat[i], cat_offset[i] = 1, len(bitsets)
                bitsets.append(cats)
                missing_left[i] = 0  # NaN, negative and unseen categories go right
            else:
                threshold[i] = float(node["threshold"])
                if missing == "Zero":
                    raise ValueError("shrink does not support LightGBM models trained with zero_as_missing=True.")
                if missing == "NaN":
                    missing_left[i] = 1 if node["default_left"] else 0
                else:  # "None": LightGBM treats NaN as 0.0
                    missing_left[i] = 1 if 0.0 <= threshold[i] else 0
        else:
            if "leaf_coeff" in node:
                raise ValueError("shrink does not support LightGBM linear trees (linear_tree=True).")
            value[i] = node["leaf_value"]
            weight[i] = node.get("leaf_weight", 0.0)
            count[i] = node.get("leaf_count", 0.0)
    return dict(left=left, right=right, feature=feature, threshold=threshold, missing_left=missing_left,
                value=value, weight=weight, count=count, gain=gain, is_cat=is_cat, cat_slot=cat_offset,
                categories=bitsets)


def _build(parts: dict, n_words: int):
    """TreeArrays with every categorical node's bitset ``n_words`` words wide (one width per model)."""
    words = np.zeros(len(parts["categories"]) * n_words, dtype=np.uint32)
    for slot, cats in enumerate(parts["categories"]):
        for c in cats:
            words[slot * n_words + (c >> 5)] |= np.uint32(1) << np.uint32(c & 31)
    cat_offset = np.where(parts["cat_slot"] >= 0, parts["cat_slot"] * n_words, -1)
    tree = build_tree(parts["left"], parts["right"], parts["feature"], parts["threshold"], parts["missing_left"],
                      parts["value"], parts["weight"], parts["count"], parts["gain"],
                      is_categorical=parts["is_cat"], cat_offset=cat_offset, cat_bitset=words)
    # Internal nodes: the mass-weighted mean of the leaves below (a parent's Newton value).
    tree.raw_value = subtree_weighted_mean(tree.parent.astype(np.int64), tree.left.astype(np.int64),
                                           tree.raw_value, tree.weight)
    tree.value = tree.raw_value.copy()
    return tree


def parse_lightgbm(model) -> ParsedModel:
    """ParsedModel of a fitted LightGBM estimator or Booster."""
    booster, estimator = _booster(model)
    if booster is None:
        from .shrink import unsupported

        raise unsupported(model)
    dump = booster.dump_model()
    if dump.get("average_output", False):
        raise ValueError("shrink does not support LightGBM random-forest mode (boosting='rf').")
    objective = str(dump.get("objective", "regression")).split()[0]
    link, loss = boosted_objective(_OBJECTIVES, objective, "LightGBM")
    K = int(dump["num_tree_per_iteration"])
    parts = [_flatten(info["tree_structure"]) for info in dump["tree_info"]]
    if not parts:
        raise ValueError("The LightGBM model has no trees.")
    max_cat = max((int(c.max()) for p in parts for c in p["categories"]), default=-1)
    n_words = max_cat // 32 + 1 if max_cat >= 0 else 0
    trees = [_build(p, n_words) for p in parts]
    cat_features = np.unique(np.concatenate([p["feature"][p["is_cat"] == 1] for p in parts])).astype(np.int64)
    params = booster.params or {}
    n_features = int(dump["max_feature_idx"]) + 1
    fraction = float(params.get("feature_fraction", params.get("colsample_bytree", 1.0)))
    max_bin = float(params.get("max_bin", 255))
    thresholds = [np.minimum(np.maximum(t.count - 1.0, 1.0), max_bin) for t in trees]
    classes, names = wrapper_labels(estimator, link, K)
    # Fitted on a DataFrame with 'category' columns: LightGBM routes on their fit-time codes.
    pandas_categorical = getattr(booster, "pandas_categorical", None) or dump.get("pandas_categorical") or None
    input_map = None
    if pandas_categorical:
        input_map = LightGBMPandasInput(pandas_categorical, n_features, names, cat_features)
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=(np.arange(len(trees)) % K).astype(np.int64), n_outputs=K,
        aggregate="sum", init=np.zeros(K), link=link, loss=loss, trees_per_stage=K, classes=classes,
        n_features_in=n_features, float32_input=False, split_features=np.full(len(trees), fraction * n_features),
        split_thresholds=thresholds, source=type(model).__name__,
        feature_names_in=names,
        cat_features=cat_features, cat_limit=32 * n_words, input_map=input_map,
    )
