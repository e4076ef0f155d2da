"""Stability benchmarking shared by ``benchmarks/stability.py`` and the ``shrinktree bench`` command."""

from .models import CORE_MODELS, MODELS, ModelSpec, resolve_models
from .stability import (
    BenchmarkResult,
    encode_target,
    importance_agreement,
    permutation_importances,
    prediction_spread,
    random_half,
    run_stability,
    shap_agreement,
    shap_vectors,
)

__all__ = [
    "CORE_MODELS",
    "MODELS",
    "BenchmarkResult",
    "ModelSpec",
    "encode_target",
    "importance_agreement",
    "permutation_importances",
    "prediction_spread",
    "random_half",
    "resolve_models",
    "run_stability",
    "shap_agreement",
    "shap_vectors",
]
