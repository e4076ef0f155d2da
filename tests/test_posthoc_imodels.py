"""Hierarchical Shrinkage (method="hs") reproduces imodels' HSTree on the same fitted scikit-learn models."""

import copy

# imodels is in the test extra: a broken install must fail here, not skip the comparison.
import imodels
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shrinktree import shrink


@pytest.fixture(scope="module")
def regression():
    return make_regression(n_samples=400, n_features=6, noise=15.0, random_state=1)


@pytest.mark.parametrize("lam", [0.0, 1.0, 10.0, 250.0])
@pytest.mark.parametrize("make", [
    lambda: DecisionTreeRegressor(max_depth=7, random_state=0),
    lambda: DecisionTreeRegressor(random_state=0),
    lambda: RandomForestRegressor(n_estimators=15, random_state=0),
    lambda: ExtraTreesRegressor(n_estimators=10, min_samples_leaf=3, random_state=0),
    lambda: GradientBoostingRegressor(n_estimators=15, random_state=0),
])
def test_hs_regression_matches_imodels(regression, make, lam):
    X, y = regression
    model = make().fit(X, y)
    ours = shrink(model, method="hs", strength=lam).predict(X)
    theirs = imodels.HSTreeRegressor(copy.deepcopy(model), reg_param=lam).predict(X)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    if lam > 0:  # the shrinkage is not a no-op
        assert np.max(np.abs(ours - model.predict(X))) > 1e-3


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("lam", [0.5, 20.0])
@pytest.mark.parametrize("make", [
    lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    lambda: RandomForestClassifier(n_estimators=15, random_state=0),
    lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
])
def test_hs_classification_matches_imodels(make, lam, n_classes):
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_classes=n_classes, random_state=2)
    labels = np.array(["a", "b", "c"])[y]
    model = make().fit(X, labels)
    shrunk = shrink(model, method="hs", strength=lam)
    theirs = imodels.HSTreeClassifier(copy.deepcopy(model), reg_param=lam)
    np.testing.assert_allclose(shrunk.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(shrunk.predict(X), theirs.predict(X))
    assert set(shrunk.predict(X)) <= set(labels)
