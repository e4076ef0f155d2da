"""Tables of stability-benchmark results, as aligned text for the terminal or as markdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .models import MODELS


def error_name(task: str) -> str:
    """What the ``error`` column measures for a task."""
    return "RMSE / sd(y)" if task == "regression" else "log loss"


def _number(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def result_rows(table: pd.DataFrame, markdown: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells for one dataset's result table (see :class:`BenchmarkResult`)."""
    task = table["task"].iloc[0]
    headers = ["model", f"test {error_name(task)}"]
    if task != "regression":
        headers.append("AUC")
    headers += ["spread across half refits", "importance rank corr", "SHAP corr", "fit s"]
    best_error = table.loc[~table["failed"], "error"].min()
    best_spread = table.loc[~table["failed"], "spread"].min()
    rows = []
    for record in table.itertuples(index=False):
        name = f"`{record.model}`" if markdown else record.model
        if record.failed:
            rows.append([name, "failed"] + ["-"] * (len(headers) - 2))
            continue
        error, spread = _number(record.error, 4), _number(record.spread, 4)
        if markdown and record.error == best_error:
            error = f"**{error}**"
        if markdown and record.spread == best_spread:
            spread = f"**{spread}**"
        cells = [name, error]
        if task != "regression":
            cells.append(_number(record.auc, 4))
        cells += [spread, _number(record.importance_corr, 3), _number(getattr(record, "shap_corr", np.nan), 3),
                  _number(record.fit_seconds, 2)]
        rows.append(cells)
    return headers, rows


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table (first column left-aligned, the others right-aligned)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Aligned plain-text columns for the terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [headers[0].ljust(widths[0]) + "  " + "  ".join(h.rjust(w) for h, w in zip(headers[1:], widths[1:]))]
    for row in rows:
        lines.append(row[0].ljust(widths[0]) + "  " + "  ".join(c.rjust(w) for c, w in zip(row[1:], widths[1:])))
    return "\n".join(lines)


def format_result(table: pd.DataFrame, markdown: bool = False) -> str:
    """One dataset's comparison as a text or markdown table."""
    headers, rows = result_rows(table, markdown=markdown)
    return markdown_table(headers, rows) if markdown else text_table(headers, rows)


def relative_summary(results: pd.DataFrame, reference: str = "lightgbm") -> pd.DataFrame:
    """Per model, across datasets: geometric means of error and spread relative to ``reference``.

    Parameters
    ----------
    results : pandas.DataFrame
        Concatenated result tables of several datasets.
    reference : str
        Model every ratio is taken against (its ratios are 1).

    Returns
    -------
    pandas.DataFrame
        Indexed by model: ``error_ratio`` and ``spread_ratio`` (geometric means; < 1 is better),
        ``error_wins`` / ``spread_wins`` (datasets where the model beats the reference), mean
        ``importance_corr`` and ``shap_corr`` (NaN where a model has no SHAP agreement), median
        ``fit_seconds`` and ``n_datasets``.
    """
    ok = results[~results["failed"]]
    ref = ok[ok["model"] == reference].set_index("dataset")
    if ref.empty:
        raise ValueError(f"The reference model {reference!r} has no results.")
    rows = []
    for model, group in ok.groupby("model", sort=False):
        group = group.set_index("dataset")
        common = group.index.intersection(ref.index)
        if common.empty:
            continue
        error_ratio = group.loc[common, "error"] / ref.loc[common, "error"]
        spread_ratio = group.loc[common, "spread"] / ref.loc[common, "spread"]
        rows.append({
            "model": model,
            "error_ratio": float(np.exp(np.mean(np.log(error_ratio)))),
            "spread_ratio": float(np.exp(np.mean(np.log(spread_ratio)))),
            "error_wins": int((error_ratio < 1).sum()),
            "spread_wins": int((spread_ratio < 1).sum()),
            "importance_corr": float(group.loc[common, "importance_corr"].mean()),
            "shap_corr": float(group.loc[common, "shap_corr"].mean()) if "shap_corr" in group else np.nan,
            "fit_seconds": float(group.loc[common, "fit_seconds"].median()),
            "n_datasets": len(common),
        })
    order = [m for m in MODELS if m in {r["model"] for r in rows}]
    return pd.DataFrame(rows).set_index("model").loc[order]


def format_summary(summary: pd.DataFrame, reference: str = "lightgbm") -> str:
    """Markdown table of :func:`relative_summary`."""
    headers = ["model", f"test error vs `{reference}` (geo. mean)", f"spread vs `{reference}` (geo. mean)",
               "datasets with lower error", "datasets with lower spread", "importance rank corr (mean)",
               "SHAP corr (mean)", "fit s (median)"]
    rows = []
    for model, record in summary.iterrows():
        n = record["n_datasets"]
        reference_row = model == reference
        rows.append([
            f"`{model}`", f"{record['error_ratio']:.3f}", f"{record['spread_ratio']:.3f}",
            "-" if reference_row else f"{int(record['error_wins'])}/{int(n)}",
            "-" if reference_row else f"{int(record['spread_wins'])}/{int(n)}",
            _number(record["importance_corr"], 3), _number(record.get("shap_corr", np.nan), 3),
            _number(record["fit_seconds"], 2),
        ])
    return markdown_table(headers, rows)
