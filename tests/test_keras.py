"""The Keras path, on the backend ``KERAS_BACKEND`` selects (CI runs this file on tensorflow and on jax).

Skipped where Keras is not installed. Tests marked ``tf_only`` exercise TensorFlow's
glue itself (``tf.data``, ``IndexedSlices``); the JAX glue has its own in
tests/test_keras_backends.py.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="Keras is not installed (the 'tf' or 'jax' extra)")
BACKEND = keras.backend.backend()
if BACKEND not in ("tensorflow", "jax"):
    pytest.skip(f"fastw2v's Keras path does not run on {BACKEND}", allow_module_level=True)
tf_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's glue")

import naive  # noqa: E402
from helpers import group_purity, planted_corpus, stop_after  # noqa: E402
from fastw2v import KerasOptions, Vocab, Word2VecConfig, encode  # noqa: E402
from fastw2v.keras_models import build_sgns, input_embeddings  # noqa: E402
from fastw2v.keras_optimizers import SparseRMSprop, WordDecay  # noqa: E402
from fastw2v.keras_trainer import KerasTrainer, SimilarityMonitor  # noqa: E402
from fastw2v.pairs import PairGenerator  # noqa: E402
from fastw2v.constants import PAD_ID  # noqa: E402
from fastw2v.segments import RowSets, out_occurrences, pad_rows, sgns_segments  # noqa: E402


def test_sgns_logits_are_dot_products():
    model = build_sgns(20, 4, negative=2)
    rng = np.random.default_rng(0)
    w_out = rng.normal(size=(20, 4)).astype(np.float32)
    model.get_layer("w_out").embeddings.assign(w_out)
    w_in = input_embeddings(model)
    assert np.all(np.abs(w_in) <= 0.5 / 4) and w_in.std() > 0
    t = np.array([1, 5], np.int32)
    c = np.array([[2, 3, 4], [6, 7, 8]], np.int32)
    logits = model.predict([t, c], verbose=0)
    np.testing.assert_allclose(logits, np.einsum("bd,bkd->bk", w_in[t], w_out[c]), rtol=1e-5)


def test_sgns_step_is_word2vec_update_and_sparse():
    """One row (each word once): the Keras step equals the reference SGNS step
    (alpha per pair), and rows the batch did not look up do not change."""
    V, dim, k = 30, 6, 3
    model = build_sgns(V, dim, negative=k, alpha=0.1, min_alpha=0.1, words_per_step=1, total_words=1e9,
                       optimizer="sgd")
    rng = np.random.default_rng(1)
    model.get_layer("w_in").embeddings.assign(rng.normal(0, 0.3, (V, dim)).astype(np.float32))
    model.get_layer("w_out").embeddings.assign(rng.normal(0, 0.3, (V, dim)).astype(np.float32))
    w_in0, w_out0 = input_embeddings(model), model.get_layer("w_out").embeddings.numpy()
    t = np.array([4], np.int32)
    c = np.array([[7, 9, 11, 13]], np.int32)
    model.train_on_batch([t, c], np.zeros(1, np.float32))
    u, W, _ = naive.sgns_step(w_in0[4], w_out0, c[0].tolist(), lr=0.1)
    w_in1, w_out1 = input_embeddings(model), model.get_layer("w_out").embeddings.numpy()
    np.testing.assert_allclose(w_in1[4], u, atol=1e-5)
    np.testing.assert_allclose(w_out1, W, atol=1e-5)
    others = np.setdiff1d(np.arange(V), [4])
    assert np.array_equal(w_in1[others], w_in0[others])


def step_input(t, c, V, group, k, unique, pad_to=None):
    """The step's ``x``: plain rows, or with each table's unique rows as the trainer feeds them,
    padded with padding rows to ``pad_to`` rows if given."""
    if pad_to is not None:
        t, c = pad_rows(t, c, pad_to)
    return list(sgns_segments(RowSets(V), t, c, group, k, padding=pad_to is not None)) if unique else [t, c]


def sgns_model_with_tables(V: int, group: int, k: int, seed: int, dim: int = 6):
    """An sgns model with negatives shared by ``group`` rows (1: every row its own) at a
    constant rate of 0.2, and its random tables ``(model, U, W)``, for comparing its step
    with the reference."""
    model = build_sgns(V, dim, negative=k, alpha=0.2, min_alpha=0.2, words_per_step=1, total_words=1e9,
                       negative_group=group)
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 0.3, (V, dim)).astype(np.float32)
    W = rng.normal(0, 0.3, (V, dim)).astype(np.float32)
    model.get_layer("w_in").embeddings.assign(U)
    model.get_layer("w_out").embeddings.assign(W)
    return model, U, W


@pytest.mark.parametrize("unique", [False, True], ids=["occurrences", "unique-rows"])
@pytest.mark.parametrize("V", [30, 8])  # 8: the output occurrences outnumber the rows (one dense pass)
def test_sgns_row_adagrad_step_matches_reference(V, unique):
    """A batch with repeated targets and outputs: the lean step plus row-wise Adagrad equals
    the reference (gradients at the old weights, summed per row, one step per row), twice in
    a row so the accumulators carry over; the reported loss is the mean per pair. Alike
    whether the batch carries its unique rows (summed into those) or not (into V rows)."""
    k = 3
    model, U, W = sgns_model_with_tables(V, 1, k, seed=4)
    t = np.array([4, 5, 4], np.int32)
    c = np.array([[7, 9, 11, 9], [7, 2, 3, 8], [1, 9, 5, 6]], np.int32) % V
    acc_in, acc_out = np.zeros(V), np.zeros(V)
    U64, W64 = U.astype(np.float64), W.astype(np.float64)
    for _ in range(2):
        model.reset_metrics()
        logs = model.train_on_batch(step_input(t, c, V, 1, k, unique), np.zeros(3, np.float32), return_dict=True)
        gin, gout, loss = naive.sgns_batch_gradients(U64, W64, t, c)
        U64, acc_in = naive.row_adagrad_apply(U64, acc_in, gin, 0.2)
        W64, acc_out = naive.row_adagrad_apply(W64, acc_out, gout, 0.2)
        assert logs["loss"] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(input_embeddings(model), U64, atol=1e-5)
    np.testing.assert_allclose(model.get_layer("w_out").embeddings.numpy(), W64, atol=1e-5)
    untouched = np.setdiff1d(np.arange(V), [4, 5])
    assert np.array_equal(input_embeddings(model)[untouched], U[untouched])


@pytest.mark.parametrize("unique, pad_to", [(False, None), (True, None), (True, 12)],
                         ids=["occurrences", "unique-rows", "padded"])
@pytest.mark.parametrize("V, group", [(30, 2), (30, 3), (8, 4), (30, 16)])
def test_sgns_shared_negative_step_matches_reference(V, group, unique, pad_to):
    """Rows sharing their group's negatives: the step plus row-wise Adagrad equals the
    reference, twice in a row. The batch has a short last group (5 rows, groups of 2 and
    3), a noise word equal to a row's own positive (masked for that row only), repeated
    targets and outputs, and with V 8 the dense Adagrad pass; group 16 is one padded group.
    Padded to 12 rows with padding rows (an epoch's last batch at the full shape), it trains
    as the 5 rows do, and its loss is theirs: the padding shares groups with real rows, and
    fills groups of its own."""
    k = 3
    model, U, W = sgns_model_with_tables(V, group, k, seed=7)
    t = np.array([4, 5, 4, 1, 2], np.int32)
    # row 1's positive (9) is a noise word of row 0, which heads row 1's group when group >= 2
    c = np.array([[7, 9, 11, 9], [9, 2, 3, 8], [1, 9, 5, 6], [3, 3, 0, 2], [6, 1, 6, 7]], np.int32) % V
    acc_in, acc_out = np.zeros(V), np.zeros(V)
    U64, W64 = U.astype(np.float64), W.astype(np.float64)
    for _ in range(2):
        model.reset_metrics()
        x = step_input(t, c, V, group, k, unique, pad_to)
        logs = model.train_on_batch(x, np.zeros(len(x[0]), np.float32), return_dict=True)
        gin, gout, loss = naive.sgns_shared_batch_gradients(U64, W64, t, c, group)
        U64, acc_in = naive.row_adagrad_apply(U64, acc_in, gin, 0.2)
        W64, acc_out = naive.row_adagrad_apply(W64, acc_out, gout, 0.2)
        assert logs["loss"] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(input_embeddings(model), U64, atol=1e-5)
    np.testing.assert_allclose(model.get_layer("w_out").embeddings.numpy(), W64, atol=1e-5)


@pytest.mark.parametrize("unique", [False, True], ids=["occurrences", "unique-rows"])
def test_shared_negative_step_of_unknown_width_matches_reference(unique):
    """``fit`` on a tf.data dataset that declares no width for the contexts ([None, None]):
    the step traced without k takes the batched product for the noise words' part and
    still equals the reference."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a width unknown when traced is TensorFlow's (JAX traces static shapes)")
    import tensorflow as tf

    V, group, k = 30, 2, 3
    model, U, W = sgns_model_with_tables(V, group, k, seed=11)
    t = np.array([4, 5, 4, 1, 2], np.int32)
    c = np.array([[7, 9, 11, 9], [9, 2, 3, 8], [1, 9, 5, 6], [3, 3, 0, 2], [6, 1, 6, 7]], np.int32)
    x = tuple(step_input(t, c, V, group, k, unique))
    spec = tuple(tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)) for a in x)
    data = tf.data.Dataset.from_generator(lambda: iter([(x,)]), output_signature=(spec,))
    model.fit(data, epochs=1, verbose=0)
    gin, gout, _ = naive.sgns_shared_batch_gradients(U.astype(np.float64), W.astype(np.float64), t, c, group)
    U64, _ = naive.row_adagrad_apply(U.astype(np.float64), np.zeros(V), gin, 0.2)
    W64, _ = naive.row_adagrad_apply(W.astype(np.float64), np.zeros(V), gout, 0.2)
    np.testing.assert_allclose(input_embeddings(model), U64, atol=1e-5)
    np.testing.assert_allclose(model.get_layer("w_out").embeddings.numpy(), W64, atol=1e-5)


@pytest.mark.parametrize("group", [1, 4])
def test_unique_rows_follow_the_steps_output_order(group):
    """fastw2v.segments lists a batch's output-row occurrences in the order the step's
    gradient does, so each inverse index points at its own occurrence's row."""
    from fastw2v.keras_models import sgns_gradients, shared_negative_gradients

    rng = np.random.default_rng(9)
    t = rng.integers(0, 20, 11).astype(np.int32)
    c = rng.integers(0, 20, (11, 4)).astype(np.int32)
    W = keras.ops.convert_to_tensor(rng.normal(size=(20, 3)).astype(np.float32))
    if group > 1:
        out_rows = shared_negative_gradients(W, W, t, c, group)[2]
    else:
        out_rows = sgns_gradients(W, W, t, c)[2]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out_rows), out_occurrences(c, group, 3))


def test_trainer_feeds_unique_rows_and_matches_plain_rows():
    """One epoch through the trainer with unique rows (the default on one device) ends at
    the weights the plain-rows step reaches, up to float summation order."""
    corpus, _ = planted_corpus(4, sentences=300)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=0, min_count=1, epochs=1, seed=3)
    results = []
    for unique in (True, False):
        trainer = KerasTrainer(cfg, vocab, KerasOptions(batch_size=128, negative_group=4))
        assert trainer.unique_rows
        trainer.unique_rows = unique
        trainer.fit(enc)
        results.append([np.asarray(w) for w in trainer.model.get_weights()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_trainer_pads_each_epochs_last_batch_to_the_full_shape():
    """Where the step takes padding rows (unique rows, shared negatives), every step of every
    epoch meets the full batch, one compiled shape; on TensorFlow as tensors made in the
    feed's thread, with unique-row sizes from the trainer's StepShapes. The rows counted are
    the real ones."""
    corpus, _ = planted_corpus(4, sentences=300)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=0, min_count=1, epochs=2, seed=3)
    assert not KerasTrainer(cfg, vocab, KerasOptions(batch_size=100, negative_group=1)).pads_batches
    trainer = KerasTrainer(cfg, vocab, KerasOptions(batch_size=100, negative_group=4))
    assert trainer.pads_batches
    trainer.build(enc)
    seen = []
    if trainer._python_step is not None:  # TensorFlow: the trainer's own loop
        step = trainer._python_step

        def spy(batch):
            seen.append(batch[0])
            return step(batch)
        trainer._python_step = spy
    trainer.fit(enc)
    rows = [trainer.gen.rows_in_epoch(enc, epoch) for epoch in range(2)]
    assert all(n % 100 for n in rows)  # each epoch ends in a short batch
    assert trainer.rows_done == sum(rows)
    if keras.backend.backend() == "tensorflow":
        assert len(seen) == sum(-(-n // 100) for n in rows)
        assert {tuple(x[0].shape) for x in seen} == {(100,)} and {tuple(x[1].shape) for x in seen} == {(100, 4)}
        assert not any(isinstance(a, np.ndarray) for x in seen for a in x)
        assert sum(int(np.sum(np.asarray(x[1])[:, 0] != PAD_ID)) for x in seen) == sum(rows)
        # the unique-row sizes the step met are the ones the trainer made (StepShapes)
        assert {(x[2].shape[0], x[5].shape[0]) for x in seen} == trainer._step_shapes.made


class _Calls(keras.callbacks.Callback):
    """Records the callback calls a training run makes, with each batch-end loss."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, round(float(logs["loss"]), 5)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, round(float(logs["loss"]), 5)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


@tf_only
@pytest.mark.parametrize("model", ["sgns", "tutorial"])
def test_python_loop_trains_as_fit_does(model, monkeypatch):
    """On one TensorFlow device the trainer's own loop runs each epoch, not ``model.fit``;
    two epochs of it end at fit's weights and step count, and the callbacks get fit's
    calls in fit's order, with the same losses (a stop at ``max_steps`` included), less
    the batch fit announces past the end of its dataset."""
    from fastw2v import keras_tf

    corpus, _ = planted_corpus(4, sentences=300)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=1e-2, min_count=1, epochs=2, seed=3)
    opts = KerasOptions(model=model, batch_size=128)
    runs = []
    for loop in (True, False):
        if not loop:
            monkeypatch.setattr(keras_tf, "python_step", lambda model, strategy: None)
        trainer = KerasTrainer(cfg, vocab, opts)
        trainer.build(enc)
        assert (trainer._python_step is not None) == loop
        fit_calls = []
        real_fit = trainer.model.fit
        monkeypatch.setattr(trainer.model, "fit", lambda *a, **k: fit_calls.append(1) or real_fit(*a, **k))
        calls = _Calls()
        trainer.fit(enc, callbacks=[calls])
        assert bool(fit_calls) != loop
        short = _Calls()
        KerasTrainer(cfg, vocab, opts).fit(enc, callbacks=[short], max_steps=3)
        runs.append((trainer, calls.calls, short.calls))
    (a, a_calls, a_short), (b, b_calls, b_short) = runs
    # fit announces one batch past the end of its dataset, which it then finds missing
    b_calls = [c for i, c in enumerate(b_calls) if not (c[0] == "batch_begin" and b_calls[i + 1][0] != "batch_end")]
    assert a_calls == b_calls and a_short == b_short
    assert [c[0] for c in a_short] == ["train_begin", "epoch_begin"] + ["batch_begin", "batch_end"] * 3 + \
        ["epoch_end", "train_end"]
    assert a_calls.count(("train_begin",)) == 2 and [c[1] for c in a_calls if c[0] == "epoch_end"] == [0, 1]
    assert a.history == b.history and a.rows_done == b.rows_done
    assert int(keras.ops.convert_to_numpy(a.model.optimizer.iterations)) == \
        int(keras.ops.convert_to_numpy(b.model.optimizer.iterations)) == \
        sum(1 for c in a_calls if c[0] == "batch_end")
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_initial_weights_come_from_the_seed_alike_on_every_backend():
    """Drawn by NumPy from the seed, not by the backend's generator (the cross-backend
    test in test_keras_backends.py compares whole runs)."""
    from fastw2v.keras_models import build_tutorial

    w = input_embeddings(build_sgns(50, 4, negative=2, seed=7))
    np.testing.assert_array_equal(w, np.random.default_rng(7).uniform(-0.125, 0.125, (50, 4)).astype(np.float32))
    assert not np.array_equal(w, input_embeddings(build_sgns(50, 4, negative=2, seed=8)))
    np.testing.assert_array_equal(input_embeddings(build_tutorial(50, 4, seed=7)),
                                  np.random.default_rng(7).uniform(-0.05, 0.05, (50, 4)).astype(np.float32))


def test_sgns_model_saves_and_loads(tmp_path):
    model = build_sgns(40, 8, negative=2)
    model.train_on_batch([np.array([1, 2], np.int32), np.array([[3, 4, 5], [6, 7, 8]], np.int32)],
                         np.zeros(2, np.float32))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded).__name__ == "SGNS" and loaded.get_layer("w_in") is not None
    np.testing.assert_array_equal(input_embeddings(loaded), input_embeddings(model))
    t, c = np.array([1], np.int32), np.array([[3, 4, 5]], np.int32)
    np.testing.assert_allclose(loaded.predict([t, c], verbose=0), model.predict([t, c], verbose=0), rtol=1e-6)


@pytest.mark.parametrize("mode, divisor", [("sum", 1.0), ("sqrt", np.sqrt(3.0)), ("mean", 3.0)])
def test_duplicate_rows_combine_as_configured(mode, divisor):
    """A row looked up n=3 times moves by alpha * (sum of its gradients) / {1, sqrt(n), n}."""
    from fastw2v.keras_optimizers import SparseSGD

    var = keras.Variable(np.zeros((6, 2), np.float32))
    opt = SparseSGD(learning_rate=0.5, duplicates=mode)
    opt.apply_rows([(var, np.array([1, 1, 1, 4], np.int32),
                     np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [1.0, 1.0]], np.float32))])
    expect = np.zeros((6, 2), np.float32)
    expect[1] = -0.5 * np.array([9.0, 12.0]) / divisor
    expect[4] = -0.5 * np.array([1.0, 1.0])  # seen once: a plain step in every mode
    after = keras.ops.convert_to_numpy(var)
    np.testing.assert_allclose(after, expect, rtol=1e-6)
    assert np.all(after[[0, 2, 3, 5]] == 0)
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 1
    with pytest.raises(ValueError, match="duplicates"):
        SparseSGD(duplicates="max")


@tf_only
@pytest.mark.parametrize("jit_compile", [True, False])
def test_step_count_is_the_batches_fed_with_or_without_xla(jit_compile):
    """Outside XLA (as under a multi-replica strategy), the call that finds the dataset
    exhausted must not count a step: the step count drives the rate schedule and resume."""
    import tensorflow as tf

    model = build_sgns(20, 4, negative=2, jit_compile=jit_compile)
    t = np.arange(12, dtype=np.int32) % 20
    c = (np.arange(36, dtype=np.int32).reshape(12, 3) * 7) % 20
    spec = ((tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 3], tf.int32)),)
    # of unknown length, as the trainer's feed is: the epoch ends when a call finds no batch
    ds = tf.data.Dataset.from_generator(lambda: (((t[i:i + 5], c[i:i + 5]),) for i in range(0, 12, 5)),
                                        output_signature=spec)
    for epoch in range(2):
        model.fit(ds, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 6  # 3 batches, the last short, twice


@tf_only
def test_embedding_gradient_is_indexed_slices():
    import tensorflow as tf

    model = build_sgns(50, 4, negative=1)
    t = tf.constant([1, 2], tf.int32)
    c = tf.constant([[3, 4], [5, 6]], tf.int32)
    with tf.GradientTape() as tape:
        logits = model([t, c])
        loss = tf.reduce_sum(logits)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(isinstance(g, tf.IndexedSlices) for g in grads)


def test_sparse_rmsprop_touches_only_looked_up_rows():
    """Rows 2 (twice) and 5 step as Keras' dense RMSprop does on the summed row gradient;
    the other rows, and their velocities, do not move."""
    var = keras.Variable(np.ones((10, 3), np.float32))
    opt = SparseRMSprop(learning_rate=0.01)
    values = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]], np.float32)
    rows = np.array([2, 5, 2], np.int32)
    for _ in range(2):  # the second step reads the velocity the first wrote
        opt.apply_rows([(var, rows, values)])
    after = keras.ops.convert_to_numpy(var)
    untouched = [0, 1, 3, 4, 6, 7, 8, 9]
    assert np.array_equal(after[untouched], np.ones((8, 3)))
    assert np.all(keras.ops.convert_to_numpy(opt.variables[-1])[untouched] == 0)
    dense_grad = np.zeros((10, 3), np.float32)
    np.add.at(dense_grad, rows, values)
    dense_var = keras.Variable(np.ones((10, 3), np.float32))
    dense = keras.optimizers.RMSprop(learning_rate=0.01)
    for _ in range(2):
        dense.apply_gradients([(dense_grad, dense_var)])
    np.testing.assert_allclose(after[[2, 5]], keras.ops.convert_to_numpy(dense_var)[[2, 5]], rtol=1e-5)


def test_word_decay_schedule():
    s = WordDecay(0.025, 0.0001, words_per_step=100.0, total_words=10_000.0)
    assert float(s(0)) == pytest.approx(0.025)
    assert float(s(50)) == pytest.approx(0.025 - (0.025 - 0.0001) * 0.5)
    assert float(s(1000)) == pytest.approx(0.0001)


@pytest.mark.parametrize("start", [0.0, 0.5, 0.75])
def test_word_decay_holds_the_rate_until_decay_start(start):
    """The rate is alpha for the first ``decay_start`` of the words, then falls linearly to
    min_alpha at the last word and stays there; the start survives a save (get_config)."""
    s = WordDecay(0.25, 0.01, words_per_step=10.0, total_words=1000.0, decay_start=start)
    for step in (0, 10, 49, 50, 51, 75, 76, 80, 99, 100, 130):
        done = min(1.0, step * 10.0 / 1000.0)
        expected = 0.25 - 0.24 * max(0.0, done - start) / (1.0 - start)
        assert float(s(step)) == pytest.approx(expected, abs=1e-6), step
    assert WordDecay.from_config(s.get_config()).decay_start == start


def test_decay_start_reaches_the_step_and_is_refused_where_it_does_not_apply():
    """The trainer compiles the config's decay_start into its schedule (Keras sgns's default
    from DECAY_START_DEFAULTS); hogwild takes only 0, RMSprop none, and a share of 1 or more
    is no share of the run."""
    from fastw2v.config import DECAY_START_DEFAULTS
    from fastw2v.errors import ArgumentError
    from fastw2v.word2vec import Word2Vec

    corpus, _ = planted_corpus(0, sentences=40)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=2, negative=2, sample=0, min_count=1, epochs=1)
    for given, expected in ((None, DECAY_START_DEFAULTS[("sgns", "adagrad")]), (0.3, 0.3)):
        trainer = KerasTrainer(cfg.replace(decay_start=given), vocab, KerasOptions(batch_size=64)).build(enc)
        schedule = trainer.model.optimizer.get_config()["learning_rate"]
        assert schedule["config"]["decay_start"] == expected
        assert trainer.report_fields()["decay_start"] == expected
    assert KerasTrainer(cfg.replace(optimizer="sgd"), vocab).config.decay_start == DECAY_START_DEFAULTS[("sgns", "sgd")]
    assert Word2Vec(cfg).config.decay_start == 0.0
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(ArgumentError, match="decay_start"):
            cfg.replace(decay_start=bad)
    with pytest.raises(ArgumentError, match="decay_start is for the Keras sgns model"):
        Word2Vec(cfg.replace(decay_start=0.5))
    with pytest.raises(ArgumentError, match="decay_start is not for rmsprop"):
        KerasTrainer(cfg.replace(decay_start=0.5), vocab, KerasOptions("tutorial"))


def test_feed_streams_epochs_with_resubsampling_and_skips():
    """An epoch's feed yields every row of that epoch (each epoch resubsamples), resumes
    after skipped batches, cuts batches to a multiple of the devices, and counts rows."""
    from fastw2v.feed import EpochFeed

    corpus, _ = planted_corpus(0, sentences=200)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    gen = PairGenerator(vocab, window=3, negative=2, sample=1e-2, seed=1)
    feeds = [EpochFeed(gen, enc, "rows", 256, epoch) for epoch in (0, 1)]
    first, second = ([x for x in f] for f in feeds)
    ((t, c),) = first[0]
    assert t.shape == (256,) and c.shape == (256, 3)
    for epoch, (feed, batches) in enumerate(zip(feeds, (first, second))):
        assert feed.rows == sum(b[0][0].shape[0] for b in batches) == gen.rows_in_epoch(enc, epoch)
        assert feed.batches_left() == len(batches)
    assert not np.array_equal(first[0][0][0], second[0][0][0])
    skipped = EpochFeed(gen, enc, "rows", 256, 0, skip=2)
    rest = list(skipped)
    assert skipped.batches_left() == len(rest) == len(first) - 2
    np.testing.assert_array_equal(rest[0][0][1], first[2][0][1])
    cut = EpochFeed(gen, enc, "rows", 255, 0, multiple_of=2)
    sizes = [b[0][0].shape[0] for b in cut]
    assert all(n % 2 == 0 for n in sizes) and cut.dropped_rows == gen.rows_in_epoch(enc, 0) - sum(sizes)
    assert cut.batches_left() == len(sizes)
    ((t, c), labels), = list(EpochFeed(gen, enc, "flat", 64, 0))[:1]
    assert t.shape == c.shape == labels.shape == (64,) and set(np.unique(labels)) <= {0, 1}
    # prepare: each batch's x with its unique rows, made in the feed's thread, rows counted alike
    sets = RowSets(len(vocab))
    prepared = EpochFeed(gen, enc, "rows", 256, 0, prepare=lambda t, c: sgns_segments(sets, t, c, 1, 2))
    batches = list(prepared)
    assert prepared.rows == feeds[0].rows and all(len(b[0]) == 8 for b in batches)
    np.testing.assert_array_equal(batches[0][0][1], first[0][0][1])
    with pytest.raises(ValueError, match="rows layout"):
        EpochFeed(gen, enc, "flat", 64, 0, prepare=lambda t, c: (t, c))
    # pad: every batch is 256 rows, the short last one filled with padding rows, which are not counted
    padded = EpochFeed(gen, enc, "rows", 256, 0, pad=True)
    batches = list(padded)
    assert padded.rows == feeds[0].rows and len(batches) == len(first)
    assert all(b[0][0].shape == (256,) and b[0][1].shape == (256, 3) for b in batches)
    last = feeds[0].rows - 256 * (len(first) - 1)
    assert 0 < last < 256  # the planted corpus's epoch ends in a short batch
    np.testing.assert_array_equal(batches[-1][0][1][:last], first[-1][0][1])
    assert np.all(batches[-1][0][0][last:] == PAD_ID) and np.all(batches[-1][0][1][last:] == PAD_ID)
    with pytest.raises(ValueError, match="rows layout"):
        EpochFeed(gen, enc, "flat", 64, 0, pad=True)


def test_feed_stops_its_thread_when_abandoned():
    """fit may stop in the middle of an epoch: closing the feed's iterator ends its thread."""
    import threading

    from fastw2v.feed import EpochFeed

    corpus, _ = planted_corpus(0, sentences=400)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    before = threading.active_count()
    it = iter(EpochFeed(PairGenerator(vocab, window=3, negative=2, seed=1), enc, "rows", 16, 0, prefetch=1))
    next(it)
    it.close()
    assert threading.active_count() <= before


@tf_only
def test_tensorflow_feed_is_a_dataset_of_the_same_batches():
    from fastw2v.feed import EpochFeed
    from fastw2v.keras_tf import fit_data

    corpus, _ = planted_corpus(0, sentences=200)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    gen = PairGenerator(vocab, window=3, negative=2, seed=1)
    plain = list(EpochFeed(gen, enc, "rows", 128, 0))
    ds = fit_data(EpochFeed(gen, enc, "rows", 128, 0), "rows", 3)
    batches = [b for b in ds]
    assert len(batches) == len(plain)
    np.testing.assert_array_equal(batches[-1][0][1].numpy(), plain[-1][0][1])


def test_similarity_monitor_output():
    corpus, words = planted_corpus(1, sentences=300)
    vocab = Vocab.build(corpus, min_count=1)
    model = build_sgns(len(vocab), 8, negative=2)
    import io

    out = io.StringIO()
    mon = SimilarityMonitor(vocab, ["g0w0", "g1w1", "missing"], every=1, topn=3, stream=out)
    mon.set_model(model)
    mon.on_train_batch_end(0)
    text = out.getvalue()
    assert "Nearest to g0w0: " in text and "Nearest to g1w1: " in text and "missing" not in text
    assert len(mon.last["g0w0"]) == 3 and "g0w0" not in mon.last["g0w0"]


@pytest.mark.parametrize("kind", ["sgns", "sgns-sgd", "sgns-large-batch", "tutorial"])
def test_end_to_end_planted_groups(kind):
    """Measured over 10 corpus/model seeds: purity 1.0 for both models every time;
    the 0.85 threshold leaves a margin (no chance failure seen in 10 runs). The large
    batch takes a sixth of an epoch per step: 31 steps in all."""
    corpus, words = planted_corpus(2)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    if kind.startswith("sgns"):
        cfg = Word2VecConfig(dim=16, window=3, negative=5, sample=0, min_count=1, epochs=5, alpha=0.025, seed=3)
        options = {"sgns": KerasOptions(batch_size=512), "sgns-sgd": KerasOptions(batch_size=512),
                   "sgns-large-batch": KerasOptions(batch_size=16384)}[kind]
        trainer = KerasTrainer(cfg.replace(optimizer="sgd") if kind == "sgns-sgd" else cfg, vocab, options)
    else:
        cfg = Word2VecConfig(dim=16, window=3, negative=1, sample=0, min_count=1, epochs=5, seed=3)
        trainer = KerasTrainer(cfg.replace(learning_rate=0.01), vocab, KerasOptions("tutorial", batch_size=1024))
    trainer.fit(enc)
    assert len(trainer.history) == 5 and all(np.isfinite(h["loss"]) for h in trainer.history)
    assert trainer.history[-1]["loss"] < trainer.history[0]["loss"]
    assert group_purity(trainer.vectors, words) >= 0.85


@pytest.mark.integration
def test_cli_keras_backend(tmp_path):
    corpus, _ = planted_corpus(3, sentences=400)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus))
    out, report, tb = tmp_path / "v.txt", tmp_path / "r.json", tmp_path / "tb"
    env = dict(os.environ, FASTW2V_CACHE=str(tmp_path / "cache"))
    args = [sys.executable, "-m", "fastw2v.train", "--corpus", str(path), "--backend", "keras", "--model", "sgns",
            "--dim", "8", "--epochs", "2", "--min-count", "1", "--batch-size", "256", "--output", str(out),
            "--report", str(report), "--quiet"]
    if importlib.util.find_spec("tensorflow") is None:
        # Keras writes TensorBoard summaries with TensorFlow on every backend
        refused = subprocess.run(args + ["--tensorboard", str(tb)], capture_output=True, text=True, env=env)
        assert refused.returncode == 2 and "--tensorboard needs TensorFlow" in refused.stderr, refused.stderr[-2000:]
        tb.mkdir()
        (tb / "metadata.tsv").write_text("\n" * 48)
        (tb / "vectors.tsv").write_text("")
    else:
        args += ["--tensorboard", str(tb)]
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    from fastw2v.vectors import Vectors

    v = Vectors.load(out)
    assert v.dim == 8 and len(v) == 48
    rep = json.loads(report.read_text())
    for key in ("corpus_words", "vocab_size", "epochs", "train_seconds", "words_per_sec", "pairs_per_sec",
                "final_loss"):
        assert key in rep
    assert rep["vocab_size"] == 48 and rep["epochs"] == 2 and rep["pairs_per_sec"] > 0
    assert rep["keras_backend"] == BACKEND
    assert (tb / "vectors.tsv").exists() and (tb / "metadata.tsv").read_text().count("\n") == 48


@pytest.mark.integration
def test_mirrored_strategy_matches_single_device(tmp_path):
    """Two CPU devices under --strategy mirrored follow the one-device loss: TensorFlow's
    MirroredStrategy over two logical devices, JAX's DataParallel over two host devices
    (XLA_FLAGS); the step, the optimizer and the feed are the same code."""
    code = textwrap.dedent(
        """
        import sys, json
        import keras
        if sys.argv[1] == "mirrored" and keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np
        from fastw2v import KerasOptions, Vocab, Word2VecConfig, encode
        from fastw2v.keras_trainer import KerasTrainer
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(40)]
        corpus = [[words[j] for j in rng.integers(8 * (i % 5), 8 * (i % 5) + 8, size=12)] for i in range(600)]
        vocab = Vocab.build(corpus, min_count=1)
        enc = encode(corpus, vocab)
        cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=0, min_count=1, epochs=3, seed=1)
        tr = KerasTrainer(cfg, vocab, KerasOptions(strategy=sys.argv[1], batch_size=512)).fit(enc)
        print(json.dumps({"replicas": tr.strategy.num_replicas, "loss": [h["loss"] for h in tr.history],
                          "devices": tr.report_fields()["devices"], "rows": tr.rows_done,
                          "epoch_rows": sum(tr.gen.rows_in_epoch(enc, e) for e in range(3))}))
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    runs = {}
    for mode in ("default", "mirrored"):
        r = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[mode] = json.loads(r.stdout.strip().splitlines()[-1])
    assert runs["mirrored"]["replicas"] == 2 and runs["default"]["replicas"] == 1
    np.testing.assert_allclose(runs["mirrored"]["loss"], runs["default"]["loss"], rtol=1e-3)
    # each run counts the rows it trained, once (a strategy's fit starts the feed twice); JAX cuts
    # each epoch's short last batch to a multiple of its 2 devices, at most 1 row an epoch
    for mode, run in runs.items():
        assert run["epoch_rows"] - 3 <= run["rows"] <= run["epoch_rows"], (mode, run["rows"], run["epoch_rows"])


def test_keras_loss_is_the_mean_per_pair_on_hogwilds_scale():
    """The report's loss is per (positive or negative) pair, as Hogwild's: on the same
    corpus both end within a factor of 1.5 of each other, where a sum over a batch of
    4,096 rows would be thousands of times larger. (Adagrad's first epoch, with its large
    first steps, averages above log 2.)"""
    from fastw2v import Word2Vec

    corpus, _ = planted_corpus(2)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=16, window=3, negative=5, sample=0, min_count=1, epochs=3, seed=3, threads=1)
    keras_loss = [h["loss"] for h in KerasTrainer(cfg, vocab, KerasOptions(batch_size=4096)).fit(enc).history]
    hogwild_loss = [h["loss"] for h in Word2Vec(cfg).fit(enc, vocab=vocab).state.history]
    assert keras_loss[0] < 5 and keras_loss[-1] < keras_loss[0]
    assert 1 / 1.5 < keras_loss[-1] / hogwild_loss[-1] < 1.5, (keras_loss, hogwild_loss)


def _planted_cli_args(tmp_path):
    """Command-line arguments for a quiet 1-epoch run on a small planted corpus written under tmp_path."""
    corpus, _ = planted_corpus(3, sentences=200)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus))
    return ["--corpus", path, "--min-count", "1", "--epochs", "1", "--quiet"]


@pytest.mark.integration
def test_batch_size_and_optimizer_refusals(tmp_path):
    from helpers import assert_one_line_error, run_cli

    base = _planted_cli_args(tmp_path)
    assert_one_line_error(run_cli(base + ["--batch-size", "2000000000"], tmp_path), "lower --batch-size")
    assert_one_line_error(run_cli(base + ["--optimizer", "sgd", "--batch-size", "65536"], tmp_path),
                          "too large for summed SGD")
    assert_one_line_error(run_cli(base + ["--model", "tutorial", "--optimizer", "adagrad"], tmp_path),
                          "--optimizer and --final-rate are for --model sgns and hogwild")
    report = tmp_path / "r.json"
    r = run_cli(base + ["--optimizer", "sgd", "--alpha", "0.05", "--batch-size", "512", "--report", report], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(report.read_text())
    assert (rep["config"]["optimizer"], rep["config"]["alpha"], rep["keras"]["batch_size"]) == ("sgd", 0.05, 512)


@pytest.mark.integration
def test_negative_group_and_final_rate_flags_are_checked_and_reported(tmp_path):
    from helpers import assert_one_line_error, run_cli

    base = _planted_cli_args(tmp_path)
    assert_one_line_error(run_cli(base + ["--negative-group", "0"], tmp_path), "negative_group")
    assert_one_line_error(run_cli(base + ["--batch-size", "64", "--negative-group", "65"], tmp_path),
                          "larger than batch_size 64")
    assert_one_line_error(run_cli(base + ["--model", "tutorial", "--negative-group", "4"], tmp_path),
                          "negative_group is for the sgns model")
    assert_one_line_error(run_cli(base + ["--backend", "hogwild", "--negative-group", "4"], tmp_path),
                          "are for --backend keras")
    # a batch smaller than the default group takes the batch as its group
    assert KerasOptions(batch_size=16).resolved("adagrad").negative_group == 16
    assert KerasOptions().resolved("sgd").negative_group == 1
    assert KerasOptions().resolved("sgd").batch_size == 4096
    report = tmp_path / "r.json"
    r = run_cli(base + ["--batch-size", "256", "--negative-group", "8", "--final-rate", "0.5", "--report", report],
                tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(report.read_text())
    assert (rep["keras"]["negative_group"], rep["keras"]["batch_size"], rep["config"]["final_rate"]) == (8, 256, 0.5)
    assert_one_line_error(run_cli(base + ["--final-rate", "2"], tmp_path), "at most 1")
    r = run_cli(base + ["--batch-size", "256", "--decay-start", "0.5", "--report", report], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(report.read_text())["config"]["decay_start"] == 0.5
    assert_one_line_error(run_cli(base + ["--decay-start", "1"], tmp_path), "below 1")
    assert_one_line_error(run_cli(base + ["--backend", "hogwild", "--decay-start", "0.5"], tmp_path),
                          "decay_start is for the Keras sgns model")
    assert_one_line_error(run_cli(base + ["--model", "tutorial", "--decay-start", "0.5"], tmp_path),
                          "decay_start is not for rmsprop")


def test_adagrad_rate_decays_to_its_final_rate_and_old_checkpoints_say_what_differs():
    from fastw2v import checkpoint as ckpt
    from fastw2v.errors import ArgumentError

    vocab = Vocab.build([["a", "b", "c"]], min_count=1)
    cfg = Word2VecConfig()
    assert KerasTrainer(cfg.replace(learning_rate=0.4, final_rate=0.25), vocab).learning_rates() == \
        pytest.approx((0.4, 0.1))
    # summed SGD keeps word2vec's alpha and min_alpha
    assert KerasTrainer(cfg.replace(optimizer="sgd", min_alpha=0.0005), vocab).learning_rates() == \
        pytest.approx((0.025, 0.0005))
    with pytest.raises(ArgumentError, match="alpha and min_alpha are word2vec's SGD rate"):
        KerasTrainer(cfg.replace(min_alpha=0.0005), vocab)
    for bad in (dict(final_rate=1.5), dict(final_rate=-0.1)):
        with pytest.raises(ArgumentError, match="final_rate"):
            cfg.replace(**bad)
    for bad, model in ((dict(optimizer="sgd", final_rate=0.1), "sgns"), (dict(final_rate=0.1), "tutorial")):
        with pytest.raises(ArgumentError, match="final_rate"):
            KerasTrainer(cfg.replace(**bad), vocab, KerasOptions(model))
    with pytest.raises(ArgumentError, match="optimizer 'sgd' is not one the tutorial model trains with"):
        KerasTrainer(cfg.replace(optimizer="sgd"), vocab, KerasOptions("tutorial"))
    # a Keras checkpoint written before these fields trained with per-row negatives, a 1e-4
    # floor, and a rate that decayed from the first word
    now = KerasTrainer(cfg.replace(final_rate=0.5), vocab, KerasOptions(negative_group=32)).settings()
    saved = {k: v for k, v in now.items() if k not in ("negative_group", "final_rate", "decay_start")}
    with pytest.raises(ckpt.CheckpointError, match=r"decay_start: checkpoint 0.0, now 0.75; final_rate: checkpoint "
                                                   r"0.0001, now 0.5; negative_group: checkpoint 1, now 32"):
        ckpt.check_compatible({"backend": "keras-sgns", "config": saved}, now, {}, "keras-sgns")
    old_way = KerasTrainer(cfg.replace(final_rate=1e-4, decay_start=0.0), vocab,
                           KerasOptions(negative_group=1)).settings()
    ckpt.check_compatible({"backend": "keras-sgns", "config": saved}, old_way, {}, "keras-sgns")
    sgd_now = KerasTrainer(cfg.replace(optimizer="sgd"), vocab).settings()
    sgd_saved = {k: v for k, v in sgd_now.items() if k not in ("negative_group", "final_rate", "decay_start")}
    ckpt.check_compatible({"backend": "keras-sgns", "config": sgd_saved}, sgd_now, {}, "keras-sgns")
    # nor had the tutorial's constant RMSprop rate a decay_start
    tut_now = KerasTrainer(cfg, vocab, KerasOptions("tutorial")).settings()
    tut_saved = {k: v for k, v in tut_now.items() if k != "decay_start"}
    ckpt.check_compatible({"backend": "keras-tutorial", "config": tut_saved}, tut_now, {}, "keras-tutorial")


def test_batch_memory_estimate():
    from fastw2v.errors import InsufficientMemoryError
    from fastw2v.memory import batch_memory, check_batch_memory

    assert batch_memory(65536, 6, 100) == 6 * 65536 * 6 * 100 * 4
    check_batch_memory(65536, 6, 100, available=2**34)
    with pytest.raises(InsufficientMemoryError, match=r"needs about 0.9 GiB per step .* only 1.0 GiB"):
        check_batch_memory(65536, 6, 100, available=2**30)


@pytest.mark.integration
def test_import_fastw2v_does_not_import_keras_or_a_backend():
    r = subprocess.run([sys.executable, "-c", "import sys, fastw2v, fastw2v.word2vec, fastw2v.runner, fastw2v.evaluate, fastw2v.train;"
                        "import fastw2v.feed, fastw2v.keras_backend;"
                        "g = fastw2v.PairGenerator([5, 4, 3]);"
                        "print(*(m in sys.modules for m in ('tensorflow', 'keras', 'jax')))"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False False False"


class _CheckpointDuring(keras.callbacks.Callback):
    """Asks ``trainer`` for a checkpoint as batch ``batch`` of epoch ``epoch`` begins (0-based; a
    periodic timer's request). Keras' JAX ``fit`` begins one more batch than it trains per epoch,
    so the batch is found by its index, not by counting calls."""

    def __init__(self, trainer, epoch: int, batch: int):
        super().__init__()
        self.trainer, self.at = trainer, (epoch, batch)

    def on_train_batch_begin(self, batch, logs=None):
        if (self.trainer.epoch, batch) == self.at:
            self.trainer.request_checkpoint()


def _three_epoch_run():
    """``(vocab, corpus, config, options, trainer)``: a small corpus whose 3 epochs differ in length,
    and a Keras run of all 3 uninterrupted, for the stop and checkpoint tests to match."""
    corpus, _ = planted_corpus(4, sentences=600)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=0, min_count=1, epochs=3, seed=2)
    opts = KerasOptions(batch_size=256)
    return vocab, enc, cfg, opts, KerasTrainer(cfg, vocab, opts).fit(enc)


def test_a_checkpoint_at_a_safe_point_resumes_as_the_uninterrupted_run(tmp_path):
    """A checkpoint asked for during batch 3 of epoch 2 is written by the hook after that batch,
    and training goes on in the same fit to the uninterrupted run's weights; restored into a new
    trainer, the checkpoint continues to them too."""
    vocab, enc, cfg, opts, full = _three_epoch_run()

    saved = []
    hooked = KerasTrainer(cfg, vocab, opts)
    hooked.fit(enc, callbacks=[_CheckpointDuring(hooked, 1, 2)],
               on_checkpoint=lambda t: saved.append((t.checkpoint_state(), t.model.get_weights())))
    assert len(saved) == 1
    (arrays, state), weights_then = saved[0]
    assert (state["epoch"], state["skip_batches"]) == (1, 3)
    assert hooked.skip_batches == 0 and [h["epoch"] for h in hooked.history] == [1, 2, 3]
    for a, b in zip(full.model.get_weights(), hooked.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # the checkpoint holds the weights of that step (not of the epoch's start, nor the run's end)
    np.testing.assert_array_equal(arrays["w0"], weights_then[0])
    assert not np.array_equal(arrays["w0"], hooked.model.get_weights()[0])

    resumed = KerasTrainer(cfg, vocab, opts)
    resumed.restore(arrays, state)
    resumed.fit(enc)
    assert int(resumed.model.optimizer.iterations.numpy()) == int(full.model.optimizer.iterations.numpy())
    for a, b in zip(full.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_a_checkpoint_is_never_taken_of_diverged_weights():
    """A checkpoint asked for during the step whose loss diverged waits: the last good one stays."""
    from fastw2v.keras_trainer import _Progress

    corpus, _ = planted_corpus(4, sentences=200)
    vocab = Vocab.build(corpus, min_count=1)
    trainer = KerasTrainer(Word2VecConfig(dim=8, min_count=1, epochs=1), vocab, KerasOptions(batch_size=256))
    trainer.build(encode(corpus, vocab))
    calls = []
    trainer._on_checkpoint = lambda t: calls.append(t.skip_batches)
    for loss, expected in ((float("nan"), []), (0.5, [1])):
        progress = _Progress(trainer, 1000, 0, 0, quiet=True)
        progress.set_model(trainer.model)
        trainer.request_checkpoint()
        progress.on_train_batch_end(0, {"loss": loss})
        assert calls == expected and (progress.diverged is not None) == (loss != loss)
        trainer._checkpoint.clear()


def test_interrupt_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    """Stopped 3 batches into epoch 2 of 3, checkpointed and restored into a new trainer,
    the run ends with the uninterrupted run's step count and weights. Every epoch runs
    all its batches (Keras 3, left to itself, cuts later epochs of one fit call to the
    first epoch's step count)."""
    from fastw2v import TrainingInterrupted
    from fastw2v import checkpoint as ckpt

    vocab, enc, cfg, opts, full = _three_epoch_run()
    full_steps = int(full.model.optimizer.iterations.numpy())
    per_epoch = [-(-full.gen.rows_in_epoch(enc, e) // opts.batch_size) for e in range(3)]
    assert len(set(per_epoch)) > 1  # the epochs differ in length, so a cut would show
    assert full_steps == sum(per_epoch)
    steps0 = per_epoch[0]

    first = KerasTrainer(cfg, vocab, opts)
    with pytest.raises(TrainingInterrupted, match="epoch 2 after 3 batches"):
        first.fit(enc, callbacks=[stop_after(first, steps0 + 3)])
    assert first.epoch == 1 and first.skip_batches == 3 and not first.stop_requested
    arrays, state = first.checkpoint_state()
    fingerprint = ckpt.corpus_fingerprint(vocab, enc)
    ckpt.save(tmp_path, arrays, {"backend": first.backend, "config": first.settings(), "corpus": fingerprint,
                                 "state": state})

    meta, arrays = ckpt.load(tmp_path)
    second = KerasTrainer(cfg, vocab, opts)
    ckpt.check_compatible(meta, second.settings(), fingerprint, second.backend)
    second.restore(arrays, meta["state"])  # before build: applied when fit builds the model
    second.fit(enc)
    assert [h["epoch"] for h in second.history] == [1, 2, 3]
    assert int(second.model.optimizer.iterations.numpy()) == full_steps
    # the same batches from the same weights: equal up to float32 rounding of the
    # (unordered) scatter-adds, which is far below the change one step makes
    for a, b in zip(full.model.get_weights(), second.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(full.model.get_weights(), first.model.get_weights()))
    assert moved > 1e-3  # the interrupted weights really differ from the final ones
    with pytest.raises(ckpt.CheckpointError, match="dim: checkpoint 8, now 9"):
        ckpt.check_compatible(meta, cfg.replace(dim=9).to_dict(), fingerprint, "keras-sgns")
    with pytest.raises(ckpt.CheckpointError, match="batch_size: checkpoint 256, now 512"):
        ckpt.check_compatible(meta, KerasTrainer(cfg, vocab, KerasOptions(batch_size=512)).settings(), fingerprint,
                              "keras-sgns")


def test_two_stops_in_one_epoch_resume_where_the_second_left_off():
    """Two stops in epoch 2 (as two periodic checkpoints would make) and a third fit: the
    run ends with the uninterrupted run's steps and weights. The second stop counts the
    batches the first one skipped, so none is trained twice."""
    from fastw2v import TrainingInterrupted

    corpus, _ = planted_corpus(4, sentences=600)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=0, min_count=1, epochs=2, seed=2)
    opts = KerasOptions(batch_size=256)
    full = KerasTrainer(cfg, vocab, opts).fit(enc)
    steps0 = -(-full.gen.rows_in_epoch(enc, 0) // opts.batch_size)

    trainer = KerasTrainer(cfg, vocab, opts)
    with pytest.raises(TrainingInterrupted, match="epoch 2 after 2 batches"):
        trainer.fit(enc, callbacks=[stop_after(trainer, steps0 + 2)])
    with pytest.raises(TrainingInterrupted, match="epoch 2 after 5 batches"):
        trainer.fit(enc, callbacks=[stop_after(trainer, 3)])
    assert trainer.skip_batches == 5
    trainer.fit(enc)
    assert int(keras.ops.convert_to_numpy(trainer.model.optimizer.iterations)) == \
        int(keras.ops.convert_to_numpy(full.model.optimizer.iterations))
    assert trainer.rows_done == full.rows_done == sum(full.gen.rows_in_epoch(enc, e) for e in range(2))
    for a, b in zip(full.model.get_weights(), trainer.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_tutorial_model_saves_and_loads(tmp_path):
    from fastw2v.keras_models import build_tutorial

    model = build_tutorial(30, 4, learning_rate=0.01)
    t, c = np.array([1, 2, 3], np.int32), np.array([4, 5, 6], np.int32)
    model.train_on_batch((t, c), np.array([1, 0, 1], np.int8))
    model.save(tmp_path / "t.keras")
    loaded = keras.models.load_model(tmp_path / "t.keras")
    assert type(loaded).__name__ == "Tutorial"
    np.testing.assert_array_equal(input_embeddings(loaded), input_embeddings(model))
    np.testing.assert_allclose(loaded.predict((t, c), verbose=0), model.predict((t, c), verbose=0), rtol=1e-6)
    moved = input_embeddings(model) - input_embeddings(build_tutorial(30, 4))
    assert set(np.flatnonzero(np.abs(moved).sum(axis=1))) == {1, 2, 3, 4, 5, 6}  # only the batch's rows
