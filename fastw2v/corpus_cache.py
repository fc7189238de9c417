"""Encoding a corpus to ids, with an on-disk cache that later runs memory-map.

The cache holds, for one source file and one set of vocabulary parameters, the
vocabulary (``.vocab.tsv``), the id array (``.ids.npy``) and the sentence offsets
(``.starts.npy``), plus a JSON key (``.json``) written last. The key records the
source's size, mtime and a BLAKE2 hash of its bytes, the vocabulary parameters and
the cache format version; a mismatch means the cache is rebuilt. Every file is
written atomically, so two runs sharing a cache directory never see a half file.

A file is read once (:func:`read_once`): the vocabulary and the encoding come from the
same read. Pruning while counting (``prune_at``) needs the counts before the ids, so it
keeps two passes, :func:`~fastw2v.vocab.count_words` and then :func:`encode`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections import defaultdict
from itertools import count, repeat
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from .atomic import atomic_open, atomic_path
from .constants import CACHE_FORMAT_VERSION, MAX_SENTENCE_LEN
from . import download
from .download import default_cache_dir
from .corpus import EncodedCorpus, ReadStats, check_path, is_path, iter_sentences
from .errors import CorpusError, OutputError
from .pages import release_pages
from .vocab import Vocab, count_words, recount

#: while encoding to the on-disk cache, flush and release every this many ids
_FLUSH_WORDS = 1 << 24
#: :func:`read_once` numbers this many tokens in memory before it appends them to its scratch file
_SPILL_WORDS = 1 << 22
#: the corpus name that :func:`load_corpus` downloads when no such file exists
TEXT8 = "text8"


def file_digest(path, chunk: int = 1 << 22) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _release_written(out_ids: np.ndarray, flushed: int, pos: int) -> int:
    """Flush and release ``out_ids[flushed:pos]`` once it holds :data:`_FLUSH_WORDS` ids, if
    ``out_ids`` is a memory map; returns the new ``flushed``."""
    if pos - flushed < _FLUSH_WORDS or not isinstance(out_ids, np.memmap):
        return flushed
    out_ids.flush()  # written pages go to disk and leave the resident set
    release_pages(out_ids, flushed, pos)
    return pos


def encode(source, vocab: Vocab, stats: ReadStats | None = None, out_ids: Optional[np.ndarray] = None,
           progress: Optional[Callable[[int], None]] = None) -> EncodedCorpus:
    """Encode a corpus with ``vocab``: out-of-vocabulary tokens are dropped.

    Parameters
    ----------
    source : path or re-iterable of token lists
    vocab : Vocab
    out_ids : int32[vocab.total], optional
        Preallocated output (e.g. a memory map of the cache file). It must have
        exactly one slot per in-vocabulary token of ``source``.
    progress : callable(int), optional
        Called with the number of raw tokens read since the last call.

    Returns
    -------
    EncodedCorpus
    """
    stats = ReadStats() if stats is None else stats
    get = vocab.index.get
    pieces = []
    starts = [0]
    pos = 0
    flushed = 0
    for sentence in iter_sentences(source, stats):
        ids = np.fromiter(map(get, sentence, repeat(-1)), dtype=np.int32, count=len(sentence))
        ids = ids[ids >= 0]
        if progress is not None:
            progress(len(sentence))
        n = ids.shape[0]
        if n == 0:
            continue
        if out_ids is not None:
            if pos + n > out_ids.shape[0]:
                raise CorpusError("the corpus changed while it was being read (more words than counted)")
            out_ids[pos : pos + n] = ids
            flushed = _release_written(out_ids, flushed, pos + n)
        else:
            pieces.append(ids)
        pos += n
        starts.append(pos)
    if out_ids is not None and pos != out_ids.shape[0]:
        raise CorpusError("the corpus changed while it was being read (fewer words than counted)")
    if pos == 0:
        raise CorpusError("no in-vocabulary word in the corpus")
    ids_arr = out_ids if out_ids is not None else np.concatenate(pieces)
    return EncodedCorpus(ids=ids_arr, sentence_starts=np.asarray(starts, dtype=np.int64),
                         raw_words=stats.tokens, source=str(source) if is_path(source) else "")


class FirstPass:
    """What :func:`read_once` kept of a corpus: each token's first-occurrence number, in a
    scratch file, and how those numbers map to the vocabulary's ids. Use it as a context
    manager: leaving it deletes the scratch file.

    Attributes
    ----------
    raw_words : int
        Tokens read, in the vocabulary or not.
    """

    def __init__(self, source: str, scratch, lengths: np.ndarray, to_id: np.ndarray, n_words: int,
                 raw_words: int) -> None:
        self.source, self._scratch, self._lengths, self._to_id = source, scratch, lengths, to_id
        self.n_words, self.raw_words = int(n_words), int(raw_words)

    def __enter__(self) -> "FirstPass":
        return self

    def __exit__(self, *exc) -> None:
        self._scratch.close()

    def encoded(self, out_ids: Optional[np.ndarray] = None) -> EncodedCorpus:
        """The :class:`EncodedCorpus`: the numbers turned into ids, out-of-vocabulary tokens dropped,
        and sentences left with no word dropped, as :func:`encode` would give.

        ``out_ids`` (int32[n_words], optional) receives the ids, e.g. the cache's memory map,
        flushed and released as it fills; by default they go to a new array.
        """
        out = np.empty(self.n_words, np.int32) if out_ids is None else out_ids
        numbers = np.memmap(self._scratch, dtype=np.int32, mode="r", shape=(self.raw_words,))
        ends = np.cumsum(self._lengths)  # each sentence's end among the raw tokens
        kept_at_end = np.zeros(ends.shape[0], np.int64)  # ids kept up to each sentence's end
        pos = flushed = 0
        for lo in range(0, self.raw_words, _SPILL_WORDS):
            hi = min(lo + _SPILL_WORDS, self.raw_words)
            ids = self._to_id[numbers[lo:hi]]
            keep = ids >= 0
            kept = ids[keep]
            out[pos : pos + kept.shape[0]] = kept
            a, b = np.searchsorted(ends, [lo, hi], side="right")  # the sentences ending in (lo, hi]
            kept_at_end[a:b] = pos + np.cumsum(keep)[ends[a:b] - lo - 1]
            pos += kept.shape[0]
            flushed = _release_written(out, flushed, pos)
        del numbers
        if pos != self.n_words:  # pragma: no cover - the counts and the ids come from the same read
            raise RuntimeError(f"read_once: {pos} ids kept, but the vocabulary counts {self.n_words}")
        per_sentence = np.diff(kept_at_end, prepend=0)
        starts = np.concatenate(([0], kept_at_end[per_sentence > 0])).astype(np.int64)
        return EncodedCorpus(ids=out, sentence_starts=starts, raw_words=self.raw_words, source=self.source)


def read_once(path, min_count: int = 5, max_vocab: Optional[int] = None,
              progress: Optional[Callable[[int], None]] = None, scratch_dir=None) -> Tuple[Vocab, FirstPass]:
    """Build the vocabulary of a text file and number its tokens, reading it once.

    The two passes of :func:`~fastw2v.vocab.count_words` then :func:`encode` read and
    split the text twice; here each token gets its word's first-occurrence number as it
    is read (a ``defaultdict`` whose factory is a counter, so the lookup stays in C), the
    counts are a ``bincount`` of those numbers, and :meth:`FirstPass.encoded` maps them to
    the vocabulary's ids. The numbers go to a scratch file in ``scratch_dir`` (the
    system's temporary directory by default) every few million tokens, so memory holds the
    distinct words, as counting does, and not the corpus. The vocabulary and ids are those
    of the two passes (ties in first-occurrence order), since the numbers follow the
    order a ``Counter`` fills in. It cannot prune (``prune_at``): that needs the two passes.
    A scratch file that cannot be made or written (a full disk) raises
    :class:`~fastw2v.errors.OutputError` naming its directory and what to do.
    """
    stats = ReadStats()
    numbering: defaultdict = defaultdict(count().__next__)  # word -> its first-occurrence number
    number = numbering.__getitem__
    try:
        scratch = tempfile.TemporaryFile(dir=scratch_dir)
    except OSError as exc:
        raise OutputError(_scratch_failure(path, scratch_dir, exc)) from exc
    try:
        counts = np.zeros(0, np.int64)
        lengths = []
        pending = []
        n_pending = 0

        def spill(counts):
            numbers = np.concatenate(pending) if pending else np.zeros(0, np.int32)
            try:  # file.write, not ndarray.tofile, which lets a full disk's ENOSPC pass unraised
                scratch.write(numbers.data)
                scratch.flush()
            except OSError as exc:
                raise OutputError(_scratch_failure(path, scratch_dir, exc)) from exc
            grown = np.zeros(len(numbering), np.int64)
            grown[: counts.shape[0]] = counts
            return grown + np.bincount(numbers, minlength=len(numbering))

        for sentence in iter_sentences(path, stats):
            pending.append(np.fromiter(map(number, sentence), dtype=np.int32, count=len(sentence)))
            lengths.append(len(sentence))
            n_pending += len(sentence)
            if progress is not None:
                progress(len(sentence))
            if n_pending >= _SPILL_WORDS:
                counts = spill(counts)
                pending, n_pending = [], 0
        counts = spill(counts)
        pending = []
        stats.warn(str(path))
        vocab = Vocab.from_counts(dict(zip(numbering, counts.tolist())), min_count=min_count, max_vocab=max_vocab)
        to_id = np.full(len(numbering), -1, np.int32)
        for word, i in vocab.index.items():
            to_id[numbering[word]] = i
    except BaseException:
        with contextlib.suppress(OSError):  # closing flushes, and a full disk fails that flush again
            scratch.close()
        raise
    return vocab, FirstPass(str(path), scratch, np.asarray(lengths, np.int64), to_id, vocab.total, stats.tokens)


def _scratch_failure(path, scratch_dir, exc: OSError) -> str:
    """What to say when :func:`read_once`'s scratch file cannot be made or written."""
    where = scratch_dir if scratch_dir is not None else tempfile.gettempdir()
    return (f"could not write the scratch file for reading {path} in {where}: {exc.strerror or exc}. It holds 4 bytes "
            "a word of the text until the read ends; free space there, or point --cache-dir (FASTW2V_CACHE), or "
            "with --no-cache TMPDIR, at a writable directory with room")


def _make_cache_dir(cache_dir: Path) -> None:
    """Create the cache directory, or say how to choose another."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"could not create the corpus cache directory {cache_dir}: {exc.strerror or exc}. Point "
                          "--cache-dir (or FASTW2V_CACHE) at a writable directory, or pass --no-cache") from exc


def _cache_key(path: Path, min_count: int, max_vocab: Optional[int]) -> dict:
    st = path.stat()
    return {
        "format": CACHE_FORMAT_VERSION,
        "source": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "blake2b": file_digest(path),
        "min_count": min_count,
        "max_vocab": max_vocab,
        "max_sentence_len": MAX_SENTENCE_LEN,
    }


def _cache_stem(cache_dir: Path, key: dict) -> Path:
    digest = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=8).hexdigest()
    return cache_dir / f"{Path(key['source']).name}.{digest}"


def load_corpus(source, min_count: int = 5, max_vocab: Optional[int] = None, cache_dir=None,
                use_cache: bool = True, progress_factory=None,
                prune_at: Optional[int] = None) -> Tuple[Vocab, EncodedCorpus]:
    """Build the vocabulary and encode a corpus, using the on-disk cache for files.

    Parameters
    ----------
    source : path or re-iterable of token lists
        ``"text8"``, when no file of that name exists, is the canonical text8 corpus,
        downloaded once into the cache directory (see :func:`fastw2v.download.fetch_text8`).
    min_count, max_vocab : vocabulary parameters
    cache_dir : path, optional
        Where the cache lives; default ``$FASTW2V_CACHE`` or ``~/.cache/fastw2v``.
    use_cache : bool
        False reads and encodes afresh and writes no cache.
    progress_factory : callable(desc, total) -> callable(int), optional
        Makes a progress callback for each pass over the text: one (``reading``,
        :func:`read_once`), or with ``prune_at`` two (``counting``, then ``encoding``).
    prune_at : int, optional
        Bound the distinct words held while counting (see :func:`fastw2v.vocab.count_words`).

    Returns
    -------
    (Vocab, EncodedCorpus)
        For a cached file, ``ids`` is a read-only memory map.
    """
    if not is_path(source):
        stats = ReadStats()
        counter = count_words(source, stats, prune_at=prune_at)
        if stats.prunes:
            counter = recount(source, counter)
        vocab = Vocab.from_counts(counter, min_count=min_count, max_vocab=max_vocab)
        return vocab, encode(source, vocab)

    if isinstance(source, str) and source == TEXT8 and not Path(source).exists():
        source = download.fetch_text8(cache_dir, quiet=progress_factory is None)
    path = check_path(source)
    key = dict(_cache_key(path, min_count, max_vocab), prune_at=prune_at) if use_cache else None
    if use_cache:
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        stem = _cache_stem(cache_dir, key)
        cached = _try_load_cache(stem, key)
        if cached is not None:
            return cached

    if prune_at is None:
        scratch_dir = cache_dir if use_cache else None
        if use_cache:
            _make_cache_dir(cache_dir)
        tick = progress_factory("reading", None) if progress_factory else None
        try:
            vocab, words = read_once(path, min_count, max_vocab, progress=tick, scratch_dir=scratch_dir)
        finally:
            _close_progress(tick)
        with words:
            if not use_cache:
                return vocab, words.encoded()
            return _write_cache(stem, key, vocab, words.raw_words, words.encoded)

    stats = ReadStats()
    tick = progress_factory("counting", None) if progress_factory else None
    counter = _count_with_progress(path, stats, tick, prune_at)
    stats.warn(str(path))
    if stats.prunes:
        # pruning left the survivors' counts short, and encoding needs the exact total
        tick = progress_factory("recounting", stats.tokens) if progress_factory else None
        counter = recount(path, counter, progress=tick)
        _close_progress(tick)
    vocab = Vocab.from_counts(counter, min_count=min_count, max_vocab=max_vocab)
    raw_words = stats.tokens
    del counter

    tick = progress_factory("encoding", raw_words) if progress_factory else None
    if not use_cache:
        corpus = encode(path, vocab, progress=tick)
        return vocab, corpus

    def encoded(out_ids):
        try:
            return encode(path, vocab, out_ids=out_ids, progress=tick)
        finally:
            _close_progress(tick)

    _make_cache_dir(cache_dir)
    return _write_cache(stem, key, vocab, raw_words, encoded)


def _write_cache(stem: Path, key: dict, vocab: Vocab, raw_words: int, encoded) -> Tuple[Vocab, EncodedCorpus]:
    """Write one cache entry, each file atomically and the key last, and load it back.

    ``encoded(out_ids)`` fills the id memory map it is given (``vocab.total`` slots) and
    returns the :class:`EncodedCorpus`, whose sentence offsets are saved.
    """
    with atomic_path(stem.with_suffix(stem.suffix + ".ids.npy")) as tmp_ids:
        out = np.lib.format.open_memmap(tmp_ids, mode="w+", dtype=np.int32, shape=(vocab.total,))
        corpus = encoded(out)
        out.flush()
        del out, corpus.ids
    with atomic_open(stem.with_suffix(stem.suffix + ".starts.npy"), "wb") as fh:
        np.save(fh, corpus.sentence_starts)
    vocab.save(stem.with_suffix(stem.suffix + ".vocab.tsv"))
    meta = dict(key, raw_words=raw_words, n_words=vocab.total, vocab_size=len(vocab))
    with atomic_open(stem.with_suffix(stem.suffix + ".json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    loaded = _try_load_cache(stem, key)
    if loaded is None:  # pragma: no cover - only if another process removed it meanwhile
        raise CorpusError(f"the corpus cache at {stem} vanished while it was written")
    return loaded


def _close_progress(tick) -> None:
    """Close a progress callback from ``progress_factory`` if it can be closed (a bar can)."""
    if hasattr(tick, "close"):
        tick.close()


def _count_with_progress(path, stats: ReadStats, tick, prune_at):
    counter = count_words(path, stats, prune_at, progress=tick)
    _close_progress(tick)
    return counter


def _try_load_cache(stem: Path, key: dict):
    meta_path = stem.with_suffix(stem.suffix + ".json")
    try:
        with open(meta_path) as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None
    if any(meta.get(k) != v for k, v in key.items()):
        return None
    try:
        vocab = Vocab.load(stem.with_suffix(stem.suffix + ".vocab.tsv"))
        ids = np.load(stem.with_suffix(stem.suffix + ".ids.npy"), mmap_mode="r")
        starts = np.load(stem.with_suffix(stem.suffix + ".starts.npy"))
    except (OSError, ValueError):
        return None
    if ids.dtype != np.int32 or ids.shape != (meta["n_words"],) or len(vocab) != meta["vocab_size"]:
        return None
    if starts.shape[0] < 2 or starts[-1] != ids.shape[0]:
        return None
    vocab.min_count = key["min_count"]
    vocab.max_vocab = key["max_vocab"]
    corpus = EncodedCorpus(ids=ids, sentence_starts=starts, raw_words=int(meta["raw_words"]),
                           source=key["source"], extra={"cache": str(stem)})
    return vocab, corpus
