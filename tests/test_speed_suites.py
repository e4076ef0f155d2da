"""The grouped real-data suite of benchmarks/speed.py runs end to end and reports every target it measures."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_grouped_suite_times_both_libraries_at_both_thread_counts(monkeypatch):
    grouped = _load("_speed_grouped")
    monkeypatch.setattr(grouped, "N_TREES", 5)
    original = grouped.make_model
    monkeypatch.setattr(grouped, "make_model",
                        lambda library, task, n_jobs: original(library, task, n_jobs).set_params(n_estimators=5))
    results = grouped.time_suite(2, lambda message: None, names=("wages",))
    (result,) = results
    assert result["rows"] == 6402 and result["grouping"].startswith("id 888")
    assert set(result["times"]) == {(lib, jobs) for lib in grouped.LIBRARIES for jobs in grouped.THREADS}
    assert all(len(t) == 2 and min(t) > 0 for t in result["times"].values())
