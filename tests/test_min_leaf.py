"""min_samples_leaf on tiny honest fits (the "if-constant" rule) and counted in weight for weighted fits."""

import numpy as np
import pytest
from sklearn.metrics import mean_poisson_deviance

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting.honest import DEFAULT_MIN_LEAF_RULE, HONEST_FRACTION, growing_min_samples_leaf


def _poisson_rates(n, seed):
    """Counts with an exposure; the rate is four times higher where the first feature is positive."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    exposure = rng.uniform(50, 150, size=n)
    rate = 0.02 * np.exp(np.log(4.0) * (X[:, 0] > 0))  # 0.02 below zero, 0.08 above
    return X, rng.poisson(rate * exposure).astype(float), np.log(exposure)


def _split_trees(model):
    return sum(int(np.any(tree.left >= 0)) for trees in model._trees for tree in trees)


def test_the_rule_asks_the_growing_share_only_of_trees_that_could_not_split():
    assert DEFAULT_MIN_LEAF_RULE == "if-constant"
    # 24 growing rows (a 48-row honest fit): fewer than 2 x 20, so half of 20 is asked.
    assert growing_min_samples_leaf(20, 24, HONEST_FRACTION) == 10
    assert growing_min_samples_leaf(20, 24.5, 0.3) == 14  # ceil(0.7 * 20); weight counts like rows
    assert growing_min_samples_leaf(20, 40, HONEST_FRACTION) == 20  # one split possible: unchanged
    assert growing_min_samples_leaf(20, 24, HONEST_FRACTION, rule=False) == 20
    assert growing_min_samples_leaf(20, 400, HONEST_FRACTION, rule=True) == 10
    assert growing_min_samples_leaf(1, 1, HONEST_FRACTION) == 1


def test_a_48_row_poisson_fit_with_an_offset_splits_and_beats_the_training_rate():
    X, y, offset = _poisson_rates(48, seed=0)
    X_new, y_new, offset_new = _poisson_rates(4000, seed=1)
    model = ShrinkBoostRegressor(loss="poisson", random_state=0).fit(X, y, offset=offset)
    before = ShrinkBoostRegressor(loss="poisson", random_state=0)
    before._min_leaf_of_all_rows = False  # the rule before: every tree a constant
    before.fit(X, y, offset=offset)
    assert _split_trees(before) == 0
    assert _split_trees(model) > 0
    rate = y.sum() / np.exp(offset).sum()
    null = mean_poisson_deviance(y_new, rate * np.exp(offset_new))
    fitted = mean_poisson_deviance(y_new, model.predict(X_new, offset=offset_new))
    assert fitted < 0.8 * null


@pytest.mark.parametrize("Est", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_integer_weights_equal_repeated_rows_on_a_tiny_fit_that_splits(Est):
    rng = np.random.default_rng(5)
    n = 40
    X = np.round(rng.normal(size=(n, 3)), 2)
    signal = X[:, 0] + 0.5 * X[:, 1]
    y = signal + rng.normal(scale=0.3, size=n) if Est is ShrinkBoostRegressor else (signal > 0).astype(int)
    w = rng.integers(0, 4, size=n)
    params = dict(n_estimators=30, random_state=0)  # min_samples_leaf=20 binds: leaves are counted in weight
    weighted = Est(**params).fit(X, y, sample_weight=w.astype(float))
    repeated = Est(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert _split_trees(weighted) > 0
    assert _split_trees(weighted) == _split_trees(repeated)
    X_test = rng.normal(size=(200, 3))
    if Est is ShrinkBoostRegressor:
        np.testing.assert_allclose(weighted.predict(X_test), repeated.predict(X_test), rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(weighted.predict_proba(X_test), repeated.predict_proba(X_test), atol=1e-12)


def test_weighted_leaves_hold_min_samples_leaf_of_weight():
    rng = np.random.default_rng(6)
    n = 400
    X = rng.normal(size=(n, 2))
    y = X[:, 0] + rng.normal(scale=0.2, size=n)
    weight = np.where(rng.random(n) < 0.5, 1.0, 4.0)
    model = ShrinkBoostRegressor(n_estimators=5, shrinkage="none", min_samples_leaf=30, max_leaf_nodes=64,
                                 random_state=0).fit(X, y, sample_weight=weight)
    tree = model._trees[0][0]
    leaves = tree.left < 0
    # Every leaf has at least 30 of weight; some have fewer than 30 rows (each row weighs 2.5 on average).
    assert np.all(tree.count[leaves] >= 30)
    rows_per_leaf = np.bincount(model.apply(X)[:, 0], minlength=len(tree.left))[leaves]
    assert np.any(rows_per_leaf < 30)


def test_the_rule_does_not_touch_a_fit_with_enough_rows():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3))  # about 150 growing rows: every tree may split under either rule
    y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    default = ShrinkBoostRegressor(loss="poisson", n_estimators=20, random_state=0).fit(X, y)
    before = ShrinkBoostRegressor(loss="poisson", n_estimators=20, random_state=0)
    before._min_leaf_of_all_rows = False
    before.fit(X, y)
    assert np.array_equal(default.predict(X), before.predict(X))


def test_a_bad_min_leaf_switch_is_refused_before_fitting():
    model = ShrinkBoostRegressor(n_estimators=5)
    model._min_leaf_of_all_rows = "sometimes"
    with pytest.raises(ValueError, match="_min_leaf_of_all_rows"):
        model.fit(np.zeros((50, 1)), np.arange(50.0))
    assert not hasattr(model, "n_iter_")


def _missing_in_a_corner(n, seed):
    """x0 is missing only where x1 < -0.3, and a split on x1 there comes first: below it, nodes on the other
    side split x0 with no missing rows, their histograms derived by subtraction."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[(X[:, 1] < -0.3) & (rng.random(n) < 0.5), 0] = np.nan
    y = 3.0 * (X[:, 1] > -0.3) + np.nan_to_num(X[:, 0]) + 0.5 * X[:, 2] + rng.normal(scale=0.3, size=n)
    return X, y, rng.uniform(0.3, 1.7, size=n)  # non-integer weights: their sums round


def _nodes_with_missing(tree, X, feature):
    """Whether each node's rows hold a missing value of ``feature``."""
    has_missing = np.zeros(len(tree.left), dtype=bool)
    for row in np.flatnonzero(np.isnan(X[:, feature])):
        node = 0
        while True:
            has_missing[node] = True
            if tree.left[node] < 0:
                break
            x = X[row, tree.feature[node]]
            goes_left = tree.missing_left[node] == 1 if np.isnan(x) else x <= tree.threshold[node]
            node = tree.left[node] if goes_left else tree.right[node]
    return has_missing


@pytest.mark.filterwarnings("ignore::shrinktree.exceptions.SampleWeightScaleWarning")  # the doubled weights
def test_non_integer_weights_send_unseen_missing_values_to_the_heavier_child_whatever_their_scale():
    X, y, weight = _missing_in_a_corner(3000, seed=8)
    params = dict(n_estimators=10, shrinkage="none", min_samples_leaf=1, max_leaf_nodes=31, random_state=0)
    model = ShrinkBoostRegressor(**params).fit(X, y, sample_weight=weight)
    doubled = ShrinkBoostRegressor(**params).fit(X, y, sample_weight=2.0 * weight)
    checked = 0
    for [tree], [tree_doubled] in zip(model._trees, doubled._trees):
        assert np.isclose(tree.count[0], weight.sum())  # every row grew the tree
        for name in ("left", "feature", "threshold", "missing_left"):
            assert np.array_equal(getattr(tree, name), getattr(tree_doubled, name), equal_nan=True)
        has_missing = _nodes_with_missing(tree, X, 0)
        for node in np.flatnonzero((tree.left >= 0) & (tree.feature == 0) & ~has_missing):
            # No missing x0 among the node's rows: future missing values go to the child of more weight.
            heavier_left = tree.count[tree.left[node]] >= tree.count[tree.right[node]]
            assert tree.missing_left[node] == heavier_left
            checked += 1
    assert checked > 5
    np.testing.assert_array_equal(model.predict(X), doubled.predict(X))
