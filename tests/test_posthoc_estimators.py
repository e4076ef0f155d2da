"""ShrunkRegressor / ShrunkClassifier: scikit-learn compatible meta-estimators."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from shrinktree import ShrunkClassifier, ShrunkRegressor, shrink


@parametrize_with_checks([
    ShrunkRegressor(),
    ShrunkClassifier(),
    ShrunkRegressor(method="hs", strength=5.0),
    ShrunkClassifier(method="hs", strength=5.0),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_fit_clones_and_matches_shrink():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] + rng.normal(size=300)
    base = DecisionTreeRegressor(min_samples_leaf=5, random_state=0)
    meta = ShrunkRegressor(base).fit(X, y)
    assert not hasattr(base, "tree_")  # the given estimator is never fitted
    direct = shrink(DecisionTreeRegressor(min_samples_leaf=5, random_state=0).fit(X, y), X, y)
    np.testing.assert_array_equal(meta.predict(X), direct.predict(X))
    assert len(meta.pooling_factors_) == 1
    assert meta.model_.method_ == "eb"


def test_grid_search_over_method_and_strength():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.where(X[:, 0] + rng.normal(size=300) > 0, "up", "down")
    search = GridSearchCV(
        make_pipeline(StandardScaler(), ShrunkClassifier(DecisionTreeClassifier(random_state=0))),
        {"shrunkclassifier__method": ["hs"], "shrunkclassifier__strength": [0.0, 10.0, 100.0]}, cv=3,
    ).fit(X, y)
    assert search.best_params_["shrunkclassifier__strength"] > 0  # a fully grown tree on noisy labels
    assert set(search.predict(X)) <= {"up", "down"}


def test_classifier_with_cv_strength_and_forest():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    meta = ShrunkClassifier(RandomForestClassifier(10, random_state=0), method="hs", strength="cv",
                            grid=[0.0, 10.0, 100.0], cv=3).fit(X, y)
    assert meta.strength_ in (0.0, 10.0, 100.0)
    assert meta.score(X, y) > 0.8
    np.testing.assert_allclose(meta.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize("method", ["eb", "none"])
def test_random_state_gives_identical_results(method):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = X[:, 1] + rng.normal(size=200)
    a = ShrunkRegressor(DecisionTreeRegressor(random_state=3), method=method).fit(X, y).predict(X)
    b = ShrunkRegressor(DecisionTreeRegressor(random_state=3), method=method).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def test_tree_frame_is_the_node_table_of_that_tree():
    X = np.random.default_rng(1).normal(size=(200, 3))
    y = X[:, 0] + 0.1 * X[:, 1]
    shrunk = shrink(DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y), X, y)
    frame = shrunk.tree_frame(0)
    assert frame.equals(shrunk.trees_[0].to_frame())
    assert len(frame) == shrunk.trees_[0].n_nodes
