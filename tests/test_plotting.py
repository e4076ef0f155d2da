"""shrinktree.plotting with the Agg backend: each picture's artists hold the model's numbers."""

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

import shrinktree  # noqa: E402
from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, shrink  # noqa: E402
from shrinktree.plotting import plot_importance, plot_pooling, plot_shap_summary, plot_tree  # noqa: E402

REPO = Path(shrinktree.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"size": rng.normal(size=n), "age": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
                      "city": pd.Categorical(rng.choice(["north", "south", "east", "west"], n))})
    y = 2 * X["size"].to_numpy() + 1.5 * (X["city"] == "north").to_numpy() + np.nan_to_num(X["age"].to_numpy())
    return X, y + rng.normal(size=n), rng


@pytest.fixture(scope="module")
def regressor():
    X, y, _ = data()
    return ShrinkBoostRegressor(n_estimators=12, max_leaf_nodes=6, min_samples_leaf=10, random_state=0).fit(X, y), X


def node_texts(fig):
    return {int(t.get_gid().split("-")[1]): t for ax in fig.axes for t in ax.texts
            if (t.get_gid() or "").startswith("node-")}


def edge_texts(fig):
    return {tuple(map(int, t.get_gid().split("-")[1:])): t.get_text() for ax in fig.axes for t in ax.texts
            if (t.get_gid() or "").startswith("edge-")}


# -- a tree ------------------------------------------------------------------------------------------
def test_plot_tree_shows_every_node_with_its_split_values_factor_and_mass(regressor):
    model, _ = regressor
    # A tree with a categorical split, to check its levels by name.
    index = next(i for i, (tree,) in enumerate(model.trees_) if np.any(tree.is_categorical[tree.left >= 0]))
    tree = model.trees_[index][0]
    fig = plot_tree(model, index)
    assert isinstance(fig, matplotlib.figure.Figure)
    nodes = node_texts(fig)
    assert sorted(nodes) == list(range(tree.n_nodes))
    cities = model.categories_[2]
    for node, text in nodes.items():
        lines = text.get_text().split("\n")
        raw, pooled = tree.raw_value[node, 0], tree.value[node, 0]
        assert lines[1] == f"raw {raw:.3g} → pooled {pooled:.3g}" or node == 0
        assert lines[2].startswith("root" if node == 0 else f"f = {tree.pooling_factor[node]:.2f}")
        assert f"mass {tree.weight[node]:.3g}" in lines[2] or f"mass {tree.weight[node]:,.0f}" in lines[2]
        if tree.left[node] < 0:
            assert lines[0] == f"leaf {node}"
        elif tree.is_categorical[node]:
            word = int(tree.cat_bitset[tree.cat_offset[node]])
            left = [str(level) for code, level in enumerate(cities) if (word >> code) & 1]
            assert lines[0] == "city in {" + ", ".join(left) + "}"
        else:
            name = ["size", "age", "city"][tree.feature[node]]
            assert lines[0] == f"{name} <= {tree.threshold[node]:.4g}"
        # The box colour is the pooling factor on the colour scale.
        face = text.get_bbox_patch().get_facecolor()
        np.testing.assert_allclose(face, plt.get_cmap("YlGnBu")(0.05 + 0.5 * tree.pooling_factor[node]))
    # Edges: yes/no for the two children, and NaN on the side missing values take (none where NaN blends:
    # the city column has no NaN, so it is absent from every present set).
    edges = edge_texts(fig)
    internal = np.flatnonzero(tree.left >= 0)
    assert len(edges) == 2 * len(internal)
    for node in internal:
        left, right = int(tree.left[node]), int(tree.right[node])
        nan_left = bool(tree.missing_left[node])
        nan_side = tree.present_offset[node] < 0
        assert edges[node, left] == "yes" + (", NaN" if nan_left and nan_side else "")
        assert edges[node, right] == "no" + (", NaN" if not nan_left and nan_side else "")
    # A categorical split with a present set: how many levels its growing rows had, and the share of an absent
    # level that goes left.
    with_present = internal[tree.present_offset[internal] >= 0]
    assert len(with_present) > 0
    for node in with_present:
        start = int(tree.present_offset[node])
        present = [code for code in range(len(cities)) if (int(tree.present_bitset[start]) >> (code + 1)) & 1]
        assert nodes[node].get_text().split("\n")[3] == (
            f"present: {len(present)} level{'s' if len(present) != 1 else ''}; "
            f"absent: {tree.absent_left_share[node]:.0%} left")
    lines = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    assert len(lines) == 1 and len(lines[0].get_segments()) == 2 * len(internal)
    assert f"iteration {index}, k = {model.pooling_strength_[index, 0]:.3g}" in fig.axes[0].get_title()


def test_plot_tree_depth_limit_classes_and_trees_given_directly(regressor):
    model, X = regressor
    tree = model.trees_[0][0]
    depth = tree.depth()
    fig = plot_tree(model, 0, max_depth=1)
    nodes = node_texts(fig)
    assert sorted(nodes) == [int(i) for i in np.flatnonzero(depth <= 1)]
    for node, text in nodes.items():
        assert text.get_text().endswith("…") == (depth[node] == 1 and tree.left[node] >= 0)
    # A tree on its own: feature names x[j] (no model); drawn into a given axes.
    fig, ax = plt.subplots()
    assert plot_tree(None, tree, ax=ax) is fig
    assert node_texts(fig)[0].get_text().startswith(f"x[{tree.feature[0]}] <= ")
    # Multiclass: the tree of the class asked for.
    _, y, rng = data(seed=1)
    labels = np.array(["a", "b", "c"])[np.digitize(y, [-1, 1])]
    classifier = ShrinkBoostClassifier(n_estimators=3, max_leaf_nodes=4, random_state=0).fit(X, labels)
    fig = plot_tree(classifier, 2, class_index=1)
    assert "iteration 2, class 'b'" in fig.axes[0].get_title()
    pooled = classifier.trees_[2][1].value[0, 0]
    assert f"{pooled:.3g}" in node_texts(fig)[0].get_text()
    with pytest.raises(ValueError, match=r"class_index must be in \[0, 3\)"):
        plot_tree(classifier, 0, class_index=3)


def test_plot_tree_of_a_shrunk_forest_classifier_shows_the_chosen_column():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = np.digitize(X[:, 0] + rng.normal(size=300), [-0.5, 0.5])
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    model = shrink(forest, X, y)
    for column in range(3):
        fig = plot_tree(model, 1, class_index=column)
        value = model.trees_[1].value[:, column]
        leaf = int(np.flatnonzero(model.trees_[1].left < 0)[0])
        assert f"→ pooled {value[leaf]:.3g}" in node_texts(fig)[leaf].get_text()
        assert f"class {column}" in fig.axes[0].get_title()
        # Shrunk models' masses are row counts: no separate row count is shown.
        assert "rows" not in node_texts(fig)[leaf].get_text()


# -- the pooling curve --------------------------------------------------------------------------------
def check_pooling_figure(fig, trees, ks, masses):
    ax = fig.axes[0]
    points = [c for c in ax.collections if c.get_gid() == "nodes"]
    curves = [c for c in ax.collections if c.get_gid() == "curves"]
    assert len(points) == 1 and isinstance(points[0], PathCollection) and len(curves) == 1
    offsets = np.asarray(points[0].get_offsets())
    np.testing.assert_array_equal(offsets[:, 0], np.concatenate(masses))
    np.testing.assert_array_equal(offsets[:, 1], np.concatenate([t.pooling_factor[1:] for t in trees]))
    segments = curves[0].get_segments()
    assert len(segments) == len(trees)
    for segment, k in zip(segments, ks):
        x, y = segment[:, 0], segment[:, 1]
        np.testing.assert_allclose(y, x / (x + k) if np.isfinite(k) else 0.0, rtol=1e-12)
    return offsets


def test_plot_pooling_puts_every_node_on_its_trees_curve(regressor):
    model, _ = regressor
    trees = [t for (t,) in model.trees_]
    ks = model.pooling_strength_[:, 0]
    fig = plot_pooling(model)
    check_pooling_figure(fig, trees, ks, [t.weight[1:] for t in trees])
    # Empirical Bayes: f = n / (n + k) exactly, for every node of every tree (k = inf: pooled to the root).
    for tree, k in zip(trees, ks):
        n = tree.weight[1:]
        np.testing.assert_allclose(tree.pooling_factor[1:], n / (n + k) if np.isfinite(k) else 0.0, atol=1e-12)
    assert fig.axes[0].get_xscale() == "log" and "(eb)" in fig.axes[0].get_title()
    assert fig.axes[0].get_xlabel() == "node mass n (hessian sum)"
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "tree (in fitting order)"  # the colour bar


def test_plot_pooling_of_hierarchical_shrinkage_uses_the_parents_count():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + rng.normal(size=400)
    model = shrink(DecisionTreeRegressor(max_depth=5, random_state=0).fit(X, y), method="hs", strength=20.0)
    tree = model.trees_[0]
    fig = plot_pooling(model)
    offsets = check_pooling_figure(fig, [tree], [20.0], [tree.count[tree.parent[1:]]])
    np.testing.assert_allclose(offsets[:, 1], offsets[:, 0] / (offsets[:, 0] + 20.0))
    assert fig.axes[0].get_xlabel() == "parent's weighted row count N"


# -- importances ------------------------------------------------------------------------------------
def bars(fig):
    ax = fig.axes[0]
    drawn = [p for p in ax.patches if (p.get_gid() or "").startswith("importance-")]
    return [p.get_gid().removeprefix("importance-") for p in drawn], np.array([p.get_width() for p in drawn])


def test_plot_importance_draws_the_models_importances_largest_first(regressor):
    model, _ = regressor
    names, widths = bars(plot_importance(model))
    order = np.argsort(-model.feature_importances_, kind="stable")
    assert names == [["size", "age", "city"][j] for j in order]
    np.testing.assert_allclose(widths, model.feature_importances_[order])
    assert names[0] == "size"
    names, widths = bars(plot_importance(model, importance_type="split", max_features=2))
    splits = model.set_params(importance_type="split").feature_importances_
    model.set_params(importance_type="gain")
    assert len(names) == 2 and list(widths) == sorted(splits, reverse=True)[:2]
    with pytest.raises(ValueError, match="importance_type"):
        plot_importance(model, importance_type="cover")


def test_plot_importance_of_an_unpooled_tree_is_scikit_learns():
    # For a regression tree with unpooled mean values, the spread a split adds is its squared-error reduction.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 4))
    y = X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=500)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y, sample_weight=rng.uniform(0.5, 2, 500))
    names, widths = bars(plot_importance(shrink(tree, method="none")))
    order = np.argsort(-tree.feature_importances_, kind="stable")
    assert names == [f"x[{j}]" for j in order]
    np.testing.assert_allclose(widths, tree.feature_importances_[order], rtol=1e-10)
    # Pooling shrinks the noise splits, so the signal feature's share grows.
    pooled = dict(zip(*bars(plot_importance(shrink(tree, X, y, method="hs", strength=50.0)))))
    assert pooled["x[0]"] > tree.feature_importances_[0]


# -- SHAP summary -----------------------------------------------------------------------------------
def test_plot_shap_summary_draws_the_exact_contributions(regressor):
    pytest.importorskip("shap")
    model, X = regressor
    rows = X.iloc[:150]
    fig = plot_shap_summary(model, rows)
    contributions = model.predict_contributions(rows)
    ax = fig.axes[0]
    clouds = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    drawn = np.sort(np.concatenate([np.asarray(c.get_offsets())[:, 0] for c in clouds]))
    np.testing.assert_allclose(drawn, np.sort(contributions[:, :-1].ravel()), atol=1e-12)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels) == {"size", "age", "city"} and labels[-1] == "size"  # largest on top
    assert "Exact SHAP values" in ax.get_title()


def test_plot_shap_summary_of_a_multiclass_model_needs_a_class(regressor):
    pytest.importorskip("shap")
    _, X = regressor
    _, y, _ = data()
    classifier = ShrinkBoostClassifier(n_estimators=3, max_leaf_nodes=4, random_state=0).fit(
        X, np.digitize(y, [-1, 1]))
    with pytest.raises(ValueError, match=r"3 outputs: pass class_index in \[0, 3\)"):
        plot_shap_summary(classifier, X.iloc[:50])
    fig = plot_shap_summary(classifier, X.iloc[:50], class_index=2)
    contributions = classifier.predict_contributions(X.iloc[:50])[:, 2, :-1]
    clouds = [c for c in fig.axes[0].collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    drawn = np.sort(np.concatenate([np.asarray(c.get_offsets())[:, 0] for c in clouds]))
    np.testing.assert_allclose(drawn, np.sort(contributions.ravel()), atol=1e-12)
    assert "class 2" in fig.axes[0].get_title()


# -- missing extras and bad input -------------------------------------------------------------------
def test_missing_matplotlib_is_a_clear_import_error():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "try:\n    import shrinktree.plotting\nexcept ImportError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "shrinktree.plotting needs matplotlib, an optional extra: pip install 'shrinktree[plot]'" in done.stdout


def test_missing_shap_is_a_clear_import_error(regressor, monkeypatch):
    model, X = regressor
    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(ImportError, match="plot_shap_summary needs shap"):
        plot_shap_summary(model, X)


def test_plots_refuse_what_is_not_a_fitted_model():
    for plot in (plot_pooling, plot_importance, lambda m: plot_tree(m, 0)):
        with pytest.raises(TypeError, match="Expected a fitted shrinktree booster or shrunk model"):
            plot(DecisionTreeRegressor())
        with pytest.raises(ValueError, match="not fitted"):
            plot(ShrinkBoostRegressor())


def test_the_docs_show_every_picture_and_the_command_that_made_it():
    page = (REPO / "docs" / "plotting.md").read_text()
    for function in ("plot_tree", "plot_pooling", "plot_importance", "plot_shap_summary"):
        assert f"![{function}]({function}.png)" in page, function
        png = REPO / "docs" / f"{function}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "python docs/pictures.py" in page
    assert "python docs/pictures.py" in (REPO / "docs" / "pictures.py").read_text()
