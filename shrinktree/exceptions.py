"""Warnings and errors that shrinktree raises, for users who want to filter or catch them."""

from ._integrity import ModelIntegrityError
from .model_file import ModelFileError


class SampleWeightScaleWarning(UserWarning):
    """``sample_weight`` has a mean far from 1.

    shrinktree reads sample weights as frequency weights, as scikit-learn does: a row of weight 2
    counts as two rows.  The pooling strength is estimated from how much data each node holds, so
    weights that sum to much more or much less than the number of rows pool less or more than the
    same data with unit weights.  Relative weights (survey, importance or inverse-probability
    weights) should be passed as ``sample_weight / sample_weight.mean()``.
    """


__all__ = ["ModelFileError", "ModelIntegrityError", "SampleWeightScaleWarning"]
