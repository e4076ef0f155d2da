"""Post-hoc hierarchical shrinkage of fitted tree models (scikit-learn, LightGBM, XGBoost, shrinktree).

See ``docs/posthoc.md`` for which statistics each model kind is pooled with.
"""

from .estimators import ShrunkClassifier, ShrunkRegressor
from .model import ShrunkModelClassifier, ShrunkModelRegressor
from .shrink import SUPPORTED, shrink

__all__ = [
    "SUPPORTED",
    "ShrunkClassifier",
    "ShrunkModelClassifier",
    "ShrunkModelRegressor",
    "ShrunkRegressor",
    "shrink",
]
