"""Regression tests for silent wrong answers and unclear errors found by fuzzing the estimators."""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting.splitting import find_node_split
from shrinktree.exceptions import SampleWeightScaleWarning

ESTIMATORS = [ShrinkBoostRegressor, ShrinkBoostClassifier]


def categorical_frame(levels, n=300, seed=0):
    rng = np.random.default_rng(seed)
    level = rng.choice(levels, n)
    effect = {name: i for i, name in enumerate(levels)}
    X = pd.DataFrame({"x": rng.normal(size=n), "c": pd.Categorical(level)})
    y = X["x"].to_numpy() + 2.0 * np.array([effect[v] for v in level]) + rng.normal(scale=0.3, size=n)
    return X, y


# -- a failed fit leaves the fitted model as it was ---------------------------------------------
def test_failed_refit_keeps_the_fitted_model():
    X, y = categorical_frame(["a", "b", "c"])
    model = ShrinkBoostRegressor(n_estimators=20, random_state=0).fit(X, y)
    before = model.predict(X)
    state = {key: value for key, value in vars(model).items()}
    X_new, y_new = categorical_frame(["b", "c", "d"], seed=1)
    y_new[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X_new, y_new)
    assert set(vars(model)) == set(state)
    assert all(vars(model)[key] is state[key] for key in state)
    np.testing.assert_array_equal(model.predict(X), before)


@pytest.mark.parametrize("bad", [{"learning_rate": -1.0}, {"n_estimators": 0}])
def test_refit_with_bad_parameters_keeps_the_fitted_model(bad):
    X, y = categorical_frame(["a", "b", "c"])
    model = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(X, y)
    before = model.predict(X)
    model.set_params(**bad)
    with pytest.raises(ValueError):
        model.fit(X, y)
    np.testing.assert_array_equal(model.predict(X), before)


def test_failed_first_fit_leaves_the_estimator_unfitted():
    X, y = categorical_frame(["a", "b"])
    y[0] = np.inf
    model = ShrinkBoostRegressor(n_estimators=5)
    with pytest.raises(ValueError):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_") and not hasattr(model, "_categorical")


# -- sample weights: frequency weights, with a warning when their scale changes the pooling -----
def linear_signal(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X @ np.array([1.0, -0.5, 0.25, 0.0]) + rng.normal(scale=0.5, size=n)
    return X, y


@pytest.mark.parametrize("scale", [1e-6, "1/n", 1e3])
def test_rescaled_weights_warn_and_the_advice_restores_the_model(scale):
    X, y = linear_signal()
    c = 1.0 / len(y) if scale == "1/n" else scale
    unit = ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(X, y)
    weights = np.full(len(y), c)
    with pytest.warns(SampleWeightScaleWarning, match="frequency weights"):
        ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(X, y, sample_weight=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleWeightScaleWarning)
        advised = ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(
            X, y, sample_weight=weights / weights.mean())
    assert advised.score(X, y) == pytest.approx(unit.score(X, y), abs=0.005)
    assert unit.score(X, y) > 0.7


def test_relative_weights_summing_to_one_warn_for_the_classifier():
    X, y = linear_signal()
    labels = (y > 0).astype(int)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, len(y))
    with pytest.warns(SampleWeightScaleWarning, match="pools more"):
        ShrinkBoostClassifier(n_estimators=5).fit(X, labels, sample_weight=weights / weights.sum())
    with pytest.warns(SampleWeightScaleWarning, match="pools less"):
        ShrinkBoostClassifier(n_estimators=5).fit(X, labels, sample_weight=weights * 500)


@pytest.mark.parametrize("weights", ["ones", "counts", "balanced"])
def test_unit_scale_and_count_weights_do_not_warn(weights):
    X, y = linear_signal(n=500)
    rng = np.random.default_rng(2)
    w = {"ones": np.ones(len(y)), "counts": rng.integers(1, 20, len(y)).astype(float),
         "balanced": rng.uniform(0.2, 1.8, len(y))}[weights]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleWeightScaleWarning)
        ShrinkBoostRegressor(n_estimators=5).fit(X, y, sample_weight=w)


def test_weight_warning_points_at_the_callers_line():
    X, y = linear_signal(n=200)
    with pytest.warns(SampleWeightScaleWarning) as record:
        ShrinkBoostRegressor(n_estimators=2).fit(X, y, sample_weight=np.full(len(y), 1e-3))
    assert record[0].filename == __file__


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("tiny", [5e-324, 1e-310, 1e-200])
def test_denormal_and_tiny_weights_get_a_clear_error(Est, tiny):
    X, y = linear_signal(n=300)
    labels = (y > 0).astype(int)
    with pytest.raises(ValueError, match="below 1e-100"):
        Est(n_estimators=5).fit(X, labels, sample_weight=np.full(len(y), tiny))


def test_split_search_on_a_node_without_hessian_mass():
    # A saturated classifier (p(1 - p) == 0 in float64 for every row of a node) gives a node with
    # gradients but no hessian mass; the split search must report "no split", not divide by zero.
    hist = np.zeros((1, 256, 3))
    hist[0, 0] = (1.0, 0.0, 30.0)
    hist[0, 1] = (-1.0, 0.0, 30.0)
    gain, feature, *_ = find_node_split(
        hist, np.array([2]), np.array([False]), np.array([True]), 255, 0.0, 0.0, 60.0, 0.0, 20, 1e-3,
        np.ones(257), -1.0, 0.0, 0.0, False, np.zeros(1, dtype=np.int8), -np.inf, np.inf, 0.0)
    assert feature == -1 and gain == -np.inf


# -- binning ---------------------------------------------------------------------------------------
ONE_UP = np.nextafter(1.0, 2.0)


@pytest.mark.parametrize("values", [(1.6e308, 1.7e308), (-1.7e308, 1.7e308), (5e-324, 1e-323),
                                    (-1e-323, -5e-324), (ONE_UP, np.nextafter(ONE_UP, 2.0))])
@pytest.mark.parametrize("shrinkage", ["none", "eb"])
def test_two_extreme_distinct_values_are_split(values, shrinkage):
    X = np.repeat(np.array(values), 100).reshape(-1, 1)
    y = (X[:, 0] == values[1]).astype(float)
    model = ShrinkBoostRegressor(n_estimators=30, shrinkage=shrinkage, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9
    thresholds = model._bin_mapper.thresholds_[0]
    assert len(thresholds) == 1 and values[0] <= thresholds[0] < values[1]


# -- unclear errors --------------------------------------------------------------------------------
def test_all_missing_categorical_column_fits_and_predicts():
    X, y = categorical_frame(["a", "b", "c"])
    model = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(X, y)
    batch = X.iloc[:7].copy()
    batch["c"] = pd.Categorical([np.nan] * len(batch))
    assert len(batch["c"].cat.categories) == 0
    missing = X.iloc[:7].copy()
    missing["c"] = pd.Categorical([np.nan] * len(batch), categories=["a", "b", "c"])
    np.testing.assert_array_equal(model.predict(batch), model.predict(missing))
    empty = X.copy()
    empty["c"] = pd.Categorical([np.nan] * len(X))
    refit = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(empty, y)
    assert np.all(np.isfinite(refit.predict(batch)))
    assert refit.categories_[1].size == 0


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_duplicate_column_names(Est):
    X, y = linear_signal(n=100)
    frame = pd.DataFrame(X[:, :2], columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate column names"):
        Est(n_estimators=2).fit(frame, (y > 0).astype(int))
    model = Est(n_estimators=2).fit(pd.DataFrame(X[:, :2], columns=["a", "b"]), (y > 0).astype(int))
    with pytest.raises(ValueError, match="duplicate column names"):
        model.predict(frame)


@pytest.mark.parametrize("column", [pd.date_range("2020-01-01", periods=100), pd.timedelta_range(0, periods=100),
                                    pd.period_range("2020-01", periods=100, freq="M")])
def test_datetime_columns_get_a_clear_error(column):
    X, y = linear_signal(n=100)
    frame = pd.DataFrame({"x": X[:, 0], "t": column})
    with pytest.raises(TypeError, match="convert it to numbers"):
        ShrinkBoostRegressor(n_estimators=2).fit(frame, y)


def test_arrow_dictionary_columns_are_categorical():
    X, y = categorical_frame(["a", "b", "c"])
    arrow = X.copy()
    arrow["c"] = pd.Series(pa.array(X["c"].astype(str).tolist()).dictionary_encode(),
                           dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string())))
    native = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(X, y)
    model = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(arrow, y)
    np.testing.assert_array_equal(model.is_categorical_, [False, True])
    np.testing.assert_allclose(model.predict(arrow), native.predict(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict(X), native.predict(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("missing", [pd.NA, None, np.nan])
def test_missing_class_labels_get_a_clear_error(missing):
    X, y = linear_signal(n=100)
    labels = pd.array(np.where(y > 0, "yes", "no"), dtype="string" if missing is pd.NA else object)
    labels[3] = missing
    with pytest.raises(ValueError, match="missing class label"):
        ShrinkBoostClassifier(n_estimators=2).fit(X, labels)


def test_early_stopping_without_rows_to_hold_out():
    with pytest.raises(ValueError, match="validation_fraction") as info:
        ShrinkBoostRegressor(n_estimators=3, early_stopping=True).fit([[0.0]], [1.0])
    assert "test_size" not in str(info.value) and "train_size" not in str(info.value)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("n", [2, 3, 4, 9, 10])
def test_early_stopping_on_few_rows(Est, n):
    # Too few rows per class to stratify: the split is drawn without stratification.
    X = np.arange(n, dtype=float).reshape(-1, 1)
    model = Est(n_estimators=3, early_stopping=True).fit(X, np.arange(n) % 2)
    assert len(model.validation_score_) >= 2


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_unknown_fit_keyword_names_the_public_class(Est):
    X, y = linear_signal(n=50)
    with pytest.raises(TypeError, match=rf"^{Est.__name__}\.fit\(\) got an unexpected keyword argument 'eval_sets'"):
        Est().fit(X, (y > 0).astype(int), eval_sets=None)
