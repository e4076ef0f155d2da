"""Levels absent from a categorical node's growing rows blend (the engine's default, private switch ``_absent_rule``).

The grower gives every categorical split a present set and the share of its left child; held-out rows of
growth that blend stop at the node; training predictions (held-out rows, rows outside the subsample,
evaluation rows) take the blended value of the binned walk.  Everything is compared with the plain-Python
walk of ``tests/blend_reference.py`` (``model.predict`` blends only once the prediction walk does).
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from blend_reference import leaf_shares, route, tree_values

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._tree import BLEND, GO_LEFT, GO_RIGHT, TreeArrays
from shrinktree.boosting import evaluation, gradient_boosting
from shrinktree.boosting.partition import partition_rows_stopping
from shrinktree.boosting.predictor import add_tree_binned, add_values_from_nodes
from shrinktree.boosting.routing import leaves_by_partition
from shrinktree.boosting.splitting import categorical_bitset, present_set

ROUTES = {"left": GO_LEFT, "right": GO_RIGHT, "blend": BLEND}


def _grouped(n=600, n_levels=60, seed=0, missing=False):
    """Many small levels and a numeric column: deep nodes miss many levels of their parents."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, n_levels, n)
    x = rng.normal(size=n)
    effect = rng.normal(0, 1.5, n_levels)
    y = effect[level] + x + rng.normal(0, 0.5, n)
    names = np.array([f"l{v:02d}" for v in level], dtype=object)
    if missing:
        names[rng.random(n) < 0.05] = None
    frame = pd.DataFrame({"g": pd.Categorical(names), "x": x, "h": pd.Categorical(rng.choice(list("abcd"), n))})
    return frame, y


def test_present_set_has_nan_at_bit_0_and_one_word_more_than_the_bitset():
    counts = np.zeros(41)
    counts[[0, 5, 31, 39]] = [2.0, 1.0, 0.5, 3.0]
    words = present_set(counts)  # no NaN rows
    assert len(words) == len(categorical_bitset(counts, np.array([0]), False)) + 1 == 3
    bits = [(int(words[b >> 5]) >> (b & 31)) & 1 for b in range(32 * len(words))]
    assert [b for b, on in enumerate(bits) if on] == [1, 6, 32, 40]
    counts[40] = 1.0
    assert int(present_set(counts)[0]) & 1 == 1


def _hand_tree(share=0.3):
    """Root: categorical feature 1 (4 levels; 0, 1 left; growing rows had levels 0, 1, 2, no NaN); its left child
    splits numeric feature 0 at 0.5 (bin 3), its right child is a leaf."""
    present = np.array([0b0111 << 1, 0], dtype=np.uint32)  # bits 1..3: levels 0..2
    return TreeArrays(
        parent=np.array([-1, 0, 0, 1, 1], dtype=np.int32), left=np.array([1, 3, -1, -1, -1], dtype=np.int32),
        right=np.array([2, 4, -1, -1, -1], dtype=np.int32), feature=np.array([1, 0, -1, -1, -1], dtype=np.int32),
        threshold=np.array([np.nan, 0.5, np.nan, np.nan, np.nan]), missing_left=np.zeros(5, dtype=np.uint8),
        raw_value=np.zeros(5), value=np.array([0.0, 0.0, 10.0, -4.0, 6.0]), pooling_factor=np.ones(5),
        weight=np.ones(5), count=np.ones(5), gain=np.zeros(5), is_categorical=np.array([1, 0, 0, 0, 0], np.uint8),
        cat_offset=np.array([0, -1, -1, -1, -1]), cat_bitset=np.array([0b0011], dtype=np.uint32),
        present_offset=np.array([0, -1, -1, -1, -1]), present_bitset=present,
        absent_left_share=np.array([share, 0.5, 0.5, 0.5, 0.5]))


def _binned_walk(tree, binned, codes, n_levels, bin_threshold, missing_bin=255):
    out = np.zeros(binned.shape[1])
    feature = np.where(tree.is_categorical == 1, tree.feature - 1, tree.feature).astype(np.int32)
    feature[tree.left < 0] = -1
    add_tree_binned(binned, codes, tree.left, tree.right, feature, tree.is_categorical, bin_threshold,
                    tree.missing_left, missing_bin, n_levels, tree.cat_offset, tree.cat_bitset, tree.present_offset,
                    tree.present_bitset, tree.absent_left_share, np.ascontiguousarray(tree.value[:, 0]), out)
    return out


def test_a_level_absent_from_the_present_set_gets_exactly_the_share_weighted_subtrees():
    tree = _hand_tree(share=0.3)
    # x (bin 2 <= 3: left; bin 5: right; missing bin: right), level 0 (left), 2 (absent? no: present, goes right),
    # 3 (absent: blends), missing code 4 (NaN, absent: blends).
    X = np.array([[0.2, 0.0], [0.9, 3.0], [0.2, np.nan], [0.9, 2.0], [np.nan, 3.0]])
    binned = np.array([[2, 5, 2, 5, 255]], dtype=np.uint8)
    codes = np.array([[0, 3, 4, 2, 3]], dtype=np.int32)
    bin_threshold = np.array([0, 3, 0, 0, 0], dtype=np.int64)
    walked = _binned_walk(tree, binned, codes, np.array([4]), bin_threshold)
    expected = [-4.0, 0.3 * 6.0 + (1 - 0.3) * 10.0, 0.3 * -4.0 + (1 - 0.3) * 10.0, 10.0, 0.3 * 6.0 + (1 - 0.3) * 10.0]
    assert walked.tolist() == expected
    assert tree_values(tree, X)[:, 0].tolist() == expected


def _random_tree(rng, n_splits, n_numeric, n_levels, with_present=True):
    """A random tree of binned splits (``threshold`` in bins), present sets at most categorical nodes."""
    left, right, feature, is_cat, threshold, missing_left = [-1], [-1], [-1], [0], [0.0], [0]
    cat_offset, present_offset, share = [-1], [-1], [0.5]
    words, present = [], []
    leaves = [0]
    for _ in range(n_splits):
        node = leaves.pop(rng.integers(len(leaves)))
        left[node], right[node] = len(left), len(left) + 1
        if len(n_levels) and rng.random() < 0.5:
            f = int(rng.integers(len(n_levels)))
            n_words = max((int(n_levels[f]) + 31) // 32, 1)
            feature[node], is_cat[node], cat_offset[node] = n_numeric + f, 1, len(words)
            words.extend(rng.integers(0, 2**32, size=n_words, dtype=np.uint64).tolist())
            if with_present and rng.random() < 0.8:
                present_offset[node], share[node] = len(present), float(rng.uniform(0.05, 0.95))
                present.extend(rng.integers(0, 2**32, size=n_words + 1, dtype=np.uint64).tolist())
        else:
            feature[node], threshold[node] = int(rng.integers(n_numeric)), float(rng.integers(0, 40))
        missing_left[node] = int(rng.integers(2))
        for _ in range(2):
            for column, empty in ((left, -1), (right, -1), (feature, -1), (is_cat, 0), (threshold, 0.0),
                                  (missing_left, 0), (cat_offset, -1), (present_offset, -1), (share, 0.5)):
                column.append(empty)
            leaves.append(len(left) - 1)
    n = len(left)
    parent = np.full(n, -1, dtype=np.int32)
    for node in range(n):
        if left[node] >= 0:
            parent[left[node]] = parent[right[node]] = node
    return TreeArrays(
        parent=parent, left=np.array(left, np.int32), right=np.array(right, np.int32),
        feature=np.array(feature, np.int32), threshold=np.array(threshold),
        missing_left=np.array(missing_left, np.uint8), raw_value=np.zeros(n), value=rng.normal(size=n),
        pooling_factor=np.ones(n), weight=np.ones(n), count=np.ones(n),
        gain=np.zeros(n), is_categorical=np.array(is_cat, np.uint8), cat_offset=np.array(cat_offset, np.int64),
        cat_bitset=np.array(words, np.uint32), present_offset=np.array(present_offset, np.int64),
        present_bitset=np.array(present, np.uint32), absent_left_share=np.array(share))


def _random_binned(rng, n_rows, n_numeric, n_levels):
    binned = rng.integers(0, 40, size=(n_numeric, n_rows)).astype(np.uint8)
    binned[rng.random(binned.shape) < 0.1] = 255
    codes = np.array([rng.integers(0, n + 1, size=n_rows) for n in n_levels], dtype=np.int32).reshape(-1, n_rows)
    # The same rows as the float matrix the reference walks: bins as numbers, codes as levels, NaN for missing.
    X = np.column_stack([np.where(binned.T == 255, np.nan, binned.T.astype(float)),
                         np.where(codes.T >= n_levels, np.nan, codes.T.astype(float))])
    return binned, codes, X


def _local(tree, n_numeric):
    feature = np.where(tree.is_categorical == 1, tree.feature - n_numeric, tree.feature).astype(np.int32)
    return feature, tree.threshold.astype(np.int64)


def _first_blend(tree, x):
    node = 0
    while tree.left[node] >= 0:
        where = route(tree, node, float(x[tree.feature[node]]))
        if where == "blend":
            return node
        node = tree.left[node] if where == "left" else tree.right[node]
    return node


@pytest.mark.parametrize("block_rows", [16_384, 64])  # one block, and many routed in parallel
@pytest.mark.parametrize("seed", range(4))
def test_binned_walks_and_the_routing_partition_match_the_reference(monkeypatch, seed, block_rows):
    from shrinktree.boosting import routing

    monkeypatch.setattr(routing, "ROUTE_BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(seed)
    n_numeric, n_levels = 3, np.array([5, 70], dtype=np.int64)
    tree = _random_tree(rng, int(rng.integers(5, 30)), n_numeric, n_levels)
    assert np.any(tree.present_offset >= 0)
    binned, codes, X = _random_binned(rng, 800, n_numeric, n_levels)
    feature, bin_threshold = _local(tree, n_numeric)
    walk = (tree.left, tree.right, feature, tree.is_categorical, bin_threshold, tree.missing_left, 255, n_levels,
            tree.cat_offset, tree.cat_bitset, tree.present_offset, tree.present_bitset)
    value = np.ascontiguousarray(tree.value[:, 0])
    expected = tree_values(tree, X)[:, 0]
    out = np.zeros(X.shape[0])
    add_tree_binned(binned, codes, *walk, tree.absent_left_share, value, out)
    assert np.array_equal(out, expected)  # the same shares and the same order of the sums
    blended = np.array([len(leaf_shares(tree, x)) > 1 for x in X])
    assert blended.any() and not blended.all()
    rows = rng.permutation(X.shape[0]).astype(np.int64)
    ends = leaves_by_partition(binned, codes, rows, *walk)
    assert ends.tolist() == [_first_blend(tree, X[r]) for r in rows]
    out = np.zeros(X.shape[0])
    add_values_from_nodes(binned, codes, rows, ends, *walk, tree.absent_left_share, value, out)
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("n_levels", [40, 900])  # fewer codes than rows (a table of routes), and more
def test_the_stopping_partition_keeps_three_stable_runs(n_levels):
    rng = np.random.default_rng(4)
    counts = np.where(rng.random(n_levels + 1) < 0.6, 1.0, 0.0)
    present = present_set(counts)
    bitset = categorical_bitset(counts, np.flatnonzero(rng.random(n_levels) < 0.5), True)
    codes = rng.integers(0, n_levels + 1, size=500).astype(np.int32)
    indices = np.sort(rng.choice(500, 300, replace=False)).astype(np.int32)
    original = indices.copy()
    node = SimpleNamespace(is_categorical=[1], cat_bitset=bitset, cat_offset=[0], present_offset=[0],
                           present_bitset=present, missing_left=[1])
    where = [route(node, 0, np.nan if codes[i] == n_levels else float(codes[i])) for i in original]
    n_left, n_right = partition_rows_stopping(codes, indices, 0, 300, bitset, True, n_levels, present,
                                              np.empty(300, dtype=np.int32))
    for side, run in (("left", indices[:n_left]), ("right", indices[n_left:n_left + n_right]),
                      ("blend", indices[n_left + n_right:])):
        assert run.tolist() == [i for i, w in zip(original.tolist(), where) if w == side]
    assert 0 < n_left and 0 < n_right and n_left + n_right < 300


class _Spy:
    """Records every tree of a fit with the grown tree and the change of the training raw scores it made."""

    def __init__(self, monkeypatch):
        self.trees = []
        self.grown = []
        self.eval_updates = []
        grow_and_pool = gradient_boosting._BaseShrinkBoost._grow_and_pool
        grow = gradient_boosting.TreeGrower.grow
        add_tree = evaluation.EvalSet.add_tree

        def spy_grow(grower):
            grown = grow(grower)
            self.grown.append(grown)
            return grown

        def spy(model, data, plan, loss, gradients, hessians, rows, held_out, *rest, **options):
            raw = rest[-2]
            before = raw.copy()
            result = grow_and_pool(model, data, plan, loss, gradients, hessians, rows, held_out, *rest, **options)
            # A copy: the fit rescales the trees' values at its end (a target's binary exponent).
            self.trees.append((result[0].copy(), raw - before, held_out))
            return result

        def spy_add(eval_set, tree, local_feature, local_threshold, output):
            before = eval_set.raw[:, output].copy()
            add_tree(eval_set, tree, local_feature, local_threshold, output)
            self.eval_updates.append(eval_set.raw[:, output] - before)

        monkeypatch.setattr(gradient_boosting._BaseShrinkBoost, "_grow_and_pool", spy)
        monkeypatch.setattr(gradient_boosting.TreeGrower, "grow", spy_grow)
        monkeypatch.setattr(evaluation.EvalSet, "add_tree", spy_add)


def _stopped_rows(grown) -> dict[int, int]:
    """Each held-out row that stopped where it blends, and the node it stopped at."""
    stopped = {}
    for node, start, stop in zip(grown.held_stopped_nodes, grown.held_stopped_start, grown.held_stopped_stop):
        for row in grown.held_indices[start:stop].tolist():
            stopped[row] = int(node)
    return stopped


def _expected_update(tree, grown, X, stopped_value="node"):
    """A tree's training predictions: its blended walk, except held-out rows that stopped where they blend,
    which take the node's value under ``_stopped_value="node"`` (the default)."""
    expected = tree_values(tree, X)[:, 0]
    if stopped_value == "node":
        for row, node in _stopped_rows(grown).items():
            expected[row] = tree.value[node, 0]
    return expected


@pytest.mark.parametrize("stopped_value", ["node", "blend"])
@pytest.mark.parametrize("subsample", [1.0, 0.6])
@pytest.mark.parametrize("missing", [False, True])
def test_training_predictions_are_the_trees_own_blended_walk(monkeypatch, subsample, missing, stopped_value):
    """Every training row's update is the tree's blended walk, except a held-out row that stopped where it blends:
    the node's value by default (``_stopped_value="node"``), the walk of the node's subtree with ``"blend"``."""
    frame, y = _grouped(missing=missing)
    spy = _Spy(monkeypatch)
    model = ShrinkBoostRegressor(n_estimators=12, subsample=subsample, min_samples_leaf=3, random_state=0)
    if stopped_value != "node":
        model._stopped_value = stopped_value
    model.fit(frame, y)
    X = model.tree_input(frame)
    n_blended = n_stopped = 0
    for (tree, update, held_out), grown in zip(spy.trees, spy.grown):
        assert np.any(tree.present_offset >= 0)
        # The held-out rows that stopped: exactly those that blend at that node, and none of the growing rows.
        stopped = _stopped_rows(grown)
        np.testing.assert_allclose(update, _expected_update(tree, grown, X, stopped_value), rtol=1e-13, atol=1e-13)
        n_blended += sum(len(leaf_shares(tree, x)) > 1 for x in X)
        n_stopped += len(stopped)
        held_rows = held_out[1].tolist()
        for row in held_rows:
            end = _first_blend(tree, X[row])
            assert stopped.get(row, -1) == (end if tree.left[end] >= 0 else -1)
        for row in held_out[0].tolist():
            assert tree.left[_first_blend(tree, X[row])] < 0
    assert n_blended > 0 and n_stopped > 0


def test_held_out_rows_that_stop_count_in_the_node_and_its_ancestors_only(monkeypatch):
    frame, y = _grouped()
    spy = _Spy(monkeypatch)
    ShrinkBoostRegressor(n_estimators=6, min_samples_leaf=3, random_state=0).fit(frame, y)
    checked = 0
    for (tree, _, _), grown in zip(spy.trees, spy.grown):
        if len(grown.held_stopped_nodes) == 0:
            continue
        # A node's held-out count: the rows ending in its subtree (a leaf below it, or stopping at or below it).
        ends = grown.held_end_nodes()
        counts = np.zeros(len(tree.left))
        for end in ends:
            node = end
            while node >= 0:
                counts[node] += 1
                node = tree.parent[node]
        # tree.count = growing weight + held-out weight (unit weights: rows)
        np.testing.assert_array_equal(tree.count, grown.weighted_count + counts)
        checked += 1
    assert checked > 0


def test_a_level_missing_from_a_nodes_growing_rows_is_predicted_as_its_childrens_blend(monkeypatch):
    # Level "c" occurs only with x > 0: the split of the x <= 0 side on g has no row of it, nor of NaN.
    rng = np.random.default_rng(2)
    n = 800
    x = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    g = np.where(x < 0, rng.choice(["a", "b"], n), rng.choice(["a", "b", "c"], n))
    y = 4 * x + 3 * (g == "a") + rng.normal(0, 0.1, n)
    frame = pd.DataFrame({"x": x, "g": pd.Categorical(g)})
    new = pd.DataFrame({"x": [-1.0, -1.0], "g": pd.Categorical(["c", "unseen"])})
    spy = _Spy(monkeypatch)
    model = ShrinkBoostRegressor(n_estimators=1, learning_rate=1.0, max_leaf_nodes=4, min_samples_leaf=5,
                                 shrinkage="none", early_stopping=False, random_state=0)
    model.fit(frame, y, eval_set=[(new, np.zeros(2))])
    tree = model.trees_[0][0]
    node = int(tree.left[0])
    assert tree.is_categorical[node] == 1 and tree.present_offset[node] >= 0
    a, b = tree.left[node], tree.right[node]
    assert tree.absent_left_share[node] == tree.count[a] / (tree.count[a] + tree.count[b])  # no held-out rows

    def blend_of(tree):
        return (tree.count[a] * tree.value[a, 0] + tree.count[b] * tree.value[b, 0]) / (tree.count[a] + tree.count[b])

    blend = blend_of(tree)
    for value in tree_values(tree, model.tree_input(new))[:, 0]:
        assert value == pytest.approx(blend, rel=1e-12)
    for value in spy.eval_updates[0]:  # the evaluation rows' binned walk, during the fit (on its scale)
        assert value == pytest.approx(blend_of(spy.trees[0][0]), rel=1e-12)
    assert abs(tree.value[a, 0] - tree.value[b, 0]) > 2.0  # the blend is neither child's value
    side = ShrinkBoostRegressor(**model.get_params())
    side._absent_rule = "side"
    side.fit(frame, y)
    assert np.all(side.trees_[0][0].present_offset == -1)
    assert side.predict(new).tolist() != pytest.approx([blend + model._baseline[0]] * 2)


def test_renewed_leaf_values_come_from_the_rows_that_reached_the_leaf(monkeypatch):
    frame, y = _grouped()
    renewed = []
    renew = gradient_boosting.renew_leaf_values

    def spy_renew(tree, loss, grown, held_rows, held_end, y_fit, raw, weight, sign):
        residual = y_fit - raw
        renew(tree, loss, grown, held_rows, held_end, y_fit, raw, weight, sign)
        renewed.append((tree.raw_value[:, 0].copy(), grown, held_rows, held_end, residual, loss))

    monkeypatch.setattr(gradient_boosting, "renew_leaf_values", spy_renew)
    ShrinkBoostRegressor(loss="absolute_error", n_estimators=5, min_samples_leaf=3, random_state=0).fit(frame, y)
    n_stopped = 0
    for raw_value, grown, held_rows, held_end, residual, loss in renewed:
        n_stopped += int(np.sum(grown.left[held_end] >= 0))
        for leaf, start, stop in zip(grown.leaf_nodes, grown.leaf_start, grown.leaf_stop):
            rows = np.concatenate([grown.sample_indices[start:stop], held_rows[held_end == leaf]])
            assert raw_value[leaf] == loss.renew_value(residual[rows], np.ones(len(rows)))
    assert n_stopped > 0


def test_side_reproduces_the_rule_before_present_sets(monkeypatch):
    frame, y = _grouped()
    spy = _Spy(monkeypatch)
    side = ShrinkBoostRegressor(n_estimators=8, subsample=0.7, min_samples_leaf=3, random_state=0)
    side._absent_rule = "side"
    side.fit(frame, y)
    X = side.tree_input(frame)
    for (tree, update, _), grown in zip(spy.trees, spy.grown):
        assert np.all(tree.present_offset == -1) and len(tree.present_bitset) == 0
        assert len(grown.held_stopped_nodes) == 0
        # (raw + value) - raw: equal up to the rounding of the addition
        np.testing.assert_allclose(update, tree_values(tree, X)[:, 0], rtol=1e-13, atol=1e-13)
    blend = ShrinkBoostRegressor(n_estimators=8, subsample=0.7, min_samples_leaf=3, random_state=0).fit(frame, y)
    assert not np.array_equal(blend.trees_[-1][0].value, side.trees_[-1][0].value)


def test_an_unknown_absent_rule_is_refused_before_fitting():
    frame, y = _grouped(n=100)
    model = ShrinkBoostRegressor(n_estimators=2)
    model._absent_rule = "blnd"
    with pytest.raises(ValueError, match="_absent_rule must be one of"):
        model.fit(frame, y)
    assert not hasattr(model, "n_features_in_")


def _tree_arrays(model):
    return [[getattr(tree, name).tobytes() for name in ("value", "present_offset", "present_bitset",
                                                         "absent_left_share", "left", "feature")]
            for trees in model.trees_ for tree in trees]


def test_blended_fits_are_identical_across_thread_counts():
    # 40,000 rows, half outside each tree's subsample: the routing partition runs in parallel blocks.
    frame, y = _grouped(n=40_000, n_levels=3000, seed=3)
    fits = [ShrinkBoostRegressor(n_estimators=6, subsample=0.5, random_state=0, n_jobs=jobs, early_stopping=True)
            .fit(frame, y) for jobs in (1, 2)]
    assert any(np.any(t.present_offset >= 0) for trees in fits[0].trees_ for t in trees)
    assert _tree_arrays(fits[0]) == _tree_arrays(fits[1])
    assert np.array_equal(fits[0].validation_score_, fits[1].validation_score_)


@pytest.mark.parametrize("estimator", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_integer_weights_equal_repeated_rows_with_blending(estimator):
    frame, y = _grouped(n=400, n_levels=40, seed=5)
    if estimator is ShrinkBoostClassifier:
        y = (y > np.median(y)).astype(int)
    w = np.random.default_rng(6).integers(0, 4, size=len(y))
    settings = dict(n_estimators=10, min_samples_leaf=1, max_leaf_nodes=8, early_stopping=False, random_state=0)
    weighted = estimator(**settings).fit(frame, y, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w)
    repeated = estimator(**settings).fit(frame.iloc[rows].reset_index(drop=True), y[rows])
    assert any(np.any(t.present_offset >= 0) for trees in weighted.trees_ for t in trees)
    X = weighted.tree_input(frame.assign(g=frame["g"].cat.add_categories("new").where(frame.index % 7 > 0, "new")))
    for trees_w, trees_r in zip(weighted.trees_, repeated.trees_):
        np.testing.assert_array_equal(trees_w[0].present_offset, trees_r[0].present_offset)
        np.testing.assert_array_equal(trees_w[0].present_bitset, trees_r[0].present_bitset)
        np.testing.assert_allclose(trees_w[0].absent_left_share, trees_r[0].absent_left_share, rtol=1e-12)
        np.testing.assert_allclose(tree_values(trees_w[0], X), tree_values(trees_r[0], X), rtol=1e-7, atol=1e-9)


def test_an_unknown_stopped_value_is_refused_before_fitting():
    frame, y = _grouped()
    model = ShrinkBoostRegressor(n_estimators=3, random_state=0)
    model._stopped_value = "subtree"
    with pytest.raises(ValueError, match="_stopped_value must be one of"):
        model.fit(frame, y)
    assert not hasattr(model, "trees_")


def test_categorical_route_and_its_table_are_the_reference_rule():
    from numba import njit

    from shrinktree._tree import categorical_route
    from shrinktree.boosting.partition import categorical_route_table

    @njit
    def routes(missing, codes, node, missing_left, cat_offset, cat_bitset, present_offset, present_bitset):
        out = np.empty(len(codes), dtype=np.int64)
        for r in range(len(codes)):
            out[r] = categorical_route(missing[r], codes[r], node, missing_left, cat_offset, cat_bitset,
                                       present_offset, present_bitset)
        return out

    rng = np.random.default_rng(8)
    for n_levels in (1, 5, 31, 32, 33, 70):
        n_words = max((n_levels + 31) // 32, 1)
        for has_present, short_set, missing_left in ((True, False, 0), (True, True, 1), (False, False, 1)):
            # Node 1 of two categorical nodes (node 0's words come first); a short present set (words cut off)
            # blends every code past its end.
            cat_bitset = rng.integers(0, 2**32, size=2 * n_words, dtype=np.uint64).astype(np.uint32)
            present_words = n_words + 1 - (1 if short_set else 0)
            present_bitset = rng.integers(0, 2**32, size=n_words + 1 + present_words, dtype=np.uint64).astype(np.uint32)
            node = SimpleNamespace(is_categorical=[1, 1], cat_bitset=cat_bitset, cat_offset=np.array([0, n_words]),
                                   present_offset=np.array([0, n_words + 1 if has_present else -1]),
                                   present_bitset=present_bitset, missing_left=np.array([0, missing_left], np.uint8))
            codes = np.arange(-3, 32 * n_words + 40, dtype=np.int64)
            missing = rng.random(len(codes)) < 0.2
            got = routes(missing, codes, 1, node.missing_left, node.cat_offset, cat_bitset, node.present_offset,
                         present_bitset)
            expected = [ROUTES[route(node, 1, np.nan if m else float(c))] for m, c in zip(missing, codes)]
            assert got.tolist() == expected
            table = categorical_route_table(1, node.missing_left, node.cat_offset, cat_bitset, node.present_offset,
                                            present_bitset, n_levels)
            assert table.tolist() == [ROUTES[route(node, 1, float(c) if c < n_levels else np.nan)]
                                      for c in range(n_levels + 1)]


def test_multiclass_training_predictions_are_each_trees_blended_walk(monkeypatch):
    frame, y = _grouped()
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    spy = _Spy(monkeypatch)
    model = ShrinkBoostClassifier(n_estimators=4, subsample=0.7, min_samples_leaf=3, random_state=0)
    model.fit(frame, labels)
    X = model.tree_input(frame)
    assert len(spy.trees) == 12  # three trees an iteration, each with its own column of raw scores
    n_blended = 0
    for (tree, update, _), grown in zip(spy.trees, spy.grown):
        np.testing.assert_allclose(update, _expected_update(tree, grown, X), rtol=1e-13, atol=1e-13)
        n_blended += sum(len(leaf_shares(tree, x)) > 1 for x in X)
    assert n_blended > 0
