"""Use numba's thread pool only when the work is large enough to pay for it.

Starting a parallel region costs tens of microseconds on an idle machine and milliseconds on a
busy one; a fit on a few hundred rows starts thousands of them.  Below ``PARALLEL_MIN_ROWS`` rows
every kernel runs on the calling thread.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba

PARALLEL_MIN_ROWS = 20_000


@contextmanager
def threads_for_rows(n_rows: int):
    """Run the block with one numba thread when ``n_rows`` is small (numba's setting is per thread)."""
    previous = numba.get_num_threads()
    limit = n_rows < PARALLEL_MIN_ROWS and previous > 1
    if limit:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        if limit:
            numba.set_num_threads(previous)
