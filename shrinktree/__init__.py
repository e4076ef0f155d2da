"""shrinktree: gradient-boosted trees whose nodes are partially pooled toward their parents.

The public names are imported on first use (PEP 562), so ``import shrinktree`` alone loads neither
numba nor the estimators; ``from shrinktree import ShrinkBoostRegressor`` loads what it needs.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ShrinkBoostClassifier": ".boosting",
    "ShrinkBoostRegressor": ".boosting",
    "ShrunkClassifier": ".posthoc",
    "ShrunkRegressor": ".posthoc",
    "TreeArrays": "._tree",
    "load_model": ".model_file",
    "shrink": ".posthoc",
    "warmup": "._warmup",
}
_SUBMODULES = ("bench", "boosting", "callbacks", "cli", "datasets", "exceptions", "explain", "losses", "model_file",
               "plotting", "posthoc", "variance_components")

__all__ = [
    "ShrinkBoostClassifier",
    "ShrinkBoostRegressor",
    "ShrunkClassifier",
    "ShrunkRegressor",
    "TreeArrays",
    "__version__",
    "load_model",
    "shrink",
    "warmup",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
