"""The numba cache of shrinktree's kernels is keyed on the package's whole source (shrinktree._kernel_cache)."""

import os
import subprocess
import sys
from pathlib import Path

from numba import njit
from numba.core import caching

from shrinktree import _kernel_cache
from shrinktree.boosting import splitting

REPO = Path(__file__).resolve().parents[1]


def test_shrinktree_kernels_take_the_package_stamped_locators_and_others_numbas():
    assert type(splitting.stable_order._cache._impl.locator)._shrinktree

    @njit(cache=True)
    def not_ours(x):
        return x + 1

    assert not getattr(type(not_ours._cache._impl.locator), "_shrinktree", False)
    assert sum(getattr(c, "_shrinktree", False) for c in caching.CacheImpl._locator_classes) == 3
    _kernel_cache.install()  # a second install adds nothing
    assert sum(getattr(c, "_shrinktree", False) for c in caching.CacheImpl._locator_classes) == 3


def test_the_package_digest_follows_every_source_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("X = 1\n")
    (tmp_path / "sub" / "b.py").write_text("Y = 2\n")
    monkeypatch.setattr(_kernel_cache, "_PACKAGE_ROOT", tmp_path)
    digests = []
    for change in (None, lambda: (tmp_path / "sub" / "b.py").write_text("Y = 3\n"),
                   lambda: (tmp_path / "c.py").write_text("")):
        if change is not None:
            change()
        _kernel_cache.package_digest.cache_clear()
        digests.append(_kernel_cache.package_digest())
    _kernel_cache.package_digest.cache_clear()
    assert len(set(digests)) == 3
    stamp = splitting.stable_order._cache._impl.locator.get_source_stamp()
    assert stamp[1] == _kernel_cache.package_digest()


_CHILD = """
import sys
import numpy as np
from shrinktree import _kernel_cache
if sys.argv[1] != "same":
    _kernel_cache.package_digest = lambda: b"another source"
from shrinktree.boosting.splitting import _radix_order
order = np.empty(300, dtype=np.int64)
_radix_order(np.linspace(1.0, 0.0, 300), 300, order)
assert order[0] == 299
stats = _radix_order.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def test_a_kernel_cached_from_other_package_sources_is_compiled_again(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(tmp_path), "SHRINKTREE_COMPILE_NOTICE": "0"}

    def run(which):
        done = subprocess.run([sys.executable, "-c", _CHILD, which], capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        hits, misses = (int(v) for v in done.stdout.split())
        return hits, misses

    assert run("same")[1] == 1  # a new cache: compiled
    assert run("same") == (1, 0)  # the same sources: loaded
    assert run("other")[1] == 1  # another package source: compiled again, not loaded
