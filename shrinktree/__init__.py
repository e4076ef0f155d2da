"""shrinktree: gradient-boosted trees whose nodes are partially pooled toward their parents."""

from ._tree import TreeArrays
from .boosting import ShrinkBoostClassifier, ShrinkBoostRegressor
from .model_file import load_model
from .posthoc import ShrunkClassifier, ShrunkRegressor, shrink

__version__ = "0.1.0"

__all__ = [
    "ShrinkBoostClassifier",
    "ShrinkBoostRegressor",
    "ShrunkClassifier",
    "ShrunkRegressor",
    "TreeArrays",
    "__version__",
    "load_model",
    "shrink",
]
