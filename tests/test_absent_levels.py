"""The measurement prototype of shrinktree/boosting/absent_levels.py (private switch ``_absent_mode``)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostRegressor
from shrinktree.boosting import absent_levels


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 8, n)
    X = pd.DataFrame({"g": pd.Categorical([f"l{v}" for v in level]), "x": rng.normal(size=n)})
    y = np.where(level < 4, 3.0, -3.0) + X["x"].to_numpy() + rng.normal(0, 0.3, n)
    return X, y


def _fit(X, y, mode, **params):
    model = ShrinkBoostRegressor(random_state=0, **params)
    if mode is not None:
        model._absent_mode = mode
    return model.fit(X, y)


def test_todays_rule_through_the_prototype_gives_the_default_predictions():
    X, y = _frame()
    default = _fit(X, y, None, n_estimators=30).predict(X)
    side = _fit(X, y, "side", n_estimators=30).predict(X)
    assert np.allclose(side, default, rtol=0, atol=1e-10)


def _stump(mode):
    X, y = _frame()
    model = _fit(X, y, mode, n_estimators=1, learning_rate=1.0, max_leaf_nodes=2, shrinkage="none")
    tree = model.trees_[0][0]
    assert tree.is_categorical[0] == 1  # the stump splits on the levels
    unseen = pd.DataFrame({"g": pd.Categorical(["new"]), "x": [0.0]})
    return model, tree, float(model.predict(unseen)[0])


def test_a_level_unseen_at_fit_stops_at_the_node_or_blends_its_children():
    model, tree, today = _stump(None)
    side = tree.left[0] if tree.missing_left[0] else tree.right[0]
    assert today == pytest.approx(model._baseline[0] + tree.value[side, 0])
    model, tree, stopped = _stump("stop-nan")
    assert stopped == pytest.approx(model._baseline[0] + tree.value[0, 0])
    model, tree, blended = _stump("blend")
    left, right = tree.left[0], tree.right[0]
    counts = tree._absent_counts
    expected = (counts[left] * tree.value[left, 0] + counts[right] * tree.value[right, 0]) / (counts[left]
                                                                                               + counts[right])
    assert blended == pytest.approx(model._baseline[0] + expected)
    # The children's values differ by about 6, so today's rule (one child) is far from the node's value; a
    # stump without pooling grown on every row has as its root value the count-weighted mean of its children.
    assert abs(tree.value[left, 0] - tree.value[right, 0]) > 3.0
    assert abs(today - stopped) > 1.0
    assert blended == pytest.approx(stopped, abs=1e-9)


def _fake_stump():
    # A split on categorical feature 0 of 4 levels: levels 0 and 1 go left, missing values right.
    return SimpleNamespace(left=np.array([1, -1, -1]), right=np.array([2, -1, -1]), feature=np.array([0, -1, -1]),
                           is_categorical=np.array([1, 0, 0], dtype=np.uint8),
                           missing_left=np.array([0, 0, 0], dtype=np.uint8), cat_offset=np.array([0, -1, -1]),
                           cat_bitset=np.array([0b0011], dtype=np.uint32), bin_threshold=np.zeros(3, dtype=np.int64))


def test_the_node_keeps_the_levels_of_its_growing_rows_and_held_rows_of_others_stop_there():
    grown = _fake_stump()
    codes = np.array([[0, 1, 2, 2, 3, 4]], dtype=np.int32)  # code 4: missing
    masks = absent_levels.present_masks(grown, codes, np.array([4]), {1: np.array([0, 1]), 2: np.array([2, 3])})
    assert masks[0].tolist() == [True, True, True, False, False]  # level 3 and NaN absent from the growing rows
    held = np.array([0, 2, 4, 5])
    binned = np.zeros((0, 6), dtype=np.uint8)
    nodes = absent_levels.route_binned(grown, binned, codes, np.array([4]), 255, held, masks, nan_stops=True)
    assert nodes.tolist() == [1, 2, 0, 0]
    nodes = absent_levels.route_binned(grown, binned, codes, np.array([4]), 255, held, masks, nan_stops=False)
    assert nodes.tolist() == [1, 2, 0, 2]  # NaN keeps the missing side
    nodes = absent_levels.route_binned(grown, binned, codes, np.array([4]), 255, held, masks, nan_stops=True,
                                       side=True)
    assert nodes.tolist() == [1, 2, 2, 2]  # today's rule: absent levels follow the missing side


def test_a_loss_that_renews_leaf_values_is_refused():
    X, y = _frame()
    with pytest.raises(NotImplementedError, match="prototype"):
        _fit(X, y, "stop-nan", n_estimators=2, loss="absolute_error")


def test_an_unknown_mode_is_refused_before_fitting():
    X, y = _frame()
    model = ShrinkBoostRegressor(random_state=0, n_estimators=2)
    model._absent_mode = "blnd"
    with pytest.raises(ValueError, match="_absent_mode must be one of"):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")
