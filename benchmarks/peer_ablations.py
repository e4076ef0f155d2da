"""Why the peers win where they win: each winning peer's default against itself with one component changed.

Issue 16.  On the datasets where the best of LightGBM, CatBoost and ChimeraBoost (defaults) beats shrinktree's
default by more than 2% (``benchmarks/results/accuracy-peers.json``, ``holdout-peers.json``), the winning
peer is fitted with its defaults and with ONE component switched off or changed at a time; shrinktree's
default and ``shrinkage="none"`` (and, on the small sets, a few more shrinktree settings) are fitted beside
them on the same splits.  A component whose removal costs the peer most of its lead over shrinktree is what
explains the win.

Protocol of ``benchmarks/accuracy.py``: its splits (75/25, stratified for classification, ``random_state=0``),
its scores (test RMSE / sd(y_test), log loss), one thread per model.  Datasets above ``--max-rows`` (default
20,000 here, against 50,000 in accuracy.py, so that the slow peers fit in time) are subsampled once with
accuracy.py's seed; a subsampled dataset's default is refitted here, so every ratio is within this run.

A variant that cannot change the fit on a dataset (a ChimeraBoost switch whose documented gate fails there,
a CatBoost counter setting on data without categories) is listed as inert with the reason and not fitted.

Run from the repository root::

    python benchmarks/peer_ablations.py                          # all 7 datasets, 3 splits
    python benchmarks/peer_ablations.py --datasets wine,churn    # a part; merged into the stored scores
    python benchmarks/peer_ablations.py --render-from benchmarks/results/peer_ablations.json

Every run merges its datasets into ``--results`` (default ``benchmarks/results/peer_ablations.json``), prints
the tables of everything stored there and writes them into the block "peers" of ``--output`` (default
docs/ablations.md; '-' for none).
"""

from __future__ import annotations

import os

# One thread per model (accuracy.py's protocol); set before numba, LightGBM or CatBoost start their pools.
from _bench_threads import pin_threads  # benchmarks/ is sys.path[0] when a script runs

THREADS = pin_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO_ROOT,
    command_line,
    git_commit,
    markdown_table,
    relative_to_repo,
    write_json_record,
    write_results,
)
from accuracy import TEST_SIZE, primary_metric, score  # noqa: E402

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor  # noqa: E402
from shrinktree.bench.peers import CatBoostDefaults, ChimeraBoostDefaults, category_columns  # noqa: E402
from shrinktree.datasets import load_dataset, ordinal_encode  # noqa: E402

MAX_ROWS = 20_000
RESULTS = REPO_ROOT / "benchmarks" / "results" / "peer_ablations.json"
OUTPUT = REPO_ROOT / "docs" / "ablations.md"
BLOCK = "peers"
# ChimeraBoost's documented gates (chimeraboost/sklearn_api.py docstrings): count columns only for a category
# column with at least this many training levels; cross columns and selected linear leaves only from these
# many rows (cross: 2000, linear leaves: 1000).
CHIMERA_COUNT_LEVELS = 256
CHIMERA_CROSS_ROWS = 2000
CHIMERA_LINEAR_ROWS = 1000


@dataclass(frozen=True)
class Info:
    """What a variant needs to know about a dataset to say whether it applies."""

    task: str
    n_train: int
    n_numeric: int
    categorical_levels: tuple  # number of levels of each category column


@dataclass(frozen=True)
class Variant:
    """One row of the table: a model family with one component changed (none for the family default).

    ``inert(info)`` returns why the change cannot alter the fit on a dataset, or None when it can.
    """

    family: str  # "shrinktree", "lightgbm", "catboost", "chimeraboost"
    name: str
    params: dict = field(default_factory=dict)
    inert: object = None  # callable(Info) -> str | None
    switches: dict = field(default_factory=dict)  # shrinktree's private measurement switches
    after_fit: str | None = None  # "no temperature": ChimeraBoost's probabilities without its temperature
    ordinal: bool = False  # fitted on ordinal codes (shrinktree.datasets.ordinal_encode) instead of the DataFrame


DEFAULT = "default"


def _without_categories(info: Info) -> str | None:
    return None if info.categorical_levels else "no category column"


def _fewer_than_two_categories(info: Info) -> str | None:
    return None if len(info.categorical_levels) >= 2 else "fewer than two category columns"


def _chimera_cross_gate(info: Info) -> str | None:
    if info.n_train < CHIMERA_CROSS_ROWS or info.n_numeric < 2:
        return f"the race needs >= {CHIMERA_CROSS_ROWS} rows and >= 2 numeric columns"
    return None


def _chimera_linear_gate(info: Info) -> str | None:
    if info.task == "multiclass":
        return "no linear leaves for multiclass"
    return None if info.n_train >= CHIMERA_LINEAR_ROWS else f"linear leaves need >= {CHIMERA_LINEAR_ROWS} rows"


def _chimera_count_gate(info: Info) -> str | None:
    if any(levels >= CHIMERA_COUNT_LEVELS for levels in info.categorical_levels):
        return None
    return f"no category column with >= {CHIMERA_COUNT_LEVELS} levels (count columns are only made for those)"


def _classification_only(info: Info) -> str | None:
    return "regression: no temperature scaling" if info.task == "regression" else None


def _binary_only(info: Info) -> str | None:
    return None if info.task == "binary" else "10 Newton steps per leaf is CatBoost's default for Logloss only"


# shrinktree's own settings beside the peers: is it the pooling, the step size, the held-out half, the leaf size,
# the leaf penalty CatBoost has (l2_leaf_reg 3), early stopping or the category handling that the peers do better?
SHRINKTREE_VARIANTS = (
    Variant("shrinktree", DEFAULT),
    Variant("shrinktree", 'shrinkage="none"', {"shrinkage": "none"}),
    Variant("shrinktree", "1,000 trees, learning rate 0.03", {"n_estimators": 1000, "learning_rate": 0.03}),
    Variant("shrinktree", "learning rate 0.3", {"learning_rate": 0.3}),
    Variant("shrinktree", "held-out share 0.2", switches={"_honest_fraction": 0.2}),
    Variant("shrinktree", "min_samples_leaf of all rows", switches={"_min_leaf_of_all_rows": True}),
    Variant("shrinktree", "min_samples_leaf 5", {"min_samples_leaf": 5}),
    Variant("shrinktree", 'shrinkage="none", min_samples_leaf 5', {"shrinkage": "none", "min_samples_leaf": 5}),
    Variant("shrinktree", "l2_regularization 3", {"l2_regularization": 3.0}),
    Variant("shrinktree", "63 leaves", {"max_leaf_nodes": 63}),
    Variant("shrinktree", "early_stopping=True", {"early_stopping": True}),
    Variant("shrinktree", "ordinal codes for the categories", inert=_without_categories, ordinal=True),
)
LIGHTGBM_VARIANTS = (
    Variant("lightgbm", DEFAULT),
    Variant("lightgbm", "path_smooth 10 (pooling toward the parent)", {"path_smooth": 10.0}),
    Variant("lightgbm", "min_child_samples 5", {"min_child_samples": 5}),
    Variant("lightgbm", "min_child_samples 40", {"min_child_samples": 40}),
    Variant("lightgbm", "learning rate 0.03", {"learning_rate": 0.03}),
    Variant("lightgbm", "300 trees", {"n_estimators": 300}),
    Variant("lightgbm", "reg_lambda 10", {"reg_lambda": 10.0}),
)
CATBOOST_VARIANTS = (
    Variant("catboost", DEFAULT),
    Variant("catboost", "300 iterations (learning rate auto)", {"iterations": 300}),  # the others: the default's rate
    Variant("catboost", "Depthwise, depth 6", {"grow_policy": "Depthwise"}),
    Variant("catboost", "Lossguide, 31 leaves", {"grow_policy": "Lossguide", "max_leaves": 31}),
    Variant("catboost", "depth 4", {"depth": 4}),
    Variant("catboost", "depth 8", {"depth": 8}),
    Variant("catboost", "l2_leaf_reg 0.1", {"l2_leaf_reg": 0.1}),
    Variant("catboost", "border_count 32", {"border_count": 32}),
    Variant("catboost", "random_strength 0, no bootstrap", {"random_strength": 0.0, "bootstrap_type": "No"}),
    Variant("catboost", "1 leaf Newton step", {"leaf_estimation_iterations": 1}, _binary_only),
    Variant("catboost", "one_hot_max_size 255 (no ctr)", {"one_hot_max_size": 255}, _without_categories),
    Variant("catboost", "max_ctr_complexity 1 (no category combinations)", {"max_ctr_complexity": 1},
            _fewer_than_two_categories),
    Variant("catboost", "no Counter ctr", {"simple_ctr": ["Borders"], "combinations_ctr": ["Borders"]},
            _without_categories),
)
CHIMERABOOST_VARIANTS = (
    Variant("chimeraboost", DEFAULT),
    Variant("chimeraboost", "cross_features=False", {"cross_features": False}, _chimera_cross_gate),
    Variant("chimeraboost", "linear_leaves=False", {"linear_leaves": False}, _chimera_linear_gate),
    Variant("chimeraboost", "cat_count_features=False", {"cat_count_features": False}, _chimera_count_gate),
    Variant("chimeraboost", "cat_combinations=True", {"cat_combinations": True}, _fewer_than_two_categories),
    Variant("chimeraboost", "adaptive_learning_rate=False", {"adaptive_learning_rate": False}),
    Variant("chimeraboost", "early_stopping=False, 300 trees", {"early_stopping": False, "n_estimators": 300}),
    Variant("chimeraboost", "depth 4", {"depth": 4}),
    Variant("chimeraboost", "depth 8", {"depth": 8}),
    Variant("chimeraboost", "refit_full=False", {"refit_full": False}),
    Variant("chimeraboost", "no temperature scaling", after_fit="no temperature", inert=_classification_only),
)
FAMILIES = {"shrinktree": SHRINKTREE_VARIANTS, "lightgbm": LIGHTGBM_VARIANTS, "catboost": CATBOOST_VARIANTS,
            "chimeraboost": CHIMERABOOST_VARIANTS}
FAMILY_LABELS = {"shrinktree": "shrinktree", "lightgbm": "LightGBM", "catboost": "CatBoost",
                 "chimeraboost": "ChimeraBoost"}

# The 7 datasets where a peer's default beats shrinktree's by more than 2%, and the winning peer(s).
DATASETS = {
    "diamonds": ("chimeraboost",),
    "churn": ("chimeraboost", "catboost"),
    "breast_cancer": ("catboost",),
    "scotssec": ("chimeraboost",),
    "wine": ("lightgbm",),
    "computers": ("catboost", "chimeraboost"),
    "males": ("catboost",),
}


def variants_for(name: str) -> list[Variant]:
    """The columns fitted on one dataset: shrinktree's, then each winning peer's default and its changes."""
    chosen = list(SHRINKTREE_VARIANTS)
    for family in DATASETS[name]:
        chosen += FAMILIES[family]
    return chosen


def label(variant: Variant) -> str:
    """Row label of a variant: its family and the change."""
    return f"{FAMILY_LABELS[variant.family]} {variant.name}"


def make_model(variant: Variant, task: str, seed: int, catboost_rate: float | None = None):
    """A fresh, unfitted estimator for one variant (one thread; ``seed`` as accuracy.py seeds its models).

    ``catboost_rate``: the learning rate CatBoost's default resolved to on this split, given to every CatBoost
    variant that does not change the number of iterations.  CatBoost sizes its automatic rate only while some
    parameters are left alone (setting ``l2_leaf_reg`` or ``leaf_estimation_iterations`` drops it to 0.03), so
    without the pin those variants would change two components at once.
    """
    threads = int(THREADS)
    if variant.family == "shrinktree":
        cls = ShrinkBoostRegressor if task == "regression" else ShrinkBoostClassifier
        model = cls(random_state=seed, **variant.params)
        for attribute, value in variant.switches.items():
            setattr(model, attribute, value)
        return model
    if variant.family == "lightgbm":
        import lightgbm

        cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        return cls(random_state=seed, n_jobs=threads, verbose=-1, **variant.params)
    if variant.family == "catboost":
        options = dict(variant.params)
        if catboost_rate is not None and variant.name != DEFAULT and "iterations" not in options:
            options["learning_rate"] = catboost_rate
        return CatBoostDefaults(task=task, random_state=seed, n_threads=threads, options=options or None)
    if variant.family == "chimeraboost":
        params = dict(variant.params)
        trees = params.pop("n_estimators", None)
        return ChimeraBoostDefaults(task=task, random_state=seed, n_threads=threads, n_estimators=trees,
                                    options=params or None)
    raise ValueError(f"unknown model family {variant.family!r}")


def fit_details(variant: Variant, estimator) -> dict:
    """What a model resolved its automatic settings to in one fit (stored beside the scores)."""
    if variant.family == "catboost":
        params = estimator.model_.get_all_params()
        return {"learning_rate": float(params["learning_rate"]), "trees": int(estimator.model_.tree_count_)}
    if variant.family == "chimeraboost":
        model = estimator.model_
        details = {"trees": int(getattr(model, "best_iteration_", -1) or -1),
                   "cross_features_selected": getattr(model, "cross_features_selected_", None),
                   "linear_leaves_selected": getattr(model, "linear_leaves_selected_", None)}
        booster = getattr(model, "model_", None)
        if hasattr(booster, "lr_"):
            details["learning_rate"] = float(booster.lr_)
        if hasattr(model, "temperature_"):
            details["temperature"] = float(model.temperature_)
        if getattr(model, "cross_features_selected_", None):  # how many kept cross columns of each kind
            kinds = [op for _, _, op in model.cross_pairs_]
            details["cross_columns"] = {op: kinds.count(op) for op in sorted(set(kinds))}
        return {k: (bool(v) if isinstance(v, np.bool_) else v) for k, v in details.items()}
    if variant.family == "shrinktree":
        return {"trees": int(estimator.n_iter_)} if hasattr(estimator, "n_iter_") else {}
    return {}


def dataset_info(task: str, X: pd.DataFrame, n_train: int) -> Info:
    """The facts of a dataset that decide which variants apply."""
    categories = category_columns(X)
    return Info(task, n_train, X.shape[1] - len(categories), tuple(int(X[c].nunique()) for c in categories))


def load_rows(name: str, max_rows: int):
    """A dataset's DataFrame and target, subsampled once to ``max_rows`` with accuracy.py's seed."""
    data = load_dataset(name)
    X, y = data.X, np.asarray(data.y)
    n_total = len(y)
    if n_total > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(n_total, max_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    return data.task, X, y, n_total


def run_dataset(name: str, repeats: int, max_rows: int, log, variants: list[Variant] | None = None) -> dict:
    """Per-split error, fit seconds and resolved settings of every variant on one dataset.

    ``variants`` defaults to :func:`variants_for` of the dataset.
    """
    task, X, y, n_total = load_rows(name, max_rows)
    X_ordinal = ordinal_encode(X)
    splitter = (ShuffleSplit if task == "regression" else StratifiedShuffleSplit)(
        n_splits=repeats, test_size=TEST_SIZE, random_state=0)
    splits = list(splitter.split(X, y))
    info = dataset_info(task, X, len(splits[0][0]))
    variants = variants_for(name) if variants is None else variants
    out = {"name": name, "task": task, "metric": primary_metric(task), "rows": len(y), "rows_total": n_total,
           "peers": list(DATASETS.get(name, ())), "variants": [], "inert": [], "error": {}, "seconds": {},
           "details": {}}
    fitted = []
    for variant in variants:
        reason = variant.inert(info) if variant.inert is not None else None
        entry = {"label": label(variant), "family": variant.family, "name": variant.name}
        if reason:
            out["inert"].append({**entry, "reason": reason})
        else:
            fitted.append(variant)
            out["variants"].append(entry)
    # Load or compile the JIT kernels once, untimed; ChimeraBoost's cross-feature race and linear leaves only
    # run (and compile) from CHIMERA_CROSS_ROWS rows, so its warm-up fit takes a few more.
    warm_rows = {"shrinktree": 300, "chimeraboost": int(1.3 * CHIMERA_CROSS_ROWS)}
    for family in dict.fromkeys(v.family for v in fitted):
        if family in warm_rows:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows = np.arange(min(len(y), warm_rows[family]))
                make_model(Variant(family, DEFAULT), task, 0).fit(X.iloc[rows], y[rows])
    for seed, (train, test) in enumerate(splits):
        catboost_rate = None  # set by the CatBoost default, which is fitted before its variants
        for variant in fitted:
            key = label(variant)
            estimator = make_model(variant, task, seed, catboost_rate)
            X_train, X_test = ((X_ordinal[train], X_ordinal[test]) if variant.ordinal
                               else (X.iloc[train], X.iloc[test]))
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator.fit(X_train, y[train])
            seconds = time.perf_counter() - start
            if variant.after_fit == "no temperature":
                estimator.model_.temperature_ = 1.0  # predict_proba divides the raw scores by it
            error = score(task, estimator, X_test, y[test])[primary_metric(task)]
            out["error"].setdefault(key, []).append(error)
            out["seconds"].setdefault(key, []).append(seconds)
            out["details"].setdefault(key, []).append(fit_details(variant, estimator))
            if variant.family == "catboost" and variant.name == DEFAULT:
                catboost_rate = out["details"][key][-1]["learning_rate"]
            log(f"  {name} split {seed + 1}/{repeats} {key}: {error:.4f} ({seconds:.1f} s)")
    return out


def _mean(values) -> float:
    return float(np.mean(values))


def table(result: dict) -> str:
    """Markdown table of one dataset: per variant, mean error, relative to its family default and shrinktree's."""
    ours = _mean(result["error"][label(Variant("shrinktree", DEFAULT))])
    rows = []
    for entry in result["variants"]:
        key = entry["label"]
        error = _mean(result["error"][key])
        base = _mean(result["error"][label(Variant(entry["family"], DEFAULT))])
        details = result["details"][key]
        trees = [d["trees"] for d in details if d.get("trees", -1) >= 0]
        extra = []
        if trees:
            extra.append(f"trees {np.mean(trees):.0f}")
        rates = [d["learning_rate"] for d in details if "learning_rate" in d]
        if rates:
            extra.append(f"lr {np.mean(rates):.3f}")
        for flag, word in (("cross_features_selected", "cross kept"), ("linear_leaves_selected", "linear kept")):
            picked = [d.get(flag) for d in details if d.get(flag) is not None]
            if picked:
                extra.append(f"{word} {sum(picked)}/{len(picked)}")
        rows.append([key, f"{error:.4f}", "" if entry["name"] == DEFAULT else f"{100 * (error / base - 1):+.1f}%",
                     f"{100 * (error / ours - 1):+.1f}%", f"{np.median(result['seconds'][key]):.2f}", ", ".join(extra)])
    rows += [[entry["label"], "inert", "", "", "", entry["reason"]] for entry in result["inert"]]
    header = ["variant", f"mean {result['metric']}", "vs its default", "vs shrinktree default", "median fit s",
              "resolved"]
    return markdown_table(header, rows, ["l", "r", "r", "r", "r", "l"])


def render(record: dict, note: str = "") -> str:
    """All stored datasets as markdown: one table each, with how many rows and splits it used and its runs."""
    parts = ["### Peer ablations, per dataset", *([note] if note else []),
             f"Per-split scores: `{relative_to_repo(Path(record['path']))}`. Mean test error over the splits; \"vs its "
             "default\" compares with the same family's default, \"vs shrinktree default\" with shrinktree's default "
             "(native categories), both fitted on the same splits; median fit seconds, one thread; \"resolved\": "
             "what the model's automatic settings came to (mean trees, learning rate; in how many splits "
             "ChimeraBoost's races kept the cross columns and the linear leaves)."]
    for name in DATASETS:
        result = record["results"].get(name)
        if result is None:
            continue
        rows = (f"{result['rows']:,} of {result['rows_total']:,} rows (subsampled)"
                if result["rows"] < result["rows_total"] else f"{result['rows']:,} rows")
        runs = []
        for run in result["runs"]:
            families = ", ".join(FAMILY_LABELS[f] for f in run["families"])
            runs.append(f"{families}: `{run['command']}`, finished {run['finished']}, commit `{run['commit']}`, "
                        f"load average before {run['load_before']}")
        parts.append(f"#### {name} ({result['task']}, {rows}, {len(next(iter(result['error'].values())))} splits)\n\n"
                     + "\n".join(f"- {line}" for line in runs) + f"\n\n{table(result)}")
    return "\n\n".join(parts)


def merge(stored: dict | None, new: dict, families: list[str]) -> dict:
    """``new``'s scores of ``families`` on a dataset, with the other families' scores of ``stored`` kept.

    The rows follow :func:`variants_for`'s order; each family's run (command, time, load) stays with its scores.
    """
    if stored is None:
        return new
    merged = dict(new)
    for key in ("error", "seconds", "details"):
        merged[key] = {**{k: v for k, v in stored[key].items()
                          if _family_of(stored, k) not in families}, **new[key]}
    order = {label(v): i for i, v in enumerate(variants_for(new["name"]))}
    for key in ("variants", "inert"):
        kept = [e for e in stored[key] if e["family"] not in families]
        merged[key] = sorted(kept + new[key], key=lambda e: order.get(e["label"], len(order)))
    runs = [{**r, "families": [f for f in r["families"] if f not in families]} for r in stored["runs"]]
    merged["runs"] = [r for r in runs if r["families"]] + new["runs"]
    return merged


def _family_of(result: dict, key: str) -> str:
    return next(e["family"] for e in result["variants"] + result["inert"] if e["label"] == key)


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help=f"comma-separated names (default: {','.join(DATASETS)})")
    parser.add_argument("--repeats", type=int, default=3, help="random train/test splits per dataset (default 3)")
    parser.add_argument("--max-rows", type=int, default=MAX_ROWS, help="subsample larger datasets to this")
    parser.add_argument("--families", help=f"comma-separated model families to fit (default: all of {list(FAMILIES)}); "
                                           "the stored scores of the others are kept")
    parser.add_argument("--results", default=str(RESULTS), help="JSON file the per-split scores are merged into")
    parser.add_argument("--render-from", metavar="JSON", help="print the tables of a stored run, fitting nothing")
    parser.add_argument("--output", default=str(OUTPUT), help="markdown page whose block 'peers' gets the tables "
                                                              "('-' for none)")
    args = parser.parse_args(argv)
    git_commit()
    if args.render_from:
        record = json.loads(Path(args.render_from).read_text())
        record["path"] = args.render_from
        note = (f"Rendered from the stored per-split scores by `{command_line()}` at shrinktree commit "
                f"`{git_commit()}` (nothing re-run).")
        publish(render(record, note), args.output)
        return 0
    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    families = args.families.split(",") if args.families else list(FAMILIES)
    if set(families) - set(FAMILIES):
        parser.error(f"unknown families {sorted(set(families) - set(FAMILIES))}; choose from {list(FAMILIES)}")
    path = Path(args.results)
    record = json.loads(path.read_text()) if path.exists() else {"results": {}}

    def log(message):
        print(message, file=sys.stderr, flush=True)

    for name in names:
        load_before = _load_average()
        chosen = [v for v in variants_for(name) if v.family in families]
        result = run_dataset(name, args.repeats, args.max_rows, log, chosen)
        result["runs"] = [{"families": sorted({v.family for v in chosen}), "command": command_line(),
                           "commit": git_commit(), "load_before": load_before, "load_after": _load_average(),
                           "threads": THREADS, "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}]
        record["results"][name] = merge(record["results"].get(name), result, families)
        write_json_record({"results": record["results"]}, path)  # after every dataset: a stopped run keeps them
        log(f"{name} stored in {relative_to_repo(path)}")
    record["path"] = str(path)
    publish(render(record), args.output)
    return 0


def publish(block: str, output: str) -> None:
    """Print the tables and write them into the block "peers" of ``output`` (nothing for '-')."""
    print(block)
    if output != "-":
        write_results(Path(output), "benchmarks/peer_ablations.py", "Ablations of the default", __doc__, block,
                      key=BLOCK)
        print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
