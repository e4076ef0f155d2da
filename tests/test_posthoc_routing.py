"""Edge values route as in the base library: with no pooling the shrunk model predicts exactly like it.

Values near zero, signed zeros, subnormals, NaN, huge values and odd categorical codes are where a
library's own routing rules (LightGBM's zero threshold and integer categories, XGBoost's float32
``<`` comparison and ``missing`` value) part from a plain ``x <= threshold``.
"""

import pickle

import lightgbm as lgb
import numpy as np
import pytest

from shrinktree import shrink

# LightGBM's kZeroThreshold is the float literal 1e-35f read as a double.
K_ZERO = float(np.float32(1e-35))
NUMERIC_EDGES = [1e-36, -1e-36, 1e-35, -1e-35, K_ZERO, -K_ZERO, float(np.nextafter(K_ZERO, 1.0)),
                 -float(np.nextafter(K_ZERO, 1.0)), 2e-35, -2e-35, 0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310,
                 np.nan, 1e300, -1e300, 1e301, -1e301, 1.7e308, -1.7e308]
CATEGORICAL_EDGES = [-0.5, -0.999, 0.3, 0.999, 2.7, -1.0, -1.5, np.nan, 1e10, -1e10, 2.0**31, 2.0**31 - 1,
                     2.0**32 + 3, 31.9, 32.0, 63.5, 1e301, -1e301, -0.0, 1e-36, -1e-36, 5e-324, 5.0]


def _edge_rows(X, columns, edges):
    """Rows of ``X`` with every edge value put in each of ``columns`` in turn (other columns as they were)."""
    rows = []
    for j in columns:
        for i, v in enumerate(edges):
            for r in range(0, len(X), max(1, len(X) // 7)):
                row = X[(r + i) % len(X)].copy()
                row[j] = v
                rows.append(row)
    return np.array(rows)


def _lightgbm_data(task):
    """Feature 0 has many exact zeros, 1 is often NaN, 2 is categorical (0..9), 3 is plain noise."""
    rng = np.random.default_rng(1)
    n = 3000
    X = rng.normal(size=(n, 4))
    X[rng.random(n) < 0.35, 0] = 0.0
    X[rng.random(n) < 0.25, 1] = np.nan
    X[:, 2] = rng.integers(0, 10, n)
    signal = (3.0 * (X[:, 0] == 0) + 1.5 * (X[:, 0] > 0) + 2.0 * np.isnan(X[:, 1]) + np.nan_to_num(X[:, 1])
              + 2.5 * np.isin(X[:, 2], [0, 3, 7]) + 0.5 * X[:, 3])
    if task == "reg":
        y = signal + rng.normal(scale=0.3, size=n)
    elif task == "bin":
        y = (signal + rng.normal(scale=0.5, size=n) > np.median(signal)).astype(int)
    else:
        y = np.digitize(signal + rng.normal(scale=0.5, size=n), np.quantile(signal, [0.33, 0.66]))
    return X, y


def _split_nodes(booster):
    nodes = []

    def walk(node):
        if "split_index" in node:
            nodes.append(node)
            walk(node["left_child"])
            walk(node["right_child"])

    for info in booster.dump_model()["tree_info"]:
        walk(info["tree_structure"])
    return nodes


@pytest.mark.parametrize("missing", ["default", "zero_as_missing", "no_missing"])
@pytest.mark.parametrize("task", ["reg", "bin", "multi"])
def test_lightgbm_edge_values_route_as_lightgbm(task, missing):
    X, y = _lightgbm_data(task)
    params = {"default": {}, "zero_as_missing": {"zero_as_missing": True},
              "no_missing": {"use_missing": False}}[missing]
    cls = lgb.LGBMRegressor if task == "reg" else lgb.LGBMClassifier
    model = cls(n_estimators=30, num_leaves=15, min_child_samples=5, min_data_per_group=5, cat_smooth=1,
                verbose=-1, random_state=0, **params).fit(X, y, categorical_feature=[2])
    nodes = _split_nodes(model.booster_)
    kinds = {n["missing_type"] for n in nodes if n["decision_type"] == "<="}
    assert kinds == {"default": {"None", "NaN"}, "zero_as_missing": {"Zero"}, "no_missing": {"None"}}[missing]
    # The model has the splits these edge values probe: at +-kZeroThreshold and categorical ones.
    assert any(abs(n["threshold"]) == K_ZERO for n in nodes if n["decision_type"] == "<=")
    assert any(n["decision_type"] == "==" and "0" in n["threshold"].split("||") for n in nodes)
    X_test = np.vstack([_edge_rows(X, [0, 1, 3], NUMERIC_EDGES), _edge_rows(X, [2], CATEGORICAL_EDGES)])
    shrunk = shrink(model, X, y, method="none")
    raw = shrunk.predict(X_test) if task == "reg" else shrunk.decision_function(X_test)
    np.testing.assert_allclose(raw, model.predict(X_test, raw_score=True), rtol=0, atol=1e-10)
    np.testing.assert_allclose(shrunk.predict(X), model.predict(X), rtol=0, atol=1e-10)


def test_lightgbm_split_between_nan_and_all_numbers():
    """A split that sends every number left and NaN right has threshold +inf (dumped as 1e300)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2))
    missing = rng.random(2000) < 0.3
    X[missing, 0] = np.nan
    y = 5.0 * missing + X[:, 1]
    model = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    assert model.booster_.dump_model()["tree_info"][0]["tree_structure"]["threshold"] == 1e300
    X_test = np.repeat(X[:4], 5, axis=0)
    X_test[:, 0] = np.tile([1e299, 1e300, 1e301, 1.7e308, np.nan], 4)
    np.testing.assert_allclose(shrink(model, method="none").predict(X_test), model.predict(X_test), atol=1e-10)


def test_lightgbm_zero_as_missing_mixed_with_nan_splits_is_a_clear_error():
    """Training further with other missing-value settings can mix splits the kernel cannot follow at once."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    X[rng.random(3000) < 0.3, 0] = 0.0
    X[rng.random(3000) < 0.2, 0] = np.nan
    y = 3.0 * (X[:, 0] == 0) - 2.0 * np.isnan(X[:, 0]) + np.nan_to_num(X[:, 0]) + X[:, 1]
    first = lgb.train({"zero_as_missing": True, "verbose": -1}, lgb.Dataset(X, y), 10)
    np.testing.assert_allclose(shrink(first, method="none").predict(X), first.predict(X), atol=1e-10)
    mixed = lgb.train({"verbose": -1}, lgb.Dataset(X, y), 10, init_model=first)
    with pytest.raises(ValueError, match="cannot follow this LightGBM model on feature 0"):
        shrink(mixed, method="none")


def test_lightgbm_routing_survives_pickling():
    X, y = _lightgbm_data("reg")
    model = lgb.LGBMRegressor(n_estimators=10, zero_as_missing=True, verbose=-1).fit(X, y, categorical_feature=[2])
    X_test = _edge_rows(X[:50], [0, 2], NUMERIC_EDGES + CATEGORICAL_EDGES)
    restored = pickle.loads(pickle.dumps(shrink(model, method="none")))
    np.testing.assert_allclose(restored.predict(X_test), model.predict(X_test), atol=1e-10)


@pytest.mark.parametrize("missing", [0.0, -999.0, 0.1])
@pytest.mark.parametrize("task", ["reg", "bin"])
def test_xgboost_missing_value_routes_as_xgboost(task, missing):
    """An estimator's ``missing`` value (compared as float32) goes to each split's default side, as NaN does."""
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 3))
    X[rng.random(1500) < 0.3, 0] = missing
    X[rng.random(1500) < 0.2, 1] = np.nan
    y = np.where(X[:, 0] == missing, 3.0, X[:, 0]) + np.nan_to_num(X[:, 1]) + X[:, 2] + rng.normal(scale=0.1, size=1500)
    if task == "reg":
        model = xgb.XGBRegressor(n_estimators=20, max_depth=4, missing=missing).fit(X, y)
    else:
        model = xgb.XGBClassifier(n_estimators=20, max_depth=4, missing=missing).fit(X, (y > np.median(y)).astype(int))
    X_test = X[:300].copy()
    # float64 neighbours of the missing value that round to it in float32 are missing too.
    X_test[:40, 2] = [missing, -missing, np.nextafter(missing, 1.0), float(np.float32(missing)), np.nan] * 8
    X_test[40:60, 0] = np.nextafter(np.float32(missing), np.float32(1.0))  # a different float32: not missing
    shrunk = pickle.loads(pickle.dumps(shrink(model, method="none")))  # the route is saved with the model
    if task == "reg":
        np.testing.assert_allclose(shrunk.predict(X_test), model.predict(X_test), rtol=0, atol=2e-5)
    else:
        np.testing.assert_allclose(shrunk.predict_proba(X_test), model.predict_proba(X_test), rtol=0, atol=2e-6)


@pytest.mark.parametrize("kind", ["int64", "uint32", "list"])
def test_lightgbm_reads_integer_arrays_as_float32(kind):
    """LightGBM casts a numeric array (or list) of a non-float dtype to float32: large integers (timestamps) round."""
    rng = np.random.default_rng(0)
    stamp = 1_700_000_000 + rng.integers(0, 10_000_000, 3000)
    X = np.column_stack([stamp, rng.integers(0, 5, 3000)]).astype(np.int64)
    y = 2.0 * (stamp > 1_705_000_000) + X[:, 1] + rng.normal(size=3000)
    model = lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, y)
    thresholds = [n["threshold"] for n in _split_nodes(model.booster_) if n["split_feature"] == 0]
    near = np.concatenate([np.arange(int(t) - 100, int(t) + 100) for t in thresholds[:5]])
    X_test = np.column_stack([near, np.zeros_like(near)]).astype(np.uint32 if kind == "uint32" else np.int64)
    if kind == "list":
        X_test = X_test.tolist()
    shrunk = shrink(model, X, y, method="none")
    np.testing.assert_allclose(shrunk.predict(X_test), model.predict(X_test), rtol=0, atol=1e-10)
    # A float64 matrix is read exactly, by both.
    X_float = np.asarray(X_test, dtype=np.float64)
    np.testing.assert_allclose(shrunk.predict(X_float), model.predict(X_float), rtol=0, atol=1e-10)


def _float32_neighbours(thresholds):
    """Values at and around each threshold, in float64 and in float32 (where the float32 libraries round)."""
    out = []
    for t in thresholds:
        t32 = np.float32(t)
        up, down = np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))
        out += [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), float(t32), float(up), float(down),
                (float(t32) + float(up)) / 2, (float(t32) + float(down)) / 2]
    return out


def _other_models():
    import xgboost as xgb
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeRegressor

    # (model, accepts NaN, tolerance)
    return {
        "tree": (DecisionTreeRegressor(max_depth=8, random_state=0), True, 1e-10),
        "forest": (RandomForestRegressor(10, max_depth=8, random_state=0), True, 1e-10),
        "extra": (ExtraTreesRegressor(10, max_depth=8, random_state=0), True, 1e-10),
        "gb": (GradientBoostingRegressor(n_estimators=20, random_state=0), False, 1e-10),
        "hgb": (HistGradientBoostingRegressor(max_iter=20, random_state=0), True, 1e-10),
        "xgb": (xgb.XGBRegressor(n_estimators=20, max_depth=4, random_state=0), True, 2e-5),
    }


def _thresholds(shrunk, j, limit=40):
    values = sorted({float(t.threshold[i]) for t in shrunk.trees_ for i in np.flatnonzero(t.feature == j)
                     if np.isfinite(np.float32(t.threshold[i]))})
    return values[:: max(1, len(values) // limit)]


@pytest.mark.parametrize("name", ["tree", "forest", "extra", "gb", "hgb", "xgb"])
def test_other_adapters_route_edge_values_as_their_library(name):
    """Checked, already exact: signed zeros, subnormals, NaN and float32 rounding at the thresholds."""
    model, nan_ok, tol = _other_models()[name]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    X[rng.random(2000) < 0.3, 0] = 0.0
    X[:, 2] = np.round(X[:, 2], 1)  # ties: thresholds midway between float32 values
    if nan_ok:
        X[rng.random(2000) < 0.2, 1] = np.nan
    y = 3.0 * (X[:, 0] == 0) + 1.5 * (X[:, 0] > 0) + np.nan_to_num(X[:, 1]) + X[:, 2]
    model.fit(X, y)
    shrunk = shrink(model, method="none")
    edges = [0.0, -0.0, 5e-324, -5e-324, 1e-40, -1e-40, 1e-45, -1e-45, 7e-46, -7e-46, 3.4e38, -3.4e38]
    if nan_ok:
        edges.append(np.nan)
    for j in range(3):
        thresholds = _thresholds(shrunk, j)
        assert thresholds
        values = edges + _float32_neighbours(thresholds)
        X_test = np.repeat(X[:10], len(values), axis=0)
        X_test[:, j] = np.tile(values, 10)
        np.testing.assert_allclose(shrunk.predict(X_test), model.predict(X_test), rtol=0, atol=tol * np.std(y))


def test_restored_route_with_out_of_range_features_is_refused():
    from shrinktree._integrity import DIGEST_KEY
    from shrinktree.exceptions import ModelIntegrityError
    from shrinktree.posthoc.adapters_lightgbm import LightGBMRouting

    X, y = _lightgbm_data("reg")
    model = lgb.LGBMRegressor(n_estimators=5, zero_as_missing=True, verbose=-1).fit(X, y, categorical_feature=[2])
    shrunk = shrink(model, method="none")
    state = shrunk.__getstate__()
    state.pop(DIGEST_KEY)  # past the digest: the structural check must still refuse it
    state["_parsed"].route = LightGBMRouting(np.array([7], dtype=np.int64), 32, [0])
    with pytest.raises(ModelIntegrityError, match="cat_features"):
        type(shrunk).__new__(type(shrunk)).__setstate__(state)
