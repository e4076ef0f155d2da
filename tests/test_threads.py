"""The default thread count leaves busy cores alone; explicit n_jobs is used as given."""

import numba
import numpy as np
import pytest

from shrinktree import ShrinkBoostRegressor, _threads


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has ``cores`` cores and ``runnable`` runnable tasks (this one included)."""
    state = {"cores": 4, "runnable": 1}
    monkeypatch.setattr(_threads, "_cores", lambda: state["cores"])
    monkeypatch.setattr(_threads, "_runnable_tasks", lambda: state["runnable"])
    # This process counts as one runnable thread: the spinning pool of a parallel kernel that an earlier
    # test just ran is not part of the pretended machine.
    monkeypatch.setattr(_threads, "_own_runnable_threads", lambda: 1)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 4)
    return state


def test_idle_machine_uses_every_thread(machine):
    assert _threads.free_cores() == 4
    assert _threads.resolve_n_jobs(None) == 4


def test_busy_cores_are_left_alone(machine):
    machine["runnable"] = 3  # two other tasks running
    assert _threads.resolve_n_jobs(None) == 2
    machine["runnable"] = 9
    assert _threads.free_cores() == 1
    assert _threads.resolve_n_jobs(None) == 1


def test_explicit_n_jobs_ignores_the_load(machine):
    idle = _threads.resolve_n_jobs(-1)
    machine["runnable"] = 9
    assert _threads.resolve_n_jobs(-1) == idle
    assert _threads.resolve_n_jobs(3) == 3


def test_unknown_load_means_every_thread(machine, monkeypatch):
    monkeypatch.setattr(_threads, "_runnable_tasks", lambda: None)
    assert _threads.free_cores() is None
    assert _threads.resolve_n_jobs(None) == 4


def test_the_fewest_other_tasks_seen_count(monkeypatch):
    counts = iter([5, 2, 4])
    monkeypatch.setattr(_threads, "_cores", lambda: 4)
    monkeypatch.setattr(_threads, "_runnable_tasks", lambda: next(counts))
    assert _threads.free_cores(samples=3, interval=0.0) == 3


def test_real_reading_is_a_sane_count():
    free = _threads.free_cores()
    assert free is None or 1 <= free <= _threads._cores()


def test_busy_default_fit_equals_one_thread_fit(machine, monkeypatch):
    monkeypatch.undo()  # numba's real thread count: the fit really sets it
    monkeypatch.setattr(_threads, "_runnable_tasks", lambda: machine["runnable"])
    monkeypatch.setattr(_threads, "_cores", lambda: numba.config.NUMBA_NUM_THREADS)
    chosen = []
    original = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (chosen.append(n), original(n))[1])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(21_000, 4))
    y = X[:, 0] + rng.normal(size=21_000)
    machine["runnable"] = 9
    busy = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y).predict(X[:500])
    assert chosen[0] == 1  # the fit's thread count
    machine["runnable"] = 1
    chosen.clear()
    idle = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y).predict(X[:500])
    assert chosen[0] == numba.config.NUMBA_NUM_THREADS
    assert np.array_equal(busy, idle)


def test_free_cores_leave_out_this_process_own_threads(monkeypatch):
    # /proc/loadavg counts this process's runnable threads too (a finished kernel's pool still spinning):
    # they must not count as competing load, or a fit right after a fit would run on one thread.
    from shrinktree import _threads

    monkeypatch.setattr(_threads, "_cores", lambda: 4)
    monkeypatch.setattr(_threads, "_runnable_tasks", lambda: 5)
    monkeypatch.setattr(_threads, "_own_runnable_threads", lambda: 3)
    assert _threads.free_cores(samples=1) == 2
    monkeypatch.setattr(_threads, "_own_runnable_threads", lambda: 5)
    assert _threads.free_cores(samples=1) == 4


def test_own_runnable_threads_counts_the_caller():
    from shrinktree import _threads

    assert _threads._own_runnable_threads() >= 1
