"""Child of ``bench_keras.py --profile``: time the Keras sgns step in this process's tree and backend.

    FASTW2V_CODE=TREE KERAS_BACKEND=B python benchmarks/keras_step_child.py CORPUS BATCH GROUP STEPS ROUNDS

``FASTW2V_CODE`` is the repository tree whose ``fastw2v`` is timed (this one by default;
``scripts/ab_compare.py`` points it at another commit's worktree); ``KERAS_BACKEND`` the
backend. It first keeps the freed heap (:func:`fastw2v.heap.keep_freed_heap`, which
``FASTW2V_KEEP_HEAP=0`` turns off), as a Keras run of the command line does, then builds
the model with ``build_sgns``, takes ``STEPS`` real batches of ``BATCH`` rows from the pair
generator, each with its unique rows (:mod:`fastw2v.segments`) as the trainer feeds them,
holds them in memory, and times ``model.fit`` over them ``ROUNDS`` times (median ms per
step), and ``fit`` fed plain rows. On TensorFlow it also times the trainer's own loop
(round by round in alternating order with ``fit``), the step's maths as a bare XLA
function, the unique-row step stopped after each of its parts, and this machine's copy
bandwidth; on JAX the model's own stateless ``train_step`` jitted with the state donated,
fed batches held on the device, fed numpy batches, and without donation, plus ``fit`` at 4
steps per execution, so that the gap between ``fit`` and the step can be attributed.
Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.environ.get("FASTW2V_CODE", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fastw2v import load_corpus  # noqa: E402
from fastw2v.pairs import PairGenerator  # noqa: E402

try:
    from fastw2v.heap import keep_freed_heap
except ImportError:  # a tree from before it, timed by scripts/ab_compare.py: its Keras modules kept the heap
    def keep_freed_heap():
        return False


def med(times, steps):
    return 1000 * statistics.median(times) / steps


def timed_rounds(fn, rounds):
    fn()  # compile, fill caches
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def backend_glue():
    """The backend's glue module (:func:`fastw2v.keras_glue.glue`; ``keras_backend.glue`` in older trees)."""
    try:
        from fastw2v.keras_glue import glue
    except ImportError:
        from fastw2v.keras_backend import glue
    return glue()


def main():
    corpus_path, batch, group, steps, rounds = sys.argv[1], *map(int, sys.argv[2:6])
    keep_freed_heap()  # before Keras and its thread pools start, as the command line's Keras run
    vocab, corpus = load_corpus(corpus_path, min_count=5)
    import keras

    from fastw2v import keras_models
    from fastw2v.keras_models import build_sgns
    from fastw2v.segments import RowSets, sgns_segments

    backend = keras.backend.backend()
    gen = PairGenerator(vocab, seed=1)
    plain = []
    for t, c in gen.batches(corpus, batch):
        plain.append((t, c))
        if len(plain) == steps:
            break
    V = len(vocab)
    sets = RowSets(V)
    fed = [sgns_segments(sets, t, c, group, 5) for t, c in plain]  # as the trainer's feed makes them
    out = {"backend": backend, "code": keras_models.__file__, "batch_rows": batch, "negative_group": group,
           "steps": steps, "rounds": rounds,
           "unique_rows": [[int(x[2].shape[0]), int(np.count_nonzero(x[3])), int(x[5].shape[0]),
                            int(np.count_nonzero(x[6]))] for x in fed]}

    def model(**kw):
        return build_sgns(V, 100, 5, words_per_step=1, total_words=1e12, negative_group=group, **kw)

    # fit and, on TensorFlow, the trainer's own loop (no tf.data), alternating round by round
    fns = {"fit_ms": fit_callable(model(), fed, backend)}
    if backend == "tensorflow":
        fns["loop_ms"] = python_loop_callable(model(), fed, backend_glue())
    for key, times in zip(fns, alternating_rounds(list(fns.values()), rounds)):
        out[key] = med(times, steps)
    out["fit_occurrences_ms"] = med(timed_rounds(fit_callable(model(), plain, backend), rounds), steps)
    if backend == "tensorflow":
        out["bare_step_ms"] = med(timed_rounds(tf_bare_step(model(), plain, group), rounds), steps)
        out.update(tf_breakdown(V, fed, group, rounds))
        out["copy_gb_per_s"] = copy_bandwidth()
    else:
        out.update(jax_breakdown(model, fed, rounds))
    print(json.dumps(out))


def fit_callable(m, xs, backend):
    """One ``model.fit`` epoch over the held batches ``xs``, as a callable."""
    return lambda: m.fit(tf_dataset(xs) if backend == "tensorflow" else ((x,) for x in xs), epochs=1, verbose=0,
                         shuffle=False)


def python_loop_callable(m, xs, glue):
    """One pass over the held batches ``xs`` as the trainer's own loop makes it on one
    device (``glue.python_step``: NumPy batches straight into the compiled step)."""
    step = glue.python_step(m, glue.Strategy("default"))

    def run():
        for x in xs:
            float(step((x,))["loss"])  # the trainer's progress callback reads each step's loss
    return run


def alternating_rounds(fns, rounds):
    """Seconds of each callable per round, the order reversed every other round (after a first
    untimed call of each that compiles): ``[[seconds, ...] per callable]``."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for r in range(rounds):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
    return times


def tf_dataset(xs):
    """Held batches as a ``tf.data`` generator dataset, the way the trainer feeds ``fit``."""
    import tensorflow as tf

    # the batch length varies, the contexts' width does not (fastw2v.keras_tf.fit_data's spec)
    spec = tuple(tf.TensorSpec([None] + list(a.shape[1:]), tf.as_dtype(a.dtype)) for a in xs[0])
    return tf.data.Dataset.from_generator(lambda: ((x,) for x in xs), output_signature=(spec,))


def copy_bandwidth(mb: int = 256) -> float:
    """GB/s moved (read plus write) by a NumPy copy of ``mb`` MB: this machine's memory bandwidth now."""
    a = np.ones(mb * 2 ** 18, np.float32)
    b = np.empty_like(a)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(b, a)
        times.append(time.perf_counter() - t0)
    return 2 * a.nbytes / statistics.median(times) / 1e9


def tf_breakdown(V, prepared, group, rounds):
    """TensorFlow: the unique-row step as XLA functions that stop after each part, cumulative
    (ms per step): gathers and logits, the closed-form gradients (each occurrence's row
    gathered from the batch's unique rows, as the model's step does), the per-row sums
    into the batch's unique rows, then row-wise Adagrad on those rows (the whole step).
    Each part's own time is the difference to the one before."""
    import tensorflow as tf

    from fastw2v.keras_models import shared_negative_gradients
    try:
        from fastw2v.keras_optimizers import unique_row_sums
    except ImportError:  # a tree from before the optimizers had a module of their own
        from fastw2v.keras_models import unique_row_sums

    dim = 100
    rng = np.random.default_rng(1)
    W_in = tf.Variable(rng.uniform(-0.005, 0.005, (V, dim)).astype(np.float32))
    W_out = tf.Variable(np.zeros((V, dim), np.float32))
    acc_in, acc_out = tf.Variable(np.zeros(V, np.float32)), tf.Variable(np.zeros(V, np.float32))

    def part(upto):
        @tf.function(jit_compile=True)
        def step(t, c, ui, ci, ii, uo, co, io):
            if upto == "gathers":  # as the step gathers: each occurrence from the batch's unique rows
                out_table = tf.gather(W_out, uo)
                u, v = tf.gather(tf.gather(W_in, ui), ii), tf.gather(out_table, io[:tf.shape(t)[0]])
                n = tf.gather(out_table, io[tf.shape(t)[0]:])
                return tf.reduce_sum(tf.reduce_sum(u * v, axis=1)) + tf.reduce_sum(n[0])
            gu, gv, _, row_loss = shared_negative_gradients(W_in, W_out, t, c, group, (ui, ii, uo, io))
            if upto == "gradients":
                return (tf.reduce_mean(row_loss) + tf.reduce_sum(gu[::997]) + tf.reduce_sum(gv[0][::997])
                        + tf.reduce_sum(gv[1][::997]))
            total = tf.reduce_mean(row_loss)
            for W, acc, rows, inv, g in ((W_in, acc_in, ui, ii, gu), (W_out, acc_out, uo, io, gv)):
                sums = unique_row_sums(g, inv, tf.shape(rows)[0])
                if upto == "sums":
                    total += tf.reduce_sum(sums[::97])
                    continue
                grown = tf.reduce_mean(sums * sums, axis=1)
                scale = 0.2 / (tf.sqrt(tf.gather(acc, rows) + grown) + 1e-10)
                acc.scatter_add(tf.IndexedSlices(grown, rows))
                W.scatter_sub(tf.IndexedSlices(sums * scale[:, None], rows))
            return total

        tensors = [tuple(tf.constant(a) for a in x) for x in prepared]

        def run():
            loss = None
            for x in tensors:
                loss = step(*x)
            float(loss)

        return run

    return {f"xla_upto_{name}_ms": med(timed_rounds(part(name), rounds), len(prepared))
            for name in ("gathers", "gradients", "sums", "update")}


def tf_bare_step(m, batches, group):
    """TensorFlow: the model's maths as one XLA function with no Keras in the loop: the
    shared-negative gradients, then row-wise Adagrad on both tables (summed per row; a
    dense pass where the occurrences outnumber the rows, as RowAdagrad does)."""
    import tensorflow as tf

    from fastw2v.keras_models import shared_negative_gradients

    V, dim = m.vocab_size, m.dim
    W_in = tf.Variable(m.get_layer("w_in").embeddings.numpy())
    W_out = tf.Variable(np.zeros((V, dim), np.float32))
    acc_in, acc_out = tf.Variable(np.zeros(V, np.float32)), tf.Variable(np.zeros(V, np.float32))

    @tf.function(jit_compile=True)
    def step(t, c):
        gu, gv, out_rows, row_loss = shared_negative_gradients(W_in, W_out, t, c, group)
        for W, acc, idx, g in ((W_in, acc_in, t, gu), (W_out, acc_out, out_rows, gv)):
            sums = tf.math.unsorted_segment_sum(g, idx, V)
            acc.assign_add(tf.reduce_mean(sums * sums, axis=1))
            if idx.shape[0] >= V:
                W.assign_sub(sums * (0.2 / (tf.sqrt(acc) + 1e-10))[:, None])
            else:
                counts = tf.math.unsorted_segment_sum(tf.ones_like(idx, tf.float32), idx, V)
                scale = 0.2 / ((tf.sqrt(tf.gather(acc, idx)) + 1e-10) * tf.gather(counts, idx))
                W.scatter_sub(tf.IndexedSlices(tf.gather(sums, idx) * scale[:, None], idx))
        return tf.reduce_mean(row_loss)

    tensors = [(tf.constant(t), tf.constant(c)) for t, c in batches]

    def run():
        loss = None
        for t, c in tensors:
            loss = step(t, c)
        float(loss)  # wait for the last step

    return run


def jax_breakdown(model, batches, rounds):
    """JAX: where the time between ``fit`` and the step goes (ms per step each); ``batches``
    are the step's inputs (with their unique rows on a tree that has them)."""
    import jax

    steps = len(batches)
    m4 = model(steps_per_execution=4)
    res = {"fit_4_steps_per_execution_ms": med(timed_rounds(
        lambda: m4.fit(((x,) for x in batches), epochs=1, verbose=0, shuffle=False), rounds), steps)}
    m = model()
    m.optimizer.build(m.trainable_variables)

    def state():  # a copy per variant: a donated state's arrays are gone after the step
        return tuple([jax.numpy.array(v.value, copy=True) for v in group] for group in
                     (m.trainable_variables, m.non_trainable_variables, m.optimizer.variables, m.metrics_variables))

    on_device = [(tuple(jax.device_put(a) for a in x),) for x in batches]
    as_numpy = [(tuple(x),) for x in batches]
    for name, donate, data in (("bare_step_device_batches_ms", True, on_device),
                               ("bare_step_numpy_batches_ms", True, as_numpy),
                               ("bare_step_no_donation_ms", False, on_device)):
        step = jax.jit(m.train_step, donate_argnums=(0,) if donate else ())
        held = {"state": state()}

        def run():
            s = held["state"]
            for d in data:
                logs, s = step(s, d)
            jax.block_until_ready(s)
            held["state"] = s

        res[name] = med(timed_rounds(run, rounds), steps)
    return res


if __name__ == "__main__":
    main()
