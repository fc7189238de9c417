"""Command line: ``python -m fastw2v.query VECTORS [QUERY ...]``: neighbours and analogies.

``king`` gives its nearest neighbours; ``king - man + woman`` an analogy (3CosAdd: the
sum of the words' unit vectors, signed, with the query's words left out of the answer).
With no query it prompts for one query per line, as word2vec.c's ``distance`` does,
until ``EXIT`` or end of input. It reads word2vec text and binary files, as fastw2v,
gensim and word2vec.c write them.

:func:`parse_query` turns a query into signed words and :func:`answer` answers it; a
bad query raises :class:`~fastw2v.errors.UsageError`, which the prompt reports and
survives, and the one-shot command turns into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Tuple

import numpy as np

from .cli import HelpFormatter
from .errors import Fastw2vError, UsageError
from .vectors import Vectors

PROMPT = "Enter a word, or an expression like 'king - man + woman' (EXIT to quit): "


def parse_query(text: str) -> Tuple[List[str], List[str]]:
    """``(positive, negative)`` words of a query: words joined by standalone ``+`` and ``-``.

    Words without an operator between them all count as positive (``paris berlin``).
    A ``-`` inside a word (``e-mail``) is part of the word.
    """
    tokens = text.split()
    if not tokens:
        raise UsageError("the query is empty: give a word, or an expression like 'king - man + woman'")
    positive: List[str] = []
    negative: List[str] = []
    sign = None
    for tok in tokens:
        if tok in ("+", "-"):
            if sign is not None:
                raise UsageError(f"two operators in a row in {text!r}")
            sign = tok
            continue
        (negative if sign == "-" else positive).append(tok)
        sign = None
    if sign is not None:
        raise UsageError(f"{text!r} ends with an operator: it must end with a word")
    if not positive:
        raise UsageError(f"{text!r} has no positive word")
    return positive, negative


def answer(vectors: Vectors, positive: List[str], negative: List[str], topn: int = 10) -> List[Tuple[str, float]]:
    """The ``topn`` words nearest to the signed sum of the words' unit vectors, the query's words left out."""
    unknown = [w for w in positive + negative if w not in vectors]
    if unknown:
        raise UsageError(f"not in the vocabulary: {', '.join(unknown)}")
    if len(positive) == 1 and not negative:
        return vectors.most_similar(positive[0], topn=topn)
    unit = vectors.unit
    target = np.sum([unit[vectors.index[w]] for w in positive], axis=0)
    if negative:
        target = target - np.sum([unit[vectors.index[w]] for w in negative], axis=0)
    return vectors.most_similar(target, topn=topn, exclude=positive + negative)


def _describe(positive: List[str], negative: List[str]) -> str:
    return " + ".join(positive) + "".join(f" - {w}" for w in negative)


def _print(query: str, positive, negative, results, as_json: bool, out) -> None:
    if as_json:
        out.write(json.dumps({"query": query, "positive": positive, "negative": negative,
                              "results": [{"word": w, "similarity": s} for w, s in results]}) + "\n")
        return
    out.write(f"Nearest to {_describe(positive, negative)}:\n")
    width = max((len(w) for w, _ in results), default=0)
    for w, s in results:
        out.write(f"  {w:<{width}}  {s:.4f}\n")
    out.flush()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m fastw2v.query",
        description="Nearest neighbours and analogies from word vectors (word2vec text or binary files).",
        epilog="Examples: python -m fastw2v.query vectors.bin king   |   python -m fastw2v.query vectors.bin "
               "king - man + woman   |   python -m fastw2v.query vectors.bin   (interactive)",
        formatter_class=HelpFormatter,
    )
    ap.add_argument("vectors", help="a word2vec text or binary file (fastw2v's, gensim's or word2vec.c's)")
    ap.add_argument("query", nargs="*", help="a word, or words joined by + and - (spaces around them); none: prompt")
    ap.add_argument("--topn", type=int, default=10, help="number of results")
    ap.add_argument("--json", action="store_true", help="print one JSON object per query")
    return ap


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.topn < 1:
        parser.exit(2, f"{parser.prog}: error: --topn must be >= 1, got {args.topn}\n")
    try:
        vectors = Vectors.load(args.vectors)
        if args.query:
            text = " ".join(args.query)
            positive, negative = parse_query(text)
            _print(text, positive, negative, answer(vectors, positive, negative, args.topn), args.json, sys.stdout)
            return 0
    except Fastw2vError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stderr.write(PROMPT)
            sys.stderr.flush()
        line = sys.stdin.readline()
        text = line.strip()
        if not line or text == "EXIT":
            return 0
        if not text:
            continue
        try:
            positive, negative = parse_query(text)
            _print(text, positive, negative, answer(vectors, positive, negative, args.topn), args.json, sys.stdout)
        except UsageError as exc:
            sys.stderr.write(f"error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
