"""numba's runtime functions loaded from shrinktree's disk cache (shrinktree/_nrt_cache.py).

The runtime is initialized once per process, so each case runs in a fresh interpreter with its own
``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json
import numpy as np
import shrinktree._numba  # installs the cache before any kernel runs
import shrinktree._nrt_cache as nrt_cache
reads = []
original_read = nrt_cache._read
def counted_read(path, name):
    reads.append(path)
    return original_read(path, name)
nrt_cache._read = counted_read
from numba import njit
@njit  # a new kernel compiled after the runtime came up: it links the runtime library in
def total(n):
    values = np.arange(n) * 2.0
    return values.sum(), values[1:].copy()
sum_of, rest = total(10)
from numba.core.runtime import rtsys
print(json.dumps({"reads": len(reads), "sum": sum_of, "rest": rest.tolist(),
                  "atomic": rtsys.library.get_pointer_to_function("nrt_atomic_add") != 0}))
"""


def _run(cache_dir, **env) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "NUMBA_CACHE_DIR": str(cache_dir),
                               **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _files(cache_dir) -> list[Path]:
    return sorted(Path(cache_dir).glob("nrt-*.nbo"))


def test_first_process_writes_later_processes_load(tmp_path):
    first = _run(tmp_path)
    assert first["reads"] == 0 and len(_files(tmp_path)) == 1
    second = _run(tmp_path)
    assert second["reads"] == 1
    for result in (first, second):
        assert result["sum"] == 90.0 and result["rest"] == [2.0 * i for i in range(1, 10)] and result["atomic"]


def test_damaged_file_is_compiled_again_and_replaced(tmp_path):
    _run(tmp_path)
    (path,) = _files(tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])
    result = _run(tmp_path)
    assert result["reads"] == 1 and result["sum"] == 90.0
    assert path.read_bytes() == good  # the same IR and target compile to the same file
    path.write_bytes(b"not a cache file")
    assert _run(tmp_path)["sum"] == 90.0 and path.read_bytes() == good


def test_switched_off_writes_nothing(tmp_path):
    result = _run(tmp_path, SHRINKTREE_NRT_CACHE="0")
    assert result["reads"] == 0 and result["sum"] == 90.0 and _files(tmp_path) == []
