"""Checks of the estimators' parameters and inputs, run before any numba kernel sees the data."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd

from ..exceptions import SampleWeightScaleWarning

# Weights up to this keep every sum of squared (weighted) gradients far below float64's overflow,
# and positive weights from MIN_SAMPLE_WEIGHT keep products of weights and hessians clear of underflow.
MAX_SAMPLE_WEIGHT = 1e100
MIN_SAMPLE_WEIGHT = 1e-100
# Weights are frequency weights, so their total sets how much data the pooling believes it has: a mean
# weight outside this range is worth a warning (see docs/shrinkage.md, "Sample weights").
TYPICAL_MEAN_WEIGHT = (0.5, 2.0)


def check_number(name, value, low=None, high=None, integer=False, low_open=False, allow_none=False):
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}.")


def check_no_missing_labels(y) -> None:
    """Class labels may be of any type, but none may be missing (NaN, None, ``pd.NA``, ``NaT``)."""
    if y is None:
        return  # scikit-learn's validation says that y is required
    try:
        labels = np.asarray(y, dtype=object).ravel()
    except (TypeError, ValueError):
        return  # scikit-learn's target validation reports what is wrong with such a y
    missing = np.flatnonzero(pd.isna(labels))
    if len(missing):
        rows = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"y has {len(missing)} missing class label(s) (NaN, None or pd.NA), at rows {rows}; "
                         "drop those rows or give them a label.")


def check_fit_weights(sample_weight: np.ndarray) -> np.ndarray:
    """Reject weights the arithmetic cannot carry; warn when their scale changes the pooling.

    Weights are frequency weights (a row of weight 2 counts as two rows), so integer weights give the
    model of repeated rows.  The pooling strength then depends on the weights' total: a mean weight far
    from 1 makes the data look larger or smaller than it is.  Unless the weights look like counts
    (integers that vary), :class:`SampleWeightScaleWarning` says so, with what to pass for relative
    weights.
    """
    positive = sample_weight[sample_weight > 0]
    if len(positive) == 0:
        raise ValueError("sample_weight must have at least one positive entry.")
    if np.max(positive) > MAX_SAMPLE_WEIGHT:
        raise ValueError(
            f"sample_weight values above {MAX_SAMPLE_WEIGHT:g} are not supported: sums of squared "
            f"gradients would overflow float64. Rescale the weights (got max {np.max(positive):g})."
        )
    if np.min(positive) < MIN_SAMPLE_WEIGHT:
        raise ValueError(
            f"positive sample_weight values below {MIN_SAMPLE_WEIGHT:g} are not supported: products of "
            f"weights and hessians would underflow float64 (got min {np.min(positive):g}). Set such weights "
            "to 0 to drop their rows, or rescale the weights."
        )
    mean = float(np.mean(positive))
    low, high = TYPICAL_MEAN_WEIGHT
    # Integer weights that vary are read as counts of repeated rows, whatever their mean; a constant
    # weight other than 1 carries nothing but its scale, so it is almost surely a rescaling.
    counts = bool(np.all(positive == np.round(positive))) and np.min(positive) != np.max(positive)
    if not low <= mean <= high and not counts:
        warnings.warn(
            f"sample_weight has mean {mean:.4g} over its {len(positive)} rows with positive weight, so the "
            f"data count as {mean * len(positive):.4g} rows: shrinktree reads weights as frequency weights "
            "(a row of weight 2 counts as two rows), and pools "
            f"{'less' if mean > high else 'more'} than with unit weights. If these are relative weights "
            "(survey, importance or inverse-probability weights), pass sample_weight / sample_weight.mean(); "
            "if they are counts of repeated rows, this is intended.",
            SampleWeightScaleWarning, stacklevel=6)
    return sample_weight


def check_offset(offset, n_rows: int, stage: str) -> np.ndarray | None:
    """A per-row offset (added to the raw score, e.g. ``log(exposure)``) as finite float64, or ``None``."""
    if offset is None:
        return None
    try:
        values = np.asarray(offset, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"offset must be numbers, one per row ({exc}).") from exc
    if values.ndim != 1 or len(values) != n_rows:
        raise ValueError(f"offset must have one value per row of X: shape ({n_rows},) at {stage} time, "
                         f"got {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"offset has {int(np.sum(~np.isfinite(values)))} NaN or infinite value(s) at {stage} time.")
    return values


def eval_set_entries(eval_set, eval_sample_weight, entries: str) -> list[tuple]:
    """``eval_set`` as a list of ``(X, y)`` or ``(X, y, offset)`` tuples, with ``eval_sample_weight`` checked.

    A single tuple counts as a list of one.  ``entries`` names what the tuples hold, for the message
    (for example ``"(X, y) tuples of dask collections"``).  ``None`` gives an empty list.
    """
    if eval_set is None:
        if eval_sample_weight is not None:
            raise ValueError("eval_sample_weight was given without eval_set.")
        return []
    if isinstance(eval_set, tuple) and len(eval_set) in (2, 3) and not isinstance(eval_set[0], tuple):
        eval_set = [eval_set]
    if not isinstance(eval_set, list) or not all(isinstance(s, tuple) and len(s) in (2, 3) for s in eval_set):
        raise ValueError(f"eval_set must be a list of {entries}.")
    if eval_sample_weight is not None and (not isinstance(eval_sample_weight, list)
                                           or len(eval_sample_weight) != len(eval_set)):
        raise ValueError("eval_sample_weight must be a list with one entry (array or None) per eval_set entry.")
    return eval_set
