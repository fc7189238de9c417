"""Keras path: the tutorial as written vs fastw2v's Keras models vs Hogwild, one run.

    python benchmarks/bench_keras.py [--corpus PATH] [--epochs 1] [--quick]
    python benchmarks/bench_keras.py --batch-sweep [--epochs 2] [--quick]
    python benchmarks/bench_keras.py --workers [--kills 10] [--quick]
    python benchmarks/bench_keras.py --profile [--before REV] [--repeats 3] [--end-to-end EPOCHS]
                                     [--end-to-end-repeats N] [--quick]
    python benchmarks/bench_keras.py --end-to-end EPOCHS [--before REV] [--repeats 3] [--name NAME]

1. The tutorial as written: tf_keras ``skipgrams`` + one ``train_on_batch`` per
   pair, timed over ``--tutorial-steps`` steps (pair generation included).
2. fastw2v keras ``tutorial`` (flat pairs, 1 negative per positive).
3. fastw2v keras ``sgns`` (rows, 5 negatives).
4. fastw2v hogwild.

Pairs/s count positives and negatives alike. 2-4 train for the same number of
epochs and are evaluated (analogies, WordSim-353). The sgns step through
``model.fit`` is timed beside a bare compiled step doing the same maths (as
``--profile`` does, one process). Writes benchmarks/results/keras.{json,md,png}.

``--batch-sweep`` trains sgns at 4k to 256k rows per step with row-wise Adagrad,
and with summed SGD at 64k rows, beside Hogwild (results/keras_sweep.*). ``--workers`` runs
``--strategy multiworker`` with 2 local worker processes against 1, then the cost of a
lost worker: a resume after a SIGKILL against the uninterrupted runs, and ``--kills``
SIGKILLs at random points of an epoch, timed from the kill to the survivor's exit, with
the work lost since the last checkpoint (results/keras_workers.*). ``--profile`` times the sgns step through ``model.fit`` in
separate processes (``keras_step_child.py``): this tree on TensorFlow and on JAX, this tree
on TensorFlow with glibc's own malloc settings (``FASTW2V_KEEP_HEAP=0``, which turns
``fastw2v.memory.keep_freed_heap`` off), and ``--before``'s tree (``git archive`` of REV)
on TensorFlow, alternating, each tree fed
as its trainer feeds it (this one: with each batch's unique rows), with JAX's step also
timed without ``fit``, this tree's step beside the one before d87225c (each occurrence's
row gathered from the whole table rather than from the batch's unique rows) in the same
processes, and TensorFlow's unique-row step stopped after each of its parts,
against the bytes each part must move (results/keras_profile.*). ``--end-to-end`` adds
whole command-line runs of the same contenders; without ``--profile`` it runs them alone
(results/keras_end_to_end.*), each contender first warmed on a 200k-word slice so that
its Numba cache is filled, and reports each run's training and whole-process seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (RESULTS, bar_chart, default_corpus, eval_files, eval_flags, fmt_rate, quality, report_scores,
                     slice_text, train_hogwild, write_results)

from fastw2v import Word2VecConfig, load_corpus
from fastw2v.memory import KEEP_HEAP_ENV


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


def profile_child(tree: Path, backend: str, corpus, batch: int, group: int, steps: int, rounds: int,
                  extra_env=None) -> dict:
    """One run of ``keras_step_child.py`` on ``tree``'s fastw2v and ``backend`` (a fresh process)."""
    import json as _json
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTW2V_CODE=str(tree), KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", **(extra_env or {}))
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("keras_step_child.py")), str(corpus), str(batch),
                        str(group), str(steps), str(rounds)], capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"profile child ({tree}, {backend}) failed:\n{r.stderr[-3000:]}")
    return _json.loads(r.stdout.strip().splitlines()[-1])


def unpack_tree(rev: str) -> Path:
    """``rev``'s files (``git archive``) in a temporary directory: the tree a profile compares against."""
    import subprocess
    import tempfile

    from _common import ROOT

    out = Path(tempfile.mkdtemp(prefix=f"fastw2v-{rev}-"))
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


HEAP_OFF = f"now, tensorflow, {KEEP_HEAP_ENV}=0"


def run_profile(path, before: str, batch: int, group: int, steps: int, rounds: int, repeats: int) -> dict:
    """The sgns step through ``fit``: ``before``'s tree on TensorFlow, this tree on TensorFlow and on
    JAX, each in its own process, ``repeats`` times in alternating order (median of medians)."""
    import importlib.util

    from _common import ROOT

    contenders = []
    if before:
        contenders.append((f"before ({before}), tensorflow", unpack_tree(before), "tensorflow", None))
    contenders.append(("now, tensorflow", ROOT, "tensorflow", None))
    # the same tree with malloc as glibc sets it (fastw2v.memory.keep_freed_heap turned off)
    contenders.append((HEAP_OFF, ROOT, "tensorflow", {KEEP_HEAP_ENV: "0"}))
    if importlib.util.find_spec("jax") is not None:
        contenders.append(("now, jax", ROOT, "jax", None))
    runs = {name: [] for name, *_ in contenders}
    for r in range(repeats):
        for name, tree, backend, env in (contenders if r % 2 == 0 else contenders[::-1]):
            out = profile_child(tree, backend, path, batch, group, steps, rounds, env)
            runs[name].append(out)
            print(f"{name}: fit {out['fit_ms']:.1f} ms/step", flush=True)
    summary = {}
    for name, outs in runs.items():
        keys = [k for k in outs[0] if k.endswith("_ms")]
        summary[name] = {k: float(np.median([o[k] for o in outs])) for k in keys}
        summary[name]["fit_ms_repeats"] = [o["fit_ms"] for o in outs]
        summary[name]["code"] = outs[0]["code"]
        if "copy_gb_per_s" in outs[0]:
            summary[name]["copy_gb_per_s"] = float(np.median([o["copy_gb_per_s"] for o in outs]))
        if "unique_rows" in outs[0]:
            summary[name]["unique_rows"] = [u for o in outs for u in o["unique_rows"]]
    return {"batch_rows": batch, "negative_group": group, "steps": steps, "rounds": rounds, "repeats": repeats,
            "before": before, "profiles": summary}


def cli_backends(path, epochs: int, repeats: int, before=None, warm_up=None) -> dict:
    """``python -m fastw2v.train`` with the Keras defaults: ``before``'s tree on TensorFlow (if
    given), this tree on TensorFlow and on JAX, ``repeats`` times in alternating order: the
    whole run as a user meets it (feed, step, callbacks). Each run's process wall time is
    kept beside its training time. ``warm_up`` (a small text file) is trained on for one
    epoch by each contender first, untimed, so that every tree's Numba cache is filled
    before its timed runs (an unpacked tree starts with none)."""
    import importlib.util
    import json as _json
    import os
    import subprocess
    import sys
    import tempfile

    from _common import ROOT

    contenders = [(f"before ({before}), tensorflow", unpack_tree(before), "tensorflow")] if before else []
    contenders.append(("now, tensorflow", ROOT, "tensorflow"))
    if importlib.util.find_spec("jax") is not None:
        contenders.append(("now, jax", ROOT, "jax"))
    runs = {name: [] for name, _, _ in contenders}
    tmp = Path(tempfile.mkdtemp(prefix="fastw2v-cli-"))
    evaluation = eval_flags()

    def train(tree, backend, corpus, n_epochs, report, *flags):
        # the tree's own fastw2v: it runs from that directory, which comes first on sys.path
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(tree))
        subprocess.run([sys.executable, "-m", "fastw2v.train", "--corpus", str(Path(corpus).resolve()), "--epochs",
                        str(n_epochs), "--quiet", "--report", str(report), *flags], env=env, cwd=tree,
                       check=True, timeout=7200)

    if warm_up is not None:
        for i, (name, tree, b) in enumerate(contenders):
            train(tree, b, warm_up, 1, tmp / f"warm-{i}.json", "--no-cache")
    for r in range(repeats):
        for i, (name, tree, b) in enumerate(contenders if r % 2 == 0 else contenders[::-1]):
            report = tmp / f"{i}-{r}.json"
            t0 = time.perf_counter()
            train(tree, b, path, epochs, report, *evaluation)
            wall = time.perf_counter() - t0
            rep = _json.loads(report.read_text())
            analogy, wordsim = report_scores(rep)
            runs[name].append({**{k: rep.get(k) for k in ("words_per_sec", "pairs_per_sec", "train_seconds",
                                                            "keras_backend")},
                               "process_seconds": wall, "analogy_accuracy": analogy, "wordsim353_spearman": wordsim})
            print(f"command line, {name}: {rep['words_per_sec'] / 1e3:.0f}k words/s, {rep['train_seconds']:.1f} s "
                  f"training, {wall:.1f} s in all", flush=True)
    return {"epochs": epochs, "repeats": repeats, "runs": runs,
            "median_words_per_sec": {n: float(np.median([x["words_per_sec"] for x in v])) for n, v in runs.items()},
            "median_train_seconds": {n: float(np.median([x["train_seconds"] for x in v])) for n, v in runs.items()},
            "median_process_seconds": {n: float(np.median([x["process_seconds"] for x in v]))
                                       for n, v in runs.items()}}


def profile_markdown(p: dict) -> str:
    pairs = 6 * p["batch_rows"]
    md = [f"sgns step, {p['batch_rows']:,} rows ({pairs:,} pairs), negatives shared by {p['negative_group']} rows, "
          f"{p['steps']} real batches held in memory; each figure the median of {p['repeats']} processes in "
          f"alternating order, each the median of {p['rounds']} rounds:", "",
          "| tree, backend | what | ms per step | pairs/s |", "|---|---|---:|---:|"]
    labels = {"fit_ms": "`model.fit` (the tree's step; its default path, except where the loop below is)",
              "fit_full_table_gathers_ms": "`model.fit`, the step before d87225c (rows gathered from the tables)",
              "loop_ms": "the trainer's own loop: NumPy batches into the compiled step (this tree's default)",
              "loop_full_table_gathers_ms": "the trainer's own loop, the step before d87225c",
              "fit_occurrences_ms": "`model.fit`, plain rows (sums into `V` rows)",
              "bare_step_ms": "bare XLA step summing into `V` rows (no Keras)",
              "fit_4_steps_per_execution_ms": "`model.fit`, 4 steps per execution",
              "bare_step_device_batches_ms": "jitted `train_step`, state donated, batches on the device",
              "bare_step_numpy_batches_ms": "jitted `train_step`, state donated, numpy batches",
              "bare_step_no_donation_ms": "jitted `train_step`, no donation, batches on the device"}
    for name, prof in p["profiles"].items():
        for key, label in labels.items():
            if key in prof:
                md.append(f"| {name} | {label} | {prof[key]:.1f} | {fmt_rate(pairs / prof[key] * 1000)} |")
    before = next((v for k, v in p["profiles"].items() if k.startswith("before")), None)
    now = p["profiles"].get("now, tensorflow")
    if before and now:
        md.append(f"\nTensorFlow, now / before (`model.fit`): {now['fit_ms'] / before['fit_ms']:.2f}x the time per step "
                  f"(per process, before: {', '.join(f'{x:.0f}' for x in before.get('fit_ms_repeats', []))} ms; now: "
                  f"{', '.join(f'{x:.0f}' for x in now.get('fit_ms_repeats', []))} ms).")
    heap_off = p["profiles"].get(HEAP_OFF)
    if heap_off and now:
        md.append(f"TensorFlow, now / the same tree with glibc's malloc settings (`{KEEP_HEAP_ENV}=0`): "
                  f"{now['fit_ms'] / heap_off['fit_ms']:.2f}x the time per step (`model.fit`).")
    jax_now = p["profiles"].get("now, jax")
    if jax_now and now:
        md.append(f"JAX / TensorFlow on this CPU (`model.fit`): {jax_now['fit_ms'] / now['fit_ms']:.2f}x the time per step.")
    for name, prof in p["profiles"].items():
        if "fit_full_table_gathers_ms" in prof:  # alternating rounds in each process
            md.append(f"{name}, rows gathered from the batch's unique rows / from the tables (`model.fit`, "
                      f"alternating rounds in the same processes): "
                      f"{prof['fit_ms'] / prof['fit_full_table_gathers_ms']:.2f}x the time per step.")
    for name, prof in p["profiles"].items():
        if "loop_ms" in prof:  # alternating rounds in each process
            md.append(f"{name}, the trainer's own loop / `model.fit` through `tf.data` (alternating rounds in the "
                      f"same processes): {prof['loop_ms'] / prof['fit_ms']:.2f}x the time per step; in that loop, "
                      f"rows gathered from the batch's unique rows / from the tables: "
                      f"{prof['loop_ms'] / prof['loop_full_table_gathers_ms']:.2f}x.")
    for name, prof in p["profiles"].items():
        if "fit_occurrences_ms" in prof:  # both timed in each process: robust to the machine's drift
            md.append(f"{name}, unique rows / plain rows (`model.fit`, the same processes): "
                      f"{prof['fit_ms'] / prof['fit_occurrences_ms']:.2f}x the time per step.")
    if now and "xla_upto_update_ms" in now:
        md += ["", breakdown_markdown(p, now)]
    e2e = p.get("end_to_end")
    if e2e:
        md += ["", end_to_end_markdown(e2e)]
    return "\n".join(md)


def end_to_end_markdown(e2e: dict) -> str:
    """The command-line runs of :func:`cli_backends`: per contender its runs, and the ratios."""
    md = []
    words = e2e["median_words_per_sec"]
    md += ["", f"The command line with the Keras defaults, {e2e['epochs']} epoch(s), whole run "
               f"(`python -m fastw2v.train --corpus CORPUS --epochs {e2e['epochs']}`), median of {e2e['repeats']} "
               "runs per backend in alternating order:", "",
           "| backend | raw words/s | runs | analogy | WordSim-353 |", "|---|---:|---|---:|---:|"]
    for b, runs in e2e["runs"].items():
        acc = [f"{100 * r['analogy_accuracy']:.1f}%" for r in runs if r.get("analogy_accuracy") is not None]
        ws = [f"{r['wordsim353_spearman']:.3f}" for r in runs if r.get("wordsim353_spearman") is not None]
        md.append(f"| {b} | {fmt_rate(words[b])} | {', '.join(fmt_rate(r['words_per_sec']) for r in runs)} | "
                  f"{', '.join(acc)} | {', '.join(ws)} |")
    before_e2e = next((k for k in words if k.startswith("before")), None)
    if before_e2e and "now, tensorflow" in words:
        secs = e2e.get("median_train_seconds", {})
        md.append(f"\nTensorFlow, now / before, end to end: {secs['now, tensorflow'] / secs[before_e2e]:.2f}x the "
                  f"training time ({words['now, tensorflow'] / words[before_e2e]:.2f}x the words/s).")
    if "now, jax" in words and "now, tensorflow" in words:
        md.append(f"JAX / TensorFlow, end to end: {words['now, jax'] / words['now, tensorflow']:.2f}x the words/s.")
    wall = e2e.get("median_process_seconds")
    if wall:
        md += ["", "| contender | training s, each run | whole process s, each run | median training s | "
                   "median process s |", "|---|---|---|---:|---:|"]
        for name, runs in e2e["runs"].items():
            train_s = ", ".join(f"{r['train_seconds']:.1f}" for r in runs)
            process_s = ", ".join(f"{r['process_seconds']:.1f}" for r in runs)
            md.append(f"| {name} | {train_s} | {process_s} | "
                      f"{e2e['median_train_seconds'][name]:.1f} | {wall[name]:.1f} |")
        if before_e2e and "now, tensorflow" in wall:
            ratio = wall["now, tensorflow"] / wall[before_e2e]
            md.append(f"\nTensorFlow, now / before, whole process: {ratio:.2f}x the seconds.")
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


def plot_profile(p: dict, results_name: str = "keras_profile") -> None:
    names, values = [], []
    for name, prof in p["profiles"].items():
        names.append(f"{name}\nfit")
        values.append(prof["fit_ms"])
        for key, label in (("loop_ms", "trainer's loop"), ("fit_full_table_gathers_ms", "fit, step before d87225c"),
                           ("fit_occurrences_ms", "fit, plain rows"), ("bare_step_ms", "bare step"),
                           ("bare_step_device_batches_ms", "bare step")):
            if key in prof:
                names.append(f"{name}\n{label}")
                values.append(prof[key])
    bar_chart(results_name, names, values, "ms per step (lower is better)",
              f"Keras sgns step, {p['batch_rows']:,} rows, same run", log=False,
              annotate=[f"{v:.0f} ms" for v in values])


def plot_end_to_end(e2e: dict, results_name: str) -> None:
    names, values = [], []
    for name in e2e["runs"]:
        for key, label in (("median_train_seconds", "training"), ("median_process_seconds", "whole process")):
            names.append(f"{name}\n{label}")
            values.append(e2e[key][name])
    bar_chart(results_name, names, values, "seconds (lower is better)",
              f"python -m fastw2v.train, Keras defaults, {e2e['epochs']} epoch(s): medians of {e2e['repeats']}",
              log=False, annotate=[f"{v:.0f} s" for v in values])


SWEEP_SIZES = (4096, 16384, 65536, 262144)


def train_keras(corpus, vocab, epochs: int, batch: int, optimizer: str = "adagrad", lr=None,
                negative_group=None) -> dict:
    """Train Keras sgns through KerasTrainer, as the command line does; quality, speed, divergence.

    Summed SGD past :data:`~fastw2v.config.SGD_MAX_BATCH` is refused by ``KerasOptions``;
    this sets such a batch anyway, to show what the limit is for.
    """
    from fastw2v import KerasOptions, TrainingDiverged
    from fastw2v.config import SGD_MAX_BATCH
    from fastw2v.keras_trainer import KerasTrainer

    past_limit = optimizer == "sgd" and batch > SGD_MAX_BATCH
    opts = KerasOptions("sgns", batch_size=SGD_MAX_BATCH if past_limit else batch, negative_group=negative_group)
    trainer = KerasTrainer(Word2VecConfig(epochs=epochs, seed=1, optimizer=optimizer, learning_rate=lr), vocab, opts)
    trainer.options = opts = dataclasses.replace(trainer.options, batch_size=batch)
    t0 = time.perf_counter()
    diverged = None
    try:
        trainer.fit(corpus)
    except TrainingDiverged as exc:
        diverged = str(exc)
    seconds = time.perf_counter() - t0
    out = {"batch_size": batch, "optimizer": optimizer, "learning_rate": trainer.learning_rates()[0],
           "final_learning_rate": trainer.learning_rates()[1], "negative_group": opts.negative_group,
           "epochs": epochs, "pairs_per_sec": trainer.pairs_done / seconds, "train_seconds": seconds,
           "diverged": diverged, "loss": [h["loss"] for h in trainer.history]}
    if diverged is None:
        out.update(quality(trainer.vectors))
    print(f"sgns {optimizer} batch {batch} group {opts.negative_group}: {out['pairs_per_sec'] / 1e6:.2f}M pairs/s, "
          f"analogy {out.get('analogy_accuracy')}, WS {out.get('wordsim353_spearman')}, diverged {bool(diverged)}",
          flush=True)
    return out


def run_batch_sweep(path, corpus, vocab, epochs: int) -> None:
    """Hogwild, row-wise Adagrad at each of SWEEP_SIZES (the default settings), at 65,536 rows
    with every row drawing its own negatives, and summed SGD at 65,536 rows (1 epoch, past its
    limit), one run."""
    model, seconds = train_hogwild(Word2VecConfig(epochs=epochs, threads=2, seed=1), corpus, vocab)
    runs = [train_keras(corpus, vocab, epochs, b) for b in SWEEP_SIZES[::-1]][::-1]
    runs.append(train_keras(corpus, vocab, epochs, 65536, negative_group=1))  # what sharing negatives costs
    runs.append(train_keras(corpus, vocab, 1, 65536, "sgd"))  # past its limit: why Adagrad is the default
    hogwild = {"words_per_sec": corpus.raw_words * epochs / seconds, "train_seconds": seconds,
               "pairs_per_sec": model.state.pairs_done * 6 / seconds, **quality(model.vectors)}
    results = {"corpus": str(path), "epochs": epochs, "corpus_words": corpus.raw_words, "runs": runs,
               "hogwild": hogwild}
    md = [f"| Keras sgns, {epochs} epochs, {corpus.raw_words:,} words | rows per step | pairs/s | analogy | "
          "WordSim-353 | diverged |", "|---|---:|---:|---:|---:|---|"]
    for r in runs:
        name = "row-wise Adagrad" if r["optimizer"] == "adagrad" else "summed SGD"
        acc = f"{100 * r['analogy_accuracy']:.1f}%" if "analogy_accuracy" in r else "n/a"
        ws = f"{r['wordsim353_spearman']:.3f}" if "wordsim353_spearman" in r else "n/a"
        name += f", lr {r['learning_rate']:g}" + (f", {r['epochs']} epoch" if r["epochs"] != epochs else "")
        if r["optimizer"] == "adagrad":
            name += (f", negatives shared by {r['negative_group']} rows" if r["negative_group"] > 1
                     else ", negatives per row")
        md.append(f"| {name} | {r['batch_size']:,} | {fmt_rate(r['pairs_per_sec'])} | "
                  f"{acc} | {ws} | {'yes' if r['diverged'] else 'no'} |")
    md.append(f"| Hogwild (same run), 2 threads | 1 pair at a time | {fmt_rate(hogwild['pairs_per_sec'])} | "
              f"{100 * hogwild.get('analogy_accuracy', 0):.1f}% | {hogwild.get('wordsim353_spearman', 0):.3f} | no |")
    write_results("keras_sweep", results, "\n".join(md))
    plot_sweep(results)


def parse_schedules(spec: str) -> list:
    """``"RATE:FINAL:START[:BATCH],..."`` as ``[(learning_rate, final_rate, decay_start, batch), ...]``;
    ``batch`` (rows a step) is None where the item leaves it out: the default batch."""
    schedules = []
    for item in spec.split(","):
        parts = item.strip().split(":")
        try:
            if len(parts) not in (3, 4):
                raise ValueError
            schedule = tuple(float(x) for x in parts[:3]) + (int(parts[3]) if len(parts) == 4 else None,)
        except ValueError:
            raise SystemExit(f"--schedules: {item!r} is not RATE:FINAL:START or RATE:FINAL:START:BATCH "
                             "(e.g. 0.25:0:0.75 or 0.3:0:0.75:131072)") from None
        if schedule[3] is not None and schedule[3] < 1:
            raise SystemExit(f"--schedules: {item!r} has a batch of {schedule[3]} rows; it needs at least 1")
        schedules.append(schedule)
    return schedules


def run_schedule_sweep(path, corpus, vocab, schedules, epochs_list, name: str) -> None:
    """Keras sgns, trained by ``KerasTrainer`` once per (schedule, epoch count): rate, the
    fraction it decays to, the share of the words before the decay starts, and the batch (the
    default where None). The runs are deterministic, so one run a point measures quality;
    their training times are taken one after another in this process, the schedules in turn
    at each epoch count, so a ratio of two of them drifts with the machine's state."""
    from fastw2v import KerasOptions
    from fastw2v.keras_trainer import KerasTrainer

    default_batch = KerasOptions().resolved("adagrad").batch_size
    runs = []
    for epochs in epochs_list:
        for rate, final, start, batch in schedules:
            batch = default_batch if batch is None else batch
            cfg = Word2VecConfig(epochs=epochs, seed=1, learning_rate=rate, final_rate=final, decay_start=start)
            trainer = KerasTrainer(cfg, vocab, KerasOptions("sgns", batch_size=batch))
            t0 = time.perf_counter()
            trainer.fit(corpus)
            seconds = time.perf_counter() - t0
            run = {"learning_rate": rate, "final_rate": final, "decay_start": start, "batch_rows": batch,
                   "epochs": epochs, "train_seconds": seconds, **quality(trainer.vectors)}
            runs.append(run)
            print(f"schedule {rate:g} -> {final:g} of it from {start:g}, {batch} rows a step, {epochs} epoch(s): "
                  f"{seconds:.0f} s, analogy {run.get('analogy_accuracy')}, WS {run.get('wordsim353_spearman')}",
                  flush=True)
    from fastw2v.config import DECAY_START_DEFAULTS, RATE_DEFAULTS

    default = RATE_DEFAULTS[("sgns", "adagrad")]
    default = (default["learning_rate"], default["final_rate"], DECAY_START_DEFAULTS[("sgns", "adagrad")],
               default_batch)
    results = {"corpus": str(path), "corpus_words": corpus.raw_words, "batch_rows": default_batch,
               "default": default, "runs": runs}
    md = [f"Keras sgns, row-wise Adagrad, {corpus.raw_words:,} words; one deterministic run a point (bold: "
          f"the default, {default_batch:,} rows a step); training seconds taken in turn in one process:", "",
          "| rate | decays to | from (share of the words) | rows a step | epochs | analogy | WordSim-353 | train s |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        bold = "**" if schedule_key(r) == default else ""
        decays = "constant" if r["final_rate"] == 1 else f"{r['final_rate']:g} x rate"
        start = "n/a" if r["final_rate"] == 1 else f"{r['decay_start']:g}"
        md.append(f"| {bold}{r['learning_rate']:g}{bold} | {decays} | {start} | {r['batch_rows']:,} | {r['epochs']} | "
                  f"{bold}{100 * r.get('analogy_accuracy', float('nan')):.1f}%{bold} | "
                  f"{bold}{r.get('wordsim353_spearman', float('nan')):.3f}{bold} | {r['train_seconds']:.0f} |")
    write_results(name, results, "\n".join(md))
    plot_schedules(results, name)


def schedule_key(run: dict) -> tuple:
    """A schedule sweep run's ``(rate, final rate, decay start, rows a step)``, the form of the
    results' ``default``."""
    return run["learning_rate"], run["final_rate"], run["decay_start"], run["batch_rows"]


def plot_schedules(results: dict, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    keys = sorted({schedule_key(r) for r in results["runs"]})
    default = tuple(results["default"])
    for key in keys:
        pts = sorted(((r["epochs"], r) for r in results["runs"] if schedule_key(r) == key),
                     key=lambda p: p[0])
        label = (f"{key[0]:g} constant" if key[1] == 1 else f"{key[0]:g} -> {key[1]:g} from {key[2]:g}") + \
            (f", {key[3]:,} rows" if key[3] != results["batch_rows"] else "") + (" (default)" if key == default else "")
        style = "o-" if len(pts) > 1 else "o"
        ax1.plot([e for e, _ in pts], [100 * r.get("analogy_accuracy", float("nan")) for _, r in pts], style,
                 label=label)
        ax2.plot([e for e, _ in pts], [r.get("wordsim353_spearman", float("nan")) for _, r in pts], style,
                 label=label)
    ax1.set_xlabel("epochs")
    ax1.set_ylabel("analogy %")
    ax2.set_xlabel("epochs")
    ax2.set_ylabel("WordSim-353 Spearman")
    ax1.legend(fontsize=7)
    fig.suptitle(f"Keras sgns: rate schedules, {results['batch_rows']:,} rows a step unless named (one run each)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=120)
    plt.close(fig)


def plot_sweep(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fastw2v.config import KERAS_MODEL_DEFAULTS, RATE_DEFAULTS

    default_lr = RATE_DEFAULTS[("sgns", "adagrad")]["learning_rate"]
    default_group = KERAS_MODEL_DEFAULTS["sgns"]["negative_group"]
    ada = [r for r in results["runs"] if r["optimizer"] == "adagrad" and r["learning_rate"] == default_lr
           and r.get("negative_group", 1) == default_group]
    per_row = [r for r in results["runs"] if r["optimizer"] == "adagrad" and r.get("negative_group", 1) == 1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    xs = [r["batch_size"] for r in ada]
    ax1.plot(xs, [r["pairs_per_sec"] / 1e6 for r in ada], "o-", label=f"negatives shared by {default_group} rows")
    ax1.plot([r["batch_size"] for r in per_row], [r["pairs_per_sec"] / 1e6 for r in per_row], "^", color="purple",
             label="negatives per row")
    ax1.legend(fontsize=7)
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("rows per step")
    ax1.set_ylabel("M pairs/s (end to end)")
    ax1.set_title("Keras sgns throughput", fontsize=10)
    ax2.plot(xs, [100 * r.get("analogy_accuracy", float("nan")) for r in ada], "o-", label="Adagrad: analogy %")
    ax2.plot([r["batch_size"] for r in per_row], [100 * r.get("analogy_accuracy", float("nan")) for r in per_row],
             "^", color="purple", label="Adagrad, negatives per row")
    ax2.axhline(100 * results["hogwild"].get("analogy_accuracy", 0), color="gray", ls="--", label="Hogwild: analogy %")
    for r in results["runs"]:
        if r["optimizer"] == "sgd":
            marker = "x" if r["diverged"] else "s"
            ax2.plot([r["batch_size"]], [100 * r.get("analogy_accuracy", 0)], marker, color="red",
                     label=f"summed SGD {r['batch_size']:,}" + (" (diverged)" if r["diverged"] else ""))
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("rows per step")
    ax2.set_ylabel(f"analogy accuracy, {results['epochs']} epochs (%)")
    ax2.legend(fontsize=7)
    ax2.set_title("Quality by batch size, same run", fontsize=10)
    fig.tight_layout()
    fig.savefig(RESULTS / "keras_sweep.png", dpi=110)
    plt.close(fig)


def _start_workers(n: int, args, tmp: Path, tag: str, workdirs=None):
    """``n`` local ``--strategy multiworker`` processes of ``python -m fastw2v.train args`` (one: the default
    strategy, a single machine's own way to train); their stderr in files."""
    import os
    import subprocess
    import sys

    from fastw2v.cluster import local_tf_configs

    configs, peer_port = local_tf_configs(n)
    procs = []
    for i, tf_config in enumerate(configs):
        wd = workdirs[i] if workdirs else tmp / f"{tag}-w{i}"
        wd.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TF_CONFIG=tf_config, FASTW2V_CACHE=str(tmp / f"cache{i}"), TF_CPP_MIN_LOG_LEVEL="2",
                   CUDA_VISIBLE_DEVICES="")
        cluster = ["--strategy", "multiworker", "--peer-port", str(peer_port)] if n > 1 else []
        procs.append(subprocess.Popen([sys.executable, "-m", "fastw2v.train", *cluster, "--quiet", *map(str, args)],
                                      cwd=wd, env=env,
                                      stdout=subprocess.DEVNULL, stderr=open(wd / f"stderr-{time.time():.0f}.txt", "w")))
    return procs


def _wait_all(procs, timeout: float):
    """Exit codes of ``procs``, each killed if the whole wait passes ``timeout`` seconds (None for those)."""
    deadline = time.perf_counter() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(1.0, deadline - time.perf_counter())))
        except Exception:
            p.kill()
            p.wait()
            codes.append(None)
    return codes


def _wait_for(path: Path, procs, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not path.exists():
        if time.perf_counter() > deadline or any(p.poll() is not None for p in procs):
            return False
        time.sleep(0.1)
    return True


def _kill_and_wait(procs, victim: int, checkpoint: Path, delay: float, peer_timeout: float) -> dict:
    """SIGKILL worker ``victim`` ``delay`` s after the chief's first checkpoint; how the others ended."""
    import json as _json
    import signal

    if not _wait_for(checkpoint, procs, 900):
        codes = _wait_all(procs, 60)
        raise RuntimeError(f"no checkpoint appeared before the workers ended ({codes})")
    time.sleep(delay)
    state = _json.loads(checkpoint.read_text()).get("state", {})
    t_kill = time.perf_counter()
    lost_work = time.time() - checkpoint.stat().st_mtime
    procs[victim].send_signal(signal.SIGKILL)
    others = [p for i, p in enumerate(procs) if i != victim]
    codes = _wait_all(others, peer_timeout + 120)
    exit_seconds = time.perf_counter() - t_kill
    procs[victim].wait()
    return {"victim": victim, "delay": delay, "survivor_codes": codes, "seconds_to_exit": exit_seconds,
            "work_lost_seconds": lost_work, "checkpoint_at": {"epoch": state.get("epoch"),
                                                              "batch": state.get("skip_batches")}}


def run_workers(path, corpus, vocab, words: int, epochs: int, kills: int, kill_words: int) -> None:
    """``--strategy multiworker`` on local processes: throughput, the cost of a lost worker, resume."""
    import json as _json
    import os
    import random
    import tempfile

    from fastw2v.cli import EXIT_PEER_LOST

    tmp = Path(tempfile.mkdtemp(prefix="fastw2v-workers-"))
    text = tmp / "slice.txt"
    head = slice_text(corpus, vocab, words, text)
    analogies = str(eval_files()[0])
    peer_timeout = 60.0

    def launch(n, tag, extra=(), workdirs=None):
        args = ["--corpus", text, "--epochs", epochs, "--report", "r.json", "--eval-analogies", analogies, *extra]
        t0 = time.perf_counter()
        codes = _wait_all(_start_workers(n, args, tmp, tag, workdirs), 3600)
        wall = time.perf_counter() - t0
        report = _json.loads(((workdirs[0] if workdirs else tmp / f"{tag}-w0") / "r.json").read_text())
        out = {"workers": n, "exit_codes": codes, "wall_seconds": wall, "train_seconds": report["train_seconds"],
               "pairs_per_sec_chief": report["pairs_per_sec"],
               "cluster_pairs_per_sec": report["pairs_trained"] / report["train_seconds"],
               "pairs_trained": report["pairs_trained"], "pairs_trained_total": report["pairs_trained_total"],
               "analogy_accuracy": report.get("evaluation", {}).get("analogies", {}).get("accuracy")}
        print(f"{tag}: {out}", flush=True)
        return out

    runs = [launch(1, "one-a"), launch(2, "two-a"), launch(1, "one-b"), launch(2, "two-b")]
    results = {"corpus": str(path), "words": head.raw_words, "epochs": epochs, "runs": runs}
    one = float(np.median([r["cluster_pairs_per_sec"] for r in runs if r["workers"] == 1]))
    two = float(np.median([r["cluster_pairs_per_sec"] for r in runs if r["workers"] == 2]))
    results["two_over_one"] = two / one

    # resume after a kill, on the same slice: killed mid-epoch, restarted, against the uninterrupted runs
    rng = random.Random(0)
    train_two = float(np.median([r["train_seconds"] for r in runs if r["workers"] == 2]))
    dirs = [tmp / "resume-w0", tmp / "resume-w1"]
    ck = dirs[0] / "ck"
    # a checkpoint about every sixth of the run, the kill in its first half after the first one
    resume_args = ["--checkpoint-dir", ck, "--checkpoint-every", round(max(2.0, train_two / 6), 1)]
    procs = _start_workers(2, ["--corpus", text, "--epochs", epochs, *resume_args], tmp, "resume", dirs)
    killed = _kill_and_wait(procs, 1, ck / "checkpoint.json", rng.uniform(0, train_two / 2), peer_timeout)
    resumed = launch(2, "resume", [*resume_args, "--resume"], dirs)
    whole = [r for r in runs if r["workers"] == 2]
    results["resume"] = {"killed": killed, "resumed": resumed,
                         "analogy_points_vs_uninterrupted": [100 * (resumed["analogy_accuracy"] - r["analogy_accuracy"])
                                                             for r in whole],
                         "pairs_equal_uninterrupted": all(resumed["pairs_trained_total"] == r["pairs_trained_total"]
                                                          for r in whole)}

    # the cost of a failure: kills at random points of an epoch on a smaller slice, victims alternating
    kill_text = tmp / "kill-slice.txt"
    kill_head = slice_text(corpus, vocab, kill_words, kill_text)
    trials = []
    train_kill = train_two * kill_head.raw_words / head.raw_words / epochs  # one epoch of the smaller slice
    every = round(max(2.0, train_kill / 6), 1)
    for k in range(kills):
        kdir = tmp / f"kill{k}"
        args = ["--corpus", kill_text, "--epochs", 1, "--checkpoint-dir", kdir / "ck", "--checkpoint-every", every,
                "--peer-timeout", peer_timeout]
        procs = _start_workers(2, args, tmp, f"kill{k}")
        trial = _kill_and_wait(procs, k % 2, kdir / "ck" / "checkpoint.json", rng.uniform(0, train_kill * 0.7),
                               peer_timeout)
        trial["ended_in_bound"] = (all(c == EXIT_PEER_LOST for c in trial["survivor_codes"])
                                   and trial["seconds_to_exit"] <= peer_timeout + 30)
        print(f"kill {k}: {trial}", flush=True)
        trials.append(trial)
    exits = [t["seconds_to_exit"] for t in trials]
    lost = [t["work_lost_seconds"] for t in trials]
    results["failures"] = {"words": kill_head.raw_words, "peer_timeout": peer_timeout, "checkpoint_every": every,
                           "trials": trials, "all_in_bound": all(t["ended_in_bound"] for t in trials),
                           "seconds_to_exit": _spread(exits), "work_lost_seconds": _spread(lost)}
    write_results("keras_workers", results, workers_markdown(results, os.cpu_count()))


def _spread(values) -> dict:
    return {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}


def workers_markdown(results: dict, cores) -> str:
    md = [f"| --strategy multiworker, localhost, {results['words']:,} words, {results['epochs']} epoch(s) "
          "| pairs/s (all workers) | pairs trained | train s | wall s | analogy |", "|---|---:|---:|---:|---:|---:|"]
    for r in results["runs"]:
        acc = f"{100 * r['analogy_accuracy']:.1f}%" if r["analogy_accuracy"] is not None else "n/a"
        md.append(f"| {r['workers']} worker(s) | {fmt_rate(r['cluster_pairs_per_sec'])} | {r['pairs_trained']:,} | "
                  f"{r['train_seconds']:.0f} | {r['wall_seconds']:.0f} | {acc} |")
    md.append(f"\n2 workers / 1 worker (median pairs/s): {results['two_over_one']:.2f}x on this {cores}-core machine, "
              "where both workers share the same cores.")
    res = results["resume"]
    k = res["killed"]
    md.append(f"\nResume: worker 1 SIGKILLed {k['delay']:.1f} s after the chief's first checkpoint (checkpoint at "
              f"epoch {k['checkpoint_at']['epoch'] + 1}, batch {k['checkpoint_at']['batch']}); worker 0 exited with "
              f"{k['survivor_codes']} after {k['seconds_to_exit']:.1f} s; both restarted with --resume: analogy "
              f"{100 * res['resumed']['analogy_accuracy']:.1f}%, "
              + ", ".join(f"{d:+.2f}" for d in res["analogy_points_vs_uninterrupted"])
              + " points against the uninterrupted 2-worker runs; pairs trained across the two runs "
              + ("equal" if res["pairs_equal_uninterrupted"] else "DIFFER from")
              + f" the uninterrupted runs' ({res['resumed']['pairs_trained_total']:,}).")
    f = results["failures"]
    md.append(f"\n| a lost worker, {len(f['trials'])} SIGKILLs at random points ({f['words']:,}-word slice, "
              f"--peer-timeout {f['peer_timeout']:g}, --checkpoint-every {f['checkpoint_every']}) | min | median | max |")
    md.append("|---|---:|---:|---:|")
    for key, name in (("seconds_to_exit", "kill to the survivor's exit (s)"),
                      ("work_lost_seconds", "work lost: seconds since the last checkpoint")):
        v = f[key]
        md.append(f"| {name} | {v['min']:.2f} | {v['median']:.2f} | {v['max']:.2f} |")
    md.append(f"\nEvery survivor exited with the lost-worker status (4) within --peer-timeout + 30 s: "
              f"{'yes' if f['all_in_bound'] else 'NO'} ({sum(t['ended_in_bound'] for t in f['trials'])} of "
              f"{len(f['trials'])}; victims alternate between worker 1 and the chief).")
    return "\n".join(md)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs for the fastw2v models (default 1; 2 with --batch-sweep)")
    ap.add_argument("--tutorial-steps", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="a 3M-word slice and 300 tutorial steps")
    ap.add_argument("--batch-sweep", action="store_true",
                    help="sgns with row-wise Adagrad at 4k, 16k, 64k and 256k rows per step and summed SGD, "
                         "trained for --epochs (default 2 here) beside Hogwild (writes results/keras_sweep.*)")
    ap.add_argument("--profile", action="store_true",
                    help="only the sgns step through model.fit, in separate processes: this tree on TensorFlow and "
                         "on JAX, and --before's tree on TensorFlow (writes results/keras_profile.*)")
    ap.add_argument("--before", default=None, metavar="REV",
                    help="with --profile: the git revision to time beside this tree")
    ap.add_argument("--repeats", type=int, default=3, help="with --profile: processes per contender")
    ap.add_argument("--name", default=None, metavar="NAME",
                    help="with --profile or --schedules: write results/NAME.* (default keras_profile, "
                         "keras_schedule)")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="EPOCHS",
                    help="run the command line for EPOCHS epochs: --before's tree on TensorFlow, this tree on "
                         "TensorFlow and on JAX, in alternating order; with --profile, after the step profile, "
                         "otherwise alone (writes results/NAME.*, default keras_end_to_end)")
    ap.add_argument("--end-to-end-repeats", type=int, default=None, metavar="N",
                    help="with --end-to-end: runs per contender (default --repeats)")
    ap.add_argument("--schedules", default=None, metavar="RATE:FINAL:START[:BATCH],...",
                    help="sgns with each rate schedule (rate, the fraction of it the rate decays to, the share "
                         "of the words before the decay starts, and optionally the rows a step, by default the "
                         "default batch), for each of "
                         "--schedule-epochs (writes results/NAME.*, NAME from --name, default keras_schedule)")
    ap.add_argument("--schedule-epochs", default="2", metavar="E,...",
                    help="with --schedules: the epoch counts, each a run of its own (default 2)")
    ap.add_argument("--workers", action="store_true",
                    help="--strategy multiworker on local processes: 2 workers against 1 on a slice, a resume after "
                         "a SIGKILL against the uninterrupted runs, and --kills lost workers at random points "
                         "(writes results/keras_workers.*)")
    ap.add_argument("--kills", type=int, default=10, help="with --workers: lost workers to time")
    args = ap.parse_args(argv)
    args.epochs_given = args.epochs is not None
    args.epochs = args.epochs or 1
    path = args.corpus or default_corpus()
    vocab, corpus = load_corpus(path, min_count=5)
    if args.batch_sweep:
        if args.quick:
            corpus = corpus.head(3_000_000)
        run_batch_sweep(path, corpus, vocab, args.epochs if args.epochs_given else 2)
        return
    if args.schedules:
        epochs_list = [int(x) for x in args.schedule_epochs.split(",")]
        run_schedule_sweep(path, corpus, vocab, parse_schedules(args.schedules), epochs_list,
                           args.name or "keras_schedule")
        return
    if args.workers:
        run_workers(path, corpus, vocab, 300_000 if args.quick else 3_000_000, args.epochs,
                    2 if args.quick else args.kills, 300_000 if args.quick else 1_000_000)
        return
    if args.end_to_end and not args.profile:
        warm = Path(tempfile.mkdtemp(prefix="fastw2v-warm-")) / "warm.txt"
        slice_text(corpus, vocab, 200_000, warm)
        e2e = cli_backends(path, args.end_to_end, 1 if args.quick else (args.end_to_end_repeats or args.repeats),
                           args.before, warm_up=warm)
        name = args.name or "keras_end_to_end"
        write_results(name, {"corpus": str(path), "end_to_end": e2e}, end_to_end_markdown(e2e).strip() + "\n")
        plot_end_to_end(e2e, name)
        return
    if args.profile:
        from fastw2v import KerasOptions

        p = run_profile(path, args.before, KerasOptions().resolved("adagrad").batch_size, KerasOptions().resolved("adagrad").negative_group,
                        5 if args.quick else 20, 2 if args.quick else 5, 1 if args.quick else args.repeats)
        if args.end_to_end:
            p["end_to_end"] = cli_backends(path, args.end_to_end, 1 if args.quick else
                                           (args.end_to_end_repeats or args.repeats), args.before)
        name = args.name or "keras_profile"
        write_results(name, {"corpus": str(path), **p}, profile_markdown(p))
        plot_profile(p, name)
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

    results["profile_sgns"] = run_profile(path, None, KerasOptions().resolved("adagrad").batch_size, KerasOptions().resolved("adagrad").negative_group, 20, 5, 1)
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
    md.append("")
    md.append(profile_markdown(results["profile_sgns"]))
    md.append("The tutorial as written is too slow to finish an epoch, so it has no quality figures.")
    write_results("keras", results, "\n".join(md))
    bar_chart("keras", [n.replace("`", "") for n, _ in rows], [r["pairs_per_sec"] for _, r in rows], "pairs/s (log)",
              "Keras path, same run", annotate=[f"{fmt_rate(r['pairs_per_sec'])}\n{r['ratio_vs_tutorial']:,.0f}x"
                                                 for _, r in rows])


if __name__ == "__main__":
    main()
