"""Hogwild's update rule: word2vec's SGD against row-wise Adagrad, over rates and schedules.

    python benchmarks/bench_hogwild_rates.py [--corpus PATH] [--epochs 1,2,5] [--threads 2]
                                             [--points NAME,...] [--name STEM] [--quick]

Each point trains Hogwild (shared negatives, the shared settings: dim 100, window 5,
negative 5, sample 1e-3, min-count 5) on the same encoded corpus for each of ``--epochs``
and scores the vectors (analogies, WordSim-353). A point is an update rule, a rate and a
final fraction of it, reached by linear decay over all words (1.0: a constant rate):

* ``sgd``: word2vec's step (its rate 0.025 decaying to 1e-4 of itself), the reference;
* ``adagrad``: row-wise Adagrad; an output row of a window steps once by the window's
  summed gradient, and its accumulator grows by that sum's mean square;
* ``adagrad-pair``: the same steps, but the accumulator grows by each (context, output)
  pair's mean square, as if the window's pairs had stepped one by one.

Points run in alternating order per epoch count. Writes
benchmarks/results/{STEM}.{json,md,png} (default ``hogwild_rates``).
``--merge A,B,...`` instead gathers earlier runs' results files (each keeps its own
provenance) into one ``--name`` file, a round per run, and plots them together;
``--rewrite`` redraws that file's markdown and plot.
"""

from __future__ import annotations

import argparse
import time

from _common import default_corpus, quality, write_results

from fastw2v import Word2Vec, Word2VecConfig
from fastw2v.corpus_cache import load_corpus
from fastw2v.hogwild import ADAGRAD, ADAGRAD_PER_PAIR

RULES = {"sgd": ("sgd", None), "adagrad": ("adagrad", ADAGRAD), "adagrad-pair": ("adagrad", ADAGRAD_PER_PAIR)}
#: the last round of the sweep behind Hogwild's default (0.2 decaying to a quarter of itself)
DEFAULT_POINTS = ["sgd 0.025 -> 0.0001", "adagrad 0.15 -> 1", "adagrad 0.2 -> 1", "adagrad 0.25 -> 1",
                  "adagrad 0.3 -> 0.1", "adagrad 0.2 -> 0.25"]
QUICK_POINTS = ["sgd 0.025 -> 0.0001", "adagrad 0.2 -> 0.25"]


def parse_point(name: str):
    """``"RULE RATE -> FINAL"`` as ``(optimizer, accumulator rule or None, rate, final fraction)``."""
    try:
        rule, rate, arrow, final = name.split()
        assert arrow == "->" and rule in RULES
        return RULES[rule] + (float(rate), float(final))
    except (ValueError, AssertionError):
        raise ValueError(f"a point is 'RULE RATE -> FINAL' with RULE one of {list(RULES)}; got {name!r}") from None


def run_point(name: str, corpus, vocab, epochs: int, threads: int) -> dict:
    optimizer, rule, rate, final = parse_point(name)
    rates = dict(alpha=rate, min_alpha=rate * final) if optimizer == "sgd" else dict(learning_rate=rate,
                                                                                       final_rate=final)
    cfg = Word2VecConfig(epochs=epochs, threads=threads, optimizer=optimizer, **rates)
    model = Word2Vec(cfg)
    if rule is not None:
        model._rule = rule
    t0 = time.perf_counter()
    model.fit(corpus, vocab=vocab)
    seconds = time.perf_counter() - t0
    return {"point": name, "epochs": epochs, "train_seconds": seconds,
            "words_per_sec": corpus.raw_words * epochs / seconds, "loss": model.history[-1]["loss"],
            **quality(model.vectors)}


def markdown(runs, epoch_counts) -> str:
    names = list(dict.fromkeys(r["point"] for r in runs))
    head = "| point | " + " | ".join(f"{e} ep analogy / WS-353" for e in epoch_counts) + " |"
    lines = [head, "|---|" + "---:|" * len(epoch_counts)]
    for n in names:
        cells = []
        for e in epoch_counts:
            r = next((r for r in runs if r["point"] == n and r["epochs"] == e), None)
            cells.append("" if r is None else f"{100 * r.get('analogy_accuracy', 0):.1f}% / "
                                              f"{r.get('wordsim353_spearman', 0):.3f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rounds, name: str) -> None:
    """Analogy against epochs, one line per point, one panel per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import RESULTS

    fig, axes = plt.subplots(1, len(rounds), figsize=(5 * len(rounds), 4.5), squeeze=False)
    for ax, rnd in zip(axes[0], rounds):
        if len({r["epochs"] for r in rnd["runs"]}) == 1:  # one epoch count: analogy against the rate
            lines = {}
            for r in rnd["runs"]:
                rule, rate, _, final = r["point"].split()
                lines.setdefault(f"{rule} -> {final}", []).append((float(rate), r.get("analogy_accuracy", 0)))
            for label, xy in lines.items():
                xy.sort()
                ax.plot([x for x, _ in xy], [100 * y for _, y in xy], "o-", label=label)
            ax.set_xscale("log")
            ax.set_xlabel(f"initial rate (log), {rnd['runs'][0]['epochs']} epoch(s)")
            ax.set_ylabel("analogy accuracy (%)")
            ax.set_title(rnd.get("title", ""), fontsize=9)
            ax.legend(fontsize=6)
            continue
        for point in dict.fromkeys(r["point"] for r in rnd["runs"]):
            pts = sorted((r for r in rnd["runs"] if r["point"] == point), key=lambda r: r["epochs"])
            ax.plot([r["epochs"] for r in pts], [100 * r.get("analogy_accuracy", 0) for r in pts], "o-",
                    label=point, lw=2.5 if point.startswith("sgd") else 1.2)
        ax.set_xlabel("epochs")
        ax.set_ylabel("analogy accuracy (%)")
        ax.set_title(rnd.get("title", ""), fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Hogwild update rules on wiki8, 2 threads (each panel one run)", fontsize=10)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def merge(stems, name: str) -> None:
    """One results file from earlier runs' ``stems``: their payloads as rounds, provenance kept."""
    import json

    from _common import RESULTS

    if stems:
        rounds = [json.loads((RESULTS / f"{stem}.json").read_text()) for stem in stems]
        payload = {"rounds": rounds, "merged_from": list(stems)}
        (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    else:  # rewrite the markdown and the plot from the merged file
        rounds = json.loads((RESULTS / f"{name}.json").read_text())["rounds"]
    md = []
    for i, data in enumerate(rounds):
        epochs = sorted({r["epochs"] for r in data["runs"]})
        data["title"] = f"round {i + 1}: epochs {', '.join(map(str, epochs))}"
        md += [f"Round {i + 1} ({data['date']}, commit {data['commit']}, `{data['command']}`):", "",
               markdown(data["runs"], epochs), ""]
    (RESULTS / f"{name}.md").write_text("\n".join(md).rstrip() + "\n")
    plot(rounds, name)
    print("\n".join(md))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="text corpus (default ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--epochs", default="1,2,5", help="comma-separated epoch counts (default 1,2,5)")
    ap.add_argument("--quick", action="store_true", help="1 epoch of SGD and the default, written to STEM_quick")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--points", default=None, help="comma-separated points, each 'RULE RATE -> FINAL' (default: a grid of rates)")
    ap.add_argument("--name", default="hogwild_rates", help="results file stem")
    ap.add_argument("--merge", default=None, metavar="STEMS",
                    help="comma-separated results stems of earlier runs to gather into --name, training nothing")
    ap.add_argument("--rewrite", action="store_true",
                    help="rewrite --name's .md and .png from its merged .json, training nothing")
    args = ap.parse_args(argv)
    if args.merge or args.rewrite:
        merge(args.merge.split(",") if args.merge else [], args.name)
        return
    path = args.corpus or default_corpus()
    if args.quick:
        args.epochs, args.points, args.name = "1", ",".join(QUICK_POINTS), args.name + "_quick"
    names = args.points.split(",") if args.points else DEFAULT_POINTS
    try:
        for n in names:
            parse_point(n)
    except ValueError as exc:
        ap.error(str(exc))
    epoch_counts = [int(e) for e in args.epochs.split(",")]
    vocab, corpus = load_corpus(path, 5, None)
    Word2Vec(epochs=1, optimizer="adagrad").fit((corpus.ids[:20000], [0, 20000]), vocab=vocab)  # compile
    Word2Vec(epochs=1, optimizer="sgd").fit((corpus.ids[:20000], [0, 20000]), vocab=vocab)
    runs = []
    for i, e in enumerate(epoch_counts):
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            r = run_point(n, corpus, vocab, e, args.threads)
            print(f"{n:28s} {e} ep {r['train_seconds']:6.1f}s {100 * r.get('analogy_accuracy', 0):5.1f}% "
                  f"{r.get('wordsim353_spearman', 0):.3f}", flush=True)
            runs.append(r)
    write_results(args.name, {"settings": {"threads": args.threads, "corpus": str(path)}, "runs": runs},
                  markdown(runs, epoch_counts))
    plot([{"runs": runs, "title": f"epochs {args.epochs}"}], args.name)


if __name__ == "__main__":
    main()
