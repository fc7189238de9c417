"""Pair generation: tf_keras skipgrams vs fastw2v.skipgrams vs PairGenerator, in one run.

    python benchmarks/bench_pairs.py [--corpus PATH] [--slice-tokens N] [--repeats R] [--pairs P]

Counts every pair, positive and negative alike. ``skipgrams`` is compared in P
alternating pairs of calls on the same slice (tf_keras first, then fastw2v first), each
fastw2v call right after a tf_keras one or after the previous pair's fastw2v call; the
ratio is the median of the pairs' ratios. Back-to-back (warm) fastw2v calls and the time
of each compiled pass are reported beside them. Writes benchmarks/results/pairs.{json,md,png}.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
from numba import njit, prange

from _common import bar_chart, default_corpus, generator_rows_epoch, timed, write_results

import fastw2v
from fastw2v import load_corpus


@njit(parallel=True, nogil=True, cache=True)
def _fill(a, v):
    for i in prange(a.shape[0]):
        a[i] = v


def write_bandwidth(threads: int, nbytes: int = 1 << 29) -> float:
    """Bytes/s of a parallel fill of an already-touched array (the write ceiling)."""
    import numba

    numba.set_num_threads(threads)
    a = np.zeros(nbytes // 8, dtype=np.int64)
    _fill(a, 1)
    med, _, _ = timed(lambda: _fill(a, 2), 5)
    return nbytes / med


def vocab_timing(path, repeats: int) -> dict:
    """Seconds to count words and build the vocabulary (min_count 5), both from the same plain file."""
    import lzma
    import shutil
    import tempfile

    from gensim.models import Word2Vec as GensimWord2Vec
    from gensim.models.word2vec import Text8Corpus

    from fastw2v import Vocab

    with tempfile.TemporaryDirectory() as tmp:
        plain = f"{tmp}/corpus.txt"
        opener = lzma.open if str(path).endswith(".xz") else open
        with opener(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        ours, ours_all, v = timed(lambda: Vocab.build(plain, min_count=5), repeats)

        def gensim_vocab():
            model = GensimWord2Vec(sg=1, min_count=5)
            model.build_vocab(Text8Corpus(plain))
            return model

        theirs, theirs_all, g = timed(gensim_vocab, repeats)
    return {"fastw2v_seconds": ours, "gensim_seconds": theirs, "fastw2v_all": ours_all, "gensim_all": theirs_all,
            "ratio": theirs / ours, "fastw2v_vocab_size": len(v), "gensim_vocab_size": len(g.wv)}


def skipgrams_phases(seq, V, kw, repeats):
    """Median milliseconds of each compiled pass of ``skipgrams`` (and of the whole call), warm."""
    from fastw2v import keras_compat

    names = {"_sg_count": "count", "_sg_bucket_counts": "bucket counts", "_sg_emit": "emit",
             "_sg_shuffle_unpack": "shuffle"}
    took = {label: [] for label in list(names.values()) + ["whole call"]}
    originals = {name: getattr(keras_compat, name) for name in names}

    def timer(name):
        def run(*args):
            t0 = time.perf_counter()
            out = originals[name](*args)
            took[names[name]].append(1e3 * (time.perf_counter() - t0))
            return out
        return run

    try:
        for name in names:
            setattr(keras_compat, name, timer(name))
        for _ in range(repeats):
            t0 = time.perf_counter()
            fastw2v.skipgrams(seq, V, **kw)
            took["whole call"].append(1e3 * (time.perf_counter() - t0))
    finally:
        for name, fn in originals.items():
            setattr(keras_compat, name, fn)
    return {label: float(np.median(v)) for label, v in took.items() if v}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=str, default=None, help="text corpus (default: ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--slice-tokens", type=int, default=1_000_000, help="tokens for the skipgrams comparison")
    ap.add_argument("--repeats", type=int, default=10, help="repeats per measurement (median reported; default 10)")
    ap.add_argument("--window", type=int, default=4, help="skipgrams window_size (Keras default 4)")
    ap.add_argument("--pairs", type=int, default=9,
                    help="alternating tf_keras/fastw2v skipgrams pairs (the ratio is their median)")
    ap.add_argument("--quick", action="store_true", help="3 repeats and 3 pairs instead of --repeats and --pairs")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = 3
        args.pairs = 3
    import numba

    path = args.corpus or default_corpus()
    vocab, corpus = load_corpus(path, min_count=5)
    V = len(vocab) + 1  # Keras convention: id 0 is reserved
    seq = np.asarray(corpus.ids[: args.slice_tokens], dtype=np.int64) + 1
    table = fastw2v.make_sampling_table(V)
    all_threads = numba.config.NUMBA_NUM_THREADS
    results = {"corpus": str(path), "corpus_words": corpus.n_words, "vocab_size": len(vocab),
               "slice_tokens": int(seq.shape[0]), "repeats": args.repeats, "threads_all": all_threads}

    # --- skipgrams: tf_keras and fastw2v on the same slice and settings
    from tf_keras.preprocessing.sequence import skipgrams as keras_skipgrams

    seq_list = seq.tolist()
    kw = dict(window_size=args.window, negative_samples=1.0, sampling_table=table)
    fastw2v.skipgrams(seq, V, seed=0, **kw)  # compile
    # alternating pairs (tf_keras then fastw2v, then the other way round), so that a change of
    # the machine's state hits both sides; the ratio is the median of the pairs' ratios
    k_times, f_times, pair_ratios = [], [], []
    for i in range(args.pairs):
        sides = [("k", lambda: keras_skipgrams(seq_list, V, **kw)), ("f", lambda: fastw2v.skipgrams(seq, V, **kw))]
        took = {}
        for side, fn in (sides if i % 2 == 0 else sides[::-1]):
            gc.collect()  # tf_keras leaves millions of Python objects: free them outside the timing
            t0 = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - t0
            took[side] = (seconds, len(out[0]))
            del out
        k_times.append(took["k"][0])
        f_times.append(took["f"][0])
        pair_ratios.append((took["f"][1] / took["f"][0]) / (took["k"][1] / took["k"][0]))
    n_keras, n_fast = took["k"][1], took["f"][1]
    # the timings above are cold calls, each right after tf_keras's; back to back, warm:
    warm_med, warm_all, _ = timed(lambda: fastw2v.skipgrams(seq, V, **kw), 9)
    phases = skipgrams_phases(seq, V, kw, 15)
    results["keras_skipgrams"] = {"pairs": n_keras, "seconds": float(np.median(k_times)), "all_seconds": k_times,
                                  "pairs_per_sec": n_keras / float(np.median(k_times))}
    results["fastw2v_skipgrams"] = {"pairs": int(n_fast), "seconds": float(np.median(f_times)), "all_seconds": f_times,
                                    "pairs_per_sec": n_fast / float(np.median(f_times)), "threads": all_threads,
                                    "pair_ratios": pair_ratios, "median_pair_ratio": float(np.median(pair_ratios)),
                                    "warm_seconds": warm_med, "warm_all_seconds": warm_all,
                                    "warm_pairs_per_sec": n_fast / warm_med, "warm_phases_ms": phases}

    # --- PairGenerator rows, negative=5, over the whole corpus
    def one_epoch(threads):
        return generator_rows_epoch(vocab, corpus, threads)

    one_epoch(1)  # compile
    for label, threads in (("generator_rows_1thread", 1), ("generator_rows_all", all_threads)):
        med, times, n = timed(lambda: one_epoch(threads), max(3, args.repeats // 2))
        results[label] = {"pairs": n, "seconds": med, "all_seconds": times, "pairs_per_sec": n / med,
                          "threads": threads}
    base = results["keras_skipgrams"]["pairs_per_sec"]
    for k in ("fastw2v_skipgrams", "generator_rows_1thread", "generator_rows_all"):
        results[k]["ratio_vs_keras"] = results[k]["pairs_per_sec"] / base

    # --- vocabulary building: fastw2v vs gensim's build_vocab, same decompressed file
    results["vocab"] = vocab_timing(path, max(3, args.repeats // 2))

    # --- physical ceiling: bytes written per pair against parallel write bandwidth
    bw = write_bandwidth(all_threads)
    rows_bytes_per_pair = (4 + 4 * 6) / 6  # target + 6 contexts per row of 6 pairs
    sg_bytes_per_pair = 8 + 1  # one int32 couple and an int8 label
    results["ceiling"] = {
        "write_bandwidth_bytes_per_sec": bw,
        "rows_bytes_per_pair": rows_bytes_per_pair,
        "rows_pairs_per_sec": bw / rows_bytes_per_pair,
        "skipgrams_bytes_per_pair": sg_bytes_per_pair,
        "skipgrams_pairs_per_sec": bw / sg_bytes_per_pair,
    }
    results["ceiling"]["rows_fraction"] = results["generator_rows_all"]["pairs_per_sec"] / results["ceiling"]["rows_pairs_per_sec"]
    results["ceiling"]["skipgrams_fraction"] = results["fastw2v_skipgrams"]["pairs_per_sec"] / results["ceiling"]["skipgrams_pairs_per_sec"]

    rows = [
        ("tf_keras `skipgrams`", results["keras_skipgrams"]),
        ("`fastw2v.skipgrams`", results["fastw2v_skipgrams"]),
        ("`PairGenerator` rows, 1 thread", results["generator_rows_1thread"]),
        (f"`PairGenerator` rows, {all_threads} threads", results["generator_rows_all"]),
    ]
    md = ["| generator | pairs/s | vs tf_keras |", "|---|---:|---:|"]
    for name, r in rows:
        md.append(f"| {name} | {r['pairs_per_sec'] / 1e6:.2f}M | {r.get('ratio_vs_keras', 1.0):,.0f}x |")
    c = results["ceiling"]
    md.append("")
    md.append(
        f"Write bandwidth measured in the same run: {bw / 1e9:.1f} GB/s. Ceiling for rows "
        f"({rows_bytes_per_pair:.2f} bytes/pair): {c['rows_pairs_per_sec'] / 1e6:.0f}M pairs/s, reached "
        f"{100 * c['rows_fraction']:.0f}%. Ceiling for skipgrams ({sg_bytes_per_pair} bytes/pair): "
        f"{c['skipgrams_pairs_per_sec'] / 1e6:.0f}M pairs/s, reached {100 * c['skipgrams_fraction']:.0f}%."
    )
    vt = results["vocab"]
    fs = results["fastw2v_skipgrams"]
    # a speed-up is claimed only when every fastw2v run beat every gensim run
    separated = max(vt["fastw2v_all"]) < min(vt["gensim_all"])
    verdict = (f"{vt['ratio']:.2f}x faster: every fastw2v run beat every gensim run" if separated else
               f"median ratio {vt['ratio']:.2f}x, but the runs' ranges overlap: no clear difference")
    md.append(f"Vocabulary (count + min_count 5, same plain file; medians of {len(vt['fastw2v_all'])} runs, range in "
              f"brackets): fastw2v {vt['fastw2v_seconds']:.2f} s [{min(vt['fastw2v_all']):.2f}-"
              f"{max(vt['fastw2v_all']):.2f}], gensim `build_vocab` {vt['gensim_seconds']:.2f} s "
              f"[{min(vt['gensim_all']):.2f}-{max(vt['gensim_all']):.2f}]; {verdict}; "
              f"{vt['fastw2v_vocab_size']:,} and {vt['gensim_vocab_size']:,} words.")
    md.append(f"skipgrams slice: {seq.shape[0]:,} tokens, window {args.window}, 1 negative per positive, "
              f"Keras sampling table; generator: whole corpus ({corpus.n_words:,} tokens), window 5, 5 negatives, "
              f"sample 1e-3. skipgrams: {len(pair_ratios)} alternating tf_keras/fastw2v pairs; fastw2v vs tf_keras "
              f"per pair {', '.join(f'{r:.0f}x' for r in pair_ratios)}, median {np.median(pair_ratios):.0f}x; "
              f"back to back (warm, median of 9 calls): {fs['warm_seconds'] * 1000:.1f} ms a call, "
              f"{fs['warm_pairs_per_sec'] / 1e6:.1f}M pairs/s, {fs['warm_pairs_per_sec'] / base:.0f}x tf_keras's median; "
              f"its passes (median ms of 15 calls): {', '.join(f'{k} {v:.1f}' for k, v in phases.items())}. "
              f"Generator: medians of {max(3, args.repeats // 2)} whole-corpus epochs.")
    write_results("pairs", results, "\n".join(md))
    bar_chart("pairs", [n.replace("`", "") for n, _ in rows], [r["pairs_per_sec"] for _, r in rows], "pairs/s (log)",
              "Skip-gram pair generation, same run", annotate=[f"{r['pairs_per_sec']/1e6:.3g}M\n{r.get('ratio_vs_keras', 1):,.0f}x" for _, r in rows])


if __name__ == "__main__":
    main()
