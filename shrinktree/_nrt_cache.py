"""Load numba's runtime functions from a disk cache instead of compiling them in every process.

The first compiled kernel a process runs initializes numba's runtime (NRT), which compiles a small
LLVM module of reference-counting functions (``numba.core.runtime.nrtdynmod.compile_nrt_functions``).
It is the only LLVM compilation in a process whose kernels all come from numba's cache, and running
LLVM's optimizer and code generator once maps about 20 MB of ``libllvmlite.so`` into memory: a fifth
of a 1,000,000-row fit's working memory (docs/speed.md, "Memory, fifth pass").

:func:`install` wraps that function: the module's machine code is saved once (numba's own object-code
serialization, the form it caches kernels in) and later processes load it, as they load the kernels.
The file is keyed by a digest of the module's LLVM IR (built without compiling anything), the code
generator's target (triple, CPU name and features) and the numba and llvmlite versions, so a file is
only ever loaded where compiling would produce the same code.  Anything unexpected (another numba
whose functions differ, an unreadable or unwritable cache, a damaged file) falls back to compiling,
as numba does itself.  ``SHRINKTREE_NRT_CACHE=0`` switches it off.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile

import llvmlite
import numba
from numba.core import config
from numba.core.runtime import nrtdynmod

from ._environment import switched_on

_MAGIC = b"shrinktree-nrt-1\n"
_LENGTH = struct.Struct("<Q")


def _enabled() -> bool:
    return switched_on("SHRINKTREE_NRT_CACHE")


def cache_directory() -> str:
    """Where the runtime's machine code is kept: numba's ``NUMBA_CACHE_DIR`` if set, else the package's
    ``__pycache__`` (where numba caches shrinktree's kernels by default)."""
    return config.CACHE_DIR or os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")


def cache_path(ctx, ir_text: str) -> str:
    """The file for the runtime module ``ir_text`` compiled by ``ctx``'s code generator."""
    key = repr((numba.__version__, llvmlite.__version__, ctx.codegen().magic_tuple(), config.OPT, ir_text))
    return os.path.join(cache_directory(), f"nrt-{hashlib.sha256(key.encode()).hexdigest()[:32]}.nbo")


def _read(path: str, name: str):
    with open(path, "rb") as handle:
        blob = handle.read()
    if not blob.startswith(_MAGIC):
        raise ValueError(f"{path} is not a runtime cache file")
    start = len(_MAGIC)
    (n_object,) = _LENGTH.unpack_from(blob, start)
    object_start = start + _LENGTH.size
    object_code = blob[object_start:object_start + n_object]
    bitcode = blob[object_start + n_object:]
    if len(object_code) != n_object or not bitcode:
        raise ValueError(f"{path} is truncated")
    return (name, "object", (object_code, bitcode))


def _write(path: str, state) -> None:
    _, _, (object_code, bitcode) = state
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".nrt-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(_MAGIC + _LENGTH.pack(len(object_code)) + object_code + bitcode)
        os.replace(scratch, path)  # atomic: a concurrent reader sees no file or the whole file
    except BaseException:
        os.unlink(scratch)
        raise


def compile_or_load(ctx, compile_functions):
    """numba's runtime library for ``ctx``: loaded from the cache when a file for the same IR and target exists,
    else compiled (``compile_functions``, numba's own function, when anything about the cache fails)."""
    try:
        ir_module, library = nrtdynmod.create_nrt_module(ctx)
        path = cache_path(ctx, str(ir_module))
    except Exception:
        return compile_functions(ctx)
    if os.path.exists(path):
        try:
            return ctx.codegen().unserialize_library(_read(path, library.name))
        except Exception:
            pass  # damaged or foreign: compile, and replace it below
    library.enable_object_caching()  # keeps the machine code, so it can be written
    library.add_ir_module(ir_module)
    library.finalize()
    try:
        _write(path, library.serialize_using_object_code())
    except Exception:
        pass  # a read-only cache: compile in every process, as without this module
    return library


def install() -> None:
    """Route numba's runtime compilation through :func:`compile_or_load` (once; before any kernel runs)."""
    original = nrtdynmod.compile_nrt_functions
    if not _enabled() or getattr(original, "_shrinktree_cached", False):
        return

    def compile_nrt_functions(ctx):
        return compile_or_load(ctx, original)

    compile_nrt_functions._shrinktree_cached = True
    compile_nrt_functions.__wrapped__ = original
    nrtdynmod.compile_nrt_functions = compile_nrt_functions
