"""Command line: ``python -m fastw2v.plot VECTORS --words king,france --output map.png``.

Draws a labelled 2-D map of the given words and their nearest neighbours, as
TensorFlow's word2vec tutorial ends with. :func:`map_points` picks the words,
:func:`project_2d` lays them out (t-SNE from scikit-learn, the ``plot`` extra, or PCA
when it is absent), and :func:`draw_map` writes the PNG with matplotlib, atomically.
``--tensorboard DIR`` writes embedding-projector files (:meth:`Vectors.save_projector`),
whichever backend trained the vectors.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .atomic import atomic_path
from .cli import HelpFormatter
from .errors import Fastw2vError, UsageError
from .vectors import Vectors

METHODS = ("auto", "tsne", "pca")
PLOT_EXTRA = "pip install 'fastw2v[plot]'"


def map_points(vectors: Vectors, words: Sequence[str], neighbours: int) -> Tuple[List[str], List[int]]:
    """The words to draw and, for each, the index of the query word it belongs to.

    Each query word comes first, then its ``neighbours`` nearest neighbours; a word
    near several query words is drawn once, with the first.
    """
    unknown = [w for w in words if w not in vectors]
    if unknown:
        raise UsageError(f"not in the vocabulary: {', '.join(unknown)}")
    points: List[str] = []
    group: List[int] = []
    seen = set()
    near = vectors.most_similar_batch(list(words), topn=neighbours) if neighbours else {w: [] for w in words}
    for g, w in enumerate(words):
        for p in [w, *near[w]]:
            if p not in seen:
                seen.add(p)
                points.append(p)
                group.append(g)
    return points, group


def project_2d(X: np.ndarray, method: str = "auto", seed: int = 0) -> Tuple[np.ndarray, str]:
    """``(coords float64[n, 2], method used)``: t-SNE on cosine distance, or PCA.

    ``auto`` uses t-SNE when scikit-learn is installed and there are at least 5 points.
    """
    X = np.asarray(X, dtype=np.float64)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    use_tsne = method == "tsne" or (method == "auto" and X.shape[0] >= 5 and _has_sklearn())
    if use_tsne:
        if not _has_sklearn():
            raise UsageError(f"--method tsne needs scikit-learn: {PLOT_EXTRA}, or use --method pca")
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (X.shape[0] - 1) / 3)))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                      metric="cosine").fit_transform(X)
        return coords, "t-SNE"
    centred = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, "PCA"


def _has_sklearn() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("sklearn") is not None
    except ValueError:  # sys.modules["sklearn"] is None: blocked
        return False


def draw_map(path, points: Sequence[str], group: Sequence[int], coords: np.ndarray, queries: Sequence[str],
             title: str) -> None:
    """A labelled scatter plot of ``coords``, one colour per query word, written as PNG atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(f"drawing the map needs matplotlib: {PLOT_EXTRA}") from None
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    colours = plt.get_cmap("tab10")
    for g, query in enumerate(queries):
        idx = [i for i, gi in enumerate(group) if gi == g]
        ax.scatter(coords[idx, 0], coords[idx, 1], s=18, color=colours(g % 10), label=query)
    for i, word in enumerate(points):
        is_query = word in queries
        ax.annotate(word, coords[i], fontsize=10 if is_query else 8, fontweight="bold" if is_query else "normal",
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m fastw2v.plot",
        description="Draw a labelled 2-D map of some words and their nearest neighbours (t-SNE, or PCA without "
                    "scikit-learn), and/or write TensorBoard embedding-projector files.",
        epilog="Example: python -m fastw2v.plot vectors.bin --words king,france,eight,computer --output map.png",
        formatter_class=HelpFormatter,
    )
    ap.add_argument("vectors", help="a word2vec text or binary file (fastw2v's, gensim's or word2vec.c's)")
    ap.add_argument("--words", default="", help="comma list of words to map, each with its nearest neighbours")
    ap.add_argument("--neighbours", type=int, default=8, help="nearest neighbours drawn with each word")
    ap.add_argument("--output", default=None, help="PNG file to write")
    ap.add_argument("--method", choices=METHODS, default="auto", help="2-D layout: t-SNE (needs the plot extra), "
                    "PCA, or auto (t-SNE when scikit-learn is installed)")
    ap.add_argument("--seed", type=int, default=0, help="t-SNE's random seed")
    ap.add_argument("--tensorboard", default=None, metavar="DIR",
                    help="also write embedding-projector files (vectors.tsv, metadata.tsv) here")
    ap.add_argument("--projector-words", type=int, default=10_000, help="most frequent words written for the projector")
    return ap


def run(args) -> Dict[str, object]:
    """Do what the parsed flags ask; returns what was written."""
    if not args.output and not args.tensorboard:
        raise UsageError("nothing to do: give --output map.png, --tensorboard DIR, or both")
    if args.neighbours < 0:
        raise UsageError(f"--neighbours must be >= 0, got {args.neighbours}")
    words = [w for w in args.words.split(",") if w]
    if args.output and not words:
        raise UsageError("--words is empty: give a comma list of words to map, e.g. --words king,france")
    vectors = Vectors.load(args.vectors)
    done: Dict[str, object] = {}
    if args.output:
        points, group = map_points(vectors, words, args.neighbours)
        coords, method = project_2d(vectors.vectors[[vectors.index[p] for p in points]], args.method, args.seed)
        draw_map(args.output, points, group, coords, words, f"{method} map of {len(points)} words")
        done.update(output=args.output, method=method, points=len(points))
    if args.tensorboard:
        done["tensorboard"] = str(vectors.save_projector(args.tensorboard, limit=args.projector_words))
    return done


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        done = run(args)
    except Fastw2vError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if "output" in done:
        print(f"wrote {done['output']} ({done['method']}, {done['points']} words)", file=sys.stderr)
    if "tensorboard" in done:
        print(f"wrote embedding-projector files in {done['tensorboard']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
