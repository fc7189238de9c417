"""Hogwild with word2vec.c's sigmoid table vs the exact sigmoid: speed and quality, one run.

    python benchmarks/bench_sigmoid.py [--corpus PATH] [--epochs 2]

Same seed and settings (gensim's skip-gram defaults, 2 threads); only the sigmoid
differs. Writes benchmarks/results/sigmoid.{json,md,png}.
"""

from __future__ import annotations

import argparse

from _common import bar_chart, default_corpus, quality, train_hogwild, write_results

from fastw2v import Word2VecConfig, load_corpus


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 epoch")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs = 1
    path = args.corpus or default_corpus()
    vocab, corpus = load_corpus(path, min_count=5)
    results = {"corpus": str(path), "epochs": args.epochs}
    for exact in (False, True):
        cfg = Word2VecConfig(epochs=args.epochs, threads=2, seed=1, exact_sigmoid=exact)
        m, secs = train_hogwild(cfg, corpus, vocab)
        r = {"words_per_sec": corpus.raw_words * args.epochs / secs, "final_loss": m.state.history[-1]["loss"],
             **quality(m.vectors)}
        results["exact" if exact else "table"] = r
    md = [f"| sigmoid ({args.epochs} epochs) | raw words/s | analogy acc. | WordSim-353 | final loss |",
          "|---|---:|---:|---:|---:|"]
    for name in ("table", "exact"):
        r = results[name]
        md.append(f"| {name} | {r['words_per_sec'] / 1e3:.0f}k | {100 * r.get('analogy_accuracy', 0):.1f}% | "
                  f"{r.get('wordsim353_spearman', 0):.3f} | {r['final_loss']:.4f} |")
    write_results("sigmoid", results, "\n".join(md))
    bar_chart("sigmoid", ["table", "exact"], [results["table"]["words_per_sec"], results["exact"]["words_per_sec"]],
              "raw words/s", "Hogwild sigmoid: table vs exact", log=False)


if __name__ == "__main__":
    main()
