"""Bad input to shrink and the shrunk models: clear errors, never a crash."""

import warnings

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
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


def _regression_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    return X, np.abs(X[:, 0] + rng.normal(size=200)) + 0.1


# (model, loss as named in the message, a supported loss of its library the message names): the objectives
# without a loss in shrinktree.losses (tests/test_posthoc_objectives.py replays the others).
_NOT_REPLAYED = [
    (lambda: GradientBoostingClassifier(loss="exponential", n_estimators=3), "exponential", "log_loss"),
    (lambda: lgb.LGBMRegressor(objective="fair", n_estimators=3, verbose=-1), "fair", "poisson"),
    (lambda: lgb.LGBMRegressor(objective="mape", n_estimators=3, verbose=-1), "mape", "tweedie"),
    (lambda: xgb.XGBRegressor(objective="reg:pseudohubererror", n_estimators=3), "reg:pseudohubererror",
     "reg:squarederror"),
    (lambda: xgb.XGBRegressor(objective=lambda y, p: (p - y, np.ones_like(p)), n_estimators=3), "custom",
     "reg:squarederror"),
]


@pytest.mark.parametrize("index", range(len(_NOT_REPLAYED)))
def test_eb_on_a_loss_it_cannot_replay_names_the_loss_and_what_is_supported(index):
    make, name, supported = _NOT_REPLAYED[index]
    X, y = _regression_rows()
    model = make()
    y = (y > np.median(y)).astype(int) if "Classifier" in type(model).__name__ else y
    model.fit(X, y)
    with pytest.raises(ValueError, match=rf"loss '{name}'.*shrinktree.losses.*'{name}' has none.*'{supported}'.*"
                                         rf"method='hs' and method='none'"):
        shrink(model, X, y, method="eb")
    # The other methods take the model as it is.
    raw = model.decision_function(X) if hasattr(model, "decision_function") else model.predict(X)
    shrunk = shrink(model, method="none")
    np.testing.assert_allclose(shrunk.decision_function(X) if hasattr(shrunk, "decision_function")
                               else shrunk.predict(X), raw, atol=1e-5)
    assert np.all(np.isfinite(shrink(model, X, y, method="hs", strength=5.0).predict(X)))


# (model, target, objective as named in the message, a supported objective the message names)
_NOT_READ = [
    (lambda: lgb.LGBMRegressor(objective="cross_entropy", n_estimators=3, verbose=-1), "01", "cross_entropy",
     "regression"),
    (lambda: lgb.LGBMRegressor(objective="regression", reg_sqrt=True, n_estimators=3, verbose=-1), "pos",
     "regression sqrt", "without reg_sqrt"),
    (lambda: lgb.LGBMClassifier(objective="binary", sigmoid=2.0, n_estimators=3, verbose=-1), "01",
     "binary sigmoid:2", "sigmoid=1.0"),
    (lambda: lgb.LGBMClassifier(objective="multiclassova", n_estimators=3, verbose=-1), "012", "multiclassova",
     "multiclass"),
    (lambda: xgb.XGBRegressor(objective="reg:logistic", n_estimators=3), "01", "reg:logistic", "binary:logistic"),
    (lambda: xgb.XGBClassifier(objective="binary:hinge", n_estimators=3), "01", "binary:hinge", "binary:logistic"),
]


@pytest.mark.parametrize("index", range(len(_NOT_READ)))
def test_unsupported_objective_names_it_and_what_is_supported(index):
    make, target, name, supported = _NOT_READ[index]
    X, y = _regression_rows()
    y = {"pos": y, "01": (y > np.median(y)).astype(int), "012": np.digitize(y, np.quantile(y, [0.3, 0.6]))}[target]
    model = make().fit(X, y)
    with pytest.raises(ValueError, match=rf"objective '{name}'.*[Ss]upported.*{supported}"):
        shrink(model, method="none")


def test_unsupported_scikit_learn_loss_object_is_named():
    X, y = _regression_rows()
    model = HistGradientBoostingRegressor(max_iter=3).fit(X, y)
    model.loss = object()  # a loss object scikit-learn's own table does not know
    with pytest.raises(ValueError, match="loss 'object'; supported: .*'squared_error'"):
        shrink(model, method="none")
