"""Keras sgns on one GPU (JAX backend) against Hogwild on the same machine's CPU cores, in one run.

    KERAS_BACKEND=jax python benchmarks/bench_gpu.py [--corpus PATH] [--out DIR] [--quick]

On the lent GPU machine this is one command, ``bash scripts/gpu_bench.sh``, after
``bash scripts/gpu_wheels.sh`` has put the wheels that machine lacks (keras, namex,
optree) and the data into ignored folders here (benchmarks/README.md's "Keras on a GPU").
It also runs on a CPU, slowly; ``--quick`` takes a 1M-word slice and small batches,
to check the script itself.

Sections, in order; each is written to results/gpu.json as it ends, and one that fails
is recorded with its error while the run goes on:

1. ``generator``: the pair generator alone on every core, one epoch cut into batches
   with their unique rows, as the trainer's feed does (rows/s, and raw corpus words/s at
   that rate);
2. ``h2d``: host-to-device copy of one batch (GB/s);
3. ``step``: the GPU step alone, the model's own jitted ``train_step`` with the state
   donated, on batches already on the device, at each batch size; ``step_plain_rows``:
   the same on plain rows, which sum into ``V`` rows (the step before unique rows), so
   that the unique-row step is seen not to be slower on a GPU;
4. ``fit_overhead``: ``model.fit`` over the same batches held in host memory; the
   difference to the step is the Python, conversion and copy time per step;
5. ``keras``: end to end, ``KerasTrainer.fit`` on the corpus as the command line runs
   it, for 2 and 5 epochs at each batch size, with the analogy and WordSim-353 scores;
6. ``hogwild``: Hogwild at its defaults (row-wise Adagrad) on every core, 2 and 5 epochs.

The summary says, at each batch size, whether the generator or the step bounds the
end-to-end rate, and checks the targets of the backend issue (20M raw words/s at 5
epochs; the step alone at least 3x end to end; 2-epoch quality against Hogwild's).
Writes results/gpu.{json,md,png}, and copies them to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
import traceback
from pathlib import Path

from _common import RESULTS, bar_chart, default_corpus, fmt_rate, quality, train_hogwild, write_results

from fastw2v import KerasOptions, Word2VecConfig, load_corpus

BATCHES = (65536, 262144, 1048576)
QUICK_BATCHES = (4096, 16384)
TARGET_WORDS_PER_SEC = 20e6


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def held_batches(vocab, corpus, batch: int, n: int, threads: int, unique: bool = True):
    """The first ``n`` batches of ``batch`` rows of epoch 0, as numpy arrays: each the step's
    ``x``, with its unique rows per table as the trainer feeds it (``unique``), or plain rows."""
    from fastw2v.pairs import PairGenerator

    prepare = _feed_prepare(vocab, batch)
    out = []
    for t, c in PairGenerator(vocab, seed=1, threads=threads).batches(corpus, batch):
        if t.shape[0] < batch:
            break
        out.append(prepare(t, c) if unique else (t, c))
        if len(out) == n:
            break
    return out


def _feed_prepare(vocab, batch: int):
    """The trainer's ``prepare`` for an EpochFeed: each batch with its unique rows."""
    from fastw2v.segments import RowSets, sgns_segments

    sets, group = RowSets(len(vocab)), KerasOptions(batch_size=batch).resolved("adagrad").negative_group
    return lambda t, c: sgns_segments(sets, t, c, group, 5)


def words_per_row(vocab, corpus, threads: int) -> float:
    from fastw2v.pairs import PairGenerator

    return corpus.raw_words / PairGenerator(vocab, seed=1, threads=threads).rows_in_epoch(corpus, 0)


def generator_alone(vocab, corpus, batches, threads: int) -> dict:
    """One epoch of batches from an EpochFeed (the training feed) on ``threads`` threads, nothing consuming."""
    from fastw2v.feed import EpochFeed
    from fastw2v.pairs import PairGenerator

    out = {}
    for batch in batches:
        feed = EpochFeed(PairGenerator(vocab, seed=1, threads=threads), corpus, "rows", batch, 0,
                         prepare=_feed_prepare(vocab, batch))
        t0 = time.perf_counter()
        for _ in feed:
            pass
        seconds = time.perf_counter() - t0
        out[str(batch)] = {"rows_per_sec": feed.rows / seconds, "words_per_sec": corpus.raw_words / seconds,
                           "pairs_per_sec": 6 * feed.rows / seconds, "seconds": seconds, "threads": threads}
        print(f"generator, {batch:,} rows: {fmt_rate(corpus.raw_words / seconds)} words/s", flush=True)
    return out


def host_to_device(vocab, corpus, batches, threads: int) -> dict:
    import jax

    out = {}
    for batch in batches:
        x = held_batches(vocab, corpus, batch, 1, threads)[0]
        nbytes = sum(a.nbytes for a in x)
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            jax.block_until_ready(jax.device_put(x))
            times.append(time.perf_counter() - t0)
        seconds = statistics.median(times)
        out[str(batch)] = {"seconds": seconds, "bytes": nbytes,
                           "gb_per_sec": nbytes / seconds / 1e9, "device": str(jax.devices()[0])}
        print(f"host to device, {batch:,} rows: {out[str(batch)]['gb_per_sec']:.2f} GB/s", flush=True)
    return out


def _model(vocab, batch: int):
    from fastw2v.keras_models import build_sgns

    o = KerasOptions(batch_size=batch).resolved("adagrad")
    rate = Word2VecConfig().for_trainer("sgns").learning_rate
    return build_sgns(len(vocab), 100, 5, alpha=rate, min_alpha=rate, words_per_step=1,
                      total_words=1e15, negative_group=o.negative_group)


def step_alone(vocab, corpus, batches, threads: int, steps: int, wpr: float, unique: bool = True) -> dict:
    """The jitted, donated ``train_step`` on batches held on the device (median ms per step of 3
    rounds): with each batch's unique rows as the trainer feeds them, or (``unique`` False) plain
    rows, which sum into ``V`` rows (the step before unique rows)."""
    import jax

    out = {}
    for batch in batches:
        data = held_batches(vocab, corpus, batch, steps, threads, unique)
        m = _model(vocab, batch)
        m.optimizer.build(m.trainable_variables)
        state = ([v.value for v in m.trainable_variables], [v.value for v in m.non_trainable_variables],
                 [v.value for v in m.optimizer.variables], [v.value for v in m.metrics_variables])
        on_device = [(tuple(jax.device_put(a) for a in x),) for x in data]
        step = jax.jit(m.train_step, donate_argnums=(0,))
        times = []
        for r in range(4):  # the first round compiles
            t0 = time.perf_counter()
            for d in on_device:
                _, state = step(state, d)
            jax.block_until_ready(state)
            if r:
                times.append((time.perf_counter() - t0) / len(on_device))
        ms = 1000 * statistics.median(times)
        rows = batch / ms * 1000
        out[str(batch)] = {"ms_per_step": ms, "steps": len(on_device), "rows_per_sec": rows,
                           "pairs_per_sec": 6 * rows, "words_per_sec": rows * wpr}
        print(f"step alone{'' if unique else ', plain rows'}, {batch:,} rows: {ms:.2f} ms, "
              f"{fmt_rate(rows * wpr)} words/s", flush=True)
    return out


def fit_overhead(vocab, corpus, batches, threads: int, steps: int, step: dict) -> dict:
    """``model.fit`` over batches held in host memory: its ms per step, less the step's own."""
    out = {}
    for batch in batches:
        data = held_batches(vocab, corpus, batch, steps, threads)
        m = _model(vocab, batch)
        times = []
        for r in range(4):
            t0 = time.perf_counter()
            m.fit(((x,) for x in data), epochs=1, verbose=0, shuffle=False)
            if r:
                times.append((time.perf_counter() - t0) / len(data))
        ms = 1000 * statistics.median(times)
        alone = step.get(str(batch), {}).get("ms_per_step")
        out[str(batch)] = {"fit_ms_per_step": ms, "step_ms_per_step": alone,
                           "python_and_copy_ms_per_step": None if alone is None else ms - alone}
        print(f"fit over held batches, {batch:,} rows: {ms:.2f} ms per step", flush=True)
    return out


def keras_end_to_end(vocab, corpus, batch: int, epochs: int, threads: int, steps_per_execution: int = 1) -> dict:
    """``KerasTrainer.fit`` as the command line runs it; whole-fit and after-the-first-epoch rates."""
    from fastw2v.keras_trainer import KerasTrainer

    cfg = Word2VecConfig(epochs=epochs, seed=1, threads=threads)
    trainer = KerasTrainer(cfg, vocab, KerasOptions(batch_size=batch, steps_per_execution=steps_per_execution))
    ends = []
    t0 = time.perf_counter()
    trainer.fit(corpus, on_epoch_end=lambda tr, rec: ends.append(time.perf_counter()))
    seconds = time.perf_counter() - t0
    out = {"batch_size": batch, "epochs": epochs, "steps_per_execution": steps_per_execution, "train_seconds": seconds,
           "words_per_sec": corpus.raw_words * epochs / seconds, "pairs_per_sec": trainer.pairs_done / seconds,
           "epoch_end_seconds": [e - t0 for e in ends], "loss": [h["loss"] for h in trainer.history]}
    if len(ends) > 1:  # without the first epoch, which holds the compilation
        out["words_per_sec_after_first_epoch"] = corpus.raw_words * (len(ends) - 1) / (ends[-1] - ends[0])
    out.update(quality(trainer.vectors))
    print(f"keras sgns, {batch:,} rows, {epochs} epochs: {fmt_rate(out['words_per_sec'])} words/s, analogy "
          f"{out.get('analogy_accuracy')}, WordSim {out.get('wordsim353_spearman')}", flush=True)
    return out


def hogwild(vocab, corpus, epochs: int, threads: int) -> dict:
    cfg = Word2VecConfig(epochs=epochs, seed=1, threads=threads)
    model, seconds = train_hogwild(cfg, corpus, vocab)
    out = {"epochs": epochs, "threads": threads, "train_seconds": seconds,
           "words_per_sec": corpus.raw_words * epochs / seconds, "pairs_per_sec": model.state.pairs_done * 6 / seconds,
           **quality(model.vectors)}
    print(f"hogwild, {threads} threads, {epochs} epochs: {fmt_rate(out['words_per_sec'])} words/s, analogy "
          f"{out.get('analogy_accuracy')}", flush=True)
    return out


def summarize(r: dict, batches, epochs) -> dict:
    """Bounds and targets from the sections that ran."""
    s = {}
    gen, step, runs = r.get("generator", {}), r.get("step", {}), r.get("keras", {})
    hog2 = r.get("hogwild", {}).get("2", {})
    for b in map(str, batches):
        row = {}
        if "words_per_sec" in gen.get(b, {}) and "words_per_sec" in step.get(b, {}):
            row["bound"] = "generator" if gen[b]["words_per_sec"] < step[b]["words_per_sec"] else "step"
        last = runs.get(f"{b}x{max(epochs)}", {})
        if "words_per_sec" in last:
            row["end_to_end_words_per_sec"] = last["words_per_sec"]
            row["meets_20M_words_per_sec"] = last["words_per_sec"] >= TARGET_WORDS_PER_SEC
            if "words_per_sec" in step.get(b, {}):
                row["step_over_end_to_end"] = step[b]["words_per_sec"] / last["words_per_sec"]
        two = runs.get(f"{b}x{min(epochs)}", {})
        if "analogy_accuracy" in two and "analogy_accuracy" in hog2:
            row["analogy_minus_hogwild_2_epochs"] = two["analogy_accuracy"] - hog2["analogy_accuracy"]
            row["wordsim_minus_hogwild_2_epochs"] = two.get("wordsim353_spearman", 0) - hog2.get("wordsim353_spearman", 0)
        s[b] = row
    return s


def markdown(r: dict, batches, epochs) -> str:
    dev = r.get("devices", ["?"])
    md = [f"Keras sgns on {dev[0]} (JAX {r.get('jax_version')}), {r['corpus_words']:,} words; Hogwild on "
          f"{r['threads']} CPU threads of the same machine; one run.", "",
          "| system | rows per step | epochs | words/s (end to end) | after epoch 1 | pairs/s | analogy | WordSim-353 |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, run in r.get("keras", {}).items():
        if "words_per_sec" not in run:
            md.append(f"| Keras sgns | {key} | | failed: {run.get('error', '?')[:80]} | | | | |")
            continue
        after = run.get("words_per_sec_after_first_epoch")
        md.append(f"| Keras sgns{', %d steps/call' % run['steps_per_execution'] if run['steps_per_execution'] > 1 else ''}"
                  f" | {run['batch_size']:,} | {run['epochs']} | {fmt_rate(run['words_per_sec'])} | "
                  f"{fmt_rate(after) if after else ''} | {fmt_rate(run['pairs_per_sec'])} | "
                  f"{100 * run.get('analogy_accuracy', float('nan')):.1f}% | {run.get('wordsim353_spearman', float('nan')):.3f} |")
    for e, run in r.get("hogwild", {}).items():
        if "words_per_sec" in run:
            md.append(f"| Hogwild, {run['threads']} threads | | {e} | {fmt_rate(run['words_per_sec'])} | | "
                      f"{fmt_rate(run['pairs_per_sec'])} | {100 * run.get('analogy_accuracy', float('nan')):.1f}% | "
                      f"{run.get('wordsim353_spearman', float('nan')):.3f} |")
    md += ["", "| rows per step | generator alone, words/s | step alone | ms per step | plain rows (V-row sums), ms | "
               "fit over held batches, ms | H2D GB/s | bound | step / end to end |",
           "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for b in map(str, batches):
        g, st = r.get("generator", {}).get(b, {}), r.get("step", {}).get(b, {})
        plain = r.get("step_plain_rows", {}).get(b, {})
        fo, h2d, sm = r.get("fit_overhead", {}).get(b, {}), r.get("h2d", {}).get(b, {}), r.get("summary", {}).get(b, {})
        md.append(f"| {int(b):,} | {fmt_rate(g['words_per_sec']) if g.get('words_per_sec') else ''} | "
                  f"{fmt_rate(st['words_per_sec']) if st.get('words_per_sec') else ''} | "
                  f"{st.get('ms_per_step', float('nan')):.2f} | {plain.get('ms_per_step', float('nan')):.2f} | "
                  f"{fo.get('fit_ms_per_step', float('nan')):.2f} | "
                  f"{h2d.get('gb_per_sec', float('nan')):.1f} | {sm.get('bound', '')} | "
                  f"{sm.get('step_over_end_to_end', float('nan')):.1f}x |")
    errors = {k: v["error"] for k, v in r.items() if isinstance(v, dict) and "error" in v}
    if errors:
        md += ["", "Sections that failed: " + "; ".join(f"{k}: {v}" for k, v in errors.items())]
    return "\n".join(md)


def plot(r: dict, batches, epochs) -> None:
    labels, values = [], []
    for b in map(str, batches):
        if r.get("generator", {}).get(b, {}).get("words_per_sec"):
            labels.append(f"generator alone\n{int(b):,}")
            values.append(r["generator"][b]["words_per_sec"])
        if r.get("step", {}).get(b, {}).get("words_per_sec"):
            labels.append(f"GPU step alone\n{int(b):,}")
            values.append(r["step"][b]["words_per_sec"])
        run = r.get("keras", {}).get(f"{b}x{max(epochs)}", {})
        if run.get("words_per_sec"):
            labels.append(f"Keras end to end\n{int(b):,}, {max(epochs)} ep.")
            values.append(run["words_per_sec"])
    hog = r.get("hogwild", {}).get(str(max(epochs)), {})
    if hog.get("words_per_sec"):
        labels.append(f"Hogwild\n{hog['threads']} threads")
        values.append(hog["words_per_sec"])
    if values:
        bar_chart("gpu", labels, values, "raw corpus words/s (log)", "Keras sgns on the GPU (JAX) vs Hogwild, same run",
                  annotate=[fmt_rate(v) for v in values])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--out", default=None, help="also copy results/gpu.* here (the device's $OUT)")
    ap.add_argument("--quick", action="store_true", help="a 1M-word slice, small batches, 1 and 2 epochs")
    ap.add_argument("--steps", type=int, default=20, help="batches held for the step and fit timings")
    args = ap.parse_args(argv)
    from fastw2v.heap import keep_freed_heap

    keep_freed_heap()  # as the command line does for a Keras run, before Keras starts
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax (bench_gpu measures the JAX backend)")
    path = args.corpus or default_corpus()
    threads = cores()
    t0 = time.perf_counter()
    vocab, corpus = load_corpus(path, min_count=5)
    batches, epochs = (QUICK_BATCHES, (1, 2)) if args.quick else (BATCHES, (2, 5))
    if args.quick:
        corpus = corpus.head(1_000_000)
        args.steps = min(args.steps, 5)
    r = {"corpus": str(path), "corpus_words": int(corpus.raw_words), "threads": threads,
         "devices": [str(d) for d in jax.devices()], "jax_version": jax.__version__, "prep_seconds": time.perf_counter() - t0,
         "batches": list(batches), "epochs": list(epochs)}
    wpr = words_per_row(vocab, corpus, threads)

    def save():
        r["summary"] = summarize(r, batches, epochs)
        write_results("gpu", r, markdown(r, batches, epochs))
        plot(r, batches, epochs)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            for suffix in (".json", ".md", ".png"):
                if (RESULTS / f"gpu{suffix}").exists():
                    shutil.copy(RESULTS / f"gpu{suffix}", Path(args.out) / f"gpu{suffix}")

    def section(name, fn, key=None):
        t = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # keep going: device time is scarce
            traceback.print_exc()
            value = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        if key is None:
            r[name] = value
        else:
            r.setdefault(name, {})[key] = value
        r.setdefault("section_seconds", {})[f"{name}{'' if key is None else ' ' + key}"] = time.perf_counter() - t
        save()

    section("generator", lambda: generator_alone(vocab, corpus, batches, threads))
    section("h2d", lambda: host_to_device(vocab, corpus, batches, threads))
    section("step", lambda: step_alone(vocab, corpus, batches, threads, args.steps, wpr))
    section("step_plain_rows", lambda: step_alone(vocab, corpus, batches, threads, args.steps, wpr, unique=False))
    section("fit_overhead", lambda: fit_overhead(vocab, corpus, batches, threads, args.steps, r.get("step", {})))
    for e in epochs:
        section("hogwild", lambda: hogwild(vocab, corpus, e, threads), key=str(e))
    for b in batches:
        for e in epochs:
            section("keras", lambda: keras_end_to_end(vocab, corpus, b, e, threads), key=f"{b}x{e}")
    # the default batch makes the most calls from Python: the same at 8 steps per call
    section("keras", lambda: keras_end_to_end(vocab, corpus, batches[0], min(epochs), threads, 8),
            key=f"{batches[0]}x{min(epochs)}-spe8")
    print(f"bench_gpu: {time.perf_counter() - t0:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
