"""Train the Keras models on batches streamed from the Numba pair generator, on any supported backend.

Each epoch's batches come from an :class:`~fastw2v.feed.EpochFeed`, which cuts them
from the generator's blocks in a background thread, so pair generation overlaps
training and there is no Python work per pair (only per batch of thousands of
rows). The backend's glue (:func:`fastw2v.keras_glue.glue`) hands the feed to
``fit``: a prefetching ``tf.data`` pipeline on TensorFlow, the generator itself on
JAX. On one device, each ``sgns`` batch carries its unique rows per table
(:mod:`fastw2v.segments`), so the step sums into those instead of ``V`` rows. Every
epoch resubsamples and draws new negatives. Memory stays flat: only a few
blocks of pairs exist at a time. :class:`KerasTrainer` offers the same small
interface as :class:`fastw2v.Word2Vec` (fit, request_stop, checkpoint_state,
restore, vectors), so :mod:`fastw2v.runner` drives both.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import keras

from .multiworker.cluster import WORKER_SEED_STRIDE, cluster_from_tf_config
from .config import KerasOptions, Word2VecConfig
from .constants import LOSS_EXPLOSION_FACTOR
from .errors import ArgumentTypeError, CheckpointError, CorpusError, TrainingDiverged, TrainingInterrupted
from .feed import EpochFeed
from .keras_embedding import to_keras
from .keras_glue import glue
from .keras_models import build_sgns, build_tutorial, input_embeddings
from .memory import check_batch_memory, check_device_memory, check_memory, device_memory_refusal
from .pairs import PairGenerator
from .progress import Progress
from .segments import RowSets, StepShapes, sgns_segments
from .vectors import Vectors

_glue = glue()


class SimilarityMonitor(keras.callbacks.Callback):
    """The tutorial's ``SimilarityCallback``: every ``every`` steps, print each validation
    word's nearest neighbours ("Nearest to WORD: n1, n2, ...") from the input embeddings."""

    def __init__(self, vocab, words: Sequence[str], every: int = 2000, topn: int = 8, stream=None):
        super().__init__()
        self.words = [w for w in words if w in vocab]
        self.vocab = vocab
        self.every = every
        self.topn = topn
        self.stream = stream if stream is not None else sys.stderr
        self.step = 0
        self.last: Dict[str, List[str]] = {}

    def nearest(self) -> Dict[str, List[str]]:
        vectors = Vectors(self.vocab.words, input_embeddings(self.model))
        return vectors.most_similar_batch(self.words, topn=self.topn)

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


class _Progress(keras.callbacks.Callback):
    """Progress bar with words/s, pairs/s, loss and ETA; also watches for divergence and stop requests,
    and after each step runs the trainer's checkpoint hook if one was asked for (a safe point).

    Keras calls ``on_train_batch_end`` once per ``steps_per_execution`` steps with the
    index of the last one, so the steps since the last call are counted from the
    index. Rows are counted as full batches during an epoch and settled to the feed's
    exact count at its end (:meth:`settle`).
    """

    def __init__(self, trainer: "KerasTrainer", total_rows: float, start_rows: float, start_batches: int,
                 quiet: bool):
        super().__init__()
        self.trainer = trainer
        self.bar = Progress(total_rows * trainer.words_per_row, desc="training", quiet=quiet)
        self.bar.set(start_rows * trainer.words_per_row)
        self.rows = start_rows
        self.rows_trained = 0
        self.diverged: Optional[str] = None
        #: batches of the current epoch trained, the ones a resumed run skipped included
        self.batches_in_epoch = start_batches
        self._epoch_rows = 0  # rows counted in this fit call's epoch
        self._last_index = -1
        self.epoch = 0
        self.t0 = time.perf_counter()
        self.first_loss = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._epoch_rows = 0
        self._last_index = -1

    def _count(self, rows: int) -> None:
        self._epoch_rows += rows
        self.rows += rows
        self.rows_trained += rows
        self.trainer.rows_done += rows

    def settle(self, feed_rows: int) -> None:
        """Make the epoch's row count the feed's exact one (the last batch is short)."""
        self._count(feed_rows - self._epoch_rows)

    def on_train_batch_end(self, batch, logs=None):
        steps = max(1, int(batch) - self._last_index)
        self._last_index = int(batch)
        self.batches_in_epoch += steps
        self._count(steps * self.trainer.options.batch_size)
        loss = float((logs or {}).get("loss", float("nan")))
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = loss
        exploded = self.first_loss is not None and loss > LOSS_EXPLOSION_FACTOR * self.first_loss
        if not math.isfinite(loss) or exploded:
            what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g} (first {self.first_loss:.3g})"
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            self.diverged = f"the loss {what} at step {step}"
            self.model.stop_training = True
        if self.trainer.stop_requested:
            self.model.stop_training = True
        elif not self.diverged:  # never a checkpoint of diverged weights
            self.trainer._safe_point(self.batches_in_epoch)
            if self.trainer.n_workers == 1 and self.trainer.stop_requested:
                self.model.stop_training = True  # a signal during the checkpoint: no further batch
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        pairs_per_sec = self.rows_trained * self.trainer.pairs_per_row / elapsed
        self.bar.set(self.rows * self.trainer.words_per_row, epoch=self.epoch + 1, loss=loss,
                     **{"pairs/s": f"{pairs_per_sec / 1e6:.2f}M"})

    def close(self):
        self.bar.close()


class _EpochTracker(keras.callbacks.Callback):
    """Counts completed epochs, records their loss, and calls ``on_epoch_end(trainer, record)``."""

    def __init__(self, trainer: "KerasTrainer", on_epoch_end):
        super().__init__()
        self.trainer = trainer
        self.on_epoch_end_hook = on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if self.trainer.stop_requested:
            return  # an interrupted epoch is not complete
        record = {"epoch": epoch + 1, "loss": float((logs or {}).get("loss", float("nan")))}
        self.trainer.epoch = epoch + 1
        self.trainer.history.append(record)
        if self.on_epoch_end_hook is not None:
            self.on_epoch_end_hook(self.trainer, record)


class KerasTrainer:
    """Build, train and export a Keras skip-gram model fed by a :class:`PairGenerator`.

    ``KerasTrainer(config, vocab, options)`` does no work; :meth:`fit` builds the model
    (:meth:`build`) and trains. ``trainer.model`` is the ``keras.Model``.
    """

    def __init__(self, config: Word2VecConfig, vocab, options: Optional[KerasOptions] = None):
        if not isinstance(config, Word2VecConfig):
            raise ArgumentTypeError(f"config must be a Word2VecConfig, got {type(config).__name__}")
        options = KerasOptions() if options is None else options
        if not isinstance(options, KerasOptions):
            raise ArgumentTypeError(f"options must be a KerasOptions, got {type(options).__name__}")
        self.config = config.for_trainer(options.model)
        self.options = options = options.resolved(self.config.optimizer)
        self.vocab = vocab
        #: this process's worker index and the number of workers (0 and 1 unless multiworker)
        self.worker_index, self.n_workers = cluster_from_tf_config() if options.strategy == "multiworker" else (0, 1)
        #: the backend's distribution strategy (keras_tf.Strategy or keras_jax.Strategy)
        self.strategy = _glue.Strategy(options.strategy)
        # workers draw from distinct streams (their shares are disjoint anyway); the
        # model's initial weights come from config.seed on every worker
        self.gen = PairGenerator(vocab, window=config.window, negative=config.negative, sample=config.sample,
                                 ns_power=config.ns_power, seed=config.seed + WORKER_SEED_STRIDE * self.worker_index,
                                 threads=config.threads)
        self.model: Optional[keras.Model] = None
        self._python_step = None  # set by build
        #: rows of the first epoch, and corpus words per row (set by build)
        self.rows_per_epoch = 0
        self.words_per_row = 0.0
        #: (word, context) pairs per row: a positive and its negatives, or one labelled pair
        self.pairs_per_row = config.negative + 1 if options.layout == "rows" else 1
        #: whether each batch carries its unique rows per table (fastw2v.segments), so that the
        #: step sums into those instead of V rows: sgns on one device of one worker (a strategy's
        #: replicas all-reduce per-occurrence rows instead)
        self.unique_rows = (options.model == "sgns" and options.layout == "rows" and self.n_workers == 1
                            and self.strategy.num_replicas == 1)
        #: the unique-row sizes of the steps compiled so far, which later batches reuse where they fit
        self._step_shapes = StepShapes()
        self.history: List[dict] = []
        self.epoch = 0
        self.skip_batches = 0
        #: rows trained by this object (all fits)
        self.rows_done = 0
        #: rows trained before the checkpoint this object resumed from, by all workers
        self.rows_before = 0
        #: rows trained by all workers in this object's fits (multiworker: summed each step)
        self.group_rows_done = 0
        #: multiworker: whether the whole group agreed to stop after the step it stopped at
        #: (a signal to any worker)
        self.group_stop = False
        self._stop = threading.Event()
        self._checkpoint = threading.Event()
        #: the fit's checkpoint hook (:meth:`fit`'s ``on_checkpoint``), called at a safe point
        self._on_checkpoint: Optional[Callable[["KerasTrainer"], None]] = None
        self._pending_state: Optional[Dict[str, np.ndarray]] = None

    @property
    def is_chief(self) -> bool:
        """True for the process that writes outputs, reports and checkpoints (worker 0)."""
        return self.worker_index == 0

    def worker_share(self, corpus):
        """The part of ``corpus`` this worker trains on: all of it, or its disjoint share of sentences."""
        return corpus if self.n_workers == 1 else corpus.share(self.worker_index, self.n_workers)

    @property
    def backend(self) -> str:
        """The checkpoint's name for this trainer."""
        return f"keras-{self.options.model}"

    @property
    def stop_requested(self) -> bool:
        """Whether the fit stops after this step: a request here, or under multiworker the group's."""
        return self._stop.is_set() if self.n_workers == 1 else self.group_stop

    def request_stop(self) -> None:
        """Ask a running (or the next) :meth:`fit` to stop after the current batch; thread-safe.

        The request holds until a fit has acted on it by raising TrainingInterrupted.
        Under multiworker every worker stops after the same step, the first whose
        all-reduce carries a request from any of them (:meth:`stop_flags`).
        """
        self._stop.set()

    def request_checkpoint(self) -> None:
        """Ask a running fit to call its ``on_checkpoint`` hook after the current step; thread-safe.

        Training then goes on. Under multiworker only the chief writes checkpoints, and the
        other workers wait for it in the next step's all-reduce.
        """
        self._checkpoint.set()

    def stop_flags(self) -> np.ndarray:
        """``[stop]`` as this worker requests it, for the step's all-reduce (float32)."""
        return np.array([self._stop.is_set()], dtype=np.float32)

    def group_stopped(self, stop: bool) -> bool:
        """Record whether the step's all-reduce says a worker asked the group to stop; True if it stops now."""
        self.group_stop = bool(stop)
        return self.group_stop

    def _safe_point(self, batches_in_epoch: int) -> None:
        """After a step: call the checkpoint hook if a checkpoint was asked for.

        The state then says the current epoch's first ``batches_in_epoch`` batches are
        trained, as after a stop there, and the model's variables hold the step's weights
        (the JAX trainer keeps them apart during an epoch: :func:`~fastw2v.keras_glue.glue`'s
        ``sync_weights``).
        """
        if not self._checkpoint.is_set():
            return
        self._checkpoint.clear()
        if self._on_checkpoint is None:
            return
        _glue.sync_weights(self.model)
        skipped, self.skip_batches = self.skip_batches, batches_in_epoch
        try:
            self._on_checkpoint(self)
        finally:
            self.skip_batches = skipped

    @property
    def cluster_rows_done(self) -> int:
        """Rows trained in this object's fits by every worker (this one's alone on one worker)."""
        return self.group_rows_done if self.n_workers > 1 else self.rows_done

    @property
    def words_done(self) -> float:
        """Corpus words trained by this object, counted as in the source text."""
        return self.rows_done * self.words_per_row

    @property
    def pairs_done(self) -> float:
        """(word, context) pairs trained by this object, each positive and each negative counted."""
        return self.rows_done * self.pairs_per_row

    def build(self, corpus) -> "KerasTrainer":
        """Count the first epoch's rows and build the model (inside the strategy's scope)."""
        cfg, opts = self.config, self.options
        check_memory(len(self.vocab), cfg.dim)
        check_batch_memory(opts.batch_size, self.pairs_per_row, cfg.dim)
        check_device_memory(_glue.accelerator_memory(), len(self.vocab), cfg.dim, opts.batch_size, self.pairs_per_row)
        corpus = self.worker_share(corpus)
        rows_epoch0 = self.gen.rows_in_epoch(corpus, 0)
        if rows_epoch0 == 0:
            raise CorpusError("the corpus yields no skip-gram pairs (every sentence is too short after subsampling)")
        # a flat-layout step holds batch_size labelled pairs: batch_size / (negative + 1) generator rows
        rows_per_row = 1 if opts.layout == "rows" else cfg.negative + 1
        self.rows_per_epoch = rows_epoch0 * rows_per_row
        self.words_per_row = corpus.raw_words / self.rows_per_epoch
        words_per_step = self.words_per_row * opts.batch_size
        with self.strategy.scope():
            if opts.model == "sgns":
                rate, final = self.learning_rates()
                self.model = build_sgns(len(self.vocab), cfg.dim, cfg.negative, rate, final, words_per_step,
                                        corpus.raw_words * self.n_workers * cfg.epochs, seed=cfg.seed,
                                        optimizer=cfg.optimizer, jit_compile=self.strategy.jit_compile,
                                        negative_group=opts.negative_group,
                                        steps_per_execution=opts.steps_per_execution, decay_start=cfg.decay_start)
            else:
                self.model = build_tutorial(len(self.vocab), cfg.dim, cfg.learning_rate, seed=cfg.seed,
                                            jit_compile=self.strategy.jit_compile,
                                            steps_per_execution=opts.steps_per_execution)
        #: the backend's step for :meth:`_python_epoch`; None where fit or the multiworker loop runs it
        self._python_step = _glue.python_step(self.model, self.strategy)
        if self._pending_state is not None:
            self._load_arrays(self._pending_state)
            self._pending_state = None
        return self

    def learning_rates(self) -> Tuple[float, float]:
        """sgns's initial and final rate: ``alpha`` to ``final_alpha`` for summed SGD; row-wise
        Adagrad's own rate to ``final_rate`` of it."""
        return self.config.rates()

    def fit(self, corpus, *, quiet: bool = True, on_epoch_end: Optional[Callable[["KerasTrainer", dict], None]] = None,
            on_checkpoint: Optional[Callable[["KerasTrainer"], None]] = None, validate: Sequence[str] = (),
            validate_every: int = 2000, callbacks=(), tensorboard=None,
            max_steps: Optional[int] = None) -> "KerasTrainer":
        """Train for the configured epochs, from where :attr:`epoch` and :attr:`skip_batches` say.

        Parameters
        ----------
        corpus : EncodedCorpus
        quiet : bool
            False shows a progress bar, and the neighbours of ``validate`` words every
            ``validate_every`` steps.
        on_epoch_end : callable(trainer, record), optional
        on_checkpoint : callable(trainer), optional
            Called after the step (with ``steps_per_execution``, the execution) during which
            :meth:`request_checkpoint` was called, with
            :meth:`checkpoint_state` saying where training stands; training then goes on.
        callbacks : Keras callbacks, run before fastw2v's own
        tensorboard : path, optional
            Log the loss there, and write embedding-projector files at the end.
        max_steps : int, optional
            Train only this many steps of the current epoch (for measurements).

        Raises
        ------
        TrainingInterrupted
            :meth:`request_stop` was called; :attr:`epoch` and :attr:`skip_batches`
            say where to continue.
        TrainingDiverged
        InsufficientMemoryError
            The step ran out of accelerator memory (with the estimate of what it needs).
        """
        cfg, opts = self.config, self.options
        if self.model is None:
            self.build(corpus)
        self._on_checkpoint = on_checkpoint
        self._checkpoint.clear()  # a request is for a running fit: none left over from an earlier one
        corpus = self.worker_share(corpus)
        total_rows = self.rows_per_epoch * cfg.epochs
        start_rows = self.epoch * self.rows_per_epoch + self.skip_batches * opts.batch_size
        progress = _Progress(self, total_rows, start_rows, self.skip_batches, quiet)
        # user callbacks first: a stop they request is seen at once
        cbs = list(callbacks) + [progress, _EpochTracker(self, on_epoch_end)]
        if validate and not quiet:
            cbs.append(SimilarityMonitor(self.vocab, list(validate), every=validate_every))
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard), update_freq=100))
        try:
            with warnings.catch_warnings(), self.strategy.fit_scope():
                # each Keras epoch is one pass of the generator, which then ends: that is expected
                warnings.filterwarnings("ignore", message=".*ran out of data.*")
                # one fit call per epoch: within one call Keras 3 runs the later epochs for the
                # first epoch's step count instead of to the end of their generator
                while self.epoch < cfg.epochs and not (self.stop_requested or progress.diverged):
                    self._fit_epoch(corpus, progress, cbs, max_steps)
                    if max_steps is not None:
                        break
        except Exception as exc:
            if _glue.is_out_of_memory(exc):
                raise device_memory_refusal(len(self.vocab), cfg.dim, opts.batch_size, self.pairs_per_row,
                                            _glue.accelerator_memory()) from None
            raise
        finally:
            progress.close()
            self._on_checkpoint = None
        if progress.diverged:
            raise TrainingDiverged(f"training diverged: {progress.diverged}. The learning rate is probably too "
                                   f"high: try a lower --alpha ({cfg.optimizer}'s rate, now "
                                   f"{self.learning_rates()[0]})")
        if max_steps is None and self.stop_requested and self.epoch < cfg.epochs:
            self.skip_batches = progress.batches_in_epoch
            self.group_stop = False
            self._stop.clear()  # acted on: the next fit continues
            raise TrainingInterrupted(f"training stopped in epoch {self.epoch + 1} after "
                                      f"{progress.batches_in_epoch} batches")
        if tensorboard and max_steps is None:
            self.vectors.save_projector(tensorboard)
        return self

    def _fit_epoch(self, corpus, progress: "_Progress", callbacks, max_steps: Optional[int]) -> None:
        """Epoch :attr:`epoch`, from batch :attr:`skip_batches` on: the trainer's own loop on one
        TensorFlow device (:meth:`_python_epoch`), one ``fit`` call otherwise."""
        opts = self.options
        feed = EpochFeed(self.gen, corpus, opts.layout, opts.batch_size, self.epoch, skip=self.skip_batches,
                         multiple_of=self.strategy.batch_multiple, prepare=self._prepare(), pad=self.pads_batches)
        epoch, skipped, self.skip_batches = self.epoch, self.skip_batches, 0
        if skipped and self.n_workers == 1 and feed.batches_left() == 0:
            # stopped after the epoch's last batch: nothing is left to fit, only the epoch's end
            keras.callbacks.CallbackList(list(callbacks), model=self.model).on_epoch_end(epoch, {"loss": float("nan")})
            progress.batches_in_epoch = 0
            return
        if self._python_step is not None:
            self._python_epoch(feed, epoch, callbacks, max_steps)
        else:
            data = _glue.fit_data(feed, opts.layout, self.config.negative + 1)
            if self.n_workers > 1:
                _glue.fit_epoch_distributed(self, data, callbacks, max_steps)
            else:
                self.model.fit(data, epochs=epoch + 1, initial_epoch=epoch, steps_per_epoch=max_steps, verbose=0,
                               callbacks=callbacks, shuffle=False)
        if self.epoch > epoch:  # the epoch ran to its end: its rows are the feed's
            progress.settle(feed.rows)
            progress.batches_in_epoch = 0

    def _python_epoch(self, feed, epoch: int, callbacks, max_steps: Optional[int]) -> None:
        """Epoch ``epoch`` by the trainer's own loop: each of the feed's NumPy batches goes
        straight into the backend's compiled step (:func:`fastw2v.keras_tf.python_step`),
        and the callbacks get the calls ``fit`` makes, in its order."""
        model = self.model
        cbs = keras.callbacks.CallbackList(list(callbacks), model=model)
        model.stop_training = False
        cbs.on_train_begin()
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        logs = {}
        batches = iter(feed)
        try:
            for i, batch in enumerate(batches):
                cbs.on_train_batch_begin(i)
                logs = self._python_step(batch)
                cbs.on_train_batch_end(i, logs)
                if model.stop_training or (max_steps is not None and i + 1 >= max_steps):
                    break
        finally:
            batches.close()  # stops the feed's threads when the loop leaves early
        logs = {name: float(value) for name, value in logs.items()}
        cbs.on_epoch_end(epoch, logs)
        cbs.on_train_end(logs)

    @property
    def pads_batches(self) -> bool:
        """Whether the feed pads an epoch's short last batch to the full batch with padding rows
        (:func:`fastw2v.segments.pad_rows`), so that the compiled step meets one batch shape
        instead of compiling once more for each epoch's last batch: where the batch carries its
        unique rows (:attr:`unique_rows`) and rows share negatives, the step that masks them."""
        return self.unique_rows and self.options.negative_group > 1 and self.config.negative > 0

    def _prepare(self) -> Optional[Callable[..., tuple]]:
        """The feed's ``prepare``, run in its thread: each batch with its unique rows per table,
        where :attr:`unique_rows`; and, where the trainer's own loop runs the step, as the backend's
        tensors (:func:`fastw2v.keras_tf.step_input`; only TensorFlow has that loop), so that the
        loop's thread hands the step tensors made while the previous step ran."""
        to_tensors = _glue.step_input if self._python_step is not None and self.options.layout == "rows" else None
        if not self.unique_rows:
            return None if to_tensors is None else (lambda targets, contexts: to_tensors((targets, contexts)))
        sets = RowSets(len(self.vocab))  # scratch for this feed's thread alone
        group, negative, padding = self.options.negative_group, self.config.negative, self.pads_batches
        shapes = self._step_shapes

        def segments(targets, contexts):
            x = sgns_segments(sets, targets, contexts, group, negative, padding=padding, shapes=shapes).fields()
            return x if to_tensors is None else to_tensors(x)
        return segments

    @property
    def vectors(self) -> Vectors:
        if self.model is None:
            raise RuntimeError("the model is not built yet: call fit() first")
        return Vectors(self.vocab.words, input_embeddings(self.model), self.vocab.counts)

    def to_keras(self, trainable: bool = False, mask_zero: bool = False, name: str = "fastw2v_embedding"):
        """``(lookup, embedding)`` of the input embeddings ``w_in``: :func:`fastw2v.to_keras`."""
        return to_keras(self.vectors, trainable=trainable, mask_zero=mask_zero, name=name)

    def settings(self) -> dict:
        """What a checkpoint must have been trained with to be resumed here (the strategy may differ)."""
        return dict(self.config.to_dict(), batch_size=self.options.batch_size,
                    negative_group=self.options.negative_group, workers=self.n_workers)

    def report_fields(self) -> dict:
        """Backend-specific fields for a run report."""
        fields = {"batch_size": self.options.batch_size, "optimizer": self.config.optimizer,
                  "negative_group": self.options.negative_group, "final_rate": self.config.final_rate,
                  "decay_start": self.config.decay_start, "learning_rate": self.learning_rates()[0],
                  "keras_backend": _glue.NAME, "steps_per_execution": self.options.steps_per_execution,
                  "devices": _glue.devices(), "replicas": self.strategy.num_replicas,
                  # by every worker: in this run, and since the start of training (a resumed run's
                  # checkpoint included), so that runs stopped and resumed add up to one whole run
                  "pairs_trained": self.cluster_rows_done * self.pairs_per_row,
                  "pairs_trained_total": (self.rows_before + self.cluster_rows_done) * self.pairs_per_row}
        if self.n_workers > 1:
            fields.update(workers=self.n_workers, worker_index=self.worker_index)
        return fields

    # -- checkpoints ---------------------------------------------------------------

    def checkpoint_state(self) -> Tuple[Dict[str, np.ndarray], dict]:
        """``(arrays, state)``: the weights and optimizer variables, and where training stands."""
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(self.model.get_weights())}
        for i, v in enumerate(self.model.optimizer.variables):
            arrays[f"opt{i}"] = np.asarray(keras.ops.convert_to_numpy(v))
        return arrays, {"epoch": self.epoch, "skip_batches": self.skip_batches, "history": self.history,
                        "rows_trained": self.rows_before + self.cluster_rows_done}

    def restore(self, arrays: Dict[str, np.ndarray], state: dict, vocab=None) -> None:
        """Continue from :meth:`checkpoint_state`'s output; applied at once if built, else by :meth:`build`."""
        try:
            self.epoch = int(state["epoch"])
            self.skip_batches = int(state["skip_batches"])
            self.history = list(state["history"])
            self.rows_before = int(state.get("rows_trained", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"the checkpoint lacks the Keras state ({exc})") from None
        if self.model is None:
            self._pending_state = arrays
        else:
            self._load_arrays(arrays)

    def _load_arrays(self, arrays: Dict[str, np.ndarray]) -> None:
        weights = self.model.get_weights()
        try:
            loaded = [arrays[f"w{i}"] for i in range(len(weights))]
        except KeyError as exc:
            raise CheckpointError(f"the checkpoint lacks the weight array {exc}") from None
        for i, (w, a) in enumerate(zip(weights, loaded)):
            if w.shape != a.shape:
                raise CheckpointError(f"the checkpoint's weight {i} has shape {a.shape}, the model {w.shape}")
        self.model.set_weights(loaded)
        opt = self.model.optimizer
        if not opt.built:
            opt.build(self.model.trainable_variables)
        for i, v in enumerate(opt.variables):
            if f"opt{i}" in arrays:
                v.assign(arrays[f"opt{i}"])
