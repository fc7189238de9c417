"""Reading a text corpus: the one read of ``load_corpus`` against the two passes it replaced.

    python benchmarks/bench_prep.py [--corpus PATH] [--repeats 5]

Every uncached run (``--no-cache``, the frontier's, or the first run on a file) builds
the vocabulary and encodes the text before it trains. ``load_corpus`` now does both in
one read (:func:`fastw2v.corpus_cache.read_once`); the two passes (``count_words``, then
``encode``) are what it still does with ``--prune-at``, so both run from this tree. The
corpus is unpacked to plain text first, as the frontier does, and each repeat times both
in alternating order, in this process; the two must give the same vocabulary, ids and
sentence offsets. Writes benchmarks/results/prep.{json,md,png}.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import bar_chart, default_corpus, plain_text, write_results

from fastw2v.corpus import ReadStats
from fastw2v.corpus_cache import encode, load_corpus
from fastw2v.vocab import Vocab, count_words


def two_passes(path):
    counter = count_words(path, ReadStats())
    vocab = Vocab.from_counts(counter, min_count=5)
    return vocab, encode(path, vocab)


def one_read(path):
    return load_corpus(path, min_count=5, use_cache=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="text corpus (default ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    source = Path(args.corpus) if args.corpus else default_corpus()
    ways = {"two passes (count, then encode)": two_passes, "one read (read_once)": one_read}
    times = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="fastw2v-prep-") as work:
        text = plain_text(source, Path(work))
        outputs = {}
        for r in range(args.repeats):
            for name in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
                t0 = time.perf_counter()
                vocab, corpus = ways[name](str(text))
                times[name].append(time.perf_counter() - t0)
                outputs[name] = (vocab.words, corpus.ids, corpus.sentence_starts)
        a, b = outputs.values()
        same = a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
        if not same:
            raise SystemExit("the one read and the two passes gave different corpora")
        words, sentences = int(corpus.raw_words), int(corpus.n_sentences)
    med = {name: statistics.median(t) for name, t in times.items()}
    old, new = med.values()
    results = {"corpus": str(source), "raw_words": words, "sentences": sentences, "repeats": args.repeats,
               "seconds": times, "median_seconds": med, "ratio_one_to_two": new / old, "identical": same}
    md = [f"Building the vocabulary and encoding {words:,} words of plain text ({source.name}, "
          f"{sentences:,} sentences), median of {args.repeats} alternating repeats in one process:", "",
          "| way | median s | repeats, s |", "|---|---:|---|"]
    for name, t in times.items():
        md.append(f"| {name} | {med[name]:.2f} | {', '.join(f'{x:.2f}' for x in t)} |")
    md += ["", f"One read / two passes: **{new / old:.2f}x** the time; the vocabulary, ids and sentence offsets "
               "are identical."]
    write_results("prep", results, "\n".join(md))
    bar_chart("prep", list(times), [old, new], "seconds (median)", f"vocabulary + encoding, {words / 1e6:.1f}M words",
              log=False, annotate=[f"{old:.2f} s", f"{new:.2f} s"])


if __name__ == "__main__":
    main()
