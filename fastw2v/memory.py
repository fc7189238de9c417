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
