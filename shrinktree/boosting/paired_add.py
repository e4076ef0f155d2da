"""One read-modify-write for two adjacent histogram channels: ``hist[b, 0] += x; hist[b, 1] += y`` as a 2-lane add.

numba leaves LLVM's SLP vectorizer off (``NUMBA_SLP_VECTORIZE=0``), so two scalar ``+=`` on neighbouring
doubles compile to two loads, two adds and two stores.  A histogram pass is bound by those read-modify-writes
(a row adds into a bin that a row just before may have touched), so doing the gradient and hessian channels
(or the gradient and a row count) as one 16-byte load, one vector add and one store cuts the work per row and
feature by a third to a half.  Each lane is an IEEE add of the same two doubles as the scalar add, so every sum
is the same bit for bit.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import errors
from numba.extending import intrinsic


@intrinsic
def add_two(typingctx, hist, flat_index, x, y):
    """``hist.flat[flat_index] += x`` and ``hist.flat[flat_index + 1] += y`` in one 2-lane add.

    ``hist`` must be a C-contiguous float64 array and ``flat_index + 1`` inside it (not checked: the
    histogram kernels index it by bins, which are below its number of bins by construction).
    """
    if not (isinstance(hist, types.Array) and hist.dtype == types.float64 and hist.layout == "C"
            and isinstance(flat_index, types.Integer)):
        raise errors.TypingError("add_two needs a C-contiguous float64 array and an integer index")
    sig = types.void(hist, flat_index, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        hist_value, index, x_value, y_value = args
        array = context.make_array(signature.args[0])(context, builder, hist_value)
        index = context.cast(builder, index, signature.args[1], types.intp)
        pair_type = ir.VectorType(ir.DoubleType(), 2)
        pointer = builder.bitcast(builder.gep(array.data, [index]), pair_type.as_pointer())
        addend = ir.Constant(pair_type, ir.Undefined)
        addend = builder.insert_element(addend, context.cast(builder, x_value, signature.args[2], types.float64),
                                        ir.IntType(32)(0))
        addend = builder.insert_element(addend, context.cast(builder, y_value, signature.args[3], types.float64),
                                        ir.IntType(32)(1))
        builder.store(builder.fadd(builder.load(pointer, align=8), addend), pointer, align=8)
        return context.get_dummy_value()

    return sig, codegen
