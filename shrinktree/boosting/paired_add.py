"""One read-modify-write for adjacent histogram channels: ``hist[b, 0] += x; hist[b, 1] += y`` as a 2-lane add.

numba leaves LLVM's SLP vectorizer off (``NUMBA_SLP_VECTORIZE=0``), so two scalar ``+=`` on neighbouring
doubles compile to two loads, two adds and two stores.  A histogram pass is bound by those read-modify-writes
(a row adds into a bin that a row just before may have touched), so doing the gradient and hessian channels
(or the gradient and a row count) as one 16-byte load, one vector add and one store cuts the work per row and
feature by a third to a half.  :func:`add_four` does the same for four adjacent doubles (a 32-byte load, add
and store), for sums kept in rows of four.  Each lane is an IEEE add of the same two doubles as the scalar add,
so every sum is the same bit for bit.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import errors
from numba.extending import intrinsic


def _lanes_codegen(n_lanes):
    # ``hist.flat[index + k] += addend_k`` for k < n_lanes as one vector load, add and store.
    def codegen(context, builder, signature, args):
        hist_value, index = args[0], args[1]
        array = context.make_array(signature.args[0])(context, builder, hist_value)
        index = context.cast(builder, index, signature.args[1], types.intp)
        lanes_type = ir.VectorType(ir.DoubleType(), n_lanes)
        pointer = builder.bitcast(builder.gep(array.data, [index]), lanes_type.as_pointer())
        addend = ir.Constant(lanes_type, ir.Undefined)
        for lane in range(n_lanes):
            value = context.cast(builder, args[2 + lane], signature.args[2 + lane], types.float64)
            addend = builder.insert_element(addend, value, ir.IntType(32)(lane))
        builder.store(builder.fadd(builder.load(pointer, align=8), addend), pointer, align=8)
        return context.get_dummy_value()

    return codegen


def _check(name, hist, flat_index):
    if not (isinstance(hist, types.Array) and hist.dtype == types.float64 and hist.layout == "C"
            and isinstance(flat_index, types.Integer)):
        raise errors.TypingError(f"{name} needs a C-contiguous float64 array and an integer index")


@intrinsic
def add_two(typingctx, hist, flat_index, x, y):
    """``hist.flat[flat_index] += x`` and ``hist.flat[flat_index + 1] += y`` in one 2-lane add.

    ``hist`` must be a C-contiguous float64 array and ``flat_index + 1`` inside it (not checked: the
    histogram kernels index it by bins, which are below its number of bins by construction).
    """
    _check("add_two", hist, flat_index)
    return types.void(hist, flat_index, types.float64, types.float64), _lanes_codegen(2)


@intrinsic
def add_four(typingctx, hist, flat_index, x, y, z, w):
    """``hist.flat[flat_index + k] += (x, y, z, w)[k]`` for k = 0..3 in one 4-lane add.

    As :func:`add_two`: ``hist`` C-contiguous float64 and ``flat_index + 3`` inside it (not checked).  Callers
    keep their sums in rows of four doubles, so that no add reaches into a neighbour's sums.
    """
    _check("add_four", hist, flat_index)
    return (types.void(hist, flat_index, types.float64, types.float64, types.float64, types.float64),
            _lanes_codegen(4))
