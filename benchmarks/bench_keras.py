"""Keras path: the tutorial as written vs fastw2v's Keras models vs Hogwild, one run.

    python benchmarks/bench_keras.py [--corpus PATH] [--epochs 1] [--quick]

1. The tutorial as written: tf_keras ``skipgrams`` + one ``train_on_batch`` per
   pair, timed over ``--tutorial-steps`` steps (pair generation included).
2. fastw2v keras ``tutorial`` (flat pairs, 1 negative per positive).
3. fastw2v keras ``sgns`` (rows, 5 negatives).
4. fastw2v hogwild.

Pairs/s count positives and negatives alike. 2-4 train for the same number of
epochs and are evaluated (analogies, WordSim-353). A profile of the sgns step
(where the time goes; sparse-update evidence) is stored too.
Writes benchmarks/results/keras.{json,md,png}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import bar_chart, default_corpus, fmt_rate, quality, train_hogwild, write_results

from fastw2v import Word2VecConfig, load_corpus


def tutorial_as_written(corpus, vocab, steps: int, dim: int) -> dict:
    """tf_keras skipgrams + a tf_keras model trained one pair per train_on_batch."""
    import tf_keras
    from tf_keras.preprocessing.sequence import make_sampling_table, skipgrams

    V = len(vocab) + 1  # Keras reserves id 0
    target = tf_keras.Input((1,))
    context = tf_keras.Input((1,))
    embedding = tf_keras.layers.Embedding(V, dim, input_length=1)
    t = tf_keras.layers.Reshape((dim, 1))(embedding(target))
    c = tf_keras.layers.Reshape((dim, 1))(embedding(context))
    dot = tf_keras.layers.Reshape((1,))(tf_keras.layers.dot([t, c], axes=1))
    out = tf_keras.layers.Dense(1, activation="sigmoid")(dot)
    model = tf_keras.Model([target, context], out)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop")
    seq = (np.asarray(corpus.ids[:20000], dtype=np.int64) + 1).tolist()
    a1, a2, a3 = np.zeros((1,)), np.zeros((1,)), np.zeros((1,))
    t0 = time.perf_counter()
    couples, labels = skipgrams(seq, V, window_size=3, sampling_table=make_sampling_table(V))
    gen_seconds = time.perf_counter() - t0
    model.train_on_batch([a1, a2], a3)  # build
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        i = rng.integers(len(labels))
        a1[0], a2[0] = couples[i]
        a3[0] = labels[i]
        model.train_on_batch([a1, a2], a3)
    train_seconds = time.perf_counter() - t0
    per_pair = train_seconds / steps + gen_seconds / len(labels)
    return {"steps": steps, "pairs_per_sec": 1.0 / per_pair, "train_seconds": train_seconds,
            "skipgrams_pairs_per_sec": len(labels) / gen_seconds}


def profile_sgns(vocab, corpus, batch: int) -> dict:
    """Where an sgns step's time goes, on a real batch; and step time against vocabulary size."""
    import tensorflow as tf

    from fastw2v.keras_models import SGNSLoss, build_sgns
    from fastw2v.pairs import PairGenerator

    gen = PairGenerator(vocab, seed=1)
    t, c = next(iter(gen.batches(corpus, batch)))
    y = np.zeros(batch, np.float32)

    def med(f, n=7):
        f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return 1000 * float(np.median(ts))

    V = len(vocab)
    model = build_sgns(V, 100, 5, words_per_step=1, total_words=1e12)
    tt, cc = tf.constant(t), tf.constant(c)
    loss_fn = SGNSLoss()
    variables = model.trainable_variables

    @tf.function(jit_compile=True)
    def forward():
        return loss_fn(tf.zeros(batch), model([tt, cc]))

    @tf.function(jit_compile=True)
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.zeros(batch), model([tt, cc]))
        return tape.gradient(loss, variables)

    out = {"batch_rows": batch, "forward_ms": med(forward), "forward_backward_ms": med(forward_backward),
           "full_step_ms": med(lambda: model.train_on_batch([t, c], y))}
    out["update_ms"] = out["full_step_ms"] - out["forward_backward_ms"]
    grads = forward_backward()
    out["gradient_types"] = [type(g).__name__ for g in grads]
    scaling = {}
    for v_size in (V // 4, V, 4 * V):
        m = build_sgns(v_size, 100, 5, words_per_step=1, total_words=1e12)
        scaling[v_size] = med(lambda: m.train_on_batch([t % v_size, c % v_size], y))
    out["step_ms_by_vocab_size"] = scaling
    return out


def batch_sweep(vocab, corpus, sizes=(4096, 16384, 65536)) -> dict:
    """sgns pairs/s of one training step on real batches, per batch size (median of 7 steps)."""
    from fastw2v.keras_models import build_sgns
    from fastw2v.pairs import PairGenerator

    gen = PairGenerator(vocab, seed=1)
    out = {}
    for b in sizes:
        t, c = next(iter(gen.batches(corpus, b)))
        y = np.zeros(b, np.float32)
        model = build_sgns(len(vocab), 100, 5, words_per_step=1, total_words=1e12)
        model.train_on_batch([t, c], y)
        ts = []
        for _ in range(7):
            t0 = time.perf_counter()
            model.train_on_batch([t, c], y)
            ts.append(time.perf_counter() - t0)
        out[b] = {"step_ms": 1000 * float(np.median(ts)), "pairs_per_sec": 6 * b / float(np.median(ts))}
        print(f"batch {b}: {out[b]['step_ms']:.1f} ms/step, {out[b]['pairs_per_sec'] / 1e6:.2f}M pairs/s", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--epochs", type=int, default=1, help="epochs for the three fastw2v models (equal)")
    ap.add_argument("--tutorial-steps", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="a 3M-word slice and 300 tutorial steps")
    ap.add_argument("--batch-sweep", action="store_true",
                    help="only time sgns steps per batch size (writes results/keras_batch.json)")
    args = ap.parse_args(argv)
    path = args.corpus or default_corpus()
    vocab, corpus = load_corpus(path, min_count=5)
    if args.batch_sweep:
        sweep = batch_sweep(vocab, corpus)
        best = max(sweep, key=lambda b: sweep[b]["pairs_per_sec"])
        md = ["| sgns batch rows | ms/step | pairs/s |", "|---:|---:|---:|"]
        md += [f"| {b:,} | {r['step_ms']:.1f} | {fmt_rate(r['pairs_per_sec'])} |" for b, r in sweep.items()]
        md.append(f"\nFastest: {best:,} rows per step.")
        write_results("keras_batch", {"sweep": sweep, "best": best}, "\n".join(md))
        bar_chart("keras_batch", [f"{b:,}" for b in sweep], [r["pairs_per_sec"] for r in sweep.values()],
                  "pairs/s", "Keras sgns step throughput by batch size", log=False)
        return
    if args.quick:
        corpus = corpus.head(3_000_000)
        args.tutorial_steps = 300
    results = {"corpus": str(path), "epochs": args.epochs, "corpus_words": corpus.raw_words}

    results["tutorial_as_written"] = tutorial_as_written(corpus, vocab, args.tutorial_steps, 100)

    from fastw2v import KerasOptions
    from fastw2v.keras_trainer import KerasTrainer

    for kind in ("tutorial", "sgns"):
        cfg = Word2VecConfig.for_model(kind, epochs=args.epochs, seed=1)
        opts = KerasOptions(kind)
        trainer = KerasTrainer(cfg, vocab, opts)
        t0 = time.perf_counter()
        trainer.fit(corpus)
        seconds = time.perf_counter() - t0
        results[f"keras_{kind}"] = {"pairs_per_sec": trainer.pairs_done / seconds,
                                    "words_per_sec": trainer.words_done / seconds,
                                    "train_seconds": seconds, "batch_size": opts.batch_size,
                                    "loss": [h["loss"] for h in trainer.history], **quality(trainer.vectors)}

    cfg = Word2VecConfig(epochs=args.epochs, threads=2, seed=1)
    model, seconds = train_hogwild(cfg, corpus, vocab)
    results["hogwild"] = {"pairs_per_sec": model.state.pairs_done * 6 / seconds,
                          "words_per_sec": corpus.raw_words * args.epochs / seconds, "train_seconds": seconds,
                          **quality(model.vectors)}

    results["profile_sgns"] = profile_sgns(vocab, corpus, KerasOptions().batch_size)
    base = results["tutorial_as_written"]["pairs_per_sec"]
    rows = [("tutorial as written (tf_keras, 1 pair/step)", results["tutorial_as_written"]),
            ("fastw2v keras `tutorial`", results["keras_tutorial"]),
            ("fastw2v keras `sgns`", results["keras_sgns"]),
            ("fastw2v hogwild", results["hogwild"])]
    for _, r in rows:
        r["ratio_vs_tutorial"] = r["pairs_per_sec"] / base
    sg, hw = results["keras_sgns"], results["hogwild"]
    results["sgns_minus_hogwild_analogy_points"] = 100 * (sg.get("analogy_accuracy", 0) - hw.get("analogy_accuracy", 0))
    md = [f"| model ({args.epochs} epoch(s), {corpus.raw_words:,} words) | pairs/s | vs tutorial as written | analogy acc. | WordSim-353 |",
          "|---|---:|---:|---:|---:|"]
    for name, r in rows:
        acc = f"{100 * r['analogy_accuracy']:.1f}%" if "analogy_accuracy" in r else "n/a"
        ws = f"{r['wordsim353_spearman']:.3f}" if "wordsim353_spearman" in r else "n/a"
        md.append(f"| {name} | {fmt_rate(r['pairs_per_sec'])} | {r['ratio_vs_tutorial']:,.0f}x | {acc} | {ws} |")
    p = results["profile_sgns"]
    md.append("")
    md.append(f"sgns step profile ({p['batch_rows']:,} rows = {6 * p['batch_rows']:,} pairs): forward {p['forward_ms']:.0f} ms, "
              f"forward+backward {p['forward_backward_ms']:.0f} ms, update (whole step minus forward+backward, not timed alone) {p['update_ms']:.0f} ms, "
              f"whole step {p['full_step_ms']:.0f} ms. Gradients: {', '.join(sorted(set(p['gradient_types'])))}. "
              "Step time by vocabulary size (same batch): "
              + ", ".join(f"V={k:,}: {v:.0f} ms" for k, v in p["step_ms_by_vocab_size"].items()) + ".")
    md.append("The tutorial as written is too slow to finish an epoch, so it has no quality figures.")
    write_results("keras", results, "\n".join(md))
    bar_chart("keras", [n.replace("`", "") for n, _ in rows], [r["pairs_per_sec"] for _, r in rows], "pairs/s (log)",
              "Keras path, same run", annotate=[f"{fmt_rate(r['pairs_per_sec'])}\n{r['ratio_vs_tutorial']:,.0f}x"
                                                 for _, r in rows])


if __name__ == "__main__":
    main()
