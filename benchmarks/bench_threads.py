"""Pair generation against thread count: how ``fastw2v.skipgrams`` and ``PairGenerator`` use cores.

In one process, for each thread count (``numba.set_num_threads``):

* ``skipgrams`` on the same 1,000,000-token slice and settings as ``bench_pairs.py``
  (window 4, 1 negative per positive, Keras sampling table), and on an 8,000,000-token
  slice, each timed back to back (median of 9 calls);
* ``PairGenerator`` rows (window 5, 5 negatives, sample 1e-3) over the whole corpus
  (median of 3 epochs).

Thread counts run in alternating order (ascending, then descending), so that a change
of the machine's state does not fall on one end of the curve only. Writes
``benchmarks/results/<name>.json``, ``.md`` and ``.png`` (``--name``, default
``pairs_threads``).
"""

from __future__ import annotations

import argparse

import numba
import numpy as np
from _common import RESULTS, default_corpus, generator_rows_epoch, timed, write_results

import fastw2v
from fastw2v import load_corpus


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=str, default=None, help="text corpus (default: ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--threads", type=str, default=None,
                    help="comma list of thread counts (default: powers of 2 up to the cores, and the cores)")
    ap.add_argument("--name", type=str, default="pairs_threads", help="results file name (without extension)")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the thread counts (alternating order)")
    ap.add_argument("--quick", action="store_true", help="one pass, over 1 thread and all cores only")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds = 1
    cores = numba.config.NUMBA_NUM_THREADS
    if args.threads:
        counts = sorted({int(t) for t in args.threads.split(",")})
        if not counts or min(counts) < 1 or max(counts) > cores:
            ap.error(f"--threads must be between 1 and {cores} (NUMBA_NUM_THREADS)")
    elif args.quick:
        counts = sorted({1, cores})
    else:
        counts = sorted({1 << i for i in range(cores.bit_length()) if 1 << i <= cores} | {cores})
    vocab, corpus = load_corpus(args.corpus or default_corpus(), min_count=5)
    V = len(vocab) + 1  # Keras convention: id 0 is reserved
    table = fastw2v.make_sampling_table(V)
    slices = {"skipgrams_1M": np.asarray(corpus.ids[:1_000_000], dtype=np.int64) + 1,
              "skipgrams_8M": np.asarray(corpus.ids[:8_000_000], dtype=np.int64) + 1}
    kw = dict(window_size=4, negative_samples=1.0, sampling_table=table)

    def rows_epoch(threads):
        return generator_rows_epoch(vocab, corpus, threads)

    work = {name: (lambda s=s: len(fastw2v.skipgrams(s, V, **kw)[1]), 9) for name, s in slices.items()}
    results = {name: {t: [] for t in counts} for name in list(work) + ["generator_rows"]}
    pairs = {}
    for name, (fn, _) in work.items():
        pairs[name] = fn()  # compile, and count
    pairs["generator_rows"] = rows_epoch(1)
    for r in range(args.rounds):
        for t in (counts if r % 2 == 0 else counts[::-1]):
            numba.set_num_threads(t)
            for name, (fn, reps) in work.items():
                med, _, _ = timed(fn, reps)
                results[name][t].append(med)
            med, _, _ = timed(lambda: rows_epoch(t), 3)
            results["generator_rows"][t].append(med)
    numba.set_num_threads(cores)
    out = {"threads": counts, "slice_tokens": {k: int(v.shape[0]) for k, v in slices.items()},
           "corpus_words": corpus.n_words, "rounds": args.rounds}
    md = ["| threads | " + " | ".join(f"{k} pairs/s (x 1 thread)" for k in results) + " |",
          "|---:|" + "---:|" * len(results)]
    for name, by_t in results.items():
        secs = {t: float(np.median(v)) for t, v in by_t.items()}
        out[name] = {"pairs": int(pairs[name]), "seconds": {str(t): s for t, s in secs.items()},
                     "all_seconds": {str(t): v for t, v in by_t.items()},
                     "pairs_per_sec": {str(t): pairs[name] / s for t, s in secs.items()},
                     "speedup": {str(t): secs[counts[0]] / s for t, s in secs.items()}}
    for t in counts:
        md.append(f"| {t} | " + " | ".join(
            f"{out[k]['pairs_per_sec'][str(t)] / 1e6:.0f}M ({out[k]['speedup'][str(t)]:.2f}x)" for k in results) + " |")
    md.append("")
    md.append(f"Medians of {args.rounds} passes over the thread counts, in alternating order; skipgrams: median of 9 "
              f"back-to-back calls a pass; generator: median of 3 whole-corpus epochs ({corpus.n_words:,} tokens) "
              f"a pass. Speed-up is against {counts[0]} thread(s) in the same run.")
    write_results(args.name, out, "\n".join(md))
    plot(args.name, counts, out, list(results))


def plot(name, counts, out, keys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(counts, [t / counts[0] for t in counts], "k:", label="linear")
    for k in keys:
        ax.plot(counts, [out[k]["speedup"][str(t)] for t in counts], "o-", label=k)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("threads")
    ax.set_ylabel(f"speed-up over {counts[0]} thread(s)")
    ax.set_title("Pair generation against thread count (same run)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
