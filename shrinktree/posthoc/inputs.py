"""Input maps: from what the user passes (pandas DataFrames with categorical columns included) to the
float matrix the parsed trees route on.

Models without categorical inputs need none (``shrink`` validates ``X`` as a float array).  A map is
called on ``X`` both by :func:`shrinktree.shrink` (the training rows) and by the shrunk model's
``predict``; it validates shapes, names and codes in Python, so no kernel sees an out-of-range code.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.utils import check_array

if TYPE_CHECKING:
    from .parsed import ParsedModel


def categorical_columns(X) -> list:
    """Names of the columns of a DataFrame ``X`` that hold categories or text (``[]`` otherwise)."""
    if not isinstance(X, pd.DataFrame):
        return []
    return [c for c, dt in zip(X.columns, X.dtypes) if isinstance(dt, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt)]


def tree_matrix(parsed: ParsedModel, X) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 ``X`` (categorical columns mapped to codes), and it as the parsed trees route on it."""
    X = parsed.read(X)
    if parsed.input_map is not None:
        X = parsed.input_map(X)
    else:
        columns = categorical_columns(X)
        if columns:
            raise ValueError(f"X has categorical (category/text) columns {columns[:5]}, which {parsed.source} "
                             "does not route on: shrink maps categories for LightGBM models fitted on a DataFrame "
                             "with 'category' columns and for shrinktree boosters. Encode them as numbers for "
                             "this model.")
        X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", order="C")
    if X.shape[1] != parsed.n_features_in:
        raise ValueError(f"X has {X.shape[1]} features, but the model was fitted with {parsed.n_features_in}.")
    return X, parsed.prepare_X(X)


def _check_names(X: pd.DataFrame, names) -> None:
    if names is not None and list(map(str, X.columns)) != list(map(str, names)):
        raise ValueError("The feature names of X should match those the model was fitted with "
                         f"(same names, same order): expected {list(map(str, names))}, got "
                         f"{list(map(str, X.columns))}.")


def _finite_or_nan(X: np.ndarray) -> np.ndarray:
    return check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", order="C")


class LightGBMPandasInput:
    """LightGBM fitted on a DataFrame with ``category`` columns: categories map by value to its codes.

    LightGBM stores each category column's category list at fit time (``pandas_categorical``) and
    routes on the position of a value in that list.  The ``category`` columns of ``X`` are matched to
    those lists in order (as LightGBM does); values not in a list (unseen levels) and missing values
    become NaN.  Non-DataFrame input is taken as codes already, as LightGBM does.
    """

    def __init__(self, pandas_categorical, n_features: int, feature_names, split_cat_features):
        self.pandas_categorical = [list(c) for c in pandas_categorical]
        self.n_features = int(n_features)
        self.feature_names = None if feature_names is None else [str(n) for n in feature_names]
        self.split_cat_features = np.asarray(split_cat_features, dtype=np.int64)

    def __call__(self, X) -> np.ndarray:
        if not isinstance(X, pd.DataFrame):
            return _finite_or_nan(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the model was fitted with {self.n_features}.")
        _check_names(X, self.feature_names)
        is_cat = np.array([isinstance(dt, pd.CategoricalDtype) for dt in X.dtypes], dtype=bool)
        if int(is_cat.sum()) != len(self.pandas_categorical):
            raise ValueError(f"X has {int(is_cat.sum())} 'category' columns, but the LightGBM model was fitted "
                             f"with {len(self.pandas_categorical)}; pass the columns with the dtypes used at fit.")
        not_cat = self.split_cat_features[~is_cat[self.split_cat_features]]
        if len(not_cat):
            raise ValueError(f"Feature {X.columns[not_cat[0]]!r} has categorical splits in the LightGBM model "
                             "but is not a 'category' column of X.")
        out = np.empty(X.shape, dtype=np.float64)
        cat_iter = iter(self.pandas_categorical)
        for j in range(X.shape[1]):
            column = X.iloc[:, j]
            if is_cat[j]:
                categories = next(cat_iter)
                if list(column.cat.categories) != categories:
                    column = column.cat.set_categories(categories)  # by value; others become missing
                codes = column.cat.codes.to_numpy().astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                try:
                    out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"Column {X.columns[j]!r} ({column.dtype}) is neither numeric nor "
                                     "'category'; LightGBM needs text columns as pandas 'category'.") from exc
        return _finite_or_nan(out)


class ShrinkBoostInput:
    """shrinktree's own booster: ``tree_input`` of a private copy of the fitted model.

    Categorical levels map by value to their position in ``categories_``; missing and unseen levels
    become NaN.  The codes are checked against the number of levels before any kernel runs.
    """

    def __init__(self, model):
        self.model = copy.deepcopy(model)
        self.n_levels = {int(j): len(levels) for j, levels in enumerate(model.categories_) if levels is not None}

    def __call__(self, X) -> np.ndarray:
        Xt = np.ascontiguousarray(self.model.tree_input(X), dtype=np.float64)
        for j, n_levels in self.n_levels.items():
            column = Xt[:, j]
            seen = column[~np.isnan(column)]
            if seen.size and (seen.min() < 0 or seen.max() >= n_levels or np.any(seen != np.round(seen))):
                raise ValueError(f"Categorical codes of feature {j} are out of range [0, {n_levels}).")
        return Xt
