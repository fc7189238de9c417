"""Shared test helpers: a generated corpus with planted structure."""

import os
from pathlib import Path

import numpy as np


def planted_corpus(seed, groups=6, per_group=8, sentences=1500, length=12):
    """Sentences drawn from one group each: words of a group share all their contexts.

    Returns (corpus: list of token lists, words: list of str).
    """
    rng = np.random.default_rng(seed)
    words = [f"g{g}w{i}" for g in range(groups) for i in range(per_group)]
    corpus = []
    for _ in range(sentences):
        g = rng.integers(groups)
        corpus.append([words[g * per_group + i] for i in rng.integers(per_group, size=length)])
    return corpus, words


def group_purity(vectors, words, topn=5):
    """Mean fraction of each word's topn neighbours that are in its own group."""
    near = vectors.most_similar_batch(words, topn=topn)
    return float(np.mean([sum(n.split("w")[0] == w.split("w")[0] for n in near[w]) / topn for w in words]))


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def wiki8_path():
    """The real corpus for opt-in tests: $FASTW2V_WIKI8, or ../shared/data/wiki8.txt.xz, or None."""
    env = os.environ.get("FASTW2V_WIKI8")
    if env:
        return Path(env)
    p = SHARED / "wiki8.txt.xz"
    return p if p.exists() else None

