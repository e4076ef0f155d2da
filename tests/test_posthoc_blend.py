"""The post-hoc wrapper of a booster whose categorical nodes have present sets (rows at absent levels blend).

The shrunk model keeps the present sets; node statistics stop a row where it would blend (it counts in
that node and its ancestors only, as the booster's held-out rows do); the replayed boosting gives it the
blended value.  References: ``tests/blend_reference.py``.
"""

import numpy as np
import pytest
from blend_reference import route, tree_values
from test_contributions_blend import (
    grouped_frame,
    random_rows,
    random_tree,
    trees_whose_words_follow_each_other,
    two_blending_splits_on_one_feature,
    with_unseen_levels,
)

from shrinktree import ShrinkBoostRegressor, shrink
from shrinktree.posthoc.node_stats import forest_stats, stopped_row_values, tree_stats

PRESENT_FIELDS = ("present_offset", "present_bitset", "absent_left_share")


def reference_stop_node(tree, x):
    node = 0
    while tree.left[node] >= 0:
        where = route(tree, node, float(x[tree.feature[node]]))
        if where == "blend":
            return node
        node = int(tree.left[node] if where == "left" else tree.right[node])
    return node


def reference_sums(tree, X, g, h, w):
    """G, H and C of every node from each row's stop node, added to it and every ancestor."""
    G, H, C = np.zeros(tree.n_nodes), np.zeros(tree.n_nodes), np.zeros(tree.n_nodes)
    stops = []
    for i, x in enumerate(X):
        node = reference_stop_node(tree, x)
        stops.append(node)
        if w[i] <= 0:
            continue
        while node >= 0:
            G[node] += w[i] * g[i]
            H[node] += w[i] * h[i]
            C[node] += w[i]
            node = int(tree.parent[node])
    return G, H, C, np.array(stops)


def test_node_statistics_stop_a_row_where_it_would_blend():
    rng = np.random.default_rng(0)
    tree = two_blending_splits_on_one_feature()
    X = random_rows(rng, 200, 3)
    g, h, w = rng.normal(size=200), rng.uniform(0.5, 2.0, 200), rng.choice([0.0, 1.0, 2.5], 200)
    stats, leaf = tree_stats(tree, X, g[:, None].copy(), h, w)
    G, H, C, stops = reference_sums(tree, X, g, h, w)
    assert np.array_equal(leaf, stops)
    stopped = tree.left[leaf] >= 0
    assert 0.2 < stopped.mean() < 0.9  # many rows blend somewhere, many reach a leaf
    np.testing.assert_allclose(stats.G[:, 0], G, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.H, H, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.C, C, rtol=1e-12, atol=1e-12)
    # the children of a node where rows stopped hold less than the node
    root_stopped = w[leaf == 0].sum()
    assert root_stopped > 0
    assert stats.C[0] == pytest.approx(stats.C[1] + stats.C[2] + root_stopped)


def test_forest_statistics_read_each_trees_own_present_sets():
    rng = np.random.default_rng(1)
    trees = [random_tree(rng, 4, depth=4) for _ in range(5)] + [two_blending_splits_on_one_feature()]
    X = random_rows(rng, 150, 4)
    g, h = rng.normal(size=(150, 1)), rng.uniform(0.5, 2.0, 150)
    weights = rng.uniform(0.0, 2.0, (len(trees), 150))
    together = forest_stats(trees, X, g, h, lambda t: weights[t], chunk=4)  # two chunks, offsets shifted in each
    for t, tree in enumerate(trees):
        alone, _ = tree_stats(tree, X, g, h, weights[t])
        G, _, C, _ = reference_sums(tree, X, g[:, 0], h, weights[t])
        np.testing.assert_allclose(together[t].C, C, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(together[t].G[:, 0], G, rtol=1e-12, atol=1e-12)
        assert np.array_equal(together[t].C, alone.C)


def test_forest_statistics_read_each_trees_own_words_only():
    first, second, X = trees_whose_words_follow_each_other()
    g, h, w = np.ones((len(X), 1)), np.ones(len(X)), np.ones(len(X))
    together = forest_stats([first, second], X, g, h, lambda t: w)
    for tree, stats in zip((first, second), together):
        alone, leaf = tree_stats(tree, X, g, h, w)
        assert np.array_equal(stats.C, alone.C)
        assert np.array_equal(stats.C, reference_sums(tree, X, g[:, 0], h, w)[2])
    assert together[0].C[0] == 4 and together[0].C[1] + together[0].C[2] == 1  # three rows stop at the root


@pytest.fixture(scope="module")
def blended_booster():
    frame, y = grouped_frame()
    model = ShrinkBoostRegressor(n_estimators=25, random_state=0).fit(frame, y)
    trees = [t for iteration in model._trees for t in iteration]
    assert sum(int(np.sum(t.present_offset >= 0)) for t in trees) > 0
    return model, frame, y


def test_shrunk_booster_keeps_the_present_sets_and_predicts_as_the_booster(blended_booster):
    model, frame, _ = blended_booster
    shrunk = shrink(model, method="none")
    originals = [t for iteration in model._trees for t in iteration]
    assert len(shrunk.trees_) == len(originals)
    for copied, original in zip(shrunk.trees_, originals):
        for name in PRESENT_FIELDS:
            assert np.array_equal(getattr(copied, name), getattr(original, name))
    test = with_unseen_levels(grouped_frame(n=300, seed=3)[0])
    np.testing.assert_allclose(shrunk.predict(test), model.predict(test), rtol=0, atol=1e-10)
    codes = model._validate_predict_input(test)
    reference = float(np.ravel(model._baseline)[0]) + sum(tree_values(t, codes)[:, 0] for t in shrunk.trees_)
    np.testing.assert_allclose(shrunk.predict(test), reference, rtol=0, atol=1e-10)  # it blends
    assert np.abs(shrunk.predict_contributions(test).sum(axis=1) - reference).max() < 1e-9


def test_replayed_boosting_stops_rows_and_counts_them_up_the_tree(blended_booster):
    model, frame, y = blended_booster
    X = with_unseen_levels(frame, seed=7)
    shrunk = shrink(model, X, y, method="eb")
    codes = model._validate_predict_input(X)
    w = np.ones(len(y))
    some_stopped = False
    for tree in shrunk.trees_:
        _, _, C, stops = reference_sums(tree, codes, np.zeros(len(y)), w, w)
        np.testing.assert_allclose(tree.count, C, rtol=1e-12)
        some_stopped |= bool(np.any(tree.left[stops] >= 0))
    assert some_stopped


def test_rows_that_stop_take_the_blended_value_of_the_raw_values():
    rng = np.random.default_rng(2)
    tree = random_tree(rng, 4, depth=5)
    tree.raw_value = rng.normal(size=(tree.n_nodes, 1))  # differs from the pooled value
    X = random_rows(rng, 120, 4)
    _, leaf = tree_stats(tree, X, np.zeros((120, 1)), np.ones(120), np.ones(120))
    assert np.any(tree.left[leaf] >= 0)
    reference = tree.copy()
    reference.value = tree.raw_value.copy()
    np.testing.assert_allclose(stopped_row_values(tree, X, leaf), tree_values(reference, X)[:, 0], rtol=0,
                               atol=1e-12)
