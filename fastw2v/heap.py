"""glibc's ``malloc`` tuned to keep the memory a compiled Keras step frees for the next one.

Nothing here acts when imported: a Keras run of the command line calls
:func:`keep_freed_heap` before it imports Keras (the runner's Keras start), and a
program of the user's own may call it likewise.
"""

from __future__ import annotations

import os
import sys

from .errors import UsageError
from .pages import c_library

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
    libc = c_library() if sys.platform.startswith("linux") else None
    mallopt = getattr(libc, "mallopt", None)
    kept = mallopt is not None and all(mallopt(param, value) == 1 for param, value in (
        (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, KEEP_HEAP_BYTES)))
    _HEAP_KEPT.append(bool(kept))
    return bool(kept)
