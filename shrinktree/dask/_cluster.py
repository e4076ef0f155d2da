"""The client's handle on partitions that live on the workers: pinned calls, tree-reduced sums, and failures.

Each partition's state (:mod:`._partition`) is the result of one dask future, kept on the worker that
computed it.  Every later step is a task pinned to that worker (``workers=[address]``,
``allow_other_workers=False``) that updates the state in place and returns something small.  Results
that the client needs summed (histograms, node sums, quantile buckets) are added by a balanced binary
tree of tasks on the workers, in the order of the partitions, so the sums do not depend on where or
when the tasks ran, and only the total reaches the client.

A state counts the steps applied to it: a step run on a state that missed one (a worker died and dask
recomputed the partition from its source) raises :class:`PartitionLostError` instead of silently
training on fresh data.  A worker that leaves the cluster while the client waits raises the same
error; nothing waits longer than ``timeout`` seconds.
"""

from __future__ import annotations

import time

import numba
import numpy as np


class PartitionLostError(RuntimeError):
    """A worker holding training partitions died or left during the fit (the fit is abandoned)."""


def _worker_threads() -> int:
    """The threads the worker running this task was given (``threads_per_worker``); 1 outside a worker."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


def _call(state, step: int, method: str, args: tuple, extra: tuple):
    # The kernels use as many numba threads as the worker has: with several worker processes on one
    # machine, numba's default (every core in every process) oversubscribes the cores many times over.
    numba.set_num_threads(min(_worker_threads(), numba.config.NUMBA_NUM_THREADS))
    if state.step != step:
        raise PartitionLostError(
            f"A partition's state is at step {state.step} where step {step} was expected: its worker was "
            "restarted and the partition recomputed from its source. The fit is abandoned; fit again.")
    state.step += 1
    return getattr(state, method)(*args, *extra)


def add_results(*parts):
    """Element-wise sum of results of the same structure (arrays, numbers, tuples of them, ``None``)."""
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, tuple):
        return tuple(add_results(*items) for items in zip(*parts))
    total = first
    for part in parts[1:]:
        total = total + part
    return total


# Partition results are added by tasks of up to FAN_IN inputs each, level by level, in partition order.
FAN_IN = 8


class Partitions:
    """Partition states on the workers, driven step by step from the client.

    Parameters
    ----------
    client : distributed.Client
    futures : list of distributed.Future
        One future per partition, whose result is the partition's state.
    timeout : float
        Seconds any step may take before the fit is abandoned with ``TimeoutError``.
    """

    def __init__(self, client, futures, timeout: float):
        self.client = client
        self.futures = list(futures)
        self.timeout = float(timeout)
        self._wait(self.futures)
        who_has = client.who_has(self.futures)
        self.workers = []
        for future in self.futures:
            holders = list(who_has.get(future.key, ()))
            if not holders:
                raise PartitionLostError("A partition's state is held by no worker.")
            self.workers.append(sorted(holders)[0])
        self.step = 0
        self.bytes_received = 0

    def __len__(self) -> int:
        return len(self.futures)

    def _submit(self, method: str, args: tuple, per_partition) -> list:
        out = []
        for i, (future, worker) in enumerate(zip(self.futures, self.workers)):
            extra = () if per_partition is None else tuple(per_partition[i])
            out.append(self.client.submit(_call, future, self.step, method, args, extra, workers=[worker],
                                          allow_other_workers=False, pure=False))
        self.step += 1
        return out

    def _alive_workers(self) -> set:
        """The workers the scheduler knows now, asked of it directly.

        Not ``client.scheduler_info()``: that returns the client's cached identity, which the client's own
        periodic update (every two seconds) replaces with one listing no workers, so read just after such an
        update it says every worker left.
        """
        return set(self.client.sync(self.client.scheduler.identity, n_workers=-1)["workers"])

    def _check_workers(self) -> None:
        alive = self._alive_workers()
        lost = sorted(set(self.workers) - alive)
        if lost:
            raise PartitionLostError(f"Worker(s) {lost} holding training partitions left the cluster during the fit; "
                                     "the fit is abandoned (the estimator keeps its previous state). Fit again.")

    def _wait(self, futures) -> None:
        from distributed import wait

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                wait(futures, timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
                break
            except TimeoutError:
                if hasattr(self, "workers"):
                    self._check_workers()
                if time.monotonic() >= deadline:
                    for future in futures:
                        future.cancel()
                    raise TimeoutError(f"A step of the distributed fit took more than timeout={self.timeout:g} "
                                       "seconds; the fit is abandoned.") from None
        errors = [f for f in futures if f.status == "error"]
        if errors:
            errors[0].result()  # raises the worker's exception

    def _result(self, future):
        """One future's result, checking the workers every second (a single round trip when it is ready)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return future.result(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
            except TimeoutError:
                self._check_workers()
                if time.monotonic() >= deadline:
                    future.cancel()
                    raise TimeoutError(f"A step of the distributed fit took more than timeout={self.timeout:g} "
                                       "seconds; the fit is abandoned.") from None

    def _gather(self, futures) -> list:
        self._wait(futures)
        return self.client.gather(futures)

    def run(self, method: str, *args, per_partition=None) -> list:
        """Call ``state.method(*args, *per_partition[i])`` on every partition; returns the results."""
        return self._gather(self._submit(method, args, per_partition))

    def total(self, method: str, *args, per_partition=None):
        """The element-wise sum over partitions of ``state.method(*args)``, added on the workers."""
        level = self._submit(method, args, per_partition)
        while len(level) > 1:
            level = [self.client.submit(add_results, *level[i:i + FAN_IN], pure=False) if len(level[i:i + FAN_IN]) > 1
                     else level[i] for i in range(0, len(level), FAN_IN)]
        result = self._result(level[0])
        self.bytes_received += _nbytes(result)
        return result

    def release(self) -> None:
        for future in self.futures:
            future.release()
        self.futures = []


def _nbytes(value) -> int:
    if value is None:
        return 0
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.nbytes
    return 8
