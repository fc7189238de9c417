"""The Keras path: the tutorial as written against fastw2v's Keras models and Hogwild; the Keras step.

    python benchmarks/bench_keras.py [--corpus PATH] [--epochs 1] [--tutorial-steps 2000] [--quick]
    python benchmarks/bench_keras.py --profile [--repeats 3] [--end-to-end EPOCHS] [--quick]

The default run, in one process (the kept heap applied first, as the command line applies it
to a Keras run):

1. the tutorial as written: tf_keras ``skipgrams`` and one ``train_on_batch`` per pair,
   timed over ``--tutorial-steps`` steps (pair generation included);
2. fastw2v keras ``tutorial`` (flat pairs, 1 negative per positive);
3. fastw2v keras ``sgns`` (rows, 5 negatives), at its defaults;
4. fastw2v hogwild.

Pairs/s count positives and negatives alike. 2-4 train for the same number of epochs and
are evaluated (analogies, WordSim-353). Writes benchmarks/results/keras.{json,md,png}.

``--profile`` times the ``sgns`` step at its default batch, each contender in a process of
its own (``keras_step_child.py``) on the same real batches held in memory, ``--repeats``
times in alternating order: this tree on TensorFlow, on TensorFlow with glibc's own malloc
settings (``FASTW2V_KEEP_HEAP=0``: :func:`fastw2v.heap.keep_freed_heap` off), and on JAX.
Each child times ``model.fit`` fed as the trainer feeds it (each batch with its unique rows)
and fed plain rows; on TensorFlow also the trainer's own loop, a bare XLA step, and the
unique-row step stopped after each of its parts against the bytes each part must move at
the copy bandwidth measured in the same process; on JAX the model's stateless
``train_step`` jitted without ``fit``. ``--end-to-end EPOCHS`` then runs the command line
with the Keras defaults (``python -m fastw2v.train``) on TensorFlow and on JAX,
``--repeats`` times each in alternating order, after an untimed run of each on a
200k-word slice that fills the Numba cache. Writes benchmarks/results/keras_profile.*.

To time a step against another commit's, use ``scripts/ab_compare.py`` (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import (ROOT, bar_chart, default_corpus, eval_flags, fmt_rate, quality, report_scores,
                     slice_text, train_hogwild, write_results)

from fastw2v import Word2VecConfig, load_corpus
from fastw2v.heap import KEEP_HEAP_ENV


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


def profile_child(backend: str, corpus, batch: int, group: int, steps: int, rounds: int, extra_env=None) -> dict:
    """One run of ``keras_step_child.py`` on ``backend`` (a fresh process); its JSON line."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTW2V_CODE=str(ROOT), KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               **(extra_env or {}))
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("keras_step_child.py")), str(corpus), str(batch),
                        str(group), str(steps), str(rounds)], capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"profile child ({backend}) failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


HEAP_OFF = f"tensorflow, {KEEP_HEAP_ENV}=0"


def has_jax() -> bool:
    import importlib.util

    return importlib.util.find_spec("jax") is not None


def run_profile(path, batch: int, group: int, steps: int, rounds: int, repeats: int) -> dict:
    """The sgns step: TensorFlow, TensorFlow with glibc's malloc settings, and JAX, each in its own
    process, ``repeats`` times in alternating order; per contender the median of each timing."""
    contenders = [("tensorflow", "tensorflow", None), (HEAP_OFF, "tensorflow", {KEEP_HEAP_ENV: "0"})]
    if has_jax():
        contenders.append(("jax", "jax", None))
    runs = {name: [] for name, *_ in contenders}
    for r in range(repeats):
        for name, backend, env in (contenders if r % 2 == 0 else contenders[::-1]):
            out = profile_child(backend, path, batch, group, steps, rounds, env)
            runs[name].append(out)
            print(f"{name}: fit {out['fit_ms']:.1f} ms/step", flush=True)
    summary = {}
    for name, outs in runs.items():
        summary[name] = {k: float(np.median([o[k] for o in outs])) for k in outs[0] if k.endswith("_ms")}
        summary[name]["fit_ms_repeats"] = [o["fit_ms"] for o in outs]
        if "copy_gb_per_s" in outs[0]:
            summary[name]["copy_gb_per_s"] = float(np.median([o["copy_gb_per_s"] for o in outs]))
        summary[name]["unique_rows"] = [u for o in outs for u in o["unique_rows"]]
    return {"batch_rows": batch, "negative_group": group, "steps": steps, "rounds": rounds, "repeats": repeats,
            "profiles": summary}


def cli_backends(path, epochs: int, repeats: int, warm_up: Path) -> dict:
    """``python -m fastw2v.train`` with the Keras defaults on TensorFlow and on JAX, ``repeats``
    times in alternating order: the whole run as a user meets it. Each run's process wall
    time is kept beside its training time. Each backend first trains one epoch of
    ``warm_up`` (a small text file), untimed, so that the Numba cache is filled."""
    import json
    import os
    import subprocess
    import sys
    import tempfile

    backends = ["tensorflow"] + (["jax"] if has_jax() else [])
    runs = {b: [] for b in backends}
    tmp = Path(tempfile.mkdtemp(prefix="fastw2v-cli-"))

    def train(backend, corpus, n_epochs, report, *flags):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
        subprocess.run([sys.executable, "-m", "fastw2v.train", "--corpus", str(Path(corpus).resolve()), "--epochs",
                        str(n_epochs), "--quiet", "--report", str(report), *flags], env=env, cwd=ROOT,
                       check=True, timeout=7200)

    for b in backends:
        train(b, warm_up, 1, tmp / f"warm-{b}.json", "--no-cache")
    for r in range(repeats):
        for b in (backends if r % 2 == 0 else backends[::-1]):
            report = tmp / f"{b}-{r}.json"
            t0 = time.perf_counter()
            train(b, path, epochs, report, *eval_flags())
            wall = time.perf_counter() - t0
            rep = json.loads(report.read_text())
            analogy, wordsim = report_scores(rep)
            runs[b].append({**{k: rep.get(k) for k in ("words_per_sec", "pairs_per_sec", "train_seconds")},
                            "process_seconds": wall, "analogy_accuracy": analogy, "wordsim353_spearman": wordsim})
            print(f"command line, {b}: {rep['words_per_sec'] / 1e3:.0f}k words/s, {rep['train_seconds']:.1f} s "
                  f"training, {wall:.1f} s in all", flush=True)

    def median(key):
        return {b: float(np.median([x[key] for x in v])) for b, v in runs.items()}

    return {"corpus": str(path), "epochs": epochs, "repeats": repeats, "runs": runs,
            "median_words_per_sec": median("words_per_sec"), "median_pairs_per_sec": median("pairs_per_sec"),
            "median_train_seconds": median("train_seconds"), "median_process_seconds": median("process_seconds")}


LABELS = {"fit_ms": "`model.fit`, fed as the trainer feeds it (each batch's unique rows)",
          "loop_ms": "the trainer's own loop: NumPy batches into the compiled step (its default on one device)",
          "fit_occurrences_ms": "`model.fit`, plain rows (sums into `V` rows)",
          "bare_step_ms": "bare XLA step summing into `V` rows (no Keras)",
          "fit_4_steps_per_execution_ms": "`model.fit`, 4 steps per execution",
          "bare_step_device_batches_ms": "jitted `train_step`, state donated, batches on the device",
          "bare_step_numpy_batches_ms": "jitted `train_step`, state donated, numpy batches",
          "bare_step_no_donation_ms": "jitted `train_step`, no donation, batches on the device"}


def profile_markdown(p: dict) -> str:
    pairs = 6 * p["batch_rows"]
    md = [f"sgns step, {p['batch_rows']:,} rows ({pairs:,} pairs), negatives shared by {p['negative_group']} rows, "
          f"{p['steps']} real batches held in memory; each figure the median of {p['repeats']} processes in "
          f"alternating order, each the median of {p['rounds']} rounds:", "",
          "| backend | what | ms per step | pairs/s |", "|---|---|---:|---:|"]
    for name, prof in p["profiles"].items():
        for key, label in LABELS.items():
            if key in prof:
                md.append(f"| {name} | {label} | {prof[key]:.1f} | {fmt_rate(pairs / prof[key] * 1000)} |")
    md.append("")
    tf, heap_off, jax = (p["profiles"].get(k) for k in ("tensorflow", HEAP_OFF, "jax"))
    if tf and heap_off:
        md.append(f"TensorFlow, the kept heap / glibc's malloc settings (`{KEEP_HEAP_ENV}=0`): "
                  f"{tf['fit_ms'] / heap_off['fit_ms']:.2f}x the time per step (`model.fit`; per process: "
                  f"{', '.join(f'{x:.0f}' for x in tf['fit_ms_repeats'])} ms against "
                  f"{', '.join(f'{x:.0f}' for x in heap_off['fit_ms_repeats'])} ms).  ")
    if tf and jax:
        md.append(f"JAX / TensorFlow on this CPU (`model.fit`): {jax['fit_ms'] / tf['fit_ms']:.2f}x the time per step.  ")
    for name, prof in p["profiles"].items():
        if "loop_ms" in prof:  # alternating rounds in each process
            md.append(f"{name}, the trainer's own loop / `model.fit` through `tf.data` (alternating rounds in the "
                      f"same processes): {prof['loop_ms'] / prof['fit_ms']:.2f}x the time per step.  ")
    for name, prof in p["profiles"].items():
        if "fit_occurrences_ms" in prof:  # both timed in each process: robust to the machine's drift
            md.append(f"{name}, unique rows / plain rows (`model.fit`, the same processes): "
                      f"{prof['fit_ms'] / prof['fit_occurrences_ms']:.2f}x the time per step.  ")
    if tf and "xla_upto_update_ms" in tf:
        md += ["", breakdown_markdown(p, tf)]
    if p.get("end_to_end"):
        md += ["", end_to_end_markdown(p["end_to_end"])]
    return "\n".join(md)


def end_to_end_markdown(e2e: dict) -> str:
    """The command-line runs of :func:`cli_backends`: per backend its medians and runs, and the ratio."""
    md = [f"The command line with the Keras defaults, {e2e['epochs']} epoch(s) (`python -m fastw2v.train --corpus "
          f"CORPUS --epochs {e2e['epochs']}`), median of {e2e['repeats']} runs per backend in alternating order:", "",
          "| backend | raw words/s | pairs/s | each run's words/s | training s | whole process s | analogy | "
          "WordSim-353 |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for b, runs in e2e["runs"].items():
        acc = sorted({f"{100 * r['analogy_accuracy']:.1f}%" for r in runs if r.get("analogy_accuracy") is not None})
        ws = sorted({f"{r['wordsim353_spearman']:.3f}" for r in runs if r.get("wordsim353_spearman") is not None})
        md.append(f"| {b} | {fmt_rate(e2e['median_words_per_sec'][b])} | {fmt_rate(e2e['median_pairs_per_sec'][b])} | "
                  f"{', '.join(fmt_rate(r['words_per_sec']) for r in runs)} | {e2e['median_train_seconds'][b]:.1f} | "
                  f"{e2e['median_process_seconds'][b]:.1f} | {', '.join(acc) or 'n/a'} | {', '.join(ws) or 'n/a'} |")
    words = e2e["median_words_per_sec"]
    if "jax" in words and "tensorflow" in words:
        md.append(f"\nJAX / TensorFlow, end to end: {words['jax'] / words['tensorflow']:.2f}x the words/s.")
    return "\n".join(md)


def breakdown_markdown(p: dict, now: dict) -> str:
    """Where the unique-row XLA step's time goes, part by part, against the bytes each part
    must move at the copy bandwidth measured in the same process."""
    B, dim, G, k = p["batch_rows"], 100, p["negative_group"], 5
    uniq = np.median(np.array(now.get("unique_rows") or [[0, 0, 0, 0]]), axis=0)
    row = 4 * dim  # bytes of one float32 row
    n_out = B + -(-B // G) * k
    # bytes each part must at least read and write, once each, fused as far as the maths allows
    need = {"gathers": (2 * B + -(-B // G) * k) * row * 2,  # rows read from the tables, written gathered
            "gradients": (2 * B) * row * 2 + n_out * row,  # gathered rows read; per-occurrence gradients written
            "sums": (B + n_out) * row + (uniq[0] + uniq[2]) * row,  # gradients read, unique sums written
            "update": (uniq[0] + uniq[2]) * row * 3}  # sums read; table rows read and written
    gbs = now["copy_gb_per_s"]
    md = [f"TensorFlow, the unique-row step stopped after each part (bare XLA functions, median unique rows "
          f"{uniq[1]:,.0f} of `W_in`, {uniq[3]:,.0f} of `W_out`, padded to {uniq[0]:,.0f} and {uniq[2]:,.0f}); "
          f"memory floor at the {gbs:.1f} GB/s a NumPy copy moved in the same process:", "",
          "| part | ms | cumulative ms | MB it must move | floor ms | measured / floor |", "|---|---:|---:|---:|---:|---:|"]
    prev = 0.0
    labels = {"gathers": "gathers and logits", "gradients": "closed-form gradients",
              "sums": "per-row sums into the unique rows", "update": "row-wise Adagrad on those rows"}
    total_need = 0.0
    for name, label in labels.items():
        cum = now[f"xla_upto_{name}_ms"]
        floor = need[name] / gbs / 1e6
        total_need += need[name]
        md.append(f"| {label} | {cum - prev:.1f} | {cum:.1f} | {need[name] / 1e6:.0f} | {floor:.1f} | "
                  f"{(cum - prev) / floor:.1f}x |")
        prev = cum
    md.append(f"| whole step | | {prev:.1f} | {total_need / 1e6:.0f} | {total_need / gbs / 1e6:.1f} | "
              f"{prev / (total_need / gbs / 1e6):.1f}x |")
    return "\n".join(md)


def plot_profile(p: dict) -> None:
    names, values = [], []
    for name, prof in p["profiles"].items():
        for key, label in (("fit_ms", "fit"), ("loop_ms", "trainer's loop"), ("fit_occurrences_ms", "fit, plain rows"),
                           ("bare_step_ms", "bare step"), ("bare_step_device_batches_ms", "bare step")):
            if key in prof:
                names.append(f"{name}\n{label}")
                values.append(prof[key])
    bar_chart("keras_profile", names, values, "ms per step (lower is better)",
              f"Keras sgns step, {p['batch_rows']:,} rows, same run", log=False,
              annotate=[f"{v:.0f} ms" for v in values])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--epochs", type=int, default=1, help="epochs for the fastw2v models (default 1)")
    ap.add_argument("--tutorial-steps", type=int, default=2000)
    ap.add_argument("--quick", action="store_true",
                    help="a 3M-word slice and 300 tutorial steps; with --profile, 5 steps, 2 rounds, one process "
                         "each, and the command line on a 1M-word slice")
    ap.add_argument("--profile", action="store_true",
                    help="only the sgns step, each backend in processes of its own (writes results/keras_profile.*)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="with --profile: processes per contender, and command-line runs per backend (default 3)")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="EPOCHS",
                    help="with --profile: then the command line for EPOCHS epochs on TensorFlow and on JAX")
    args = ap.parse_args(argv)
    if args.end_to_end and not args.profile:
        ap.error("--end-to-end goes with --profile")
    path = args.corpus or default_corpus()
    if args.profile:
        run_profile_mode(path, args)
        return
    from fastw2v.heap import keep_freed_heap

    keep_freed_heap()  # as the command line does for a Keras run, before Keras starts
    vocab, corpus = load_corpus(path, min_count=5)
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
    base = results["tutorial_as_written"]["pairs_per_sec"]
    rows = [("tutorial as written (tf_keras, 1 pair/step)", results["tutorial_as_written"]),
            ("fastw2v keras `tutorial`", results["keras_tutorial"]),
            ("fastw2v keras `sgns`", results["keras_sgns"]),
            ("fastw2v hogwild", results["hogwild"])]
    for _, r in rows:
        r["ratio_vs_tutorial"] = r["pairs_per_sec"] / base
    md = [f"| model ({args.epochs} epoch(s), {corpus.raw_words:,} words) | pairs/s | vs tutorial as written | "
          "analogy acc. | WordSim-353 |", "|---|---:|---:|---:|---:|"]
    for name, r in rows:
        acc = f"{100 * r['analogy_accuracy']:.1f}%" if "analogy_accuracy" in r else "n/a"
        ws = f"{r['wordsim353_spearman']:.3f}" if "wordsim353_spearman" in r else "n/a"
        md.append(f"| {name} | {fmt_rate(r['pairs_per_sec'])} | {r['ratio_vs_tutorial']:,.0f}x | {acc} | {ws} |")
    md += ["", "The tutorial as written is too slow to finish an epoch, so it has no quality figures."]
    write_results("keras", results, "\n".join(md))
    bar_chart("keras", [n.replace("`", "") for n, _ in rows], [r["pairs_per_sec"] for _, r in rows], "pairs/s (log)",
              "Keras path, same run", annotate=[f"{fmt_rate(r['pairs_per_sec'])}\n{r['ratio_vs_tutorial']:,.0f}x"
                                                 for _, r in rows])


def run_profile_mode(path, args) -> None:
    """``--profile``: the step profile, then (``--end-to-end``) the command-line runs; keras_profile.*."""
    import tempfile

    from fastw2v import KerasOptions

    opts = KerasOptions().resolved("adagrad")
    quick = args.quick
    p = run_profile(path, opts.batch_size, opts.negative_group, 5 if quick else 20, 2 if quick else 5,
                    1 if quick else args.repeats)
    if args.end_to_end:
        vocab, corpus = load_corpus(path, min_count=5)  # fills the corpus cache before the timed runs
        work = Path(tempfile.mkdtemp(prefix="fastw2v-e2e-"))
        slice_text(corpus, vocab, 200_000, work / "warm.txt")
        target = path
        if quick:
            target = work / "slice.txt"
            slice_text(corpus, vocab, 1_000_000, target)
        p["end_to_end"] = cli_backends(target, 1 if quick else args.end_to_end, 1 if quick else args.repeats,
                                       work / "warm.txt")
    write_results("keras_profile", {"corpus": str(path), **p}, profile_markdown(p))
    plot_profile(p)


if __name__ == "__main__":
    main()
