"""benchmarks/peer_ablations.py: which variants apply where, and a tiny run through its whole path."""

import json

import numba  # noqa: F401 - read numba's thread count before a benchmark pins NUMBA_NUM_THREADS=1 at its import
import numpy as np
import pytest


def test_every_dataset_fits_shrinktree_and_each_winning_peer_default_first(load_benchmark):
    ab = load_benchmark("peer_ablations")
    for name, peers in ab.DATASETS.items():
        variants = ab.variants_for(name)
        families = [v.family for v in variants]
        assert families[0] == "shrinktree" and variants[0].name == ab.DEFAULT
        for family in peers:
            first = families.index(family)
            assert variants[first].name == ab.DEFAULT
            assert all(v.name != ab.DEFAULT for v in variants[first + 1:] if v.family == family)
        labels = [ab.label(v) for v in variants]
        assert len(set(labels)) == len(labels)


def test_inert_variants_follow_the_documented_gates(load_benchmark):
    ab = load_benchmark("peer_ablations")
    by_name = {v.name: v for v in ab.CHIMERABOOST_VARIANTS + ab.CATBOOST_VARIANTS}
    small_multiclass = ab.Info("multiclass", 133, 13, ())
    churn_like = ab.Info("binary", 3750, 15, (51, 3, 2, 2))
    regression = ab.Info("regression", 15000, 6, (5, 300))
    for name in ("cross_features=False", "linear_leaves=False", "cat_count_features=False",
                 "one_hot_max_size 255 (no ctr)"):
        assert by_name[name].inert(small_multiclass)
    for name in ("cross_features=False", "linear_leaves=False", "cat_combinations=True", "no temperature scaling",
                 "no Counter ctr", "1 leaf Newton step"):
        assert by_name[name].inert(churn_like) is None
    assert "256" in by_name["cat_count_features=False"].inert(churn_like)
    assert by_name["cat_count_features=False"].inert(regression) is None
    assert by_name["no temperature scaling"].inert(regression)
    assert by_name["1 leaf Newton step"].inert(regression)


def test_tiny_run_stores_scores_and_renders(load_benchmark, tmp_path):
    pytest.importorskip("catboost")
    pytest.importorskip("chimeraboost")
    ab = load_benchmark("peer_ablations")
    V = ab.Variant
    variants = [V("shrinktree", ab.DEFAULT, {"n_estimators": 5}),
                V("lightgbm", ab.DEFAULT, {"n_estimators": 5}),
                V("catboost", ab.DEFAULT, {"iterations": 5}),
                V("catboost", "depth 4", {"iterations": 5, "depth": 4}),
                V("catboost", "no Counter ctr", {"simple_ctr": ["Borders"]}, ab._without_categories),
                V("chimeraboost", ab.DEFAULT, {"n_estimators": 5}),
                V("chimeraboost", "no temperature scaling", {"n_estimators": 5}, ab._classification_only,
                  after_fit="no temperature")]
    result = ab.run_dataset("wine", 2, 1000, lambda message: None, variants)
    assert result["inert"] == [{"label": "CatBoost no Counter ctr", "family": "catboost", "name": "no Counter ctr",
                                "reason": "no category column"}]
    assert len(result["variants"]) == 6
    for key, errors in result["error"].items():
        assert len(errors) == 2 and all(np.isfinite(errors)) and len(result["seconds"][key]) == 2
    assert [d["trees"] for d in result["details"]["CatBoost depth 4"]] == [5, 5]
    assert all(d["temperature"] == 1.0 for d in result["details"]["ChimeraBoost no temperature scaling"])
    text = ab.table(result)
    assert "| CatBoost no Counter ctr | inert |" in text and "| shrinktree default |" in text
    depth = ab._mean(result["error"]["CatBoost depth 4"]) / ab._mean(result["error"]["CatBoost default"]) - 1
    assert f"{100 * depth:+.1f}%" in text.split("| CatBoost depth 4 |")[1].split("\n")[0]
    path = tmp_path / "scores.json"
    result["runs"] = [{"families": ["catboost", "chimeraboost", "lightgbm", "shrinktree"], "command": "first",
                       "commit": "x", "load_before": "0", "finished": "now"}]
    path.write_text(json.dumps({"results": {"wine": result}}))
    assert ab.main(["--render-from", str(path)]) == 0

    # A second run of one family replaces that family's scores and keeps the others'.
    again = ab.run_dataset("wine", 2, 1000, lambda message: None, [V("shrinktree", ab.DEFAULT, {"n_estimators": 3})])
    again["runs"] = [{"families": ["shrinktree"], "command": "second", "commit": "y", "load_before": "0",
                      "finished": "later"}]
    merged = ab.merge(result, again, ["shrinktree"])
    assert merged["error"]["shrinktree default"] == again["error"]["shrinktree default"]
    assert merged["error"]["CatBoost depth 4"] == result["error"]["CatBoost depth 4"]
    assert [e["label"] for e in merged["variants"]] == [e["label"] for e in result["variants"]]
    assert merged["inert"] == result["inert"]
    assert [r["command"] for r in merged["runs"]] == ["first", "second"]


def test_unknown_dataset_is_refused(load_benchmark):
    ab = load_benchmark("peer_ablations")
    with pytest.raises(SystemExit):
        ab.main(["--datasets", "nope"])


def test_catboost_variants_keep_the_defaults_learning_rate_unless_they_change_the_iterations(load_benchmark):
    ab = load_benchmark("peer_ablations")
    V = ab.Variant
    l2 = ab.make_model(V("catboost", "l2_leaf_reg 1", {"l2_leaf_reg": 1.0}), "binary", 0, 0.05)
    assert l2.options == {"l2_leaf_reg": 1.0, "learning_rate": 0.05}
    assert ab.make_model(V("catboost", "300", {"iterations": 300}), "binary", 0, 0.05).options == {"iterations": 300}
    assert ab.make_model(V("catboost", ab.DEFAULT), "binary", 0, 0.05).options is None
    assert ab.make_model(V("catboost", "depth 4", {"depth": 4}), "binary", 0, None).options == {"depth": 4}
