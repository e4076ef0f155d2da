"""Choosing the ``lambda`` of Hierarchical Shrinkage: K-fold cross-validation and generalised CV."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.metrics import check_scoring, log_loss, mean_squared_error
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import _safe_indexing

from .._shrinkage import hs_factors, pool_values
from .._tree import FlatForest
from .model import make_model
from .parsed import ParsedModel
from .pooling import hs_pool

DEFAULT_GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def check_grid(grid: Sequence[float] | None) -> np.ndarray:
    """The lambda grid as a sorted array of finite non-negative numbers."""
    values = np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"grid must be a non-empty sequence of finite numbers >= 0, got {grid!r}.")
    return np.unique(values)


def _default_score(model, X, y, w) -> float:
    if hasattr(model, "predict_proba"):
        proba = np.clip(model.predict_proba(X), 1e-15, 1.0)
        return -log_loss(y, proba, sample_weight=w, labels=model.classes_)
    loss = model._parsed.loss_function
    if loss is not None:
        # A boosted regressor is scored by the mean loss it was fitted with (half squared error, which
        # ranks the grid as the squared error does, half Poisson deviance, pinball loss, ...).
        return -loss.loss(np.asarray(y, dtype=np.float64), model._raw(X), np.ones(len(y)) if w is None else w)
    pred = model.predict(X)
    return -mean_squared_error(y, pred, sample_weight=w)


def choose_cv(model, X, y: np.ndarray, w: np.ndarray | None, *, parse: Callable[[object], ParsedModel],
              grid: np.ndarray, cv: int, scoring, random_state, is_classifier: bool) -> tuple[float, np.ndarray]:
    """``lambda`` with the best mean held-out score over ``cv`` folds.

    Each fold fits a clone of ``model`` once and shrinks that fit with every ``lambda`` of the grid.

    Returns
    -------
    best : float
    scores : ndarray of shape (n_folds, len(grid))
        Held-out scores (greater is better).
    """
    try:
        fresh = clone(model)
    except TypeError as exc:
        raise TypeError(f"strength='cv' refits the model on folds, which needs a scikit-learn compatible "
                        f"estimator; {type(model).__name__} cannot be cloned. Pass a number or use method='eb'.") \
            from exc
    if not isinstance(cv, int) or isinstance(cv, bool) or cv < 2:
        raise ValueError(f"cv must be an int >= 2, got {cv!r}.")
    splitter = (StratifiedKFold if is_classifier else KFold)(n_splits=cv, shuffle=True, random_state=random_state)
    scorer = None if scoring is None else check_scoring(fresh, scoring=scoring)
    scores = np.zeros((cv, len(grid)))
    for fold, (train, test) in enumerate(splitter.split(X, y)):
        est = clone(fresh)
        X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
        if w is None:
            est.fit(X_train, y[train])
        else:
            est.fit(X_train, y[train], sample_weight=w[train])
        parsed = parse(est)
        w_test = None if w is None else w[test]
        for j, lam in enumerate(grid):
            hs_pool(parsed, lam)
            shrunk = make_model(parsed, "hs", lam, [lam] * len(parsed.trees), "stored node counts")
            if scorer is None:
                scores[fold, j] = _default_score(shrunk, X_test, y[test], w_test)
            elif w_test is None:
                scores[fold, j] = scorer(shrunk, X_test, y[test])
            else:
                scores[fold, j] = scorer(shrunk, X_test, y[test], sample_weight=w_test)
    mean = scores.mean(axis=0)
    return float(grid[int(np.argmax(mean))]), scores


def hs_trace(parsed: ParsedModel, strength: float) -> float:
    """Effective degrees of freedom ``tr(S)`` of the shrunk forest's smoother on its training rows.

    A row ``i`` in leaf ``L`` gets ``d(L) w_i`` of its own target back, where ``d`` pools the
    values ``1/N`` down the path exactly like the node means (the mean of a node puts ``w_i/N``
    on each of its rows).  Summing over the rows of each leaf gives ``N(L) d(L)``.
    """
    total = 0.0
    for tree in parsed.trees:
        count = tree.count
        inv = np.where(count > 0, 1.0 / np.where(count > 0, count, 1.0), 0.0).reshape(-1, 1)
        d = np.empty_like(inv)
        pool_values(tree.parent, inv, hs_factors(tree.parent, count, float(strength)), d)
        leaves = tree.left < 0
        total += float(np.sum(count[leaves] * d[leaves, 0]))
    return total / len(parsed.trees)


def choose_gcv(parsed: ParsedModel, X: np.ndarray, y: np.ndarray, w: np.ndarray,
               grid: np.ndarray) -> tuple[float, np.ndarray]:
    """``lambda`` minimising generalised cross-validation, ``(RSS/W) / (1 - tr(S)/W)^2``, without refits.

    For regression trees and forests, whose shrunk prediction is linear in the training targets.
    ``X, y`` must be the rows the model was fitted on.
    """
    if parsed.kind != "forest" or parsed.is_classifier:
        raise ValueError("strength='gcv' is available for regression trees and forests; use strength='cv' for "
                         f"{parsed.source}.")
    W = float(np.sum(w))
    Y = y.reshape(len(y), -1)
    gcv = np.empty(len(grid))
    for j, lam in enumerate(grid):
        hs_pool(parsed, lam)
        forest = FlatForest.from_trees(parsed.trees)
        pred = forest.predict_sum(X, parsed.tree_output, parsed.n_outputs) / len(parsed.trees)
        rss = float(np.sum(w[:, None] * (Y - pred) ** 2)) / Y.shape[1]
        dof = hs_trace(parsed, lam)
        gcv[j] = (rss / W) / (1.0 - dof / W) ** 2 if dof < W else np.inf
    return float(grid[int(np.argmin(gcv))]), gcv
