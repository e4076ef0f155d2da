"""The histogram gradient booster with hierarchical node shrinkage."""

from .gradient_boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

__all__ = ["ShrinkBoostClassifier", "ShrinkBoostRegressor"]
