"""Training: gensim Word2Vec vs fastw2v Hogwild, same settings, same run.

    python benchmarks/bench_train.py [--corpus PATH] [--epochs 5] [--threads 2] [--seeds 1,2] [--quick]

Both train skip-gram, dim 100, window 5, negative 5, sample 1e-3, min_count 5,
alpha 0.025, with the same number of threads. Training time excludes reading the
text for both (gensim gets the corpus as an in-memory list of token lists; fastw2v
its encoded, cached corpus). Quality is the mean over ``--seeds`` (each seed trains
both, for ``--epochs``): one run's analogy accuracy moves by about half a point from
seed to seed, as much as the gap being measured. Speed is the median ratio of
``--repeats`` back-to-back 1-epoch runs. Writes benchmarks/results/train.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from _common import RESULTS, bar_chart, default_corpus, quality, train_hogwild, write_results

from fastw2v import Word2VecConfig, iter_sentences, load_corpus
from fastw2v.vectors import Vectors

PROBES = ["eight", "france", "king", "computer", "running", "blue", "war", "music", "paris", "water", "german",
          "science"]


def quality_and_neighbours(vectors: Vectors) -> dict:
    probes = [p for p in PROBES if p in vectors]
    return dict(quality(vectors), neighbours=vectors.most_similar_batch(probes, topn=8))


def run_gensim(path, cfg: Word2VecConfig, threads: int, evaluate: bool = True) -> dict:
    from gensim.models import Word2Vec as GensimWord2Vec

    sentences = list(iter_sentences(str(path)))  # in memory: reading is not timed
    raw_words = sum(len(s) for s in sentences)
    model = GensimWord2Vec(sg=1, vector_size=cfg.dim, window=cfg.window, negative=cfg.negative, sample=cfg.sample,
                           min_count=cfg.min_count, alpha=cfg.alpha, workers=threads, seed=cfg.seed)
    t0 = time.perf_counter()
    model.build_vocab(sentences)
    vocab_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=cfg.epochs)
    seconds = time.perf_counter() - t0
    wv = model.wv
    vectors = Vectors(list(wv.index_to_key), wv.vectors)
    return {"train_seconds": seconds, "vocab_seconds": vocab_seconds, "raw_words": raw_words,
            "words_per_sec": raw_words * cfg.epochs / seconds, "vocab_size": len(wv),
            **(quality_and_neighbours(vectors) if evaluate else {})}


def run_fastw2v(path, cfg: Word2VecConfig, evaluate: bool = True) -> dict:
    t0 = time.perf_counter()
    vocab, corpus = load_corpus(path, cfg.min_count, cfg.max_vocab)
    prep = time.perf_counter() - t0
    model, seconds = train_hogwild(cfg, corpus, vocab)
    return {"train_seconds": seconds, "prep_seconds": prep, "raw_words": corpus.raw_words,
            "words_per_sec": corpus.raw_words * cfg.epochs / seconds, "vocab_size": len(vocab),
            "pairs_per_sec": model.state.pairs_done * (cfg.negative + 1) / seconds,
            "loss_per_epoch": [h["loss"] for h in model.state.history],
            **(quality_and_neighbours(model.vectors) if evaluate else {})}


def quality_over_seeds(path, cfg: Word2VecConfig, seeds, threads: int):
    """Train both once per seed; return the first seed's runs (speeds, neighbours) with quality averaged over seeds."""
    per_seed = []
    for seed in seeds:
        f = run_fastw2v(path, cfg.replace(seed=seed))
        g = run_gensim(path, cfg.replace(seed=seed), threads)
        per_seed.append((f, g))
        print(f"seed {seed}: fastw2v {f.get('analogy_accuracy')} / {f.get('wordsim353_spearman')}, "
              f"gensim {g.get('analogy_accuracy')} / {g.get('wordsim353_spearman')}", flush=True)
    fw, gs = dict(per_seed[0][0]), dict(per_seed[0][1])
    for key in ("analogy_accuracy", "wordsim353_spearman"):
        for side, run in enumerate((fw, gs)):
            vals = [pair[side].get(key) for pair in per_seed]
            if None not in vals:
                run[key] = float(np.mean(vals))
                run[key + "_by_seed"] = vals
    return fw, gs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="text corpus (default ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="back-to-back 1-epoch timings for the speed ratio (default 5)")
    ap.add_argument("--seeds", default="1,2", help="comma-separated seeds for the quality runs (default 1,2)")
    ap.add_argument("--speed-only", action="store_true",
                    help="re-measure only the speed ratio and keep the quality runs of benchmarks/results/train.json "
                         "(same config, epochs and seeds). Only for kernel changes that cannot alter results, such "
                         "as a prefetch: threads=1 output is then bit-identical (tests/test_hogwild.py)")
    ap.add_argument("--quick", action="store_true", help="1 epoch, 1 seed, 1 speed repeat")
    ap.add_argument("--exact-sigmoid", action="store_true", help="fastw2v: exact sigmoid instead of the table")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs = 1
        args.repeats = 1
        args.seeds = args.seeds.split(",")[0]
    seeds = [int(x) for x in args.seeds.split(",")]
    path = args.corpus or default_corpus()
    cfg = Word2VecConfig(dim=100, window=5, negative=5, sample=1e-3, min_count=5, alpha=0.025, epochs=args.epochs,
                         threads=args.threads, seed=1, exact_sigmoid=args.exact_sigmoid)
    quality_from = None
    if args.speed_only:
        prev = json.loads((RESULTS / "train.json").read_text())
        # fields the training config no longer has (batch_size moved to KerasOptions) do not count
        stored = {k: v for k, v in (prev.get("config") or {}).items() if k in cfg.to_dict()}
        if stored != cfg.to_dict() or prev.get("epochs") != args.epochs or prev.get("seeds") != seeds:
            raise SystemExit("--speed-only: benchmarks/results/train.json has another config, epoch count or seeds")
        fw, gs = prev["fastw2v_hogwild"], prev["gensim"]
        quality_from = prev.get("quality_from") or {"date": prev.get("date"), "commit": prev.get("commit")}
    else:
        fw, gs = quality_over_seeds(path, cfg, seeds, args.threads)
    # Speed: this machine is shared and drifts, so besides the long runs above, time
    # both for one epoch back to back, `--repeats` times, and report the median ratio.
    pairs = []
    for _ in range(args.repeats):
        f1 = run_fastw2v(path, cfg.replace(epochs=1), evaluate=False)["words_per_sec"]
        g1 = run_gensim(path, cfg.replace(epochs=1), args.threads, evaluate=False)["words_per_sec"]
        pairs.append((f1, g1))
    ratios = [f / g for f, g in pairs]
    ratio = float(np.median(ratios)) if ratios else fw["words_per_sec"] / gs["words_per_sec"]
    results = {"corpus": str(path), "epochs": args.epochs, "threads": args.threads, "config": cfg.to_dict(),
               "seeds": seeds, "quality_from": quality_from,
               "gensim": gs, "fastw2v_hogwild": fw, "speed_ratio": ratio,
               "speed_repeats": [{"fastw2v_words_per_sec": f, "gensim_words_per_sec": g, "ratio": f / g}
                                 for f, g in pairs],
               "speed_ratio_long_run": fw["words_per_sec"] / gs["words_per_sec"]}
    med_f = float(np.median([f for f, _ in pairs])) if pairs else fw["words_per_sec"]
    med_g = float(np.median([g for _, g in pairs])) if pairs else gs["words_per_sec"]
    md = [
        f"| {args.threads} threads | raw words/s (median of {len(pairs)} x 1 epoch) | "
        f"analogy acc. ({args.epochs} epochs, mean of {len(seeds)} seeds) | WordSim-353 (same) |",
        "|---|---:|---:|---:|",
    ]
    for name, r, speed in (("gensim 4.4.0", gs, med_g), ("fastw2v hogwild", fw, med_f)):
        md.append(f"| {name} | {speed / 1e3:.0f}k | {100 * r.get('analogy_accuracy', float('nan')):.1f}% "
                  f"| {r.get('wordsim353_spearman', float('nan')):.3f} |")
    md.append(f"| **fastw2v vs gensim** | **{ratio:.2f}x** (median of per-repeat ratios) | "
              f"{100 * (fw.get('analogy_accuracy', 0) - gs.get('analogy_accuracy', 0)):+.1f} pt "
              f"| {fw.get('wordsim353_spearman', 0) - gs.get('wordsim353_spearman', 0):+.3f} |")
    md.append("")
    for name, r in (("gensim", gs), ("fastw2v", fw)):
        if "analogy_accuracy_by_seed" in r:
            md.append(f"{name} by seed {', '.join(map(str, seeds))}: analogy "
                      f"{', '.join(f'{100 * x:.1f}%' for x in r['analogy_accuracy_by_seed'])}; WordSim-353 "
                      f"{', '.join(f'{x:.3f}' for x in r.get('wordsim353_spearman_by_seed', []))}.  ")
    if pairs:
        md.append(f"Speed ratio per repeat: {', '.join(f'{x:.2f}' for x in ratios)}.  ")
    md.append(f"Over the first seed's {args.epochs}-epoch runs themselves: gensim {gs['words_per_sec'] / 1e3:.0f}k, fastw2v "
              f"{fw['words_per_sec'] / 1e3:.0f}k raw words/s ({fw['words_per_sec'] / gs['words_per_sec']:.2f}x).")
    md.append("")
    if quality_from:
        commit = quality_from.get("commit") or "see git log"
        md.append(f"Quality runs from {quality_from.get('date')} (commit {commit}); "
                  "speed re-measured with `--speed-only` after a kernel change that cannot alter results.")
        md.append("")
    md.append(f"Nearest neighbours (8, seed {seeds[0]}), gensim | fastw2v:")
    md.append("")
    md.append("| word | gensim | fastw2v hogwild |")
    md.append("|---|---|---|")
    for w in PROBES:
        if w in gs["neighbours"] and w in fw["neighbours"]:
            md.append(f"| {w} | {', '.join(gs['neighbours'][w])} | {', '.join(fw['neighbours'][w])} |")
    write_results("train", results, "\n".join(md))
    plot(results)


def plot(results: dict) -> None:
    """Bars: median 1-epoch speeds (the ones the ratio comes from), labelled with 5-epoch quality."""
    reps = results["speed_repeats"]
    med_f = float(np.median([r["fastw2v_words_per_sec"] for r in reps]))
    med_g = float(np.median([r["gensim_words_per_sec"] for r in reps]))
    gs, fw = results["gensim"], results["fastw2v_hogwild"]
    bar_chart("train", ["gensim 4.4.0", "fastw2v hogwild"], [med_g, med_f], "raw words/s (median, 1 epoch)",
              f"SGNS training, {results['threads']} threads, same run", log=False,
              annotate=[f"{med_g / 1e3:.0f}k\nanalogy {100 * gs.get('analogy_accuracy', 0):.1f}%",
                        f"{med_f / 1e3:.0f}k ({results['speed_ratio']:.2f}x)\n"
                        f"analogy {100 * fw.get('analogy_accuracy', 0):.1f}%"])


if __name__ == "__main__":
    main()
