"""Word vectors: lookup, similarity queries, analogies, word2vec text/binary files."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_open
from .errors import ArgumentError, ArgumentTypeError, MissingFileError, VectorsFormatError
from .vocab import word_index


def _as_terms(value) -> list:
    """A query side of most_similar as a list: one word or vector alone, or a list of them."""
    if value is None:
        return []
    if isinstance(value, (str, np.ndarray)):
        return [value]
    return list(value)


def _gensim_keyed_vectors(what: str):
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise ImportError(f"Vectors.{what} needs gensim: install the 'bench' extra (pip install 'fastw2v[bench]') "
                          "or gensim itself") from None
    return KeyedVectors


class Vectors:
    """Word vectors, in the spirit of gensim's ``KeyedVectors``.

    Parameters
    ----------
    words : sequence of str, length V
        Most frequent first, if the vectors came from training.
    vectors : float32[V, dim]
    counts : int64[V], optional

    ``vectors[word]`` gives a vector, ``word in vectors`` and ``len(vectors)`` work,
    and ``vectors.index[word]`` (also ``key_to_index``) is the row of a word.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, counts=None) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        words = list(words)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ArgumentError(f"{len(words)} words but vectors have shape {vectors.shape}")
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w:
                raise ArgumentError(f"word {i} is not a non-empty str: {w!r}")
        self.words = words
        self.vectors = vectors
        self.index = word_index(words, "row")
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self._unit: Optional[np.ndarray] = None

    # -- container protocol -------------------------------------------------------

    @property
    def key_to_index(self) -> Dict[str, int]:
        return self.index

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._row(word)]

    def __repr__(self) -> str:
        return f"Vectors({len(self)} words, dim {self.dim})"

    def _row(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary") from None

    # -- similarity -----------------------------------------------------------------

    @property
    def unit(self) -> np.ndarray:
        """Unit-normalised vectors (cached; zero vectors stay zero). float32[V, dim]."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = (self.vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        return self._unit

    def most_similar(self, positive=None, negative=None, topn: int = 10, exclude: Iterable[str] = (),
                     restrict_vocab: Optional[int] = None) -> List[Tuple[str, float]]:
        """The ``topn`` words with the highest cosine similarity to a query, with gensim's semantics.

        ``positive`` and ``negative`` are a word or a vector, or lists of them (also
        ``(word, weight)`` pairs, as gensim takes them). The query is the weighted mean of
        the words' unit vectors and the raw vectors, weight 1 for a positive and -1 for a
        negative; ``most_similar(positive=["king", "woman"], negative=["man"])`` is the
        analogy. The query words are excluded from the answer; ``exclude`` removes more.
        One matrix-vector product over the cached unit vectors.
        """
        terms = [(t, 1.0) for t in _as_terms(positive)] + [(t, -1.0) for t in _as_terms(negative)]
        if not terms:
            raise ArgumentError("most_similar needs a positive or a negative word or vector")
        q, skip = np.zeros(self.dim, np.float64), []
        for term, weight in terms:
            if isinstance(term, tuple) and len(term) == 2 and not isinstance(term[1], str):
                term, weight = term[0], float(term[1])
            if isinstance(term, str):
                row = self._row(term)
                skip.append(row)
                q += weight * self.unit[row]
            else:
                v = np.asarray(term, dtype=np.float64)
                if v.shape != (self.dim,):
                    raise ArgumentError(f"query vector must have shape ({self.dim},), got {v.shape}")
                q += weight * v
        norm = np.linalg.norm(q)
        q = (q / norm if norm else q).astype(np.float32)
        skip += [self._row(w) for w in exclude]
        unit = self.unit if restrict_vocab is None else self.unit[:restrict_vocab]
        return self._top(unit @ q, skip, topn)

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word of ``words`` furthest from their mean direction (gensim's ``doesnt_match``).

        Words not in the vocabulary are left out, as gensim does; none left is an error.
        """
        used = [w for w in words if w in self]
        if not used:
            raise ArgumentError(f"doesnt_match: none of {list(words)!r} is in the vocabulary")
        unit = self.unit[[self.index[w] for w in used]]
        mean = unit.mean(axis=0)
        norm = np.linalg.norm(mean)
        sims = unit @ (mean / norm if norm else mean)
        return sorted(zip(sims.tolist(), used))[0][1]

    def _top(self, sims: np.ndarray, skip: Sequence[int], topn: int) -> List[Tuple[str, float]]:
        sims = sims.copy()
        skip = [s for s in skip if s < sims.shape[0]]
        sims[skip] = -np.inf
        topn = min(topn, sims.shape[0] - len(set(skip)))
        if topn <= 0:
            return []
        best = np.argpartition(-sims, topn - 1)[:topn]
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in best]

    def most_similar_batch(self, words: Sequence[str], topn: int = 8) -> Dict[str, List[str]]:
        """Nearest neighbours of several words with one matrix product."""
        rows = np.array([self._row(w) for w in words])
        sims = self.unit[rows] @ self.unit.T
        sims[np.arange(len(rows)), rows] = -np.inf
        out = {}
        for i, w in enumerate(words):
            best = np.argpartition(-sims[i], topn)[:topn]
            best = best[np.argsort(-sims[i][best], kind="stable")]
            out[w] = [self.words[j] for j in best]
        return out

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self._row(a)] @ self.unit[self._row(b)])

    def analogy(self, a: str, b: str, c: str, topn: int = 1, method: str = "3cosadd",
                restrict_vocab: Optional[int] = None) -> List[Tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ... ?

        ``3cosadd`` ranks by ``cos(x, b) - cos(x, a) + cos(x, c)``; ``3cosmul``
        (Levy & Goldberg, 2014) by ``cos'(x, b) * cos'(x, c) / (cos'(x, a) + 1e-3)``
        with ``cos' = (cos + 1) / 2``. The three question words are excluded.
        """
        rows = [self._row(w) for w in (a, b, c)]
        unit = self.unit if restrict_vocab is None else self.unit[:restrict_vocab]
        sa, sb, sc = (unit @ self.unit[r] for r in rows)
        if method == "3cosadd":
            scores = sb - sa + sc
        elif method == "3cosmul":
            sa, sb, sc = ((s + 1) / 2 for s in (sa, sb, sc))
            scores = sb * sc / (sa + 1e-3)
        else:
            raise ArgumentError(f"method must be '3cosadd' or '3cosmul', got {method!r}")
        return self._top(scores, rows, topn)

    # -- gensim, in memory ------------------------------------------------------------

    def to_gensim(self):
        """These vectors as a gensim ``KeyedVectors`` (with the counts, if known); needs gensim."""
        KeyedVectors = _gensim_keyed_vectors("to_gensim")
        kv = KeyedVectors(vector_size=self.dim, dtype=np.float32)
        kv.add_vectors(self.words, self.vectors)
        if self.counts is not None:
            kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
            kv.expandos["count"][:] = self.counts
        return kv

    @classmethod
    def from_gensim(cls, kv) -> "Vectors":
        """:class:`Vectors` of a gensim ``KeyedVectors`` (a copy; its counts, if it has them)."""
        KeyedVectors = _gensim_keyed_vectors("from_gensim")
        if not isinstance(kv, KeyedVectors):
            raise ArgumentTypeError(f"from_gensim takes a gensim KeyedVectors, got {type(kv).__module__}."
                                    f"{type(kv).__qualname__}")
        words = list(kv.index_to_key)
        if not all(isinstance(w, str) for w in words):
            raise ArgumentError("from_gensim: every key must be a str (word2vec vectors are keyed by words)")
        counts = kv.expandos.get("count") if hasattr(kv, "expandos") else None
        return cls(words, np.array(kv.vectors, dtype=np.float32), None if counts is None else np.array(counts))

    # -- files ------------------------------------------------------------------------

    def save(self, path, binary: Optional[bool] = None) -> None:
        """Write word2vec format, atomically: binary if ``binary`` or the path ends in
        ``.bin``, else text. Text: header ``V dim``, then ``word v1 ... vdim`` per line.
        Binary: the same header, then ``word``, a space and ``dim`` little-endian
        float32 per row, each row ended by a newline (as word2vec.c writes)."""
        binary = str(path).endswith(".bin") if binary is None else binary
        for w in self.words:
            if any(ch.isspace() for ch in w):
                raise ArgumentError(f"word {w!r} contains whitespace; word2vec files cannot hold it")
        V, dim = self.vectors.shape
        vecs = np.ascontiguousarray(self.vectors, dtype="<f4")
        with atomic_open(path, "wb") as fh:
            fh.write(f"{V} {dim}\n".encode())
            if binary:
                for w, row in zip(self.words, vecs):
                    fh.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                fmt = " ".join(["%.9g"] * dim)  # 9 significant digits round-trip float32 exactly
                for w, row in zip(self.words, vecs.tolist()):
                    fh.write((w + " " + fmt % tuple(row) + "\n").encode("utf-8"))

    def save_projector(self, directory, limit: int = 10_000) -> Path:
        """Write TensorBoard embedding-projector files for the first ``limit`` words, atomically.

        ``vectors.tsv`` (one tab-separated vector per line), ``metadata.tsv`` (one word
        per line) and ``projector_config.pbtxt`` naming both; returns the directory.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        n = min(limit, len(self))
        with atomic_open(d / "vectors.tsv", "wb") as fh:
            np.savetxt(fh, self.vectors[:n], delimiter="\t", fmt="%.6g")
        with atomic_open(d / "metadata.tsv", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(w + "\n" for w in self.words[:n]))
        with atomic_open(d / "projector_config.pbtxt", "w") as fh:
            fh.write('embeddings {\n  tensor_path: "vectors.tsv"\n  metadata_path: "metadata.tsv"\n}\n')
        return d

    @classmethod
    def load(cls, path, binary: Optional[bool] = None) -> "Vectors":
        """Read word2vec text or binary format (by ``binary``, else by sniffing).

        Raises :class:`VectorsFormatError` naming the line or row for a truncated or
        malformed file, a header that disagrees with the rows, or a wrong dimension.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"vectors file not found: {path}")
        with open(path, "rb") as fh:
            header = fh.readline()
            V, dim = _parse_header(header, path)
            if binary is None:
                binary = _looks_binary(fh, dim)
            reader = _read_binary if binary else _read_text
            words, vectors = reader(fh, V, dim, path)
        try:
            return cls(words, vectors)
        except ValueError as exc:
            raise VectorsFormatError(f"{path}: {exc}") from None


def _parse_header(header: bytes, path) -> Tuple[int, int]:
    parts = header.split()
    if len(parts) != 2:
        raise VectorsFormatError(f"{path}:1: header must be 'V dim', got {header[:60]!r}")
    try:
        V, dim = int(parts[0]), int(parts[1])
    except ValueError:
        raise VectorsFormatError(f"{path}:1: header must be two integers 'V dim', got {header[:60]!r}") from None
    if V < 0 or dim < 1:
        raise VectorsFormatError(f"{path}:1: header gives V={V}, dim={dim}; need V >= 0 and dim >= 1")
    return V, dim


def _looks_binary(fh, dim: int) -> bool:
    pos = fh.tell()
    sample = fh.read(min(4096, 64 + 4 * dim))
    fh.seek(pos)
    if not sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a text file cut mid-character can still end in a partial sequence
        return exc.start < len(sample) - 4
    return any(b < 9 for b in sample)


def _read_text(fh, V: int, dim: int, path):
    words: List[str] = []
    vectors = np.empty((V, dim), dtype=np.float32)
    row = 0
    for lineno, raw in enumerate(fh, 2):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            continue
        if row >= V:
            raise VectorsFormatError(f"{path}:{lineno}: more rows than the header's V={V}")
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise VectorsFormatError(
                f"{path}:{lineno}: expected a word and {dim} numbers, got {len(parts) - 1} numbers"
            )
        try:
            vectors[row] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise VectorsFormatError(f"{path}:{lineno}: not a number in the vector of {parts[0][:40]!r}") from None
        words.append(parts[0])
        row += 1
    if row != V:
        raise VectorsFormatError(f"{path}: the header promises {V} rows but the file ends after {row}")
    return words, vectors


def _read_binary(fh, V: int, dim: int, path):
    words: List[str] = []
    vectors = np.empty((V, dim), dtype=np.float32)
    nbytes = 4 * dim
    for row in range(V):
        word = bytearray()
        while True:
            ch = fh.read(1)
            if not ch:
                raise VectorsFormatError(
                    f"{path}: truncated at row {row + 1} of {V} (the header promises {V} rows)"
                )
            if ch == b" ":
                break
            if ch == b"\n" and not word:
                continue  # the newline after the previous vector
            word += ch
            if len(word) > 10000:
                raise VectorsFormatError(f"{path}: row {row + 1}: no space after the word; not word2vec binary?")
        data = fh.read(nbytes)
        if len(data) != nbytes:
            raise VectorsFormatError(
                f"{path}: row {row + 1} ({bytes(word)[:40].decode('utf-8', 'replace')!r}) is truncated: "
                f"{len(data)} of {nbytes} bytes for dim {dim}"
            )
        vectors[row] = np.frombuffer(data, dtype="<f4")
        words.append(word.decode("utf-8", "replace"))
    rest = fh.read(2)
    if rest not in (b"", b"\n"):
        raise VectorsFormatError(
            f"{path}: data left after the {V} rows the header promises (wrong V or wrong dim?)"
        )
    return words, vectors
