"""Name numba's cached kernels for ``perf``: run a Python script, then write ``/tmp/perf-PID.map``.

``perf report`` shows JIT code as bare addresses; numba loads cached kernels as object code, whose ELF symbol
table names every function in it (each kernel's callees are linked into it, so a callee shows up as
``kernel::callee``).  This script records that object code as numba loads it, and at exit writes each
function's address, size and name to the map file ``perf`` reads.  Code numba compiles in the process (not
from the cache) is left out, and so is numba's runtime module: its ``NRT_incref``/``NRT_decref`` (a
``lock incq``/``lock decq`` each) stay bare addresses.

Run from the repository root, with a warm numba cache, for example::

    perf record -F 4000 -D 5000 -o /tmp/fit.data python benchmarks/perf_map.py benchmarks/fit_loop.py egsingle 40
    perf report -i /tmp/fit.data --no-children --sort sym
"""

from __future__ import annotations

import atexit
import os
import struct
import sys

from numba.core import codegen

_LOADED = []  # (library, ELF object code) of every kernel numba loaded from its cache
_unserialize = codegen.CPUCodeLibrary._unserialize.__func__


def _recording_unserialize(cls, owner, state):
    library = _unserialize(cls, owner, state)
    _, kind, data = state
    if kind == "object":
        _LOADED.append((library, data[0]))
    return library


def elf_functions(obj: bytes) -> list[tuple[str, int, int, int]]:
    """``(name, section, offset, size)`` of every function an ELF64 little-endian object defines."""
    section_offset, = struct.unpack_from("<Q", obj, 0x28)
    entry_size, n_sections, _ = struct.unpack_from("<HHH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, section_offset + i * entry_size) for i in range(n_sections)]
    out = []
    for section in sections:
        if section[1] != 2:  # SHT_SYMTAB
            continue
        strings = sections[section[6]][4]
        for k in range(section[5] // 24):
            name, info, _, index, value, size = struct.unpack_from("<IBBHQQ", obj, section[4] + 24 * k)
            if info & 0xF == 2 and index != 0 and size > 0:  # a defined function
                start = strings + name
                out.append((obj[start:obj.index(b"\0", start)].decode(), index, value, size))
    return out


def write_map() -> None:
    lines = []
    for library, obj in _LOADED:
        functions = elf_functions(obj)
        # Where each section was loaded: from any of its functions the engine can resolve by name.
        bases = {}
        for name, section, offset, _ in functions:
            if section not in bases:
                address = library.get_pointer_to_function(name)
                if address:
                    bases[section] = address - offset
        lines += [f"{bases[section] + offset:x} {size:x} {library.name}::{name}"
                  for name, section, offset, size in functions if section in bases]
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as out:
        out.write("\n".join(lines) + "\n")
    print(f"perf_map.py: {len(lines)} functions in /tmp/perf-{os.getpid()}.map", file=sys.stderr)


def main() -> None:
    codegen.CPUCodeLibrary._unserialize = classmethod(_recording_unserialize)
    atexit.register(write_map)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    with open(script) as source:
        code = compile(source.read(), script, "exec")
    exec(code, {"__name__": "__main__", "__file__": script})


if __name__ == "__main__":
    main()
