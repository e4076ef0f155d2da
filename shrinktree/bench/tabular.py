"""Reading a user's CSV: clear errors, categorical detection, task inference, and the feature schema
(columns and category levels) that ``shrinktree fit`` saves and ``shrinktree predict`` re-applies."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TASK_CHOICES = ("auto", "regression", "classification")


class DataError(ValueError):
    """A problem with the user's data or file, reported as a message rather than a traceback."""


def read_csv(path: str | Path, text_columns=()) -> pd.DataFrame:
    """Read a CSV file, turning every way it can fail into a :class:`DataError` with a clear message.

    Parameters
    ----------
    path : str or Path
    text_columns : iterable of str, default=()
        Columns to read as text exactly as written (no number or true/false parsing; empty cells
        and the usual missing-value markers are still missing).  Names the file lacks are ignored.

    Returns
    -------
    pandas.DataFrame
        At least one row and one column, with unique column names.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"CSV file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a CSV file.")
    try:
        frame = pd.read_csv(path, dtype={column: str for column in text_columns})
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} is empty: no header row and no data.") from exc
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unparseable content"
        raise DataError(f"{path} is not a well-formed CSV file ({detail}).") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text CSV file ({exc.reason} at byte {exc.start}).") from exc
    except (OSError, csv.Error) as exc:
        raise DataError(f"Could not read {path}: {exc}") from exc
    if frame.shape[1] == 0:
        raise DataError(f"{path} has no columns.")
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no data rows.")
    header = _header(path)
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{path} repeats column name(s) in its header ({', '.join(duplicated)}).")
    return frame


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def split_target(frame: pd.DataFrame, target: str, source: str = "the CSV") -> tuple[pd.DataFrame, pd.Series]:
    """Separate the target column; rows with a missing target are dropped.

    Raises
    ------
    DataError
        When the column is absent, every target value is missing, or no feature column remains.
    """
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20])) + (" ..." if frame.shape[1] > 20 else "")
        raise DataError(f"Target column {target!r} is not in {source}; its columns are: {columns}.")
    y = frame[target]
    keep = y.notna().to_numpy()
    if not keep.any():
        raise DataError(f"Target column {target!r} has no non-missing values.")
    X = frame.loc[keep].drop(columns=[target]).reset_index(drop=True)
    if X.shape[1] == 0:
        raise DataError(f"{source} has no feature columns besides the target {target!r}.")
    return X, y[keep].reset_index(drop=True)


MAX_INFERRED_CLASSES = 100
"""``auto`` never infers more classes than this: more distinct labels are ids or numbers, not classes."""
ROWS_PER_INFERRED_CLASS = 5
"""``auto`` infers classification only with at least this many rows per distinct label on average."""


def infer_task(y: pd.Series, task: str = "auto") -> str:
    """``"regression"`` or ``"classification"``.

    ``auto`` infers classification only from a target that looks categorical: boolean, numeric
    with exactly two values (labels kept as given, e.g. 0.5 and 1.5), or non-numeric with few
    distinct labels (at most :data:`MAX_INFERRED_CLASSES`, and at least
    :data:`ROWS_PER_INFERRED_CLASS` rows per label on average; two labels always qualify).  Other
    numeric targets are regression.  A non-numeric target that is mostly numbers (numbers in at
    least half of the rows, e.g. with a stray ``?``), or has too many distinct labels, is an error
    naming what is wrong: pass ``task`` explicitly to decide.

    Parameters
    ----------
    y : pandas.Series
        The target without missing values; its name is used in messages.
    task : {"auto", "regression", "classification"}

    Raises
    ------
    DataError
        When the target does not fit the task, or ``auto`` cannot tell the task.
    """
    if task not in TASK_CHOICES:
        raise DataError(f"Unknown task {task!r}; choose one of {', '.join(TASK_CHOICES)}.")
    label = _target_label(y)
    if task == "regression":
        _check_numeric_target(y, label)
        return task
    n_labels = y.nunique()
    if task == "classification":
        if n_labels < 2:
            raise DataError(f"A classification target needs at least two classes; the {label} has one.")
        return task
    if n_labels < 2:
        raise DataError(f"The {label} has a single value: nothing to learn.")
    if pd.api.types.is_bool_dtype(y):
        return "classification"
    if pd.api.types.is_numeric_dtype(y):
        return "classification" if n_labels == 2 else "regression"
    _check_not_mostly_numeric(y, label)
    limit = max_inferred_classes(len(y))
    if n_labels > limit:
        raise DataError(f"The {label} has {n_labels:,} distinct non-numeric values in {len(y):,} rows: too many "
                        f"to infer classification (at most {limit:,} classes for this many rows). Pass --task "
                        "classification to fit one class per value.")
    return "classification"


def max_inferred_classes(n_rows: int) -> int:
    """The most distinct labels ``auto`` reads as classes in a target of ``n_rows`` rows (at least 2)."""
    return max(2, min(MAX_INFERRED_CLASSES, n_rows // ROWS_PER_INFERRED_CLASS))


def _target_label(y: pd.Series) -> str:
    return f"target {y.name!r}" if y.name is not None else "target"


def _non_numbers(y: pd.Series) -> pd.Series:
    """The values of ``y`` that are neither numbers nor missing, with their row counts (most frequent first)."""
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        return pd.Series(dtype=np.int64)
    numbers = pd.to_numeric(y.astype(object), errors="coerce")
    return y[numbers.isna() & y.notna()].astype(str).value_counts()


def _describe_tokens(counts: pd.Series, limit: int = 5) -> str:
    shown = ", ".join(f"{token!r} ({count:,} row{'s' if count > 1 else ''})"
                      for token, count in counts.iloc[:limit].items())
    return shown + (f" and {len(counts) - limit:,} more" if len(counts) > limit else "")


def _check_numeric_target(y: pd.Series, label: str) -> None:
    if pd.api.types.is_bool_dtype(y):
        raise DataError(f"A regression target must be numeric; the {label} holds true/false values "
                        "(use --task classification).")
    bad = _non_numbers(y)
    if len(bad):
        raise DataError(f"A regression target must be numeric; the {label} holds values that are not numbers: "
                        f"{_describe_tokens(bad)}. Leave such cells empty (rows with a missing target are "
                        "dropped).")


def _check_not_mostly_numeric(y: pd.Series, label: str) -> None:
    """Refuse to guess for a text target that is mostly numbers: a stray token is likelier than classes."""
    bad = _non_numbers(y)
    n_bad = int(bad.sum())
    if 0 < n_bad <= len(y) / 2:
        raise DataError(f"The {label} is numeric except for {n_bad:,} of {len(y):,} rows: "
                        f"{_describe_tokens(bad)}. Leave those cells empty for regression (rows with a missing "
                        "target are dropped), or pass --task classification to treat every value as a class.")


def class_labels(y: pd.Series) -> np.ndarray:
    """Class labels for a classifier, kept as given.

    Text and booleans stay as they are, whole numbers become integers (a float column that only
    holds 0.0 and 1.0 gives the labels 0 and 1), and other numbers become their text (``0.5``
    and ``1.5`` stay ``"0.5"`` and ``"1.5"``; scikit-learn refuses fractional float labels).

    Parameters
    ----------
    y : pandas.Series
        The target without missing values.

    Returns
    -------
    ndarray of shape (n_rows,)
    """
    if pd.api.types.is_bool_dtype(y):
        return y.to_numpy(dtype=bool)
    if not pd.api.types.is_numeric_dtype(y):
        return y.to_numpy(dtype=object)
    values = y.to_numpy(dtype=np.float64)
    if np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0**53):
        return values.astype(np.int64)
    return y.astype(str).to_numpy(dtype=object)


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are not numeric (strings, booleans, pandas categories): treated as categorical."""
    return [c for c in X.columns
            if isinstance(X[c].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(X[c])
            or pd.api.types.is_bool_dtype(X[c])]


def as_categories(X: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``X`` whose categorical columns (see :func:`categorical_columns`) have the ``category`` dtype."""
    X = X.copy()
    for column in categorical_columns(X):
        if not isinstance(X[column].dtype, pd.CategoricalDtype):
            X[column] = X[column].astype(str).where(X[column].notna()).astype("category")
    return X


@dataclass
class FeatureSchema:
    """The feature columns a model is fitted on, and the levels of its categorical columns.

    Categorical columns are the text (non-numeric or true/false) columns plus the numeric columns
    named as integer-coded.  :meth:`frame` turns them into pandas ``category`` columns whose
    categories are the levels seen at fit, so a level unseen at fit becomes missing and follows each
    split's learned default side.

    Attributes
    ----------
    columns : list of str
        Feature columns in training order.
    categories : dict of str to list
        For each categorical column, its sorted levels seen at fit: text for text columns, ints for
        integer-coded columns.
    integer_coded : list of str
        The categorical columns whose levels are integer codes (the others are text).
    """

    columns: list[str] = field(default_factory=list)
    categories: dict[str, list] = field(default_factory=dict)
    integer_coded: list[str] = field(default_factory=list)

    @classmethod
    def learn(cls, X: pd.DataFrame, integer_coded=()) -> FeatureSchema:
        """Record the columns of ``X`` and the levels of its categorical ones.

        Parameters
        ----------
        X : pandas.DataFrame
            Training features, text columns read as text (see :func:`read_csv`).
        integer_coded : iterable of str
            Numeric columns to treat as categorical (integer ids); text columns named here are text.

        Raises
        ------
        DataError
            When a named column is not in ``X``, or holds values that are not integers.
        """
        X = X.rename(columns=str)
        absent = [c for c in integer_coded if c not in X.columns]
        if absent:
            raise DataError(f"--categorical names column(s) that are not features: {', '.join(absent)}.")
        text = [str(c) for c in categorical_columns(X)]
        integer = [c for c in dict.fromkeys(integer_coded) if c not in text]
        categories = {}
        for column in X.columns:
            if column in text:
                categories[column] = sorted(_as_text(X[column]).dropna().unique().tolist())
            elif column in integer:
                codes = _integer_codes(X[column], column)
                categories[column] = sorted(int(v) for v in codes.dropna().unique())
        return cls(list(X.columns), categories, [c for c in X.columns if c in integer])

    @property
    def text_columns(self) -> list[str]:
        """The categorical columns holding text (to be read as text from a CSV)."""
        return [c for c in self.categories if c not in self.integer_coded]

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The features of ``X`` as the booster takes them: numeric columns as float64, categorical
        columns as ``category`` with the fit-time levels (other values become missing).

        Raises
        ------
        DataError
            When a fit-time column is missing, or a numeric or integer-coded column holds text.
        """
        X = X.rename(columns=str)
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise DataError(f"The data lacks column(s) the model was fitted on: {', '.join(missing)}.")
        return pd.DataFrame({c: self._column(X[c], c) for c in self.columns}, index=X.index)

    def _column(self, values: pd.Series, name: str):
        if name not in self.categories:
            return _numbers(values, name)
        levels = self.categories[name]
        if name in self.integer_coded:
            values = _integer_codes(values, name)
            dtype = pd.CategoricalDtype(pd.Index(levels, dtype=np.int64))
        else:
            values = _as_text(values)
            dtype = pd.CategoricalDtype(pd.Index(levels, dtype=object))
        return pd.Categorical(values.where(values.isin(levels)), dtype=dtype)


def _as_text(values: pd.Series) -> pd.Series:
    """The non-missing values as text (a text column read as text is unchanged)."""
    return values.astype(object).where(values.isna(), values.astype(str))


def _numbers(values: pd.Series, name: str) -> pd.Series:
    """A numeric column as float64; text that is not a number is an error naming an example."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype(np.float64)
    numbers = pd.to_numeric(values.astype(object), errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise DataError(f"Column {name!r} was numeric in training but holds {values[bad].iloc[0]!r}.")
    return numbers.astype(np.float64)


def _integer_codes(values: pd.Series, name: str) -> pd.Series:
    """An integer-coded categorical column as float64 codes (NaN when missing).

    Raises
    ------
    DataError
        When a value is text or a number that is not an integer.
    """
    numbers = pd.to_numeric(values.astype(object), errors="coerce").astype(np.float64)
    whole = (numbers == np.round(numbers)) & (numbers.abs() < 2.0**53)
    bad = values.notna() & ~whole
    if bad.any():
        example = values[bad].iloc[0]
        example = example.item() if isinstance(example, np.generic) else example
        raise DataError(f"Column {name!r} is categorical with integer codes (--categorical) but holds "
                        f"{example!r}, which is not an integer.")
    return numbers
