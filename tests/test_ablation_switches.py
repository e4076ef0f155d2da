"""The private measurement switches of benchmarks/ablations.py: unset they are today's design, set they change it."""

import numpy as np
import pytest

from shrinktree import ShrinkBoostRegressor
from shrinktree.boosting.honest import DEFAULT_MIN_LEAF_RULE, HONEST_FRACTION, held_out_mask, row_hashes


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 2.0 * X[:, 0] + np.sin(3 * X[:, 1]) + rng.normal(0, 0.5, n)
    return X, y


def _fit(X, y, **switches):
    model = ShrinkBoostRegressor(n_estimators=20, random_state=0)
    for name, value in switches.items():
        setattr(model, name, value)
    return model.fit(X, y)


def test_held_out_share_follows_the_fraction():
    X, y = _data(4000)
    hashes = row_hashes(np.zeros((1, len(y)), dtype=np.uint8), np.zeros((0, len(y)), dtype=np.int64), y, 255)
    for fraction in (0.2, 0.5):
        share = held_out_mask(hashes, 3, 0, fraction).mean()
        assert abs(share - fraction) < 0.03
    assert np.array_equal(held_out_mask(hashes, 3, 0), held_out_mask(hashes, 3, 0, HONEST_FRACTION))


def test_switches_at_todays_values_give_the_same_model():
    X, y = _data()
    base = _fit(X, y).predict(X)
    same = _fit(X, y, _honest_fraction=HONEST_FRACTION, _honest_alternate=False,
                _min_leaf_of_all_rows=DEFAULT_MIN_LEAF_RULE)
    assert np.array_equal(base, same.predict(X))


@pytest.mark.parametrize("switches", [{"_honest_fraction": 0.2}, {"_honest_alternate": True},
                                      {"_min_leaf_of_all_rows": True}])
def test_each_switch_changes_the_model_deterministically(switches):
    X, y = _data()
    base = _fit(X, y).predict(X)
    first, second = _fit(X, y, **switches).predict(X), _fit(X, y, **switches).predict(X)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, base)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, True, "half"])
def test_a_bad_held_out_fraction_is_refused_before_fitting(fraction):
    X, y = _data()
    model = ShrinkBoostRegressor(n_estimators=5)
    model._honest_fraction = fraction
    with pytest.raises(ValueError, match="_honest_fraction"):
        model.fit(X, y)
    assert not hasattr(model, "n_iter_")


def test_min_leaf_of_all_rows_lets_a_tiny_honest_fit_split():
    # 60 rows: about 30 choose the splits, fewer than 2 x min_samples_leaf = 40, so under the former rule
    # (False) the trees are stumps with no split; asking min_samples_leaf of the split-choosing share
    # (10 rows), always (True) or for such trees only (the default, "if-constant"), lets them split.
    X, y = _data(60)
    former = _fit(X, y, _min_leaf_of_all_rows=False)

    def n_split_trees(model):
        return sum(int(np.any(tree.left >= 0)) for trees in model._trees for tree in trees)

    assert n_split_trees(former) == 0
    assert n_split_trees(_fit(X, y, _min_leaf_of_all_rows=True)) > 0
    assert n_split_trees(_fit(X, y)) > 0


def test_ablation_summary_counts_against_the_default(load_benchmark):
    ab = load_benchmark("ablations")
    results = [
        {"name": "a", "rows": 10, "error": {"default": [1.0, 1.0], "c": [0.9, 0.9]},
         "seconds": {"default": [1.0, 1.0], "c": [2.0, 2.0]}},
        {"name": "b", "rows": 10, "error": {"default": [0.5, 0.5], "c": [0.6, 0.6]},
         "seconds": {"default": [1.0, 1.0], "c": [4.0, 4.0]}},
    ]
    s = ab.candidate_summary(results, "c")
    assert s["wins"] == 1 and s["n"] == 2
    assert s["mean_rel"] == pytest.approx((-10.0 + 20.0) / 2)
    assert s["best"] == ("a", pytest.approx(-10.0)) and s["worst"] == ("b", pytest.approx(20.0))
    assert s["time_ratio"] == pytest.approx(3.0)


def test_ablation_models_carry_their_switches_and_leave_none_alone(load_benchmark):
    ab = load_benchmark("ablations")
    model = ab.make_model("held-out share 0.3", "regression", 0)
    assert model._honest_fraction == 0.3 and model.get_params()["shrinkage"] == "eb"
    none = ab.make_model(ab.NONE, "binary", 0)
    assert none.get_params()["shrinkage"] == "none" and not hasattr(none, "_honest_fraction")
    assert set(ab.DEFAULT_CANDIDATES) <= set(ab.CANDIDATES)
    with pytest.raises(ValueError, match="unknown model"):
        ab.make_model("no such change", "regression", 0)


def test_min_leaf_if_constant_changes_only_trees_that_could_not_split():
    small_X, small_y = _data(60)
    assert np.array_equal(_fit(small_X, small_y, _min_leaf_of_all_rows="if-constant").predict(small_X),
                          _fit(small_X, small_y, _min_leaf_of_all_rows=True).predict(small_X))
    X, y = _data(300)  # about 150 split-choosing rows: every tree can split, the rule never applies
    assert np.array_equal(_fit(X, y, _min_leaf_of_all_rows="if-constant").predict(X), _fit(X, y).predict(X))


def test_peer_comparison_counts_wins_against_the_best_peer_and_checks_the_default(load_benchmark):
    ab = load_benchmark("ablations")
    results = [
        {"name": "a", "rows": 10, "error": {"default": [1.0, 1.0], "c": [0.7, 0.7]},
         "seconds": {"default": [1.0, 1.0], "c": [2.0, 2.0]}},
        {"name": "b", "rows": 10, "error": {"default": [0.5, 0.5], "c": [0.505, 0.505]},
         "seconds": {"default": [1.0, 1.0], "c": [4.0, 4.0]}},
    ]

    def stored(name, default, peers):
        scores = {ab.PEERS_DEFAULT: {"RMSE/sd": default}}
        scores.update({peer: {"RMSE/sd": [value]} for peer, value in zip(ab.PEERS, peers)})
        return {"name": name, "scores": scores, "seconds": {ab.TIME_PEER: [10.0]}}

    peers = {"results": [stored("a", [1.0, 1.0], [0.9, 0.8, 0.95, 0.85]),
                         stored("b", [0.5, 0.5], [0.6, 0.5, 0.7, 0.55])]}
    rows = ab.peer_comparison(results, ["default", "c"], peers)
    # default: loses on a (1.0 against 0.8), ties b (0.5, not lower, within 2%); c: wins a, within 1% on b.
    assert rows == [["default", "0 of 2", "1 of 2", "0.100"], ["c", "1 of 2", "2 of 2", "0.300"]]
    peers["results"][1]["scores"][ab.PEERS_DEFAULT]["RMSE/sd"] = [0.5, 0.51]
    with pytest.raises(ValueError, match="the default's scores differ"):
        ab.peer_comparison(results, ["c"], peers)
    with pytest.raises(ValueError, match="no scores for 'a'"):
        ab.peer_comparison(results, ["c"], {"results": peers["results"][1:]})


def test_cross_feature_switches_change_the_model_and_unset_change_nothing():
    X, y = _data(400)
    plain = _fit(X, y)
    crossed = ShrinkBoostRegressor(n_estimators=20, random_state=0, cross_features=True).fit(X, y)
    assert crossed.cross_features_ and not np.array_equal(crossed.predict(X), plain.predict(X))
    raw = ShrinkBoostRegressor(n_estimators=20, random_state=0, cross_features=True)
    raw._cross_scaling = "raw"
    raw.fit(X, y)
    assert not np.array_equal(raw._crosses.scale, crossed._crosses.scale)
    bad = ShrinkBoostRegressor(n_estimators=5, cross_features=True)
    bad._cross_probe_trees = 0
    with pytest.raises(ValueError, match="_cross_probe_trees"):
        bad.fit(X, y)


def test_cross_probe_benchmark_times_the_probes_of_a_small_dataset(load_benchmark):
    cp = load_benchmark("cross_probe")
    row = cp.measure("diabetes", 1)
    assert row[0] == "diabetes" and len(row) == 3 + len(cp.PROBES) + len(cp.PROBES) - 1
    assert all(float(share) > 0 for share in row[3:3 + len(cp.PROBES)])
    assert set(row[3 + len(cp.PROBES):]) <= {"same", "other"}


def test_tau_memory_zero_is_todays_model_and_a_memory_changes_the_pooling():
    X, y = _data()
    base = _fit(X, y)
    assert np.array_equal(base.predict(X), _fit(X, y, _tau_memory=0.0).predict(X))
    remembered = _fit(X, y, _tau_memory=0.9)
    assert not np.array_equal(base.pooling_strength_, remembered.pooling_strength_)
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match="_tau_memory"):
            _fit(X, y, _tau_memory=bad)


def test_moment_memory_discounts_the_earlier_trees():
    from shrinktree.boosting.pooling import MomentMemory

    memory = MomentMemory(0.5)
    assert memory.update(2.0, 4.0) == 0.5
    # (0.5 * 2 + 1) / (0.5 * 4 + 1): the earlier tree's sums count half
    assert memory.update(1.0, 1.0) == pytest.approx(2.0 / 3.0)
    assert memory.update(-10.0, 1.0) == 0.0  # a negative pooled numerator: no spread, pooled to the root


def test_auto_groupings_pick_the_category_column_with_the_most_levels():
    import pandas as pd

    from shrinktree.boosting.random_effects import auto_groupings

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=400), "few": pd.Categorical(rng.integers(0, 5, 400)),
                      "many": pd.Categorical(rng.integers(0, 60, 400)),
                      "some": pd.Categorical(rng.integers(0, 30, 400)),
                      "ids": rng.integers(0, 100, 400)})  # numbers, not a category column
    y = rng.normal(size=400)
    assert auto_groupings(X, y, False, "main", 20) == ["many"]
    assert auto_groupings(X, y, False, "every", 20) == ["many", "some"]
    assert auto_groupings(X, y, False, "main", 100) is None
    assert auto_groupings(X.to_numpy(), y, False, "main", 20) is None
    assert auto_groupings(X, rng.integers(0, 3, 400), True, "main", 20) is None  # multiclass: none
    with pytest.raises(ValueError, match="rule"):
        auto_groupings(X, y, False, "largest", 20)
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="at least 2 levels"):
            auto_groupings(X, y, False, "main", bad)
    model = ShrinkBoostRegressor(n_estimators=40, random_state=0)
    model._auto_random_effects = ("main", 20)
    model.fit(X, y)
    assert list(model.variance_components_.index) == ["many", "Residual"]
    assert model.random_effects is None  # the parameter is left as it was
