"""Bad input to shrink and the shrunk models: clear errors, never a crash."""

import warnings

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shrinktree import ShrunkRegressor, shrink
from shrinktree.posthoc import ShrunkModelRegressor


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X[:, 0] + rng.normal(size=200)
    return DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y), X, y


@pytest.mark.parametrize("model", [DecisionTreeRegressor(), RandomForestRegressor(), HistGradientBoostingRegressor(),
                                   GradientBoostingRegressor()])
def test_unfitted_model(model):
    with pytest.raises(NotFittedError):
        shrink(model, method="hs", strength=1.0)


def test_unfitted_lightgbm_and_xgboost():
    with pytest.raises(NotFittedError):
        shrink(lgb.LGBMRegressor())
    with pytest.raises(NotFittedError):
        shrink(xgb.XGBClassifier())


@pytest.mark.parametrize("model", [LinearRegression(), SVC(), "a string", None])
def test_unsupported_estimator_names_what_is_supported(model):
    if not isinstance(model, str | None):
        model.fit(np.eye(4), [0, 1, 0, 1])
    with pytest.raises(TypeError, match="Supported models: scikit-learn DecisionTreeRegressor"):
        shrink(model)


def test_x_with_wrong_width(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="X has 3 features, but the model was fitted with 4"):
        shrink(model, X[:, :3], y)
    shrunk = shrink(model)
    with pytest.raises(ValueError, match="features"):
        shrunk.predict(X[:, :3])
    with pytest.raises(ValueError):
        shrunk.predict(X[0])  # 1-D


def test_y_of_wrong_length_and_bad_values(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="y has 199 rows but X has 200"):
        shrink(model, X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        shrink(model, X, np.where(np.arange(200) == 3, np.nan, y))
    with pytest.raises(ValueError, match="both X and y"):
        shrink(model, X)
    with pytest.raises(ValueError, match="infinity|inf"):
        shrink(model, np.where(X > 2.5, np.inf, X), y)


def test_bad_weights(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="(?i)negative"):
        shrink(model, X, y, sample_weight=-np.ones(200))
    with pytest.raises(ValueError, match="non-zero|positive"):
        shrink(model, X, y, sample_weight=np.zeros(200))
    with pytest.raises(ValueError):
        shrink(model, X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="without X and y"):
        shrink(model, sample_weight=np.ones(200))


def test_classifier_labels_must_be_known():
    X = np.random.default_rng(0).normal(size=(100, 3))
    y = np.where(X[:, 0] > 0, "a", "b")
    model = DecisionTreeClassifier(max_depth=3).fit(X, y)
    with pytest.raises(ValueError, match="label 'c'"):
        shrink(model, X, np.where(X[:, 1] > 1, "c", y))


def test_bad_method_and_strength(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="method must be one of"):
        shrink(model, method="lasso")
    with pytest.raises(ValueError, match="needs strength"):
        shrink(model, method="hs")
    for bad in (-1.0, np.inf, "best", True):
        with pytest.raises(ValueError, match="strength"):
            shrink(model, method="hs", strength=bad)
    with pytest.raises(ValueError, match="no tuning"):
        shrink(model, method="eb", strength=3.0)
    with pytest.raises(ValueError, match="needs the training rows"):
        shrink(model, method="hs", strength="cv")
    with pytest.raises(ValueError, match="grid"):
        shrink(model, X, y, method="hs", strength="gcv", grid=[-1.0, 2.0])
    with pytest.raises(ValueError, match="cv must be"):
        shrink(model, X, y, method="hs", strength="cv", cv=1)


def test_eb_on_boosted_model_needs_training_rows():
    X = np.random.default_rng(0).normal(size=(100, 3))
    model = GradientBoostingRegressor(n_estimators=3).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="needs the training rows X, y"):
        shrink(model)


def test_gcv_is_for_regression_forests():
    X = np.random.default_rng(0).normal(size=(100, 3))
    model = DecisionTreeClassifier(max_depth=3).fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="gcv"):
        shrink(model, X, X[:, 0] > 0, method="hs", strength="gcv")


def test_cv_needs_a_refittable_estimator():
    X = np.random.default_rng(0).normal(size=(200, 3))
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, X[:, 0]), 3)
    with pytest.raises(TypeError, match="cannot be cloned"):
        shrink(booster, X, X[:, 0], method="hs", strength="cv")


def test_shrunk_model_built_directly_is_not_fitted():
    with pytest.raises(NotFittedError):
        ShrunkModelRegressor().predict(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        ShrunkRegressor().predict(np.zeros((2, 2)))


def test_meta_estimator_rejects_unsupported_estimator():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(TypeError, match="Supported models"):
        ShrunkRegressor(LinearRegression()).fit(X, X[:, 0])


def test_eb_on_a_target_whose_squares_overflow():
    X = np.random.default_rng(0).normal(size=(300, 3))
    y = 1e160 * X[:, 0]
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's own overflow warnings on the way
        with pytest.raises(ValueError, match="overflow float64"):
            shrink(model, X, y)
    # hs needs no sums of squares and pools such a model fine.
    assert np.all(np.isfinite(shrink(model, X, y, method="hs", strength=5.0).predict(X)))


@pytest.mark.parametrize("kind", ["one_output_per_tree", "multi_output_tree", "multilabel", "booster"])
def test_multi_output_xgboost_is_a_clear_error(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = X[:, :2] + rng.normal(size=(200, 2))
    if kind == "multilabel":
        model = xgb.XGBClassifier(n_estimators=3, tree_method="hist").fit(X, (Y > 0).astype(int))
    elif kind == "booster":
        model = xgb.train({"tree_method": "hist"}, xgb.DMatrix(X, Y), 3)
    else:
        model = xgb.XGBRegressor(n_estimators=3, tree_method="hist", multi_strategy=kind).fit(X, Y)
    with pytest.raises(ValueError, match="multi-output XGBoost models .*num_target=2.* not supported"):
        shrink(model, method="none")
    with pytest.raises(ValueError, match="multi-output XGBoost"):
        shrink(model, X, Y)
