"""One training lifecycle for both backends: what happens around ``fit``.

:func:`run` loads the corpus, builds the trainer (:func:`make_trainer`), and hands
both to :class:`Runner`, which

* resumes from a checkpoint if asked (:meth:`Runner._resume`);
* turns SIGINT and SIGTERM into a stop request (:class:`_Signals`);
* writes a checkpoint after every epoch and every ``checkpoint_every`` seconds: the
  trainer calls the runner's hook at its next safe point, and training goes on;
* on a signal, saves a checkpoint and the vectors so far, then raises
  :class:`~fastw2v.errors.TrainingInterrupted` saying how to resume;
* writes the vectors, the evaluation and the JSON report.

A trainer is :class:`fastw2v.Word2Vec` or :class:`fastw2v.keras_trainer.KerasTrainer`;
both provide :class:`Trainer`, the runner's declared contract.
:func:`fastw2v.cli.exit_code` maps the outcome to the command line's exit status.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from . import checkpoint as ckpt
from .atomic import atomic_open
from .config import KerasOptions, Word2VecConfig, check_choice, check_float, check_int
from .cli import KERAS_ONLY_OPTIONS
from .constants import CHECKPOINT_EVERY_SECONDS, DEFAULT_CHECKPOINT_DIR
from .errors import TrainingInterrupted, UsageError
from .heap import heap_kept_by_setting
from .memory import check_batch_memory
from .multiworker.group import checkpoint_name, run_in_group, worker_run_options

BACKENDS = ("keras", "hogwild")


@dataclass(frozen=True)
class CorpusOptions:
    """Which corpus to train on and how to read it (see :func:`fastw2v.load_corpus`)."""

    path: str = "text8"
    cache_dir: Optional[str] = None
    use_cache: bool = True
    prune_at: Optional[int] = None

    def __post_init__(self) -> None:
        if self.prune_at is not None:
            check_int("prune_at", self.prune_at, 1)


@dataclass(frozen=True)
class RunOptions:
    """What a run does around the training itself: files, checkpoints, monitoring."""

    output: Optional[str] = None
    report: Optional[str] = None
    checkpoint_dir: Optional[str] = None
    resume: bool = False
    checkpoint_every: float = CHECKPOINT_EVERY_SECONDS
    validate: Tuple[str, ...] = ()
    validate_every: int = 2000
    tensorboard: Optional[str] = None
    eval_analogies: Optional[str] = None
    eval_pairs: Tuple[str, ...] = ()
    quiet: bool = False
    #: show TensorFlow's, XLA's and CUDA's own start-up lines (:mod:`fastw2v.quiet`)
    verbose: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "validate", tuple(self.validate))
        object.__setattr__(self, "eval_pairs", tuple(self.eval_pairs))
        check_float("checkpoint_every", self.checkpoint_every, 0.0, strict=True)
        check_int("validate_every", self.validate_every, 1)
        if self.resume and not self.checkpoint_dir:
            raise UsageError("--resume needs --checkpoint-dir")

    def check_paths(self) -> None:
        """Refuse, before any work, outputs that cannot be written and inputs that do not exist."""
        _check_writable(self.output, "--output")
        _check_writable(self.report, "--report")
        for f in [self.eval_analogies, *self.eval_pairs]:
            if f and not Path(f).is_file():
                raise UsageError(f"evaluation file not found: {f}")
        if self.checkpoint_dir:
            d = Path(self.checkpoint_dir)
            if d.exists() and not d.is_dir():
                raise UsageError(f"--checkpoint-dir {d} is not a directory")


def _check_writable(path, what: str) -> None:
    if path is None:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UsageError(f"{what} {p} is a directory; give a file name")
    if not parent.is_dir():
        raise UsageError(f"{what} directory does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{what} directory is not writable: {parent}")


def make_trainer(backend: str, config: Word2VecConfig, vocab, keras: Optional[KerasOptions] = None):
    """The trainer for ``backend``: ``Word2Vec`` (hogwild) or ``KerasTrainer`` (keras)."""
    check_choice("backend", backend, BACKENDS)
    if backend == "hogwild":
        if keras is not None:
            raise UsageError(KERAS_ONLY_OPTIONS)
        from .word2vec import Word2Vec

        return Word2Vec(config)
    from .keras_backend import EXTRAS, check_backend, install_hint

    name = check_backend()
    try:
        from .keras_trainer import KerasTrainer
    except ImportError as exc:
        raise UsageError(f"the keras backend on {name} needs Keras and {name} ({exc}); install the "
                         f"'{EXTRAS[name]}' extra ({install_hint(name)}) or use --backend hogwild") from None
    return KerasTrainer(config, vocab, keras)


def _start_keras(verbose: bool) -> None:
    """Import Keras and start its backend's device platforms, their native start-up lines filtered
    unless ``verbose`` or the user's own ``TF_CPP_MIN_LOG_LEVEL`` (:mod:`fastw2v.quiet`); an import that
    fails is left to :func:`make_trainer`."""
    from .heap import keep_freed_heap
    from .quiet import native_start_up_filtered

    keep_freed_heap()  # before Keras and its thread pools start

    asked = verbose or "TF_CPP_MIN_LOG_LEVEL" in os.environ  # the user chose what TensorFlow logs
    with contextlib.nullcontext() if asked else native_start_up_filtered():
        try:
            importlib.import_module("fastw2v.keras_trainer")  # Keras, its backend and fastw2v's Keras modules
        except ImportError:
            return
        from .keras_glue import glue

        glue().physical_devices()


class _Signals:
    """While active, SIGINT and SIGTERM ask ``on_signal(name)`` to stop; old handlers come back after."""

    def __init__(self, on_signal) -> None:
        self.on_signal = on_signal
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.on_signal(signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer(Protocol):
    """What the runner asks of a trainer: :class:`fastw2v.Word2Vec` and
    :class:`fastw2v.keras_trainer.KerasTrainer` provide it (``tests/test_contracts.py`` checks).

    ``fit`` trains to the end of the configured epochs, calling ``on_epoch_end(trainer,
    record)`` after each one and ``on_checkpoint(trainer)`` at the first safe point after
    :meth:`request_checkpoint`; it raises :class:`~fastw2v.errors.TrainingInterrupted`
    after :meth:`request_stop`, with :meth:`checkpoint_state` saying where to continue.
    """

    #: the checkpoint's name for the trainer ("hogwild", "keras-sgns", ...)
    backend: str
    config: Word2VecConfig
    #: whether this process writes the files (only a multi-worker group's worker 0 does)
    is_chief: bool
    #: the processes training together (1 but under multiworker)
    n_workers: int

    def fit(self, corpus, *, quiet: bool, on_epoch_end: Callable, on_checkpoint: Callable, **options) -> "Trainer":
        """Train (see the class docstring)."""

    def request_stop(self) -> None:
        """Ask the running fit to stop at its next safe point (thread-safe)."""

    def request_checkpoint(self) -> None:
        """Ask the running fit to call its checkpoint hook at its next safe point (thread-safe)."""

    def checkpoint_state(self) -> Tuple[Dict[str, Any], dict]:
        """``(arrays, state)``: what a checkpoint holds."""

    def restore(self, arrays: Dict[str, Any], state: dict, vocab) -> None:
        """Continue from :meth:`checkpoint_state`'s output."""

    def settings(self) -> dict:
        """What a checkpoint must have been trained with to resume here."""

    def report_fields(self) -> dict:
        """The trainer's own fields of the run report."""

    def worker_share(self, corpus):
        """The part of ``corpus`` this process trains."""

    @property
    def vectors(self):
        """The input embeddings as :class:`~fastw2v.vectors.Vectors`."""

    @property
    def history(self) -> List[dict]:
        """One record per completed epoch."""

    @property
    def words_done(self) -> float:
        """Corpus words trained by this object."""

    @property
    def pairs_done(self) -> float:
        """(word, context) pairs trained by this object."""


class Runner:
    """Train one trainer on one corpus with checkpoints, signal handling and a report."""

    def __init__(self, trainer, vocab, corpus, options: RunOptions, fit_options: Optional[dict] = None,
                 peers=None) -> None:
        self.trainer = trainer
        #: multiworker: the :class:`~fastw2v.multiworker.peers.PeerGroup`; only the chief (worker 0) writes files
        self.peers = peers
        self.writes = trainer.is_chief
        self.vocab = vocab
        self.corpus = corpus
        self.options = options
        self.fit_options = dict(fit_options or {})
        self.fingerprint = ckpt.corpus_fingerprint(vocab, corpus)
        self.signal: Optional[str] = None  # the name of the signal that stopped the run
        self.serial = 0  # of the next checkpoint
        self.fit_seconds = 0.0
        self._timer: Optional[threading.Timer] = None
        self._checkpoint_seconds = 0.0  # spent in this fit's periodic checkpoints

    # -- the lifecycle ---------------------------------------------------------------

    def train(self) -> dict:
        """Resume if asked, then fit to the end; returns the training fields of the report."""
        if self.options.resume:
            self._resume()
        words0, pairs0 = self.trainer.words_done, self.trainer.pairs_done
        with _Signals(self._on_signal):
            self._fit()
        seconds = self.fit_seconds
        history = self.trainer.history
        return {
            "train_seconds": seconds,
            "words_per_sec": (self.trainer.words_done - words0) / seconds if seconds else 0.0,
            "pairs_per_sec": (self.trainer.pairs_done - pairs0) / seconds if seconds else 0.0,
            "final_loss": history[-1]["loss"] if history else None,
            "history": history,
            **self.trainer.report_fields(),
        }

    def _fit(self) -> None:
        """The one ``fit`` call: periodic checkpoints at the trainer's safe points, through its
        ``on_checkpoint`` hook; a stop saves a checkpoint and the vectors so far, then raises."""
        t0 = time.perf_counter()
        self._checkpoint_seconds = 0.0
        self._arm_timer()
        try:
            try:
                self.trainer.fit(self.corpus, quiet=self.options.quiet, on_epoch_end=self._on_epoch_end,
                                 on_checkpoint=self._on_checkpoint, **self.fit_options)
            finally:
                self._disarm_timer()
                # training time: the periodic checkpoints written inside fit are not training
                self.fit_seconds += time.perf_counter() - t0 - self._checkpoint_seconds
        except TrainingInterrupted as exc:
            self._save_on_interrupt(exc)

    def _arm_timer(self) -> None:
        """Ask the trainer for a checkpoint ``checkpoint_every`` seconds from now (the chief, with a directory)."""
        self._disarm_timer()
        if self.options.checkpoint_dir and self.writes:
            self._timer = threading.Timer(self.options.checkpoint_every, self.trainer.request_checkpoint)
            self._timer.daemon = True
            self._timer.start()

    def _disarm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_signal(self, name: str) -> None:
        self.signal = name
        self.trainer.request_stop()

    def _on_checkpoint(self, trainer) -> None:
        """The trainer's safe point after a periodic request: save, then count the next period."""
        t0 = time.perf_counter()
        self._save_checkpoint(self.options.checkpoint_dir)
        self._checkpoint_seconds += time.perf_counter() - t0
        self._arm_timer()

    def _on_epoch_end(self, trainer, record: dict) -> None:
        if not self.options.quiet:
            print(f"\nepoch {record['epoch']}: loss {record['loss']:.4f}", file=sys.stderr)
            if self.options.validate and record["epoch"] < trainer.config.epochs:
                # the last epoch's neighbours are the final ones, which finish() prints once
                self._print_neighbours(trainer.vectors, indent="  ")
        if self.options.checkpoint_dir:
            self._save_checkpoint(self.options.checkpoint_dir)

    # -- checkpoints -----------------------------------------------------------------

    def _save_checkpoint(self, directory) -> None:
        if not self.writes:
            return
        arrays, state = self.trainer.checkpoint_state()
        meta = {"backend": self.trainer.backend, "config": self.trainer.settings(), "corpus": self.fingerprint,
                "state": state, "serial": self.serial, "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        ckpt.save(directory, arrays, meta)
        self.serial += 1
        if self.peers is not None:
            self.peers.note_checkpoint(checkpoint_name(directory, meta))

    def _resume(self) -> None:
        """Continue from the checkpoint; under multiworker the chief's, which it hands to every worker."""
        directory = self.options.checkpoint_dir
        if self.writes:
            meta, arrays = ckpt.load(directory)
            if self.peers is not None:
                self.peers.send_state(meta, arrays)
                self.peers.note_checkpoint(checkpoint_name(directory, meta))
        else:
            meta, arrays = self.peers.receive_state()
        # every worker checks the checkpoint against its own corpus, vocabulary and flags
        ckpt.check_compatible(meta, self.trainer.settings(), self.fingerprint, self.trainer.backend)
        self.trainer.restore(arrays, meta.get("state"), self.vocab)
        self.serial = int(meta.get("serial", 0)) + 1
        if not self.options.quiet:
            print(f"resuming from {directory if self.writes else 'the chief'}'s checkpoint of "
                  f"{meta.get('saved_at', '?')}", file=sys.stderr)

    def _save_on_interrupt(self, exc: TrainingInterrupted) -> None:
        if not self.writes:
            raise TrainingInterrupted(f"{exc} by {self.signal or 'a stop of the group'}. The chief (worker 0) saved "
                                      "the checkpoint and the vectors so far; continue by starting every worker "
                                      "again with --resume and the chief's --checkpoint-dir") from None
        where = Path(self.options.checkpoint_dir or DEFAULT_CHECKPOINT_DIR)
        self._save_checkpoint(where)
        vectors = self.trainer.vectors
        vectors.save(where / "vectors.bin")
        output = self.options.output
        if output:
            vectors.save(output)
        raise TrainingInterrupted(
            f"{exc} by {self.signal or ('a stop of another worker' if self.peers is not None else 'request')}. Checkpoint and vectors so far saved in {where}/"
            + (f" (vectors also in {output})" if output else "")
            + f"; continue with --resume --checkpoint-dir {where}"
        ) from None

    # -- results ---------------------------------------------------------------------

    def _print_neighbours(self, vectors, indent: str = "") -> dict:
        """The ``validate`` words' 8 nearest neighbours, printed unless quiet."""
        known = [w for w in self.options.validate if w in vectors]
        neighbours = vectors.most_similar_batch(known, topn=8) if known else {}
        if not self.options.quiet:
            for w, near in neighbours.items():
                print(f"{indent}Nearest to {w}: {', '.join(near)}", file=sys.stderr)
        return neighbours

    def finish(self, report: dict) -> dict:
        """Add the neighbours and the evaluation to ``report``, and write the vectors and the report."""
        opts = self.options
        vectors = self.trainer.vectors
        if opts.validate:
            neighbours = self._print_neighbours(vectors)
            if neighbours:
                report["neighbours"] = neighbours
        if opts.output:
            vectors.save(opts.output)
            report["output"] = str(opts.output)
        if opts.eval_analogies or opts.eval_pairs:
            from .evaluate import evaluate, format_table

            report["evaluation"] = evaluate(vectors, opts.eval_analogies, opts.eval_pairs)
            if not opts.quiet:
                print(format_table(report["evaluation"]), file=sys.stderr)
        if opts.report:
            with atomic_open(opts.report, "w") as fh:
                json.dump(report, fh, indent=1, default=float)
        return report


def run(corpus: CorpusOptions, backend: str, config: Word2VecConfig, run_options: RunOptions,
        keras: Optional[KerasOptions] = None) -> dict:
    """A whole training run, as ``python -m fastw2v.train`` does it; returns the report.

    Under ``--strategy multiworker`` the workers first meet and then watch each other
    (:mod:`fastw2v.multiworker`): a lost peer ends this process with
    :data:`~fastw2v.cli.EXIT_PEER_LOST`, and every way this run ends is told to the
    others.

    Raises
    ------
    Fastw2vError
        Bad input (exit status 2), TrainingDiverged (3), PeerLost (4) or
        TrainingInterrupted (130).
    """
    check_choice("backend", backend, BACKENDS)
    if backend == "hogwild" and run_options.tensorboard:
        raise UsageError(KERAS_ONLY_OPTIONS)
    if backend == "keras" and keras is None:
        keras = KerasOptions()
    run_options.check_paths()
    if keras is not None:
        from .keras_backend import check_strategy

        # checked before Keras is imported, so a refusal is quick and its line is the last
        check_strategy(keras.strategy)
        if run_options.tensorboard and importlib.util.find_spec("tensorflow") is None:
            raise UsageError("--tensorboard needs TensorFlow: Keras writes TensorBoard summaries with "
                             "tensorflow.summary on every backend; install the 'tf' extra, or leave --tensorboard out")
        check_batch_memory(keras.batch_size, config.negative + 1 if keras.layout == "rows" else 1, config.dim)
        heap_kept_by_setting()  # a bad FASTW2V_KEEP_HEAP is refused before the corpus is read
    if keras is None or keras.strategy != "multiworker":
        return _run(corpus, backend, config, run_options, keras)
    # a missing or malformed TF_CONFIG is refused first, before Keras
    return run_in_group(keras.peer_timeout, keras.peer_port, bool(run_options.checkpoint_dir),
                        lambda peers: _run(corpus, backend, config, run_options, keras, peers))


def _run(corpus: CorpusOptions, backend: str, config: Word2VecConfig, run_options: RunOptions,
         keras: Optional[KerasOptions], peers=None) -> dict:
    from .corpus_cache import load_corpus
    from .progress import factory

    t0 = time.perf_counter()
    vocab, encoded = load_corpus(corpus.path, config.min_count, config.max_vocab, cache_dir=corpus.cache_dir,
                                 use_cache=corpus.use_cache, progress_factory=factory(run_options.quiet),
                                 prune_at=corpus.prune_at)
    prep_seconds = time.perf_counter() - t0
    if backend == "keras":
        _start_keras(run_options.verbose)
    if peers is None:
        trainer = make_trainer(backend, config, vocab, keras)
    else:
        # every worker has its corpus and Keras: now TensorFlow's strategy connects them, which must be quick
        peers.barrier("strategy")
        with peers.bounded("connecting TensorFlow's MultiWorkerMirroredStrategy"):
            trainer = make_trainer(backend, config, vocab, keras)
    if trainer.n_workers > 1:
        run_options = worker_run_options(trainer, encoded, run_options)
    if backend == "hogwild":
        fit_options = {"vocab": vocab}
    else:
        fit_options = {"validate": run_options.validate, "validate_every": run_options.validate_every,
                       "tensorboard": run_options.tensorboard}
    runner = Runner(trainer, vocab, encoded, run_options, fit_options, peers)
    trained = runner.train()
    if peers is not None:
        peers.disarm()  # no more all-reduces: a peer leaving now costs this worker nothing
    report = {
        "backend": backend,
        "model": keras.model if keras is not None else "sgns",
        "corpus": str(encoded.source or corpus.path),
        "corpus_words": int(encoded.raw_words),
        "encoded_words": int(encoded.n_words),
        "vocab_size": len(vocab),
        "epochs": config.epochs,
        "config": trainer.config.to_dict(),  # with the update rule resolved for the trainer
        "prep_seconds": prep_seconds,
        **({"keras": trainer.options.to_dict()} if keras is not None else {}),
        **trained,
    }
    if trained.get("workers", 1) > 1:
        # the workers step together, each on its own share of the pairs
        report["cluster_pairs_per_sec"] = trained["pairs_per_sec"] * trained["workers"]
    return runner.finish(report)

