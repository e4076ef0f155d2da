"""Checks that a model restored from a file or a pickle is the model that was saved.

A fitted model's prediction state (node arrays, baseline, level lists, labels) is summarized by a
digest when the model is pickled and checked when it is unpickled, so a flipped byte in a tree's
values gives a clear error instead of silently different predictions.  The structural checks of
:meth:`shrinktree.TreeArrays.validate` still run on every restored tree: they are what keeps the
numba kernels, which do not check bounds, from reading outside an array.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

DIGEST_KEY = "_prediction_state_digest"


class ModelIntegrityError(ValueError):
    """A restored model is damaged or inconsistent (a corrupted file or pickle)."""


def _feed(hasher, value) -> None:
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        # Little-endian bytes whatever the machine's order, so a model saved on one machine checks on another.
        little = value.dtype.newbyteorder("<")
        hasher.update(f"a{little.str}{value.shape}".encode())
        hasher.update(np.ascontiguousarray(value, dtype=little).tobytes())
    elif isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype.kind == "O"):
        hasher.update(f"l{len(value)}".encode())
        for item in value:
            _feed(hasher, item)
    else:
        # Scalars and other level objects (strings, numbers, timestamps): their repr is deterministic.
        hasher.update(f"s{type(value).__name__}:{value!r}".encode())


def state_digest(parts: Iterable) -> str:
    """A digest of arrays, scalars, strings and (nested) lists of them, independent of object identity."""
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        _feed(hasher, part)
    return hasher.hexdigest()


def check_digest(expected, parts: Iterable, what: str) -> None:
    """Raise :class:`ModelIntegrityError` unless ``parts`` digest to ``expected`` (``None``: nothing to check)."""
    if expected is None:
        return
    try:
        actual = state_digest(parts)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelIntegrityError(f"The restored {what} is damaged: {exc}") from exc
    if actual != expected:
        raise ModelIntegrityError(
            f"The restored {what} does not match the model that was saved (its data was changed or corrupted); "
            "refit it or restore it from an intact copy.")
