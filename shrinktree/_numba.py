"""numba's ``njit`` and ``prange`` for every kernel module, with the compile notice installed first.

Importing numba through this module guarantees that :mod:`shrinktree._compile_notice` listens before
any shrinktree kernel can compile, whichever module a caller imports first.
"""

from numba import njit, prange

from ._compile_notice import install

install()

__all__ = ["njit", "prange"]
