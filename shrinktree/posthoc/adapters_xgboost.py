"""Adapter for XGBoost models (``XGBRegressor``, ``XGBClassifier``, ``Booster``), read from the JSON model.

XGBoost sends a row left when ``x < split_condition`` (features as float32).  The node arrays use
``x <= threshold``, so the threshold is the largest float32 below the split condition and
features are compared as float32.  An estimator's ``missing`` value other than NaN is read as NaN
(a ``Booster`` does not store the ``missing`` of the DMatrix it predicts on: NaN is assumed).
XGBoost is imported lazily: it is an optional dependency.
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.exceptions import NotFittedError

from ..losses import loss_for_name
from .node_stats import subtree_weighted_mean
from .parsed import NoLoss, ParsedModel, boosted_objective, build_tree, replayable, wrapper_labels

_OBJECTIVES = {
    # objective name: its shrinktree.losses loss (the parameters from the model), or NoLoss(link)
    "reg:squarederror": "squared_error",
    "reg:absoluteerror": "absolute_error",
    "reg:pseudohubererror": NoLoss(),
    "reg:quantileerror": "quantile",
    "count:poisson": "poisson",  # max_delta_step scales the training hessians only: the same pooling
    "reg:gamma": "gamma",
    "reg:tweedie": "tweedie",
    "binary:logistic": "log_loss",
    "multi:softprob": "log_loss",
    "multi:softmax": "log_loss",
}


def _objective_parameters(objective: dict, n_outputs: int) -> tuple[str, dict]:
    """The loss name to look up and its parameters, from the model's ``learner.objective`` entry
    (XGBoost's parameters are float32: the values it trained with)."""
    name = objective["name"]
    if name == "reg:tweedie":
        power = float(np.float32(objective.get("tweedie_regression_param", {}).get("tweedie_variance_power", 1.5)))
        # XGBoost's Tweedie gradients at power 1 are the Poisson ones (without max_delta_step).
        return ("count:poisson", {}) if power == 1.0 else (name, {"power": power})
    if name == "reg:quantileerror":
        alphas = str(objective.get("quantile_loss_param", {}).get("quantile_alpha", "0.5")).strip("[] ")
        values = [float(np.float32(a)) for a in alphas.split(",") if a.strip()]
        if len(values) != 1:
            raise ValueError(f"shrink supports reg:quantileerror with one quantile_alpha, not {values}.")
        return name, {"quantile": values[0]}
    if name in ("binary:logistic", "multi:softprob", "multi:softmax"):
        return name, {"n_classes": 2 if n_outputs == 1 else n_outputs}
    return name, {}


def _booster(model):
    import xgboost

    if isinstance(model, xgboost.Booster):
        return model, None
    if isinstance(model, xgboost.XGBModel):
        try:
            return model.get_booster(), model
        except xgboost.core.XGBoostError as exc:
            raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet: fit it before "
                                 "shrinking.") from exc
    return None, None


class XGBoostMissing:
    """Maps the float32-rounded ``X`` so that an estimator's ``missing`` value reads as NaN (a copy; picklable).

    XGBoost compares each float32 feature value with ``missing`` as a float32, so every value
    rounding to it is missing (``-0.0`` too when ``missing`` is zero) and goes to the default side.
    """

    def __init__(self, missing: float):
        self.missing = float(np.float32(missing))

    def validate(self, n_features: int) -> None:
        """Check a restored route: the missing value is a float."""
        if type(self.missing) is not float:
            raise ValueError("The route's missing value is not a number.")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        X[X == self.missing] = np.nan
        return X


def _missing_route(estimator) -> XGBoostMissing | None:
    missing = getattr(estimator, "missing", np.nan)
    if missing is None or np.isnan(np.float32(missing)):
        return None
    return XGBoostMissing(missing)


def _tree(spec: dict):
    left = np.asarray(spec["left_children"], dtype=np.int64)
    right = np.asarray(spec["right_children"], dtype=np.int64)
    if np.any(np.asarray(spec.get("split_type", [])) != 0):
        raise ValueError("shrink does not support XGBoost models with categorical splits.")
    if int(spec["tree_param"].get("size_leaf_vector", "1")) > 1:
        raise ValueError("shrink does not support XGBoost multi-target (vector-leaf) trees.")
    cond = np.asarray(spec["split_conditions"], dtype=np.float64)
    internal = left >= 0
    # x < c  <=>  x <= nextafter(c, -inf) for float32 x.
    threshold = np.where(internal, np.nextafter(cond.astype(np.float32), np.float32(-np.inf)).astype(np.float64), 0.0)
    cover = np.asarray(spec["sum_hessian"], dtype=np.float64)
    tree = build_tree(left, right, np.asarray(spec["split_indices"], dtype=np.int64), threshold,
                      np.asarray(spec["default_left"], dtype=np.uint8), np.where(internal, 0.0, cond), cover, cover,
                      np.asarray(spec["loss_changes"], dtype=np.float64))
    tree.raw_value = subtree_weighted_mean(tree.parent.astype(np.int64), tree.left.astype(np.int64),
                                           tree.raw_value, tree.weight)
    tree.value = tree.raw_value.copy()
    return tree


def parse_xgboost(model) -> ParsedModel | None:
    """ParsedModel of a fitted XGBoost estimator or Booster (tree boosters only); ``None`` for other classes."""
    import xgboost

    booster, estimator = _booster(model)
    if booster is None:
        return None
    learner = json.loads(booster.save_raw(raw_format="json"))["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") not in ("gbtree", "dart"):
        raise ValueError(f"shrink supports XGBoost tree boosters, not {gbm.get('name')!r}.")
    if gbm.get("name") == "dart":
        raise ValueError("shrink does not support XGBoost's dart booster (its trees carry dropout weights).")
    n_targets = int(learner["learner_model_param"].get("num_target", "1"))
    if n_targets > 1:
        raise ValueError(f"shrink: multi-output XGBoost models (num_target={n_targets}: a {n_targets}-column y, "
                         "with multi_strategy='one_output_per_tree' or 'multi_output_tree', or multi-label "
                         "classification) are not supported; fit one model per output.")
    objective = learner["objective"]["name"]
    K = max(1, int(learner["learner_model_param"].get("num_class", "0")))
    lookup, params = _objective_parameters(learner["objective"], K) if objective in _OBJECTIVES else (objective, {})
    loss, loss_params, link = boosted_objective(_OBJECTIVES, lookup, "XGBoost", **params)
    if callable(getattr(estimator, "objective", None)):
        # An objective function: XGBoost predicts through the objective it names (the link), but the
        # gradients were the function's.  (A Booster trained with ``obj=`` does not say so.)
        objective, loss, loss_params = "custom", None, {}
    spec = gbm["model"]
    trees = [_tree(t) for t in spec["trees"]]
    if not trees:
        raise ValueError("The XGBoost model has no trees.")
    n_features = int(learner["learner_model_param"]["num_feature"])
    per_stage = K * int(spec["gbtree_model_param"].get("num_parallel_tree", "1"))
    tree_output = np.asarray(spec["tree_info"], dtype=np.int64)
    # The constant margin (base score): the model's margin at any row minus its trees' sum there.
    x0 = np.zeros((1, n_features), dtype=np.float32)
    margin = np.asarray(booster.predict(xgboost.DMatrix(x0), output_margin=True), dtype=np.float64).reshape(-1)
    tree_sum = np.zeros(K)
    for t, tree in zip(tree_output, trees):
        node = 0
        while tree.left[node] >= 0:
            node = tree.left[node] if 0.0 <= tree.threshold[node] else tree.right[node]
        tree_sum[t] += tree.raw_value[node, 0]
    config = json.loads(booster.save_config())["learner"]["gradient_booster"]
    train = config.get("tree_train_param", {}) or config.get("updater", {})
    max_bin = float(train.get("max_bin", 256)) if isinstance(train, dict) else 256.0
    eta = float(train.get("eta", train.get("learning_rate", 0.3))) if isinstance(train, dict) else 0.3
    fraction = 1.0
    if isinstance(train, dict):
        for key in ("colsample_bytree", "colsample_bylevel", "colsample_bynode"):
            fraction *= float(train.get(key, 1.0))
    classes, names = wrapper_labels(estimator, link, K)
    # Nodes store hessian sums ("cover"): weighted row counts where every hessian is the row's weight.
    constant_hessian = loss is not None and loss_for_name(loss, **loss_params).constant_hessian
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=tree_output, n_outputs=K, aggregate="sum",
        init=margin - tree_sum, link=link, loss=loss, loss_params=loss_params, learning_rate=eta,
        trees_per_stage=per_stage, classes=classes,
        n_features_in=n_features, float32_input=True, split_features=np.full(len(trees), fraction * n_features),
        split_thresholds=[np.full(t.n_nodes, max_bin) for t in trees],
        source=type(model).__name__, counts_are_rows=constant_hessian,
        feature_names_in=names, objective=objective, replay_objectives=replayable(_OBJECTIVES),
        route=_missing_route(estimator),
    )
