"""Pictures of fitted models: a tree with its pooling, the pooling curve, importances, a SHAP summary.

Needs matplotlib, an optional extra (``pip install 'shrinktree[plot]'``); :func:`plot_shap_summary`
also needs shap.  Every function draws on ``ax`` when given (a new figure otherwise) and returns
the matplotlib ``Figure``.  ``docs/plotting.md`` shows each picture and the command that made it.
"""

from __future__ import annotations

import math

import numpy as np

try:
    import matplotlib  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a child process by the tests
    raise ImportError("shrinktree.plotting needs matplotlib, an optional extra: pip install 'shrinktree[plot]' "
                      "(or pip install matplotlib).") from exc

from ._tree import LEAF, TreeArrays

__all__ = ["plot_importance", "plot_pooling", "plot_shap_summary", "plot_tree"]


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _new_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig, ax = _pyplot().subplots(figsize=figsize)
    return fig, ax


def _kind(model) -> str:
    from .boosting.gradient_boosting import _BaseShrinkBoost
    from .posthoc.model import _ShrunkModel

    if isinstance(model, _BaseShrinkBoost):
        if not hasattr(model, "_trees"):
            raise ValueError(f"This {type(model).__name__} is not fitted; fit it before plotting it.")
        return "booster"
    if isinstance(model, _ShrunkModel):
        model._check_fitted()
        return "shrunk"
    raise TypeError(f"Expected a fitted shrinktree booster or shrunk model, got a {type(model).__name__}.")


def _class_label(classes, index: int) -> str:
    label = classes[index]
    return repr(label.item() if isinstance(label, np.generic) else label)


def _feature_names(model, n_features: int, feature_names=None) -> list[str]:
    if feature_names is not None:
        names = [str(name) for name in feature_names]
        if len(names) != n_features:
            raise ValueError(f"feature_names has {len(names)} names for {n_features} features.")
        return names
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return [f"x[{j}]" for j in range(n_features)]


def _all_trees(model) -> tuple[list[TreeArrays], np.ndarray, str]:
    """Every tree of a model, each tree's pooling strength ``k`` and the pooling method."""
    if _kind(model) == "booster":
        trees = [tree for trees in model.trees_ for tree in trees]
        return trees, np.asarray(model.pooling_strength_, dtype=np.float64).ravel(), model.shrinkage
    return list(model.trees_), np.asarray(model.pooling_strength_, dtype=np.float64).ravel(), model.method_


# -- a tree ------------------------------------------------------------------------------------------
def _format(value: float, precision: int, scale: float = 0.0) -> str:
    """``value`` to ``precision`` significant digits; 0 when it is rounding noise next to ``scale``."""
    if value == 0 or not math.isfinite(value) or abs(value) < 1e-9 * scale:
        return f"{0.0 if math.isfinite(value) else value:g}"
    return f"{value:.{precision}g}"


def _format_mass(value: float, precision: int) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 ** precision else _format(value, precision)


def _levels_going_left(tree: TreeArrays, node: int) -> list[int]:
    start = int(tree.cat_offset[node])
    words = tree.cat_bitset[start:]
    # A node's bitset runs to the next node's start (or the end of the tree's bitset).
    later = [int(o) for o in tree.cat_offset if o > start]
    stop = min(later) - start if later else len(words)
    codes = []
    for w, word in enumerate(words[:stop]):
        for bit in range(32):
            if (int(word) >> bit) & 1:
                codes.append(32 * w + bit)
    return codes


def _present_levels(tree: TreeArrays, node: int) -> tuple[int, bool] | None:
    """How many levels the growing rows of categorical node ``node`` had and whether they had NaN (its
    present set); ``None`` for a node without a present set."""
    start = int(tree.present_offset[node])
    if start < 0:
        return None
    # A node's present set runs to the next node's start (or the end of the tree's present sets).
    later = tree.present_offset[tree.present_offset > start]
    stop = int(later.min()) if len(later) else len(tree.present_bitset)
    words = [int(word) for word in tree.present_bitset[start:stop]]
    nan = bool(words and words[0] & 1)
    return sum(bin(word).count("1") for word in words) - nan, nan


def _present_text(tree: TreeArrays, node: int) -> str | None:
    """``present: 12 levels + NaN; absent: 30% left`` at a categorical node with a present set, else None."""
    present = _present_levels(tree, node)
    if present is None:
        return None
    n_levels, nan = present
    share = float(tree.absent_left_share[node])
    return f"present: {n_levels} level{'s' if n_levels != 1 else ''}{' + NaN' if nan else ''}; absent: {share:.0%} left"


def _nan_takes_one_side(tree: TreeArrays, node: int) -> bool:
    """Whether NaN follows the node's missing side (it blends where the node's present set lacks it)."""
    present = _present_levels(tree, node)
    return present is None or present[1]


def _split_text(tree: TreeArrays, node: int, names: list[str], categories, precision: int) -> str:
    feature = int(tree.feature[node])
    name = names[feature]
    if tree.is_categorical[node]:
        codes = _levels_going_left(tree, node)
        # A category pair's column (after the user's) has no levels to show: its codes are shown.
        levels = (categories[feature] if categories is not None and feature < len(categories)
                  and categories[feature] is not None else None)
        shown = [str(levels[c]) if levels is not None and c < len(levels) else str(c) for c in codes]
        text = ", ".join(shown[:4]) + (f", … (+{len(shown) - 4})" if len(shown) > 4 else "")
        return f"{name} in {{{text}}}"
    return f"{name} <= {_format(float(tree.threshold[node]), precision + 1)}"


def _tree_of(model, tree, class_index: int):
    """The TreeArrays to draw, its output column, a title and the tree's ``k`` (None if unknown)."""
    if isinstance(tree, TreeArrays):
        return tree, class_index, "", None
    if _kind(model) == "booster":
        per_iteration = model.trees_[tree]
        if not 0 <= class_index < len(per_iteration):
            raise ValueError(f"class_index must be in [0, {len(per_iteration)}) for this model.")
        k = float(model.pooling_strength_[tree][class_index])
        label = ""
        if len(per_iteration) > 1:
            label = f", class {_class_label(model.classes_, class_index)}"
        return per_iteration[class_index], 0, f"iteration {tree}{label}", k
    arrays = model.trees_[tree]
    n_outputs = arrays.value.shape[1]
    if not 0 <= class_index < n_outputs:
        raise ValueError(f"class_index must be in [0, {n_outputs}) for this tree.")
    label = ""
    if n_outputs > 1 and hasattr(model, "classes_"):
        label = f", class {_class_label(model.classes_, class_index)}"
    return arrays, class_index, f"tree {tree}{label}", float(model.pooling_strength_[tree])


def _layout(tree: TreeArrays, max_depth: int | None):
    """x position (in leaf slots) and depth of every drawn node; the nodes whose children are not drawn."""
    depth = tree.depth()
    shown = [i for i in range(tree.n_nodes) if max_depth is None or depth[i] <= max_depth]
    x = {}
    cut = set()
    slot = 0

    def place(node):  # iterative in-order placement: leaves (and cut nodes) take the next slot
        nonlocal slot
        stack = [(node, False)]
        while stack:
            current, children_done = stack.pop()
            is_leaf = tree.left[current] == LEAF
            if is_leaf or (max_depth is not None and depth[current] >= max_depth):
                if not is_leaf:
                    cut.add(current)
                x[current] = float(slot)
                slot += 1
            elif children_done:
                x[current] = 0.5 * (x[int(tree.left[current])] + x[int(tree.right[current])])
            else:
                stack.append((current, True))
                stack.append((int(tree.right[current]), False))
                stack.append((int(tree.left[current]), False))

    place(0)
    return shown, x, depth, cut, slot


def plot_tree(model, tree=0, *, class_index: int = 0, max_depth: int | None = None, feature_names=None,
              precision: int = 3, cmap: str = "YlGnBu", ax=None, figsize=None):
    """Draw one tree with each node's split, raw and pooled value, pooling factor and mass.

    Every box shows the node's split (``feature <= threshold``, or ``feature in {levels}`` for a
    categorical split: the levels that go left), its raw value (the unpooled estimate) and pooled
    value (the one predictions use), its pooling factor ``f`` in ``value = value(parent) + f *
    (raw - raw(parent))`` and its mass (the hessian sum the pooling weighs; for shrunk models
    the weighted row count), with the weighted row count where it differs.  A categorical split
    that knows its growing rows' levels (its present set) says how many levels they had, whether
    they had NaN, and the share of a row at an absent level (or an absent NaN) that goes left: such a
    row goes down both children (``present: 12 levels; absent: 30% left``).  The box colour is
    ``f``; an edge's width is the child's share of the root's mass, its label says which side the
    rows that satisfy the split (``yes``) and the missing values (``NaN``, where they take one side)
    take.  Values are on the raw score scale, learning rate included.

    Parameters
    ----------
    model : fitted ShrinkBoostRegressor, ShrinkBoostClassifier or shrunk model, or None
        Pass ``None`` with a ``TreeArrays`` as ``tree``.
    tree : int or TreeArrays, default=0
        The iteration (boosters) or tree (shrunk models) to draw, or a tree itself.
    class_index : int, default=0
        Multiclass boosters: the class whose tree to draw; trees with several value columns
        (forest classifiers): the column to show.
    max_depth : int, optional
        Draw nodes down to this depth; deeper subtrees are marked with "…".
    feature_names : list of str, optional
        Default: the model's ``feature_names_in_``, else ``x[j]``.
    precision : int, default=3
        Significant digits of the values.
    cmap : str, default="YlGnBu"
        Colormap of the pooling factor.
    ax : matplotlib Axes, optional
    figsize : (float, float), optional
        Default: wide enough for the drawn leaves.

    Returns
    -------
    matplotlib.figure.Figure
        Each node's text has the gid ``"node-<id>"``.
    """
    from matplotlib import colors
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    if model is None and not isinstance(tree, TreeArrays):
        raise TypeError("plot_tree needs a fitted model, or a TreeArrays as tree.")
    arrays, column, title, k = _tree_of(model, tree, class_index)
    n_features = int(arrays.feature.max()) + 1 if model is None else model.n_features_in_
    names = _feature_names(model, n_features, feature_names)
    crosses = getattr(model, "_crosses", None)
    if crosses is not None:  # the trees' columns after the user's: "a - b", "a * b" (cross_features)
        names = names + crosses.names(names)
    pairs = getattr(model, "_pairs", None)
    if pairs is not None:  # then the category pairs' columns: "a & b" (private switch _category_pairs)
        names = names + pairs.names(names[:model.n_features_in_])
    categories = getattr(model, "categories_", None) if model is not None and _kind(model) == "booster" else None
    shown, x, depth, cut, n_slots = _layout(arrays, max_depth)
    levels = max(depth[i] for i in shown) + 1
    fig, ax = _new_axes(ax, figsize or (max(6.0, 2.5 * n_slots), max(3.0, 1.55 * levels)))
    colormap = plt.get_cmap(cmap)
    norm = colors.Normalize(0.0, 1.0)
    root_mass = float(arrays.weight[0]) if arrays.weight[0] > 0 else 1.0
    scale = float(np.max(np.abs(arrays.raw_value[:, column]), initial=0.0))

    segments, widths = [], []
    for node in shown:
        if arrays.left[node] == LEAF or node in cut:
            continue
        for child, side in ((int(arrays.left[node]), "yes"), (int(arrays.right[node]), "no")):
            goes_missing = bool(arrays.missing_left[node]) == (side == "yes") and _nan_takes_one_side(arrays, node)
            segments.append([(x[node], -depth[node]), (x[child], -depth[child])])
            widths.append(0.6 + 5.0 * max(float(arrays.weight[child]), 0.0) / root_mass)
            label = side + (", NaN" if goes_missing else "")
            ax.text(0.5 * (x[node] + x[child]), -depth[node] - 0.5, label, ha="center", va="center", fontsize=7,
                    color="0.35", gid=f"edge-{node}-{child}", bbox={"fc": "white", "ec": "none", "pad": 0.5})
    ax.add_collection(LineCollection(segments, linewidths=widths, colors="0.55", zorder=1))

    for node in shown:
        lines = []
        if arrays.left[node] != LEAF:
            lines.append(_split_text(arrays, node, names, categories, precision))
        else:
            lines.append(f"leaf {node}")
        raw, value = float(arrays.raw_value[node, column]), float(arrays.value[node, column])
        lines.append(f"raw {_format(raw, precision, scale)} → pooled {_format(value, precision, scale)}")
        factor = float(arrays.pooling_factor[node])
        mass, count = float(arrays.weight[node]), float(arrays.count[node])
        described = f"mass {_format_mass(mass, precision)}"
        if not math.isclose(mass, count, rel_tol=1e-6):
            described += f", {count:,.0f} rows"
        lines.append(("root" if node == 0 else f"f = {factor:.{max(precision - 1, 1)}f}") + f"   {described}")
        present = _present_text(arrays, node) if arrays.left[node] != LEAF else None
        if present is not None:
            lines.append(present)
        if node in cut:
            lines.append("…")
        face = colormap(0.05 + 0.5 * norm(factor))
        ax.text(x[node], -depth[node], "\n".join(lines), ha="center", va="center", fontsize=7.5, zorder=3,
                gid=f"node-{node}", linespacing=1.3,
                bbox={"boxstyle": "round,pad=0.4", "fc": face, "ec": "0.3", "lw": 0.8})

    ax.set_xlim(-0.6, n_slots - 0.4)
    ax.set_ylim(-(levels - 1) - 0.6, 0.6)
    ax.axis("off")
    mappable = plt.cm.ScalarMappable(norm=colors.Normalize(0.0, 1.0),
                                     cmap=colors.ListedColormap(colormap(np.linspace(0.05, 0.55, 256))))
    bar = fig.colorbar(mappable, ax=ax, fraction=0.025, pad=0.01)
    bar.set_label("pooling factor f")
    heading = ", ".join(part for part in (title, None if k is None else f"k = {_format_mass(k, precision)}") if part)
    ax.set_title(f"{heading}: raw and pooled values, value = value(parent) + f × (raw − raw(parent))"
                 if heading else "raw and pooled values, value = value(parent) + f × (raw − raw(parent))",
                 fontsize=9)
    return fig


# -- the pooling curve -----------------------------------------------------------------------------
def _masses(tree: TreeArrays, method: str) -> np.ndarray:
    """Per non-root node, the mass its pooling factor is a function of."""
    if method == "hs":
        return np.asarray(tree.count, dtype=np.float64)[tree.parent[1:]]
    return np.asarray(tree.weight, dtype=np.float64)[1:]


def _curve(mass: np.ndarray, k: float) -> np.ndarray:
    if not math.isfinite(k):
        return np.zeros_like(mass)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass + k > 0, mass / (mass + k), 1.0)


def plot_pooling(model, *, ax=None, cmap: str = "viridis", figsize=(7.5, 4.8)):
    """The pooling factor of every node against its mass, with each tree's curve ``n / (n + k)``.

    Each point is a non-root node of one tree: its mass ``n`` (``"eb"``: the node's hessian sum for
    boosters, its weighted row count for shrunk models; ``"hs"``: the parent's weighted row count)
    and its pooling factor ``f``.  Each line is a tree's ``n / (n + k)`` with its fitted (or given)
    ``k`` (``pooling_strength_``); colour is the tree's position in the model.  Single-output trees'
    points lie on their tree's curve; trees with several value columns (forest classifiers) show
    the mean factor over the columns and the mean ``k``, so their points lie near it.

    Parameters
    ----------
    model : fitted ShrinkBoostRegressor, ShrinkBoostClassifier or shrunk model
    ax : matplotlib Axes, optional
    cmap : str, default="viridis"
    figsize : (float, float), default=(7.5, 4.8)

    Returns
    -------
    matplotlib.figure.Figure
        The axes hold one ``PathCollection`` (the nodes, gid ``"nodes"``) and one ``LineCollection``
        (the curves, gid ``"curves"``, one segment list per tree).
    """
    from matplotlib import colors
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    trees, ks, method = _all_trees(model)
    masses = [_masses(tree, method) for tree in trees]
    factors = [np.asarray(tree.pooling_factor, dtype=np.float64)[1:] for tree in trees]
    every = np.concatenate(masses) if masses else np.zeros(0)
    positive = every[every > 0]
    low, high = (positive.min(), positive.max()) if len(positive) else (1.0, 10.0)
    grid = np.geomspace(low / 1.5, high * 1.5, 200)
    fig, ax = _new_axes(ax, figsize)
    norm = colors.Normalize(0, max(len(trees) - 1, 1))
    colormap = plt.get_cmap(cmap)
    curves = LineCollection([np.column_stack([grid, _curve(grid, k)]) for k in ks], colors=colormap(norm(
        np.arange(len(trees)))), linewidths=0.8, alpha=0.45, zorder=1, gid="curves")
    ax.add_collection(curves)
    index = np.concatenate([np.full(len(m), i) for i, m in enumerate(masses)]) if masses else np.zeros(0)
    points = ax.scatter(every, np.concatenate(factors) if factors else [], c=index, cmap=colormap, norm=norm, s=9,
                        edgecolors="none", alpha=0.8, zorder=2, gid="nodes")
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(-0.03, 1.03)
    mass_name = {"hs": "parent's weighted row count N", "none": "node mass n"}.get(method, "node mass n")
    if method == "eb":
        mass_name += " (hessian sum)" if _kind(model) == "booster" else " (weighted row count)"
    ax.set_xlabel(mass_name)
    ax.set_ylabel("pooling factor f")
    finite = ks[np.isfinite(ks)]
    summary = "every k infinite"
    if len(finite):
        summary = (f"k from {_format(finite.min(), 3)} to {_format(finite.max(), 3)}, "
                   f"median {_format(np.median(finite), 3)}")
    if len(finite) < len(ks):
        summary += f"; {len(ks) - len(finite)} tree(s) with k = inf (pooled to the root)"
    formula = "N / (N + λ)" if method == "hs" else "n / (n + k)"
    ax.set_title(f"Pooling factor against mass, {len(trees)} trees ({method}): f = {formula}\n{summary}", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    bar = fig.colorbar(points, ax=ax, pad=0.01)
    bar.set_label("tree (in fitting order)")
    return fig


# -- importances ------------------------------------------------------------------------------------
def _shrunk_importances(model, importance_type: str) -> np.ndarray:
    """Per feature, ``split``: its number of splits; ``gain``: the weighted spread its splits add to the
    pooled values, ``sum over children c of weight(c) * (value(c) - value(parent))^2`` (for a regression
    tree with unpooled mean values, the squared-error reduction of the split), normalized to sum to 1."""
    out = np.zeros(model.n_features_in_)
    for tree in model.trees_:
        internal = np.flatnonzero(tree.left != LEAF)
        if importance_type == "split":
            np.add.at(out, tree.feature[internal], 1.0)
            continue
        value = tree.value
        for children in (tree.left[internal], tree.right[internal]):
            spread = np.sum((value[children] - value[internal]) ** 2, axis=1) * tree.weight[children]
            np.add.at(out, tree.feature[internal], spread)
    if importance_type == "gain" and out.sum() > 0:
        out /= out.sum()
    return out


def plot_importance(model, *, importance_type: str | None = None, max_features: int = 20, feature_names=None,
                    ax=None, figsize=None):
    """Horizontal bars of feature importances, largest first.

    Parameters
    ----------
    model : fitted ShrinkBoostRegressor, ShrinkBoostClassifier or shrunk model
    importance_type : {"gain", "split"}, optional
        Boosters: ``gain`` is ``feature_importances_`` with ``importance_type="gain"`` (the loss
        reduction of each feature's splits at the pooled values), ``split`` the number of splits;
        default the model's ``importance_type``.  Shrunk models (default ``gain``): ``gain`` is the
        weighted spread each feature's splits add to the pooled values (``sum weight(c) * (value(c)
        - value(parent))^2`` over the children of its splits, normalized), ``split`` the number of
        splits.
    max_features : int, default=20
    feature_names : list of str, optional
    ax : matplotlib Axes, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        The bars are the axes' patches (gid ``"importance-<feature name>"``), in the drawn order.
    """
    kind = _kind(model)
    importance_type = importance_type or (model.importance_type if kind == "booster" else "gain")
    if importance_type not in ("gain", "split"):
        raise ValueError(f"importance_type must be 'gain' or 'split', got {importance_type!r}.")
    if kind == "booster":
        gain, splits = model._importances
        values = splits.astype(np.float64) if importance_type == "split" else (
            gain / gain.sum() if gain.sum() > 0 else gain)
    else:
        values = _shrunk_importances(model, importance_type)
    names = _feature_names(model, len(values), feature_names)
    order = np.argsort(-values, kind="stable")[:max_features]
    fig, ax = _new_axes(ax, figsize or (6.5, 0.9 + 0.32 * len(order)))
    positions = np.arange(len(order))[::-1]
    bars = ax.barh(positions, values[order], color="#3b7dbf", height=0.7)
    for bar, j in zip(bars, order):
        bar.set_gid(f"importance-{names[j]}")
        text = f"{values[j]:.0f}" if importance_type == "split" else f"{values[j]:.3f}"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + text, va="center", fontsize=8)
    ax.set_yticks(positions, [names[j] for j in order])
    ax.set_xlim(0, max(values.max(), 1e-12) * 1.15 if len(values) else 1)
    what = {"gain": "share of the loss reduction at the pooled values" if kind == "booster"
            else "share of the weighted spread of the pooled values", "split": "number of splits"}[importance_type]
    ax.set_xlabel(what)
    ax.set_title(f"Feature importance ({importance_type}), {type(model).__name__}", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


# -- SHAP summary -----------------------------------------------------------------------------------
def plot_shap_summary(model, X, *, class_index: int | None = None, max_display: int = 20):
    """shap's summary (beeswarm) plot of the model's exact contributions on ``X``; needs shap.

    The values are :meth:`predict_contributions` (path-dependent TreeSHAP on the pooled trees, raw
    score scale), categorical splits included, through :func:`shrinktree.explain.explanation`; the
    colour of a point is the value the trees route on (a category's code for categorical features).

    Parameters
    ----------
    model : fitted ShrinkBoostRegressor, ShrinkBoostClassifier or shrunk model
    X : array-like or pandas DataFrame
    class_index : int, optional
        Required for models with several outputs (multiclass): whose contributions to draw.
    max_display : int, default=20

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        import shap
    except ImportError as exc:
        raise ImportError("plot_shap_summary needs shap: pip install shap.") from exc
    from .explain import explanation

    plt = _pyplot()
    _kind(model)
    explained = explanation(model, X)
    if explained.values.ndim == 3:
        n_outputs = explained.values.shape[2]
        if class_index is None or not 0 <= class_index < n_outputs:
            raise ValueError(f"This model has {n_outputs} outputs: pass class_index in [0, {n_outputs}).")
        explained = explained[:, :, class_index]
    elif class_index not in (None, 0):
        raise ValueError("This model has one output: class_index must be None or 0.")
    fig = plt.figure()
    shap.plots.beeswarm(explained, max_display=max_display, show=False)
    fig = plt.gcf()
    ax = fig.axes[0]
    classes = getattr(model, "classes_", None)
    label = "" if class_index is None else (
        f", class {_class_label(classes, class_index)}" if classes is not None else f", output {class_index}")
    ax.set_title(f"Exact SHAP values (raw score scale){label}", fontsize=10)
    return fig
