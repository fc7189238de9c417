"""Download the canonical text8 corpus once, verified, into the cache directory."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from .atomic import atomic_open, atomic_path
from .errors import DownloadError
from .progress import Progress

TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
TEXT8_ZIP_SHA1 = "6c70299b93b7e1f927b42cd8f6ac1a31547c7a2e"
TEXT8_ZIP_BYTES = 31_344_016
TEXT8_SHA1 = "0dc3edebc970dcc96137e7deda4d9995af9d93de"


def default_cache_dir() -> Path:
    base = os.environ.get("FASTW2V_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "fastw2v"
    )
    return Path(base)


def _sha1(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def fetch_text8(cache_dir=None, quiet: bool = False, url: str = TEXT8_URL, zip_sha1: str = TEXT8_ZIP_SHA1,
                text_sha1: Optional[str] = TEXT8_SHA1, timeout: float = 30.0) -> Path:
    """Return the path of ``text8``, downloading and verifying it the first time.

    The zip is downloaded into ``cache_dir`` (default ``$FASTW2V_CACHE`` or
    ``~/.cache/fastw2v``) with a progress bar, its SHA-1 checked, and ``text8``
    extracted beside it (also checked). Every file is written atomically, so an
    interrupted download leaves nothing half-written.
    """
    d = Path(cache_dir) if cache_dir else default_cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    text = d / "text8"
    if text.is_file():
        return text
    zpath = d / "text8.zip"
    if not (zpath.is_file() and _sha1(zpath) == zip_sha1):
        _download(url, zpath, zip_sha1, quiet, timeout)
    with zipfile.ZipFile(zpath) as zf:
        names = zf.namelist()
        if "text8" not in names:
            raise DownloadError(f"{zpath} holds {names[:5]}, not 'text8'")
        with atomic_path(text) as tmp:
            with zf.open("text8") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
            if text_sha1 and _sha1(tmp) != text_sha1:
                raise DownloadError(f"text8 extracted from {zpath} fails its SHA-1 check; delete {zpath} and retry")
    return text


def _download(url: str, dest: Path, sha1: str, quiet: bool, timeout: float) -> None:
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url} ({reason}). Offline? Download text8.zip on another machine, unzip it, "
            f"and pass --corpus /path/to/text8 (any text file works)"
        ) from None
    total = int(resp.headers.get("Content-Length") or 0) or None
    bar = Progress(total, desc="downloading text8.zip", unit="B", quiet=quiet)
    h = hashlib.sha1()
    try:
        with resp, atomic_open(dest, "wb") as fh:
            for block in iter(lambda: resp.read(1 << 20), b""):
                fh.write(block)
                h.update(block)
                bar.update(len(block))
            if h.hexdigest() != sha1:
                raise DownloadError(f"{url} downloaded but fails its SHA-1 check (got {h.hexdigest()}); retry later")
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, DownloadError):
            raise
        raise DownloadError(f"the download of {url} broke off ({exc}); run again to retry") from None
    finally:
        bar.close()
