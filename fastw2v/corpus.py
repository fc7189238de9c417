"""Streaming corpus readers and the encoded (integer id) corpus.

Readers accept text8-style files (one huge line of space-separated words),
line-per-sentence text files, ``.gz``/``.bz2``/``.xz`` compressed files, and any
re-iterable of token lists. Files are read in bounded chunks
(:data:`~fastw2v.constants.READ_CHUNK_BYTES`); the text is never held whole.

Sentences longer than :data:`~fastw2v.constants.MAX_SENTENCE_LEN` words (a
text8-style file is one single line) are cut into pseudo-sentences of at most
that many words, as word2vec.c and gensim do, so the skip-gram window never
reaches across a cut.

A ``.zip`` holding exactly one file (``text8.zip`` as downloaded) is read without
unpacking; one with more or fewer members is refused, naming them. A file that is not
text is refused with what it looks like: a known binary signature (an image, a PDF, an
archive, compressed data without its suffix, a NumPy array, a program), or more than
20% of its first 256 KiB undecodable as UTF-8 or NUL (a file under 1 KiB is judged by
its signature alone). Text with a few bad bytes still trains: undecodable bytes become
U+FFFD and are counted, with one warning per file; NUL bytes count as whitespace; a
"word" longer than one read chunk is cut into pieces, with a warning.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Union

import numpy as np

from .constants import MAX_SENTENCE_LEN, READ_CHUNK_BYTES
from .errors import ArgumentError, ArgumentTypeError, CorpusError, CorpusNotFoundError
from .pages import is_mapped, release_pages


_SURROGATES = re.compile("[\udc80-\udcff]")

PathLike = Union[str, os.PathLike]


@dataclass
class ReadStats:
    """What a pass over the corpus saw."""

    tokens: int = 0
    sentences: int = 0
    bytes_read: int = 0
    undecodable_bytes: int = 0
    forced_breaks: int = 0  # words longer than a read chunk, cut by force
    prunes: int = 0  # times the vocabulary was pruned while counting

    def warn(self, source: str) -> None:
        if self.undecodable_bytes:
            warnings.warn(
                f"{source}: {self.undecodable_bytes} undecodable byte(s) were replaced by U+FFFD "
                "(the file is not valid UTF-8)",
                UnicodeWarning,
                stacklevel=3,
            )
        if self.forced_breaks:
            warnings.warn(
                f"{source}: {self.forced_breaks} word(s) longer than {READ_CHUNK_BYTES} bytes were cut",
                RuntimeWarning,
                stacklevel=3,
            )


def is_path(source) -> bool:
    return isinstance(source, (str, os.PathLike))


def check_path(path: PathLike) -> Path:
    """Return ``path`` as a Path, or raise a clear error if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise CorpusNotFoundError(2, f"corpus file not found: {p}", str(p))
    if p.is_dir():
        raise CorpusNotFoundError(21, f"corpus path is a directory, not a file: {p}", str(p))
    return p


def open_binary(path: PathLike):
    """Open a file for binary reading, decompressing by its suffix.

    ``.gz``, ``.bz2`` and ``.xz``/``.lzma`` are decompressed as they are read; a ``.zip``
    must hold exactly one file, which is streamed (text8.zip as downloaded).
    """
    p = check_path(path)
    suffix = p.suffix.lower()
    if suffix == ".gz":
        return gzip.open(p, "rb")
    if suffix == ".bz2":
        return bz2.open(p, "rb")
    if suffix in (".xz", ".lzma"):
        return lzma.open(p, "rb")
    if suffix == ".zip":
        return _open_zip_member(p)
    return open(p, "rb")


def _open_zip_member(p: Path):
    try:
        archive = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorpusError(f"{p} is not a readable zip file ({exc})") from None
    files = [info for info in archive.infolist() if not info.is_dir()]
    if len(files) != 1:
        archive.close()
        names = ", ".join(info.filename for info in files[:5]) + (", ..." if len(files) > 5 else "")
        raise CorpusError(f"{p} holds {len(files)} files ({names or 'none'}); a zip corpus must hold exactly one "
                          "text file: unzip it and pass the file to train on")
    member = archive.open(files[0])
    member_close = member.close

    def close():  # the member, then the archive it reads from
        member_close()
        archive.close()

    member.close = close
    return member


#: the first bytes of a file, in which undecodable and NUL bytes are counted
SNIFF_BYTES = 1 << 18
#: more than this share of them means the file is not text (judged on samples of at least
#: MIN_SNIFF_BYTES: a few bytes say nothing)
MAX_BINARY_SHARE = 0.2
MIN_SNIFF_BYTES = 1024
_MAGIC = [
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive (give it a .zip suffix, or unzip it)"),
    (b"\x1f\x8b", "gzip data (give it a .gz suffix)"), (b"\xfd7zXZ", "xz data (give it a .xz suffix)"),
    (b"BZh", "bzip2 data (give it a .bz2 suffix)"), (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x7fELF", "a program (ELF executable)"),
]


def check_text(head: bytes, path) -> None:
    """Refuse a file whose first bytes show it is not text, saying what it looks like.

    The rule: a known binary signature (image, archive, compressed data, NumPy array,
    program, tar), or more than :data:`MAX_BINARY_SHARE` of the first
    :data:`SNIFF_BYTES` bytes undecodable as UTF-8 or NUL (in a file of at least
    :data:`MIN_SNIFF_BYTES`). Text with a few bad bytes passes (they are replaced and
    counted, with a warning).
    """
    sample = head[:SNIFF_BYTES]
    if not sample:
        return
    what = next((name for magic, name in _MAGIC if sample.startswith(magic)), None)
    if what is None and sample[257:262] == b"ustar":
        what = "a tar archive (unpack it and pass a text file)"
    if what is None and len(sample) >= MIN_SNIFF_BYTES:
        seen = ReadStats()
        _decode(sample, seen)  # counts undecodable bytes as a read of the file would
        share = (seen.undecodable_bytes + sample.count(b"\0")) / len(sample)
        if share > MAX_BINARY_SHARE:
            first_line = sample.split(b"\n", 1)[0]
            looks = ("word2vec binary vectors (a model, not a corpus)"
                     if re.fullmatch(rb"\d+ \d+", first_line.strip()) else "binary data")
            what = f"{looks}: {100 * share:.0f}% of its first {len(sample):,} bytes are not UTF-8 text"
    if what is not None:
        raise CorpusError(f"{path} is not a text corpus: it looks like {what}. Pass a text file (plain, .gz, .bz2, "
                          ".xz, or a .zip holding one text file)")


def _decode(data: bytes, stats: ReadStats) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        bad = len(_SURROGATES.findall(text))
        stats.undecodable_bytes += bad
        text = _SURROGATES.sub("\ufffd", text)
    if "\x00" in text:
        # NUL is treated as whitespace: it never belongs inside a word
        text = text.replace("\x00", " ")
    return text


def _read(fh, n: int, path) -> bytes:
    """``fh.read(n)``, with a damaged or unreadable file reported as a CorpusError."""
    try:
        return fh.read(n)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise CorpusError(f"cannot read the corpus {path}: {exc}") from exc


def _iter_file_lines(path: PathLike, stats: ReadStats, chunk_bytes: int) -> Iterator[tuple]:
    """Yield ``(tokens, line_ends)`` pieces of a file, reading bounded chunks.

    ``line_ends`` is True when the piece finishes a line. A line longer than one
    chunk comes as several pieces.
    """
    carry = b""
    with open_binary(path) as head:
        check_text(_read(head, SNIFF_BYTES, path), path)
    with open_binary(path) as fh:
        while True:
            chunk = _read(fh, chunk_bytes, path)
            stats.bytes_read += len(chunk)
            if not chunk:
                break
            data = carry + chunk if carry else chunk
            # cut after the last ASCII whitespace so no word or UTF-8 sequence is split
            cut = max(data.rfind(b" "), data.rfind(b"\n"), data.rfind(b"\t"), data.rfind(b"\r"))
            if cut < 0:
                if len(data) <= chunk_bytes:
                    carry = data
                    continue
                cut = len(data) - 1  # one enormous word: break it by force
                stats.forced_breaks += 1
            carry = data[cut + 1 :]
            text = _decode(data[: cut + 1], stats)
            lines = text.split("\n")
            for i, line in enumerate(lines):
                last = i == len(lines) - 1
                yield line.split(), not last
        if carry:
            yield _decode(carry, stats).split(), True


def iter_sentences(source, stats: ReadStats | None = None, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[List[str]]:
    """Yield the corpus as lists of str tokens, each at most MAX_SENTENCE_LEN long.

    Parameters
    ----------
    source : path or re-iterable of token lists
        A text file (plain or compressed) or an iterable of lists of str.
    stats : ReadStats, optional
        Filled with counts while iterating.
    """
    stats = ReadStats() if stats is None else stats
    if is_path(source):
        current: List[str] = []
        for tokens, line_ends in _iter_file_lines(source, stats, chunk_bytes):
            if tokens:
                if current:
                    current.extend(tokens)
                else:
                    current = tokens
                if len(current) >= MAX_SENTENCE_LEN:
                    n_full = len(current) // MAX_SENTENCE_LEN * MAX_SENTENCE_LEN
                    for start in range(0, n_full, MAX_SENTENCE_LEN):
                        stats.tokens += MAX_SENTENCE_LEN
                        stats.sentences += 1
                        yield current[start : start + MAX_SENTENCE_LEN]
                    current = current[n_full:]
            if line_ends and current:
                stats.tokens += len(current)
                stats.sentences += 1
                yield current
                current = []
        if current:
            stats.tokens += len(current)
            stats.sentences += 1
            yield current
        return
    for sentence in _iter_token_lists(source):
        for start in range(0, len(sentence), MAX_SENTENCE_LEN):
            piece = sentence[start : start + MAX_SENTENCE_LEN]
            stats.tokens += len(piece)
            stats.sentences += 1
            yield piece


def _iter_token_lists(source) -> Iterator[list]:
    if isinstance(source, (bytes, bytearray)) or isinstance(source, np.ndarray):
        raise ArgumentTypeError("corpus must be a file path or an iterable of token lists (lists of str)")
    try:
        iterator = iter(source)
    except TypeError:
        raise ArgumentTypeError(
            f"corpus must be a file path or an iterable of token lists, got {type(source).__name__}"
        ) from None
    if iterator is source:
        raise ArgumentTypeError(
            "corpus must be re-iterable (a list, or an object whose __iter__ starts afresh), "
            "not a one-shot iterator or generator: it is read more than once"
        )
    for i, sentence in enumerate(iterator):
        if isinstance(sentence, str):
            raise ArgumentTypeError(
                f"corpus item {i} is a str, not a list of tokens; split your sentences into words first"
            )
        sentence = list(sentence)
        for tok in sentence:
            if not isinstance(tok, str):
                raise ArgumentTypeError(f"corpus item {i} holds a {type(tok).__name__}, expected str tokens")
        yield sentence


@dataclass
class EncodedCorpus:
    """The corpus as vocabulary ids.

    Attributes
    ----------
    ids : int32[N]
        In-vocabulary tokens in corpus order (out-of-vocabulary tokens dropped).
        May be a read-only memory map of the on-disk cache.
    sentence_starts : int64[S + 1]
        ``ids[sentence_starts[s]:sentence_starts[s + 1]]`` is sentence ``s``.
    raw_words : int
        Tokens in the source before out-of-vocabulary words were dropped.
    """

    ids: np.ndarray
    sentence_starts: np.ndarray
    raw_words: int = 0
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_words(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_sentences(self) -> int:
        return int(self.sentence_starts.shape[0] - 1)

    def head(self, n_words: int) -> "EncodedCorpus":
        """The first ``n_words`` ids (cut at a sentence boundary if one falls there), without copying."""
        n = min(int(n_words), self.n_words)
        starts = self.sentence_starts[self.sentence_starts < n]
        return EncodedCorpus(ids=self.ids[:n], sentence_starts=np.append(starts, np.int64(n)).astype(np.int64),
                             raw_words=n, source=self.source)

    def share(self, index: int, n_shares: int) -> "EncodedCorpus":
        """Share ``index`` of ``n_shares`` disjoint runs of whole sentences, without copying.

        Share ``i`` holds sentences ``[i * S // n, (i + 1) * S // n)``, so the shares
        cover the corpus exactly once and no skip-gram window crosses two of them.
        ``raw_words`` is scaled by the share's part of the ids. ``extra["share"]``
        records ``(first sentence, end sentence)``.
        """
        if not 0 <= index < n_shares:
            raise ArgumentError(f"share index must be in 0..{n_shares - 1}, got {index}")
        if n_shares > self.n_sentences:
            raise ArgumentError(f"cannot split {self.n_sentences} sentences into {n_shares} shares")
        s0 = index * self.n_sentences // n_shares
        s1 = (index + 1) * self.n_sentences // n_shares
        lo, hi = int(self.sentence_starts[s0]), int(self.sentence_starts[s1])
        raw = round(self.raw_words * (hi - lo) / max(1, self.n_words))
        return EncodedCorpus(ids=self.ids[lo:hi], sentence_starts=self.sentence_starts[s0:s1 + 1] - lo,
                             raw_words=raw, source=self.source, extra=dict(self.extra, share=(s0, s1)))

    @classmethod
    def from_array(cls, ids, vocab_size: int | None = None) -> "EncodedCorpus":
        """Wrap a flat id array, cut into pseudo-sentences of MAX_SENTENCE_LEN."""
        ids = check_ids(ids, vocab_size)
        n = ids.shape[0]
        starts = np.arange(0, n, MAX_SENTENCE_LEN, dtype=np.int64)
        starts = np.append(starts, np.int64(n))
        return cls(ids=ids, sentence_starts=starts, raw_words=n)


def check_ids(ids, vocab_size: int | None = None, name: str = "ids", keep=(np.int32,)) -> np.ndarray:
    """Validate an id array at the Python boundary; returns it as int32 (no copy if possible).

    An array whose dtype is in ``keep`` (a caller whose kernels are compiled for it)
    is returned as it is.
    """
    arr = np.asarray(ids)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0 and arr.dtype == np.float64:
            arr = arr.astype(np.int32)
        else:
            raise ArgumentTypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ArgumentError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise CorpusError(f"{name} is empty: the corpus has no words")
    lo, hi = id_range(arr)
    if lo < 0:
        raise ArgumentError(f"{name} holds a negative id ({lo}); ids must be in [0, vocab_size)")
    if vocab_size is not None and hi >= vocab_size:
        raise ArgumentError(f"{name} holds id {hi}, out of range for a vocabulary of {vocab_size} words")
    if hi > np.iinfo(np.int32).max:
        raise ArgumentError(f"{name} holds id {hi}, which does not fit in int32")
    if arr.dtype not in keep:
        arr = arr.astype(np.int32)
    return arr


#: elements per block when scanning a memory-mapped id array
_SCAN_BLOCK = 1 << 22


def id_range(arr: np.ndarray):
    """``(min, max)`` of a non-empty integer array.

    A memory-mapped array is scanned block by block and each block's pages are
    released behind the scan, so validating a corpus larger than memory does not
    pull all of it into the resident set.
    """
    if not is_mapped(arr) or arr.shape[0] <= _SCAN_BLOCK:
        return int(arr.min()), int(arr.max())
    lo, hi = None, None
    for s in range(0, arr.shape[0], _SCAN_BLOCK):
        block = arr[s : s + _SCAN_BLOCK]
        b_lo, b_hi = int(block.min()), int(block.max())
        lo = b_lo if lo is None else min(lo, b_lo)
        hi = b_hi if hi is None else max(hi, b_hi)
        release_pages(arr, 0, s + block.shape[0])  # from 0: pages straddling block edges go too
    return lo, hi


def as_encoded(corpus, vocab_size: int) -> EncodedCorpus:
    """Accept an EncodedCorpus, a flat id array, or ``(ids, sentence_starts)``; validate it."""
    if isinstance(corpus, EncodedCorpus):
        check_ids(corpus.ids, vocab_size)
        _check_starts(corpus.sentence_starts, corpus.ids.shape[0])
        return corpus
    if isinstance(corpus, tuple) and len(corpus) == 2:
        ids = check_ids(corpus[0], vocab_size)
        starts = np.asarray(corpus[1])
        _check_starts(starts, ids.shape[0])
        return EncodedCorpus(ids=ids, sentence_starts=starts.astype(np.int64), raw_words=ids.shape[0])
    return EncodedCorpus.from_array(corpus, vocab_size)


def _check_starts(starts: np.ndarray, n: int) -> None:
    if not np.issubdtype(np.asarray(starts).dtype, np.integer) or starts.ndim != 1 or starts.shape[0] < 2:
        raise ArgumentError("sentence_starts must be a 1-D integer array of at least 2 offsets")
    if starts[0] != 0 or starts[-1] != n or np.any(np.diff(starts) < 0):
        raise ArgumentError(f"sentence_starts must rise from 0 to len(ids) = {n}")
