"""Dask collections as lists of partitions, and the facts of their columns the client can know without data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import _get_feature_names

from ..boosting.categorical import CategoricalEncoder, _is_text_or_category, check_columns


def is_dask_collection(value) -> bool:
    import dask

    return dask.is_dask_collection(value)


def _kind(value) -> str:
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(value, da.Array):
        return "array"
    if isinstance(value, dd.DataFrame):
        return "frame"
    if isinstance(value, dd.Series):
        return "series"
    raise TypeError(f"Expected a dask array, DataFrame or Series; got {type(value).__name__}. (For data in memory "
                    "use ShrinkBoostRegressor / ShrinkBoostClassifier.)")


def meta_of(X):
    """An empty pandas DataFrame or numpy array with the columns (and dtypes) of the dask collection ``X``."""
    kind = _kind(X)
    if kind == "series":
        raise TypeError("X must be a dask DataFrame or a 2-D dask array, not a Series.")
    if kind == "frame":
        return X._meta
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D dask array, got {X.ndim} dimension(s).")
    if np.isnan(X.shape[1]):
        raise ValueError("X has an unknown number of columns.")
    return np.empty((0, int(X.shape[1])), dtype=X.dtype)


def partitions_of(value, name: str) -> list:
    """The delayed row partitions of a dask collection (``None`` gives ``None``)."""
    if value is None:
        return None
    kind = _kind(value)
    if kind == "array":
        if value.ndim == 2:
            if value.numblocks[1] != 1:
                value = value.rechunk({1: value.shape[1]})
            return list(value.to_delayed()[:, 0])
        if value.ndim != 1:
            raise ValueError(f"{name} must be one- or two-dimensional, got {value.ndim} dimensions.")
        return list(value.to_delayed())
    return list(value.to_delayed())


def aligned_partitions(X, *others) -> list[list]:
    """Partitions of ``X`` and of each of ``others`` (``(value, name)`` pairs), which must match in number."""
    parts_x = partitions_of(X, "X")
    out = [parts_x]
    for value, name in others:
        parts = partitions_of(value, name)
        if parts is not None and len(parts) != len(parts_x):
            raise ValueError(f"X has {len(parts_x)} partitions but {name} has {len(parts)}: partition them alike "
                             "(same chunks along the rows).")
        out.append(parts if parts is not None else [None] * len(parts_x))
    return out


def column_facts(meta, categorical_features):
    """``(n_features, column names, feature_names_in_, categorical mask, text-column flags)`` of ``meta``."""
    from ..boosting.categorical import resolve_categorical_features

    check_columns(meta)
    n_features = meta.shape[1]
    if n_features < 1:
        raise ValueError("X has no columns; at least one feature is required.")
    mask = resolve_categorical_features(meta, categorical_features)
    mask = np.zeros(n_features, dtype=bool) if mask is None else mask
    text = np.zeros(n_features, dtype=bool)
    for j in np.flatnonzero(mask):
        if isinstance(meta, pd.DataFrame):
            column = meta.iloc[:, j]
            text[j] = _is_text_or_category(column.dtype) and not CategoricalEncoder._is_numeric(column)
        else:
            text[j] = _is_text_or_category(meta.dtype)
    columns = list(meta.columns) if isinstance(meta, pd.DataFrame) else None
    return n_features, columns, _get_feature_names(meta), mask, text
