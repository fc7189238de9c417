"""Memory: reused output buffers, releasing pages of memory maps, and the weights' budget.

* :class:`BufferPool` hands out output arrays and takes their memory back for the
  next call once nothing references it, so that repeated calls do not fault in fresh
  pages each time.
* :func:`release_pages` hands the pages of a memory-mapped corpus that a pass has
  left behind back to the OS, so streaming keeps the resident set flat.
* :func:`keep_freed_heap` makes glibc's ``malloc`` keep the memory a compiled step
  frees for the next step, instead of handing it back to the OS each time.
* :func:`check_memory` refuses, with the estimate, weights that cannot fit;
  :func:`check_batch_memory` a Keras batch whose step cannot.
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
from typing import Optional

import numpy as np

from .errors import InsufficientMemoryError, UsageError

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


#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
#: Freed memory at the top of the heap that ``malloc`` keeps before trimming: ``mallopt``'s largest.
KEEP_HEAP_BYTES = 2 ** 31 - 1
#: Set to ``0`` to leave ``malloc`` as the C library configures it.
KEEP_HEAP_ENV = "FASTW2V_KEEP_HEAP"
_HEAP_KEPT = []


def heap_kept_by_setting(environ=None) -> bool:
    """Whether ``FASTW2V_KEEP_HEAP`` lets :func:`keep_freed_heap` act (unset, empty or ``1``; ``0``
    not); any other value raises :class:`~fastw2v.errors.UsageError`. The command line checks it
    before it reads the corpus."""
    environ = os.environ if environ is None else environ
    setting = environ.get(KEEP_HEAP_ENV, "").strip()
    if setting not in ("", "0", "1"):
        raise UsageError(f"{KEEP_HEAP_ENV}={setting!r}: set it to 0 to leave malloc as the C library configures "
                         "it, or to 1 (or leave it unset) to keep freed memory for the next step")
    return setting != "0"


def keep_freed_heap(environ=None) -> bool:
    """Make glibc's ``malloc`` reuse freed memory instead of returning it to the OS; True if it now does.

    XLA on a CPU allocates each execution's temporaries as one block, for the default
    Keras step larger than glibc's 32 MB ``mmap`` ceiling, and frees it when the step
    ends. glibc serves such a block with a fresh ``mmap`` and unmaps it on ``free``, so
    without this every step would fault in and zero all of its pages again. Here
    ``malloc`` serves every thread from the main heap (one arena), never ``mmap``s a
    block, and keeps up to :data:`KEEP_HEAP_BYTES` of freed memory for reuse, so each
    step reuses the pages of the one before. The cost is memory the process holds after
    freeing it: up to that bound at the top of the heap, and whatever lies below a block
    still in use.

    One arena applies to threads that have not allocated yet, so this must run before
    the backend's thread pools run a step. Importing fastw2v changes no process-wide
    setting: a Keras run of the command line (:func:`fastw2v.runner.run`) calls this
    before it imports Keras, and a program of your own may call it likewise. It does nothing (False)
    where the C library is not glibc, or when ``FASTW2V_KEEP_HEAP=0``. Calling it again
    changes nothing. Any other value of the variable raises
    :class:`~fastw2v.errors.UsageError` (:func:`heap_kept_by_setting`), rather than being
    read as either.
    """
    if not heap_kept_by_setting(environ):
        return False
    if _HEAP_KEPT:
        return _HEAP_KEPT[0]
    libc = _libc() if sys.platform.startswith("linux") else None
    mallopt = getattr(libc, "mallopt", None)
    kept = mallopt is not None and all(mallopt(param, value) == 1 for param, value in (
        (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, KEEP_HEAP_BYTES)))
    _HEAP_KEPT.append(bool(kept))
    return bool(kept)


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


#: ``V x dim`` float32 arrays a Keras step holds on its device: the two tables and the
#: per-row sums of their gradients (the tutorial: one table, its RMSprop velocity, the sums).
DEVICE_TABLE_COPIES = 4


def device_memory(vocab_size: int, dim: int, batch_size: int, columns: int) -> int:
    """Bytes a Keras step needs on its accelerator, estimated: the tables and one step's tensors."""
    return DEVICE_TABLE_COPIES * vocab_size * dim * 4 + batch_memory(batch_size, columns, dim)


def device_memory_refusal(vocab_size: int, dim: int, batch_size: int, columns: int,
                          available: Optional[int]) -> InsufficientMemoryError:
    """The error for a Keras step that does not fit in the accelerator's memory (``available`` bytes)."""
    need = device_memory(vocab_size, dim, batch_size, columns)
    has = f"the accelerator has {available / 2**30:.1f} GiB" if available else "the accelerator ran out of memory"
    return InsufficientMemoryError(
        f"--batch-size {batch_size:,} needs about {need / 2**30:.1f} GiB of accelerator memory ({DEVICE_TABLE_COPIES} x "
        f"{vocab_size:,} words x dim {dim} for the tables, and {BATCH_TENSOR_COPIES} x {batch_size:,} rows x {columns} "
        f"outputs x dim {dim} for the step, 4 bytes each) but {has}; lower --batch-size")


def check_device_memory(available: Optional[int], vocab_size: int, dim: int, batch_size: int, columns: int) -> None:
    """Refuse, with the estimate, a Keras step that cannot fit in ``available`` accelerator bytes.

    ``available`` None (no accelerator, or one that does not say) refuses nothing; a CPU
    run is checked against the host's memory by :func:`check_batch_memory`.
    """
    if available is not None and device_memory(vocab_size, dim, batch_size, columns) > 0.9 * available:
        raise device_memory_refusal(vocab_size, dim, batch_size, columns, available)
