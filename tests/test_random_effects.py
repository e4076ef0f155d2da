"""ShrinkBoostRegressor(random_effects=...): random intercepts with a boosted fixed part."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostRegressor
from shrinktree.exceptions import ModelIntegrityError


def grouped(n=6000, m=300, seed=0, tau=1.0, sigma=0.7):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, m, n)
    b = rng.normal(0.0, tau, m)
    x = rng.normal(size=(n, 3))
    y = np.sin(2 * x[:, 0]) + x[:, 1] ** 2 + b[groups] + rng.normal(0.0, sigma, n)
    X = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "school": groups})
    return X, y, b


@pytest.fixture(scope="module")
def fitted():
    X, y, b = grouped()
    train = np.arange(len(y)) < 4000
    model = ShrinkBoostRegressor(random_effects="school", n_estimators=150, random_state=0)
    model.fit(X[train], y[train])
    return model, X, y, b, train


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_recovers_the_variance_components_and_the_intercepts(fitted):
    model, X, y, b, train = fitted
    vc = model.variance_components_
    assert vc.loc["school", "variance"] == pytest.approx(1.0, rel=0.25)
    assert vc.loc["Residual", "variance"] == pytest.approx(0.49, rel=0.15)
    assert vc.loc["school", "icc"] == pytest.approx(vc.loc["school", "variance"] / vc["variance"].sum())
    table = model.random_effects_["school"]
    assert list(table.columns) == ["level", "estimate", "conditional_sd", "rows"]
    assert table["rows"].sum() == train.sum()
    assert np.corrcoef(table["estimate"], b[table["level"].to_numpy()])[0, 1] > 0.95
    # BLUPs: the fewer rows, the larger the conditional sd
    assert np.corrcoef(table["rows"], table["conditional_sd"])[0, 1] < -0.5
    # after the trees' warm-up, one intercept update before every 10th iteration, and the final one
    from shrinktree.boosting.mixed import warm_up_iterations

    assert model.n_mixed_iter_ == len(range(warm_up_iterations(0.1, 150), 150, 10)) + 1


def test_beats_native_categorical_booster_and_a_linear_mixed_model(fitted):
    smf = pytest.importorskip("statsmodels.formula.api")
    model, X, y, b, train = fitted
    test = ~train
    mixed = rmse(model.predict(X[test]), y[test])
    native = X.assign(school=X["school"].astype("category"))
    booster = ShrinkBoostRegressor(n_estimators=150, random_state=0).fit(native[train], y[train])
    frame = X.assign(y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lmm = smf.mixedlm("y ~ x0 + x1 + x2", frame[train], groups=frame["school"][train]).fit(reml=True)
    blup = np.array([lmm.random_effects.get(g, pd.Series([0.0])).iloc[0] for g in X["school"][test]])
    linear = lmm.predict(frame[test]).to_numpy() + blup
    assert mixed < rmse(booster.predict(native[test]), y[test])
    assert mixed < rmse(linear, y[test])


def test_unseen_groups_get_the_population_level(fitted):
    model, X, y, b, train = fitted
    rows = X[~train].head(50)
    fixed = model.predict(rows, include_random_effects=False)
    unseen = rows.assign(school=rows["school"] + 10_000)
    np.testing.assert_array_equal(model.predict(unseen), fixed)
    table = model.random_effects_["school"].set_index("level")["estimate"]
    np.testing.assert_allclose(model.predict(rows) - fixed, table.loc[rows["school"]].to_numpy())
    # the other methods describe the fixed part: they take X with the grouping column
    assert model.apply(rows).shape[0] == 50
    contributions = model.predict_contributions(rows)
    assert contributions.shape == (50, 4)
    np.testing.assert_allclose(contributions.sum(axis=1), fixed, atol=1e-8)


def test_pickle_round_trip_and_damage_detected(fitted):
    model, X, y, b, train = fitted
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    state = model.__getstate__()
    fitted = dict(state["_random_effects_fit"])
    fitted["groupings"] = [dict(g) for g in fitted["groupings"]]
    fitted["groupings"][0]["estimate"] = fitted["groupings"][0]["estimate"] + 1.0
    state["_random_effects_fit"] = fitted
    with pytest.raises(ModelIntegrityError):
        ShrinkBoostRegressor().__setstate__(state)


def test_index_on_arrays_and_refit_without_random_effects():
    X, y, b = grouped(n=2000, m=60, seed=3)
    model = ShrinkBoostRegressor(random_effects=3, n_estimators=60, random_state=1).fit(X.to_numpy(), y)
    assert model.variance_components_.loc["3", "variance"] > 0.5
    assert model.n_features_in_ == 3
    model.set_params(random_effects=None).fit(X[["x0", "x1", "x2"]], y)
    with pytest.raises(AttributeError, match="without random_effects"):
        _ = model.variance_components_
    assert "random_effects" in ShrinkBoostRegressor().get_params()


def test_sample_weights_and_zero_weights():
    X, y, b = grouped(n=2000, m=60, seed=4)
    weight = np.ones(len(y))
    weight[:100] = 0.0
    a = ShrinkBoostRegressor(random_effects="school", n_estimators=60, random_state=1, early_stopping=False)
    a.fit(X, y, sample_weight=weight)
    c = ShrinkBoostRegressor(random_effects="school", n_estimators=60, random_state=1, early_stopping=False)
    c.fit(X.iloc[100:], y[100:])
    np.testing.assert_allclose(a.predict(X), c.predict(X))


def test_errors():
    X, y, b = grouped(n=600, m=30, seed=5)
    model = ShrinkBoostRegressor(random_effects="school", n_estimators=10)
    with pytest.raises(ValueError, match="loss='squared_error'"):
        ShrinkBoostRegressor(random_effects="school", loss="absolute_error").fit(X, y)
    with pytest.raises(ValueError, match="which X does not have"):
        ShrinkBoostRegressor(random_effects="class").fit(X, y)
    with pytest.raises(ValueError, match="no column names"):
        model.fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match="at least two levels"):
        model.fit(X.assign(school=1), y)
    with pytest.raises(ValueError, match="not separately identifiable"):
        model.fit(X.assign(school=np.arange(len(y))), y)
    with pytest.raises(ValueError, match="eval_set cannot be combined"):
        model.fit(X, y, eval_set=[(X, y)])
    with pytest.raises(ValueError, match="by column name"):
        ShrinkBoostRegressor(random_effects="school", categorical_features=[0]).fit(X, y)
    with pytest.raises(ValueError, match="no column for the trees"):
        model.fit(X[["school"]], y)
    model.fit(X, y)
    with pytest.raises(ValueError, match="which X does not have"):
        model.predict(X.drop(columns="school"))
