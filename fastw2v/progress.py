"""A small dependency-free progress bar for long work (stderr, rate and ETA)."""

from __future__ import annotations

import sys
import time
from typing import Optional


def _fmt_rate(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def _fmt_time(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """``Progress(total, desc)``; call ``update(n, **fields)``; ``close()`` at the end.

    On a terminal it redraws one line at most every ``interval`` seconds; elsewhere
    (a log file, CI) it prints a line every ``log_interval`` seconds. ``quiet``
    silences it.
    """

    def __init__(self, total: Optional[float], desc: str = "", unit: str = "words", quiet: bool = False,
                 stream=None, interval: float = 0.5, log_interval: float = 15.0) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else log_interval
        self.n = 0.0
        self.start = time.perf_counter()
        # on a terminal draw at once; in a log, wait one interval so short work prints nothing
        self._last = 0.0 if self.tty else self.start
        self.fields: dict = {}
        self._drawn = False

    def update(self, n: float = 0, **fields) -> None:
        self.n += n
        self.fields.update(fields)
        now = time.perf_counter()
        if not self.quiet and now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def set(self, n: float, **fields) -> None:
        self.update(n - self.n, **fields)

    def line(self, now: Optional[float] = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = self.n / elapsed
        parts = [self.desc] if self.desc else []
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = int(frac * 24)
            parts.append(f"[{'#' * filled}{'.' * (24 - filled)}] {100 * frac:5.1f}%")
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            parts.append(f"{_fmt_rate(rate)} {self.unit}/s ETA {_fmt_time(eta)}")
        else:
            parts.append(f"{_fmt_rate(self.n)} {self.unit} {_fmt_rate(rate)} {self.unit}/s")
        for k, v in self.fields.items():
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        parts.append(f"elapsed {_fmt_time(elapsed)}")
        return " ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        if self.tty:
            self.stream.write("\r" + text[:200].ljust(100))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.quiet or (not self.tty and not self._drawn and time.perf_counter() - self.start < 1.0):
            return
        self._draw(time.perf_counter())
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, n: float) -> None:
        self.update(n)


def factory(quiet: bool):
    """A ``progress_factory(desc, total)`` for :func:`fastw2v.load_corpus`."""

    def make(desc, total):
        return Progress(total, desc=desc, quiet=quiet)

    return make
