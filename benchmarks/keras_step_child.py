"""Child of ``bench_keras.py --profile``: time the Keras sgns step in this process's tree and backend.

    FASTW2V_CODE=TREE KERAS_BACKEND=B python benchmarks/keras_step_child.py CORPUS BATCH GROUP STEPS ROUNDS

``FASTW2V_CODE`` is the repository tree whose ``fastw2v`` is timed (another commit's,
unpacked by the parent, or this one); ``KERAS_BACKEND`` the backend. It builds the model
with ``build_sgns`` (the same call in every tree), takes ``STEPS`` real batches of
``BATCH`` rows from the pair generator, holds them in memory, and times ``model.fit``
over them ``ROUNDS`` times (median ms per step). On the current tree it also times
the step without ``fit``: TensorFlow's maths as a bare XLA function, and on JAX the
model's own stateless ``train_step`` jitted with the state donated, fed batches held
on the device, fed numpy batches, and without donation, plus ``fit`` at 4 steps per
execution, so that the gap between ``fit`` and the step can be attributed. Prints
one JSON line.
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


def main():
    corpus_path, batch, group, steps, rounds = sys.argv[1], *map(int, sys.argv[2:6])
    vocab, corpus = load_corpus(corpus_path, min_count=5)
    import keras

    from fastw2v import keras_models
    from fastw2v.keras_models import build_sgns

    backend = keras.backend.backend()
    gen = PairGenerator(vocab, seed=1)
    batches = []
    for t, c in gen.batches(corpus, batch):
        batches.append((t, c))
        if len(batches) == steps:
            break
    V = len(vocab)
    out = {"backend": backend, "code": keras_models.__file__, "batch_rows": batch, "negative_group": group,
           "steps": steps, "rounds": rounds}

    def model(**kw):
        return build_sgns(V, 100, 5, words_per_step=1, total_words=1e12, negative_group=group, **kw)

    if backend == "tensorflow":
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices(((np.stack([t for t, _ in batches]), np.stack([c for _, c in batches])),
                                                 np.zeros((len(batches), batch), np.float32))).cache()
        m = model()
        out["fit_ms"] = med(timed_rounds(lambda: m.fit(ds, epochs=1, verbose=0, shuffle=False), rounds), steps)
        if hasattr(keras_models, "RowOptimizer"):
            out["bare_step_ms"] = med(timed_rounds(tf_bare_step(m, batches, group), rounds), steps)
    else:
        m = model()
        out["fit_ms"] = med(timed_rounds(lambda: m.fit((((t, c),) for t, c in batches), epochs=1, verbose=0,
                                                       shuffle=False), rounds), steps)
        if hasattr(keras_models, "RowOptimizer"):  # the current tree: break the step down
            out.update(jax_breakdown(model, batches, rounds))
    print(json.dumps(out))


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
    """JAX: where the time between ``fit`` and the step goes (ms per step each)."""
    import jax

    steps = len(batches)
    m4 = model(steps_per_execution=4)
    res = {"fit_4_steps_per_execution_ms": med(timed_rounds(
        lambda: m4.fit((((t, c),) for t, c in batches), epochs=1, verbose=0, shuffle=False), rounds), steps)}
    m = model()
    m.optimizer.build(m.trainable_variables)

    def state():  # a copy per variant: a donated state's arrays are gone after the step
        return tuple([jax.numpy.array(v.value, copy=True) for v in group] for group in
                     (m.trainable_variables, m.non_trainable_variables, m.optimizer.variables, m.metrics_variables))

    on_device = [((jax.device_put(t), jax.device_put(c)),) for t, c in batches]
    as_numpy = [((t, c),) for t, c in batches]
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
