"""Key the numba cache of shrinktree's kernels on the whole package's source, not only each kernel's own file.

numba caches a compiled kernel with its callees linked into it, and checks the cache against the kernel's own
source file only (a digest of that file's text).  A kernel in ``best_first.py`` calling a split search in
``splitting.py`` therefore kept the old split search's machine code when only ``splitting.py`` changed: an
editable install updated by ``git pull``, or a developer's edit, ran stale code without any error.

:func:`install` puts locators in front of numba's own for functions defined in this package: the same cache
directories and file names, with a source stamp that adds a digest of every ``.py`` file of the package.  Any
change to the package's source makes every cached kernel stale, so each is compiled once more (and announced,
see :mod:`shrinktree._compile_notice`); unchanged sources load from the cache as before.  Functions of other
packages keep numba's locators.  ``SHRINKTREE_KERNEL_CACHE_DIGEST=0`` switches it off (numba's rule again).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

from ._environment import is_package_function, switched_on

_PACKAGE_ROOT = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def package_digest() -> bytes:
    """SHA-256 of the relative path and the bytes of every ``.py`` file of the package, in path order."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.digest()


def _package_stamped(base: type) -> type:
    """A subclass of numba's locator ``base`` that serves only shrinktree's functions, stamped with the package."""

    class Locator(base):
        def get_source_stamp(self):
            return (super().get_source_stamp(), package_digest())

        @classmethod
        def from_function(cls, py_func, py_file):
            if not is_package_function(py_func):
                return None
            return super().from_function(py_func, py_file)

    Locator.__name__ = Locator.__qualname__ = f"ShrinktreePackage{base.__name__}"
    return Locator


# numba's locators that read the kernel's own file, in numba's order of preference.
_BASES = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")


def install() -> None:
    """Put the package-stamped locators first in numba's list (once; before any kernel is decorated)."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if not switched_on("SHRINKTREE_KERNEL_CACHE_DIGEST") or classes is None:
        return
    if any(getattr(c, "_shrinktree", False) for c in classes):  # installed already
        return
    bases = [getattr(caching, name, None) or getattr(caching, "_" + name, None) for name in _BASES]
    if any(base is None for base in bases):  # another numba: keep its own rule rather than guess
        return
    ours = [_package_stamped(base) for base in bases]
    for locator in ours:
        locator._shrinktree = True
    impl._locator_classes = ours + list(classes)
