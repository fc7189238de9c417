"""Memory: releasing pages of memory maps, and the weights' budget.

* :func:`release_pages` hands the pages of a memory-mapped corpus that a pass has
  left behind back to the OS, so streaming keeps the resident set flat.
* :func:`check_memory` refuses, with the estimate, weights that cannot fit;
  :func:`check_batch_memory` a Keras batch whose step cannot.
"""

from __future__ import annotations

import mmap
from typing import Optional

import numpy as np

from .errors import InsufficientMemoryError

_PAGE = mmap.PAGESIZE


def release_pages(arr: np.ndarray, start: int, stop: int) -> None:
    """Tell the OS we are done with elements ``start:stop`` of a memory-mapped array.

    The pages leave this process's resident set (they stay in the page cache, and
    are read back transparently if touched again), so streaming over a corpus larger
    than memory keeps the resident set flat. Only whole pages inside the range are
    released; for arrays that are not memory maps this does nothing.
    """
    if not is_mapped(arr):
        return
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or stop <= start:
        return
    import ctypes

    item = arr.itemsize
    lo = arr.ctypes.data + start * item
    hi = arr.ctypes.data + stop * item
    lo_page = (lo + _PAGE - 1) // _PAGE * _PAGE
    hi_page = hi // _PAGE * _PAGE
    if hi_page <= lo_page:
        return
    libc = _libc()
    if libc is not None:
        libc.madvise(ctypes.c_void_p(lo_page), ctypes.c_size_t(hi_page - lo_page), ctypes.c_int(advice))


_LIBC = []


def is_mapped(arr) -> bool:
    """True if the array's memory is a shared file mapping (``np.memmap`` opened ``r``, ``r+`` or ``w+``).

    Only for those may :func:`release_pages` drop pages: the kernel reads them back
    from the file. An array of class ``np.memmap`` that owns its memory (``astype`` or
    arithmetic on a memmap gives one) and a copy-on-write map (mode ``c``) are
    private memory, where ``MADV_DONTNEED`` would replace the data with zeros.
    """
    obj = arr
    while obj is not None:
        if isinstance(obj, np.memmap) and getattr(obj, "_mmap", None) is not None:
            return obj.mode in ("r", "r+", "w+")
        obj = getattr(obj, "base", None)
    return False


def _libc():
    if not _LIBC:
        import ctypes
        import ctypes.util

        try:
            _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


def check_memory(vocab_size: int, dim: int, available: Optional[int] = None) -> None:
    """Refuse, with the estimate, two float32 ``vocab_size x dim`` matrices that cannot fit.

    ``available`` defaults to the kernel's MemAvailable; where that is unknown, nothing
    is refused.
    """
    _refuse(2 * vocab_size * dim * 4, 0.9, available,
            f"the weights need {{need}} (2 x {vocab_size:,} words x dim {dim} x 4 bytes)", "lower --dim or --max-vocab")


def _refuse(need: int, share: float, available: Optional[int], what: str, advice: str) -> None:
    """Raise InsufficientMemoryError if ``need`` bytes exceed ``share`` of the available memory.

    ``what`` is formatted with ``need`` in GiB; ``available`` defaults to MemAvailable.
    """
    if available is None:
        available = available_memory()
    if available is not None and need > share * available:
        raise InsufficientMemoryError(f"{what.format(need=f'{need / 2**30:.1f} GiB')} but only "
                                      f"{available / 2**30:.1f} GiB of memory is available; {advice}")


def available_memory() -> Optional[int]:
    """Bytes of memory available to new allocations (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: Float32 arrays of ``rows x columns x dim`` one Keras sgns step holds at once: the
#: gathered output rows, their gradients, and the copies TensorFlow makes of both.
BATCH_TENSOR_COPIES = 6


def batch_memory(batch_size: int, columns: int, dim: int) -> int:
    """Bytes one Keras step of ``batch_size`` rows of ``columns`` outputs at ``dim`` needs, estimated."""
    return BATCH_TENSOR_COPIES * batch_size * columns * dim * 4


def check_batch_memory(batch_size: int, columns: int, dim: int, available: Optional[int] = None) -> None:
    """Refuse, with the estimate, a Keras batch whose step tensors cannot fit in memory."""
    _refuse(batch_memory(batch_size, columns, dim), 0.5, available,
            f"--batch-size {batch_size:,} needs about {{need}} per step ({BATCH_TENSOR_COPIES} x {batch_size:,} rows "
            f"x {columns} outputs x dim {dim} x 4 bytes)", "lower --batch-size")
