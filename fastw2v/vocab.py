"""The vocabulary: word <-> id, counts, and building it from a corpus.

Ids go by descending count, ties by first occurrence; words rarer than ``min_count``
are dropped, and ``max_vocab`` keeps the most frequent. For vocabularies too large for
memory, ``prune_at`` prunes while counting, as gensim's ``max_vocab_size`` does:
whenever more than that many distinct words are held, words with count below 1, 2,
3, ... are dropped. A word pruned on the way may be left out even if it would reach
``min_count``; when anything was pruned, a second pass recounts the survivors, so their
counts are exact (:func:`fastw2v.corpus_cache.load_corpus`). :class:`WordIds` maps words
to the rows of :func:`fastw2v.to_keras`'s embedding in NumPy.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from .atomic import atomic_open
from .corpus import ReadStats, is_path, iter_sentences
from .errors import ArgumentError, CorpusError, FileFormatError


def word_index(words: Sequence[str], what: str = "word") -> Dict[str, int]:
    """``{word: position}``; a repeated word raises ValueError naming both positions."""
    index: Dict[str, int] = {}
    for i, w in enumerate(words):
        if w in index:
            raise ArgumentError(f"duplicate word {w!r} ({what}s {index[w]} and {i})")
        index[w] = i
    return index


class WordIds:
    """Words to the rows of :func:`fastw2v.to_keras`'s ``Embedding``, in NumPy.

    What Keras' ``StringLookup`` does, for a backend that cannot run it inside a model
    (JAX): apply it in the input pipeline, to an array of str of any shape. Row 0 is
    the unknown word's, or with ``mask`` the padding's (the empty string), and row 1 the
    unknown word's; the words follow in order.

    Parameters
    ----------
    words : sequence of str
    mask : bool
    """

    def __init__(self, words: Sequence[str], mask: bool = False) -> None:
        self.index = word_index(words)
        self.mask = bool(mask)
        self.oov_row = 1 if mask else 0
        self.first_row = 2 if mask else 1

    def __len__(self) -> int:
        """Rows of the embedding these ids index."""
        return len(self.index) + self.first_row

    def __call__(self, texts) -> np.ndarray:
        """int32 ids of ``texts`` (str, array-like of str), the same shape."""
        words = np.asarray(texts, dtype=object)
        flat = words.reshape(-1)
        ids = np.fromiter((self.index.get(w, -1) for w in flat), dtype=np.int64, count=flat.shape[0])
        rows = np.where(ids >= 0, ids + self.first_row, self.oov_row)
        if self.mask:
            rows[flat == ""] = 0
        return rows.reshape(words.shape).astype(np.int32)


class Vocab:
    """Words with ids ``0..V-1`` in descending frequency (ties: first occurrence first).

    Attributes
    ----------
    words : list of str, length V
    counts : int64[V]
    index : dict str -> int
    """

    def __init__(self, words: Sequence[str], counts) -> None:
        words = list(words)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (len(words),):
            raise ArgumentError(f"{len(words)} words but counts has shape {counts.shape}")
        if len(words) == 0:
            raise CorpusError("the vocabulary is empty")
        if np.any(counts < 1):
            raise ArgumentError("every vocabulary count must be >= 1")
        self.words = words
        self.counts = counts
        self.index = word_index(words, "id")
        self.min_count: Optional[int] = None
        self.max_vocab: Optional[int] = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        return self.index[word]

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words, {int(self.counts.sum())} tokens)"

    @property
    def total(self) -> int:
        """Tokens of the corpus that are in the vocabulary."""
        return int(self.counts.sum())

    @classmethod
    def from_counts(cls, counter: Dict[str, int], min_count: int = 5, max_vocab: Optional[int] = None) -> "Vocab":
        """Keep words with ``count >= min_count``, most frequent first, at most ``max_vocab``.

        ``counter`` must iterate in first-occurrence order (a ``Counter`` filled
        while reading does) so that ties keep that order.
        """
        if min_count < 1:
            raise ArgumentError(f"min_count must be >= 1, got {min_count}")
        if max_vocab is not None and max_vocab < 1:
            raise ArgumentError(f"max_vocab must be >= 1, got {max_vocab}")
        if not counter:
            raise CorpusError("the corpus is empty: it holds no words")
        kept = [(w, c) for w, c in counter.items() if c >= min_count]
        if not kept:
            top = max(counter.values())
            raise CorpusError(
                f"no word reaches min_count={min_count} (the most frequent word occurs {top} "
                f"time(s)); lower min_count or use a larger corpus"
            )
        kept.sort(key=lambda wc: -wc[1])  # stable: ties stay in first-occurrence order
        if max_vocab is not None:
            kept = kept[:max_vocab]
        vocab = cls([w for w, _ in kept], [c for _, c in kept])
        vocab.min_count = min_count
        vocab.max_vocab = max_vocab
        return vocab

    @classmethod
    def build(cls, source, min_count: int = 5, max_vocab: Optional[int] = None, stats: ReadStats | None = None) -> "Vocab":
        """Count a corpus (path or re-iterable of token lists) and build the vocabulary."""
        stats = ReadStats() if stats is None else stats
        counter = count_words(source, stats)
        if is_path(source):
            stats.warn(str(source))
        return cls.from_counts(counter, min_count=min_count, max_vocab=max_vocab)

    def save(self, path) -> None:
        """Write ``word<TAB>count`` lines, atomically."""
        with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
            for w, c in zip(self.words, self.counts.tolist()):
                fh.write(f"{w}\t{c}\n")

    @classmethod
    def load(cls, path) -> "Vocab":
        """Read a ``word<TAB>count`` file; errors name the offending line."""
        words: List[str] = []
        counts: List[int] = []
        seen: Dict[str, int] = {}
        with open(path, "r", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\n")
                if not line:
                    continue
                parts = line.split("\t")
                if len(parts) != 2 or not parts[0]:
                    raise FileFormatError(f"{path}:{lineno}: expected 'word<TAB>count', got {line[:80]!r}")
                w, c = parts
                try:
                    count = int(c)
                except ValueError:
                    raise FileFormatError(f"{path}:{lineno}: count {c[:40]!r} is not an integer") from None
                if count < 1:
                    raise FileFormatError(f"{path}:{lineno}: count must be >= 1, got {count}")
                if w in seen:
                    raise FileFormatError(f"{path}:{lineno}: duplicate word {w!r} (first on line {seen[w]})")
                seen[w] = lineno
                words.append(w)
                counts.append(count)
        if not words:
            raise FileFormatError(f"{path}: the vocabulary file is empty")
        return cls(words, counts)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids of the in-vocabulary tokens (others dropped); int32[n]."""
        get = self.index.get
        ids = np.fromiter((i for i in map(get, tokens) if i is not None), dtype=np.int32)
        return ids


def recount(source, words: Iterable[str], progress=None) -> Counter:
    """Exact counts of ``words`` in a corpus, in first-occurrence order; other words are not held.

    After :func:`count_words` has pruned, the counts of the words that survived are
    underestimates; one more pass with this fixes them, in memory bounded by ``words``.
    """
    keep = set(words)
    counter: Counter = Counter()
    update = counter.update
    for sentence in iter_sentences(source):
        update(filter(keep.__contains__, sentence))
        if progress is not None:
            progress(len(sentence))
    return counter


def count_words(source, stats: ReadStats | None = None, prune_at: Optional[int] = None,
                progress=None) -> Counter:
    """Word counts of a corpus, in first-occurrence order.

    ``prune_at`` bounds memory for huge vocabularies, as gensim's
    ``max_vocab_size`` does: whenever more than ``prune_at`` distinct words are
    held, every word with a count below a threshold (1, then 2, 3, ... on later
    prunes) is dropped. The effect: a rare word seen before a prune loses its
    earlier count, so final counts of words near the cut-off are underestimated
    and some words that would reach ``min_count`` may not. Frequent words are
    unaffected. ``None`` never prunes. :func:`recount` makes the survivors' counts exact. ``progress(n)`` is called with the tokens
    of each sentence read.
    """
    if prune_at is not None and prune_at < 1:
        raise ArgumentError(f"prune_at must be >= 1, got {prune_at}")
    counter: Counter = Counter()
    update = counter.update
    min_reduce = 1
    for sentence in iter_sentences(source, stats):
        update(sentence)
        if progress is not None:
            progress(len(sentence))
        if prune_at is not None and len(counter) > prune_at:
            for w in [w for w, c in counter.items() if c <= min_reduce]:
                del counter[w]
            min_reduce += 1
            if stats is not None:
                stats.prunes += 1
    return counter
