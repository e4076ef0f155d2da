"""Input handling for categorical features: detection, level lists, and mapping values to codes.

Which columns are categorical
-----------------------------
``categorical_features="from_dtype"`` (the default) treats the columns of a pandas DataFrame whose
dtype is ``category``, ``object`` or a string dtype as categorical;
numpy input then has no categorical features and is handled exactly as before.  Indices, column names
or a boolean mask select columns explicitly (numeric columns then hold levels by value: integers, or
floats with integer values); ``None`` disables categorical handling.

Codes
-----
At fit time each categorical feature stores the sorted list of the levels it saw (``levels_[j]``), and
its values become codes ``0 .. L-1`` (their position in that list).  At predict time values are looked
up *by value*, so the order of a pandas column's categories does not matter.  Missing values and levels
not seen at fit time both become the *missing code* ``L`` for the engine (NaN in the float matrix used
by tree prediction) and follow each split's learned default side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._columns import column_position

FROM_DTYPE = "from_dtype"


def _is_arrow_dictionary(dtype) -> bool:
    # A pyarrow dictionary column (what parquet and Arrow readers give for categoricals).
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    return pa.types.is_dictionary(dtype.pyarrow_dtype)


def _is_text_or_category(dtype) -> bool:
    return (isinstance(dtype, pd.CategoricalDtype) or _is_arrow_dictionary(dtype)
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def _is_time_dtype(dtype) -> bool:
    return (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype))
            or (isinstance(dtype, pd.ArrowDtype) and dtype.kind in "mM"))


def check_columns(X) -> None:
    """Reject DataFrame columns the trees cannot use: duplicate names, and dates or times.

    Raises
    ------
    ValueError
        When column names repeat (a name must identify one feature).
    TypeError
        For datetime, timedelta, period and interval columns, which have no numeric meaning the
        trees could split on without a choice only the user can make.
    """
    if not isinstance(X, pd.DataFrame):
        return
    duplicated = X.columns[X.columns.duplicated()]
    if len(duplicated):
        raise ValueError(f"X has duplicate column names {sorted(set(map(str, duplicated)))}; give every column "
                         "a unique name.")
    for name, dtype in X.dtypes.items():
        if _is_time_dtype(dtype):
            raise TypeError(f"Column {name!r} has dtype {dtype}, which the trees cannot split on directly; convert "
                            "it to numbers first (for example days since a reference date, or year, month and "
                            "weekday columns).")


def _column_names(X) -> list | None:
    return list(X.columns) if isinstance(X, pd.DataFrame) else None


def resolve_categorical_features(X, categorical_features) -> np.ndarray:
    """Boolean mask of the categorical columns of ``X``.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (n_samples, n_features)
    categorical_features : "from_dtype", None, array-like of int, of str, or of bool

    Returns
    -------
    mask : ndarray of bool, shape (n_features,)
    """
    n_features = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
    if n_features is None:
        return None
    names = _column_names(X)
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(categorical_features, str):
        if categorical_features != FROM_DTYPE:
            raise ValueError(f"categorical_features must be 'from_dtype', None, or indices, names or a boolean "
                             f"mask of columns; got {categorical_features!r}.")
        if names is None:
            return np.zeros(n_features, dtype=bool)
        return np.array([_is_text_or_category(X[c].dtype) for c in X.columns], dtype=bool)
    selection = list(np.asarray(categorical_features, dtype=object).ravel())
    mask = np.zeros(n_features, dtype=bool)
    if len(selection) == 0:
        return mask
    if all(isinstance(s, (bool, np.bool_)) for s in selection):
        if len(selection) != n_features:
            raise ValueError(f"categorical_features as a boolean mask needs {n_features} entries (one per "
                             f"feature), got {len(selection)}.")
        return np.array(selection, dtype=bool)
    for s in selection:
        mask[column_position(s, n_features, names, "categorical_features")] = True
    return mask


def _sorted_levels(values: np.ndarray) -> np.ndarray:
    """Distinct non-missing values in a deterministic order (sorted when the values are comparable)."""
    uniques = pd.unique(values)
    try:
        return np.asarray(sorted(uniques), dtype=object)
    except TypeError:
        # Mixed, incomparable types: order by type name then text, still independent of row order.
        return np.asarray(sorted(uniques, key=lambda v: (type(v).__name__, str(v))), dtype=object)


def _numeric_levels(column: np.ndarray, name: str, stage: str) -> np.ndarray:
    """Validate a numeric categorical column (finite integers or NaN) and return it as float64."""
    try:
        values = np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Categorical feature {name} has values that are neither numbers nor missing "
                         f"at {stage} time.") from exc
    finite = values[~np.isnan(values)]
    if np.any(np.isinf(finite)):
        raise ValueError(f"Categorical feature {name} contains infinity at {stage} time.")
    if np.any(finite != np.round(finite)):
        bad = finite[finite != np.round(finite)][0]
        raise ValueError(f"Categorical feature {name} contains the non-integer value {float(bad)!r} at {stage} time; "
                         "numeric categories must be integers (or pass the column as a pandas category/str).")
    return values


class CategoricalEncoder:
    """Maps the categorical columns of ``X`` to integer codes, learning each feature's levels at fit.

    Attributes
    ----------
    mask_ : ndarray of bool
        Which columns are categorical.
    categorical_index_ : ndarray of int64
        Column indices of the categorical features (in order).
    levels_ : list of ndarray
        Per categorical feature, its levels (float64 for numeric columns, object otherwise).
    n_levels_ : ndarray of int64
        Number of levels of each categorical feature (its missing code).
    from_text_ : ndarray of bool
        Whether each categorical column was a category/text column at fit time.
    """

    def fit_transform(self, X, mask: np.ndarray):
        """Learn the levels of the masked columns and encode them.

        Returns
        -------
        X_float : DataFrame or ndarray
            ``X`` with every categorical column replaced by float codes (NaN for missing), ready for
            scikit-learn's numeric validation (which keeps the column names).
        """
        self.mask_ = np.asarray(mask, dtype=bool)
        self.categorical_index_ = np.flatnonzero(self.mask_).astype(np.int64)
        self.levels_, self.from_text_ = [], []
        self._lookup = []
        for j in self.categorical_index_:
            column, name = self._column(X, j)
            text = _is_text_or_category(getattr(column, "dtype", np.dtype(float))) and not self._is_numeric(column)
            if text:
                values = np.asarray(column.astype(object) if isinstance(column, pd.Series) else column, dtype=object)
                present = values[~pd.isna(values)]
                levels = _sorted_levels(present)
            else:
                values = _numeric_levels(self._numeric_values(column), name, "fit")
                levels = np.unique(values[~np.isnan(values)])
            self.levels_.append(levels)
            self.from_text_.append(text)
            self._lookup.append(pd.Index(levels))
        self.from_text_ = np.array(self.from_text_, dtype=bool)
        self.n_levels_ = np.array([len(levels) for levels in self.levels_], dtype=np.int64)
        return self._encode(X, "fit")

    def restrict_to_present(self, X_float: np.ndarray) -> np.ndarray:
        """Keep only the levels that occur in the encoded ``X_float`` (rows dropped after fitting, such as
        zero-weight rows, must not leave levels behind: weights act like repeated rows) and re-code it."""
        X_float = np.array(X_float, dtype=np.float64, copy=True)
        for i, j in enumerate(self.categorical_index_):
            column = X_float[:, j]
            seen = ~np.isnan(column)
            present = np.unique(column[seen]).astype(np.int64)
            if len(present) == self.n_levels_[i]:
                continue
            column[seen] = np.searchsorted(present, column[seen].astype(np.int64))
            self.levels_[i] = self.levels_[i][present]
            self._lookup[i] = pd.Index(self.levels_[i])
        self.n_levels_ = np.array([len(levels) for levels in self.levels_], dtype=np.int64)
        return X_float

    def transform(self, X):
        """Encode ``X`` with the levels learned at fit (unseen levels and missing values become NaN)."""
        return self._encode(X, "predict")

    # The level lookups are derived from ``levels_``: rebuilt, not trusted, when a model is restored.
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lookup", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.validate()
        self._lookup = [pd.Index(levels) for levels in self.levels_]

    def validate(self, n_features: int | None = None) -> None:
        """Check that the learned attributes are consistent (``ValueError`` otherwise).

        Parameters
        ----------
        n_features : int, optional
            Number of input columns the encoder must describe.
        """
        try:
            mask = np.asarray(self.mask_)
            index = np.asarray(self.categorical_index_)
            n_levels = np.asarray(self.n_levels_)
            levels = list(self.levels_)
            from_text = np.asarray(self.from_text_)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"The categorical encoder is incomplete: {exc}") from exc
        if mask.dtype != bool or mask.ndim != 1 or (n_features is not None and len(mask) != n_features):
            raise ValueError("The categorical encoder's column mask does not match the features.")
        if index.dtype.kind not in "iu" or not np.array_equal(index, np.flatnonzero(mask)):
            raise ValueError("The categorical encoder's column indices do not match its mask.")
        if not (len(levels) == len(index) == len(n_levels) == len(from_text)) or n_levels.dtype.kind not in "iu" \
                or any(int(n) != len(level) for n, level in zip(n_levels, levels)):
            raise ValueError("The categorical encoder's level lists and level counts disagree.")
        if from_text.dtype != bool:
            raise ValueError("The categorical encoder's column kinds are not true/false.")
        # Levels are looked up by value: numeric columns' as sorted distinct floats, text columns' as objects.
        for level, text in zip(levels, from_text):
            if not isinstance(level, np.ndarray) or level.ndim != 1 or level.dtype.kind != ("O" if text else "f"):
                raise ValueError("The categorical encoder's levels do not match the kinds of their columns.")
            distinct = bool(np.all(np.diff(level) > 0)) if not text else pd.Index(level).is_unique
            if not distinct:
                raise ValueError("The categorical encoder's levels are not distinct (and sorted, for numbers).")

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _is_numeric(column) -> bool:
        dtype = getattr(column, "dtype", None)
        if isinstance(dtype, pd.CategoricalDtype):
            return False
        return dtype is not None and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)

    @staticmethod
    def _column(X, j):
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, j], repr(X.columns[j])
        return np.asarray(X)[:, j], f"{j}"

    @staticmethod
    def _numeric_values(column):
        if isinstance(column, pd.Series):
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
        return column

    def _codes(self, column, i: int, name: str, stage: str) -> np.ndarray:
        """Float codes of one column: position in ``levels_[i]``, NaN when missing or unseen."""
        lookup = self._lookup[i]
        dtype = getattr(column, "dtype", None)
        if stage == "predict" and self.from_text_[i] and self._is_numeric(column):
            raise ValueError(f"Feature {name} was categorical (category/text) at fit time but is numeric "
                             f"({dtype}) at predict time; pass it with the same kind of values.")
        if isinstance(dtype, pd.CategoricalDtype):
            # Map the (few) categories by value, then index by the per-row category codes.
            categories = column.cat.categories
            if self.from_text_[i]:
                category_codes = lookup.get_indexer(categories.astype(object))
            else:
                numeric = _numeric_levels(np.asarray(categories, dtype=object), name, stage)
                category_codes = lookup.get_indexer(numeric)
            row_codes = column.cat.codes.to_numpy()
            if len(category_codes) == 0:  # no categories at all: every value is missing
                codes = np.full(len(row_codes), -1, dtype=np.int64)
            else:
                codes = np.where(row_codes >= 0, category_codes[np.maximum(row_codes, 0)], -1)
        elif self.from_text_[i]:
            values = np.asarray(column.astype(object) if isinstance(column, pd.Series) else column, dtype=object)
            codes = lookup.get_indexer(values)
            codes[pd.isna(values)] = -1
        else:
            values = _numeric_levels(self._numeric_values(column), name, stage)
            codes = lookup.get_indexer(values)
            codes[np.isnan(values)] = -1
        out = codes.astype(np.float64)
        out[codes < 0] = np.nan
        return out

    def _encode(self, X, stage: str):
        if len(self.categorical_index_) == 0:
            return X
        if isinstance(X, pd.DataFrame):
            out = X.copy(deep=False)
            for i, j in enumerate(self.categorical_index_):
                column, name = self._column(X, j)
                out.isetitem(int(j), self._codes(column, i, name, stage))
            return out
        array = np.asarray(X)
        if array.ndim != 2:
            return X
        numeric_part = np.ones(array.shape[1], dtype=bool)
        numeric_part[self.categorical_index_] = False
        out = np.empty(array.shape, dtype=np.float64)
        if np.any(numeric_part):
            try:
                out[:, numeric_part] = np.asarray(array[:, numeric_part], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError("Non-categorical features must be numeric; mark text columns with "
                                 "categorical_features.") from exc
        for i, j in enumerate(self.categorical_index_):
            out[:, j] = self._codes(array[:, j], i, f"{j}", stage)
        return out


def engine_codes(X_float: np.ndarray, categorical_index: np.ndarray, n_levels: np.ndarray) -> np.ndarray:
    """Feature-major int32 codes ``(n_categorical, n_samples)`` with NaN mapped to the missing code ``L``."""
    codes = np.empty((len(categorical_index), X_float.shape[0]), dtype=np.int32)
    for i, j in enumerate(categorical_index):
        column = X_float[:, j]
        missing = np.isnan(column)
        codes[i] = np.where(missing, n_levels[i], np.where(missing, 0, column)).astype(np.int32)
        # The engine indexes histograms by code without bounds checks: verify the range here.
        if codes[i].size and (codes[i].min() < 0 or codes[i].max() > n_levels[i]):
            raise ValueError(f"Categorical codes of feature {j} are out of range.")
    return codes
