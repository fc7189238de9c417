"""Progress bars for long work, drawn by tqdm.

On a terminal, tqdm redraws one line (rate, ETA and the fields given to
:meth:`Progress.update`: loss, pairs/s, ...); in a Jupyter notebook, tqdm's notebook
widget; when stderr is a log file or a pipe, a plain line is printed every
``log_interval`` seconds instead of redrawing. ``quiet`` silences all of it.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from tqdm import tqdm


def _in_notebook() -> bool:
    """True inside a Jupyter kernel, where tqdm's notebook widget replaces the text bar."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Progress:
    """``Progress(total, desc)``; call ``update(n, **fields)`` or ``set(n, **fields)``; ``close()`` at the end."""

    def __init__(self, total: Optional[float], desc: str = "", unit: str = "words", quiet: bool = False,
                 stream=None, interval: float = 0.5, log_interval: float = 15.0) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.n = 0.0
        self.fields: dict = {}
        self.start = time.perf_counter()
        self.log_interval = log_interval
        self._last_log = self.start
        self._logged = False
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        if not quiet and tty:
            self._bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, mininterval=interval,
                             dynamic_ncols=True, file=self.stream, leave=True)
        elif not quiet and stream is None and _in_notebook():
            try:  # the widget needs ipywidgets; without it, plain lines
                from tqdm.notebook import tqdm as notebook_tqdm

                self._bar = notebook_tqdm(total=total, desc=desc, unit=unit, unit_scale=True, mininterval=interval)
            except ImportError:
                self._bar = None

    def update(self, n: float = 0, **fields) -> None:
        self.n += n
        self.fields.update(fields)
        if self.quiet:
            return
        if self._bar is not None:
            if self.fields and fields:
                self._bar.set_postfix(self._postfix(), refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last_log >= self.log_interval:
            self._last_log = now
            self._write_line(now)

    def set(self, n: float, **fields) -> None:
        """Move to ``n`` done (it may only grow)."""
        self.update(n - self.n, **fields)

    def __call__(self, n: float) -> None:
        self.update(n)

    def _postfix(self) -> dict:
        return {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in self.fields.items()}

    def line(self, now: Optional[float] = None) -> str:
        """The bar as one line of plain text: done, rate, ETA and the fields."""
        now = time.perf_counter() if now is None else now
        postfix = ", ".join(f"{k}={v}" for k, v in self._postfix().items())
        return tqdm.format_meter(self.n, self.total, now - self.start, prefix=self.desc, unit=self.unit,
                                 unit_scale=True, postfix=postfix or None, ncols=0)

    def _write_line(self, now: float) -> None:
        self.stream.write(self.line(now) + "\n")
        self.stream.flush()
        self._logged = True

    def close(self) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            if self.fields:
                self._bar.set_postfix(self._postfix(), refresh=False)
            self._bar.close()
            self._bar = None
            return
        # in a log, a last line, unless the work was too short to have printed any
        now = time.perf_counter()
        if self._logged or now - self.start >= 1.0:
            self._write_line(now)


def factory(quiet: bool):
    """A ``progress_factory(desc, total)`` for :func:`fastw2v.load_corpus`."""

    def make(desc, total):
        return Progress(total, desc=desc, quiet=quiet)

    return make
