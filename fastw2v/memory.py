"""Large output buffers backed by transparent huge pages where the OS allows it.

Freshly allocated multi-hundred-MB arrays cost a page fault per 4 KiB page on
first touch, which can take longer than filling them. Asking for huge pages
(``MADV_HUGEPAGE``) cuts that by up to 512x. It is only advice: on systems
without it, this falls back to ``np.empty``.
"""

from __future__ import annotations

import mmap

import numpy as np

_HUGE_MIN_BYTES = 8 << 20


def empty(shape, dtype) -> np.ndarray:
    """Like ``np.empty``; large arrays are mmap-backed with MADV_HUGEPAGE advice."""
    dtype = np.dtype(dtype)
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < _HUGE_MIN_BYTES or advice is None:
        return np.empty(shape, dtype=dtype)
    try:
        buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf.madvise(advice)
    except (OSError, ValueError, AttributeError):
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


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
    """True if the array's memory comes from a memory map (np.memmap or mmap.mmap)."""
    obj = arr
    while obj is not None:
        if isinstance(obj, (np.memmap, mmap.mmap)):
            return True
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
