"""The stability computation in shrinktree.bench: metrics, protocol and the CSV helpers it shares with the CLI."""

import numpy as np
import pandas as pd
import pytest

from shrinktree.bench import (
    CORE_MODELS,
    MODELS,
    encode_target,
    importance_agreement,
    permutation_importances,
    prediction_spread,
    random_half,
    resolve_models,
    run_stability,
    shap_agreement,
    shap_vectors,
)
from shrinktree.bench.report import format_result, relative_summary
from shrinktree.bench.tabular import DataError, infer_task, read_csv, split_target


# -- metrics ------------------------------------------------------------------------------------
def test_prediction_spread_regression_is_mean_row_sd_over_scale():
    predictions = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 5.0], [4.0, 1.0, 8.0]])
    expected = np.mean([2.0, 0.0, np.std([5.0, 5.0, 8.0], ddof=1)]) / 2.0
    assert prediction_spread(predictions, "regression", y_scale=2.0) == pytest.approx(expected)


def test_prediction_spread_classification_uses_probabilities():
    binary = np.array([[[0.8, 0.2], [0.5, 0.5]], [[0.6, 0.4], [0.5, 0.5]]])
    assert prediction_spread(binary, "binary") == pytest.approx(np.std([0.2, 0.4], ddof=1) / 2)
    identical = np.repeat(np.array([[[0.2, 0.3, 0.5]]]), 3, axis=0)
    assert prediction_spread(identical, "multiclass") == pytest.approx(0.0, abs=1e-12)


def test_prediction_spread_needs_two_refits():
    with pytest.raises(ValueError, match="two refits"):
        prediction_spread(np.ones((1, 4)), "regression")


def test_importance_agreement_ranks():
    same_order = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    assert importance_agreement(same_order) == pytest.approx(1.0)
    reversed_order = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    assert importance_agreement(reversed_order) == pytest.approx(-1.0)
    three = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert importance_agreement(three) == pytest.approx((1.0 - 1.0 - 1.0) / 3)
    assert np.isnan(importance_agreement(np.zeros((3, 4))))
    with pytest.raises(ValueError):
        importance_agreement(np.ones(4))


def test_random_half_is_a_half_and_stratified():
    rng = np.random.default_rng(0)
    y = np.array([0] * 90 + [1] * 10)
    half = random_half(y, "binary", rng)
    assert len(np.unique(half)) == len(half) == 50
    assert np.sum(y[half] == 1) == 5
    other = random_half(y, "binary", rng)
    assert not np.array_equal(half, other)
    regression = random_half(np.arange(11.0), "regression", rng)
    assert len(regression) == 5 and np.all(np.diff(regression) > 0)


def test_permutation_importances_find_the_informative_feature():
    class UsesFirstColumn:
        def predict(self, X):
            return 3.0 * np.asarray(X)[:, 0]

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = 3.0 * X[:, 0]
    permutations = np.array([rng.permutation(200) for _ in range(3)])
    importances = permutation_importances(UsesFirstColumn(), X, y, "regression", 1, permutations)
    assert importances[0] > 1.0
    assert importances[1] == importances[2] == 0.0
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    assert np.allclose(permutation_importances(UsesFirstColumn(), frame, y, "regression", 1, permutations),
                       importances)


def test_encode_target():
    codes, task = encode_target(np.array(["b", "a", "b"]), "classification")
    assert task == "binary" and codes.tolist() == [1, 0, 1]
    codes, task = encode_target(np.array([3, 1, 2, 1]), "multiclass")
    assert task == "multiclass" and codes.tolist() == [2, 0, 1, 0]
    with pytest.raises(ValueError, match="two classes"):
        encode_target(np.array(["a", "a"]), "binary")
    with pytest.raises(ValueError, match="missing"):
        encode_target(np.array([1.0, np.nan]), "regression")


def test_resolve_models():
    specs, skipped = resolve_models(["shrinktree", "sklearn-hgb"])
    assert [s.name for s in specs] == ["shrinktree", "sklearn-hgb"] and skipped == []
    assert set(CORE_MODELS) == {"shrinktree", "shrinktree-none", "sklearn-hgb"}
    assert MODELS["shrinktree"].inputs == "frame" and MODELS["xgboost"].inputs == "ordinal"
    with pytest.raises(ValueError, match="Unknown model"):
        resolve_models(["shrinktree", "no-such-model"])
    with pytest.raises(ValueError, match="repeated"):
        resolve_models(["shrinktree", "shrinktree"])


def test_shap_agreement_is_the_mean_row_correlation_between_refits():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 5))
    assert shap_agreement(np.stack([base, 3.0 * base])) == pytest.approx(1.0)  # same up to scale
    assert shap_agreement(np.stack([base, -base, base])) == pytest.approx(-1 / 3)  # pairs: -1, 1, -1
    other = rng.normal(size=(20, 5))
    expected = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(base, other)])
    assert shap_agreement(np.stack([base, other])) == pytest.approx(expected)
    # A refit whose row is explained by nothing (all zero) has no correlation with that row: left out.
    zeroed = other.copy()
    zeroed[0] = 0.0
    expected = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(base[1:], other[1:])])
    assert shap_agreement(np.stack([base, zeroed])) == pytest.approx(expected)
    assert np.isnan(shap_agreement(np.zeros((2, 4, 3))))
    assert np.isnan(shap_agreement(base[None, :, :1].repeat(2, axis=0)))
    with pytest.raises(ValueError, match="n_refits"):
        shap_agreement(base[None])


def test_shap_vectors_drop_the_bias_and_line_up_class_blocks():
    import lightgbm
    from sklearn.ensemble import HistGradientBoostingClassifier

    from shrinktree import ShrinkBoostClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = np.digitize(X[:, 0] + 0.3 * rng.normal(size=300), [-0.5, 0.5])
    ours = ShrinkBoostClassifier(n_estimators=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(shap_vectors(ours, X[:7]), ours.predict_contributions(X[:7])[:, :, :3]
                                  .reshape(7, 9))
    theirs = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    contrib = theirs.predict(X[:7], pred_contrib=True).reshape(7, 3, 4)
    np.testing.assert_array_equal(shap_vectors(theirs, X[:7]), contrib[:, :, :3].reshape(7, 9))
    assert shap_vectors(HistGradientBoostingClassifier(max_iter=5).fit(X, y), X[:7]) is None


# -- the protocol -------------------------------------------------------------------------------
def _noisy_groups(n=600, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    X = pd.DataFrame({"group": pd.Categorical(group), "x": x, "noise": rng.normal(size=n)})
    y = 0.5 * x + rng.normal(size=n) * 2.0
    return X, y


def test_run_stability_table_and_determinism():
    X, y = _noisy_groups()
    first = run_stability(X, y, "regression", ["shrinktree", "sklearn-hgb"], dataset="toy", n_halves=2,
                          importance_rows=100, random_state=3, n_threads=1)
    table = first.table
    assert table["model"].tolist() == ["shrinktree", "sklearn-hgb"]
    assert table["dataset"].eq("toy").all() and table["task"].eq("regression").all()
    assert not table["failed"].any()
    assert (table["error"] > 0.5).all() and (table["error"] < 2).all()
    assert (table["spread"] > 0).all() and (table["fit_seconds"] > 0).all()
    assert table["auc"].isna().all()
    assert table["importance_corr"].between(-1, 1).all()
    assert -1 <= table.loc[0, "shap_corr"] <= 1 and np.isnan(table.loc[1, "shap_corr"])  # HGB: no TreeSHAP
    again = run_stability(X, y, "regression", ["shrinktree", "sklearn-hgb"], dataset="toy", n_halves=2,
                          importance_rows=100, random_state=3, n_threads=1)
    pd.testing.assert_frame_equal(table.drop(columns="fit_seconds"), again.table.drop(columns="fit_seconds"))
    text = format_result(table)
    assert "shrinktree" in text and "RMSE / sd(y)" in text


def test_pooling_is_more_stable_than_plain_boosting_on_noise():
    X, y = _noisy_groups(n=800, seed=5)
    table = run_stability(X, y, "regression", ["shrinktree", "shrinktree-none"], n_halves=3,
                          importance_rows=100, random_state=0, n_threads=1).table.set_index("model")
    assert table.loc["shrinktree", "spread"] < 0.7 * table.loc["shrinktree-none", "spread"]
    assert table.loc["shrinktree", "error"] < table.loc["shrinktree-none", "error"]
    # Pooling away the noise splits also makes the refits explain the test rows more alike.
    assert table.loc["shrinktree", "shap_corr"] > table.loc["shrinktree-none", "shap_corr"] + 0.1


def test_run_stability_classification_subsample_and_progress():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    y = np.where(X["a"] + 0.5 * rng.normal(size=500) > 0, "yes", "no")
    calls = []
    result = run_stability(X, y, "classification", ["shrinktree", "sklearn-hgb"], dataset="cls", n_halves=2,
                           max_rows=300, importance_rows=50, n_threads=1,
                           progress=lambda d, t, m: calls.append((d, t, m)))
    table = result.table
    assert table["task"].eq("binary").all() and table["n_rows"].eq(300).all()
    assert (table["auc"] > 0.75).all() and (table["error"] < np.log(2)).all()
    assert any("subsampled to 300 of 500" in note for note in result.notes)
    assert [c[0] for c in calls] == list(range(1, 7)) and all(c[1] == 6 for c in calls)


def test_run_stability_reports_a_failing_model_without_stopping(monkeypatch):
    from shrinktree.bench import models as model_module

    def broken(task, random_state, n_threads=None):
        raise RuntimeError("cannot fit")

    spec = model_module.MODELS["sklearn-hgb"]
    monkeypatch.setitem(model_module.MODELS, "sklearn-hgb",
                        model_module.ModelSpec(spec.name, spec.label, None, "ordinal", broken))
    X, y = _noisy_groups(n=200)
    result = run_stability(X, y, "regression", ["shrinktree", "sklearn-hgb"], n_halves=2, importance_rows=50,
                           n_threads=1)
    table = result.table.set_index("model")
    assert table.loc["sklearn-hgb", "failed"] and np.isnan(table.loc["sklearn-hgb", "error"])
    assert not table.loc["shrinktree", "failed"]
    assert any("sklearn-hgb failed" in note and "cannot fit" in note for note in result.notes)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_halves": 1}, "n_halves"),
    ({"test_size": 1.5}, "test_size"),
    ({"models": ["nope"]}, "Unknown model"),
    ({"n_threads": 0}, "n_threads"),
])
def test_run_stability_rejects_bad_settings(kwargs, message):
    X, y = _noisy_groups(n=100)
    with pytest.raises(ValueError, match=message):
        run_stability(X, y, "regression", **kwargs)


def test_run_stability_rejects_bad_data():
    X, y = _noisy_groups(n=100)
    with pytest.raises(TypeError, match="DataFrame"):
        run_stability(X.to_numpy(), y, "regression")
    with pytest.raises(ValueError, match="rows"):
        run_stability(X, y[:50], "regression")
    with pytest.raises(ValueError, match="at least 40 rows"):
        run_stability(X.iloc[:30], y[:30], "regression")


def test_relative_summary_ratios():
    rows = []
    for dataset, (ours, ref) in {"a": (0.5, 1.0), "b": (2.0, 1.0)}.items():
        for model, error, spread in (("shrinktree", ours, ours / 4), ("lightgbm", ref, ref)):
            rows.append({"dataset": dataset, "task": "regression", "model": model, "error": error,
                         "spread": spread, "importance_corr": 0.5, "fit_seconds": 1.0, "failed": False})
    summary = relative_summary(pd.DataFrame(rows), "lightgbm")
    assert summary.loc["lightgbm", "error_ratio"] == pytest.approx(1.0)
    assert summary.loc["shrinktree", "error_ratio"] == pytest.approx(1.0)  # sqrt(0.5 * 2)
    assert summary.loc["shrinktree", "spread_ratio"] == pytest.approx(0.25)
    assert summary.loc["shrinktree", "error_wins"] == 1 and summary.loc["shrinktree", "spread_wins"] == 2


# -- CSV helpers --------------------------------------------------------------------------------
def test_read_csv_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="directory"):
        read_csv(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_csv(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(DataError, match="no data rows"):
        read_csv(header_only)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match="not a well-formed CSV"):
        read_csv(ragged)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\n\xff\xfe\x00,1\n")
    with pytest.raises(DataError, match="UTF-8"):
        read_csv(binary)
    duplicated = tmp_path / "dup.csv"
    duplicated.write_text("a,a,b\n1,2,3\n")
    with pytest.raises(DataError, match="repeats column"):
        read_csv(duplicated)


def test_split_target_and_infer_task():
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1.5, None, 2.5, 3.5]})
    X, y = split_target(frame, "y")
    assert list(X.columns) == ["x"] and y.tolist() == [1.5, 2.5, 3.5]
    with pytest.raises(DataError, match="'z' is not in"):
        split_target(frame, "z")
    with pytest.raises(DataError, match="no feature columns"):
        split_target(frame[["y"]], "y")
    assert infer_task(pd.Series([1.5, 2.0, 3.0])) == "regression"
    assert infer_task(pd.Series(["a", "b", "a"])) == "classification"
    assert infer_task(pd.Series([0, 1, 1])) == "classification"
    assert infer_task(pd.Series([0, 1, 2]), "classification") == "classification"
    with pytest.raises(DataError, match="numeric"):
        infer_task(pd.Series(["a", "b"]), "regression")
    with pytest.raises(DataError, match="single value"):
        infer_task(pd.Series(["a", "a"]))
