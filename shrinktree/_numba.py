"""numba's ``njit`` and ``prange`` for every kernel module, with the compile notice installed first.

Importing numba through this module guarantees that :mod:`shrinktree._compile_notice` listens before
any shrinktree kernel can compile, and that :mod:`shrinktree._nrt_cache` loads numba's runtime
functions from the disk cache, whichever module a caller imports first, and that every kernel's cache
is keyed on the package's whole source (:mod:`shrinktree._kernel_cache`), so no kernel runs a stale callee.
"""

from numba import njit, prange

from ._compile_notice import install as install_compile_notice
from ._kernel_cache import install as install_kernel_cache
from ._nrt_cache import install as install_nrt_cache

install_compile_notice()
install_kernel_cache()  # before any kernel is decorated: numba picks a kernel's cache locator then
install_nrt_cache()

__all__ = ["njit", "prange"]
