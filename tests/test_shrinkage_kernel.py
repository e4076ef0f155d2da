"""The shared shrinkage kernel on hand-made node arrays."""

import numpy as np
import pytest

from shrinktree._shrinkage import (
    between_node_variance,
    eb_factors,
    effective_tests_table,
    hs_factors,
    null_gain_factor,
    pool_values,
    shrink_tree_values,
    within_variance,
)
from shrinktree._tree import FlatForest, TreeArrays


def small_tree():
    # root 0 -> (1, 2); node 1 -> (3, 4)
    parent = np.array([-1, 0, 0, 1, 1], dtype=np.int32)
    left = np.array([1, 3, -1, -1, -1], dtype=np.int32)
    right = np.array([2, 4, -1, -1, -1], dtype=np.int32)
    feature = np.array([0, 1, -1, -1, -1], dtype=np.int32)
    threshold = np.array([0.5, 0.0, np.nan, np.nan, np.nan])
    raw = np.array([1.0, 0.0, 3.0, -2.0, 2.0])
    count = np.array([100.0, 60.0, 40.0, 20.0, 40.0])
    return TreeArrays(parent=parent, left=left, right=right, feature=feature, threshold=threshold,
                      missing_left=np.zeros(5, np.uint8), raw_value=raw.copy(), value=raw.copy(),
                      pooling_factor=np.ones(5), weight=count.copy(), count=count.copy(), gain=np.zeros(5))


def test_pool_values_follows_the_formula():
    tree = small_tree()
    factor = np.array([[1.0], [0.5], [0.25], [0.1], [1.0]])
    out = np.empty_like(tree.raw_value)
    pool_values(tree.parent, tree.raw_value, factor, out)
    expected = np.empty(5)
    expected[0] = 1.0
    expected[1] = expected[0] + 0.5 * (0.0 - 1.0)
    expected[2] = expected[0] + 0.25 * (3.0 - 1.0)
    expected[3] = expected[1] + 0.1 * (-2.0 - 0.0)
    expected[4] = expected[1] + 1.0 * (2.0 - 0.0)
    np.testing.assert_allclose(out[:, 0], expected)


def test_hs_factors_use_parent_count():
    tree = small_tree()
    f = hs_factors(tree.parent, tree.count, 10.0)[:, 0]
    np.testing.assert_allclose(f, [1.0, 100 / 110, 100 / 110, 60 / 70, 60 / 70])
    np.testing.assert_array_equal(hs_factors(tree.parent, tree.count, 0.0)[:, 0], np.ones(5))


def test_shrink_none_and_hs_zero_are_identity():
    for mode, strength in (("none", None), ("hs", 0.0)):
        tree = small_tree()
        shrink_tree_values(tree, mode, strength)
        np.testing.assert_array_equal(tree.value, tree.raw_value)


def test_hs_shrinks_monotonically_to_root():
    distances = []
    for lam in (0.0, 1.0, 10.0, 100.0, 1e6):
        tree = small_tree()
        shrink_tree_values(tree, "hs", lam)
        distances.append(np.abs(tree.value[1:, 0] - tree.value[tree.parent[1:], 0]))
    distances = np.array(distances)
    assert np.all(np.diff(distances, axis=0) <= 1e-12)
    assert distances[-1].max() < 1e-3


def test_between_node_variance_recovers_spread():
    # Many splits of equal children with increments drawn with spread tau: the moment estimate finds it.
    rng = np.random.default_rng(1)
    n_splits, tau, sigma, mass = 4000, 0.5, 1.0, 50.0
    # Nodes 0..n_splits-1 are parents, each with its own two leaf children.
    n_nodes = 3 * n_splits
    left = np.arange(n_splits, dtype=np.int32) * 2 + n_splits
    right = left + 1
    left_full = -np.ones(n_nodes, dtype=np.int32)
    right_full = -np.ones(n_nodes, dtype=np.int32)
    left_full[:n_splits], right_full[:n_splits] = left, right
    raw = np.zeros(n_nodes)
    weight = np.full(n_nodes, mass)
    delta = rng.normal(0, tau, size=(n_splits, 2))
    noise = rng.normal(0, sigma / np.sqrt(mass), size=(n_splits, 2))
    raw[left] = delta[:, 0] + noise[:, 0]
    raw[right] = delta[:, 1] + noise[:, 1]
    tau2 = between_node_variance(left_full, right_full, weight, raw, sigma**2, np.ones(n_nodes))
    assert abs(tau2 - tau**2) < 0.05 * tau**2 + 0.01
    # Pure noise increments: tau^2 near zero.
    raw[left], raw[right] = noise[:, 0], noise[:, 1]
    tau2_noise = between_node_variance(left_full, right_full, weight, raw, sigma**2, np.ones(n_nodes))
    assert tau2_noise < 0.01 * tau**2


def test_eb_factors_limits():
    parent = np.array([-1, 0, 0], dtype=np.int32)
    weight = np.array([200.0, 100.0, 100.0])
    np.testing.assert_array_equal(eb_factors(parent, weight, 1.0, 0.0)[:, 0], [1.0, 0.0, 0.0])
    f = eb_factors(parent, weight, 1.0, 0.01)[:, 0]
    np.testing.assert_allclose(f[1:], 100 / (100 + 100))


def test_within_variance_dof_correction():
    assert within_variance(90.0, 100.0, 100.0, 10) == pytest.approx(1.0)
    assert within_variance(5.0, 0.0, 10.0, 1) == 0.0


def test_null_gain_grows_with_candidates():
    table = effective_tests_table(255)
    assert table[0] == 0 and table[1] == pytest.approx(1.0)
    assert np.all(np.diff(table[1:]) >= 0)
    gains = null_gain_factor(np.array([1.0, 10.0, 100.0, 1000.0]))
    assert gains[0] == pytest.approx(1.0, abs=1e-3)
    assert np.all(np.diff(gains) > 0)


def test_flat_forest_prediction_matches_manual_walk():
    tree = small_tree()
    X = np.array([[0.0, -1.0], [0.0, 1.0], [1.0, 0.0], [np.nan, 5.0]])
    forest = FlatForest.from_trees([tree, tree])
    out = forest.predict_sum(X, np.array([0, 0]), 1)[:, 0]
    # row 0: x0<=0.5 -> node1, x1<=0 -> node3 (-2); row1 -> node4 (2); row2 -> node2 (3); row3 NaN -> right -> 3
    np.testing.assert_allclose(out, 2 * np.array([-2.0, 2.0, 3.0, 3.0]))
    np.testing.assert_array_equal(forest.apply(X)[:, 0], [3, 4, 2, 2])


def test_tree_validate_rejects_bad_order():
    tree = small_tree()
    tree.validate()
    tree.parent[3] = 2
    with pytest.raises(ValueError):
        tree.validate()
