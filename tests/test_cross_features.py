"""cross_features: numeric differences and products of the top features (shrinktree/boosting/cross_features.py)."""

import pickle

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting.cross_features import (
    DIFFERENCE,
    PRODUCT,
    CrossColumns,
    check_cross_features,
    choose_pairs,
    fold_columns,
)
from shrinktree.exceptions import ModelIntegrityError
from shrinktree.model_file import load_model, save_model

SMALL = {"n_estimators": 40, "random_state": 0}


def _frame(n=1500, seed=0):
    """Two numeric columns in different units whose comparison is the signal, a noise column, a category."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": 100.0 * rng.normal(size=n), "noise": rng.normal(size=n),
                      "group": pd.Categorical(rng.choice(list("xyz"), n))})
    X.loc[::23, "a"] = np.nan
    y = (X["a"].fillna(0.0) > X["b"] / 100.0).astype(float) + 0.1 * rng.normal(size=n)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def fitted():
    X, y = _frame()
    return X, y, ShrinkBoostRegressor(cross_features=True, **SMALL).fit(X[:1000], y[:1000])


def test_crosses_make_a_comparison_of_two_columns_one_split():
    X, y = _frame()
    errors = {}
    for cross in (False, True):
        model = ShrinkBoostRegressor(cross_features=cross, **SMALL).fit(X[:1000], y[:1000])
        errors[cross] = np.sqrt(np.mean((model.predict(X[1000:]) - y[1000:]) ** 2))
    assert errors[True] < 0.8 * errors[False]


def test_the_model_keeps_the_users_columns(fitted):
    X, y, model = fitted
    assert model.n_features_in_ == 4 and list(model.feature_names_in_) == list(X.columns)
    assert model.is_categorical_.tolist() == [False, False, False, True]
    assert model.feature_importances_.shape == (4,)
    assert np.isclose(model.feature_importances_.sum(), 1.0)
    prediction = model.predict(X[1000:])
    np.testing.assert_allclose(list(model.staged_predict(X[1000:]))[-1], prediction, atol=1e-12)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[1000:].iloc[:, :3])
    # The trees route on the cross columns after the user's: tree_input holds them too.
    assert model.tree_input(X[:5]).shape == (5, 4 + len(model.cross_features_))


def test_categorical_columns_are_never_crossed(fitted):
    _, _, model = fitted
    crossed = {j for i, k, _ in model.cross_features_ for j in (i, k)}
    assert crossed and 3 not in crossed
    assert {op for _, _, op in model.cross_features_} == {"difference", "product"}


def test_choose_pairs_takes_the_top_numeric_columns_with_a_positive_gain():
    gain = np.array([0.1, 5.0, 0.0, 3.0, 9.0, 2.0])
    categorical = np.array([False, False, False, False, True, False])
    np.testing.assert_array_equal(choose_pairs(gain, categorical, 3), [[1, 3], [1, 5], [3, 5]])
    assert choose_pairs(gain, categorical, 10).shape == (6, 2)  # four columns with a gain: six pairs
    assert choose_pairs(np.array([1.0, 0.0]), np.zeros(2, bool), 4).shape == (0, 2)


def test_columns_use_training_statistics_and_propagate_missing_values():
    X = np.array([[1.0, 10.0], [2.0, 30.0], [3.0, np.nan], [np.nan, 20.0]])
    weight = np.array([1.0, 3.0, 1.0, 1.0])
    crosses = CrossColumns.fit(X, np.array([[0, 1]]), weight)
    assert crosses.operations.tolist() == [DIFFERENCE, PRODUCT]
    mean0 = (1 + 6 + 3) / 5
    sd0 = np.sqrt((1 * (1 - mean0) ** 2 + 3 * (2 - mean0) ** 2 + (3 - mean0) ** 2) / 5)
    mean1 = (10 + 90 + 20) / 5
    sd1 = np.sqrt(((10 - mean1) ** 2 + 3 * (30 - mean1) ** 2 + (20 - mean1) ** 2) / 5)
    np.testing.assert_allclose(crosses.scale[0], [sd0, sd1])
    np.testing.assert_allclose(crosses.location[1], [mean0, mean1])
    new = np.array([[5.0, 40.0], [np.nan, 1.0]])
    out = crosses.append(new)
    np.testing.assert_allclose(out[0], [5.0, 40.0, 5.0 / sd0 - 40.0 / sd1, (5.0 - mean0) * (40.0 - mean1)])
    assert np.isnan(out[1, 2:]).all()
    raw = CrossColumns.fit(X, np.array([[0, 1]]), None, scaling="raw").append(new)
    np.testing.assert_allclose(raw[0, 2:], [5.0 - 40.0, 5.0 * 40.0])


def test_fold_columns_gives_half_of_a_cross_to_each_parent_and_keeps_the_total():
    crosses = CrossColumns(np.array([[0, 2], [1, 2]]), np.array([DIFFERENCE, PRODUCT]), np.zeros((2, 2)),
                           np.ones((2, 2)))
    values = np.array([[1.0, 2.0, 3.0, 10.0, 20.0, 7.0]])  # 3 columns, 2 crosses, an expected value
    folded = fold_columns(values, 3, crosses)
    np.testing.assert_allclose(folded, [[6.0, 12.0, 18.0, 7.0]])
    assert folded.sum() == values.sum()
    np.testing.assert_allclose(fold_columns(values[:, :5], 3, crosses, share=1.0), [[11.0, 22.0, 33.0]])


def test_contributions_and_importances_fold_onto_the_parents(fitted):
    X, y, model = fitted
    contributions = model.predict_contributions(X[1000:1100])
    assert contributions.shape == (100, 5)
    np.testing.assert_allclose(contributions.sum(axis=1), model.predict(X[1000:1100]), atol=1e-10)
    splits = ShrinkBoostRegressor(cross_features=True, importance_type="split", **SMALL).fit(X[:1000], y[:1000])
    n_splits = sum(int(np.sum(t.left >= 0)) for trees in splits.trees_ for t in trees)
    on_crosses = sum(int(np.sum((t.left >= 0) & (t.feature >= 4))) for trees in splits.trees_ for t in trees)
    assert on_crosses > 0 and splits.feature_importances_.sum() == n_splits + on_crosses


def test_multiclass_contributions_sum_to_the_decision_function():
    X, y = _frame(900, seed=1)
    labels = np.digitize(y, [0.3, 0.7])
    model = ShrinkBoostClassifier(cross_features=3, **SMALL).fit(X, labels)
    assert model.cross_features_ and model.predict_proba(X).shape == (900, 3)
    contributions = model.predict_contributions(X[:50])
    assert contributions.shape == (50, 3, 5)
    np.testing.assert_allclose(contributions.sum(axis=2), model.decision_function(X[:50]), atol=1e-10)
    staged = list(model.staged_predict_proba(X[:50]))[-1]
    np.testing.assert_allclose(staged, model.predict_proba(X[:50]), atol=1e-12)


def test_same_random_state_same_model_and_false_changes_nothing():
    X, y = _frame(800, seed=2)
    first = ShrinkBoostRegressor(cross_features=True, **SMALL).fit(X, y)
    second = ShrinkBoostRegressor(cross_features=True, **SMALL).fit(X, y)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    plain = ShrinkBoostRegressor(**SMALL).fit(X, y)
    off = ShrinkBoostRegressor(cross_features=False, **SMALL).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X), off.predict(X))
    assert off.cross_features_ == [] and "_crosses" not in off.__dict__
    # A refit without crosses drops the earlier fit's.
    first.set_params(cross_features=False).fit(X, y)
    assert first.cross_features_ == []
    np.testing.assert_array_equal(first.predict(X), plain.predict(X))


@pytest.mark.parametrize("value", [1, 0, -3, 2.5, "yes", "AUTO", np.bool_(True)])
def test_bad_values_are_a_clear_error(value):
    X, y = _frame(200)
    with pytest.raises(ValueError, match="cross_features must be"):
        ShrinkBoostRegressor(cross_features=value, n_estimators=5).fit(X, y)


def test_check_cross_features_values():
    assert check_cross_features(False) == 0 and check_cross_features(True) == 4 and check_cross_features(6) == 6


@pytest.mark.parametrize("params", [{"monotonic_cst": [1, 0, 0, 0]}, {"interaction_cst": "pairwise"},
                                    {"random_effects": "group"}])
def test_constraints_and_random_effects_are_refused(params):
    X, y = _frame(300)
    with pytest.raises(ValueError, match="cross_features cannot be combined with"):
        ShrinkBoostRegressor(cross_features=True, n_estimators=5, **params).fit(X, y)


def test_a_failed_fit_keeps_the_earlier_model(fitted):
    X, y, model = fitted
    model = pickle.loads(pickle.dumps(model))
    before, crosses = model.predict(X[1000:]), model.cross_features_
    bad = y[:1000].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError):
        model.fit(X[:1000], bad)
    np.testing.assert_array_equal(model.predict(X[1000:]), before)
    assert model.cross_features_ == crosses


def test_model_file_round_trip_and_damaged_crosses(fitted, tmp_path):
    X, _, model = fitted
    save_model(model, tmp_path / "cross.json")
    loaded = load_model(tmp_path / "cross.json")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_contributions(X[:20]), model.predict_contributions(X[:20]))
    assert loaded.cross_features_ == model.cross_features_
    for name, damage in (("pairs", 99), ("pairs", 3), ("scale", 0.0), ("operations", 7)):
        damaged = pickle.loads(pickle.dumps(model))
        getattr(damaged._crosses, name)[0] = damage  # the digest is computed over the damaged state
        state = damaged.__getstate__()
        with pytest.raises(ModelIntegrityError):
            type(model).__new__(type(model)).__setstate__(state)


def test_what_cannot_see_the_crosses_says_so(fitted):
    from shrinktree import shrink
    from shrinktree.explain import explanation, to_shap

    X, y, model = fitted
    with pytest.raises(ValueError, match="cross_features"):
        to_shap(model)
    with pytest.raises(ValueError, match="cross_features"):
        shrink(model, X[:1000], y[:1000])
    shap = pytest.importorskip("shap")
    explained = explanation(model, X[:10])
    assert isinstance(explained, shap.Explanation) and explained.values.shape == (10, 4)
    assert explained.data.shape == (10, 4)


def test_dask_refuses_cross_features():
    da = pytest.importorskip("dask.array")
    from shrinktree.dask import DaskShrinkBoostRegressor

    X, y = _frame(400)
    numeric = X[["a", "b", "noise"]].to_numpy()
    with pytest.raises(ValueError, match="cross_features is not available on a cluster"):
        DaskShrinkBoostRegressor(cross_features=True, n_estimators=5).fit(da.from_array(numeric, chunks=(200, 3)),
                                                                          da.from_array(y, chunks=200))


def test_plot_tree_names_the_cross_columns(fitted):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from shrinktree.plotting import plot_tree

    _, _, model = fitted
    index = next(i for i, trees in enumerate(model.trees_) if np.any(trees[0].feature[trees[0].left >= 0] >= 4))
    figure = plot_tree(model, index)
    texts = " ".join(t.get_text() for t in figure.axes[0].texts)
    assert " - " in texts or " * " in texts


def test_eval_sets_and_early_stopping_see_the_same_cross_columns():
    X, y = _frame(1200, seed=3)
    model = ShrinkBoostRegressor(cross_features=True, n_estimators=60, early_stopping=True, random_state=0)
    model.fit(X[:900], y[:900], eval_set=[(X[900:], y[900:])])
    final = 0.5 * np.mean((model.predict(X[900:]) - y[900:]) ** 2)  # the loss is half the squared error
    assert model.evals_result_["valid_0"]["squared_error"][model.n_iter_] == pytest.approx(final, rel=1e-9)


def test_auto_keeps_crosses_that_win_the_race():
    X, y = _frame(1500)
    model = ShrinkBoostRegressor(cross_features="auto", **SMALL).fit(X, y)
    race = model.cross_race_
    assert race["kept"] and race["with"] < race["without"] and len(model.cross_features_) == 6


def test_auto_that_rejects_the_crosses_is_the_model_without_them():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1200, 3))
    y = X[:, 0] + X[:, 1] + rng.normal(size=1200)  # additive: a cross has nothing to add
    model = ShrinkBoostRegressor(cross_features="auto", **SMALL).fit(X, y)
    race = model.cross_race_
    assert not race["kept"] and race["with"] >= race["without"] and model.cross_features_ == []
    np.testing.assert_array_equal(model.predict(X), ShrinkBoostRegressor(**SMALL).fit(X, y).predict(X))
    # The race is held out of a classifier's rows stratified; a refit without crosses drops the record.
    labels = (y > 0).astype(int)
    classifier = ShrinkBoostClassifier(cross_features="auto", **SMALL).fit(X, labels)
    assert set(classifier.cross_race_) == {"without", "with", "kept"}
    classifier.set_params(cross_features=False).fit(X, labels)
    assert not hasattr(classifier, "cross_race_")
