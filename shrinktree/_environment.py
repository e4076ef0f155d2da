"""Two small rules shared by the modules that hook into numba (compile notice, runtime cache, kernel cache)."""

from __future__ import annotations

import os


def switched_on(variable: str) -> bool:
    """Whether the environment switch ``variable`` is on: it is unless set to 0, false, no or off."""
    return os.environ.get(variable, "1").strip().lower() not in ("0", "false", "no", "off")


def is_package_function(py_func) -> bool:
    """Whether the Python function ``py_func`` (a kernel's) is defined in shrinktree."""
    module = getattr(py_func, "__module__", "") or ""
    return module == "shrinktree" or module.startswith("shrinktree.")
