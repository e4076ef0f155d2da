"""Explaining fitted models: exact TreeSHAP contributions and their export to shap (``docs/explain.md``)."""

from .contributions import explanation, predict_contributions, shap_explainer, to_shap, tree_input

__all__ = ["explanation", "predict_contributions", "shap_explainer", "to_shap", "tree_input"]
