"""Ablations of shrinktree's default: which change of the design would win where the peers win (issue 16).

Every candidate is today's default (`shrinkage="eb"`, the DataFrame with its category columns) with one
change, set through a public parameter or a private measurement switch of the booster, so that the
default itself stays bit for bit what it is:

* more trees with a smaller learning rate (``n_estimators``, ``learning_rate``);
* a smaller share of rows held out of growing each tree (``_honest_fraction``; today one half), so that
  more rows choose the splits;
* alternating halves: the rows that grew one tree are the rows held out of the next (``_honest_alternate``);
* ``min_samples_leaf`` asked of the split-choosing share only (``_min_leaf_of_all_rows``): today the grower
  counts it on the rows that choose the splits, so an honest leaf holds about twice ``min_samples_leaf``;
* a raw (unpooled) sort of categorical levels in the split scan (``_level_mode``), against today's pooled one;
* numeric cross features (``cross_features``: differences and products of the top numeric columns of a probe
  fit; ``_cross_scaling="raw"`` and ``_cross_probe_trees`` for the alternatives);
* ``tau^2`` from the moment sums of the recent trees, discounted per tree (``_tau_memory``), instead of each
  tree's own splits;
* random intercepts for the categorical column with the most levels (at least 20), or for every such column,
  instead of native splits on it (``_auto_random_effects``; ``_random_effects_warm_up=False`` updates the
  intercepts from the first tree on);
* category pairs (``_category_pairs``: the combinations of two of the top category columns of a probe fit as
  extra categorical columns, as CatBoost combines category columns).
* the variance estimator of the tree and level pooling (public ``variance_estimator``: REML, or Bayes posterior
  means, instead of the moment estimators ``"auto"`` runs there).

Protocol of ``benchmarks/accuracy.py`` (random 75/25 splits, stratified for classification, the same for
every model, datasets above 50,000 rows subsampled once, one thread, test RMSE / sd(y) or log loss).  Per
candidate: on how many datasets its mean error is lower than the default's, and the mean over datasets of
its relative error change (candidate / default - 1).  The design datasets choose; the holdout datasets
(``shrinktree.datasets.HOLDOUT``) only confirm.  A third part scores the small count datasets of
``benchmarks/objectives.py`` (Poisson deviance, with exposure where there is one), where the default can
fit a constant.  ``shrinkage="none"`` is fitted unchanged beside them as the plain-boosting reference.

Run from the repository root::

    python benchmarks/ablations.py                              # design, holdout, small counts -> docs/ablations.md
    python benchmarks/ablations.py --part design --repeats 2 --output -
    python benchmarks/ablations.py --render-from benchmarks/results/ablations.json
    python benchmarks/ablations.py --part design --tag cross --candidates 'cross features' \
        --peers benchmarks/results/accuracy-peers.json  # adds wins against the best of the peers
"""

from __future__ import annotations

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
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO_ROOT,
    command_line,
    git_commit,
    markdown_table,
    relative_to_repo,
    run_header,
    write_json_record,
    write_results,
)

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor  # noqa: E402
from shrinktree.boosting.splitting import LEVELS_EB_BLOCK, LEVELS_RAW  # noqa: E402
from shrinktree.datasets import HOLDOUT, load_dataset  # noqa: E402

DESIGN = ("diabetes", "breast_cancer", "wine", "hsb82", "scotssec", "egsingle", "wages", "star", "insteval",
          "lending_club", "churn", "mplsstops", "diamonds")
SMALL_COUNTS = ("insurance", "cbpp", "quine", "epil", "grouseticks")
MAX_ROWS = 50_000
TEST_SIZE = 0.25
DEFAULT, NONE = "default", "shrinkage='none'"


@dataclass(frozen=True)
class Candidate:
    """One change of the default: public parameters and private measurement switches."""

    params: dict = field(default_factory=dict)
    switches: dict = field(default_factory=dict)


CANDIDATES = {
    "1,000 trees, learning rate 0.03": Candidate(params={"n_estimators": 1000, "learning_rate": 0.03}),
    "600 trees, learning rate 0.05": Candidate(params={"n_estimators": 600, "learning_rate": 0.05}),
    "1,000 trees": Candidate(params={"n_estimators": 1000}),
    "min_samples_leaf of all rows if the tree would be a constant": Candidate(
        switches={"_min_leaf_of_all_rows": "if-constant"}),
    "1,000 trees, learning rate 0.03, min_samples_leaf of all rows": Candidate(
        params={"n_estimators": 1000, "learning_rate": 0.03}, switches={"_min_leaf_of_all_rows": True}),
    "held-out share 0.3": Candidate(switches={"_honest_fraction": 0.3}),
    "held-out share 0.2": Candidate(switches={"_honest_fraction": 0.2}),
    "alternating halves": Candidate(switches={"_honest_alternate": True}),
    "tau memory 0.5": Candidate(switches={"_tau_memory": 0.5}),
    "tau memory 0.9": Candidate(switches={"_tau_memory": 0.9}),
    "random effect: main grouping": Candidate(switches={"_auto_random_effects": ("main", 20)}),
    "random effects: every grouping": Candidate(switches={"_auto_random_effects": ("every", 20)}),
    "random effect: main grouping, no warm-up": Candidate(
        switches={"_auto_random_effects": ("main", 20), "_random_effects_warm_up": False}),
    "1,000 trees, learning rate 0.03, random effect: main grouping, no warm-up": Candidate(
        params={"n_estimators": 1000, "learning_rate": 0.03},
        switches={"_auto_random_effects": ("main", 20), "_random_effects_warm_up": False}),
    "min_samples_leaf of all rows": Candidate(switches={"_min_leaf_of_all_rows": True}),
    "raw level scan": Candidate(switches={"_level_mode": LEVELS_RAW}),
    # A node's levels of mass below its estimated k (pooled more than halfway to the node) scanned as one block.
    "weak levels as one block": Candidate(switches={"_level_mode": LEVELS_EB_BLOCK}),
    # Numeric cross features (issue 16): differences and products of the top numeric columns of a probe fit.
    "cross features": Candidate(params={"cross_features": True}),
    "cross features, 600 trees, learning rate 0.05": Candidate(
        params={"cross_features": True, "n_estimators": 600, "learning_rate": 0.05}),
    "cross features, raced": Candidate(params={"cross_features": "auto"}),
    "cross features, raced, 600 trees, learning rate 0.05": Candidate(
        params={"cross_features": "auto", "n_estimators": 600, "learning_rate": 0.05}),
    "cross features, raw columns": Candidate(params={"cross_features": True}, switches={"_cross_scaling": "raw"}),
    "cross features, top 3": Candidate(params={"cross_features": 3}),
    "cross features, top 6": Candidate(params={"cross_features": 6}),
    "cross features, 100-tree probe": Candidate(params={"cross_features": True},
                                                switches={"_cross_probe_trees": 100}),
    # Rows whose level is absent from a categorical node's growing rows, NaN and levels unseen at fit included,
    # blend by default (go down both children by their growing weights); this candidate keeps the rule before,
    # the split's missing side (private switch ``_absent_rule``).
    "absent levels side": Candidate(switches={"_absent_rule": "side"}),
    # A held-out row of growth that stops where it blends: its training prediction the node's pooled value
    # instead of the blended value of the node's subtree (private switch ``_stopped_value``).
    # (The default since the runs `*-engine` of docs/ablations.md: this candidate now equals the default.)
    "stopped rows at the node's value": Candidate(switches={"_stopped_value": "node"}),
    # The alternative to that default: the blended value of the node's subtree.
    "stopped rows blended": Candidate(switches={"_stopped_value": "blend"}),
    # Category pairs (issue 16): every pair of the top m category columns of a probe fit (by gain) as one more
    # categorical column whose levels are the observed combinations (private switch ``_category_pairs``).
    "category pairs, top 3": Candidate(switches={"_category_pairs": 3}),
    "category pairs, top 4": Candidate(switches={"_category_pairs": 4}),
    # Only pairs whose combinations have on average at least min_samples_leaf (20) or 50 training rows
    # (private switch ``_category_pair_min_rows``): two identifiers' combinations are mostly single rows.
    "category pairs, top 4, 20 rows per combination": Candidate(
        switches={"_category_pairs": 4, "_category_pair_min_rows": 20}),
    "category pairs, top 4, 50 rows per combination": Candidate(
        switches={"_category_pairs": 4, "_category_pair_min_rows": 50}),
    "category pairs, top 6, 20 rows per combination": Candidate(
        switches={"_category_pairs": 6, "_category_pair_min_rows": 20}),
    # The tree and level pooling's variance estimator (public ``variance_estimator``; "auto" is moments there):
    # the Bayes posterior means under the uniform shrinkage prior pool less where few nodes or levels inform tau^2.
    "Bayes variance estimator": Candidate(params={"variance_estimator": "bayes"}),
    "REML variance estimator": Candidate(params={"variance_estimator": "reml"}),
}


# The candidates a run fits unless --candidates names others (the two extra tree-count settings were added after
# the first runs, to separate "more trees" from "smaller steps").
DEFAULT_CANDIDATES = ("1,000 trees, learning rate 0.03", "held-out share 0.3", "held-out share 0.2",
                      "alternating halves", "min_samples_leaf of all rows", "raw level scan")


def make_model(name: str, task: str, seed: int, loss: str | None = None):
    """A fresh shrinktree model: the default, ``shrinkage='none'`` or a candidate of ``CANDIDATES``."""
    cls = ShrinkBoostRegressor if task == "regression" else ShrinkBoostClassifier
    extra = {} if loss is None else {"loss": loss}
    if name == NONE:
        return cls(shrinkage="none", random_state=seed, **extra)
    candidate = CANDIDATES.get(name, Candidate()) if name != DEFAULT else Candidate()
    if name not in CANDIDATES and name != DEFAULT:
        raise ValueError(f"unknown model {name!r}")
    model = cls(random_state=seed, **candidate.params, **extra)
    for attribute, value in candidate.switches.items():
        setattr(model, attribute, value)
    return model


def _error(task: str, model, X, y) -> float:
    from sklearn.metrics import log_loss

    if task == "regression":
        return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)) / np.std(y))
    return float(log_loss(y, model.predict_proba(X), labels=model.classes_))


def run_dataset(name: str, repeats: int, models: list[str], log) -> dict:
    """Per-split test error and fit seconds of every model on one dataset of ``shrinktree.datasets``."""
    data = load_dataset(name)
    X, y = data.X, np.asarray(data.y)
    n_total = len(y)
    if n_total > MAX_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(n_total, MAX_ROWS, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    splitter = (ShuffleSplit if data.task == "regression" else StratifiedShuffleSplit)(
        n_splits=repeats, test_size=TEST_SIZE, random_state=0)
    out = {"name": name, "task": data.task, "rows": len(y), "error": {}, "seconds": {}}
    make_model(DEFAULT, data.task, 0).fit(X.iloc[:200], y[:200])  # load the compiled kernels, untimed
    for seed, (train, test) in enumerate(splitter.split(X, y)):
        for model_name in models:
            model = make_model(model_name, data.task, seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.fit(X.iloc[train], y[train])
            out["seconds"].setdefault(model_name, []).append(time.perf_counter() - start)
            out["error"].setdefault(model_name, []).append(_error(data.task, model, X.iloc[test], y[test]))
        log(f"  {name} split {seed + 1}/{repeats}: default {out['error'][DEFAULT][-1]:.4f}")
    return out


def run_counts(name: str, repeats: int, models: list[str], log) -> dict:
    """Per-split Poisson deviance of every model on a small count dataset of ``benchmarks/objectives.py``."""
    import objectives

    data = objectives.DATASETS[name]()
    X, y = data.X, data.y
    offset = None if data.exposure is None else np.log(data.exposure)
    out = {"name": name, "task": data.objective, "rows": len(y), "error": {}, "seconds": {}}
    make_model(DEFAULT, "regression", 0, loss=data.objective).fit(X, y, offset=offset)  # compile/load, untimed
    for seed, (train, test) in enumerate(ShuffleSplit(repeats, test_size=TEST_SIZE, random_state=0).split(X)):
        for model_name in models:
            model = make_model(model_name, "regression", seed, loss=data.objective)
            start = time.perf_counter()
            model.fit(X.iloc[train], y[train], offset=None if offset is None else offset[train])
            out["seconds"].setdefault(model_name, []).append(time.perf_counter() - start)
            prediction = model.predict(X.iloc[test], offset=None if offset is None else offset[test])
            out["error"].setdefault(model_name, []).append(objectives.deviance(data.objective, y[test], prediction))
        log(f"  {name} split {seed + 1}/{repeats}: default deviance {out['error'][DEFAULT][-1]:.4g}")
    return out


def candidate_summary(results: list[dict], candidate: str) -> dict:
    """Wins, mean relative error change and median fit-time ratio of ``candidate`` against the default.

    Parameters
    ----------
    results : list of dict
        From :func:`run_dataset` or :func:`run_counts`.
    candidate : str

    Returns
    -------
    dict
        ``wins`` (datasets with a lower mean error than the default), ``n``, ``mean_rel`` and ``median_rel``
        (mean and median over datasets of candidate / default - 1, percent), ``best`` and ``worst`` (dataset,
        percent), ``time_ratio``.
    """
    rel, ratio = [], []
    for r in results:
        own, base = np.mean(r["error"][candidate]), np.mean(r["error"][DEFAULT])
        rel.append((r["name"], 100 * (own / base - 1.0)))
        ratio.append(np.mean(r["seconds"][candidate]) / np.mean(r["seconds"][DEFAULT]))
    values = np.array([v for _, v in rel])
    return {"wins": int((values < 0).sum()), "n": len(rel), "mean_rel": float(values.mean()),
            "median_rel": float(np.median(values)),
            "best": min(rel, key=lambda item: item[1]), "worst": max(rel, key=lambda item: item[1]),
            "time_ratio": float(np.median(ratio))}


def render_part(results: list[dict], models: list[str], metric: str, repeats: int, peers: dict | None = None) -> str:
    """Markdown of one part: the per-candidate summary and the per-dataset relative changes (and with
    ``peers``, a stored ``benchmarks/accuracy.py`` run, the comparison with the best peer)."""
    candidates = [m for m in models if m not in (DEFAULT,)]
    rows = []
    for candidate in candidates:
        s = candidate_summary(results, candidate)
        rows.append([candidate, f"{s['wins']} of {s['n']}", f"{s['mean_rel']:+.2f}%", f"{s['median_rel']:+.2f}%",
                     f"{s['best'][0]} ({s['best'][1]:+.1f}%)", f"{s['worst'][0]} ({s['worst'][1]:+.1f}%)",
                     f"{s['time_ratio']:.2f}"])
    parts = [f"Mean {metric} over {repeats} splits per dataset; every figure below compares with the default "
             "fitted on the same splits.", "",
             markdown_table(["change of the default", "datasets with lower error", "mean relative error change",
                             "median relative error change", "largest gain", "largest loss",
                             "fit time / default's (median)"], rows), ""]
    header = ["dataset", "rows", f"default {metric}", *candidates]
    table = []
    for r in results:
        base = np.mean(r["error"][DEFAULT])
        table.append([r["name"], f"{r['rows']:,}", f"{base:.4f}",
                      *[f"{100 * (np.mean(r['error'][c]) / base - 1):+.2f}%" for c in candidates]])
    parts += ["Relative error change per dataset (candidate / default - 1; negative is better):", "",
              markdown_table(header, table)]
    if peers is not None:
        parts += ["", f"Against the best of {', '.join(PEERS)} on each dataset (their mean errors on the same "
                  f"splits, from `{peers['source']}`, whose default scores equal this run's): datasets where the "
                  "model's mean error is lower, datasets within 2% of it, and the median over datasets of the "
                  "model's fit time / CatBoost's (the two fit in different runs, one thread each):", "",
                  markdown_table(["model", "wins vs best of peers", "within 2%", "fit time / CatBoost's (median)"],
                                 peer_comparison(results, models, peers))]
    return "\n".join(parts)


# The peers of issue 16 and shrinktree's default as benchmarks/accuracy.py names them in its stored scores
# (benchmarks/results/accuracy-peers.json, holdout-peers.json): the ablations' splits are that benchmark's.
PEERS = ("LightGBM default, ordinal codes", "LightGBM default, native categories",
         "CatBoost default, native categories", "ChimeraBoost default, native categories")
PEERS_DEFAULT = "shrinktree eb (default), native categories"
TIME_PEER = "CatBoost default, native categories"
WITHIN = 0.02


def peer_comparison(results: list[dict], models: list[str], peers: dict) -> list[list[str]]:
    """Per model: wins against the best of :data:`PEERS`, datasets within 2% of it, fit time / CatBoost's.

    Parameters
    ----------
    results : list of dict
        From :func:`run_dataset`.
    models : list of str
    peers : dict
        A stored ``benchmarks/accuracy.py`` run on the same datasets and splits.

    Raises
    ------
    ValueError
        When a dataset is missing from ``peers`` or the default's scores there differ from this run's
        (then the splits or the code are not the same, and the comparison would mean nothing).
    """
    stored = {r["name"]: r for r in peers["results"]}
    rows = []
    for model in models:
        wins = within = 0
        ratios = []
        for r in results:
            if r["name"] not in stored:
                raise ValueError(f"the peers' file has no scores for {r['name']!r}.")
            scores, seconds = stored[r["name"]]["scores"], stored[r["name"]]["seconds"]
            metric = next(iter(scores[PEERS_DEFAULT]))
            if not np.allclose(scores[PEERS_DEFAULT][metric], r["error"][DEFAULT], rtol=0, atol=1e-12):
                raise ValueError(f"{r['name']}: the default's scores differ from the peers' file "
                                 f"({scores[PEERS_DEFAULT][metric]} against {r['error'][DEFAULT]}).")
            best = min(np.mean(scores[p][metric]) for p in PEERS if scores.get(p, {}).get(metric))
            own = np.mean(r["error"][model])
            wins += own < best
            within += own / best - 1.0 <= WITHIN
            ratios.append(np.mean(r["seconds"][model]) / np.mean(seconds[TIME_PEER]))
        rows.append([model, f"{wins} of {len(results)}", f"{within} of {len(results)}", f"{np.median(ratios):.3f}"])
    return rows


PARTS = {"design": DESIGN, "holdout": HOLDOUT, "counts": SMALL_COUNTS}
TITLES = {"design": "Design datasets (the ones that choose)", "holdout": "Holdout datasets (confirmation only)",
          "counts": "Small count datasets (Poisson deviance)"}


def compose_block(record: dict, peers: dict | None = None) -> str:
    """The page's result block for one part, from a run record (``peers``: see :func:`render_part`)."""
    metric = "Poisson deviance" if record["part"] == "counts" else "test RMSE / sd(y) or log loss"
    key = record.get("key", record["part"])
    lines = [f"### {TITLES[record['part']]}" + (f", run `{key}`" if key != record["part"] else ""), "",
             *record["header"]]
    if len(record["results"]) < len(record["datasets"]):
        lines += [f"**Partial: {len(record['results'])} of {len(record['datasets'])} datasets.**", ""]
    lines.append(render_part(record["results"], record["models"], metric, record["repeats"], peers))
    lines.append(f"\nRun time: {record['seconds']:.0f} s (one thread).")
    return "\n".join(lines)


INTRO = __doc__.split("Run from the repository root")[0]


def main(argv: list[str] | None = None) -> int:
    """Run the ablations (or re-render a stored part); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3, help="random splits per dataset (default 3)")
    parser.add_argument("--datasets", help="comma-separated names instead of the part's datasets")
    parser.add_argument("--candidates", help="';'-separated names of CANDIDATES (default: DEFAULT_CANDIDATES)")
    parser.add_argument("--output", default=str(REPO_ROOT / "docs" / "ablations.md"), help="'-' for none")
    parser.add_argument("--tag", help="a second run of a part (other candidates): its block is '<part>-<tag>' and "
                                      "its scores benchmarks/results/ablations-<part>-<tag>.json")
    parser.add_argument("--render-from", metavar="JSON", help="rewrite one part's block from a stored run")
    parser.add_argument("--peers", metavar="JSON",
                        help="a stored benchmarks/accuracy.py run on the part's datasets (benchmarks/results/"
                             "accuracy-peers.json or holdout-peers.json): add wins against the best peer to the block")
    args = parser.parse_args(argv)
    git_commit()
    peers = None
    if args.peers:
        peers = json.loads(Path(args.peers).read_text())
        peers["source"] = relative_to_repo(Path(args.peers).resolve())
    if args.render_from:
        record = json.loads(Path(args.render_from).read_text())
        block = compose_block(record, peers)
        note = (f"Rendered from the stored per-split scores `{relative_to_repo(Path(args.render_from))}` by "
                f"`{command_line()}` at shrinktree commit `{git_commit()}` (nothing re-run).")
        block = block.replace("\n\nMean ", f"\n\n{note}\n\nMean ", 1)
        print(block)
        if args.output != "-":
            write_results(Path(args.output), "benchmarks/ablations.py", "Ablations of the default", INTRO, block,
                          key=record.get("key", record["part"]))
        return 0
    candidates = args.candidates.split(";") if args.candidates else list(DEFAULT_CANDIDATES)
    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {unknown}; choose from {list(CANDIDATES)}")
    models = [DEFAULT, NONE, *candidates]

    def log(message):
        print(message, file=sys.stderr, flush=True)

    for part in (list(PARTS) if args.part == "all" else [args.part]):
        datasets = args.datasets.split(",") if args.datasets else list(PARTS[part])
        key = f"{part}-{args.tag}" if args.tag else part
        record = {"command": command_line(), "part": part, "key": key, "datasets": datasets, "repeats": args.repeats,
                  "models": models, "results": [], "seconds": 0.0}
        start = time.perf_counter()
        runner = run_counts if part == "counts" else run_dataset
        for name in datasets:
            log(f"{part}: {name}")
            record["results"].append(runner(name, args.repeats, models, log))
            record["header"] = run_header("benchmarks/ablations.py")
            record["seconds"] = time.perf_counter() - start
            if args.output != "-":
                path = REPO_ROOT / "benchmarks" / "results" / f"ablations-{key}.json"
                write_json_record(record, path)
        block = compose_block(record, peers)
        print(block)
        if args.output != "-":
            write_results(Path(args.output), "benchmarks/ablations.py", "Ablations of the default", INTRO, block,
                          key=key)
            log(f"wrote {args.output} ({key}); per-split scores in "
                f"{relative_to_repo(REPO_ROOT / 'benchmarks' / 'results' / f'ablations-{key}.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
