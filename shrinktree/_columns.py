"""Columns of ``X`` named by the user: one rule for every parameter that takes them.

``categorical_features``, ``monotonic_cst``, ``interaction_cst`` and ``random_effects`` all accept a
column as a name (``X`` must then be a DataFrame) or as an integer position, and they reject the same
things with the same words: bools, floats, positions outside ``[0, n_columns)`` (as scikit-learn does)
and names that ``X`` does not have.
"""

from __future__ import annotations

import numbers

import numpy as np


def column_position(column, n_columns: int, column_names, where: str) -> int:
    """The position in ``X`` of ``column``, given by name or by integer position.

    Parameters
    ----------
    column : str or int
    n_columns : int
        Columns of ``X``.
    column_names : sequence of str or None
        ``X``'s column names (None when ``X`` is not a DataFrame).
    where : str
        The parameter (and entry) that named the column, for the error message.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        When the name is not a column of ``X`` (or ``X`` has no names), the position is out of range, or
        ``column`` is neither a string nor an integer.
    """
    if isinstance(column, str):
        if column_names is None:
            raise ValueError(f"{where} names the column {column!r}, but X has no column names: fit on a "
                             "DataFrame with string column names, or give columns by position.")
        names = [str(name) for name in column_names]
        if column not in names:
            shown = ", ".join(map(repr, names[:10])) + (", ..." if len(names) > 10 else "")
            raise ValueError(f"{where} names the column {column!r}, which X does not have (its columns: {shown}).")
        return names.index(column)
    if isinstance(column, numbers.Integral) and not isinstance(column, (bool, np.bool_)):
        if not 0 <= int(column) < n_columns:
            raise ValueError(f"{where} holds the column index {column}, outside [0, {n_columns - 1}] "
                             f"(X has {n_columns} columns).")
        return int(column)
    raise ValueError(f"{where} holds {column!r}: columns are given by integer position or by name.")
