"""_category_pairs: combinations of the top category columns as extra categorical columns (category_pairs.py)."""

import pickle

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting.category_pairs import (
    DEFAULT_TOP_COLUMNS,
    CategoryPairs,
    check_category_pairs,
    choose_category_pairs,
)
from shrinktree.exceptions import ModelIntegrityError
from shrinktree.model_file import load_model, save_model

SMALL = {"n_estimators": 40, "random_state": 0}


def _frame(n=1500, seed=0):
    """Three category columns, the signal an interaction of the first two; a numeric column; missing values."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.integers(0, 6, n), rng.integers(0, 5, n), rng.integers(0, 3, n)
    y = 2.0 * ((a * 7 + b * 3) % 5 == 0) + 0.3 * c + 0.3 * rng.normal(size=n)
    X = pd.DataFrame({"a": pd.Categorical(np.array(list("uvwxyz"))[a]), "b": pd.Categorical(b),
                      "c": pd.Categorical(np.array(list("pqr"))[c]), "x": rng.normal(size=n)})
    X.loc[::37, "a"] = np.nan
    X.loc[5::41, "b"] = np.nan
    return X, y


def _model(pairs=2, cls=ShrinkBoostRegressor, **params):
    model = cls(**{**SMALL, **params})
    model._category_pairs = pairs
    return model


@pytest.fixture(scope="module")
def fitted():
    X, y = _frame()
    return X, y, _model().fit(X[:1000], y[:1000])


def test_pairs_of_the_interacting_columns_are_chosen_and_help(fitted):
    X, y, model = fitted
    assert model._pairs.pairs.tolist() == [[0, 1]]
    plain = ShrinkBoostRegressor(**SMALL).fit(X[:1000], y[:1000])
    error = np.mean((model.predict(X[1000:]) - y[1000:]) ** 2)
    assert error < 0.8 * np.mean((plain.predict(X[1000:]) - y[1000:]) ** 2)
    assert np.any([np.any(t[0].feature[t[0].left >= 0] == 4) for t in model.trees_])  # splits on the pair


def test_fit_and_predict_agree_with_a_model_given_the_pair_column(fitted):
    """The pair's codes the fit used are the ones predict computes: a model without the switch, given the
    pair column of ``tree_input`` as a categorical column of its own, is the same model bit for bit."""
    X, y, model = fitted
    given = model.tree_input(X)
    assert given.shape == (len(X), 5)
    plain = ShrinkBoostRegressor(categorical_features=[0, 1, 2, 4], **SMALL).fit(given[:1000], y[:1000])
    np.testing.assert_array_equal(plain.predict(given), model.predict(X))
    np.testing.assert_array_equal(plain._importances, model._importances)


def test_missing_and_unseen_combinations_are_missing_in_the_pair():
    X, y = _frame(1200, seed=2)
    unseen = (X["a"] == "u") & (X["b"] == 0)
    model = _model(3).fit(X[~unseen], y[~unseen])
    column = 4 + [sorted(pair) for pair in model._pairs.pairs.tolist()].index([0, 1])
    codes = model.tree_input(X)[:, column]
    assert np.all(np.isnan(codes[unseen.to_numpy()]))
    assert np.all(np.isnan(codes[(X["a"].isna() | X["b"].isna()).to_numpy()]))
    seen = ~(unseen | X["a"].isna() | X["b"].isna()).to_numpy()
    assert not np.any(np.isnan(codes[seen]))
    assert np.all(np.isfinite(model.predict(X)))


def test_the_model_keeps_the_users_columns(fitted):
    X, _, model = fitted
    assert model.n_features_in_ == 4 and model.is_categorical_.tolist() == [True, True, True, False]
    assert model.feature_importances_.shape == (4,) and model.feature_importances_.sum() == pytest.approx(1.0)
    split = model.set_params(importance_type="split").feature_importances_
    model.set_params(importance_type="gain")
    assert split[0] >= model._importances[1][4] and split[1] >= model._importances[1][4]
    phi = model.predict_contributions(X[:50])
    assert phi.shape == (50, 5)
    np.testing.assert_allclose(phi.sum(axis=1), model.predict(X[:50]), atol=1e-10)


def test_off_is_todays_model_and_fewer_than_two_category_columns_change_nothing():
    X, y = _frame(800)
    base = ShrinkBoostRegressor(**SMALL).fit(X, y).predict(X)
    for off in (False, None):
        model = _model(off).fit(X, y)
        assert not hasattr(model, "_pairs")
        np.testing.assert_array_equal(model.predict(X), base)
    one = X[["a", "x"]]
    np.testing.assert_array_equal(_model(3).fit(one, y).predict(one),
                                  ShrinkBoostRegressor(**SMALL).fit(one, y).predict(one))


@pytest.mark.parametrize("value", [0, 1, -2, 2.5, "3", np.bool_(True)])
def test_bad_values_are_a_clear_error(value):
    X, y = _frame(300)
    model = _model(value)
    with pytest.raises(ValueError, match="_category_pairs must be"):
        model.fit(X, y)
    assert not hasattr(model, "n_iter_")


def test_check_and_choose():
    assert check_category_pairs(False) == 0 and check_category_pairs(None) == 0
    assert check_category_pairs(True) == DEFAULT_TOP_COLUMNS and check_category_pairs(4) == 4
    gain = np.array([5.0, 1.0, 0.0, 3.0, 9.0, 2.0])
    categorical = np.array([True, True, True, True, False, True])
    # The top 3 categorical columns with a positive gain (column 4 is numeric, column 2 has none).
    assert choose_category_pairs(gain, categorical, 3).tolist() == [[0, 3], [0, 5], [3, 5]]
    assert choose_category_pairs(gain, categorical, 10).shape == (6, 2)
    assert choose_category_pairs(gain * 0, categorical, 3).shape == (0, 2)


@pytest.mark.parametrize("params", [{"monotonic_cst": [0, 0, 0, 1]}, {"interaction_cst": [[0, 1], [2, 3]]},
                                    {"random_effects": "a"}])
def test_constraints_and_random_effects_are_refused(params):
    X, y = _frame(300)
    with pytest.raises(ValueError, match="_category_pairs cannot be combined with"):
        _model(**params, n_estimators=5).fit(X, y)


def test_model_file_round_trip_and_damaged_pairs(fitted, tmp_path):
    X, _, model = fitted
    save_model(model, tmp_path / "pairs.json")
    loaded = load_model(tmp_path / "pairs.json")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    assert isinstance(loaded._pairs, CategoryPairs)
    for name, damage in (("pairs", 3), ("pairs", 99), ("offsets", 5), ("keys", -1)):
        damaged = pickle.loads(pickle.dumps(model))
        getattr(damaged._pairs, name)[0] = damage  # the digest is computed over the damaged state
        state = damaged.__getstate__()
        with pytest.raises(ModelIntegrityError):
            type(model).__new__(type(model)).__setstate__(state)


def test_what_cannot_see_the_pairs_says_so(fitted):
    from shrinktree import shrink
    from shrinktree.explain import to_shap

    X, y, model = fitted
    with pytest.raises(ValueError, match="category pairs"):
        to_shap(model)
    with pytest.raises(ValueError, match="category pairs"):
        shrink(model, X[:1000], y[:1000])


def test_eval_sets_and_early_stopping_see_the_same_pair_columns():
    X, y = _frame(1200, seed=3)
    model = _model(n_estimators=60, early_stopping=True)
    model.fit(X[:900], y[:900], eval_set=[(X[900:], y[900:])])
    final = 0.5 * np.mean((model.predict(X[900:]) - y[900:]) ** 2)  # the loss is half the squared error
    assert model.evals_result_["valid_0"]["squared_error"][model.n_iter_] == pytest.approx(final, rel=1e-9)


def test_with_cross_features_and_a_multiclass_classifier():
    X, y = _frame(900, seed=4)
    X["z"] = np.random.default_rng(5).normal(size=len(X))
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    model = _model(True, ShrinkBoostClassifier, cross_features=2).fit(X, labels)
    assert len(model.cross_features_) == 2 and len(model._pairs) == 3
    assert model.tree_input(X).shape == (len(X), 5 + 2 + 3)
    phi = model.predict_contributions(X[:30])
    assert phi.shape == (30, 3, 6)
    np.testing.assert_allclose(phi.sum(axis=2), model.decision_function(X[:30]), atol=1e-10)
    assert model.feature_importances_.shape == (5,)


def test_min_rows_drops_pairs_of_sparse_combinations():
    X, y = _frame(1000, seed=6)
    X["id"] = pd.Categorical(np.arange(len(X)) // 2)  # two rows per level: an identifier
    y = y + 0.5 * (np.arange(len(X)) // 2 % 3)
    every = _model(4).fit(X, y)
    kept = _model(4)
    kept._category_pair_min_rows = 20
    kept.fit(X, y)
    sparse = [sorted(p) for p in every._pairs.pairs.tolist() if 4 in p]
    assert sparse and not any(4 in p for p in kept._pairs.pairs.tolist())
    alone = _model(4)
    alone._category_pair_min_rows = 10_000  # no pair has that many rows per combination: the default model
    np.testing.assert_array_equal(alone.fit(X, y).predict(X), ShrinkBoostRegressor(**SMALL).fit(X, y).predict(X))
    assert not hasattr(alone, "_pairs")


@pytest.mark.parametrize("value", [-1, True, "20", np.nan])
def test_a_bad_min_rows_is_a_clear_error(value):
    X, y = _frame(300)
    model = _model(3)
    model._category_pair_min_rows = value
    with pytest.raises(ValueError, match="_category_pair_min_rows must be"):
        model.fit(X, y)
