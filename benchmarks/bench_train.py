"""Training speed: gensim Word2Vec against fastw2v Hogwild's three kernels, in one run.

    python benchmarks/bench_train.py [--corpus PATH] [--threads 2] [--dims 100,300] [--repeats 3] [--quick]

All train skip-gram for one epoch at each of ``--dims``, window 5, negative 5, sample
1e-3, min_count 5, with the same number of threads; gensim and the SGD kernels at alpha
0.025. fastw2v runs three Hogwild kernels: word2vec's SGD with fresh negatives per pair,
SGD with one draw shared by a centre's window, and row-wise Adagrad (the default) on the
shared draw, whose speed is also set against the shared SGD kernel's in the same repeats.
Training time excludes reading the text for both (gensim gets the corpus as an in-memory
list of token lists; fastw2v its encoded, cached corpus). Speed is the median ratio of
``--repeats`` 1-epoch runs, each system once per repeat, the order reversed every other
repeat. The roofline lines set each kernel's GFLOP/s against this CPU's FMA peak,
measured in the same run. Quality is the frontier's job (``bench_frontier.py``). Writes
benchmarks/results/train.{json,md,png}.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from _common import bar_chart, default_corpus, fma_peak_gflops, train_hogwild, write_results

from fastw2v import Word2VecConfig, iter_sentences, load_corpus


@functools.lru_cache(maxsize=1)
def _sentences(path: str):
    return list(iter_sentences(path))


def run_gensim(path, cfg: Word2VecConfig, threads: int) -> dict:
    from gensim.models import Word2Vec as GensimWord2Vec

    sentences = _sentences(str(path))  # in memory: reading is not timed
    raw_words = sum(len(s) for s in sentences)
    model = GensimWord2Vec(sg=1, vector_size=cfg.dim, window=cfg.window, negative=cfg.negative, sample=cfg.sample,
                           min_count=cfg.min_count, alpha=cfg.alpha, workers=threads, seed=cfg.seed)
    t0 = time.perf_counter()
    model.build_vocab(sentences)
    vocab_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=cfg.epochs)
    seconds = time.perf_counter() - t0
    return {"train_seconds": seconds, "vocab_seconds": vocab_seconds, "raw_words": raw_words,
            "words_per_sec": raw_words * cfg.epochs / seconds, "vocab_size": len(model.wv)}


#: kernel name -> the Word2VecConfig fields that choose it: the negatives' draw and the update rule
KERNELS = {"pair": {"shared_negatives": False, "optimizer": "sgd"},
           "shared": {"shared_negatives": True, "optimizer": "sgd"},
           "shared adagrad": {"shared_negatives": True, "optimizer": "adagrad"}}
KERNEL_LABEL = {"pair": "fastw2v hogwild, per-pair negatives, SGD",
                "shared": "fastw2v hogwild, shared negatives, SGD",
                "shared adagrad": "fastw2v hogwild, shared negatives, row-wise Adagrad"}
#: the kernel each Adagrad kernel's speed is set against, in the same repeats
SGD_PEER = {"shared adagrad": "shared"}


def flop_per_pair(dim: int, negative: int) -> int:
    """Multiply-adds of one positive pair's step, counted as 2 FLOP each.

    Per output row (the centre and ``negative`` noise words): the logit, the input's
    gradient and the output's update, ``dim`` multiply-adds each; plus ``dim`` adds
    to apply the input's gradient. Both kernels do this maths; the shared one loads
    each output row once per window instead of once per pair.
    """
    return 6 * dim * (negative + 1) + dim


def run_fastw2v(path, cfg: Word2VecConfig) -> dict:
    t0 = time.perf_counter()
    vocab, corpus = load_corpus(path, cfg.min_count, cfg.max_vocab)
    prep = time.perf_counter() - t0
    model, seconds = train_hogwild(cfg, corpus, vocab)
    pairs_per_sec = model.state.pairs_done / seconds
    return {"train_seconds": seconds, "prep_seconds": prep, "raw_words": corpus.raw_words,
            "words_per_sec": corpus.raw_words * cfg.epochs / seconds, "vocab_size": len(vocab),
            "positive_pairs_per_sec": pairs_per_sec,
            "gflops": pairs_per_sec * flop_per_pair(cfg.dim, cfg.negative) / 1e9,
            "loss_per_epoch": [h["loss"] for h in model.state.history]}


def measure_dim(path, cfg: Word2VecConfig, threads: int, repeats: int, peak: float) -> dict:
    """Speed (``repeats`` x 1 epoch, in alternating order) of gensim and the fastw2v kernels at ``cfg.dim``."""
    names = ["gensim"] + list(KERNELS)
    speeds = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name == "gensim":
                run = run_gensim(path, cfg, threads)
            else:
                run = run_fastw2v(path, cfg.replace(**KERNELS[name]))
            speeds[name].append(run)
        print(f"dim {cfg.dim} speed repeat {r + 1}: " + ", ".join(
            f"{n} {speeds[n][-1]['words_per_sec'] / 1e3:.0f}k" for n in names), flush=True)
    out = {"dim": cfg.dim, "flop_per_pair": flop_per_pair(cfg.dim, cfg.negative), "fma_peak_gflops": peak}
    for name in names:
        words = [run["words_per_sec"] for run in speeds[name]]
        entry = {"speed_repeats_words_per_sec": words, "median_words_per_sec": float(np.median(words))}
        if name != "gensim":
            ratios = [f["words_per_sec"] / g["words_per_sec"] for f, g in zip(speeds[name], speeds["gensim"])]
            gflops = [run["gflops"] for run in speeds[name]]
            entry["speed_ratio_vs_gensim"] = float(np.median(ratios))
            entry["speed_ratios_vs_gensim"] = ratios
            entry["median_gflops"] = float(np.median(gflops))
            entry["share_of_peak"] = entry["median_gflops"] / peak
        out[name] = entry
    for name, peer in SGD_PEER.items():
        ratios = [f["words_per_sec"] / g["words_per_sec"] for f, g in zip(speeds[name], speeds[peer])]
        out[name]["speed_ratio_vs_sgd"] = float(np.median(ratios))
        out[name]["speed_ratios_vs_sgd"] = ratios
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="text corpus (default ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dims", default="100,300", help="comma-separated embedding sizes (default 100,300)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="1-epoch timings of each system, in alternating order, for the speed ratios (default 3)")
    ap.add_argument("--quick", action="store_true", help="1 repeat, dim 100")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.dims = 1, "100"
    dims = [int(x) for x in args.dims.split(",")]
    path = args.corpus or default_corpus()
    base = Word2VecConfig(dim=100, window=5, negative=5, sample=1e-3, min_count=5, alpha=0.025, epochs=1,
                          threads=args.threads, seed=1)  # alpha: gensim's, and the SGD kernels'

    peak = fma_peak_gflops(args.threads)
    print(f"float32 FMA peak, {args.threads} threads: {peak:.0f} GFLOP/s", flush=True)
    per_dim = [measure_dim(path, base.replace(dim=dim), args.threads, args.repeats, peak) for dim in dims]
    from importlib import metadata

    results = {"corpus": str(path), "epochs": 1, "threads": args.threads, "config": base.to_dict(),
               "gensim_version": metadata.version("gensim"),
               "repeats": args.repeats, "fma_peak_gflops": peak, "dims": per_dim,
               "default_kernel": next(k for k, v in KERNELS.items()
                                      if v == {f: getattr(Word2VecConfig().for_trainer("hogwild"), f) for f in v})}
    write_results("train", results, markdown(results))
    plot(results)


def markdown(results: dict) -> str:
    n_rep = results["repeats"]
    md = [f"| {results['threads']} threads | dim | raw words/s (median of {n_rep} x 1 epoch) | vs gensim "
          "(median ratio) |", "|---|---:|---:|---:|"]
    for d in results["dims"]:
        for name, label in [("gensim", f"gensim {results['gensim_version']}")] + list(KERNEL_LABEL.items()):
            r = d[name]
            ratio = f"**{r['speed_ratio_vs_gensim']:.2f}x**" if name != "gensim" else "1"
            md.append(f"| {label} | {d['dim']} | {r['median_words_per_sec'] / 1e3:.0f}k | {ratio} |")
    md += ["", f"Roofline: this CPU's float32 FMA peak, measured in the same run on {results['threads']} threads, "
           f"is {results['fma_peak_gflops']:.0f} GFLOP/s.", "",
           "| kernel | dim | FLOP per positive pair | GFLOP/s achieved (median) | share of peak |",
           "|---|---:|---:|---:|---:|"]
    for d in results["dims"]:
        for name, label in KERNEL_LABEL.items():
            r = d[name]
            md.append(f"| {label} | {d['dim']} | {d['flop_per_pair']:,} | {r['median_gflops']:.1f} | "
                      f"{100 * r['share_of_peak']:.1f}% |")
    md.append("")
    for d in results["dims"]:
        for name in KERNELS:
            md.append(f"dim {d['dim']}, {name}: speed ratios "
                      f"{', '.join(f'{x:.2f}' for x in d[name]['speed_ratios_vs_gensim'])}.  ")
    for d in results["dims"]:
        for name, peer in SGD_PEER.items():
            md.append(f"dim {d['dim']}, {name} against {peer} (SGD) in the same repeats: "
                      f"**{d[name]['speed_ratio_vs_sgd']:.2f}x** (median; "
                      f"{', '.join(f'{x:.2f}' for x in d[name]['speed_ratios_vs_sgd'])}).  ")
    return "\n".join(md)


def plot(results: dict) -> None:
    """Bars: median 1-epoch speed per system and dim, labelled with the ratio to gensim."""
    labels, values, notes = [], [], []
    for d in results["dims"]:
        for system, label in [("gensim", "gensim")] + [(k, f"fastw2v {k}") for k in KERNELS]:
            r = d[system]
            labels.append(f"{label}, dim {d['dim']}")
            values.append(r["median_words_per_sec"])
            ratio = f" ({r['speed_ratio_vs_gensim']:.2f}x)" if system != "gensim" else ""
            notes.append(f"{r['median_words_per_sec'] / 1e3:.0f}k{ratio}")
    bar_chart("train", labels, values, "raw words/s (median, 1 epoch)",
              f"SGNS training speed, {results['threads']} threads, same run", log=False, annotate=notes)


if __name__ == "__main__":
    main()
