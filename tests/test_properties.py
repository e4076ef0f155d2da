"""Property-based search for crashes and silent wrong answers (hypothesis).

Data (shapes, magnitudes, NaN patterns, categorical columns, weights) and hyperparameters are drawn
inside and just outside their valid ranges.  Every fit must either raise a clear ``ValueError`` or
``TypeError`` or give finite predictions of the right shape; the training loss the booster reports
must equal the loss of its own predictions; ``shrink(..., method="none")`` must reproduce the model.

A crash (a signal in a numba kernel) cannot be caught in-process: under ``pytest -n 2`` (the README's
test command) each test runs in an xdist worker, which reports a crashed worker as a failed test
with the test's name, and pytest's faulthandler prints where it died.

The fast tests run ``FAST_EXAMPLES`` examples each in CI; ``pytest -m slow tests/test_properties.py``
runs ``SLOW_EXAMPLES``.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, shrink
from shrinktree.exceptions import SampleWeightScaleWarning

FAST_EXAMPLES = 100
SLOW_EXAMPLES = 600
COMMON = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow],
          "database": None}

# Each hyperparameter's values inside its range, and just outside it.
VALID = {
    "learning_rate": [1e-3, 0.1, 1.0, 3.0],
    "n_estimators": [1, 2, 5],
    "max_leaf_nodes": [2, 3, 31],
    "max_depth": [None, 1, 3],
    "min_samples_leaf": [1, 3, 20],
    "l2_regularization": [0.0, 1.0],
    "max_bins": [2, 16, 255],
    "subsample": [0.5, 1.0],
    "colsample": [0.5, 1.0],
    "shrinkage": ["eb", "hs", "none"],
    "eb_method": ["honest", "calibrated", "naive"],
    "early_stopping": ["auto", False, True],
}
INVALID = {
    "learning_rate": [0.0, -0.1, np.nan, "fast"],
    "n_estimators": [0, -1, 2.5],
    "max_leaf_nodes": [1, 0],
    "max_depth": [0, -1],
    "min_samples_leaf": [0],
    "l2_regularization": [-1.0, np.inf],
    "max_bins": [1, 256],
    "subsample": [0.0, 1.5],
    "colsample": [0.0, 1.01],
    "shrinkage": ["bogus", None],
    "eb_method": ["exact"],
    "early_stopping": ["yes"],
}


@st.composite
def parameters(draw, invalid: bool):
    params = {name: draw(st.sampled_from(values)) for name, values in VALID.items()}
    if params["shrinkage"] == "hs":
        params["shrinkage_strength"] = draw(st.sampled_from([0.0, 1.0, 100.0]))
    if invalid:
        name = draw(st.sampled_from(sorted(INVALID)))
        params[name] = draw(st.sampled_from(INVALID[name]))
    params["random_state"] = draw(st.integers(0, 3))
    return params


@st.composite
def datasets(draw, classification: bool):
    n = draw(st.integers(2, 80))
    p = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    exponent = draw(st.sampled_from([-300, -30, 0, 30, 300]))
    X = rng.normal(size=(n, p)) * 10.0 ** exponent
    if draw(st.booleans()):
        X = np.round(X / 10.0 ** exponent) * 10.0 ** exponent  # few distinct values, ties
    nan_fraction = draw(st.sampled_from([0.0, 0.2, 1.0]))
    X[rng.random((n, p)) < nan_fraction] = np.nan
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    kind = draw(st.sampled_from(["none", "category", "object", "empty_category"]))
    if kind != "none":
        levels = [f"l{i}" for i in range(draw(st.integers(1, 8)))]
        values = rng.choice(levels, n).astype(object)
        values[rng.random(n) < 0.15] = None
        if kind == "category":
            frame["c"] = pd.Categorical(values)
        elif kind == "object":
            frame["c"] = values
        else:
            frame["c"] = pd.Categorical([None] * n)
    signal = np.nan_to_num(X[:, 0] / 10.0 ** exponent) + rng.normal(scale=0.5, size=n)
    if classification:
        n_classes = draw(st.sampled_from([2, 3]))
        cuts = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
        y = np.array(["a", "b", "c"])[np.searchsorted(cuts, signal)]
    else:
        y = signal * 10.0 ** draw(st.sampled_from([-200, 0, 200]))
    weight_kind = draw(st.sampled_from(["none", "uniform", "zeros", "counts"]))
    weights = {"none": None, "uniform": rng.uniform(0.5, 1.5, n),
               "zeros": np.where(rng.random(n) < 0.3, 0.0, 1.0), "counts": rng.integers(1, 4, n).astype(float)}[
        weight_kind]
    if weights is not None and not np.any(weights > 0):
        weights[0] = 1.0
    return frame, y, weights


def reported_loss_matches_predictions(model, X, y, weights):
    """``train_score_[-1]`` (recorded with ``verbose``) is minus the weighted loss of ``predict``."""
    w = np.ones(len(y)) if weights is None else weights
    keep = w > 0
    if isinstance(model, ShrinkBoostRegressor) and model.loss == "squared_error":
        loss = 0.5 * np.average((model.predict(X)[keep] - y[keep]) ** 2, weights=w[keep])
    elif isinstance(model, ShrinkBoostRegressor):
        if model.loss == "huber" and model.huber_delta is None:
            return  # the adaptive threshold of the last iteration is not kept with the model
        raw = model._raw_predict(X)[keep]
        with np.errstate(over="ignore", invalid="ignore"):
            loss = np.average(model._make_loss().pointwise_loss(y[keep], raw), weights=w[keep])
    else:
        # On the raw scores: 1 - p loses the digits that a loss near 0 is made of.
        raw = model.decision_function(X)[keep]
        index = np.searchsorted(model.classes_, y[keep])
        if raw.ndim == 1:
            per_row = np.logaddexp(0.0, raw) - index * raw
        else:
            per_row = logsumexp(raw, axis=1) - raw[np.arange(len(raw)), index]
        loss = np.average(per_row, weights=w[keep])
    reported = -model.train_score_[-1]
    assert reported == pytest.approx(loss, rel=1e-6, abs=1e-300 + 1e-9 * abs(loss)), (reported, loss)


def check_fit(Estimator, params, X, y, weights, must_succeed: bool):
    model = Estimator(verbose=1, **params)
    quiet = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore", SampleWeightScaleWarning)
            model.fit(X, y, sample_weight=weights)
    except (ValueError, TypeError) as exc:
        assert not must_succeed, f"a valid fit raised {type(exc).__name__}: {exc}"
        assert str(exc), "an error without a message"
        return None
    if isinstance(model, ShrinkBoostClassifier):
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), len(model.classes_))
        assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
        assert set(model.predict(X)) <= set(model.classes_)
    else:
        prediction = model.predict(X)
        assert prediction.shape == (len(X),) and np.all(np.isfinite(prediction))
    if "validation_score_" not in vars(model):  # with early stopping the score covers the training split only
        reported_loss_matches_predictions(model, X, y, weights)
    return model


def check_shrink_none_reproduces(model, X, y):
    shrunk = shrink(model, X, y, method="none")
    if isinstance(model, ShrinkBoostClassifier):
        np.testing.assert_allclose(shrunk.predict_proba(X), model.predict_proba(X), rtol=1e-9, atol=1e-12)
    else:
        scale = max(1.0, float(np.max(np.abs(model.predict(X)))))
        np.testing.assert_allclose(shrunk.predict(X), model.predict(X), rtol=1e-9, atol=1e-12 * scale)


def valid_fits(data, params, classification):
    X, y, weights = data
    Estimator = ShrinkBoostClassifier if classification else ShrinkBoostRegressor
    kept = y if weights is None else y[weights > 0]  # zero-weight rows are dropped
    single_class = classification and len(set(kept)) < 2
    too_few_for_early_stopping = params["early_stopping"] is True and len(kept) < 2
    must_succeed = not single_class and not too_few_for_early_stopping
    model = check_fit(Estimator, params, X, y, weights, must_succeed)
    if model is not None:
        check_shrink_none_reproduces(model, X, y)


def valid_fits_under_a_loss(data, params, loss):
    X, y, weights = data
    y = np.abs(y) if loss in ("poisson", "gamma", "tweedie") else y
    kept = y if weights is None else y[weights > 0]
    must_succeed = not (params["early_stopping"] is True and len(kept) < 2) and (
        loss not in ("poisson", "tweedie") or np.any(kept > 0)) and (loss != "gamma" or np.all(kept > 0)) and (
        loss not in ("poisson", "gamma", "tweedie") or np.max(kept) <= 1e100)  # the documented range
    extra = {"quantile": {"quantile": 0.8}, "huber": {"huber_delta": 0.5}, "tweedie": {"power": 1.3}}.get(loss, {})
    model = check_fit(ShrinkBoostRegressor, {**params, "loss": loss, **extra}, X, y, weights, must_succeed)
    if model is not None and loss in ("poisson", "gamma", "tweedie"):
        assert np.all(model.predict(X) >= 0)


def invalid_parameters_are_rejected(data, params, classification):
    X, y, weights = data
    Estimator = ShrinkBoostClassifier if classification else ShrinkBoostRegressor
    with pytest.raises((ValueError, TypeError)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SampleWeightScaleWarning)
            Estimator(**params).fit(X, y, sample_weight=weights)


def property_test(body, classification: bool, invalid: bool, examples: int):
    @settings(max_examples=examples, **COMMON)
    @given(data=datasets(classification), params=parameters(invalid))
    def run(data, params):
        body(data, params, classification)

    return run


@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_valid_fits_predict_finite_and_consistent(classification):
    property_test(valid_fits, classification, invalid=False, examples=FAST_EXAMPLES)()


@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_parameters_just_outside_their_range_are_rejected(classification):
    property_test(invalid_parameters_are_rejected, classification, invalid=True, examples=FAST_EXAMPLES // 2)()


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile", "poisson", "gamma", "tweedie"])
def test_valid_fits_under_every_loss(loss):
    @settings(max_examples=FAST_EXAMPLES // 4, **COMMON)
    @given(data=datasets(False), params=parameters(False))
    def run(data, params):
        valid_fits_under_a_loss(data, params, loss)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_valid_fits_long_search(classification):
    property_test(valid_fits, classification, invalid=False, examples=SLOW_EXAMPLES)()


@pytest.mark.slow
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_invalid_parameters_long_search(classification):
    property_test(invalid_parameters_are_rejected, classification, invalid=True, examples=SLOW_EXAMPLES // 2)()


# -- shrink(..., method="none") reproduces foreign models ----------------------------------------
def foreign_models(classification: bool):
    import lightgbm
    import xgboost
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    small = {"n_estimators": 3}
    if classification:
        return [DecisionTreeClassifier(max_depth=3, random_state=0),
                RandomForestClassifier(max_depth=3, random_state=0, **small),
                GradientBoostingClassifier(max_depth=2, random_state=0, **small),
                HistGradientBoostingClassifier(max_iter=3, random_state=0),
                lightgbm.LGBMClassifier(min_child_samples=2, verbose=-1, **small),
                xgboost.XGBClassifier(max_depth=2, **small)]
    return [DecisionTreeRegressor(max_depth=3, random_state=0),
            RandomForestRegressor(max_depth=3, random_state=0, **small),
            GradientBoostingRegressor(max_depth=2, random_state=0, **small),
            HistGradientBoostingRegressor(max_iter=3, random_state=0),
            lightgbm.LGBMRegressor(min_child_samples=2, verbose=-1, **small),
            xgboost.XGBRegressor(max_depth=2, **small)]


def foreign_models_are_reproduced(data, model_index, classification):
    X, y, _ = data
    X = X[[c for c in X.columns if c != "c"]].to_numpy()
    if classification:
        y = np.searchsorted(np.unique(y), y)  # XGBoost wants labels 0 .. K-1
        if len(np.unique(y)) < 2:
            return
    base = foreign_models(classification)[model_index]
    needs_finite = type(base).__name__.startswith(("DecisionTree", "RandomForest", "GradientBoosting"))
    if needs_finite:
        X = np.nan_to_num(X)
    if not np.all(np.isfinite(y)) or (not classification and np.max(np.abs(y)) > 1e30):
        return  # the base libraries themselves do not fit such targets
    try:
        base.fit(X, y)
    except ValueError:
        return  # data the base library rejects (values beyond float32, say) say nothing about shrink
    shrunk = shrink(base, X, y, method="none")
    if classification:
        np.testing.assert_allclose(shrunk.predict_proba(X), base.predict_proba(X), rtol=1e-5, atol=1e-6)
    else:
        reference = base.predict(X)
        scale = max(1.0, float(np.max(np.abs(reference))))
        np.testing.assert_allclose(shrunk.predict(X), reference, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("model_index", range(6))
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
def test_shrink_none_reproduces_foreign_models(classification, model_index):
    @settings(max_examples=FAST_EXAMPLES // 4, **COMMON)
    @given(data=datasets(classification))
    def run(data):
        foreign_models_are_reproduced(data, model_index, classification)

    run()
