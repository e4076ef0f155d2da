"""The grouped real-data suite of benchmarks/speed.py times every library at both thread counts."""


def test_grouped_suite_times_every_library_at_both_thread_counts(monkeypatch, load_benchmark):
    grouped = load_benchmark("_speed_grouped")
    monkeypatch.setattr(grouped, "N_TREES", 5)
    original = grouped.make_model
    monkeypatch.setattr(grouped, "make_model",
                        lambda library, task, n_jobs: original(library, task, n_jobs).set_params(n_estimators=5))
    results = grouped.time_suite(2, lambda message: None, names=("wages",))
    (result,) = results
    assert result["rows"] == 6402 and result["grouping"].startswith("id 888")
    assert set(result["times"]) == {(lib, jobs) for lib in grouped.LIBRARIES for jobs in grouped.THREADS}
    assert all(len(t) == 2 and min(t) > 0 for t in result["times"].values())


def test_grouped_profile_times_every_piece(monkeypatch, load_benchmark):
    # The profile calls the categorical kernels directly, so it breaks when their signatures change.
    profile = load_benchmark("grouped_profile")
    monkeypatch.setattr(profile, "TREES_RECORDED", 2)
    cells = profile.profile("wages", 1).strip("| ").split(" | ")
    assert cells[0] == "wages" and len(cells) == 10
    fit, in_grower, outside, *per_tree = (float(c) for c in cells[1:])
    assert fit > in_grower > 0 and outside > 0 and all(t > 0 for t in per_tree)


def test_weighted_speed_times_both_fits(load_benchmark):
    weighted_speed = load_benchmark("weighted_speed")
    best = weighted_speed.time_fits(6000, 3, 1)
    assert set(best) == {"weighted", "unweighted"} and all(0 < t < 60 for t in best.values())


def test_memory_phases_reports_every_step_with_and_without_packed_rows(load_benchmark):
    memory_phases = load_benchmark("memory_phases")
    for packed_rows in (True, False):
        steps, runtime = memory_phases.run(20_000, 2, 1, packed_rows)
        calls = {label: count for label, count, *_ in steps["steps"]}
        assert calls["grow (compiled node loop)"] == 2 and calls["honest split"] == 2
        assert steps["seconds"] > 0 and runtime["runtime_mb"] > 0


def test_fit_cpu_ab_times_both_checkouts(load_benchmark):
    # This checkout against itself: both sides timed, in child processes, with positive CPU times.
    import os
    from pathlib import Path

    ab = load_benchmark("fit_cpu_ab")
    root = str(Path(__file__).resolve().parents[1])
    cache = os.environ.get("NUMBA_CACHE_DIR", "")
    best = ab.compare(root, cache, cache, ("wages",), rounds=1, n_fits=1)
    assert set(best) == {"base", "this"} and all(0 < best[side]["wages"] < 60 for side in best)
