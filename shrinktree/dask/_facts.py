"""The client's reading of what the partitions report: the weight checks and the categorical level lists."""

from __future__ import annotations

import numpy as np

from ..boosting.categorical import CategoricalEncoder, _sorted_levels
from ..boosting.validation import MAX_SAMPLE_WEIGHT, MIN_SAMPLE_WEIGHT, TYPICAL_MEAN_WEIGHT


def check_weights(facts: list) -> None:
    """:func:`~shrinktree.boosting.validation.check_fit_weights` from the partitions' weight facts."""
    import warnings

    from ..exceptions import SampleWeightScaleWarning

    count = sum(f[0] for f in facts)
    if count == 0:
        raise ValueError("sample_weight must have at least one positive entry.")
    largest, smallest = max(f[3] for f in facts), min(f[2] for f in facts)
    if largest > MAX_SAMPLE_WEIGHT:
        raise ValueError(f"sample_weight values above {MAX_SAMPLE_WEIGHT:g} are not supported: sums of squared "
                         f"gradients would overflow float64. Rescale the weights (got max {largest:g}).")
    if smallest < MIN_SAMPLE_WEIGHT:
        raise ValueError(f"positive sample_weight values below {MIN_SAMPLE_WEIGHT:g} are not supported (got min "
                         f"{smallest:g}). Set such weights to 0 to drop their rows, or rescale the weights.")
    mean = sum(f[1] for f in facts) / count
    counts = all(f[4] for f in facts) and smallest != largest
    low, high = TYPICAL_MEAN_WEIGHT
    if not low <= mean <= high and not counts:
        warnings.warn(f"sample_weight has mean {mean:.4g} over its {count} rows with positive weight: shrinktree "
                      "reads weights as frequency weights; pass sample_weight / sample_weight.mean() for relative "
                      "weights.", SampleWeightScaleWarning, stacklevel=5)


def level_encoder(mask: np.ndarray, text: np.ndarray, levels_per_partition: list) -> CategoricalEncoder | None:
    """The fitted :class:`CategoricalEncoder` of the union of the partitions' levels."""
    if not mask.any():
        return None
    encoder = CategoricalEncoder()
    encoder.mask_ = mask
    encoder.categorical_index_ = np.flatnonzero(mask).astype(np.int64)
    encoder.levels_, encoder.from_text_ = [], text[encoder.categorical_index_].astype(bool)
    for i, is_text in enumerate(encoder.from_text_):
        parts = [levels[i] for levels in levels_per_partition]
        if is_text:
            present = np.concatenate([np.asarray(p, dtype=object) for p in parts]) if parts else np.zeros(0, object)
            encoder.levels_.append(_sorted_levels(present))
        else:
            encoder.levels_.append(np.unique(np.concatenate(parts)).astype(np.float64))
    encoder.n_levels_ = np.array([len(levels) for levels in encoder.levels_], dtype=np.int64)
    encoder.__setstate__(dict(encoder.__dict__))  # validates and builds the lookups
    return encoder
