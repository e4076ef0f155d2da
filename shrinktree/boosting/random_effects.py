"""Grouping columns of ``random_effects=``: which columns, each row's group, and the fitted levels.

``random_effects`` names one grouping or a list of them.  Each entry is a column of ``X`` (a name for
a DataFrame, an index for arrays) or a tuple of columns: the tuple is the *combination* of its
columns, lme4's ``school:class``.  Class labels that repeat across schools ("class 1" of every
school) are therefore fitted as one crossed grouping when ``"class"`` is passed alone, and as the
classes nested in their schools when passed as ``("school", "class")``; labels are never combined
behind the user's back, because the same data can mean either.  ``["school", ("school", "class")]``
is lme4's ``(1 | school/class)``.  Every column a grouping uses is removed from what the trees see.

A missing label (NaN, None, ``pd.NA``) in a grouping column puts the row at the population level of
that grouping: its intercept is 0 and the row is not used to estimate that grouping's intercepts or
variance (it still counts for the trees and for the other groupings), as lme4 does for a row whose
group is unknown.  At prediction, missing and unseen labels both give 0.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._columns import column_position


@dataclass(frozen=True)
class Grouping:
    """One grouping of the training rows.

    Attributes
    ----------
    name : str
        ``"school"``, or ``"school:class"`` for a combination.
    columns : list
        The columns it combines (names or indices as given).
    levels : list of ndarray
        Per column, its distinct labels among the fitted groups (sorted).
    combos : ndarray of shape (n_groups, n_columns)
        Each group's position in every column's ``levels``.
    codes : ndarray of shape (n_rows,)
        Each training row's group, -1 for a row with a missing label (population level).
    """

    name: str
    columns: list
    levels: list
    combos: np.ndarray
    codes: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of groups with at least one labelled row."""
        return int(self.combos.shape[0])


def normalise_spec(spec) -> list:
    """``random_effects`` as a list of entries, each a column (str or int) or a tuple of columns."""
    entries = list(spec) if isinstance(spec, list) else [spec]
    if isinstance(spec, tuple):
        raise ValueError(f"random_effects={spec!r}: pass several groupings as a list; a tuple inside the list "
                         "combines its columns into one (nested) grouping, e.g. ['school', ('school', 'class')].")
    if not entries:
        raise ValueError("random_effects is an empty list: give at least one grouping column, or None.")
    out = []
    for entry in entries:
        columns = list(entry) if isinstance(entry, tuple) else [entry]
        if isinstance(entry, tuple) and len(columns) < 2:
            raise ValueError(f"A combined grouping needs at least two columns, got {entry!r}.")
        for column in columns:
            if not (isinstance(column, str) or (isinstance(column, numbers.Integral)
                                                and not isinstance(column, bool))):
                raise ValueError(f"random_effects holds {column!r}: columns are given by integer position or by "
                                 "name (or tuples of them, for a combined grouping).")
        if len(set(columns)) != len(columns):
            raise ValueError(f"The combined grouping {entry!r} repeats a column.")
        out.append(tuple(columns) if isinstance(entry, tuple) else entry)
    names = [_name(e) for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"random_effects lists the same grouping twice: {names}.")
    return out


def _name(entry) -> str:
    return ":".join(map(str, entry)) if isinstance(entry, tuple) else str(entry)


def _position(X, column, n_columns: int) -> int:
    names = list(X.columns) if isinstance(X, pd.DataFrame) else None
    return column_position(column, n_columns, names, "random_effects")


AUTO_GROUPING_RULES = ("main", "every")


def auto_groupings(X, y, is_classifier: bool, rule: str, min_levels: int) -> list | None:
    """The categorical columns of ``X`` a measurement of random intercepts takes as groupings, or ``None``.

    ``rule="main"``: the column with the most levels; ``"every"``: every such column (crossed groupings); in
    both, only ``category`` columns of a DataFrame with at least ``min_levels`` levels present count.  ``None``
    when there is none, or for a classifier with more than two classes (random intercepts are binary only).
    """
    if rule not in AUTO_GROUPING_RULES:
        raise ValueError(f"_auto_random_effects rule must be one of {AUTO_GROUPING_RULES}, got {rule!r}.")
    if isinstance(min_levels, bool) or not isinstance(min_levels, numbers.Integral) or min_levels < 2:
        raise ValueError(f"_auto_random_effects needs an integer of at least 2 levels, got {min_levels!r}.")
    if not isinstance(X, pd.DataFrame):
        return None
    if is_classifier and pd.Series(np.asarray(y, dtype=object)).nunique() > 2:
        return None
    many = [(X[c].nunique(), position, c) for position, c in enumerate(X.columns)
            if isinstance(X[c].dtype, pd.CategoricalDtype) and X[c].nunique() >= min_levels]
    if not many:
        return None
    many.sort(key=lambda t: (-t[0], t[1]))  # most levels first; ties in column order
    return [c for _, _, c in many] if rule == "every" else [many[0][2]]


def split_columns(X, spec):
    """``(X without the grouping columns, [per entry: list of label arrays], [names])``."""
    entries = normalise_spec(spec)
    if isinstance(X, pd.DataFrame):
        n_columns = X.shape[1]
    else:
        X = np.asarray(X) if hasattr(X, "shape") else np.asarray(X, dtype=object)
        if X.ndim != 2:
            raise ValueError(f"X must be two-dimensional, got shape {X.shape}.")
        n_columns = X.shape[1]
    positions = [[_position(X, c, n_columns) for c in (e if isinstance(e, tuple) else (e,))] for e in entries]
    used = sorted({p for group in positions for p in group})
    if isinstance(X, pd.DataFrame):
        labels = [[X.iloc[:, p].to_numpy() for p in group] for group in positions]
        rest = X.drop(columns=[X.columns[p] for p in used])
        names = [":".join(str(X.columns[p]) for p in group) for group in positions]
    else:
        labels = [[X[:, p] for p in group] for group in positions]
        rest = np.delete(X, used, axis=1)
        if rest.dtype == object:
            try:
                rest = rest.astype(np.float64)
            except (TypeError, ValueError):
                pass
        names = [":".join(str(p) for p in group) for group in positions]
    if rest.shape[1] == 0:
        raise ValueError("random_effects leaves no column for the trees: X needs at least one other feature.")
    return rest, labels, names


def _missing(labels) -> np.ndarray:
    return pd.isna(pd.Series(labels, dtype=object if np.asarray(labels).dtype == object else None)).to_numpy()


def _encode_column(labels):
    """Sorted distinct non-missing labels and each row's code (-1 for missing)."""
    labels = np.asarray(labels)
    missing = _missing(labels)
    present = labels[~missing]
    try:
        levels, inverse = np.unique(present, return_inverse=True)
    except TypeError:  # labels of mixed types are compared as strings
        present = present.astype(str)
        levels, inverse = np.unique(present, return_inverse=True)
    codes = np.full(len(labels), -1, dtype=np.int64)
    codes[~missing] = inverse
    return levels, codes


def encode_grouping(name: str, columns, label_arrays) -> Grouping:
    """The groups of the training rows for one entry (see :class:`Grouping`)."""
    per_column = [_encode_column(labels) for labels in label_arrays]
    if len(per_column) == 1:
        levels, codes = per_column[0]
        return Grouping(name, list(columns), [levels], np.arange(len(levels), dtype=np.int64)[:, None], codes)
    stacked = np.stack([codes for _, codes in per_column], axis=1)
    known = np.all(stacked >= 0, axis=1)
    combos, inverse = np.unique(stacked[known], axis=0, return_inverse=True)
    codes = np.full(len(stacked), -1, dtype=np.int64)
    codes[known] = inverse.ravel()
    # keep, per column, only the labels that some group uses
    levels, remapped = [], []
    for c, (column_levels, _) in enumerate(per_column):
        used, position = np.unique(combos[:, c], return_inverse=True)
        levels.append(column_levels[used])
        remapped.append(position.ravel())
    return Grouping(name, list(columns), levels, np.stack(remapped, axis=1).astype(np.int64), codes)


def _positions(levels, labels) -> np.ndarray:
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    missing = _missing(labels)
    try:
        position = pd.Index(levels).get_indexer(pd.Index(labels))
    except TypeError:
        position = pd.Index(np.asarray(levels).astype(str)).get_indexer(pd.Index(labels.astype(str)))
    position = np.asarray(position, dtype=np.int64)
    position[missing] = -1
    return position


def row_codes(levels: list, combos: np.ndarray, label_arrays) -> np.ndarray:
    """Each row's group among the fitted ones, -1 for a missing or unseen label."""
    positions = [_positions(column_levels, labels) for column_levels, labels in zip(levels, label_arrays)]
    if len(positions) == 1:
        return positions[0]
    fitted = pd.MultiIndex.from_arrays([combos[:, c] for c in range(combos.shape[1])])
    codes = np.asarray(fitted.get_indexer(pd.MultiIndex.from_arrays(positions)), dtype=np.int64)
    codes[np.any(np.stack(positions, axis=1) < 0, axis=1)] = -1
    return codes


def lookup(estimate: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each row's intercept: its group's estimate, 0 (the population level) for code -1."""
    out = np.zeros(len(codes))
    known = codes >= 0
    out[known] = estimate[codes[known]]
    return out


def check_distinct(groupings: list) -> None:
    """A grouping must have two levels, and no two groupings may split the rows the same way."""
    for g in groupings:
        if g.n_groups < 2:
            raise ValueError(f"The random-effects grouping {g.name!r} has {g.n_groups} level(s) among the rows "
                             "with a label: a grouping needs at least two levels to estimate a between-group "
                             "variance.")
    for i, a in enumerate(groupings):
        for b in groupings[i + 1:]:
            if a.n_groups != b.n_groups or not np.array_equal(a.codes < 0, b.codes < 0):
                continue
            known = a.codes >= 0
            pairs = np.unique(a.codes[known] * b.n_groups + b.codes[known])
            if len(pairs) == a.n_groups:
                raise ValueError(f"The random-effects groupings {a.name!r} and {b.name!r} split the rows into the "
                                 "same groups: their intercepts cannot be told apart. Drop one of them.")
