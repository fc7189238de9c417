"""Preparation and scale: reading a corpus, then wiki8 (17M words) against wiki70m (70M words).

    python benchmarks/bench_scale.py [--small PATH] [--large PATH] [--prep-repeats 5] [--keras-steps N] [--quick]

Preparation, in this process, on ``--small``: the one read of ``load_corpus`` (vocabulary
and encoding together, :func:`fastw2v.corpus_cache.read_once`) against the two passes it
replaced (``count_words``, then ``encode``; what ``--prune-at`` still does), both from this
tree. The corpus is unpacked to plain text first, as the frontier does, and each of
``--prep-repeats`` repeats times both in alternating order; the two must give the same
vocabulary, ids and sentence offsets. Writes benchmarks/results/prep.{json,md,png}.

Scale: each measurement runs in its own process, which reports its own peak RSS
(``VmHWM`` from ``/proc/self/status``: the peak resident set size of that process):

* vocabulary + encoding from the compressed text into a cold cache (wall time);
* Hogwild end to end (``python -m fastw2v.train --backend hogwild``, cold cache,
  1 epoch, dim 100, min_count 5): peak RSS and training words/s;
* Keras sgns: the first ``--keras-steps`` steps of an epoch from the warm cache
  (a full wiki70m epoch takes too long here): peak RSS, and words/s over the steps
  after the first ``--keras-warmup`` (XLA compile and pipeline fill are left out);
* Hogwild speed ratio: ``--speed-repeats`` back-to-back pairs of runs from the warm
  caches, each 1 epoch over the first N words of its corpus (N = wiki8's size, so
  both do the same work with their own vocabulary and matrices; wiki8 is wiki70m's
  first 10^8 bytes, so the text is the same too), in alternating order; the median of
  the per-pair ratios is the figure, because this shared machine drifts over minutes;
* the same ratio with both corpora loaded in one process, runs alternating;
* Keras speed ratio: ``--keras-repeats`` back-to-back pairs of Keras runs, in
  alternating order; the median ratio.

Writes benchmarks/results/scale.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from _common import ROOT, SHARED_DATA, bar_chart, plain_text, write_results

# VmHWM (peak resident set of this address space), not ru_maxrss: Linux carries
# ru_maxrss across exec, so a child would report its forking parent's peak.
_PEAK = """
def peak_rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
"""

PREP = _PEAK + textwrap.dedent("""
    import json, resource, sys, time
    from fastw2v import load_corpus
    t0 = time.perf_counter()
    vocab, corpus = load_corpus(sys.argv[1], min_count=5, cache_dir=sys.argv[2])
    print(json.dumps({"seconds": time.perf_counter() - t0, "raw_words": corpus.raw_words, "vocab_size": len(vocab),
                      "maxrss_mib": peak_rss_mib()}))
""")

HOGWILD = _PEAK + textwrap.dedent("""
    import json, resource, sys
    from fastw2v.train import main
    rc = main(["--corpus", sys.argv[1], "--cache-dir", sys.argv[2], "--backend", "hogwild", "--epochs", "1",
               "--threads", "2", "--report", sys.argv[3], "--quiet", "--validate", ""])
    r = json.load(open(sys.argv[3]))
    print(json.dumps({"rc": rc, "words_per_sec": r["words_per_sec"], "prep_seconds": r["prep_seconds"],
                      "train_seconds": r["train_seconds"],
                      "maxrss_mib": peak_rss_mib()}))
""")

# Training speed alone, from a warm cache: 1 epoch over the first N corpus words
# (N = the small corpus's size, so both sides do the same amount of work), with the
# corpus's own vocabulary and weight matrices. Words/s is in raw words, as the CLI reports.
HOGWILD_SPEED = textwrap.dedent("""
    import json, sys
    from fastw2v import Word2Vec, Word2VecConfig, load_corpus
    vocab, corpus = load_corpus(sys.argv[1], min_count=5, cache_dir=sys.argv[2])
    raw_per_encoded = corpus.raw_words / corpus.n_words
    head = corpus.head(int(sys.argv[3]))
    model = Word2Vec(Word2VecConfig(epochs=1, threads=2, seed=1)).fit(head, vocab=vocab)
    st = model.state
    print(json.dumps({"words_per_sec": st.words_done * raw_per_encoded / st.seconds, "words": st.words_done,
                      "seconds": st.seconds}))
""")

# The same comparison inside one process: both corpora loaded, the two runs alternating.
# Separate processes measured wiki70m about 1.1x faster than wiki8 (in every repeat and
# both orders) while a driver holding both in one process measured 1.00x, so where the
# process's memory lands matters; this figure shows it.
HOGWILD_SPEED_SHARED = textwrap.dedent("""
    import json, sys
    from fastw2v import Word2Vec, Word2VecConfig, load_corpus
    n_words, repeats = int(sys.argv[5]), int(sys.argv[6])
    runs = {}
    for name, path, cache in (("small", sys.argv[1], sys.argv[2]), ("large", sys.argv[3], sys.argv[4])):
        vocab, corpus = load_corpus(path, min_count=5, cache_dir=cache)
        runs[name] = (vocab, corpus.head(n_words), corpus.raw_words / corpus.n_words)
    out = []
    for i in range(repeats):
        speed = {}
        for name in (("small", "large") if i % 2 == 0 else ("large", "small")):
            vocab, head, raw_per_encoded = runs[name]
            st = Word2Vec(Word2VecConfig(epochs=1, threads=2, seed=1)).fit(head, vocab=vocab).state
            speed[name] = st.words_done * raw_per_encoded / st.seconds
        out.append({"small_words_per_sec": speed["small"], "large_words_per_sec": speed["large"],
                    "ratio": speed["large"] / speed["small"]})
    print(json.dumps(out))
""")

KERAS = _PEAK + textwrap.dedent("""
    import json, sys, time
    from fastw2v.heap import keep_freed_heap
    keep_freed_heap()  # as the command line does for a Keras run, before Keras starts
    import keras
    from fastw2v import KerasOptions, Word2VecConfig, load_corpus
    from fastw2v.keras_trainer import KerasTrainer
    vocab, corpus = load_corpus(sys.argv[1], min_count=5, cache_dir=sys.argv[2])
    steps, warmup = int(sys.argv[3]), int(sys.argv[4])

    class Clock(keras.callbacks.Callback):  # a timestamp at the end of every step
        def __init__(self):
            super().__init__()
            self.t = []
        def on_train_batch_end(self, batch, logs=None):
            self.t.append(time.perf_counter())

    cfg = Word2VecConfig(epochs=1, seed=1)
    tr = KerasTrainer(cfg, vocab, KerasOptions()).build(corpus)
    clock = Clock()
    tr.fit(corpus, max_steps=steps, callbacks=[clock])
    # time only the steps after the warm-up (XLA compile, pipeline fill)
    timed = len(clock.t) - warmup
    seconds = clock.t[-1] - clock.t[warmup - 1]
    rows = timed * tr.options.batch_size
    print(json.dumps({"words_per_sec": rows * tr.words_per_row / seconds,
                      "pairs_per_sec": rows * (cfg.negative + 1) / seconds,
                      "timed_steps": timed, "warmup_steps": warmup, "timed_seconds": seconds,
                      "maxrss_mib": peak_rss_mib()}))
""")


def two_passes(path):
    """The vocabulary and the encoded corpus by two reads of the text: count, then encode."""
    from fastw2v.corpus import ReadStats
    from fastw2v.corpus_cache import encode
    from fastw2v.vocab import Vocab, count_words

    vocab = Vocab.from_counts(count_words(path, ReadStats()), min_count=5)
    return vocab, encode(path, vocab)


def one_read(path):
    """The same by ``load_corpus``'s one read, without the cache."""
    from fastw2v.corpus_cache import load_corpus

    return load_corpus(path, min_count=5, use_cache=False)


def run_prep(source: Path, repeats: int, words: int) -> None:
    """One read against two passes on ``source`` as plain text (its first ``words`` words if
    given), ``repeats`` times in alternating order; writes prep.*."""
    ways = {"two passes (count, then encode)": two_passes, "one read (read_once)": one_read}
    times = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="fastw2v-prep-") as work:
        text = plain_text(source, Path(work), words)
        outputs = {}
        for r in range(repeats):
            for name in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
                t0 = time.perf_counter()
                vocab, corpus = ways[name](str(text))
                times[name].append(time.perf_counter() - t0)
                outputs[name] = (vocab.words, corpus.ids, corpus.sentence_starts)
        a, b = outputs.values()
        if not (a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])):
            raise SystemExit("the one read and the two passes gave different corpora")
        n_words, sentences = int(corpus.raw_words), int(corpus.n_sentences)
    med = {name: statistics.median(t) for name, t in times.items()}
    old, new = med.values()
    results = {"corpus": str(source), "raw_words": n_words, "sentences": sentences, "repeats": repeats,
               "seconds": times, "median_seconds": med, "ratio_one_to_two": new / old, "identical": True}
    md = [f"Building the vocabulary and encoding {n_words:,} words of plain text ({source.name}, "
          f"{sentences:,} sentences), median of {repeats} alternating repeats in one process:", "",
          "| way | median s | repeats, s |", "|---|---:|---|"]
    for name, t in times.items():
        md.append(f"| {name} | {med[name]:.2f} | {', '.join(f'{x:.2f}' for x in t)} |")
    md += ["", f"One read / two passes: **{new / old:.2f}x** the time; the vocabulary, ids and sentence offsets "
               "are identical."]
    write_results("prep", results, "\n".join(md))
    bar_chart("prep", list(times), [old, new], "seconds (median)", f"vocabulary + encoding, {n_words / 1e6:.1f}M words",
              log=False, annotate=[f"{old:.2f} s", f"{new:.2f} s"])


def child(code: str, *args) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"measurement failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def alternating_pairs(label: str, repeats: int, words_per_sec) -> list:
    """``repeats`` back-to-back pairs of ``words_per_sec("small")`` and ``("large")``,
    small first in even pairs and large first in odd ones; one record per pair."""
    out = []
    for i in range(repeats):
        order = ("small", "large") if i % 2 == 0 else ("large", "small")
        speed = {name: words_per_sec(name) for name in order}
        out.append({"first": order[0], "small_words_per_sec": speed["small"],
                    "large_words_per_sec": speed["large"], "ratio": speed["large"] / speed["small"]})
        print(label, json.dumps(out[-1]), flush=True)
    return out


def ratios_text(records) -> str:
    return ", ".join(f"{r['ratio']:.2f}" for r in records)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", default=str(SHARED_DATA / "wiki8.txt.xz"))
    ap.add_argument("--large", default=str(SHARED_DATA / "wiki70m.txt.xz"))
    ap.add_argument("--keras-steps", type=int, default=200,
                    help="Keras steps per corpus, at the default 65,536 rows a step (default 200)")
    ap.add_argument("--keras-warmup", type=int, default=20,
                    help="leading Keras steps left out of the timing: XLA compile, pipeline fill (default 20)")
    ap.add_argument("--speed-repeats", type=int, default=5,
                    help="back-to-back Hogwild speed runs per corpus for the speed ratio (default 5)")
    ap.add_argument("--keras-repeats", type=int, default=3,
                    help="back-to-back pairs of Keras runs for the Keras speed ratio (default 3)")
    ap.add_argument("--prep-repeats", type=int, default=5,
                    help="alternating repeats of the one read and the two passes (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="preparation on a 2M-word slice, once; 60 Keras steps, 1 speed repeat, 1 Keras repeat")
    args = ap.parse_args(argv)
    if args.quick:
        args.prep_repeats = 1
        args.keras_steps = 60
        args.speed_repeats = 1
        args.keras_repeats = 1
    if not Path(args.small).exists():
        raise SystemExit(f"corpus not found: {args.small}")
    run_prep(Path(args.small), args.prep_repeats, 2_000_000 if args.quick else 0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {}
        for name, path in (("small", args.small), ("large", args.large)):
            if not Path(path).exists():
                raise SystemExit(f"corpus not found: {path}")
            cold, cold2 = Path(tmp) / f"{name}-a", Path(tmp) / f"{name}-b"
            prep = child(PREP, path, cold)
            hog = child(HOGWILD, path, cold2, Path(tmp) / "report.json")
            ker = child(KERAS, path, cold, args.keras_steps, args.keras_warmup)
            caches[name] = (path, cold)
            results[name] = {"corpus": path, "prep": prep, "hogwild": hog, "keras_sgns": ker}
            print(name, json.dumps(results[name]), flush=True)
        # The machine is shared and its speed drifts over minutes, so the Hogwild speed
        # ratio comes from back-to-back pairs of runs, repeated; the median ratio counts.
        # The order alternates (small first, then large first), so that a drift in one
        # direction does not always favour the same corpus.
        n_words = results["small"]["prep"]["raw_words"]
        repeats = alternating_pairs(
            "speed repeat", args.speed_repeats,
            lambda name: child(HOGWILD_SPEED, *caches[name], n_words)["words_per_sec"])
        # Keras speed the same way: back-to-back pairs in alternating order, median ratio
        keras_repeats = alternating_pairs(
            "keras speed repeat", args.keras_repeats,
            lambda name: child(KERAS, *caches[name], args.keras_steps, args.keras_warmup)["words_per_sec"])
        shared = child(HOGWILD_SPEED_SHARED, *caches["small"], *caches["large"], n_words, args.speed_repeats)
        print("same process", json.dumps(shared), flush=True)
    results["hogwild_speed_repeats"] = repeats
    results["hogwild_speed_repeats_one_process"] = shared
    results["keras_speed_repeats"] = keras_repeats
    s, l = results["small"], results["large"]
    words_ratio = l["prep"]["raw_words"] / s["prep"]["raw_words"]
    results["checks"] = {
        "hogwild_peak_rss_large_mib": l["hogwild"]["maxrss_mib"],
        "hogwild_rss_ratio": l["hogwild"]["maxrss_mib"] / s["hogwild"]["maxrss_mib"],
        "hogwild_speed_ratio": statistics.median(r["ratio"] for r in repeats),
        "hogwild_speed_ratio_one_process": statistics.median(r["ratio"] for r in shared),
        "hogwild_speed_ratio_full_epoch": l["hogwild"]["words_per_sec"] / s["hogwild"]["words_per_sec"],
        "keras_speed_ratio": statistics.median(r["ratio"] for r in keras_repeats),
        "keras_speed_ratio_first_runs": l["keras_sgns"]["words_per_sec"] / s["keras_sgns"]["words_per_sec"],
        "keras_rss_ratio": l["keras_sgns"]["maxrss_mib"] / s["keras_sgns"]["maxrss_mib"],
        "words_ratio": words_ratio,
        "prep_seconds_per_mword_small": s["prep"]["seconds"] / s["prep"]["raw_words"] * 1e6,
        "prep_seconds_per_mword_large": l["prep"]["seconds"] / l["prep"]["raw_words"] * 1e6,
    }
    c = results["checks"]
    md = ["| corpus | words | vocab | vocab+encode | Hogwild peak RSS | Hogwild words/s | Keras sgns peak RSS | Keras sgns words/s |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in (("wiki8", s), ("wiki70m", l)):
        md.append(f"| {name} | {r['prep']['raw_words'] / 1e6:.1f}M | {r['prep']['vocab_size']:,} | "
                  f"{r['prep']['seconds']:.1f} s ({r['prep']['seconds'] / r['prep']['raw_words'] * 1e6:.2f} s/Mword) | "
                  f"{r['hogwild']['maxrss_mib']:.0f} MiB | {r['hogwild']['words_per_sec'] / 1e3:.0f}k | "
                  f"{r['keras_sgns']['maxrss_mib']:.0f} MiB | {r['keras_sgns']['words_per_sec'] / 1e3:.0f}k |")
    md.append("")
    md.append(f"wiki70m / wiki8: {words_ratio:.2f}x the words; Hogwild peak RSS {c['hogwild_rss_ratio']:.2f}x, "
              f"training speed {c['hogwild_speed_ratio']:.2f}x (median of {len(repeats)} back-to-back repeats: "
              f"{ratios_text(repeats)}; {c['hogwild_speed_ratio_one_process']:.2f}x with both in one process: "
              f"{ratios_text(shared)}; {c['hogwild_speed_ratio_full_epoch']:.2f}x between the full-epoch runs "
              f"above); Keras sgns peak RSS {c['keras_rss_ratio']:.2f}x, speed {c['keras_speed_ratio']:.2f}x "
              f"(median of {len(keras_repeats)} back-to-back repeats: {ratios_text(keras_repeats)}; "
              f"{c['keras_speed_ratio_first_runs']:.2f}x between the runs above); vocabulary+encoding time per "
              f"million words {c['prep_seconds_per_mword_small']:.2f} s vs {c['prep_seconds_per_mword_large']:.2f} s.")
    write_results("scale", results, "\n".join(md))
    bar_chart("scale", ["wiki8 hogwild", "wiki70m hogwild", "wiki8 keras", "wiki70m keras"],
              [s["hogwild"]["maxrss_mib"], l["hogwild"]["maxrss_mib"], s["keras_sgns"]["maxrss_mib"],
               l["keras_sgns"]["maxrss_mib"]], "peak RSS (MiB)", "Peak memory, same run", log=False)


if __name__ == "__main__":
    main()
