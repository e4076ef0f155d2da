"""The models the stability benchmark compares, each built the same way for every dataset.

A :class:`ModelSpec` says which package a model needs, how to build it for a task, and which
input it takes: ``"ordinal"`` (a float matrix with categorical columns as integer codes, see
:func:`shrinktree.datasets.ordinal_encode`) or ``"frame"`` (the pandas DataFrame with ``category``
columns, for models that handle categories natively).  Switching a model between the two is a
change of its ``inputs`` field alone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

PATH_SMOOTH_GRID = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
HS_REG_PARAMS = (1.0, 10.0, 50.0, 200.0)
# imodels shrinks trees node by node in Python, once per candidate lambda and fold: the forest is kept
# moderate (50 trees, at least 5 rows a leaf) so that cross-validating lambda stays affordable on 50k rows.
HS_FOREST = {"n_estimators": 50, "min_samples_leaf": 5}
TASKS = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class ModelSpec:
    """How to build one compared model.

    Attributes
    ----------
    name : str
        Short identifier used on the command line (``--models``).
    label : str
        Human-readable description for tables.
    requires : str or None
        Importable module the model needs; ``None`` for the core install.
    inputs : {"ordinal", "frame"}
        Feature representation the model is fitted on.
    build : callable
        ``build(task, random_state, n_threads) -> estimator`` (unfitted, scikit-learn API); ``n_threads``
        is passed to the library's own thread setting when not None.
    compiles : bool
        Whether the first fit in a process pays a just-in-time compilation (numba) that a
        fair timing should exclude by warming the model up first.
    """

    name: str
    label: str
    requires: str | None
    inputs: str
    build: Callable[[str, int, int | None], BaseEstimator]
    compiles: bool = False

    def available(self) -> bool:
        """Whether the package this model needs can be imported."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


def _is_classification(task: str) -> bool:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}.")
    return task != "regression"


def _shrinktree(shrinkage: str):
    def build(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
        # shrinktree's numba threads are set process-wide (see shrinktree.bench.stability.thread_limit).
        from ..boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

        cls = ShrinkBoostClassifier if _is_classification(task) else ShrinkBoostRegressor
        return cls(shrinkage=shrinkage, random_state=random_state)

    return build


def _threads(n_threads: int | None) -> dict:
    return {} if n_threads is None else {"n_jobs": n_threads}


def _lightgbm(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
    import lightgbm

    cls = lightgbm.LGBMClassifier if _is_classification(task) else lightgbm.LGBMRegressor
    return cls(random_state=random_state, verbose=-1, **_threads(n_threads))


def _lightgbm_path_smooth(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
    classification = _is_classification(task)
    splitter = (StratifiedKFold if classification else KFold)(n_splits=3, shuffle=True, random_state=random_state)
    scoring = "neg_log_loss" if classification else "neg_mean_squared_error"
    return GridSearchCV(_lightgbm(task, random_state, n_threads), {"path_smooth": list(PATH_SMOOTH_GRID)}, cv=splitter,
                        scoring=scoring, refit=True)


def _xgboost(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
    import xgboost

    cls = xgboost.XGBClassifier if _is_classification(task) else xgboost.XGBRegressor
    return cls(random_state=random_state, **_threads(n_threads))


def _sklearn_hgb(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
    # HistGradientBoosting's OpenMP threads are limited process-wide by threadpoolctl.
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if _is_classification(task) else HistGradientBoostingRegressor
    return cls(random_state=random_state)


def _imodels_hs_forest(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
    from imodels import HSTreeClassifierCV, HSTreeRegressorCV
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if _is_classification(task):
        forest = RandomForestClassifier(random_state=random_state, **HS_FOREST, **_threads(n_threads))
        return HSTreeClassifierCV(estimator_=forest, reg_param_list=list(HS_REG_PARAMS), cv=3)
    forest = RandomForestRegressor(random_state=random_state, **HS_FOREST, **_threads(n_threads))
    return HSTreeRegressorCV(estimator_=forest, reg_param_list=list(HS_REG_PARAMS), cv=3)


def _peer(wrapper: str):
    def build(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
        from . import peers

        _is_classification(task)
        return getattr(peers, wrapper)(task=task, random_state=random_state, n_threads=n_threads)

    return build


def _perpetual(task: str, random_state: int, n_threads: int | None = None) -> BaseEstimator:
    # Perpetual takes the DataFrame's category columns natively (categorical_features="auto"); its budget
    # stays at the default.
    import perpetual

    cls = perpetual.PerpetualClassifier if _is_classification(task) else perpetual.PerpetualRegressor
    return cls(seed=random_state, **({} if n_threads is None else {"num_threads": n_threads}))


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # shrinktree splits pandas category columns natively (categorical_features="from_dtype").
        ModelSpec("shrinktree", "shrinktree defaults (empirical-Bayes pooling, native categoricals)", None, "frame",
                  _shrinktree("eb"), compiles=True),
        ModelSpec("shrinktree-none", "shrinktree shrinkage='none' (plain boosting, native categoricals)", None,
                  "frame", _shrinktree("none"), compiles=True),
        ModelSpec("lightgbm", "LightGBM defaults (native categoricals)", "lightgbm", "frame", _lightgbm),
        ModelSpec("lightgbm-smooth", "LightGBM path_smooth tuned by 3-fold CV", "lightgbm", "frame",
                  _lightgbm_path_smooth),
        ModelSpec("xgboost", "XGBoost defaults", "xgboost", "ordinal", _xgboost),
        ModelSpec("sklearn-hgb", "scikit-learn HistGradientBoosting defaults", None, "ordinal", _sklearn_hgb),
        ModelSpec("imodels-hs-rf", "imodels HS on a random forest (50 trees, min_samples_leaf=5; lambda by 3-fold CV)",
                  "imodels", "ordinal", _imodels_hs_forest),
        # The default-settings peers of issue 16; their wrappers are in shrinktree/bench/peers.py.
        ModelSpec("catboost", "CatBoost defaults (category columns as native cat_features)", "catboost", "frame",
                  _peer("CatBoostDefaults")),
        ModelSpec("chimeraboost", "ChimeraBoost defaults (category columns as cat_features)", "chimeraboost", "frame",
                  _peer("ChimeraBoostDefaults"), compiles=True),
        ModelSpec("perpetual", "Perpetual defaults (budget 0.5, native categoricals)", "perpetual", "frame",
                  _perpetual),
        ModelSpec("gpboost", "GPBoost: LightGBM-default trees plus a random intercept of the main grouping (the "
                  "categorical column with the most levels, at least 20)", "gpboost", "frame", _peer("GPBoostGrouped")),
    )
}

CORE_MODELS = tuple(name for name, spec in MODELS.items() if spec.requires is None)


def resolve_models(names: list[str] | tuple[str, ...] | None = None) -> tuple[list[ModelSpec], list[str]]:
    """Specs for the requested model names, and the names skipped because their package is missing.

    Parameters
    ----------
    names : sequence of str, optional
        Names from :data:`MODELS`; all of them when omitted.

    Returns
    -------
    specs : list of ModelSpec
        The requested models whose packages are importable, in the order given.
    skipped : list of str
        Requested models whose package is not installed.

    Raises
    ------
    ValueError
        On an unknown or repeated model name, or an empty selection.
    """
    names = list(MODELS) if names is None else list(names)
    if not names:
        raise ValueError("No models selected.")
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise ValueError(f"Unknown model(s) {', '.join(map(repr, unknown))}; choose from {', '.join(MODELS)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"Model names are repeated in {names}.")
    specs = [MODELS[name] for name in names if MODELS[name].available()]
    skipped = [name for name in names if not MODELS[name].available()]
    return specs, skipped
