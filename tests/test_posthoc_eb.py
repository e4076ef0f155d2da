"""Empirical-Bayes post-hoc pooling: hard on noise, light on signal, for every statistics path."""

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shrinktree import shrink
from shrinktree._shrinkage import shrink_tree_values

N = 1500


def _xy(signal, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 5))
    y = rng.normal(size=N)
    if signal:
        y = y + 3.0 * (X[:, 0] > 0) + 2.0 * X[:, 1]
    return X, y


def _leaf_factor(shrunk):
    return float(np.median(np.concatenate([t.pooling_factor[t.left < 0] for t in shrunk.trees_])))


CASES = {
    "tree": (lambda: DecisionTreeRegressor(min_samples_leaf=5, random_state=0), False),
    "forest_stored": (lambda: RandomForestRegressor(30, min_samples_leaf=3, random_state=0), False),
    "forest_oob": (lambda: RandomForestRegressor(30, random_state=0), True),
    "extra_trees": (lambda: ExtraTreesRegressor(30, min_samples_leaf=3, random_state=0), False),
    "gradient_boosting": (lambda: GradientBoostingRegressor(n_estimators=30, max_depth=4, random_state=0), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_eb_pools_noise_hard_and_signal_little(case):
    make, with_data = CASES[case]
    factors = {}
    for signal in (False, True):
        X, y = _xy(signal)
        model = make().fit(X, y)
        shrunk = shrink(model, X, y) if with_data else shrink(model)
        factors[signal] = _leaf_factor(shrunk)
        if case == "gradient_boosting" and signal:
            # The first trees carry the signal; later ones fit what is left, mostly noise.
            factors[signal] = float(np.median(shrunk.trees_[0].pooling_factor[shrunk.trees_[0].left < 0]))
    assert factors[False] < 0.15, factors
    assert factors[True] > 0.6, factors


def test_eb_improves_a_fully_grown_tree_on_noise_and_keeps_signal():
    X, y = _xy(False, seed=1)
    X_test, y_test = _xy(False, seed=2)
    model = DecisionTreeRegressor(random_state=0).fit(X, y)
    shrunk = shrink(model)
    assert np.mean((shrunk.predict(X_test) - y_test) ** 2) < 0.8 * np.mean((model.predict(X_test) - y_test) ** 2)
    X, y = _xy(True, seed=1)
    X_test, y_test = _xy(True, seed=2)
    model = DecisionTreeRegressor(min_samples_leaf=10, random_state=0).fit(X, y)
    mse_shrunk = np.mean((shrink(model).predict(X_test) - y_test) ** 2)
    assert mse_shrunk < 1.02 * np.mean((model.predict(X_test) - y_test) ** 2)


def test_forest_uses_out_of_bag_rows_when_given_the_training_data():
    X, y = _xy(False)
    model = RandomForestRegressor(20, min_samples_leaf=3, random_state=0).fit(X, y)
    honest = shrink(model, X, y)
    assert honest.stats_source_.startswith("honest")
    assert shrink(model).stats_source_.startswith("calibrated")
    # Out-of-bag rows did not choose the splits: pure noise is pooled (almost) to the root.
    assert _leaf_factor(honest) < 0.05


def test_single_output_uses_the_booster_kernel_unchanged():
    X, y = _xy(True)
    model = DecisionTreeRegressor(max_depth=5, random_state=0).fit(X, y)
    shrunk = shrink(model)
    tree = shrunk.trees_[0].copy()
    k = shrink_tree_values(tree, "eb", sigma2=1.0, null_factor=np.where(tree.left >= 0, 1.0, 0.0))
    assert np.isfinite(k)
    # Same structure, same raw values: pooled values lie between the node's raw value and its parent's.
    t = shrunk.trees_[0]
    for node in range(1, t.n_nodes):
        p = t.parent[node]
        lo, hi = sorted([t.value[p, 0], t.value[p, 0] + (t.raw_value[node, 0] - t.raw_value[p, 0])])
        assert lo - 1e-12 <= t.value[node, 0] <= hi + 1e-12
    assert shrunk.pooling_strength_.shape == (1,)


def test_classifier_proportions_share_one_factor_and_sum_to_one():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=N) > 0, "yes", np.where(X[:, 1] > 0.5, "maybe", "no"))
    for model in (DecisionTreeClassifier(min_samples_leaf=5, random_state=0).fit(X, y),
                  RandomForestClassifier(20, random_state=0).fit(X, y)):
        for shrunk in (shrink(model), shrink(model, X, y)):
            for tree in shrunk.trees_:
                np.testing.assert_allclose(tree.value.sum(axis=1), 1.0, atol=1e-12)
            np.testing.assert_allclose(shrunk.predict_proba(X).sum(axis=1), 1.0)
            assert np.mean(shrunk.predict(X) == y) > 0.75


def test_boosted_classifier_replay_and_determinism():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4))
    y = (X[:, 0] + rng.normal(size=N) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    a = shrink(model, X, y)
    b = shrink(model, X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.pooling_strength_, b.pooling_strength_)
    assert "replaying" in a.stats_source_
    # Replayed hessians replace the stored row counts as the nodes' masses.
    assert a.trees_[0].weight[0] < 0.3 * model._predictors[0][0].nodes["count"][0]


def test_sample_weight_equals_repeated_rows_for_stored_and_replayed_statistics():
    X, y = _xy(True)
    X, y = X[:300], y[:300]
    w = np.random.default_rng(1).integers(0, 3, size=300).astype(float)
    rep = np.repeat(np.arange(300), w.astype(int))
    for make in (lambda: DecisionTreeRegressor(max_depth=4, random_state=0),
                 lambda: GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0)):
        weighted = make().fit(X, y, sample_weight=w)
        repeated = make().fit(X[rep], y[rep])
        a = shrink(weighted, X, y, sample_weight=w)
        b = shrink(repeated, X[rep], y[rep])
        np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-9, atol=1e-9)
