"""shrinktree: gradient-boosted trees whose nodes are partially pooled toward their parents."""

from ._tree import TreeArrays
from .boosting import ShrinkBoostClassifier, ShrinkBoostRegressor
from .posthoc import ShrunkClassifier, ShrunkRegressor, shrink

__version__ = "0.1.0"

__all__ = [
    "ShrinkBoostClassifier",
    "ShrinkBoostRegressor",
    "ShrunkClassifier",
    "ShrunkRegressor",
    "TreeArrays",
    "__version__",
    "shrink",
]
