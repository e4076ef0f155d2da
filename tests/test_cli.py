"""The shrinktree command line: bench, fit and predict, including their error paths."""

import io
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from shrinktree.cli import ProgressLine, main


@pytest.fixture(autouse=True)
def _one_numba_thread():
    # Tests run two to a 2-core machine: one numba thread each avoids oversubscription.
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(previous)


FAST_BENCH = ["--models", "shrinktree", "sklearn-hgb", "--halves", "2", "--threads", "1", "--no-progress"]


def _write_regression_csv(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    city = rng.choice(["north", "south", "east", "west"], n)
    effect = pd.Series(city).map({"north": 2.0, "south": -2.0, "east": 0.5, "west": 0.0}).to_numpy()
    size = rng.normal(size=n)
    frame = pd.DataFrame({"city": city, "size": size, "noise": rng.normal(size=n),
                          "price": effect + size + 0.3 * rng.normal(size=n)})
    frame.to_csv(path, index=False)
    return frame


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- bench --------------------------------------------------------------------------------------
def test_bench_on_a_bundled_dataset(capsys, tmp_path):
    out_csv = tmp_path / "results.csv"
    code, out, err = _run(["bench", "--dataset", "diabetes", *FAST_BENCH, "--output", str(out_csv)], capsys)
    assert code == 0, err
    assert "dataset: diabetes" in out and "442 rows x 10 features" in out
    rows = out.split("model ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    lines = {line.split()[0]: line.split() for line in rows}
    assert set(lines) == {"shrinktree", "sklearn-hgb"}
    for model in ("shrinktree", "sklearn-hgb"):
        error, spread, corr = map(float, lines[model][1:4])
        seconds = float(lines[model][5])
        assert 0.5 < error < 1.0 and 0 < spread < 1 and -1 <= corr <= 1 and seconds > 0
    # SHAP agreement: exact TreeSHAP for shrinktree, none for HistGradientBoosting.
    assert 0 < float(lines["shrinktree"][4]) <= 1 and lines["sklearn-hgb"][4] == "-"
    headline = next(line for line in out.splitlines() if line.startswith("shrinktree vs sklearn-hgb:"))
    assert f"prediction spread {float(lines['shrinktree'][2]):.4f} vs {float(lines['sklearn-hgb'][2]):.4f}" in headline
    table = pd.read_csv(out_csv)
    assert table["model"].tolist() == ["shrinktree", "sklearn-hgb"]
    assert table["dataset"].eq("diabetes").all() and not table["failed"].any()


def test_bench_on_a_csv_with_categories(capsys, tmp_path):
    path = tmp_path / "houses.csv"
    _write_regression_csv(path)
    code, out, err = _run(["bench", "--csv", str(path), "--target", "price", *FAST_BENCH], capsys)
    assert code == 0, err
    assert "dataset: houses" in out and "regression, 400 rows x 3 features" in out
    shrinktree_line = next(line for line in out.splitlines() if line.startswith("shrinktree "))
    assert float(shrinktree_line.split()[1]) < 0.5  # the city effect and size are learned


def test_bench_shows_progress_and_quick_settings(capsys):
    code, out, err = _run(["bench", "--quick", "--models", "shrinktree", "--threads", "1"], capsys)
    assert code == 0
    assert "2 random-half refits" in out
    assert "[1/3]" in err and "[3/3]" in err and "shrinktree on random half 2/2" in err


@pytest.mark.parametrize("argv, message", [
    (["bench", "--dataset", "no_such_data"], "Unknown dataset 'no_such_data'"),
    (["bench", "--csv", "missing.csv", "--target", "y"], "CSV file not found"),
    (["bench", "--csv", "data.csv"], "--csv needs --target"),
    (["bench", "--target", "y"], "--target is only used with --csv"),
    (["bench", "--csv", "data.csv", "--target", "nope"], "Target column 'nope' is not in"),
    (["bench", "--models", "shrinktree", "catboost"], "Unknown model(s) 'catboost'"),
])
def test_bench_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_regression_csv(tmp_path / "data.csv", n=60)
    code, out, err = _run(argv, capsys)
    assert code == 1
    assert message in err and err.startswith("shrinktree bench: error:")
    assert "Traceback" not in err


def test_bench_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--halves", "0"])
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--dataset", "diabetes", "--csv", "x.csv"])
    assert "not allowed with" in capsys.readouterr().err


# -- fit / predict ------------------------------------------------------------------------------
def test_fit_predict_round_trip_regression(capsys, tmp_path):
    train_path, model_path = tmp_path / "train.csv", tmp_path / "model.pkl"
    train = _write_regression_csv(train_path)
    code, out, err = _run(["fit", "--csv", str(train_path), "--target", "price", "--out", str(model_path)], capsys)
    assert code == 0, err
    assert "ShrinkBoostRegressor" in out and "400 rows x 3 features" in out and "(regression;" in out
    assert "categorical columns (ordinal-encoded, unseen levels -> missing): city" in out
    new = pd.DataFrame({"noise": [0.0, 0.0, 0.0], "size": [0.0, 0.0, 0.0], "city": ["north", "south", "mars"],
                        "unused": [1, 2, 3]})
    new_path, pred_path = tmp_path / "new.csv", tmp_path / "pred.csv"
    new.to_csv(new_path, index=False)
    code, out, err = _run(["predict", "--model", str(model_path), "--csv", str(new_path), "--out", str(pred_path)],
                          capsys)
    assert code == 0, err
    predictions = pd.read_csv(pred_path)["prediction"].to_numpy()
    assert predictions.shape == (3,) and np.all(np.isfinite(predictions))
    assert predictions[0] > 1.0 and predictions[1] < -1.0  # north +2, south -2
    assert abs(predictions[2]) < 2.0  # an unseen city is treated as missing
    # Predicting the training file itself (target column ignored) agrees with the saved model.
    code, out, _ = _run(["predict", "--model", str(model_path), "--csv", str(train_path)], capsys)
    assert code == 0
    from_stdout = pd.read_csv(io.StringIO(out))["prediction"].to_numpy()
    with open(model_path, "rb") as handle:
        payload = pickle.load(handle)
    direct = payload["model"].predict(payload["encoder"].transform(train))
    np.testing.assert_allclose(from_stdout, direct, rtol=1e-6)
    assert np.corrcoef(from_stdout, train["price"])[0, 1] > 0.9


def test_fit_predict_classification_with_text_labels(capsys, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    frame = pd.DataFrame({"x": x, "group": rng.choice(["a", "b"], 300),
                          "label": np.where(x + 0.3 * rng.normal(size=300) > 0, "spam", "ham")})
    frame.loc[::50, "label"] = np.nan
    path, model_path = tmp_path / "mail.csv", tmp_path / "m.pkl"
    frame.to_csv(path, index=False)
    code, out, err = _run(["fit", "--csv", str(path), "--target", "label", "--out", str(model_path)], capsys)
    assert code == 0, err
    assert "ShrinkBoostClassifier" in out and "dropped 6 row(s) with a missing target" in out
    code, out, err = _run(["predict", "--model", str(model_path), "--csv", str(path)], capsys)
    assert code == 0, err
    predictions = pd.read_csv(io.StringIO(out))
    assert list(predictions.columns) == ["prediction", "proba_ham", "proba_spam"]
    np.testing.assert_allclose(predictions[["proba_ham", "proba_spam"]].sum(axis=1), 1.0)
    labelled = frame["label"].notna()
    accuracy = np.mean(predictions["prediction"][labelled] == frame["label"][labelled])
    assert accuracy > 0.85


def test_fit_errors(capsys, tmp_path):
    good = tmp_path / "good.csv"
    _write_regression_csv(good, n=50)
    model = str(tmp_path / "m.pkl")
    cases = {
        "missing": (["--csv", str(tmp_path / "nope.csv"), "--target", "price"], "CSV file not found"),
        "target": (["--csv", str(good), "--target", "cost"], "Target column 'cost' is not in"),
    }
    malformed = tmp_path / "bad.csv"
    malformed.write_text('a,b,price\n1,2,3\n4,5,6,7,8\n"unclosed,1,2\n')
    cases["malformed"] = (["--csv", str(malformed), "--target", "price"], "is not a well-formed CSV")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases["empty"] = (["--csv", str(empty), "--target", "price"], "is empty")
    text_target = tmp_path / "text.csv"
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}).to_csv(text_target, index=False)
    cases["regression on text"] = (["--csv", str(text_target), "--target", "y", "--task", "regression"],
                                   "must be numeric")
    cases["no folder"] = (["--csv", str(good), "--target", "price", "--out", str(tmp_path / "no" / "m.pkl")],
                          "does not exist")
    for name, (argv, message) in cases.items():
        if "--out" not in argv:
            argv = [*argv, "--out", model]
        code, _, err = _run(["fit", *argv], capsys)
        assert code == 1, name
        assert message in err, (name, err)
        assert "Traceback" not in err


def test_predict_errors(capsys, tmp_path):
    train = tmp_path / "train.csv"
    _write_regression_csv(train, n=80)
    model = tmp_path / "m.pkl"
    assert main(["fit", "--csv", str(train), "--target", "price", "--out", str(model)]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a model")
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps({"something": 1}))
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"city": ["north"], "size": [1.0]}).to_csv(lacking, index=False)
    malformed = tmp_path / "bad.csv"
    malformed.write_text("city,size,noise\nnorth,1,2\nsouth,1,2,3,4\n")
    cases = [
        (["--model", str(tmp_path / "none.pkl"), "--csv", str(train)], "Model file not found"),
        (["--model", str(garbage), "--csv", str(train)], "is not a model saved by 'shrinktree fit'"),
        (["--model", str(foreign), "--csv", str(train)], "is not a model saved by 'shrinktree fit'"),
        (["--model", str(model), "--csv", str(tmp_path / "none.csv")], "CSV file not found"),
        (["--model", str(model), "--csv", str(lacking)], "lacks column(s) the model was fitted on: noise"),
        (["--model", str(model), "--csv", str(malformed)], "is not a well-formed CSV"),
    ]
    for argv, message in cases:
        code, _, err = _run(["predict", *argv], capsys)
        assert code == 1 and message in err, (argv, err)


# -- plumbing -----------------------------------------------------------------------------------
def test_progress_line_streams():
    plain = io.StringIO()
    progress = ProgressLine(stream=plain)
    progress(1, 10, "first")
    progress(10, 10, "last")
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[ 1/10]") and lines[1].endswith("last")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = ProgressLine(stream=terminal)
    progress(1, 2, "a long first message")
    progress(2, 2, "short")
    progress.close()
    assert "\n" not in terminal.getvalue() and terminal.getvalue().count("\r") == 4
    silent = io.StringIO()
    ProgressLine(stream=silent, enabled=False)(1, 1, "x")
    assert silent.getvalue() == ""


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "shrinktree", "bench", "--dataset", "unknown"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Unknown dataset 'unknown'" in done.stderr


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("bench", "fit", "predict"))


@pytest.mark.slow
def test_bench_without_arguments_runs_every_installed_model(capsys):
    code, out, err = _run(["bench"], capsys)
    assert code == 0, err
    assert "dataset: diabetes" in out and "shrinktree-none" in out and "sklearn-hgb" in out
