"""Say on standard error when shrinktree's numba kernels are being compiled, so a cold cache never looks like a hang.

numba compiles each kernel the first time it runs and caches the machine code on disk
(``cache=True``), so compilation happens once per environment (and again after an upgrade).  On a
cold cache the first fits of a session spend some seconds compiling.  This module listens to
numba's ``numba:compile`` events: when a shrinktree kernel starts compiling it prints one line,
then a progress line at least every :data:`INTERVAL_S` seconds while compiling goes on, and a last
line once it has stopped.  Loading kernels from the cache sends no event, so a warm cache prints
nothing.

Set the environment variable ``SHRINKTREE_COMPILE_NOTICE=0`` to silence it; call
:func:`shrinktree.warmup` (or run ``shrinktree warmup``) to compile everything ahead of time.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time

from numba.core import event

from ._environment import is_package_function, switched_on

INTERVAL_S = 4.0  # at most this long without a line while compiling
IDLE_END_S = 1.0  # no compile event for this long ends a round of compiling
PREFIX = "shrinktree:"


def _enabled() -> bool:
    return switched_on("SHRINKTREE_COMPILE_NOTICE")


def _is_ours(dispatcher) -> bool:
    return is_package_function(getattr(dispatcher, "py_func", None))


class CompileNotice(event.Listener):
    """A numba event listener that reports compilation of shrinktree kernels on a stream.

    Parameters
    ----------
    stream : file-like, optional
        Where to write; by default ``sys.stderr`` as it is when a line is written.
    interval : float
        Longest silence (seconds) while compiling.
    idle_end : float
        Seconds without a compile event that end a round of compiling.
    """

    def __init__(self, stream=None, interval: float = INTERVAL_S, idle_end: float = IDLE_END_S):
        self.stream = stream
        self.interval = interval
        self.idle_end = idle_end
        self._lock = threading.Lock()
        self._stack: list[bool] = []
        self._active = False
        self._rounds = 0
        self._kernels = 0
        self._round_kernels = 0
        self._round_start = self._last_event = self._last_line = 0.0
        self._ticker: threading.Thread | None = None
        self.lines: list[str] = []  # everything written, for tests and benchmarks

    # -- numba listener interface ------------------------------------------------------------
    def on_start(self, ev) -> None:
        """A dispatcher starts compiling (nested calls compile their callees inside it)."""
        ours = _is_ours(ev.data["dispatcher"])
        with self._lock:
            counted = ours or (bool(self._stack) and self._stack[-1])
            self._stack.append(counted)
            if not counted:
                return
            now = time.perf_counter()
            self._last_event = now
            if ours:
                self._kernels += 1
                self._round_kernels += 1
            if not self._active:
                self._start_round(now)

    def on_end(self, ev) -> None:
        """A dispatcher has finished compiling."""
        with self._lock:
            counted = self._stack.pop() if self._stack else False
            if counted:
                self._last_event = time.perf_counter()

    # -- reporting ------------------------------------------------------------------------------
    def _start_round(self, now: float) -> None:
        self._active, self._round_start, self._round_kernels = True, now, max(self._round_kernels, 1)
        if self._rounds == 0:
            self._write(f"{PREFIX} compiling kernels for the first run (once per environment: they are cached; "
                        "`shrinktree warmup` compiles them all ahead of time)...")
        else:
            self._write(f"{PREFIX} compiling kernels this run has not used before (once; cached)...")
        self._rounds += 1
        if self._ticker is None or not self._ticker.is_alive():
            self._ticker = threading.Thread(target=self._tick, name="shrinktree-compile-notice", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while True:
            time.sleep(min(0.25, self.interval / 4))
            with self._lock:
                if not self._active:
                    return
                now = time.perf_counter()
                if not self._stack and now - self._last_event >= self.idle_end:
                    self._end_round()
                    return
                if now - self._last_line >= self.interval:
                    self._write(f"{PREFIX} still compiling ({self._round_kernels} kernel(s), "
                                f"{now - self._round_start:.0f} s so far)...")

    def _end_round(self) -> None:
        self._active = False
        seconds = self._last_event - self._round_start
        self._write(f"{PREFIX} compiled {self._round_kernels} kernel(s) in {seconds:.1f} s; "
                    "later runs load them from the cache.")
        self._round_kernels = 0

    def finish(self) -> None:
        """Report the end of a round still open (at interpreter exit, which stops the reporting thread)."""
        with self._lock:
            if self._active:
                self._end_round()

    def _write(self, line: str) -> None:
        self._last_line = time.perf_counter()
        self.lines.append(line)
        stream = self.stream if self.stream is not None else sys.stderr
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a closed or missing stream must not break a fit
            pass

    @property
    def kernels_compiled(self) -> int:
        """Specializations of shrinktree kernels compiled in this process so far."""
        return self._kernels

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the current round of compiling has been reported as finished (or ``timeout``)."""
        ticker = self._ticker
        if ticker is not None:
            ticker.join(timeout)


_NOTICE: CompileNotice | None = None


def install() -> CompileNotice | None:
    """Register the process-wide notice once (nothing when ``SHRINKTREE_COMPILE_NOTICE=0``)."""
    global _NOTICE
    if _NOTICE is None and _enabled():
        _NOTICE = CompileNotice()
        event.register("numba:compile", _NOTICE)
        atexit.register(_NOTICE.finish)
    return _NOTICE
