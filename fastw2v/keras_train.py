"""Train the Keras models on batches streamed from the Numba pair generator.

The generator runs in a background thread and feeds ``tf.data`` through
``from_generator`` with prefetch, so pair generation overlaps training and there
is no Python work per pair (only per batch of thousands of rows). Each Keras
epoch re-iterates the generator with the next epoch index, so every epoch
resubsamples. Memory stays flat: only a few blocks of pairs exist at a time.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import List, Optional

import numpy as np
import tensorflow as tf
import keras

from . import checkpoint as ckpt
from .keras_models import build_sgns, build_tutorial, input_embeddings
from .model import TrainingDiverged, TrainingInterrupted
from .pairs import PairGenerator
from .progress import Progress
from .vectors import Vectors

def make_dataset(gen: PairGenerator, corpus, layout: str, batch_size: int, epoch_source, prefetch: int = 4):
    """A ``tf.data.Dataset`` of ``((targets, contexts), y)`` batches for one epoch per iteration.

    ``epoch_source()`` is called each time Keras starts iterating (each epoch) and
    returns ``(epoch, batches_to_skip)``.
    """
    width = gen.negative + 1

    def batches():
        epoch, skip = epoch_source()
        for i, batch in enumerate(gen.batches(corpus, batch_size, layout=layout, epochs=1, start_epoch=epoch)):
            if i < skip:
                continue
            if layout == "rows":
                targets, contexts = batch
                yield (targets, contexts), np.zeros(targets.shape[0], dtype=np.float32)
            else:
                targets, contexts, labels = batch
                yield (targets, contexts), labels

    if layout == "rows":
        spec = ((tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, width], tf.int32)),
                tf.TensorSpec([None], tf.float32))
    else:
        spec = ((tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)), tf.TensorSpec([None], tf.int8))
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
    if layout == "flat":
        ds = ds.map(lambda x, y: (x, tf.cast(y, tf.float32)), num_parallel_calls=1)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(prefetch)


class SimilarityMonitor(keras.callbacks.Callback):
    """The tutorial's ``SimilarityCallback``, with one matrix product for all words.

    Every ``every`` steps it prints "Nearest to WORD: n1, n2, ..." for each
    validation word, from the unit-normalised input embeddings.
    """

    def __init__(self, vocab, words: List[str], every: int = 2000, topn: int = 8, stream=None):
        super().__init__()
        self.words = [w for w in words if w in vocab]
        self.rows = np.array([vocab.index[w] for w in self.words], dtype=np.int64)
        self.vocab = vocab
        self.every = every
        self.topn = topn
        self.stream = stream if stream is not None else sys.stderr
        self.step = 0
        self.last: dict = {}

    def nearest(self) -> dict:
        W = input_embeddings(self.model)
        W = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
        sims = W[self.rows] @ W.T
        sims[np.arange(len(self.rows)), self.rows] = -np.inf
        out = {}
        for i, w in enumerate(self.words):
            best = np.argpartition(-sims[i], self.topn)[: self.topn]
            best = best[np.argsort(-sims[i][best])]
            out[w] = [self.vocab.words[j] for j in best]
        return out

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.words and self.every and self.step % self.every == 0:
            self.report()

    def report(self):
        self.last = self.nearest()
        self.stream.write("\n")
        for w, near in self.last.items():
            self.stream.write(f"Nearest to {w}: {', '.join(near)}\n")
        self.stream.flush()


#: a running loss this many times the first one means training diverged
EXPLOSION_FACTOR = 100.0


class _Progress(keras.callbacks.Callback):
    """Progress bar with words/s, pairs/s, loss and ETA; also watches for NaN and stop requests."""

    def __init__(self, total_rows, rows_per_step, words_per_row, pairs_per_row, quiet, stop_event, start_rows=0):
        super().__init__()
        self.bar = Progress(total_rows * words_per_row, desc="training", quiet=quiet)
        self.bar.set(start_rows * words_per_row)
        self.rows_per_step = rows_per_step
        self.words_per_row = words_per_row
        self.pairs_per_row = pairs_per_row
        self.stop_event = stop_event
        self.rows = start_rows
        self.diverged: Optional[str] = None
        self.batches_in_epoch = 0
        self.epoch = 0
        self.t0 = time.perf_counter()
        self.rows_trained = 0
        self.first_loss = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.batches_in_epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.batches_in_epoch += 1
        self.rows += self.rows_per_step
        self.rows_trained += self.rows_per_step
        loss = float(logs.get("loss", float("nan")))
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = loss
        exploded = self.first_loss is not None and loss > EXPLOSION_FACTOR * self.first_loss
        if not math.isfinite(loss) or exploded:
            what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g} (first {self.first_loss:.3g})"
            self.diverged = f"the loss {what} at step {int(self.model.optimizer.iterations.numpy())}"
            self.model.stop_training = True
        if self.stop_event.is_set():
            self.model.stop_training = True
        elapsed = time.perf_counter() - self.t0
        self.bar.set(self.rows * self.words_per_row, epoch=self.epoch + 1, loss=loss,
                     **{"pairs/s": f"{self.rows_trained * self.pairs_per_row / max(elapsed, 1e-9) / 1e6:.2f}M"})

    def close(self):
        self.bar.close()


def _projector_files(directory, vectors: Vectors, limit: int = 10000) -> None:
    """Embedding-projector files: vectors.tsv, metadata.tsv and projector_config.pbtxt."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    n = min(limit, len(vectors))
    np.savetxt(d / "vectors.tsv", vectors.vectors[:n], delimiter="\t", fmt="%.6g")
    (d / "metadata.tsv").write_text("".join(w + "\n" for w in vectors.words[:n]), encoding="utf-8")
    (d / "projector_config.pbtxt").write_text(
        'embeddings {\n  tensor_path: "vectors.tsv"\n  metadata_path: "metadata.tsv"\n}\n')


def _strategy(name: str):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


class KerasTrainer:
    """Build, train and export a Keras skip-gram model fed by a :class:`PairGenerator`."""

    def __init__(self, cfg, vocab, model_kind: str = "sgns", strategy: str = "default", learning_rate=None):
        if model_kind not in ("sgns", "tutorial"):
            raise ValueError(f"model must be 'sgns' or 'tutorial', got {model_kind!r}")
        self.cfg = cfg
        self.vocab = vocab
        self.kind = model_kind
        self.layout = "rows" if model_kind == "sgns" else "flat"
        self.gen = PairGenerator(vocab, window=cfg.window, negative=cfg.negative, sample=cfg.sample,
                                 ns_power=cfg.ns_power, seed=cfg.seed, threads=cfg.threads)
        self.strategy = _strategy(strategy)
        self.learning_rate = learning_rate
        self.model = None
        self.validation_model = None
        self.history: List[dict] = []
        self.epoch = 0
        self.skip_batches = 0
        self.stop_event = threading.Event()
        self.checkpoint_serial = 0
        self.seconds = 0.0

    def build(self, corpus):
        cfg = self.cfg
        rows_epoch0 = self.gen.rows_in_epoch(corpus, 0)
        if rows_epoch0 == 0:
            raise ValueError("the corpus yields no skip-gram pairs (every sentence is too short after subsampling)")
        per_step = cfg.batch_size if self.layout == "rows" else cfg.batch_size / (cfg.negative + 1)
        self.rows_per_epoch = rows_epoch0
        self.words_per_row = corpus.raw_words / rows_epoch0
        words_per_step = corpus.raw_words * per_step / rows_epoch0
        with self.strategy.scope():
            if self.kind == "sgns":
                self.model = build_sgns(len(self.vocab), cfg.dim, cfg.negative, cfg.alpha, cfg.final_alpha,
                                        words_per_step, corpus.raw_words * cfg.epochs, seed=cfg.seed,
                                        jit_compile=self.strategy.num_replicas_in_sync == 1)
            else:
                lr = self.learning_rate if self.learning_rate is not None else 0.001
                self.model, self.validation_model = build_tutorial(len(self.vocab), cfg.dim, lr, seed=cfg.seed)
        return self

    def _epoch_source(self):
        epoch = self.epoch
        skip, self.skip_batches = self.skip_batches, 0
        return epoch, skip

    def fit(self, corpus, quiet=True, validate=(), validate_every=2000, callbacks=(), checkpoint_dir=None,
            tensorboard=None, checkpoint_serial=0, max_steps=None):
        cfg = self.cfg
        if self.model is None:
            self.build(corpus)
        ds = make_dataset(self.gen, corpus, self.layout, cfg.batch_size, self._epoch_source)
        pairs_per_row = cfg.negative + 1 if self.layout == "rows" else 1
        rows_per_step = cfg.batch_size
        words_per_row = self.words_per_row if self.layout == "rows" else self.words_per_row / (cfg.negative + 1)
        total_rows = self.rows_per_epoch * cfg.epochs * (1 if self.layout == "rows" else cfg.negative + 1)
        start_rows = self.epoch * total_rows / cfg.epochs + self.skip_batches * rows_per_step
        progress = _Progress(total_rows, rows_per_step, words_per_row, pairs_per_row, quiet, self.stop_event,
                             start_rows)
        self.checkpoint_serial = checkpoint_serial
        tracker = _EpochTracker(self, checkpoint_dir, ckpt.corpus_fingerprint(self.vocab, corpus))
        cbs = list(callbacks) + [progress, tracker]  # user callbacks first: a stop they request is seen at once
        monitor = None
        if validate and not quiet:
            monitor = SimilarityMonitor(self.vocab, list(validate), every=validate_every)
            cbs.append(monitor)
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard), update_freq=100))
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # each Keras epoch is one pass of the generator, which then ends: that is expected
                warnings.filterwarnings("ignore", message=".*ran out of data.*")
                if max_steps is None:
                    self.model.fit(ds, epochs=cfg.epochs, initial_epoch=self.epoch, verbose=0, callbacks=cbs,
                                   shuffle=False)
                else:  # a bounded measurement: the first max_steps steps of the current epoch
                    self.model.fit(ds, epochs=self.epoch + 1, initial_epoch=self.epoch, steps_per_epoch=max_steps,
                                   verbose=0, callbacks=cbs, shuffle=False)
        finally:
            progress.close()
        seconds = time.perf_counter() - t0
        if progress.diverged:
            raise TrainingDiverged(f"training diverged: {progress.diverged}. The learning rate is probably too "
                                   f"high: try a lower --alpha (now {cfg.alpha})")
        self.seconds = seconds
        self.rows_trained = progress.rows_trained
        self.pairs_trained = progress.rows_trained * pairs_per_row
        self.words_trained = progress.rows_trained * words_per_row
        if max_steps is not None:
            return self
        if self.stop_event.is_set() and self.epoch < cfg.epochs:
            self.skip_batches = progress.batches_in_epoch
            raise TrainingInterrupted(f"training stopped in epoch {self.epoch + 1} after "
                                      f"{progress.batches_in_epoch} batches")
        if tensorboard:
            _projector_files(tensorboard, self.vectors)
        return self

    @property
    def vectors(self) -> Vectors:
        return Vectors(self.vocab.words, input_embeddings(self.model), self.vocab.counts)

    # -- checkpoints ---------------------------------------------------------------

    def state_arrays(self) -> dict:
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(self.model.get_weights())}
        for i, v in enumerate(self.model.optimizer.variables):
            arrays[f"opt{i}"] = np.asarray(v.numpy())
        return arrays

    def load_state(self, arrays: dict) -> None:
        n_w = len(self.model.get_weights())
        self.model.set_weights([arrays[f"w{i}"] for i in range(n_w)])
        opt = self.model.optimizer
        if not opt.built:
            opt.build(self.model.trainable_variables)
        for i, v in enumerate(opt.variables):
            if f"opt{i}" in arrays:
                v.assign(arrays[f"opt{i}"])

    def save_checkpoint(self, directory, fingerprint: dict, serial: int) -> None:
        meta = {"backend": f"keras-{self.kind}", "config": self.cfg.to_dict(), "corpus": fingerprint,
                "state": {"epoch": self.epoch, "skip_batches": self.skip_batches, "history": self.history},
                "serial": serial, "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        ckpt.save(directory, self.state_arrays(), meta)


class _EpochTracker(keras.callbacks.Callback):
    """Counts completed epochs and writes a checkpoint after each."""

    def __init__(self, trainer: KerasTrainer, checkpoint_dir, fingerprint: dict):
        super().__init__()
        self.trainer = trainer
        self.checkpoint_dir = checkpoint_dir
        self.fingerprint = fingerprint

    def on_epoch_end(self, epoch, logs=None):
        if self.trainer.stop_event.is_set():
            return  # an interrupted epoch is not complete
        self.trainer.epoch = epoch + 1
        self.trainer.history.append({"epoch": epoch + 1, "loss": float((logs or {}).get("loss", float("nan")))})
        if self.checkpoint_dir:
            self.trainer.save_checkpoint(self.checkpoint_dir, self.fingerprint, self.trainer.checkpoint_serial)
            self.trainer.checkpoint_serial += 1


def train_keras(cfg, vocab, corpus, args, validate) -> dict:
    """The command line's Keras backend: returns the report fields and the vectors."""
    model_kind = args.model
    lr = cfg.alpha if model_kind == "tutorial" else None
    trainer = KerasTrainer(cfg, vocab, model_kind, args.strategy, learning_rate=lr).build(corpus)
    fingerprint = ckpt.corpus_fingerprint(vocab, corpus)
    directory = args.checkpoint_dir
    serial = 0
    if args.resume:
        meta, arrays = ckpt.load(directory)
        ckpt.check_compatible(meta, cfg.to_dict(), fingerprint, f"keras-{model_kind}")
        trainer.load_state(arrays)
        trainer.epoch = int(meta["state"]["epoch"])
        trainer.skip_batches = int(meta["state"]["skip_batches"])
        trainer.history = list(meta["state"]["history"])
        serial = int(meta.get("serial", 0)) + 1
    received = {}

    def handler(signum, frame):
        received["signal"] = signal.Signals(signum).name
        trainer.stop_event.set()

    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    try:
        trainer.fit(corpus, quiet=args.quiet, validate=validate, validate_every=args.validate_every,
                    checkpoint_dir=directory, tensorboard=args.tensorboard, checkpoint_serial=serial)
    except TrainingInterrupted as exc:
        where = directory or "fastw2v-checkpoint"
        trainer.save_checkpoint(where, fingerprint, trainer.checkpoint_serial)
        trainer.vectors.save(Path(where) / "vectors.bin")
        if args.output:
            trainer.vectors.save(args.output)
        raise TrainingInterrupted(f"{exc} by {received.get('signal', 'request')}. Checkpoint and vectors so far "
                                  f"saved in {where}/; continue with --resume --checkpoint-dir {where}") from None
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    return {
        "vectors": trainer.vectors,
        "train_seconds": trainer.seconds,
        "words_per_sec": trainer.words_trained / trainer.seconds,
        "pairs_per_sec": trainer.pairs_trained / trainer.seconds,
        "final_loss": trainer.history[-1]["loss"] if trainer.history else None,
        "history": trainer.history,
        "batch_size": cfg.batch_size,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "replicas": trainer.strategy.num_replicas_in_sync,
    }
