"""Use numba's thread pool only when the work is large enough, and the cores free enough, to pay for it.

Starting a parallel region costs tens of microseconds on an idle machine and milliseconds on a
busy one; a fit on a few hundred rows starts thousands of them.  Below ``PARALLEL_MIN_ROWS`` rows
every kernel runs on the calling thread.

On a machine whose cores are busy with other work, every parallel region waits for its slowest
thread, and a thread that shares its core with another process is descheduled for whole time
slices (with numba's OpenMP layer the idle threads also spin between regions), so that two threads
can take several times as long as one (``python benchmarks/speed.py --busy``, ``docs/speed.md``).
So the default ``n_jobs=None`` uses only the cores that no other runnable
task holds when the fit starts; an explicit ``n_jobs`` is used as given.
"""

from __future__ import annotations

import numbers
import os
import time
from contextlib import contextmanager

import numba

PARALLEL_MIN_ROWS = 20_000


@contextmanager
def threads_for_rows(n_rows: int, minimum: int = PARALLEL_MIN_ROWS):
    """Run the block with one numba thread when ``n_rows`` (or another measure of the work) is below
    ``minimum`` (numba's setting is per thread)."""
    previous = numba.get_num_threads()
    limit = n_rows < minimum and previous > 1
    if limit:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        if limit:
            numba.set_num_threads(previous)


def check_n_jobs(n_jobs) -> None:
    """``n_jobs`` must be ``None``, ``-1`` (every core), a positive int, or a negative int (cores + 1 + n_jobs)."""
    if n_jobs is None:
        return
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None, -1 or a non-zero int, got {n_jobs!r}.")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _runnable_tasks() -> int | None:
    """Runnable tasks on the machine right now, this one included (Linux ``/proc/loadavg``), or ``None``."""
    try:
        with open("/proc/loadavg") as handle:
            return int(handle.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def _own_runnable_threads() -> int:
    """Threads of this process that are running or runnable now (Linux ``/proc/self/task``), at least 1.

    ``/proc/loadavg`` counts them too, and the thread pool of a parallel kernel that just finished keeps
    its threads spinning for a while: without this, a fit right after another fit would count its own
    idle workers as competing load and run on one thread.
    """
    running = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            running += state == "R"
    except OSError:
        return 1
    return max(1, running)


def free_cores(samples: int = 3, interval: float = 5e-4) -> int | None:
    """Cores not held by other runnable tasks: the cores minus the fewest other tasks seen in ``samples``
    looks ``interval`` seconds apart (at least 1), or ``None`` where the count cannot be read."""
    seen = []
    for i in range(samples):
        if i:
            time.sleep(interval)
        count = _runnable_tasks()
        if count is None:
            return None
        seen.append(count - _own_runnable_threads())  # this process's threads (the reader included)
    return max(1, _cores() - min(seen))


def resolve_n_jobs(n_jobs) -> int:
    """Threads for ``n_jobs``: ``None`` every thread numba has on a core no other task is using, ``-1``
    every thread numba has, ``-2`` all but one, and so on."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        free = free_cores()
        return available if free is None else max(1, min(available, free))
    if n_jobs < 0:
        return max(1, min(available, (os.cpu_count() or available) + 1 + n_jobs))
    return max(1, min(available, int(n_jobs)))


@contextmanager
def threads(n_jobs, n_rows: int):
    """Run the block with ``n_jobs`` numba threads, and one thread when ``n_rows`` is small.

    Results do not depend on the thread count: every parallel kernel splits its work by feature or
    by fixed chunks of rows and adds its float64 partial sums in a fixed order.
    """
    previous = numba.get_num_threads()
    wanted = 1 if n_rows < PARALLEL_MIN_ROWS else resolve_n_jobs(n_jobs)
    numba.set_num_threads(wanted)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
