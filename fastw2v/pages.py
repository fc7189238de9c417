"""Memory the process reuses or gives back: pooled output buffers, and released pages of memory maps.

* :class:`BufferPool` hands out output arrays and takes their memory back for the
  next call once nothing references it, so that repeated calls do not fault in fresh
  pages each time.
* :func:`release_pages` hands the pages of a memory-mapped corpus that a pass has
  left behind back to the OS, so streaming keeps the resident set flat.
"""

from __future__ import annotations

import mmap
import sys
import threading

import numpy as np

_PAGE = mmap.PAGESIZE


class BufferPool:
    """Output arrays whose memory is reused once the caller has let go of them.

    Touching freshly allocated memory costs a page fault per 4 KiB page, and more on a
    virtual machine whose host takes freed pages back; memory the process has already
    touched costs neither. :meth:`empty` returns a view of a byte
    buffer that the pool keeps; a later call reuses that buffer if no array made from
    it is alive any more. NumPy points every view, however derived, at the array that
    owns the memory, so the buffer's reference count is exactly the pool's own
    references plus one per live array.

    It keeps at most ``keep`` buffers, none for a request larger than ``max_bytes``
    (those get a plain ``np.empty``), and holds at most ``max_total`` bytes; :meth:`clear`
    lets them all go. A new buffer is 1/16 larger than asked, so that the slightly
    different sizes that repeated calls on one input ask for fit the same buffer.
    """

    def __init__(self, keep: int = 4, max_bytes: int = 128 << 20, max_total: int = 256 << 20) -> None:
        self.keep = keep
        self.max_bytes = max_bytes
        self.max_total = max_total
        self._buffers: list = []  # oldest first
        self._lock = threading.Lock()
        # the count that an unreferenced buffer in a list shows, read the same way as _free reads it
        probe = [np.empty(1, dtype=np.uint8)]
        self._unused_refs = sys.getrefcount(probe[0])

    def _free(self, i: int) -> bool:
        """Whether no array made from buffer ``i`` is alive (only the pool refers to it)."""
        return sys.getrefcount(self._buffers[i]) <= self._unused_refs

    def empty(self, shape, dtype) -> np.ndarray:
        """Like ``np.empty(shape, dtype)``, in a reused buffer where one fits."""
        dtype = np.dtype(dtype)
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes == 0 or nbytes > self.max_bytes:
            return np.empty(shape, dtype=dtype)
        with self._lock:
            for i in range(len(self._buffers)):
                # a buffer at most twice the request, so that a small call does not pin a big one
                if nbytes <= self._buffers[i].nbytes <= 2 * nbytes and self._free(i):
                    self._buffers.append(self._buffers.pop(i))  # now the newest
                    break
            else:
                # room to grow: repeated calls on one input ask for slightly different sizes
                size = -(-(nbytes + nbytes // 16) // _PAGE) * _PAGE
                self._make_room(size)
                self._buffers.append(np.empty(size, dtype=np.uint8))
            return self._buffers[-1][:nbytes].view(dtype).reshape(shape)

    def _make_room(self, nbytes: int) -> None:
        """Forget the oldest buffers (free ones first) until one more of ``nbytes`` fits the limits."""
        def over():
            total = sum(b.nbytes for b in self._buffers) + nbytes
            return len(self._buffers) >= self.keep or total > self.max_total

        i = 0
        while i < len(self._buffers) and over():
            if self._free(i):
                del self._buffers[i]
            else:
                i += 1
        while self._buffers and over():
            del self._buffers[0]  # still in use: its arrays keep it alive, the pool just forgets it

    def clear(self) -> None:
        """Forget every buffer; memory no array uses any more goes back to the allocator."""
        with self._lock:
            self._buffers.clear()

    @property
    def held_bytes(self) -> int:
        """Bytes of the buffers the pool holds (in use or free)."""
        with self._lock:
            return sum(b.nbytes for b in self._buffers)


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
    libc = c_library()
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


def c_library():
    """The C library (``ctypes.CDLL``), loaded once; None where it cannot be."""
    if not _LIBC:
        import ctypes
        import ctypes.util

        try:
            _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]
