"""Bad input gets a clear error before any numba kernel runs."""

import numpy as np
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

ESTIMATORS = [ShrinkBoostRegressor, ShrinkBoostClassifier]


def data(n=50, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, 0] > 0).astype(int)
    return X, y


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_x_must_be_2d(Est):
    X, y = data()
    with pytest.raises(ValueError, match="2D"):
        Est().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="dim"):
        Est().fit(X[:, :, None], y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_length_mismatch(Est):
    X, y = data()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Est().fit(X, y[:-1])


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_empty_x(Est):
    with pytest.raises(ValueError, match="0 sample"):
        Est().fit(np.empty((0, 3)), np.empty(0))
    with pytest.raises(ValueError, match="0 feature"):
        Est().fit(np.empty((5, 0)), np.arange(5) % 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_y(bad):
    X, y = data()
    y = y.astype(float)
    y[3] = bad
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        ShrinkBoostRegressor().fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_inf_in_x(Est):
    X, y = data()
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        Est().fit(X, y)
    model = Est(n_estimators=2).fit(*data())
    with pytest.raises(ValueError, match="infinity"):
        model.predict(X)


def test_nan_in_x_is_allowed():
    X, y = data()
    X[::5, 0] = np.nan
    ShrinkBoostRegressor(n_estimators=3).fit(X, y.astype(float)).predict(X)


def test_single_class():
    X, _ = data()
    with pytest.raises(ValueError, match="at least 2 classes"):
        ShrinkBoostClassifier().fit(X, np.zeros(len(X), dtype=int))


def test_continuous_target_for_classifier():
    X, _ = data()
    with pytest.raises(ValueError, match="Unknown label type"):
        ShrinkBoostClassifier().fit(X, np.linspace(0, 1, len(X)))


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("weight,match", [(-1.0, "(?i)negative"), (np.nan, "NaN"), (np.inf, "infinity"),
                                          (1e200, "would overflow")])
def test_bad_sample_weight(Est, weight, match):
    X, y = data()
    w = np.ones(len(X))
    w[4] = weight
    with pytest.raises(ValueError, match=match):
        Est().fit(X, y, sample_weight=w)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_sample_weight_shape_and_all_zero(Est):
    X, y = data()
    with pytest.raises(ValueError, match="sample_weight"):
        Est().fit(X, y, sample_weight=np.ones(len(X) + 1))
    with pytest.raises(ValueError, match="(positive|non-zero)"):
        Est().fit(X, y, sample_weight=np.zeros(len(X)))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_unknown_parameter(Est):
    with pytest.raises(TypeError):
        Est(n_trees=10)
    with pytest.raises(ValueError, match="Invalid parameter"):
        Est().set_params(n_trees=10)


@pytest.mark.parametrize("param,value,error", [
    ("shrinkage", "ridge", ValueError),
    ("eb_method", "oracle", ValueError),
    ("learning_rate", 0.0, ValueError),
    ("learning_rate", "fast", TypeError),
    ("n_estimators", 0, ValueError),
    ("n_estimators", 2.5, TypeError),
    ("max_leaf_nodes", 1, ValueError),
    ("max_depth", 0, ValueError),
    ("min_samples_leaf", 0, ValueError),
    ("l2_regularization", -1.0, ValueError),
    ("max_bins", 256, ValueError),
    ("max_bins", 1, ValueError),
    ("subsample", 0.0, ValueError),
    ("subsample", 1.5, ValueError),
    ("colsample", 0.0, ValueError),
    ("early_stopping", "yes", ValueError),
    ("validation_fraction", 1.0, ValueError),
    ("n_iter_no_change", 0, ValueError),
    ("shrinkage_strength", -1.0, ValueError),
    ("shrinkage_strength", np.nan, ValueError),
])
def test_out_of_range_parameters(param, value, error):
    X, y = data()
    with pytest.raises(error, match=param):
        ShrinkBoostRegressor(**{param: value}).fit(X, y.astype(float))


def test_hs_needs_a_strength():
    X, y = data()
    with pytest.raises(ValueError, match="shrinkage_strength"):
        ShrinkBoostRegressor(shrinkage="hs").fit(X, y.astype(float))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_predict_with_wrong_number_of_features(Est):
    X, y = data()
    model = Est(n_estimators=3).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :2])
    with pytest.raises(ValueError, match="features"):
        model.predict(np.hstack([X, X]))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_predict_before_fit(Est):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Est().predict(np.zeros((2, 3)))


def test_non_numeric_x():
    X = np.array([["a", "b"], ["c", "d"]], dtype=object)
    with pytest.raises(ValueError):
        ShrinkBoostRegressor().fit(X, np.array([1.0, 2.0]))
