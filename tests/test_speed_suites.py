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
