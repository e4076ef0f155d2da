"""Numeric cross features: differences and products of the most important numeric columns (issue 16).

An axis-aligned tree can only approximate ``x_i < x_j`` or ``x_i * x_j > c`` by a staircase of splits;
a column ``x_i - x_j`` or ``x_i * x_j`` makes either one split.  With ``cross_features`` the estimator
ranks the numeric (never the categorical) columns by the gain importance of a short probe fit
(:data:`PROBE_TREES` trees), takes the top ``m`` with a positive gain, and appends for every pair of
them a standardized difference and a centred product:

* difference: ``(x_i - x_j)`` of the columns divided by their training standard deviations, so that the
  column does not depend on the units either parent is measured in (a tree is scale-free; a raw
  difference of two columns in different units is not);
* product: ``(x_i - mean_i) * (x_j - mean_j)`` (scaling a product changes no split; centring does:
  it is the interaction term of the two columns rather than mostly their sum on a log scale).

Only training-time statistics (weighted means and standard deviations of the finite values) enter the
columns, and a missing parent makes the cross missing, so the missing-value direction handles it.
This module chooses the pairs (:func:`choose_pairs`), builds the columns (:class:`CrossColumns`) and
folds what the trees attribute to a cross column back onto its two parents (:func:`fold_columns`).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from .holdout_split import holdout_split

DIFFERENCE, PRODUCT = 0, 1
OPERATION_NAMES = {DIFFERENCE: "difference", PRODUCT: "product"}
# cross_features=True: the top 4 numeric columns, 6 pairs, 12 columns (ChimeraBoost's unrefereed choice).
DEFAULT_TOP_FEATURES = 4
# Trees of the probe fit whose gain importance ranks the columns (it only ranks: a short fit suffices).
PROBE_TREES = 25
SCALINGS = ("standardized", "raw")
RACE = "auto"
# cross_features="auto": the share of the training rows that referees the race (stratified for classifiers).
RACE_FRACTION = 0.2


def check_cross_features(value) -> int:
    """The number of top numeric features to cross: 0 for ``False``, :data:`DEFAULT_TOP_FEATURES` for ``True``
    and ``"auto"``.

    Raises
    ------
    ValueError
        For anything but a bool, ``"auto"`` or an int of at least 2.
    """
    if value is False or value is None:
        return 0
    if value is True or (isinstance(value, str) and value == RACE):
        return DEFAULT_TOP_FEATURES
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= 2:
        return int(value)
    raise ValueError(f"cross_features must be True, False, 'auto' or an int >= 2 (the number of top numeric "
                     f"features to cross), got {value!r}.")


def check_compatible(estimator) -> None:
    """Refuse the parameters that cross features cannot honour, before any fitting.

    Monotone and interaction constraints are stated per column of ``X``: a cross column mixes two of them,
    so a tree that splits on it would break either.  Random effects fit the fixed part on other columns.
    """
    for name in ("monotonic_cst", "interaction_cst", "random_effects"):
        if getattr(estimator, name, None) is not None:
            raise ValueError(f"cross_features cannot be combined with {name}: a cross column mixes two features "
                             f"of X, which {name} constrains one by one. Pass cross_features=False or "
                             f"{name}=None.")


def probe_gains(estimator, X, y, sample_weight, offset, n_trees: int = PROBE_TREES):
    """Per column of ``X``: the gain importance of a short probe fit, and whether it is categorical.

    The probe is ``estimator``'s parameters with ``n_estimators=n_trees``, no early stopping and no cross
    features, fitted on the same rows (weights and offset included).
    """
    from sklearn.base import clone

    probe = clone(estimator).set_params(cross_features=False, n_estimators=n_trees, early_stopping=False,
                                        verbose=0)
    extra = {} if offset is None else {"offset": offset}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit itself warns once about the same data
        probe.fit(X, y, sample_weight=sample_weight, **extra)
    return np.asarray(probe._importances[0], dtype=np.float64), np.asarray(probe.is_categorical_, dtype=bool)


def choose_pairs(gain: np.ndarray, is_categorical: np.ndarray, top: int) -> np.ndarray:
    """The pairs ``(i, j)``, ``i`` ranked above ``j``, of the ``top`` numeric columns of highest positive gain.

    Ties keep the column order (stable sort), so the choice is deterministic.  Fewer than two
    numeric columns with a positive gain give no pairs (shape ``(0, 2)``).
    """
    numeric = np.flatnonzero(~is_categorical & (gain > 0))
    ranked = numeric[np.argsort(-gain[numeric], kind="stable")][:top]
    pairs = [(int(ranked[a]), int(ranked[b])) for a in range(len(ranked)) for b in range(a + 1, len(ranked))]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _weighted_moments(column: np.ndarray, weight: np.ndarray | None) -> tuple[float, float]:
    finite = np.isfinite(column)
    values = column[finite].astype(np.float64)
    w = np.ones(len(values)) if weight is None else weight[finite]
    if len(values) == 0 or w.sum() <= 0:
        return 0.0, 1.0
    mean = float(np.sum(w * values) / w.sum())
    sd = float(np.sqrt(np.sum(w * (values - mean) ** 2) / w.sum()))
    return mean, (sd if np.isfinite(sd) and sd > 0 else 1.0)


@dataclass
class CrossColumns:
    """The cross columns of a fitted model: column ``k`` is ``op_k(a, b)`` of its parents standardized.

    ``a = (X[:, pairs[k, 0]] - location[k, 0]) / scale[k, 0]`` and ``b`` alike for ``pairs[k, 1]``;
    ``op`` is ``a - b`` (:data:`DIFFERENCE`) or ``a * b`` (:data:`PRODUCT`).

    Attributes
    ----------
    pairs : ndarray of int64, shape (n_cross, 2)
        Parent columns of ``X``.
    operations : ndarray of int64, shape (n_cross,)
    location, scale : ndarray of float64, shape (n_cross, 2)
        Training-time statistics of the parents (0 and 1 for raw columns).
    """

    pairs: np.ndarray
    operations: np.ndarray
    location: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, pairs: np.ndarray, weight: np.ndarray | None,
            scaling: str = "standardized") -> CrossColumns:
        """A difference and a product for each pair, with the parents' statistics on the training rows ``X``."""
        if scaling not in SCALINGS:
            raise ValueError(f"_cross_scaling must be one of {SCALINGS}, got {scaling!r}.")
        moments = {j: _weighted_moments(X[:, j], weight) for j in np.unique(pairs)}
        rows_pairs, operations, location, scale = [], [], [], []
        for i, j in pairs:
            (mean_i, sd_i), (mean_j, sd_j) = moments[i], moments[j]
            for operation in (DIFFERENCE, PRODUCT):
                rows_pairs.append((i, j))
                operations.append(operation)
                if scaling == "raw":
                    location.append((0.0, 0.0))
                    scale.append((1.0, 1.0))
                elif operation == DIFFERENCE:  # a shift of the difference changes no split: scale only
                    location.append((0.0, 0.0))
                    scale.append((sd_i, sd_j))
                else:  # a scale of the product changes no split: centre only
                    location.append((mean_i, mean_j))
                    scale.append((1.0, 1.0))
        return cls(pairs=np.array(rows_pairs, dtype=np.int64).reshape(-1, 2),
                   operations=np.array(operations, dtype=np.int64),
                   location=np.array(location, dtype=np.float64).reshape(-1, 2),
                   scale=np.array(scale, dtype=np.float64).reshape(-1, 2))

    def __len__(self) -> int:
        return len(self.operations)

    def append(self, X: np.ndarray) -> np.ndarray:
        """``X`` (float64 or float32, the user's columns) with the cross columns after them, as float64."""
        out = np.empty((X.shape[0], X.shape[1] + len(self)), dtype=np.float64)
        out[:, :X.shape[1]] = X
        for k in range(len(self)):
            with np.errstate(over="ignore", invalid="ignore"):  # inf parents give inf or NaN, as numpy does
                a = (X[:, self.pairs[k, 0]] - self.location[k, 0]) / self.scale[k, 0]
                b = (X[:, self.pairs[k, 1]] - self.location[k, 1]) / self.scale[k, 1]
                operation = np.subtract if self.operations[k] == DIFFERENCE else np.multiply
                operation(a, b, out=out[:, X.shape[1] + k])
        return out

    def validate(self, n_features: int, is_categorical: np.ndarray) -> None:
        """Check a restored set of cross columns against the model's ``n_features`` columns (``ValueError``)."""
        arrays = {"pairs": (self.pairs, "iu", 2), "operations": (self.operations, "iu", 1),
                  "location": (self.location, "f", 2), "scale": (self.scale, "f", 2)}
        n_cross = len(self.operations) if isinstance(self.operations, np.ndarray) else -1
        for name, (array, kinds, ndim) in arrays.items():
            if not (isinstance(array, np.ndarray) and array.dtype.kind in kinds and array.ndim == ndim
                    and array.shape[0] == n_cross and (ndim == 1 or array.shape[1] == 2)):
                raise ValueError(f"the cross columns' {name} is not an array of {n_cross} entries.")
        if np.any(self.pairs < 0) or np.any(self.pairs >= n_features):
            raise ValueError("a cross column's parent is out of range.")
        if np.any(is_categorical[self.pairs]):
            raise ValueError("a cross column's parent is categorical.")
        if not np.all(np.isin(self.operations, list(OPERATION_NAMES))):
            raise ValueError("a cross column has an unknown operation.")
        if not (np.all(np.isfinite(self.location)) and np.all(np.isfinite(self.scale)) and np.all(self.scale > 0)):
            raise ValueError("a cross column's location or scale is not finite and positive.")

    def names(self, feature_names) -> list[str]:
        """Readable names, e.g. ``"carat - depth"`` and ``"carat * depth"`` (standardized as stated above)."""
        symbol = {DIFFERENCE: "-", PRODUCT: "*"}
        return [f"{feature_names[i]} {symbol[int(op)]} {feature_names[j]}"
                for (i, j), op in zip(self.pairs, self.operations)]

    def description(self) -> list[tuple[int, int, str]]:
        """``(i, j, "difference" or "product")`` for every cross column, in the trees' column order."""
        return [(int(i), int(j), OPERATION_NAMES[int(op)]) for (i, j), op in zip(self.pairs, self.operations)]


def cross_pairs(estimator, X, y, sample_weight, offset) -> np.ndarray | None:
    """The pairs to cross for a fit of ``estimator`` on ``X`` (``None`` when ``cross_features`` is off).

    Checks the parameters first (:func:`check_compatible`), then ranks the columns by a probe fit
    (:func:`probe_gains`; the private switch ``_cross_probe_trees`` sets its trees) and keeps the pairs of the
    top ones (:func:`choose_pairs`).  With ``cross_features="auto"`` the pairs must also win a race on a
    validation split (:func:`race`); ``cross_race_`` records it.
    """
    estimator.__dict__.pop("cross_race_", None)
    given = getattr(estimator, "_cross_given_pairs", None)  # a race's contestant: the pairs are chosen
    if given is not None:
        return given
    top = check_cross_features(estimator.cross_features)
    if top == 0:
        return None
    check_compatible(estimator)
    n_trees = getattr(estimator, "_cross_probe_trees", PROBE_TREES)
    if isinstance(n_trees, bool) or not isinstance(n_trees, numbers.Integral) or n_trees < 1:
        raise ValueError(f"_cross_probe_trees must be a positive int, got {n_trees!r}.")
    gain, is_categorical = probe_gains(estimator, X, y, sample_weight, offset, int(n_trees))
    pairs = choose_pairs(gain, is_categorical, top)
    if isinstance(estimator.cross_features, str) and len(pairs):
        estimator.cross_race_ = race(estimator, X, y, sample_weight, offset, pairs)
        if not estimator.cross_race_["kept"]:
            return None
    return pairs


def race(estimator, X, y, sample_weight, offset, pairs: np.ndarray) -> dict:
    """Fit ``estimator`` without and with the crosses of ``pairs`` on 80% of the rows and score both on the rest.

    The split (:data:`RACE_FRACTION` held out, stratified for a classifier when every class has two rows) is
    drawn from ``random_state``; each contestant is fitted with the held-out rows as its ``eval_set`` (so
    with early stopping it stops on them) and scored by the model's loss at the iteration it keeps.

    Returns
    -------
    dict
        ``"without"`` and ``"with"``: the held-out loss of each; ``"kept"``: whether the crosses won
        (a strictly lower loss).
    """
    from sklearn.base import clone
    from sklearn.utils import _safe_indexing, check_random_state

    n_rows = len(y)
    labels = np.asarray(y)
    seed = check_random_state(estimator.random_state).randint(0, 2**31 - 1)
    n_held = int(np.ceil(RACE_FRACTION * n_rows))  # as train_test_split rounds a fraction
    fit_rows, held_rows = holdout_split(n_rows, n_held, seed, labels if estimator._is_classifier else None)
    if estimator._is_classifier:  # a class the contestants never saw cannot be scored
        held_rows = held_rows[np.isin(labels[held_rows], labels[fit_rows])]

    def rows(values, index):
        return None if values is None else _safe_indexing(values, index)

    held = (rows(X, held_rows), rows(labels, held_rows))
    if offset is not None:
        held = (*held, rows(np.asarray(offset), held_rows))
    weights = None if sample_weight is None else [rows(np.asarray(sample_weight), held_rows)]
    scores = {}
    for name, contestant_pairs in (("without", None), ("with", pairs)):
        contestant = clone(estimator).set_params(cross_features=contestant_pairs is not None, verbose=0)
        contestant._cross_given_pairs = contestant_pairs
        extra = {} if offset is None else {"offset": rows(np.asarray(offset), fit_rows)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fit itself warns once about the same data
            contestant.fit(rows(X, fit_rows), rows(labels, fit_rows), sample_weight=rows(sample_weight, fit_rows),
                           eval_set=[held], eval_sample_weight=weights, **extra)
        curve = next(iter(contestant.evals_result_["valid_0"].values()))
        scores[name] = float(curve[contestant.n_iter_])
    return {"without": scores["without"], "with": scores["with"], "kept": scores["with"] < scores["without"]}


def append_crosses(X: np.ndarray, crosses: CrossColumns | None) -> np.ndarray:
    """``X`` itself without cross columns, else ``X`` with them appended (:meth:`CrossColumns.append`)."""
    return X if crosses is None else crosses.append(X)


def fold_columns(values: np.ndarray, n_features: int, crosses: CrossColumns | None, share: float = 0.5):
    """``values`` over the trees' columns (last axis) with each cross column's ``share`` added to each parent.

    The last axis holds the ``n_features`` columns of ``X``, then the cross columns, then anything after
    them (the expected value of contributions); the result drops the cross columns.  With ``share=0.5``
    the totals are kept, so contributions still sum to the raw score.
    """
    if crosses is None or len(crosses) == 0:
        return values
    n_cross = len(crosses)
    out = np.concatenate([values[..., :n_features], values[..., n_features + n_cross:]], axis=-1)
    for k in range(n_cross):
        for parent in crosses.pairs[k]:
            out[..., parent] += share * values[..., n_features + k]
    return out
