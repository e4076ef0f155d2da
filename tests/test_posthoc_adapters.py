"""Every adapter reads its model exactly: with no pooling the converted model predicts like the original."""

import copy
import pickle

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification, make_regression
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
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shrinktree import shrink


def _data(task, nan):
    if task == "reg":
        X, y = make_regression(n_samples=500, n_features=6, noise=20.0, random_state=3)
    else:
        X, y = make_classification(n_samples=500, n_features=6, n_informative=4,
                                   n_classes=2 if task == "bin" else 3, random_state=3)
    if nan:
        X = X.copy()
        X[::13, 1] = np.nan
        X[5::29, 4] = np.nan
    return X, y


# (factory, tasks, handles NaN, tolerance)
MODELS = {
    "tree": (lambda t: (DecisionTreeRegressor if t == "reg" else DecisionTreeClassifier)(max_depth=8, random_state=0),
             True, 1e-10),
    "forest": (lambda t: (RandomForestRegressor if t == "reg" else RandomForestClassifier)(20, random_state=0),
               True, 1e-10),
    "extra": (lambda t: (ExtraTreesRegressor if t == "reg" else ExtraTreesClassifier)(20, random_state=0),
              False, 1e-10),
    "gb": (lambda t: (GradientBoostingRegressor if t == "reg" else GradientBoostingClassifier)(
        n_estimators=25, random_state=0), False, 1e-10),
    "hgb": (lambda t: (HistGradientBoostingRegressor if t == "reg" else HistGradientBoostingClassifier)(
        max_iter=25, random_state=0), True, 1e-10),
    "lgbm": (lambda t: (lgb.LGBMRegressor if t == "reg" else lgb.LGBMClassifier)(
        n_estimators=25, num_leaves=15, verbose=-1, random_state=0), True, 1e-10),
    # XGBoost sums leaf values in float32.
    "xgb": (lambda t: (xgb.XGBRegressor if t == "reg" else xgb.XGBClassifier)(
        n_estimators=25, max_depth=4, random_state=0), True, 2e-6),
}


def _prediction(model, X, task):
    return model.predict(X) if task == "reg" else model.predict_proba(X)


@pytest.mark.parametrize("task", ["reg", "bin", "multi"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_pooling_reproduces_the_model(name, task):
    make, nan, tol = MODELS[name]
    X, y = _data(task, nan)
    model = make(task).fit(X, y)
    before = _prediction(model, X, task)
    snapshot = pickle.dumps(model)
    shrunk = shrink(model, method="none")
    scale = 1.0 if task != "reg" else np.std(y)
    np.testing.assert_allclose(_prediction(shrunk, X, task), before, rtol=0, atol=tol * scale)
    if task != "reg":
        np.testing.assert_array_equal(shrunk.classes_, model.classes_)
        assert np.mean(shrunk.predict(X) == model.predict(X)) > 0.999
    # Pooling changes the predictions but never the original model.
    pooled = shrink(model, X, y, method="eb")
    assert np.all(np.isfinite(_prediction(pooled, X, task)))
    shrink(model, method="hs", strength=50.0)
    np.testing.assert_array_equal(_prediction(model, X, task), before)
    assert pickle.dumps(model) == snapshot
    # Every tree keeps the original structure and gets factors in [0, 1] with the root at 1.
    for tree in pooled.trees_:
        assert tree.pooling_factor[0] == 1.0
        assert np.all((tree.pooling_factor >= 0) & (tree.pooling_factor <= 1))


def test_boosters_and_pickling():
    X, y = _data("multi", True)
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_leaves": 7},
                        lgb.Dataset(X, y), num_boost_round=10)
    shrunk = shrink(booster, method="none")
    np.testing.assert_allclose(shrunk.predict_proba(X), booster.predict(X), atol=1e-10)
    np.testing.assert_array_equal(shrunk.classes_, [0, 1, 2])
    xb = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, (y > 0).astype(float)), 10)
    shrunk = shrink(xb, method="none")
    np.testing.assert_allclose(shrunk.predict_proba(X)[:, 1], xb.predict(xgb.DMatrix(X)), atol=2e-6)
    eb = shrink(xb, X, (y > 0).astype(int))
    restored = pickle.loads(pickle.dumps(eb))
    np.testing.assert_array_equal(restored.predict_proba(X), eb.predict_proba(X))


def test_lightgbm_categorical_split():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 8, 600), rng.normal(size=600)]).astype(float)
    y = np.isin(X[:, 0], [1, 4, 6]) * 2.0 + X[:, 1] + rng.normal(scale=0.3, size=600)
    model = lgb.LGBMRegressor(n_estimators=20, verbose=-1, min_data_per_group=5, cat_smooth=1).fit(
        X, y, categorical_feature=[0])
    assert any(t.is_categorical.any() for t in shrink(model, method="none").trees_)
    X_test = X.copy()
    X_test[:5, 0] = [np.nan, -1, 9, 100, 3]
    np.testing.assert_allclose(shrink(model, method="none").predict(X_test), model.predict(X_test), atol=1e-10)


def test_gradient_boosting_multiclass_has_k_trees_per_stage():
    X, y = _data("multi", False)
    model = GradientBoostingClassifier(n_estimators=7, random_state=0).fit(X, y)
    shrunk = shrink(model, X, y)
    assert len(shrunk.trees_) == 7 * 3
    assert len(shrunk.pooling_factors_) == 21
    assert shrunk.pooling_strength_.shape == (21,)
    np.testing.assert_allclose(shrunk.predict_proba(X).sum(axis=1), 1.0)


def test_xgboost_counts_rows_for_hs():
    X, y = _data("bin", False)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=3).fit(X, y)
    by_cover = shrink(model, method="hs", strength=10.0)
    by_rows = shrink(model, X, y, method="hs", strength=10.0)
    root_rows = by_rows.trees_[0].count[0]
    assert root_rows == pytest.approx(len(y))
    assert by_cover.trees_[0].count[0] < root_rows  # cover is a hessian sum, not a row count
    assert by_rows.stats_source_ == "node counts of X"


def test_deepcopy_of_model_is_unaffected():
    X, y = _data("reg", False)
    model = RandomForestRegressor(5, random_state=0).fit(X, y)
    twin = copy.deepcopy(model)
    shrink(model, X, y, method="hs", strength="gcv")
    np.testing.assert_array_equal(model.predict(X), twin.predict(X))


def test_multi_output_regression_forest():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = np.column_stack([X[:, 0] + rng.normal(size=300), rng.normal(size=300)])
    model = RandomForestRegressor(10, min_samples_leaf=3, random_state=0).fit(X, Y)
    np.testing.assert_allclose(shrink(model, method="none").predict(X), model.predict(X), atol=1e-12)
    shrunk = shrink(model, X, Y)
    assert shrunk.predict(X).shape == (300, 2)
    # One factor per output: the noise column is pooled harder than the signal column.
    assert shrunk.trees_[0].value.shape == (model.estimators_[0].tree_.node_count, 2)
    spread = shrunk.predict(X).std(axis=0)
    assert spread[1] < 0.5 * spread[0]
    with pytest.raises(ValueError, match="2 columns"):
        shrink(model, X, Y[:, 0])


def test_decision_function_only_for_boosted_classifiers():
    X, y = _data("bin", False)
    forest = shrink(RandomForestClassifier(5, random_state=0).fit(X, y))
    assert not hasattr(forest, "decision_function")
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(shrink(model, method="none").decision_function(X), model.decision_function(X),
                               atol=1e-10)
    cv = shrink(RandomForestClassifier(5, random_state=0).fit(X, y), X, y, method="hs", strength="cv",
                scoring="roc_auc", grid=[0.0, 10.0], cv=3)
    assert cv.strength_ in (0.0, 10.0)
