"""numba's ``njit`` and ``prange`` for every kernel module, with the compile notice installed first.

Importing numba through this module guarantees that :mod:`shrinktree._compile_notice` listens before
any shrinktree kernel can compile, and that :mod:`shrinktree._nrt_cache` loads numba's runtime
functions from the disk cache, whichever module a caller imports first.
"""

from numba import njit, prange

from ._compile_notice import install as install_compile_notice
from ._nrt_cache import install as install_nrt_cache

install_compile_notice()
install_nrt_cache()

__all__ = ["njit", "prange"]
