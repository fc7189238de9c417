"""Intrinsic evaluation: word analogies and word-pair similarity.

The protocol follows gensim's ``evaluate_word_analogies`` and
``evaluate_word_pairs``:

* Analogies (``questions-words.txt`` format: ``: section`` lines, then
  ``a b c d`` per line): 3CosAdd over unit vectors, searching only the
  ``restrict_vocab`` most frequent words (30,000 by default), excluding the
  three question words; a question with a word outside those words is skipped.
  Words are matched case-insensitively.
* Word pairs (``w1 w2 score`` per line, tab- or space-separated, ``#``
  comments): Spearman correlation between cosine similarity and the human
  score; pairs with an unknown word are skipped and the coverage is reported.

Command line::

    python -m fastw2v.evaluate VECTORS --analogies FILE --pairs FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .cli import HelpFormatter
from .constants import ANALOGY_RESTRICT_VOCAB
from .errors import FileFormatError, MissingFileError
from .vectors import Vectors


def _case_index(vectors: Vectors, restrict_vocab: Optional[int]) -> Dict[str, int]:
    """``{WORD: row}`` over the searched words, upper-cased as gensim does; the most frequent spelling wins."""
    words = vectors.words if restrict_vocab is None else vectors.words[:restrict_vocab]
    index: Dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w.upper(), i)
    return index


def _data_lines(path):
    """``(lineno, stripped line)`` for each line that is neither blank nor a ``#`` comment."""
    if not Path(path).is_file():
        raise MissingFileError(f"evaluation file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield lineno, line


def read_analogies(path) -> List[tuple]:
    """``[(section, a, b, c, d), ...]``; errors name the line."""
    section = None
    out = []
    for lineno, line in _data_lines(path):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) != 4:
            raise FileFormatError(f"{path}:{lineno}: an analogy needs 4 words, got {len(parts)}")
        if section is None:
            raise FileFormatError(f"{path}:{lineno}: question before the first ': section' line")
        out.append((section, *parts))
    return out


def evaluate_analogies(vectors: Vectors, path, restrict_vocab: Optional[int] = ANALOGY_RESTRICT_VOCAB,
                       batch: int = 2048) -> dict:
    """Analogy accuracy, overall and per section.

    Returns
    -------
    dict with ``accuracy``, ``correct``, ``total`` (questions answered),
    ``skipped`` (questions with a word outside the searched vocabulary) and
    ``sections``: a list of ``{"section", "correct", "total", "accuracy"}``.
    """
    questions = read_analogies(path)
    index = _case_index(vectors, restrict_vocab)
    unit = vectors.unit if restrict_vocab is None else vectors.unit[:restrict_vocab]
    sections: Dict[str, List[int]] = {}
    rows = []
    owners = []
    for sec, a, b, c, d in questions:
        sections.setdefault(sec, [0, 0])
        ids = [index.get(w.upper()) for w in (a, b, c, d)]
        if any(i is None for i in ids):
            continue
        rows.append(ids)
        owners.append(sec)
    rows_arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    correct = np.zeros(len(rows), dtype=bool)
    spellings = _spellings(vectors, index, unit.shape[0])
    exact = _GensimOrder(vectors, unit.shape[0], spellings)
    for lo in range(0, len(rows), batch):
        q = rows_arr[lo : lo + batch]
        target = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]
        scores = target @ unit.T
        r = np.arange(q.shape[0])
        for col in range(3):
            scores[r, q[:, col]] = -np.inf
            for i in np.flatnonzero(np.isin(q[:, col], list(spellings))):
                scores[i, spellings[q[i, col]]] = -np.inf  # other spellings of a, b and c
        top2 = -np.partition(-scores, 1, axis=1)[:, :2]
        answers = np.argmax(scores, axis=1)
        # where the best two are (nearly) tied, the order decides: take gensim's
        for i in np.flatnonzero(top2[:, 0] - top2[:, 1] <= _TIE * np.maximum(1.0, np.abs(top2[:, 0]))):
            answers[i] = exact.answer(*q[i, :3])
        correct[lo : lo + batch] = answers == q[:, 3]
    for sec, ok in zip(owners, correct):
        sections[sec][0] += int(ok)
        sections[sec][1] += 1
    total = int(len(rows))
    n_correct = int(correct.sum())
    return {
        "accuracy": n_correct / total if total else 0.0,
        "correct": n_correct,
        "total": total,
        "skipped": len(questions) - total,
        "restrict_vocab": restrict_vocab,
        "sections": [
            {"section": s, "correct": c, "total": t, "accuracy": c / t if t else 0.0} for s, (c, t) in sections.items()
        ],
    }


#: best two analogy scores closer than this (relative) count as a tie
_TIE = 1e-4


def _spellings(vectors: Vectors, index: Dict[str, int], n_rows: int) -> Dict[int, List[int]]:
    """``{row: [rows of its other spellings]}`` among the first ``n_rows`` (searched) words."""
    out: Dict[int, List[int]] = {}
    for i, w in enumerate(vectors.words[:n_rows]):
        row = index[w.upper()]
        if row != i:
            out.setdefault(row, []).append(i)
    return out


class _GensimOrder:
    """The answer gensim's ``evaluate_word_analogies`` gives, computed its way, for tied questions.

    Its arithmetic (a mean of the three unit vectors, normalised in float64, cosines over
    the searched rows) and its candidate order (``argpartition`` of the best 8, then
    ``argsort``) decide exact ties the same way; the inputs' own spellings are skipped.
    """

    def __init__(self, vectors: Vectors, n_rows: int, spellings: Dict[int, List[int]]) -> None:
        self.vectors = vectors.vectors
        self.norms = np.linalg.norm(self.vectors, axis=1)
        self.n_rows = n_rows
        self.spellings = spellings

    def answer(self, a: int, b: int, c: int) -> int:
        mean = np.zeros(self.vectors.shape[1], dtype=self.vectors.dtype)
        for weight, row in ((1.0, b), (1.0, c), (-1.0, a)):
            mean += np.float64(weight) * (self.vectors[row] / self.norms[row])
        mean = mean / np.float64(3.0)
        length = np.sqrt(np.dot(mean, mean))
        if length > 0:
            mean = mean * (1.0 / length)
        mean = mean.astype(np.float32)
        dists = np.dot(self.vectors[: self.n_rows], mean) / self.norms[: self.n_rows]
        x = -dists
        n = 8  # 5 answers + the 3 inputs
        best = np.argsort(x)[:n] if n >= x.size else np.argpartition(x, n)[:n]
        best = best.take(np.argsort(x.take(best)))
        inputs = {a, b, c}
        skip = inputs.union(*(self.spellings.get(i, ()) for i in inputs))
        candidates = [int(i) for i in best if i not in inputs][:5]
        for i in candidates:
            if i not in skip:
                return i
        return candidates[-1] if candidates else -1


def read_word_pairs(path) -> List[tuple]:
    """``[(w1, w2, score), ...]``; ``#`` lines are comments; errors name the line.

    A first data line whose score is not a number is a header (``Word 1<TAB>Word 2<TAB>Human
    (mean)``, as WordSim-353's own files start) and is skipped; anywhere else it is an error.
    """
    out = []
    first = True
    for lineno, line in _data_lines(path):
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3:
            raise FileFormatError(f"{path}:{lineno}: expected 'word1 word2 score', got {line[:60]!r}")
        try:
            score = float(parts[2])
        except ValueError:
            if first:
                first = False
                continue
            raise FileFormatError(f"{path}:{lineno}: score {parts[2]!r} is not a number") from None
        first = False
        out.append((parts[0].strip(), parts[1].strip(), score))
    return out


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    n = len(x)
    while i < n:
        j = i
        while j + 1 < n and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a, b) -> float:
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom else float("nan")


def evaluate_word_pairs(vectors: Vectors, path, restrict_vocab: Optional[int] = None) -> dict:
    """Spearman correlation of cosine similarity with human scores.

    Returns
    -------
    dict with ``spearman``, ``pairs`` (in the file), ``covered``, ``coverage``.
    """
    pairs = read_word_pairs(path)
    index = _case_index(vectors, restrict_vocab)
    sims, gold = [], []
    for w1, w2, score in pairs:
        i, j = index.get(w1.upper()), index.get(w2.upper())
        if i is None or j is None:
            continue
        sims.append(float(vectors.unit[i] @ vectors.unit[j]))
        gold.append(score)
    covered = len(sims)
    return {
        "spearman": spearman(sims, gold) if covered > 1 else float("nan"),
        "pairs": len(pairs),
        "covered": covered,
        "coverage": covered / len(pairs) if pairs else 0.0,
    }


def format_table(results: dict) -> str:
    lines = []
    if "analogies" in results:
        r = results["analogies"]
        lines.append(f"Analogies ({r['file']}), top {r['restrict_vocab']} words, 3CosAdd")
        lines.append(f"  {'section':34s} {'correct':>8s} {'total':>7s} {'accuracy':>9s}")
        for s in r["sections"]:
            lines.append(f"  {s['section']:34s} {s['correct']:8d} {s['total']:7d} {100 * s['accuracy']:8.1f}%")
        lines.append(f"  {'TOTAL':34s} {r['correct']:8d} {r['total']:7d} {100 * r['accuracy']:8.1f}%"
                     f"   ({r['skipped']} skipped: out of vocabulary)")
    for r in results.get("pairs", []):
        lines.append(f"Word pairs ({r['file']}): Spearman {r['spearman']:.4f}, "
                     f"coverage {r['covered']}/{r['pairs']} ({100 * r['coverage']:.1f}%)")
    return "\n".join(lines)


def evaluate(vectors: Vectors, analogies=None, pairs: Sequence = (), restrict_vocab=ANALOGY_RESTRICT_VOCAB) -> dict:
    out: dict = {}
    if analogies:
        out["analogies"] = dict(evaluate_analogies(vectors, analogies, restrict_vocab), file=str(analogies))
    if pairs:
        out["pairs"] = [dict(evaluate_word_pairs(vectors, p), file=str(p)) for p in pairs]
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m fastw2v.evaluate", formatter_class=HelpFormatter,
                 description="Evaluate word2vec-format vectors on analogy and word-pair files.")
    ap.add_argument("vectors", help="word2vec text or binary file (binary if it ends in .bin)")
    ap.add_argument("--analogies", metavar="FILE", help="questions-words.txt-format analogy file")
    ap.add_argument("--pairs", metavar="FILE", nargs="+", default=[], help="word-pair files: 'w1 w2 score' lines")
    ap.add_argument("--restrict-vocab", type=int, default=ANALOGY_RESTRICT_VOCAB,
                    help="analogies search the N most frequent words (default %(default)s)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not args.analogies and not args.pairs:
        ap.error("give --analogies FILE and/or --pairs FILE ...")
    for f in [args.vectors, args.analogies, *args.pairs]:
        if f and not Path(f).is_file():
            ap.error(f"file not found: {f}")
    if args.restrict_vocab < 1:
        ap.error("--restrict-vocab must be >= 1")
    try:
        vectors = Vectors.load(args.vectors, binary=True if args.vectors.endswith(".bin") else None)
        results = evaluate(vectors, args.analogies, args.pairs, args.restrict_vocab)
    except (ValueError, OSError) as exc:
        ap.error(str(exc))
    print(json.dumps(results, indent=1) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
