"""Category pairs: the combinations of two category columns as extra categorical columns (issue 16).

A private measurement switch of the booster, ``_category_pairs`` (off by default; benchmarks/ablations.py).
CatBoost's lead on data sets with several category columns comes partly from its combinations of them
(``max_ctr_complexity``).  Here a pair of category columns becomes one new categorical column whose levels
are the combinations observed in the training rows; the trees split on it natively, with the pooled level
scan that handles many levels.

Which pairs
-----------
The ``m`` category columns with the highest positive gain importance in a short probe fit
(:func:`~shrinktree.boosting.cross_features.probe_gains`, as ``cross_features`` ranks numeric columns), and
every pair of them.  Gain rather than the number of levels: the level count says how finely a column cuts
the rows, not whether it predicts, and pairing the columns with the most levels (identifiers) gives
combinations that are mostly unique to a row or two (pooled back to the parent node: no split, only cost),
while the columns the trees already use are the ones whose interactions a combination can sharpen.

Codes
-----
A pair ``(i, j)`` of columns with ``L_j`` levels for ``j`` has the key ``code_i * L_j + code_j``; its levels
are the sorted distinct keys of the training rows.  At predict time a key that is not among them (an
unseen combination) and a missing value in either column both give NaN, which the trees treat as they
treat a level unseen at fit (it blends down both children at a node whose growing rows had no NaN, and
otherwise follows the missing side).  The tree columns are the user's, then cross columns
(``cross_features``), then the pairs; :func:`folding` gives what importances and contributions fold back
onto the user's columns (half of a pair's to each parent column, a split count to both).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .cross_features import probe_gains

# _category_pairs=True: the top 3 category columns, 3 pairs.
DEFAULT_TOP_COLUMNS = 3


def check_category_pairs(value) -> int:
    """The number of top category columns to pair: 0 when off (``False`` or ``None``),
    :data:`DEFAULT_TOP_COLUMNS` for ``True``.

    Raises
    ------
    ValueError
        For anything but a bool, ``None`` or an int of at least 2.
    """
    if value is False or value is None:
        return 0
    if value is True:
        return DEFAULT_TOP_COLUMNS
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= 2:
        return int(value)
    raise ValueError(f"_category_pairs must be True, False or an int >= 2 (the number of top category columns "
                     f"to pair), got {value!r}.")


def check_compatible(estimator) -> None:
    """Refuse the parameters that category pairs cannot honour, before any fitting (as cross features do)."""
    for name in ("monotonic_cst", "interaction_cst", "random_effects"):
        if getattr(estimator, name, None) is not None:
            raise ValueError(f"_category_pairs cannot be combined with {name}: a pair column mixes two features "
                             f"of X, which {name} constrains one by one.")


def choose_category_pairs(gain: np.ndarray, is_categorical: np.ndarray, top: int) -> np.ndarray:
    """The pairs ``(i, j)``, ``i`` ranked above ``j``, of the ``top`` category columns of highest positive gain.

    Ties keep the column order (stable sort).  Fewer than two category columns with a positive gain give no
    pairs (shape ``(0, 2)``).
    """
    categorical = np.flatnonzero(is_categorical & (gain > 0))
    ranked = categorical[np.argsort(-gain[categorical], kind="stable")][:top]
    pairs = [(int(ranked[a]), int(ranked[b])) for a in range(len(ranked)) for b in range(a + 1, len(ranked))]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def check_min_rows(value) -> float:
    """The private switch ``_category_pair_min_rows``: a number >= 0 (0, the default, keeps every pair)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"_category_pair_min_rows must be a number >= 0, got {value!r}.")
    return float(value)


def category_pairs(estimator, X, y, sample_weight, offset) -> np.ndarray | None:
    """The column pairs to combine for a fit of ``estimator`` on ``X`` (``None`` when the switch is off).

    Checks the switch and the parameters first; without two category columns there is nothing to rank and
    no probe is fitted.
    """
    top = check_category_pairs(getattr(estimator, "_category_pairs", False))
    if top == 0:
        return None
    check_compatible(estimator)
    gain, is_categorical = probe_gains(estimator, X, y, sample_weight, offset)
    n_features = len(is_categorical)
    return choose_category_pairs(gain[:n_features], is_categorical, top)


@dataclass
class CategoryPairs:
    """The pair columns of a fitted model: column ``k`` combines the category columns ``pairs[k]`` of ``X``.

    Attributes
    ----------
    pairs : ndarray of int64, shape (n_pairs, 2)
        Parent columns of ``X`` (both categorical).
    right_levels : ndarray of int64, shape (n_pairs,)
        The number of levels of each pair's second column (the multiplier of the key).
    keys : ndarray of int64
        The sorted keys of every pair's levels, pair after pair.
    offsets : ndarray of int64, shape (n_pairs + 1,)
        Pair ``k``'s keys are ``keys[offsets[k]:offsets[k + 1]]``; its number of levels their count.
    """

    pairs: np.ndarray
    right_levels: np.ndarray
    keys: np.ndarray
    offsets: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, pairs: np.ndarray, categorical_index: np.ndarray, n_levels: np.ndarray,
            min_rows: float = 0.0) -> CategoryPairs:
        """The combinations of each pair observed in the encoded training rows ``X`` (codes, NaN missing).

        With ``min_rows`` (private switch ``_category_pair_min_rows``) a pair is kept only if its combinations
        have at least that many rows on average (the rows where both columns are present over the number of
        combinations): a pair of two columns with many levels, such as two identifiers, has combinations of a
        row or two, which a level scan can sort into a split of noise.
        """
        levels_of = dict(zip(categorical_index.tolist(), n_levels.tolist()))
        kept, keys = [], []
        for i, j in pairs:
            key, present = _keys(X[:, i], X[:, j], levels_of[int(j)])
            levels = np.unique(key[present])
            if len(levels) and present.sum() >= min_rows * len(levels):
                kept.append((int(i), int(j)))
                keys.append(levels)
        pairs = np.array(kept, dtype=np.int64).reshape(-1, 2)
        right_levels = np.array([levels_of[int(j)] for _, j in pairs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum([len(k) for k in keys])]).astype(np.int64)
        return cls(pairs=pairs, right_levels=right_levels,
                   keys=np.concatenate(keys).astype(np.int64) if keys else np.zeros(0, np.int64), offsets=offsets)

    def __len__(self) -> int:
        return len(self.right_levels)

    @property
    def n_levels(self) -> np.ndarray:
        """The number of levels (observed combinations) of each pair column."""
        return np.diff(self.offsets).astype(np.int64)

    def codes(self, X: np.ndarray, k: int) -> np.ndarray:
        """Float codes of pair ``k`` in ``X``: the key's position among the pair's levels, NaN when either
        column is missing or the combination was not seen at fit."""
        i, j = self.pairs[k]
        key, present = _keys(X[:, i], X[:, j], self.right_levels[k])
        levels = self.keys[self.offsets[k]:self.offsets[k + 1]]
        position = np.searchsorted(levels, key)
        found = present & (position < len(levels))
        found[found] = levels[position[found]] == key[found]
        out = np.full(X.shape[0], np.nan)
        out[found] = position[found]
        return out

    def append(self, X: np.ndarray) -> np.ndarray:
        """``X`` (the trees' columns so far) with the pair columns after them, as float64."""
        out = np.empty((X.shape[0], X.shape[1] + len(self)), dtype=np.float64)
        out[:, :X.shape[1]] = X
        for k in range(len(self)):
            out[:, X.shape[1] + k] = self.codes(X, k)
        return out

    def validate(self, n_features: int, is_categorical: np.ndarray) -> None:
        """Check a restored set of pair columns against the model's ``n_features`` columns (``ValueError``)."""
        n_pairs = len(self.right_levels) if isinstance(self.right_levels, np.ndarray) else -1
        arrays = {"pairs": (self.pairs, 2, n_pairs), "right_levels": (self.right_levels, 1, n_pairs),
                  "offsets": (self.offsets, 1, n_pairs + 1), "keys": (self.keys, 1, None)}
        for name, (array, ndim, length) in arrays.items():
            if not (isinstance(array, np.ndarray) and array.dtype.kind in "iu" and array.ndim == ndim
                    and (length is None or array.shape[0] == length) and (ndim == 1 or array.shape[1] == 2)):
                raise ValueError(f"the category pairs' {name} is not an integer array of the expected shape.")
        if np.any(self.pairs < 0) or np.any(self.pairs >= n_features) or not np.all(is_categorical[self.pairs]):
            raise ValueError("a category pair's column is out of range or not categorical.")
        if self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0) or self.offsets[-1] != len(self.keys):
            raise ValueError("the category pairs' offsets do not match their keys.")
        for k in range(n_pairs):
            levels = self.keys[self.offsets[k]:self.offsets[k + 1]]
            if np.any(np.diff(levels) <= 0) or np.any(levels < 0):
                raise ValueError("a category pair's keys are not distinct, sorted and non-negative.")

    def names(self, feature_names) -> list[str]:
        """Readable names, e.g. ``"sex & region"``."""
        return [f"{feature_names[i]} & {feature_names[j]}" for i, j in self.pairs]


def _keys(left: np.ndarray, right: np.ndarray, n_right: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's combination key, and whether both its codes are present (not NaN)."""
    present = ~(np.isnan(left) | np.isnan(right))
    key = np.zeros(len(left), dtype=np.int64)
    key[present] = left[present].astype(np.int64) * np.int64(n_right) + right[present].astype(np.int64)
    return key, present


@dataclass
class _Stacked:
    """The parents of every tree column after the user's (cross columns, then pairs): what folding reads."""

    pairs: np.ndarray

    def __len__(self) -> int:
        return len(self.pairs)


def folding(crosses, pairs):
    """What :func:`~shrinktree.boosting.cross_features.fold_columns` folds for a model's extra tree columns.

    ``crosses`` itself without pairs (so models without them fold as before), ``None`` without either.
    """
    if pairs is None:
        return crosses
    parents = [pairs.pairs] if crosses is None else [crosses.pairs, pairs.pairs]
    return _Stacked(np.concatenate(parents).astype(np.int64))
