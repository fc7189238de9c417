"""The Keras backends: choosing one, refusing what a backend cannot do, and moving between them.

The refusals run without Keras (they are checked before it is imported). The memory
tests need Keras on any supported backend; the cross-backend checkpoint test needs
both TensorFlow and JAX installed (the `test` extra has both).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error, planted_corpus, require_keras, run_cli
import fastw2v
from fastw2v import KerasOptions, Vocab, Word2VecConfig, encode
from fastw2v.errors import InsufficientMemoryError, UsageError
from fastw2v.keras_backend import check_backend, check_strategy, requested_backend

TESTS = Path(__file__).resolve().parent


def _corpus_args(tmp_path):
    corpus, _ = planted_corpus(3, sentences=200)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus))
    return ["--corpus", path, "--min-count", "1", "--epochs", "1", "--quiet"]


@pytest.mark.integration
@pytest.mark.parametrize("name", ["torch", "nonsense"])
def test_an_unsupported_keras_backend_is_one_line_naming_the_supported_ones(tmp_path, monkeypatch, name):
    monkeypatch.setenv("KERAS_BACKEND", name)
    r = run_cli(_corpus_args(tmp_path), tmp_path)
    assert_one_line_error(r, f"KERAS_BACKEND='{name}' is not supported by fastw2v's Keras path; use one of "
                             "tensorflow, jax")
    with pytest.raises(UsageError, match="tensorflow, jax"):
        check_backend({"KERAS_BACKEND": name})


def test_the_backend_comes_from_the_environment_then_keras_json(tmp_path):
    assert requested_backend({"KERAS_BACKEND": "jax"}) == "jax"
    assert requested_backend({"KERAS_HOME": str(tmp_path)}) == "tensorflow"  # Keras' own default
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert requested_backend({"KERAS_HOME": str(tmp_path)}) == "jax"
    (tmp_path / "keras.json").write_text("{broken")
    assert requested_backend({"KERAS_HOME": str(tmp_path)}) == "tensorflow"


@pytest.mark.integration
def test_multiworker_on_jax_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    r = run_cli(_corpus_args(tmp_path) + ["--strategy", "multiworker"], tmp_path)
    assert_one_line_error(r, "--strategy multiworker runs on the tensorflow backend only")
    check_strategy("mirrored", {"KERAS_BACKEND": "jax"})
    check_strategy("multiworker", {"KERAS_BACKEND": "tensorflow"})


def test_device_memory_estimate():
    from fastw2v.memory import check_device_memory, device_memory

    need = device_memory(71_000, 100, 1 << 20, 6)
    assert need == 4 * 71_000 * 100 * 4 + 6 * (1 << 20) * 6 * 100 * 4
    check_device_memory(None, 71_000, 100, 1 << 20, 6)  # no accelerator: nothing to check here
    check_device_memory(2 * need, 71_000, 100, 1 << 20, 6)
    with pytest.raises(InsufficientMemoryError, match=r"--batch-size 1,048,576 needs about 14.2 GiB of accelerator "
                                                      r"memory .* but the accelerator has 8.0 GiB; lower --batch-size"):
        check_device_memory(8 << 30, 71_000, 100, 1 << 20, 6)


def test_a_batch_too_large_for_the_accelerator_exits_2_with_the_estimate(tmp_path, monkeypatch, capsys):
    """Before training (the device says how much memory it has), and when XLA runs out of
    memory during a step anyway: one line with the estimate and exit 2, no traceback."""
    require_keras()
    from fastw2v import keras_trainer
    from fastw2v.train import main

    args = [str(a) for a in _corpus_args(tmp_path)] + ["--cache-dir", str(tmp_path / "cache"), "--dim", "8",
                                                       "--batch-size", "4096"]
    monkeypatch.setattr(keras_trainer._glue, "accelerator_memory", lambda: 1 << 20)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "the accelerator has 0.0 GiB; lower --batch-size" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    monkeypatch.setattr(keras_trainer._glue, "accelerator_memory", lambda: None)

    def out_of_memory(*a, **k):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 17179869184 bytes.")

    monkeypatch.setattr(keras_trainer.KerasTrainer, "_fit_epoch", lambda self, *a: out_of_memory())
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--batch-size 4,096 needs about" in err and "the accelerator ran out of memory; lower --batch-size" in err
    assert "Traceback" not in err


def test_other_errors_in_fit_are_not_taken_for_out_of_memory(monkeypatch):
    require_keras()
    from fastw2v import keras_trainer

    corpus, _ = planted_corpus(3, sentences=100)
    vocab = Vocab.build(corpus, min_count=1)
    trainer = keras_trainer.KerasTrainer(Word2VecConfig(dim=4, min_count=1, epochs=1), vocab,
                                         KerasOptions(batch_size=64))

    def broken(*a, **k):
        raise ValueError("a bug")

    monkeypatch.setattr(keras_trainer.KerasTrainer, "_fit_epoch", broken)
    with pytest.raises(ValueError, match="a bug"):
        trainer.fit(encode(corpus, vocab))


_CHILD = textwrap.dedent(
    """
    import sys, json
    import numpy as np
    import keras
    from helpers import planted_corpus, stop_after
    from fastw2v import KerasOptions, TrainingInterrupted, Vocab, Word2VecConfig, encode
    from fastw2v import checkpoint as ckpt
    from fastw2v.keras_trainer import KerasTrainer

    mode, directory, out = sys.argv[1], sys.argv[2], sys.argv[3]
    corpus, _ = planted_corpus(4, sentences=600)
    vocab = Vocab.build(corpus, min_count=1)
    enc = encode(corpus, vocab)
    cfg = Word2VecConfig(dim=8, window=3, negative=3, sample=0, min_count=1, epochs=3, seed=2)
    trainer = KerasTrainer(cfg, vocab, KerasOptions(batch_size=256))
    fingerprint = ckpt.corpus_fingerprint(vocab, enc)

    if mode == "first":
        try:
            trainer.fit(enc, callbacks=[stop_after(trainer, -(-trainer.gen.rows_in_epoch(enc, 0) // 256) + 3)])
            raise SystemExit("not interrupted")
        except TrainingInterrupted:
            pass
        arrays, state = trainer.checkpoint_state()
        ckpt.save(directory, arrays, {"backend": trainer.backend, "config": trainer.settings(),
                                      "corpus": fingerprint, "state": state})
    else:
        if mode == "second":
            meta, arrays = ckpt.load(directory)
            ckpt.check_compatible(meta, trainer.settings(), fingerprint, trainer.backend)
            trainer.restore(arrays, meta["state"])
        trainer.fit(enc)
    np.savez(out, *trainer.model.get_weights(), steps=int(keras.ops.convert_to_numpy(trainer.model.optimizer.iterations)))
    print(json.dumps({"backend": keras.backend.backend(), "epoch": trainer.epoch}))
    """
)


def _child(backend, mode, directory, out):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", _CHILD, mode, str(directory), str(out)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["backend"] == backend
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.integration
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("tensorflow", "jax", "keras")),
                    reason="needs both TensorFlow and JAX (the 'test' extra)")
def test_a_checkpoint_written_on_one_backend_resumes_on_the_other(tmp_path):
    """Stopped 3 batches into epoch 2 on one backend, resumed on the other: the run ends with
    the uninterrupted run's steps and weights, both ways round. The two backends' own
    uninterrupted runs agree too: one seed starts the same weights everywhere, and the
    maths is the same (in float32)."""
    full = {b: _child(b, "full", tmp_path, tmp_path / f"full-{b}.npz") for b in ("tensorflow", "jax")}
    for first, second in (("tensorflow", "jax"), ("jax", "tensorflow")):
        ck = tmp_path / f"ck-{first}"
        part = _child(first, "first", ck, tmp_path / f"part-{first}.npz")
        resumed = _child(second, "second", ck, tmp_path / f"resumed-{first}-{second}.npz")
        assert int(resumed["steps"]) == int(full[first]["steps"]) > int(part["steps"])
        for key in ("arr_0", "arr_1"):
            np.testing.assert_allclose(resumed[key], full[first][key], rtol=0, atol=1e-5)
        assert np.max(np.abs(part["arr_0"] - full[first]["arr_0"])) > 1e-3  # the stop was real
    for key in ("arr_0", "arr_1"):
        np.testing.assert_allclose(full["tensorflow"][key], full["jax"][key], rtol=0, atol=1e-5)


def _grouped_vectors(groups=6, per_group=8, dim=8, seed=0):
    """Words of a group near one random centre: what trained vectors of the planted corpus look like."""
    from fastw2v.vectors import Vectors

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((groups, dim))
    words = [f"g{g}w{i}" for g in range(groups) for i in range(per_group)]
    vecs = np.repeat(centres, per_group, axis=0) + 0.2 * rng.standard_normal((groups * per_group, dim))
    return Vectors(words, vecs.astype(np.float32))


def _texts(n, seed, groups=6, per_group=8, length=12, pad=False):
    rng = np.random.default_rng(seed)
    g = rng.integers(groups, size=n)
    texts = np.array([[f"g{k}w{i}" for i in rng.integers(per_group, size=length)] for k in g], dtype=object)
    if pad:  # sentences of 6 to 12 words, padded with ""
        for row, cut in zip(texts, rng.integers(6, length + 1, size=n)):
            row[cut:] = ""
    return texts, (g < groups // 2).astype(np.float32)  # the planted task: which half of the groups


@pytest.mark.parametrize("trainable, mask_zero", [(False, False), (True, False), (False, True)])
def test_to_keras_embedding_trains_a_text_classifier_frozen_or_trainable(trainable, mask_zero):
    """The README's classifier: the words through the lookup and the embedding, averaged, then a logistic unit."""
    require_keras()
    import keras

    keras.utils.set_random_seed(0)
    vectors = _grouped_vectors()
    lookup, embedding = fastw2v.to_keras(vectors, trainable=trainable, mask_zero=mask_zero)
    reserved = 2 if mask_zero else 1
    start = np.array(embedding.get_weights()[0])
    assert start.shape == (len(vectors) + reserved, vectors.dim) and not start[:reserved].any()
    np.testing.assert_array_equal(start[reserved:], vectors.vectors)
    strings = keras.backend.backend() == "tensorflow"  # StringLookup runs inside the model there
    if strings:  # Keras slices NumPy arrays of str only as TensorFlow tensors
        import tensorflow as tf

        ids = lambda t: tf.constant(t.astype(str))  # noqa: E731
    else:
        ids = lookup
    inputs = keras.Input(shape=(None,), dtype="string" if strings else "int32")
    x = embedding(lookup(inputs) if strings else inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    x_train, y_train = _texts(600, seed=1, pad=mask_zero)
    x_test, y_test = _texts(300, seed=2, pad=mask_zero)
    model.fit(ids(x_train), y_train, epochs=15, batch_size=64, verbose=0)
    accuracy = model.evaluate(ids(x_test), y_test, verbose=0)[1]
    assert accuracy >= 0.95, accuracy  # the classifier learned the planted task
    after = np.array(embedding.get_weights()[0])
    if trainable:
        assert not np.array_equal(after, start)
    else:
        np.testing.assert_array_equal(after, start)
    # the lookup and the rows agree: a word's row is its vector, an unknown word's is the zero row
    probe = np.array([["g3w5", "never-seen"]], dtype=object)
    rows = np.asarray(keras.ops.convert_to_numpy(lookup(probe.astype(str) if strings else probe)))
    assert rows[0, 0] == vectors.index["g3w5"] + reserved and rows[0, 1] == reserved - 1


def test_to_keras_refuses_nan_an_empty_vocabulary_and_duplicates():
    require_keras()
    from fastw2v.errors import ArgumentError
    from fastw2v.keras_embedding import embedding_layers
    from fastw2v.vectors import Vectors

    bad = _grouped_vectors()
    bad.vectors[5, 2] = np.nan
    with pytest.raises(ArgumentError, match=r"the vector of 'g0w5' \(row 5\) holds NaN or Inf"):
        fastw2v.to_keras(bad)
    with pytest.raises(ArgumentError, match="the vocabulary is empty"):
        fastw2v.to_keras(Vectors([], np.zeros((0, 4), np.float32)))
    with pytest.raises(ArgumentError, match="duplicate word 'a'"):
        embedding_layers(["a", "b", "a"], np.zeros((3, 4), np.float32))


def test_keras_trainer_offers_its_input_embeddings_to_keras():
    require_keras()
    from fastw2v.keras_trainer import KerasTrainer

    corpus, _ = planted_corpus(0, sentences=200)
    vocab = Vocab.build(corpus, min_count=1)
    trainer = KerasTrainer(Word2VecConfig(dim=8, epochs=1), vocab, KerasOptions(batch_size=1024))
    trainer.fit(encode(corpus, vocab))
    _, embedding = trainer.to_keras()
    np.testing.assert_array_equal(embedding.get_weights()[0][1:], trainer.vectors.vectors)
