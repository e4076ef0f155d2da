"""Pin numba's and OpenMP's thread pools before any library starts them.

Accuracy does not depend on the thread count, and one thread per model keeps a long run from
oversubscribing a shared machine (spinning OpenMP/numba threads slow everyone down).  Call
:func:`pin_threads` at the top of a script, before numpy, numba, LightGBM, XGBoost, CatBoost or
scikit-learn are imported; ``BENCH_THREADS`` overrides the count.
"""

from __future__ import annotations

import os


def pin_threads(default: str = "1") -> str:
    """Set ``NUMBA_NUM_THREADS`` and ``OMP_NUM_THREADS`` (unless already set) and return the count."""
    threads = os.environ.get("BENCH_THREADS", default)
    for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, threads)
    return threads
