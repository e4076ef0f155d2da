"""Exact TreeSHAP contributions: additivity, brute-force Shapley values, shap and LightGBM agreement, bad input."""

import pickle
from itertools import combinations
from math import factorial

import lightgbm as lgb
import numba
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import NotFittedError

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, shrink
from shrinktree.explain import explanation, predict_contributions, shap_explainer, to_shap, tree_input

shap = pytest.importorskip("shap")

ADDITIVITY = 1e-9
SHAP_AGREEMENT = 1e-8


# -- data and an independent reference implementation ------------------------------------------------
def _regression(n=600, n_features=5, nan=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    y = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] + rng.normal(scale=0.5, size=n)
    if nan:
        X[rng.random(X.shape) < nan] = np.nan
    return X, y


def _classification(n=600, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(X.shape) < 0.08] = np.nan
    score = np.nan_to_num(X[:, 0]) + 0.8 * np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    cuts = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    y = np.digitize(score + rng.normal(scale=0.5, size=n), cuts)
    return X, y


def _categorical_frame(n=800, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 12, n)
    effect = rng.normal(scale=2.0, size=12)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    levels = np.array([f"g{g}" for g in range(12)], dtype=object)
    frame = pd.DataFrame({"group": pd.Categorical(levels[group]), "x": x, "z": rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.05, "group"] = np.nan
    y = effect[group] + np.nan_to_num(x) + rng.normal(scale=0.5, size=n)
    return frame, y


def _goes_left(tree, node, x):
    """The routing rule, written out independently of the kernels."""
    if np.isnan(x):
        return bool(tree.missing_left[node])
    if tree.is_categorical[node]:
        code = int(x)
        word = tree.cat_offset[node] + (code >> 5)
        if code < 0 or word >= len(tree.cat_bitset):
            return bool(tree.missing_left[node])
        return bool((int(tree.cat_bitset[word]) >> (code & 31)) & 1)
    return bool(x <= tree.threshold[node])


def _leaf_cover(tree):
    """Leaf counts summed up to the root (the cover the contributions use)."""
    cover = np.where(tree.left == -1, tree.count, 0.0).astype(np.float64)
    for node in range(tree.n_nodes - 1, -1, -1):
        if tree.left[node] != -1:
            cover[node] = cover[tree.left[node]] + cover[tree.right[node]]
    return cover


def _conditional_expectation(tree, cover, x, known):
    """Path-dependent E[f(x) | x_known]: follow x on known features, average children by cover otherwise."""
    def visit(node):
        if tree.left[node] == -1:
            return tree.value[node]
        if tree.feature[node] in known:
            return visit(tree.left[node] if _goes_left(tree, node, x[tree.feature[node]]) else tree.right[node])
        a, b = tree.left[node], tree.right[node]
        return (cover[a] * visit(a) + cover[b] * visit(b)) / (cover[a] + cover[b])

    return visit(0)


def brute_force_shapley(trees, outputs, n_outputs, X, scale=1.0):
    """Shapley values by enumerating every feature subset; shape (n_rows, n_outputs, n_features + 1)."""
    n_rows, M = X.shape
    out = np.zeros((n_rows, n_outputs, M + 1))
    covers = [_leaf_cover(t) for t in trees]
    subsets = [frozenset(s) for size in range(M + 1) for s in combinations(range(M), size)]
    for row in range(n_rows):
        v = {}
        for S in subsets:
            total = np.zeros(n_outputs)
            for tree, cover, col in zip(trees, covers, outputs):
                e = _conditional_expectation(tree, cover, X[row], S)
                if col >= 0:
                    total[col] += e[0]
                else:
                    total += e
            v[S] = total * scale
        for i in range(M):
            for S in subsets:
                if i in S:
                    continue
                weight = factorial(len(S)) * factorial(M - len(S) - 1) / factorial(M)
                out[row, :, i] += weight * (v[S | {i}] - v[S])
        out[row, :, M] = v[frozenset()]
    return out


def shap_description(trees, outputs, n_outputs, base, scale=1.0, input_dtype=np.float64):
    """shap's custom tree-model dictionary, built here from the node arrays (not with to_shap)."""
    described = []
    for tree, col in zip(trees, outputs):
        leaf = tree.left == -1
        values = np.zeros((tree.n_nodes, n_outputs))
        if col >= 0:
            values[:, col] = tree.value[:, 0]
        else:
            values[:] = tree.value
        described.append({
            "children_left": np.where(leaf, -1, tree.left).astype(np.int32),
            "children_right": np.where(leaf, -1, tree.right).astype(np.int32),
            "children_default": np.where(leaf, -1, np.where(tree.missing_left == 1, tree.left, tree.right))
            .astype(np.int32),
            "features": np.where(leaf, -1, tree.feature).astype(np.int32),
            "thresholds": np.where(leaf, 0.0, tree.threshold).astype(np.float64),
            "values": values * scale,
            "node_sample_weight": tree.count.astype(np.float64),
        })
    return {"trees": described, "base_offset": np.asarray(base, dtype=np.float64), "input_dtype": input_dtype}


def _repeats_a_feature_on_a_path(tree):
    for node in range(1, tree.n_nodes):
        if tree.left[node] == -1:
            continue
        ancestor = tree.parent[node]
        while ancestor >= 0:
            if tree.feature[ancestor] == tree.feature[node]:
                return True
            ancestor = tree.parent[ancestor]
    return False


def _booster_trees(model):
    trees = [t for iteration in model.trees_ for t in iteration]
    per_iteration = len(model.trees_[0])
    return trees, np.tile(np.arange(per_iteration), len(model.trees_)), per_iteration


def _blocks(contributions):
    """Contributions as (n_rows, n_outputs, n_features + 1) whatever the model's number of outputs."""
    return contributions[:, None, :] if contributions.ndim == 2 else contributions


def _shap_blocks(values):
    """shap's (n, F) or (n, F, K) values as (n, K, F)."""
    values = np.asarray(values)
    return values[:, None, :] if values.ndim == 2 else np.transpose(values, (0, 2, 1))


# -- additivity ----------------------------------------------------------------------------------------
def test_regression_contributions_add_up_to_predict():
    X, y = _regression()
    model = ShrinkBoostRegressor(n_estimators=60, random_state=0).fit(X, y)
    phi = model.predict_contributions(X[:200])
    assert phi.shape == (200, X.shape[1] + 1) and phi.dtype == np.float64
    np.testing.assert_allclose(phi.sum(axis=1), model.predict(X[:200]), rtol=0, atol=ADDITIVITY)
    assert np.all(phi[:, -1] == phi[0, -1])  # one expected value for every row
    # The strongest feature gets the largest mean absolute contribution.
    assert np.argmax(np.abs(phi[:, :-1]).mean(axis=0)) == 0


def test_binary_contributions_add_up_to_decision_function():
    X, y = _classification(n_classes=2)
    model = ShrinkBoostClassifier(n_estimators=60, random_state=0).fit(X, np.array(["no", "yes"])[y])
    phi = model.predict_contributions(X)
    assert phi.shape == (len(X), X.shape[1] + 1)
    np.testing.assert_allclose(phi.sum(axis=1), model.decision_function(X), rtol=0, atol=ADDITIVITY)


def test_multiclass_contributions_one_block_per_class():
    X, y = _classification(n_classes=3)
    model = ShrinkBoostClassifier(n_estimators=40, random_state=0).fit(X, y)
    phi = model.predict_contributions(X)
    assert phi.shape == (len(X), 3, X.shape[1] + 1)
    np.testing.assert_allclose(phi.sum(axis=2), model.decision_function(X), rtol=0, atol=ADDITIVITY)
    # Each class's block comes from that class's trees alone.
    assert not np.allclose(phi[:, 0, :-1], phi[:, 1, :-1])


def test_categorical_splits_and_unseen_levels_add_up():
    frame, y = _categorical_frame()
    model = ShrinkBoostRegressor(n_estimators=60, random_state=0).fit(frame, y)
    assert sum(int(t.is_categorical[t.left >= 0].sum()) for it in model.trees_ for t in it) > 0
    test = frame.iloc[:100].copy()
    test["group"] = test["group"].cat.add_categories(["never seen"])
    test.loc[test.index[:10], "group"] = "never seen"  # routed to each split's default side
    phi = model.predict_contributions(test)
    np.testing.assert_allclose(phi.sum(axis=1), model.predict(test), rtol=0, atol=ADDITIVITY)
    # The group carries most of the signal and gets the largest contributions.
    assert np.argmax(np.abs(phi[:, :-1]).mean(axis=0)) == 0


def test_missing_values_follow_the_default_direction():
    X, y = _regression(nan=0.3)
    model = ShrinkBoostRegressor(n_estimators=40, random_state=0).fit(X, y)
    rows = np.full((3, X.shape[1]), np.nan)
    rows[1, 0] = 1.0
    phi = model.predict_contributions(rows)
    np.testing.assert_allclose(phi.sum(axis=1), model.predict(rows), rtol=0, atol=ADDITIVITY)
    trees, outputs, K = _booster_trees(model)
    expected = brute_force_shapley(trees, outputs, K, model.tree_input(rows))[:, 0]
    expected[:, -1] += model._baseline[0]
    np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-10)


def test_sample_weights_add_up_and_weight_the_expected_value():
    X, y = _regression(nan=0.05, seed=3)
    weight = np.random.default_rng(1).integers(1, 4, len(y)).astype(float)
    weight[:30] = 0.0
    model = ShrinkBoostRegressor(n_estimators=40, random_state=0).fit(X, y, sample_weight=weight)
    phi = model.predict_contributions(X)
    np.testing.assert_allclose(phi.sum(axis=1), model.predict(X), rtol=0, atol=ADDITIVITY)
    # Cover is the weighted row count, every row reaches every tree: the expected value is the weighted
    # mean training prediction.
    np.testing.assert_allclose(phi[0, -1], np.average(model.predict(X), weights=weight), rtol=0, atol=1e-9)


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile", "poisson", "gamma", "tweedie"])
def test_every_regression_loss_adds_up_to_its_raw_score(loss):
    X, y = _regression(seed=17)
    if loss in ("poisson", "gamma", "tweedie"):
        y = np.random.default_rng(17).poisson(np.exp(0.4 * np.nan_to_num(X[:, 0]))) + (loss != "poisson") * 0.5
    model = ShrinkBoostRegressor(loss=loss, n_estimators=30, random_state=0).fit(X, y)
    phi = model.predict_contributions(X)
    link = np.log if loss in ("poisson", "gamma", "tweedie") else (lambda p: p)
    np.testing.assert_allclose(phi.sum(axis=1), link(model.predict(X)), rtol=0, atol=ADDITIVITY)


def test_offset_is_added_to_the_expected_value_column():
    rng = np.random.default_rng(18)
    X, _ = _regression(seed=18)
    exposure = rng.uniform(0.5, 3.0, len(X))
    y = rng.poisson(exposure * np.exp(0.5 * np.nan_to_num(X[:, 0])))
    model = ShrinkBoostRegressor(loss="poisson", n_estimators=30, random_state=0).fit(X, y, offset=np.log(exposure))
    phi = model.predict_contributions(X, offset=np.log(exposure))
    np.testing.assert_allclose(phi.sum(axis=1), np.log(model.predict(X, offset=np.log(exposure))), rtol=0,
                               atol=ADDITIVITY)
    np.testing.assert_array_equal(phi[:, :-1], model.predict_contributions(X)[:, :-1])
    np.testing.assert_allclose(phi[:, -1] - model.predict_contributions(X)[:, -1], np.log(exposure), atol=1e-12)
    with pytest.raises(ValueError, match="one value per row"):
        model.predict_contributions(X, offset=np.zeros(3))
    Xc, yc = _classification(seed=18)
    classifier = ShrinkBoostClassifier(n_estimators=5, random_state=0).fit(Xc, yc)
    with pytest.raises(ValueError, match="offset"):
        classifier.predict_contributions(Xc, offset=np.zeros(len(Xc)))


def test_binary_expected_value_is_the_mean_raw_score():
    X, y = _classification(n_classes=2, seed=4)
    model = ShrinkBoostClassifier(n_estimators=30, random_state=0).fit(X, y)
    phi = model.predict_contributions(X[:5])
    np.testing.assert_allclose(phi[0, -1], model.decision_function(X).mean(), rtol=0, atol=1e-9)


# -- exactness: brute force and shap -------------------------------------------------------------------
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass", "categorical"])
def test_equals_brute_force_shapley_values(task):
    if task == "regression":
        X, y = _regression(n=300, n_features=4, nan=0.15, seed=2)
        model = ShrinkBoostRegressor(n_estimators=4, max_leaf_nodes=8, min_samples_leaf=5, random_state=0)
    elif task == "categorical":
        X, y = _categorical_frame(n=400, seed=2)
        model = ShrinkBoostRegressor(n_estimators=4, max_leaf_nodes=8, min_samples_leaf=5, random_state=0)
    else:
        X, y = _classification(n=300, n_classes=2 if task == "binary" else 3, seed=2)
        model = ShrinkBoostClassifier(n_estimators=3, max_leaf_nodes=8, min_samples_leaf=5, random_state=0)
    model.set_params(learning_rate=0.5, shrinkage="none").fit(X, y)
    rows = X.iloc[:12] if isinstance(X, pd.DataFrame) else X[:12]
    trees, outputs, K = _booster_trees(model)
    # Some feature splits twice on a path: the case where the kernel unwinds and re-extends.
    assert any(_repeats_a_feature_on_a_path(t) for t in trees)
    if task == "categorical":
        assert any(t.is_categorical[t.left >= 0].any() for t in trees)
    expected = brute_force_shapley(trees, outputs, K, model.tree_input(rows))
    expected[:, :, -1] += model._baseline
    np.testing.assert_allclose(_blocks(model.predict_contributions(rows)), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_equals_shap_tree_explainer(task):
    if task == "regression":
        X, y = _regression(seed=5)
        model = ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(X, y)
    else:
        X, y = _classification(n_classes=2 if task == "binary" else 3, seed=5)
        model = ShrinkBoostClassifier(n_estimators=30, random_state=0).fit(X, y)
    trees, outputs, K = _booster_trees(model)
    ours = _blocks(model.predict_contributions(X))
    explainer = shap.TreeExplainer(shap_description(trees, outputs, K, model._baseline))
    theirs = _shap_blocks(explainer.shap_values(X))
    np.testing.assert_allclose(ours[:, :, :-1], theirs, rtol=0, atol=SHAP_AGREEMENT)
    np.testing.assert_allclose(ours[0, :, -1], np.atleast_1d(explainer.expected_value), rtol=0, atol=SHAP_AGREEMENT)
    # The export: shap accepts the model's own description and agrees.
    exported = shap.TreeExplainer(to_shap(model))
    np.testing.assert_allclose(_shap_blocks(exported.shap_values(X)), ours[:, :, :-1], rtol=0, atol=SHAP_AGREEMENT)
    np.testing.assert_allclose(np.atleast_1d(exported.expected_value), ours[0, :, -1], rtol=0, atol=SHAP_AGREEMENT)


def test_shap_explainer_and_explanation_feed_shap_plots():
    X, y = _regression(seed=6)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = ShrinkBoostRegressor(n_estimators=30, random_state=0).fit(frame, y)
    ours = model.predict_contributions(frame)
    explained = shap_explainer(model)(frame)
    np.testing.assert_allclose(explained.values, ours[:, :-1], rtol=0, atol=SHAP_AGREEMENT)
    assert list(explained.feature_names) == list(frame.columns)
    own = explanation(model, frame)
    np.testing.assert_array_equal(own.values, ours[:, :-1])
    np.testing.assert_array_equal(own.base_values, ours[:, -1])
    assert own.feature_names == list(frame.columns) and own.data.shape == frame.shape
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shap.plots.beeswarm(own, show=False)
    shap.plots.waterfall(explained[0], show=False)
    plt.close("all")


def test_exported_binary_model_explains_probabilities_with_background_data():
    X, y = _classification(n_classes=2, seed=16)
    model = ShrinkBoostClassifier(n_estimators=20, random_state=0).fit(X, y)
    explainer = shap_explainer(model, X[:100], model_output="probability")
    values = explainer.shap_values(X[:20])
    np.testing.assert_allclose(values.sum(axis=1) + explainer.expected_value, model.predict_proba(X[:20])[:, 1],
                               rtol=0, atol=1e-7)


def test_categorical_models_cannot_be_exported_but_have_an_explanation():
    frame, y = _categorical_frame(n=400)
    model = ShrinkBoostRegressor(n_estimators=20, random_state=0).fit(frame, y)
    with pytest.raises(ValueError, match="categorical"):
        to_shap(model)
    own = explanation(model, frame.iloc[:20])
    np.testing.assert_allclose(own.values.sum(axis=1) + own.base_values, model.predict(frame.iloc[:20]),
                               rtol=0, atol=ADDITIVITY)


# -- post-hoc shrunk models ----------------------------------------------------------------------------
def test_shrunk_random_forest_regressor():
    X, y = _regression(n=500, seed=7)
    forest = RandomForestRegressor(n_estimators=20, min_samples_leaf=3, random_state=0).fit(X, y)
    shrunk = shrink(forest, X, y)
    phi = shrunk.predict_contributions(X)
    assert phi.shape == (len(X), X.shape[1] + 1)
    np.testing.assert_allclose(phi.sum(axis=1), shrunk.predict(X), rtol=0, atol=ADDITIVITY)
    exported = shap.TreeExplainer(to_shap(shrunk))
    np.testing.assert_allclose(exported.shap_values(X), phi[:, :-1], rtol=0, atol=SHAP_AGREEMENT)
    # Without pooling the shrunk forest is the forest, and shap's own reading of it agrees.
    same = shrink(forest, method="none")
    np.testing.assert_allclose(same.predict_contributions(X)[:, :-1], shap.TreeExplainer(forest).shap_values(X),
                               rtol=0, atol=SHAP_AGREEMENT)


def test_shrunk_random_forest_classifier_has_a_block_per_class():
    X, y = _classification(n=500, n_classes=3, seed=8)
    forest = RandomForestClassifier(n_estimators=15, min_samples_leaf=3, random_state=0).fit(X, y)
    shrunk = shrink(forest, X, y)
    phi = shrunk.predict_contributions(X)
    assert phi.shape == (len(X), 3, X.shape[1] + 1)
    np.testing.assert_allclose(phi.sum(axis=2), shrunk._raw(X), rtol=0, atol=ADDITIVITY)
    trees = shrunk.trees_
    description = shap_description(trees, np.full(len(trees), -1), 3, shrunk._parsed.init, scale=1 / len(trees),
                                   input_dtype=np.float32)
    theirs = _shap_blocks(shap.TreeExplainer(description).shap_values(X))
    np.testing.assert_allclose(phi[:, :, :-1], theirs, rtol=0, atol=SHAP_AGREEMENT)
    same = shrink(forest, method="none")
    np.testing.assert_allclose(_blocks(same.predict_contributions(X))[:, :, :-1],
                               _shap_blocks(shap.TreeExplainer(forest).shap_values(X)), rtol=0, atol=SHAP_AGREEMENT)


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_shrunk_lightgbm_model(task):
    if task == "regression":
        X, y = _regression(n=800, seed=9, nan=0.1)
        model = lgb.LGBMRegressor(n_estimators=40, num_leaves=15, verbose=-1, random_state=0).fit(X, y)
    else:
        X, y = _classification(n=800, n_classes=2, seed=9)
        model = lgb.LGBMClassifier(n_estimators=40, num_leaves=15, verbose=-1, random_state=0).fit(X, y)
    shrunk = shrink(model, X, y)
    phi = shrunk.predict_contributions(X)
    raw = shrunk.predict(X) if task == "regression" else shrunk.decision_function(X)
    np.testing.assert_allclose(phi.sum(axis=1), raw, rtol=0, atol=ADDITIVITY)
    assert not np.allclose(phi, model.predict(X, pred_contrib=True))  # the pooling changed the values
    description = shap_description(shrunk.trees_, shrunk._parsed.tree_output, 1, shrunk._parsed.init)
    np.testing.assert_allclose(shap.TreeExplainer(description).shap_values(X), phi[:, :-1], rtol=0,
                               atol=SHAP_AGREEMENT)
    np.testing.assert_allclose(shap.TreeExplainer(to_shap(shrunk)).shap_values(X), phi[:, :-1], rtol=0,
                               atol=SHAP_AGREEMENT)
    # Without pooling: LightGBM's own pred_contrib (its node counts as cover, like ours).
    same = shrink(model, method="none")
    np.testing.assert_allclose(same.predict_contributions(X), model.predict(X, pred_contrib=True), rtol=0, atol=1e-9)


def test_shrunk_lightgbm_model_with_zero_as_missing_explained_on_its_tree_input():
    X, y = _regression(n=800, seed=19, nan=0.0)
    X[::5, 1] = 0.0
    model = lgb.LGBMRegressor(n_estimators=30, num_leaves=15, zero_as_missing=True, verbose=-1,
                              random_state=0).fit(X, y)
    shrunk = shrink(model, X, y)
    phi = shrunk.predict_contributions(X)
    np.testing.assert_allclose(phi.sum(axis=1), shrunk.predict(X), rtol=0, atol=ADDITIVITY)
    routed = tree_input(shrunk, X)
    assert np.isnan(routed[::5, 1]).all()  # zeros read as missing, as LightGBM reads them
    exported = shap.TreeExplainer(to_shap(shrunk))
    np.testing.assert_allclose(exported.shap_values(routed), phi[:, :-1], rtol=0, atol=SHAP_AGREEMENT)


def test_shrunk_shrinktree_booster_with_categories_and_an_xgboost_model():
    xgb = pytest.importorskip("xgboost")
    frame, y = _categorical_frame(n=500, seed=15)
    booster = ShrinkBoostRegressor(n_estimators=20, shrinkage="none", random_state=0).fit(frame, y)
    shrunk = shrink(booster, frame, y)
    phi = shrunk.predict_contributions(frame)
    np.testing.assert_allclose(phi.sum(axis=1), shrunk.predict(frame), rtol=0, atol=ADDITIVITY)
    same = shrink(booster, method="none")
    np.testing.assert_allclose(same.predict_contributions(frame), booster.predict_contributions(frame),
                               rtol=0, atol=1e-12)
    X, yc = _classification(n=500, n_classes=3, seed=15)
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, yc)
    shrunk = shrink(model, X, yc)
    phi = shrunk.predict_contributions(X)
    assert phi.shape == (len(X), 3, X.shape[1] + 1)
    np.testing.assert_allclose(phi.sum(axis=2), shrunk.decision_function(X), rtol=0, atol=ADDITIVITY)
    np.testing.assert_allclose(_shap_blocks(shap.TreeExplainer(to_shap(shrunk)).shap_values(X)), phi[:, :, :-1],
                               rtol=0, atol=SHAP_AGREEMENT)


# -- properties of the computation ---------------------------------------------------------------------
def test_rows_are_independent_of_threads_and_batching():
    X, y = _regression(n=1500, seed=10)
    model = ShrinkBoostRegressor(n_estimators=30, random_state=0).fit(X, y)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = model.predict_contributions(X)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parallel = model.predict_contributions(X)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(single, parallel)
    np.testing.assert_array_equal(model.predict_contributions(X[7:9]), single[7:9])


def test_pickled_model_gives_the_same_contributions():
    X, y = _classification(n_classes=3, seed=11)
    model = ShrinkBoostClassifier(n_estimators=10, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_contributions(X), model.predict_contributions(X))


def test_no_rows_and_a_constant_model():
    X, y = _regression(n=200, seed=12)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="0 sample"):  # as predict
        model.predict_contributions(X[:0])
    constant = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, np.full(len(y), 3.0))
    phi = constant.predict_contributions(X[:10])
    np.testing.assert_allclose(phi[:, :-1], 0.0, atol=1e-12)
    np.testing.assert_allclose(phi[:, -1], 3.0, atol=1e-12)


# -- bad input -----------------------------------------------------------------------------------------
def test_bad_input_is_rejected_like_predict():
    X, y = _regression(n=200, seed=13)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict_contributions(X[:, :3])
    with pytest.raises(ValueError):
        model.predict_contributions(np.array([["a"] * X.shape[1]]))
    with pytest.raises(ValueError, match="infinity|inf"):
        model.predict_contributions(np.where(np.isnan(X[:3]), np.inf, X[:3]))
    with pytest.raises(NotFittedError):
        ShrinkBoostRegressor().predict_contributions(X)
    frame, yc = _categorical_frame(n=300)
    cat_model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(frame, yc)
    with pytest.raises(ValueError, match="feature names"):
        cat_model.predict_contributions(frame[["x", "group", "z"]])
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(np.nan_to_num(X), y)
    with pytest.raises(ValueError, match="features"):
        shrink(forest, method="none").predict_contributions(X[:, :2])


def test_other_models_are_refused():
    X, y = _regression(n=100, seed=14)
    forest = RandomForestRegressor(n_estimators=2, random_state=0).fit(np.nan_to_num(X), y)
    with pytest.raises(TypeError, match="RandomForestRegressor"):
        predict_contributions(forest, X)
    with pytest.raises(TypeError, match="RandomForestRegressor"):
        to_shap(forest)
