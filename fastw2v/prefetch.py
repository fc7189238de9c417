"""A software prefetch hint for Numba kernels.

Kernels whose writes or reads jump around a large array (Hogwild's random output
rows, ``skipgrams``' bucket scatter) call :func:`prefetch` a little ahead of the
access, so that the cache miss overlaps other work instead of stalling it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, index):
    """Hint the CPU to bring the cache line holding ``arr[index]`` into L1 for writing.

    ``index`` is an integer for a 1-D array, or a tuple of integers, one per dimension.
    LLVM's ``llvm.prefetch``: a hint only, which never faults (an index past the end
    is harmless) and never changes a result; targets without a prefetch instruction
    drop it.
    """
    if not isinstance(arr, types.Array):
        return None
    if isinstance(index, types.Integer):
        if arr.ndim != 1:
            return None
    elif not (isinstance(index, types.BaseTuple) and len(index) == arr.ndim
              and all(isinstance(t, types.Integer) for t in index)):
        return None
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        if isinstance(idxty, types.Integer):
            raw, raw_types = [args[1]], [idxty]
        else:
            raw, raw_types = cgutils.unpack_tuple(builder, args[1], len(idxty)), list(idxty)
        idx = [context.cast(builder, v, t, types.intp) for v, t in zip(raw, raw_types)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        # rw=1 (the line will be written), locality=3 (keep it in all cache levels), cache type 1 (data)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
