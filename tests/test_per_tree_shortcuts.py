"""The per-tree shortcuts of a fit (issue 17, small data), each pinned to the path it shortens.

A fit of a few hundred rows spends as much time in the Python around each tree as in growing it, so four
steps were shortened: the pooling of a single-output honest tree runs as one compiled call
(``pooling.honest_moment_pooling``), so do its importances, learning rate and training predictions
(``gradient_boosting.finish_tree``), later trees copy the first tree's grower settings
(``TreeGrower.for_tree``), and small partitions add the leaf values serially.  Each must give what the general
path gives, bit for bit.
"""

import numpy as np
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._shrinkage import effective_tests_table, shrink_tree_values
from shrinktree.boosting import pooling
from shrinktree.boosting.binning import BinMapper
from shrinktree.boosting.grower import TreeGrower, threshold_table
from shrinktree.boosting.honest import held_node_statistics
from shrinktree.boosting.pooling import PoolingPlan, honest_inputs, pool_tree
from shrinktree.boosting.predictor import (
    LEAF_VALUES_PARALLEL_MIN_ROWS,
    _add_leaf_values_parallel,
    add_leaf_values,
)
from shrinktree.variance_components import within_variance


def _setting(n_rows, seed, signal=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 4))
    mapper = BinMapper(255, random_state=0).fit(X)
    binned = mapper.transform(X)
    gradients = rng.normal(size=n_rows) + signal * np.sign(X[:, 0])
    hessians = rng.uniform(0.5, 1.5, size=n_rows)
    held = rng.random(n_rows) < 0.5
    rows = np.flatnonzero(~held).astype(np.int32), np.flatnonzero(held).astype(np.int32)
    has_missing = np.zeros(4, dtype=bool)
    return mapper, binned, gradients, hessians, rows, has_missing


def _grower(mapper, binned, gradients, hessians, rows, has_missing, **settings):
    return TreeGrower(binned, gradients, hessians, np.ones(binned.shape[1]), rows[0], mapper.n_bins_non_missing_,
                      has_missing, mapper.missing_bin_, np.ones(4, dtype=bool), effective_tests_table(256),
                      held_indices=rows[1], **settings)


# signal 0: the splits are noise, tau^2 is truncated to 0 and the tree is pooled to its root (k = inf)
@pytest.mark.parametrize("seed, signal", [(0, 1.0), (1, 0.3), (2, 0.0), (3, 2.0)])
def test_compiled_pooling_of_an_honest_tree_is_the_general_path(seed, signal, monkeypatch):
    mapper, binned, gradients, hessians, rows, has_missing = _setting(600, seed, signal)
    grown = _grower(mapper, binned, gradients, hessians, rows, has_missing, max_leaf_nodes=8,
                    min_samples_leaf=10).grow()
    held = held_node_statistics(grown.held_indices, *grown.held_runs(), grown.parent, gradients, hessians,
                                np.ones(binned.shape[1]))
    thresholds = threshold_table(mapper)
    index = np.arange(4, dtype=np.int64)
    tree = grown.node_arrays(index, np.zeros(0, dtype=np.int64), thresholds, 0.0, held)
    general = tree.copy()
    assert tree.n_nodes > 1
    calls, compiled = [], pooling.honest_moment_pooling
    monkeypatch.setattr(pooling, "honest_moment_pooling", lambda *args: calls.append(1) or compiled(*args))
    k = pool_tree(tree, PoolingPlan.resolve("eb", None, "honest"), grown, held)
    assert calls == [1]  # the compiled path, not the general one
    sum_sq, mass, count, n_groups, null_factor, h_held, raw = honest_inputs(held, grown.leaf_nodes, grown.left)
    k_general = shrink_tree_values(general, "eb", None, within_variance(sum_sq, mass, count, n_groups), null_factor,
                                   h_held, raw, None, "moments", None)
    assert (k == k_general) or (np.isinf(k) and np.isinf(k_general))
    assert np.array_equal(tree.value, general.value)
    assert np.array_equal(tree.pooling_factor, general.pooling_factor)
    if signal == 0.0:
        assert np.isinf(k) and np.all(tree.value == tree.value[0])


def test_within_variance_keeps_pythons_max_of_sum_sq_and_zero():
    assert within_variance(-1.0, 2.0, 10.0, 2) == 0.0
    assert within_variance(4.0, 2.0, 10.0, 2) == 4.0 / 2.0 * (10.0 / 8.0)
    assert np.signbit(within_variance(-0.0, 2.0, 10.0, 2))  # max(-0.0, 0.0) is -0.0
    assert np.isnan(within_variance(np.nan, 2.0, 10.0, 2))
    assert within_variance(1.0, 0.0, 10.0, 2) == 0.0


def test_a_grower_for_another_tree_grows_what_a_new_grower_grows():
    mapper, binned, gradients, hessians, rows, has_missing = _setting(800, 4)
    settings = dict(max_leaf_nodes=12, min_samples_leaf=15, l2_regularization=0.5)
    first = _grower(mapper, binned, gradients, hessians, rows, has_missing, **settings)
    first.grow()
    template = first.fit_settings()
    assert template.sample_indices is None and template.held_indices is None  # keeps no rows alive
    rng = np.random.default_rng(9)
    new_gradients = rng.normal(size=binned.shape[1])
    held = rng.random(binned.shape[1]) < 0.5
    new_rows = np.flatnonzero(~held).astype(np.int32), np.flatnonzero(held).astype(np.int32)
    mask = np.array([True, False, True, True])
    fresh = TreeGrower(binned, new_gradients, hessians, np.ones(binned.shape[1]), new_rows[0].copy(),
                       mapper.n_bins_non_missing_, has_missing, mapper.missing_bin_, mask,
                       effective_tests_table(256), held_indices=new_rows[1].copy(), min_samples_leaf=7,
                       max_leaf_nodes=12, l2_regularization=0.5).grow()
    copied = template.for_tree(new_gradients, hessians, new_rows[0].copy(), new_rows[1].copy(), mask, None, 7).grow()
    for name in ("parent", "left", "feature", "bin_threshold", "sum_gradients", "sum_hessians", "weighted_count",
                 "gain", "held_indices", "held_leaf_start", "leaf_start", "sample_indices"):
        assert np.array_equal(getattr(copied, name), getattr(fresh, name)), name
    assert not np.any(copied.feature == 1)  # the new tree's feature mask, not the first tree's


@pytest.mark.parametrize("n_rows", [50, LEAF_VALUES_PARALLEL_MIN_ROWS + 10])
def test_leaf_values_add_alike_serially_and_in_parallel(n_rows):
    rng = np.random.default_rng(3)
    rows = rng.permutation(n_rows).astype(np.int32)
    bounds = np.sort(rng.choice(np.arange(1, n_rows), 6, replace=False))
    start, stop = np.concatenate([[0], bounds]).astype(np.int64), np.concatenate([bounds, [n_rows]]).astype(np.int64)
    values = rng.normal(size=len(start))
    base = rng.normal(size=n_rows)
    serial, parallel = base.copy(), base.copy()
    add_leaf_values(rows, start, stop, values, serial)
    _add_leaf_values_parallel(rows, start, stop, values, parallel)
    assert np.array_equal(serial, parallel)
    expected = base.copy()
    for j in range(len(start)):
        expected[rows[start[j]:stop[j]]] += values[j]
    assert np.array_equal(serial, expected)


@pytest.mark.parametrize("estimator", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_copied_growers_fit_the_model_new_growers_fit(estimator, monkeypatch):
    # Later trees copy the first tree's grower; with the template switched off every tree gets a new TreeGrower,
    # as before the copies: the two fits must be the same, tree for tree.
    from shrinktree.boosting import grower as grower_module

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] + rng.normal(size=300) if estimator is ShrinkBoostRegressor else rng.integers(0, 3, 300)
    copied = estimator(n_estimators=20, colsample=0.8, random_state=0).fit(X, y)
    built = []
    original = grower_module.TreeGrower.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(grower_module.TreeGrower, "fit_settings", lambda self: None)
    monkeypatch.setattr(grower_module.TreeGrower, "__init__", counting_init)
    fresh = estimator(n_estimators=20, colsample=0.8, random_state=0).fit(X, y)
    assert len(built) == sum(len(trees) for trees in fresh._trees) >= 20
    for trees_a, trees_b in zip(copied._trees, fresh._trees):
        for a, b in zip(trees_a, trees_b):
            for name in ("left", "feature", "threshold", "value", "raw_value", "pooling_factor"):
                assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=name == "threshold"), name
    assert len({float(t.raw_value[0, 0]) for trees in copied._trees for t in trees}) > 1


@pytest.mark.parametrize("with_held", [True, False])
def test_finishing_a_tree_in_one_call_is_the_numpy_steps(with_held):
    from shrinktree.boosting.gradient_boosting import _NO_HELD_STATISTICS, add_importances, finish_tree

    mapper, binned, gradients, hessians, rows, has_missing = _setting(500, 6)
    grown = _grower(mapper, binned, gradients, hessians, rows, has_missing, max_leaf_nodes=10,
                    min_samples_leaf=8).grow()
    held = held_node_statistics(grown.held_indices, *grown.held_runs(), grown.parent, gradients, hessians,
                                np.ones(binned.shape[1]))
    tree = grown.node_arrays(np.arange(4, dtype=np.int64), np.zeros(0, dtype=np.int64), threshold_table(mapper), 0.3,
                             held if with_held else None)
    pool_tree(tree, PoolingPlan.resolve("eb", None, "honest"), grown, held)
    expected_tree, expected_importances = tree.copy(), np.zeros((2, 4))
    expected_raw = np.random.default_rng(1).normal(size=binned.shape[1])
    raw, importances = expected_raw.copy(), np.zeros((2, 4))
    sum_g, sum_h, _ = grown.sums(held if with_held else None)
    add_importances(sum_g, sum_h, 0.3, np.ascontiguousarray(expected_tree.value[:, 0]), grown.left, grown.right,
                    expected_tree.feature, expected_importances)
    expected_tree.raw_value *= 0.1
    expected_tree.value *= 0.1
    leaf_values = expected_tree.value[grown.leaf_nodes, 0]
    for j, (start, stop) in enumerate(zip(grown.leaf_start, grown.leaf_stop)):
        expected_raw[grown.sample_indices[start:stop]] += leaf_values[j]
        if with_held:
            expected_raw[grown.held_indices[grown.held_leaf_start[j]:grown.held_leaf_stop[j]]] += leaf_values[j]
    empty = grown.leaf_start[:0]
    column = finish_tree(True, held if with_held else _NO_HELD_STATISTICS, grown.sum_gradients, grown.sum_hessians,
                         0.3, grown.left, grown.right, tree.feature, importances, 0.1, tree.raw_value, tree.value,
                         grown.leaf_nodes, grown.sample_indices, grown.leaf_start, grown.leaf_stop,
                         grown.held_indices if with_held else grown.sample_indices[:0],
                         grown.held_leaf_start if with_held else empty, grown.held_leaf_stop if with_held else empty,
                         raw)
    assert np.array_equal(importances, expected_importances) and importances[1].sum() > 0
    assert np.array_equal(tree.raw_value, expected_tree.raw_value)
    assert np.array_equal(tree.value, expected_tree.value) and np.array_equal(column, expected_tree.value[:, 0])
    assert np.array_equal(raw, expected_raw)


def test_features_that_cannot_split_are_not_histogrammed(monkeypatch):
    from shrinktree.boosting import grower as grower_module

    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 4))
    X[:, 1] = 3.0  # one value: never a split
    X[:, 3] = 1.0
    X[rng.random(400) < 0.2, 3] = np.nan  # one value and NaN: missing against present is a split
    y = X[:, 0] + 2.0 * np.isnan(X[:, 3]) + rng.normal(scale=0.1, size=400)
    seen = []
    original = grower_module.TreeGrower.grow

    def grow(self):
        seen.append(self.active_features.tolist())
        return original(self)

    monkeypatch.setattr(grower_module.TreeGrower, "grow", grow)
    for colsample in (1.0, 0.75):
        seen.clear()
        model = ShrinkBoostRegressor(n_estimators=10, colsample=colsample, random_state=0).fit(X, y)
        assert seen and all(1 not in active for active in seen)
        assert any(3 in active for active in seen)
        assert model.feature_importances_[1] == 0.0 and model.feature_importances_[3] > 0.0


@pytest.mark.parametrize("max_depth", [None, 3])
def test_children_too_small_to_split_are_not_histogrammed(max_depth, monkeypatch):
    # A split whose two children cannot be split (fewer than 2 x min_samples_leaf rows each, or at the depth limit)
    # leaves them as leaves without building the histograms only their searches would read.  The node loop run as
    # Python (its kernels compiled) with that shortcut switched off must grow the same tree, and the shortcut must
    # have saved histograms.
    from shrinktree.boosting import best_first
    from shrinktree.boosting import grower as grower_module

    mapper, binned, gradients, hessians, rows, has_missing = _setting(700, 5)
    settings = dict(max_leaf_nodes=31, min_samples_leaf=12, max_depth=max_depth)
    compiled = _grower(mapper, binned, gradients, hessians, (rows[0].copy(), rows[1].copy()), has_missing,
                       **settings).grow()
    built = {}

    def interpreted(label):
        calls = []
        histograms = best_first._histograms

        def counting(*args):
            calls.append(1)
            return histograms(*args)

        with monkeypatch.context() as patch:
            patch.setattr(best_first, "_histograms", counting)
            if label == "every child":
                patch.setattr(best_first, "_unsearchable", lambda *args: False)
            patch.setattr(grower_module, "grow_tree", best_first.grow_tree.py_func)
            grown = _grower(mapper, binned, gradients, hessians, (rows[0].copy(), rows[1].copy()), has_missing,
                            **settings).grow()
        built[label] = len(calls)
        return grown

    for label in ("shortcut", "every child"):
        grown = interpreted(label)
        for name in ("parent", "left", "feature", "bin_threshold", "sum_gradients", "sum_hessians", "weighted_count",
                     "gain", "null_factor_tests", "sample_indices", "leaf_start", "held_indices", "held_leaf_start"):
            assert np.array_equal(getattr(grown, name), getattr(compiled, name)), (label, name)
    assert len(compiled.parent) > 7
    assert built["shortcut"] < built["every child"]
