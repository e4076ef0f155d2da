"""Adapter for LightGBM models (``LGBMRegressor``, ``LGBMClassifier``, ``Booster``), read from ``dump_model``.

The objective's parameters (``alpha`` of huber and quantile, ``tweedie_variance_power``,
``learning_rate``, ``boost_from_average``) are read from the parameters the model text stores.
LightGBM adds its starting score (``boost_from_average``: the mean, log mean or quantile of the
training target) to the first iteration's trees rather than storing it: ``"eb"`` computes it from the
training rows to replay the first iteration at it.  LightGBM is imported lazily: it is an optional
dependency.
"""

from __future__ import annotations

import re

import numpy as np
from sklearn.exceptions import NotFittedError

from .inputs import LightGBMPandasInput
from .node_stats import subtree_weighted_mean
from .parsed import NoLoss, ParsedModel, boosted_objective, build_tree, replayable, wrapper_labels

# LightGBM's kZeroThreshold (include/LightGBM/meta.h) is the float literal 1e-35f, read as a double.
K_ZERO_THRESHOLD = float(np.float32(1e-35))
_DUMP_CAP = 1e300  # dump_model writes larger thresholds (+-inf) as +-1e300
_MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}

_OBJECTIVES = {
    # objective name: its shrinktree.losses loss (the parameters from the model), or NoLoss(link)
    "regression": "squared_error",
    "regression_l1": "absolute_error",
    "huber": "huber",
    "fair": NoLoss(),
    "quantile": "quantile",
    "mape": NoLoss(),
    "poisson": "poisson",  # poisson_max_delta_step scales the training hessians only: the same pooling
    "gamma": "gamma",
    "tweedie": "tweedie",
    "binary": "log_loss",
    "multiclass": "log_loss",
    "custom": NoLoss(),  # an objective function: LightGBM predicts the raw score
}
# LightGBM's starting score (BoostFromScore) by objective: "mean" of y, "log_mean" (log of the mean),
# "quantile" (the loss's own weighted quantile, LightGBM interpolates between neighbours).  The log-odds
# of the classifiers need none: a constant starting score leaves their pooling factors unchanged.
_START_SCORES = {"regression": "mean", "huber": "mean", "poisson": "log_mean", "gamma": "log_mean",
                 "tweedie": "log_mean", "regression_l1": "quantile", "quantile": "quantile"}


def _booster(model):
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return model, None
    if isinstance(model, lightgbm.LGBMModel):
        if not getattr(model, "fitted_", False):
            raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet: fit it before shrinking.")
        return model.booster_, model
    return None, None


def _model_parameters(text: str) -> dict[str, str]:
    """The ``[name: value]`` lines of the ``parameters:`` section of a LightGBM model text (empty if none)."""
    head, _, rest = text.partition("\nparameters:\n")
    if not rest:
        return {}
    section = rest.partition("end of parameters")[0]
    return dict(re.findall(r"^\[([^:\]]+): ?(.*)\]$", section, flags=re.MULTILINE))


def _number(parameters: dict, name: str, default: float) -> float:
    try:
        return float(parameters.get(name, default))
    except ValueError:
        raise ValueError(f"The LightGBM model stores the parameter {name}={parameters[name]!r}, "
                         "which is not a number.") from None


def _objective(dump: dict, parameters: dict, n_outputs: int) -> tuple[str, str | None, dict, str]:
    """``(name, loss, loss_params, link)`` of the objective as ``dump_model`` writes it (``"binary sigmoid:1"``,
    ``"regression sqrt"``; nothing for an objective function), with the loss's parameters."""
    text = str(dump.get("objective", "custom"))
    name, *options = text.split()
    params = {}
    if name in ("huber", "quantile"):
        params = {"huber_delta" if name == "huber" else "quantile": _number(parameters, "alpha", 0.9)}
    elif name == "tweedie":
        params = {"power": _number(parameters, "tweedie_variance_power", 1.5)}
        if params["power"] == 1.0:  # LightGBM's Tweedie gradients at power 1 are the Poisson ones
            name, params = "poisson", {}
    elif name in ("binary", "multiclass"):
        params = {"n_classes": 2 if n_outputs == 1 else n_outputs}
    loss, loss_params, link = boosted_objective(_OBJECTIVES, name, "LightGBM", **params)
    name = text.split()[0]
    if "sqrt" in options:
        raise ValueError(f"shrink does not support the LightGBM objective {text!r}: with reg_sqrt=True LightGBM "
                         "predicts the signed square of the raw score. Supported: the objectives "
                         f"{sorted(_OBJECTIVES)} without reg_sqrt.")
    sigmoid = [float(o.split(":", 1)[1]) for o in options if o.startswith("sigmoid:")]
    if sigmoid and sigmoid[0] != 1.0:
        raise ValueError(f"shrink does not support the LightGBM objective {text!r}: with sigmoid={sigmoid[0]:g} "
                         "LightGBM's probabilities are 1/(1+exp(-sigmoid*score)). Supported: 'binary' with "
                         "sigmoid=1.0 (the default).")
    return name, loss, loss_params, link


class LightGBMStartScore:
    """LightGBM's starting score of a regression objective (``boost_from_average``), from the training rows."""

    def __init__(self, kind: str):
        self.kind = kind

    def __call__(self, y: np.ndarray, w: np.ndarray, loss) -> np.ndarray:
        if self.kind == "quantile":
            return loss.baseline(y, w)
        mean = float(np.average(y, weights=w))
        if self.kind == "mean":
            return np.array([mean])
        return np.array([np.log(mean) if mean > 0 else -np.inf])


def _flatten(structure: dict) -> dict:
    """Node arrays of one ``tree_structure`` in pre-order (parents before children).

    ``missing_left`` is set for categorical splits only; :func:`_route_missing` sets it for the numerical
    ones from ``missing_type`` and ``default_left`` once their exact thresholds are known.
    """
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
    split_index = np.full(n, -1, np.int64)
    threshold = np.zeros(n)
    missing_left = np.zeros(n, np.uint8)
    missing_type = np.full(n, -1, np.int8)
    default_left = np.zeros(n, np.uint8)
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
            split_index[i] = node["split_index"]
            gain[i] = node.get("split_gain", 0.0)
            weight[i] = node["internal_weight"]
            count[i] = node["internal_count"]
            if node["decision_type"] == "==":
                cats = np.array([int(c) for c in str(node["threshold"]).split("||")], dtype=np.int64)
                is_cat[i], cat_offset[i] = 1, len(bitsets)
                bitsets.append(cats)
                missing_left[i] = 0  # NaN, negative and unseen categories go right
            else:
                threshold[i] = float(node["threshold"])
                missing_type[i] = _MISSING_TYPES[node.get("missing_type", "None")]
                default_left[i] = 1 if node["default_left"] else 0
        else:
            if "leaf_coeff" in node:
                raise ValueError("shrink does not support LightGBM linear trees (linear_tree=True).")
            value[i] = node["leaf_value"]
            weight[i] = node.get("leaf_weight", 0.0)
            count[i] = node.get("leaf_count", 0.0)
    return dict(left=left, right=right, feature=feature, split_index=split_index, threshold=threshold,
                missing_left=missing_left, missing_type=missing_type, default_left=default_left, value=value,
                weight=weight, count=count, gain=gain, is_cat=is_cat, cat_slot=cat_offset, categories=bitsets)


def _exact_thresholds(text: str, parts: list[dict]) -> None:
    """Put back the numerical thresholds that ``dump_model`` caps at +-1e300 (a split of every number from
    NaN has threshold +inf), from the model text, which writes every threshold exactly."""
    capped = [np.flatnonzero((p["missing_type"] >= 0) & (np.abs(p["threshold"]) >= _DUMP_CAP)) for p in parts]
    if not any(len(c) for c in capped):
        return
    lines = re.findall(r"^threshold=(.*)$", text, flags=re.MULTILINE)
    if len(lines) != len(parts):  # pragma: no cover - the text and the dump hold the same trees
        raise ValueError("The LightGBM model text and its dump disagree on the number of trees.")
    for p, nodes, line in zip(parts, capped, lines):
        if len(nodes):
            exact = np.array(line.split(), dtype=np.float64)
            p["threshold"][nodes] = exact[p["split_index"][nodes]]


def _route_missing(parts: list[dict], n_features: int) -> np.ndarray:
    """Set ``missing_left`` of every numerical split; return the features whose zeros must read as NaN.

    LightGBM reads NaN as 0.0 at splits of missing type None and Zero; type Zero sends zero to its
    default side, type NaN sends NaN there.  Where a type-Zero split's default side is not the side its
    threshold puts 0.0 on, the kernel (which sends NaN by ``missing_left`` and numbers by the threshold)
    sees that feature's zeros as NaN: that is exact as long as no type-NaN split of the feature sends
    NaN and 0.0 apart.
    """
    zero_as_nan = np.zeros(n_features, dtype=bool)
    for p in parts:
        numerical = p["missing_type"] >= 0
        zero_left = (0.0 <= p["threshold"]).astype(np.uint8)
        default = p["default_left"]
        p["missing_left"] = np.where(numerical & (p["missing_type"] != _MISSING_TYPES["None"]), default,
                                     np.where(numerical, zero_left, p["missing_left"])).astype(np.uint8)
        apart = numerical & (default != zero_left)
        zero_as_nan[p["feature"][apart & (p["missing_type"] == _MISSING_TYPES["Zero"])]] = True
    for p in parts:
        apart = (p["missing_type"] == _MISSING_TYPES["NaN"]) & (p["default_left"] != (0.0 <= p["threshold"]))
        clash = apart & zero_as_nan[np.maximum(p["feature"], 0)]
        if np.any(clash):
            j = int(p["feature"][np.flatnonzero(clash)[0]])
            raise ValueError(f"shrink cannot follow this LightGBM model on feature {j}: some of its splits treat "
                             "zero as missing and others send NaN and zero to different sides (a model "
                             "trained further with other missing-value settings).")
    return np.flatnonzero(zero_as_nan).astype(np.int64)


class LightGBMRouting:
    """Maps a validated float64 ``X`` to the values LightGBM's splits compare (a copy; picklable).

    * ``|x| <= kZeroThreshold`` becomes 0.0 in every column: LightGBM's C API drops such values from
      a row before predicting, so every split reads them as zero (``-0.0`` and subnormals included).
    * In the ``zero_as_nan`` columns 0.0 becomes NaN (see :func:`_route_missing`).
    * Categorical columns are cast to int as LightGBM does (toward zero: -0.5 and 0.3 are category 0);
      codes outside ``[0, n_codes)`` become NaN, which goes right, as NaN, negative codes and codes
      beyond a split's bitset do in LightGBM.
    """

    def __init__(self, cat_features, n_codes: int, zero_as_nan):
        self.cat_features = np.asarray(cat_features, dtype=np.int64)
        self.n_codes = int(n_codes)
        self.zero_as_nan = np.asarray(zero_as_nan, dtype=np.int64)

    def validate(self, n_features: int) -> None:
        """Check a restored route: feature indices in range, a non-negative number of codes."""
        for name in ("cat_features", "zero_as_nan"):
            columns = getattr(self, name)
            if not isinstance(columns, np.ndarray) or columns.ndim != 1 or columns.dtype.kind not in "iu" \
                    or (len(columns) and (columns.min() < 0 or columns.max() >= n_features)):
                raise ValueError(f"The route's {name} are not feature indices of a {n_features}-feature model.")
        if type(self.n_codes) is not int or self.n_codes < 0:
            raise ValueError("The route's number of categorical codes is invalid.")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        X[(X >= -K_ZERO_THRESHOLD) & (X <= K_ZERO_THRESHOLD)] = 0.0
        if len(self.zero_as_nan):
            cols = X[:, self.zero_as_nan]
            cols[cols == 0.0] = np.nan
            X[:, self.zero_as_nan] = cols
        if len(self.cat_features):
            cols = np.trunc(X[:, self.cat_features])
            cols[~((cols >= 0) & (cols < self.n_codes))] = np.nan
            X[:, self.cat_features] = cols
        return X


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


def parse_lightgbm(model) -> ParsedModel | None:
    """ParsedModel of a fitted LightGBM estimator or Booster; ``None`` for other classes."""
    booster, estimator = _booster(model)
    if booster is None:
        return None
    dump = booster.dump_model()
    if dump.get("average_output", False):
        raise ValueError("shrink does not support LightGBM random-forest mode (boosting='rf').")
    text = booster.model_to_string()
    parameters = _model_parameters(text)
    K = int(dump["num_tree_per_iteration"])
    objective, loss, loss_params, link = _objective(dump, parameters, K)
    parts = [_flatten(info["tree_structure"]) for info in dump["tree_info"]]
    if not parts:
        raise ValueError("The LightGBM model has no trees.")
    n_features = int(dump["max_feature_idx"]) + 1
    _exact_thresholds(text, parts)
    zero_as_nan = _route_missing(parts, n_features)
    max_cat = max((int(c.max()) for p in parts for c in p["categories"]), default=-1)
    n_words = max_cat // 32 + 1 if max_cat >= 0 else 0
    trees = [_build(p, n_words) for p in parts]
    cat_features = np.unique(np.concatenate([p["feature"][p["is_cat"] == 1] for p in parts])).astype(np.int64)
    params = booster.params or {}
    fraction = float(params.get("feature_fraction", params.get("colsample_bytree", 1.0)))
    max_bin = float(params.get("max_bin", 255))
    thresholds = [np.minimum(np.maximum(t.count - 1.0, 1.0), max_bin) for t in trees]
    classes, names = wrapper_labels(estimator, link, K)
    # Fitted on a DataFrame with 'category' columns: LightGBM routes on their fit-time codes.
    pandas_categorical = getattr(booster, "pandas_categorical", None) or dump.get("pandas_categorical") or None
    input_map = None
    if pandas_categorical:
        input_map = LightGBMPandasInput(pandas_categorical, n_features, names, cat_features)
    start = None
    if objective in _START_SCORES and str(parameters.get("boost_from_average", "1")).strip() not in ("0", "false"):
        start = LightGBMStartScore(_START_SCORES[objective])
    return ParsedModel(
        trees=trees, kind="boosted", tree_output=(np.arange(len(trees)) % K).astype(np.int64), n_outputs=K,
        aggregate="sum", init=np.zeros(K), link=link, loss=loss, loss_params=loss_params,
        learning_rate=_number(parameters, "learning_rate", 0.1), start_score=start,
        trees_per_stage=K, classes=classes,
        n_features_in=n_features, float32_input=False, split_features=np.full(len(trees), fraction * n_features),
        split_thresholds=thresholds, source=type(model).__name__,
        feature_names_in=names,
        route=LightGBMRouting(cat_features, 32 * n_words, zero_as_nan), input_map=input_map,
        objective=objective, replay_objectives=replayable(_OBJECTIVES), integers_as_float32=True,
    )
