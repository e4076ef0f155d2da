"""``shrink``: post-hoc partial pooling of a fitted tree model's node values."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight

from ..variance_components import resolve_variance_estimator
from .adapters import SUPPORTED, parse_model
from .inputs import tree_matrix
from .model import check_model_offset, make_model
from .parsed import ParsedModel
from .pooling import eb_boosted, eb_forest, hs_pool, none_pool, recount
from .selection import check_grid, choose_cv, choose_gcv

__all__ = ["METHODS", "SUPPORTED", "parse_model", "shrink", "validate_data"]

METHODS = ("eb", "hs", "none")


def validate_data(parsed: ParsedModel, X, y, sample_weight):
    """Check ``X, y, sample_weight`` against the model.

    Returns the tree matrix of ``X``, encoded ``y``, weights, whether weights were given, and the
    ``X``, ``y`` to refit the model with (``X`` as given when it has categorical columns).
    """
    if X is None and y is None:
        if sample_weight is not None:
            raise ValueError("sample_weight was given without X and y.")
        return None
    if X is None or y is None:
        raise ValueError("Pass both X and y (the training rows), or neither.")
    X_checked, X_tree = tree_matrix(parsed, X)
    X_fit = X if parsed.input_map is not None else X_checked
    X = X_tree
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1 and parsed.n_outputs == 1:
        y = y.ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}.")
    if parsed.is_classifier:
        if y.ndim != 1:
            raise ValueError("y must be one-dimensional for a classifier.")
        classes = np.asarray(parsed.classes)
        index = np.searchsorted(classes, y) if classes.dtype.kind != "O" else None
        if index is None or np.any(index >= len(classes)) or np.any(classes[np.minimum(index, len(classes) - 1)] != y):
            lookup = {c: i for i, c in enumerate(classes.tolist())}
            try:
                index = np.array([lookup[v] for v in y.tolist()], dtype=np.int64)
            except KeyError as exc:
                raise ValueError(f"y holds the label {exc.args[0]!r}, which is not among the model's classes "
                                 f"{classes.tolist()}.") from None
        y_enc = index.astype(np.float64)
    else:
        y_enc = check_array(y, dtype=np.float64, ensure_2d=False, ensure_all_finite=True)
        if parsed.link == "identity" and parsed.n_outputs > 1:
            if y_enc.ndim != 2 or y_enc.shape[1] != parsed.n_outputs:
                raise ValueError(f"y must have {parsed.n_outputs} columns for this multi-output model.")
        elif y_enc.ndim != 1:
            raise ValueError("y must be one-dimensional.")
    w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive entry.")
    return X_tree, y_enc, np.ascontiguousarray(w), sample_weight is not None, X_fit, y


def _check_strength(method: str, strength):
    if method != "hs":
        if strength is not None:
            raise ValueError(f"strength applies to method='hs' only; method={method!r} needs no tuning.")
        return
    if isinstance(strength, str):
        if strength not in ("cv", "gcv"):
            raise ValueError(f"strength must be a number >= 0, 'cv' or 'gcv', got {strength!r}.")
        return
    if strength is None:
        raise ValueError("method='hs' needs strength: a lambda >= 0, 'cv' or 'gcv'.")
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not np.isfinite(strength) \
            or strength < 0:
        raise ValueError(f"strength must be a finite number >= 0, 'cv' or 'gcv', got {strength!r}.")


def shrink(model, X=None, y=None, *, method: str = "eb", strength: float | str | None = None, sample_weight=None,
           offset=None, cv: int = 5, scoring=None, grid=None, random_state: int | None = 0,
           variance_estimator: str = "auto"):
    """Shrink the node values of a fitted tree model toward their parents, keeping its structure.

    ``value(child) = value(parent) + (raw(child) - raw(parent)) * f``; the methods differ in ``f``.

    Parameters
    ----------
    model : fitted estimator
        A scikit-learn tree, forest or gradient-boosting model, a LightGBM / XGBoost model
        (estimator or ``Booster``), or a shrinktree ``ShrinkBoostRegressor``/``ShrinkBoostClassifier``
        (read with its pooled values, so ``"none"`` reproduces it).  It is not modified.
    X, y : array-like or pandas DataFrame, optional
        The training rows.  Categorical columns are accepted for LightGBM models fitted on a DataFrame
        with ``category`` columns and for shrinktree boosters (see ``docs/posthoc.md``).
        ``"eb"`` uses them for honest (out-of-bag) estimation in bootstrapped
        forests and to recompute the gradient statistics of boosted models; ``strength='cv'``/``'gcv'``
        need them; models that store no node counts (XGBoost) count rows with them.
    method : {"eb", "hs", "none"}, default="eb"
        ``"eb"``: ``f = n/(n+k)`` with ``k = sigma^2/tau^2`` estimated per tree from node statistics
        (no tuning); ``"hs"``: Hierarchical Shrinkage, ``f = N(parent)/(N(parent)+lambda)``;
        ``"none"``: the model as it is (``f = 1``).
    strength : float, "cv" or "gcv", optional
        ``lambda`` of ``"hs"``.  ``"cv"``: chosen from ``grid`` by ``cv``-fold cross-validation (one
        refit per fold, shrunk with every ``lambda``), scored by ``scoring``; ``"gcv"``: generalised
        cross-validation without refits (regression trees and forests).
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the rows of ``X`` (used in the statistics, the folds' fits and their scores).
    offset : array-like of shape (n_samples,), optional
        shrinktree regressors fitted with ``fit(..., offset=)`` (``log(exposure)`` for rates): the
        offsets of the rows of ``X``, which ``"eb"`` adds to the raw scores it replays the fit at.
        The shrunk model's ``predict(X, offset=)`` takes the offsets of the rows it predicts.
    cv : int, default=5
        Folds for ``strength='cv'``.
    scoring : str or callable, optional
        scikit-learn scorer for ``strength='cv'``; default: negative (weighted) log loss for
        classifiers, the negative mean loss a boosted regressor was fitted with (half squared error,
        half Poisson / gamma / Tweedie deviance, pinball loss, ...) and negative mean squared error
        for trees and forests.
    grid : sequence of float, optional
        Candidate ``lambda`` values (default ``selection.DEFAULT_GRID``).
    random_state : int or None, default=0
        Shuffling of the cross-validation folds.
    variance_estimator : {"auto", "moments", "ml", "reml", "bayes"}, default="auto"
        How ``"eb"`` estimates each tree's ``tau^2`` from its splits, ``sigma^2`` given by the within-node
        residuals (:func:`shrinktree.variance_components.tree_between_variance`): the method of moments,
        maximum (restricted) likelihood, or the posterior mean under the uniform shrinkage prior;
        ``"auto"`` is ``"moments"``.  Other methods take only ``"auto"``.

    Returns
    -------
    ShrunkModelRegressor or ShrunkModelClassifier
        A new fitted model with ``predict`` (and ``predict_proba``), ``trees_``, ``pooling_factors_``
        and ``pooling_strength_``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    _check_strength(method, strength)
    estimator = resolve_variance_estimator(variance_estimator, auto="moments")
    if method != "eb" and variance_estimator != "auto":
        raise ValueError(f"variance_estimator applies to method='eb' only; method={method!r} estimates no "
                         "variance components.")
    parsed = parse_model(model)
    checked = validate_data(parsed, X, y, sample_weight)
    data = None if checked is None else checked[:4]
    if offset is not None:
        if data is None:
            raise ValueError("offset was given without X and y: it holds the offsets of the training rows.")
        offset = check_model_offset(parsed, offset, data[0].shape[0], "fit")
        if method == "hs" and isinstance(strength, str):
            raise ValueError(f"strength={strength!r} refits the model on folds without offsets; pass a number "
                             "or use method='eb'.")
    if data is not None and not parsed.counts_are_rows:
        recount(parsed, data[0], data[2])
    chosen = strength
    if method == "hs" and isinstance(strength, str):
        if data is None:
            raise ValueError(f"strength={strength!r} needs the training rows X and y.")
        lam_grid = check_grid(grid)
        if strength == "gcv":
            chosen, _ = choose_gcv(parsed, data[0], data[1], data[2], lam_grid)
        else:
            X_raw, y_raw = checked[4], checked[5]
            chosen, _ = choose_cv(model, X_raw, y_raw, None if sample_weight is None else data[2],
                                  parse=parse_model, grid=lam_grid, cv=cv, scoring=scoring,
                                  random_state=random_state, is_classifier=parsed.is_classifier)
    if method == "hs":
        ks = hs_pool(parsed, float(chosen))
        source = "node counts stored in the model" if parsed.counts_are_rows or data is None \
            else "node counts of X"
    elif method == "none":
        ks, source = none_pool(parsed), "none"
    elif parsed.kind == "forest":
        ks, source = eb_forest(parsed, data, estimator)
    else:
        ks, source = eb_boosted(parsed, data, offset, estimator)
    parsed.release()
    return make_model(parsed, method, None if method != "hs" else float(chosen), ks, source)
