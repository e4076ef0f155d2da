"""Random intercepts for :class:`ShrinkBoostRegressor` with squared error (``random_effects=``).

The model is ``y = f(x) + b_group + e`` with ``b ~ N(0, tau^2)`` and ``e ~ N(0, sigma^2 / w)``: ``f`` is
the boosted, pooled ensemble on the other columns, ``b`` one random intercept per level of the grouping
column.  Fitting alternates (backfitting, as in MERF):

1. fit the booster on the other columns with the current intercepts as an ``offset``;
2. on the residuals ``y - f(x)`` estimate ``tau^2`` and ``sigma^2`` by REML and the intercepts by their
   BLUPs (:func:`shrinktree.variance_components.fit_variance_components`);

starting from intercepts of zero, until the rows' intercepts move by less than ``TOLERANCE sd(y)``
(root mean square over the rows) or after ``MAX_ITERATIONS`` rounds.  Each round refits the whole
booster, so a fit costs a few booster fits (typically 3-5 rounds); the booster's own refits are not
exactly smooth in the offsets, so the intercepts settle to within that noise rather than to zero
change.  The grouping column is never given to the trees, so the trees and the intercepts cannot both
explain the group means: the intercepts take what the groups share beyond the features, pooled toward
zero.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..variance_components import fit_variance_components

MAX_ITERATIONS = 10
TOLERANCE = 1e-2


def resolve_grouping(X, spec):
    """``(X without the grouping column, group labels, name, column)`` for ``random_effects=spec``."""
    if isinstance(spec, (list, tuple)):
        if len(spec) != 1:
            raise ValueError(f"random_effects takes one grouping column for now, got {len(spec)}: {list(spec)!r}.")
        spec = spec[0]
    if isinstance(X, pd.DataFrame):
        if isinstance(spec, str):
            if spec not in X.columns:
                raise ValueError(f"The random-effects column {spec!r} is not in X (columns: {list(X.columns)}).")
            position = list(X.columns).index(spec)
        elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
            position = int(spec)
        else:
            raise ValueError(f"random_effects must be a column name or index, got {spec!r}.")
        if not 0 <= position < X.shape[1]:
            raise ValueError(f"The random-effects column index {position} is out of range for {X.shape[1]} columns.")
        column = X.columns[position]
        labels = X.iloc[:, position].to_numpy()
        rest = X.drop(columns=[column])
        name = str(column)
    else:
        if isinstance(spec, str):
            raise ValueError(f"random_effects={spec!r} names a column, but X has no column names: pass a "
                             "DataFrame or the column's index.")
        if not isinstance(spec, numbers.Integral) or isinstance(spec, bool):
            raise ValueError(f"random_effects must be a column name or index, got {spec!r}.")
        arr = np.asarray(X) if hasattr(X, "shape") else np.asarray(X, dtype=object)
        if arr.ndim != 2:
            raise ValueError(f"X must be two-dimensional, got shape {arr.shape}.")
        position = int(spec)
        if not 0 <= position < arr.shape[1]:
            raise ValueError(f"The random-effects column index {position} is out of range for {arr.shape[1]} "
                             "columns.")
        labels = arr[:, position]
        rest = np.delete(arr, position, axis=1)
        if rest.dtype == object:
            try:
                rest = rest.astype(np.float64)
            except (TypeError, ValueError):
                pass
        name = str(position)
    if rest.shape[1] == 0:
        raise ValueError("random_effects leaves no column for the trees: X needs at least one other feature.")
    return rest, labels, name, position


def check_labels(labels) -> None:
    """Missing group labels are an error (a row without a group has no intercept to estimate)."""
    missing = pd.isna(pd.Series(labels)).to_numpy()
    if missing.any():
        raise ValueError(f"The random-effects column has {int(missing.sum())} missing value(s): give them a "
                         "level of their own (for example the string 'missing') or drop those rows.")


def encode_labels(labels):
    """Sorted distinct labels and each row's code; labels of mixed types are compared as strings."""
    try:
        levels, codes = np.unique(labels, return_inverse=True)
    except TypeError:
        levels, codes = np.unique(labels.astype(str), return_inverse=True)
    return levels, codes


def lookup(levels, estimates, labels):
    """Each row's intercept: its level's estimate, 0 (the population level) for an unseen level."""
    out = np.zeros(len(labels))
    if len(labels) == 0:
        return out
    try:
        index = pd.Index(levels)
        position = index.get_indexer(pd.Index(labels))
    except TypeError:
        position = pd.Index(levels.astype(str)).get_indexer(pd.Index(np.asarray(labels).astype(str)))
    known = position >= 0
    out[known] = estimates[position[known]]
    return out


def estimate_intercepts(residual, codes, sample_weight):
    """REML variance components and BLUPs of the residuals by group."""
    return fit_variance_components(residual, codes, sample_weight=sample_weight, method="reml")
