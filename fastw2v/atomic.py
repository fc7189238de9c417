"""Atomic file writes: temp file in the same directory, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import Fastw2vError, OutputError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The caller writes the temp file (any way it likes, e.g. ``np.save``). The file
    is fsynced and renamed over ``path`` only if the block finishes without an
    exception; otherwise it is removed and any earlier ``path`` is left intact. An
    ``OSError`` on the way (a full disk, no permission) becomes an
    :class:`~fastw2v.errors.OutputError` naming ``path``.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"output directory does not exist: {directory}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"could not write {path}: {exc}") from exc
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, Fastw2vError):
            raise OutputError(f"could not write {path}: {exc}") from exc
        raise


@contextlib.contextmanager
def atomic_open(path, mode="wb", **kwargs):
    """Open a temp file for writing; it atomically replaces ``path`` on success."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
