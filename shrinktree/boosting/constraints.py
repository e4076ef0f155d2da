"""Monotonic and interaction constraints, in scikit-learn's formats.

:func:`resolve_monotonic_cst` and :func:`resolve_interaction_cst` check the estimators' parameters
against the fitted columns; :class:`InteractionSets` tells the grower which features a node may split
on; :func:`split_signs` gives each node of a fitted tree the constraint of its split, for the pooling
(``docs/shrinkage.md``, "Pooling keeps monotone constraints").
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from .._columns import column_position

INTERACTION_SHORTHANDS = ("pairwise", "no_interactions")


def _feature_label(j: int, feature_names) -> str:
    return repr(str(feature_names[j])) if feature_names is not None else str(j)


def _constraint_value(value, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or value not in (-1, 0, 1):
        raise ValueError(f"{where} must be -1 (decreasing), 0 (no constraint) or 1 (increasing); got {value!r}.")
    return int(value)


def resolve_monotonic_cst(spec, n_features: int, feature_names, is_categorical: np.ndarray,
                          n_trees_per_iteration: int) -> np.ndarray | None:
    """The monotonic constraint of every column of ``X`` (int8: 1, -1 or 0), or ``None`` when there is none.

    ``spec`` is scikit-learn's format: ``None``, an array-like of -1/0/1 by position, or a dict by
    feature name (``X`` must then be a DataFrame; unlisted features are unconstrained).
    """
    if spec is None:
        return None
    if n_trees_per_iteration != 1:
        raise ValueError("monotonic_cst is not supported for multiclass classification (as in scikit-learn): "
                         "a monotone score per class does not make the class probabilities monotone.")
    cst = np.zeros(n_features, dtype=np.int8)
    if isinstance(spec, dict):
        if feature_names is None:
            raise ValueError("monotonic_cst is a dict by feature name, but X has no column names: fit on a "
                             "DataFrame with string column names, or pass an array of -1/0/1 by position.")
        names = [str(name) for name in feature_names]
        unknown = sorted(str(key) for key in spec if str(key) not in names or not isinstance(key, str))
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(f"monotonic_cst names {len(unknown)} feature(s) that X does not have: {shown}.")
        for key, value in spec.items():
            cst[names.index(key)] = _constraint_value(value, f"monotonic_cst[{key!r}]")
    else:
        if isinstance(spec, (str, bytes)):
            raise ValueError(f"monotonic_cst must be an array-like of -1, 0 or 1 per feature, or a dict by feature "
                             f"name; got {spec!r}.")
        values = np.asarray(spec, dtype=object)
        if values.ndim != 1:
            raise ValueError(f"monotonic_cst must be one-dimensional (one value per feature); got shape "
                             f"{values.shape}.")
        if len(values) != n_features:
            raise ValueError(f"monotonic_cst has {len(values)} values, but X has {n_features} features.")
        for j, value in enumerate(values.tolist()):
            cst[j] = _constraint_value(value, f"monotonic_cst[{j}]")
    categorical = np.flatnonzero((cst != 0) & np.asarray(is_categorical, dtype=bool))
    if len(categorical):
        labels = ", ".join(_feature_label(j, feature_names) for j in categorical)
        raise ValueError(f"monotonic_cst constrains the categorical feature(s) {labels}: a monotonic constraint "
                         "needs ordered values, so it applies to numeric features only.")
    return cst if np.any(cst != 0) else None


def _group_members(group, n_features: int, feature_names, where: str) -> set[int]:
    if isinstance(group, (str, bytes, numbers.Number)) or not hasattr(group, "__iter__"):
        raise ValueError(f"{where} must be a list, tuple or set of features; got {group!r}. interaction_cst is a "
                         "sequence of such groups, 'pairwise' or 'no_interactions'.")
    return {column_position(feature, n_features, feature_names, where) for feature in group}


def resolve_interaction_cst(spec, n_features: int, feature_names) -> list[list[int]] | None:
    """The interaction groups as sorted lists of columns of ``X``, or ``None`` when there is no constraint.

    ``spec`` is scikit-learn's format: ``None``, ``"pairwise"``, ``"no_interactions"``, or a sequence of
    groups (lists, tuples or sets of feature positions, or of column names for a DataFrame).  As in
    scikit-learn, the features in no group form one more group together.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec == "pairwise":
            groups = [set(pair) for pair in itertools.combinations(range(n_features), 2)]
        elif spec == "no_interactions":
            groups = [{j} for j in range(n_features)]
        else:
            raise ValueError(f"interaction_cst must be 'pairwise', 'no_interactions' or a sequence of feature "
                             f"groups; got {spec!r}.")
    else:
        if isinstance(spec, (bytes, numbers.Number, dict)) or not hasattr(spec, "__iter__"):
            raise ValueError(f"interaction_cst must be 'pairwise', 'no_interactions' or a sequence of feature "
                             f"groups (lists, tuples or sets); got {spec!r}.")
        if iter(spec) is spec:
            raise ValueError("interaction_cst must be a sequence of feature groups (a list or tuple), not an "
                             "iterator: an iterator is used up by the first fit.")
        groups = [_group_members(group, n_features, feature_names, f"interaction_cst[{i}]")
                  for i, group in enumerate(spec)]
    rest = set(range(n_features)).difference(*groups)
    if rest:
        groups.append(rest)
    return [sorted(group) for group in groups]


class InteractionSets:
    """Interaction groups in the grower's numbering of features (numeric and categorical separately).

    A node's path has used features that all lie in each of the node's *groups* (the root: every group);
    it may split on any feature of those groups, and its children keep the groups holding the feature
    it split on.

    Parameters
    ----------
    groups : list of list of int
        Columns of ``X`` per group (:func:`resolve_interaction_cst`).
    numeric_index, categorical_index : ndarray of int
        Column of ``X`` of each numeric and each categorical feature the grower indexes.
    """

    def __init__(self, groups, numeric_index, categorical_index):
        n_columns = len(numeric_index) + len(categorical_index)
        local = np.full(n_columns, -1, dtype=np.int64)
        is_cat = np.zeros(n_columns, dtype=bool)
        local[numeric_index] = np.arange(len(numeric_index))
        local[categorical_index] = np.arange(len(categorical_index))
        is_cat[categorical_index] = True
        self.n_numeric, self.n_categorical = len(numeric_index), len(categorical_index)
        # A feature is (whether it is categorical, its index among the numeric or categorical features).
        self.groups = [frozenset((bool(is_cat[j]), int(local[j])) for j in group) for group in groups]
        self._masks = {}

    def masks(self, groups) -> tuple[np.ndarray, np.ndarray]:
        """Numeric and categorical features a node with ``groups`` (``None``: all) may split on."""
        key = None if groups is None else tuple(groups)
        if key not in self._masks:
            numeric = np.zeros(self.n_numeric, dtype=np.bool_)
            categorical = np.zeros(self.n_categorical, dtype=np.bool_)
            for g in range(len(self.groups)) if key is None else key:
                for is_cat, j in self.groups[g]:
                    (categorical if is_cat else numeric)[j] = True
            self._masks[key] = (numeric, categorical)
        return self._masks[key]

    def after_split(self, groups, feature: int, is_categorical: bool) -> tuple[int, ...]:
        """The groups of the children of a node with ``groups`` split on ``feature``."""
        candidates = range(len(self.groups)) if groups is None else groups
        return tuple(g for g in candidates if (is_categorical, int(feature)) in self.groups[g])


def split_signs(tree, monotonic_cst: np.ndarray | None) -> np.ndarray | None:
    """Per node of ``tree`` (a :class:`~shrinktree._tree.TreeArrays`), the monotonic constraint of its split:
    1, -1, or 0 for leaves, categorical and unconstrained splits; ``None`` without constraints."""
    if monotonic_cst is None:
        return None
    internal = (tree.left >= 0) & (tree.is_categorical == 0)
    sign = np.zeros(tree.n_nodes, dtype=np.int8)
    sign[internal] = np.asarray(monotonic_cst, dtype=np.int8)[tree.feature[internal]]
    return sign
