"""What drives shrinktree's spread on the grouped count sets of the objectives benchmark (issue 10).

On grouseticks (broods nested in locations) and epil (repeated visits per patient) shrinktree's default
predictions vary more across half-sample refits than LightGBM's default.  This script refits shrinktree
with one piece switched at a time (pooling, variance estimator, tree size, step size, row subsampling, the
pooling of categorical levels in the split scan, the grouping columns) and LightGBM with its categorical
limits lifted or the grouping columns dropped, with the protocol of ``benchmarks/objectives.py`` (its
splits, halves, seeds, deviance and spread, imported from it), and prints one markdown table per dataset:
mean test deviance, mean spread, and the spread as a multiple of LightGBM's default.

Run from the repository root::

    python benchmarks/objectives_spread.py                       # grouseticks and epil, every variant
    python benchmarks/objectives_spread.py --datasets epil --variants "shrinktree,LightGBM"
    python benchmarks/objectives_spread.py --datasets medpar,cbpp --variants "shrinktree,LightGBM"  # other sets
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import objectives as ob  # noqa: E402
from sklearn.model_selection import ShuffleSplit  # noqa: E402

from shrinktree import ShrinkBoostRegressor  # noqa: E402
from shrinktree.boosting.splitting import LEVELS_RAW  # noqa: E402

# The grouping columns of each dataset (pandas category columns in the objectives benchmark).
GROUPS = {"grouseticks": ("BROOD", "LOCATION"), "epil": ("subject",)}
HALVES = 4
# LightGBM's categorical limits lifted: its defaults need 100 rows per level group (min_data_per_group) and
# smooth level means by 10 (cat_smooth, cat_l2), so on these sets it never splits on the grouping columns.
LIGHTGBM_FINE_CATEGORICAL = {"min_data_per_group": 1, "cat_smooth": 1.0, "cat_l2": 1.0, "max_cat_threshold": 128}


def shrinktree_variant(params: dict | None = None, drop: str = "", codes: bool = False,
                       switches: dict | None = None) -> Callable:
    """A fit-predict function of shrinktree with ``params``; ``drop``: "groups" or one column to leave out;
    ``codes``: the grouping columns as numeric codes instead of categories; ``switches``: private measurement
    switches of the booster (as benchmarks/ablations.py sets them)."""
    params = params or {}

    def fit_predict(name, data, offset, train, test, seed):
        X = data.X
        if drop:
            X = X.drop(columns=list(GROUPS[name]) if drop == "groups" else [drop])
        if codes:
            X = X.copy()
            for column in GROUPS[name]:
                X[column] = X[column].cat.codes.astype(np.float64)
        model = ShrinkBoostRegressor(loss=data.objective, random_state=seed, **params)
        for switch, value in (switches or {}).items():
            setattr(model, switch, value)
        model.fit(ob._take(X, train), data.y[train], offset=None if offset is None else offset[train])
        return model.predict(ob._take(X, test), offset=None if offset is None else offset[test])
    return fit_predict


def lightgbm_variant(params: dict | None = None, drop_groups: bool = False) -> Callable:
    """A fit-predict function of LightGBM's default with ``params`` (offset as ``init_score``)."""
    params = params or {}

    def fit_predict(name, data, offset, train, test, seed):
        import lightgbm

        X = data.X.drop(columns=list(GROUPS[name])) if drop_groups else data.X
        model = lightgbm.LGBMRegressor(objective=data.objective, random_state=seed, n_jobs=1, verbose=-1, **params)
        model.fit(ob._take(X, train), data.y[train], init_score=None if offset is None else offset[train])
        prediction = model.predict(ob._take(X, test))
        return prediction if offset is None else prediction * np.exp(offset[test])
    return fit_predict


VARIANTS: dict[str, Callable[[str], Callable | None]] = {
    "shrinktree": lambda name: shrinktree_variant(),
    'shrinkage="none"': lambda name: shrinktree_variant({"shrinkage": "none"}),
    'shrinkage="hs", strength 10': lambda name: shrinktree_variant({"shrinkage": "hs", "shrinkage_strength": 10.0}),
    'variance_estimator="reml"': lambda name: shrinktree_variant({"variance_estimator": "reml"}),
    'variance_estimator="bayes"': lambda name: shrinktree_variant({"variance_estimator": "bayes"}),
    "max_leaf_nodes=4": lambda name: shrinktree_variant({"max_leaf_nodes": 4}),
    "min_samples_leaf=40": lambda name: shrinktree_variant({"min_samples_leaf": 40}),
    "learning_rate=0.05": lambda name: shrinktree_variant({"learning_rate": 0.05}),
    "100 trees": lambda name: shrinktree_variant({"n_estimators": 100}),
    "subsample=0.5": lambda name: shrinktree_variant({"subsample": 0.5}),
    "raw level scan": lambda name: shrinktree_variant(switches={"_level_mode": LEVELS_RAW}),
    "grouping columns as codes": lambda name: shrinktree_variant(codes=True) if name in GROUPS else None,
    "grouping columns dropped": lambda name: shrinktree_variant(drop="groups") if name in GROUPS else None,
    "BROOD dropped": lambda name: shrinktree_variant(drop="BROOD") if name == "grouseticks" else None,
    "LOCATION dropped": lambda name: shrinktree_variant(drop="LOCATION") if name == "grouseticks" else None,
    # Rows whose level is absent from a categorical node's growing rows blend (go down both children by their
    # growing weights: the default since session 9); "absent levels side": the split's missing side instead, the
    # rule before (private switch ``_absent_rule``).
    "absent levels side": lambda name: shrinktree_variant(switches={"_absent_rule": "side"}),
    # A held-out row of growth that stopped where it blends: its training prediction the node's pooled value
    # instead of the blended value of the node's subtree (private switch ``_stopped_value``).
    # (The default since the runs in docs/ablations.md, "In the engine": this variant now equals "shrinktree".)
    "stopped rows at the node's value": lambda name: shrinktree_variant(switches={"_stopped_value": "node"}),
    # The alternative to that default: the blended value of the node's subtree.
    "stopped rows blended": lambda name: shrinktree_variant(switches={"_stopped_value": "blend"}),
    "LightGBM": lambda name: lightgbm_variant(),
    "LightGBM, categorical limits lifted": lambda name: lightgbm_variant(LIGHTGBM_FINE_CATEGORICAL),
    "LightGBM, grouping columns dropped": lambda name: lightgbm_variant(drop_groups=True) if name in GROUPS else None,
}


def run(name: str, variants: list[str], log) -> dict:
    """Per variant, the test deviance and the spread of every split, with the objectives benchmark's protocol."""
    data = ob.DATASETS[name]()
    offset = None if data.exposure is None else np.log(data.exposure)
    splits = 6 if len(data.y) < ob.SMALL_ROWS else 3
    functions = {v: f for v in variants if (f := VARIANTS[v](name)) is not None}
    scores = {v: {"deviance": [], "spread": []} for v in functions}
    rng = np.random.default_rng(0)  # the halves of benchmarks/objectives.py's run_deviance
    for split, (train, test) in enumerate(ShuffleSplit(splits, test_size=ob.TEST_SIZE, random_state=0).split(data.X)):
        half_rows = [train[ob.random_half(data.y[train], "regression", rng)] for _ in range(HALVES)]
        y_scale = float(np.std(data.y[test])) or 1.0
        seed = 1000 * split
        for variant, fit_predict in functions.items():
            prediction = fit_predict(name, data, offset, train, test, seed)
            refits = [fit_predict(name, data, offset, rows, test, seed + h + 1) for h, rows in enumerate(half_rows)]
            scores[variant]["deviance"].append(ob.deviance(data.objective, data.y[test], prediction))
            scores[variant]["spread"].append(ob.prediction_spread(np.array(refits), "regression", y_scale))
        log(f"{name}: split {split + 1}/{splits} done")
    return scores


def table(name: str, scores: dict) -> str:
    """Markdown table: mean deviance and spread ± standard error, spread / LightGBM's default."""
    reference = np.mean(scores["LightGBM"]["spread"]) if "LightGBM" in scores else np.nan

    def cell(values):
        values = np.asarray(values)
        return f"{values.mean():.3f} ± {values.std(ddof=1) / np.sqrt(len(values)):.3f}"

    lines = [f"**{name}**", "", "| variant | test deviance | spread | spread / LightGBM's |", "|---|---|---|---|"]
    for variant, s in scores.items():
        lines.append(f"| {variant} | {cell(s['deviance'])} | {cell(s['spread'])} | "
                     f"{np.mean(s['spread']) / reference:.2f} |")
    return "\n".join(lines)


def paired(name: str, scores: dict, reference: str = "shrinktree") -> str:
    """Per variant, on how many splits its spread and deviance are below ``reference``'s, and the ratios."""
    lines = [f"**{name}, split by split against {reference}**", "",
             "| variant | spread lower | spread ratios | deviance lower | deviance ratios |", "|---|---|---|---|---|"]
    base = scores[reference]
    for variant, s in scores.items():
        if variant == reference:
            continue
        spread = np.asarray(s["spread"]) / np.asarray(base["spread"])
        deviance = np.asarray(s["deviance"]) / np.asarray(base["deviance"])
        lines.append(f"| {variant} | {int(np.sum(spread < 1))} of {len(spread)} | "
                     f"{', '.join(f'{r:.2f}' for r in spread)} | {int(np.sum(deviance < 1))} of {len(deviance)} | "
                     f"{', '.join(f'{r:.3f}' for r in deviance)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(GROUPS),
                        help=f"comma-separated datasets of benchmarks/objectives.py (default: {','.join(GROUPS)})")
    parser.add_argument("--variants", default=None, help="comma-separated variant names (default: all)")
    parser.add_argument("--paired", action="store_true",
                        help="also print each variant's per-split spread and deviance ratios to shrinktree's")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in ob.DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {list(ob.DATASETS)} (the grouping-column variants: "
                     f"{list(GROUPS)} only)")
    variants = list(VARIANTS) if args.variants is None else [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    for name in names:
        scores = run(name, variants, lambda line: print(line, file=sys.stderr, flush=True))
        print(table(name, scores) + "\n", flush=True)
        if args.paired and "shrinktree" in scores:
            print(paired(name, scores) + "\n", flush=True)
    print(f"({len(names)} datasets in {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
