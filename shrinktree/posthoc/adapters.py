"""Which adapter reads a fitted model: the one dispatch from a model's library to its adapter.

Each adapter module has a ``parse_*(model)`` that returns a :class:`ParsedModel`, or ``None`` when
the model is not one it reads.  Adapters are imported lazily: LightGBM and XGBoost are optional.
"""

from __future__ import annotations

from importlib import import_module
from typing import NamedTuple

from .parsed import ParsedModel

SUPPORTED = (
    "scikit-learn DecisionTreeRegressor/Classifier, RandomForestRegressor/Classifier, "
    "ExtraTreesRegressor/Classifier, GradientBoostingRegressor/Classifier, "
    "HistGradientBoostingRegressor/Classifier; LightGBM LGBMRegressor/LGBMClassifier/Booster; "
    "XGBoost XGBRegressor/XGBClassifier/Booster; shrinktree ShrinkBoostRegressor/ShrinkBoostClassifier"
)


class Adapter(NamedTuple):
    package: str  # module prefix of the model classes the adapter reads
    module: str  # adapter module in this package
    parse: str  # its parse function
    categorical: str | None  # DataFrame columns the library routes on: "category" dtype, "any", or None


ADAPTERS = (
    Adapter("lightgbm", "adapters_lightgbm", "parse_lightgbm", "category"),
    Adapter("xgboost", "adapters_xgboost", "parse_xgboost", None),
    Adapter("shrinktree.boosting", "adapters_shrinktree", "parse_shrinkboost", "any"),
    Adapter("sklearn", "adapters_sklearn", "parse_sklearn", None),
)


def adapter_for(model) -> Adapter | None:
    """The adapter for ``model``'s library (by the module of its class), or ``None``."""
    module = type(model).__module__ or ""
    for adapter in ADAPTERS:
        if module.startswith(adapter.package):
            return adapter
    return None


def unsupported(model) -> TypeError:
    """The error for a model no adapter reads."""
    return TypeError(f"shrink does not support {type(model).__name__}. Supported models: {SUPPORTED}.")


def parse_model(model) -> ParsedModel:
    """Convert a fitted model into node arrays (a fresh copy: ``model`` is never modified)."""
    adapter = adapter_for(model)
    if adapter is not None:
        parsed = getattr(import_module(f".{adapter.module}", __package__), adapter.parse)(model)
        if parsed is not None:
            return parsed
    raise unsupported(model)
