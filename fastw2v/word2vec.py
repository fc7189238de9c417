"""The Hogwild SGNS estimator: ``Word2Vec(config).fit(corpus)``.

Python orchestrates (epochs, the job queue, progress, NaN checks, stopping);
:func:`fastw2v.hogwild.train_job` computes. Each epoch hands whole-sentence jobs
to ``threads`` worker threads in corpus order (:class:`_JobQueue`); the main
thread collects their losses, advances the resume position past every finished
job, releases the corpus pages all threads have passed, and draws the progress bar.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .config import Word2VecConfig
from .constants import JOB_WORDS, WEIGHT_LIMIT
from .corpus import EncodedCorpus, as_encoded
from .corpus_cache import load_corpus
from .errors import ArgumentError, ArgumentTypeError, CheckpointError, TrainingDiverged, TrainingInterrupted
from .hogwild import (ADAGRAD, SGD, Sampling, Schedule, Sentences, Step, Weights, init_weights, make_scratch,
                      sigmoid_tables, train_job)
from .memory import check_memory
from .pages import release_pages
from .progress import Progress, factory
from .sampling import SamplingTables, epoch_keys
from .vectors import Vectors
from .vocab import Vocab


@dataclass
class TrainState:
    """Where training stands: enough to continue it exactly (with one thread)."""

    epoch: int = 0
    next_job: int = 0
    epoch_loss: float = 0.0
    epoch_pairs: int = 0
    words_done: int = 0  # corpus tokens trained, all epochs
    pairs_done: int = 0  # positive pairs trained, all epochs
    seconds: float = 0.0
    history: List[dict] = field(default_factory=list)


@dataclass
class _Plan:
    """What every epoch of one fit reads: the corpus, its jobs and the tables."""

    ids: np.ndarray  # int32[N]
    starts: np.ndarray  # int64[S + 1]
    jobs: np.ndarray  # int64[n_jobs + 1], the first sentence of each job
    longest: int  # the longest sentence
    total_positions: float  # corpus tokens over all epochs
    tables: SamplingTables
    sig: np.ndarray
    log_sig: np.ndarray

    @property
    def n_jobs(self) -> int:
        return int(self.jobs.shape[0] - 1)


class _JobQueue:
    """Hands out one epoch's jobs in order and collects their results; thread-safe."""

    def __init__(self, first_job: int, n_jobs: int) -> None:
        self._lock = threading.Lock()
        self._next = first_job
        self._n_jobs = n_jobs
        self._results: Dict[int, Tuple[float, int, int]] = {}
        self._finished: List[int] = []
        self.errors: List[BaseException] = []

    def take(self) -> Optional[int]:
        """The next job to run, or None when every job has been handed out."""
        with self._lock:
            if self._next >= self._n_jobs:
                return None
            self._next += 1
            return self._next - 1

    def put(self, job: int, loss: float, pairs: int, words: int) -> None:
        with self._lock:
            self._results[job] = (loss, pairs, words)
            self._finished.append(job)

    def drain(self) -> List[Tuple[int, Tuple[float, int, int]]]:
        """The results put since the last drain."""
        with self._lock:
            out = list(self._results.items())
            self._results.clear()
        return out

    def advance(self, next_job: int) -> int:
        """The lowest unfinished job, given that every job below ``next_job`` is finished."""
        with self._lock:
            self._finished.sort()
            while self._finished and self._finished[0] == next_job:
                self._finished.pop(0)
                next_job += 1
        return next_job


class Word2Vec:
    """Skip-gram with negative sampling, trained by lock-free Hogwild SGD.

    ``Word2Vec(config)`` or ``Word2Vec(dim=..., ...)`` does no work; :meth:`fit`
    trains. After fitting, :attr:`vectors` holds the input embeddings as a
    :class:`~fastw2v.vectors.Vectors`.

    Examples
    --------
    >>> model = Word2Vec(dim=100, epochs=5).fit("text8")       # doctest: +SKIP
    >>> model.vectors.most_similar("france", topn=3)            # doctest: +SKIP
    """

    #: the checkpoint's name for this trainer
    backend = "hogwild"

    def __init__(self, config: Optional[Word2VecConfig] = None, **overrides) -> None:
        if config is None:
            config = Word2VecConfig(**overrides)
        elif not isinstance(config, Word2VecConfig):
            raise ArgumentTypeError(f"config must be a Word2VecConfig, got {type(config).__name__}")
        elif overrides:
            config = config.replace(**overrides)
        self.config = config = config.for_trainer("hogwild")
        self.vocab: Optional[Vocab] = None
        #: the kernel's weight arrays: float32[V, dim], plus Adagrad's accumulator column
        self._rows_in: Optional[np.ndarray] = None
        self._rows_out: Optional[np.ndarray] = None
        self._rule = ADAGRAD if config.optimizer == "adagrad" else SGD
        self.state = TrainState()
        self._raw_per_encoded = 1.0
        self._stop = threading.Event()
        self._checkpoint = threading.Event()

    #: one process trains the whole corpus and writes the files (the runner's contract)
    is_chief = True
    n_workers = 1

    def worker_share(self, corpus):
        """The part of ``corpus`` this trainer trains on: all of it."""
        return corpus

    # -- public ---------------------------------------------------------------------

    @property
    def W_in(self) -> Optional[np.ndarray]:
        """The input embeddings, float32[V, dim] (a view of the kernel's rows)."""
        return None if self._rows_in is None else self._rows_in[:, :self.config.dim]

    @property
    def W_out(self) -> Optional[np.ndarray]:
        """The output embeddings, float32[V, dim] (a view of the kernel's rows)."""
        return None if self._rows_out is None else self._rows_out[:, :self.config.dim]

    @property
    def acc_in(self) -> Optional[np.ndarray]:
        """Row-wise Adagrad's accumulators of ``W_in``, float32[V] (a view); None with sgd."""
        return None if self._rows_in is None or self._rule == SGD else self._rows_in[:, self.config.dim]

    @property
    def acc_out(self) -> Optional[np.ndarray]:
        """Row-wise Adagrad's accumulators of ``W_out``, float32[V] (a view); None with sgd."""
        return None if self._rows_out is None or self._rule == SGD else self._rows_out[:, self.config.dim]

    def _set_rows(self, W_in, W_out, acc_in=None, acc_out=None) -> None:
        """The kernel's arrays from weights (and accumulators, zero when not given)."""
        rows = []
        for W, acc in ((W_in, acc_in), (W_out, acc_out)):
            if self._rule == SGD:
                rows.append(np.ascontiguousarray(W, dtype=np.float32))
                continue
            full = np.empty((W.shape[0], W.shape[1] + 1), dtype=np.float32)
            full[:, :-1] = W
            full[:, -1] = 0.0 if acc is None else acc
            rows.append(full)
        self._rows_in, self._rows_out = rows

    @property
    def vectors(self) -> Vectors:
        if self.W_in is None or self.vocab is None:
            raise RuntimeError("the model is not trained yet: call fit() first")
        return Vectors(self.vocab.words, np.ascontiguousarray(self.W_in), self.vocab.counts)

    def request_stop(self) -> None:
        """Ask a running (or the next) :meth:`fit` to stop after the jobs in flight; thread-safe.

        The request holds until a fit has acted on it by raising TrainingInterrupted.
        """
        self._stop.set()

    def request_checkpoint(self) -> None:
        """Ask a running fit to call its ``on_checkpoint`` hook once the jobs in flight are done; thread-safe.

        The threads then take no new job until the hook returns, and training goes on.
        """
        self._checkpoint.set()

    @property
    def words_done(self) -> float:
        """Corpus words trained so far, all epochs, counted as in the source text."""
        return self.state.words_done * self._raw_per_encoded

    @property
    def pairs_done(self) -> int:
        """(word, context) pairs trained so far, each positive and each negative counted."""
        return self.state.pairs_done * (self.config.negative + 1)

    def fit(self, corpus, vocab: Optional[Vocab] = None, *, cache_dir=None, quiet: bool = True,
            on_epoch_end: Optional[Callable[["Word2Vec", dict], None]] = None,
            on_checkpoint: Optional[Callable[["Word2Vec"], None]] = None) -> "Word2Vec":
        """Train on ``corpus``, continuing from :attr:`state` (fresh, or :meth:`restore`-d).

        Parameters
        ----------
        corpus : path, re-iterable of token lists, or EncodedCorpus
            With an EncodedCorpus (or id array), pass its ``vocab`` too.
        vocab : Vocab, optional
        cache_dir : path, optional
            Encoded-corpus cache directory (see :func:`fastw2v.load_corpus`).
        quiet : bool
            False shows a progress bar on stderr.
        on_epoch_end : callable(model, record), optional
            Called after each completed epoch with its record (epoch, mean loss, ...).
        on_checkpoint : callable(model), optional
            Called once the jobs in flight when :meth:`request_checkpoint` was called are
            done, with no job running and :meth:`checkpoint_state` saying where training
            stands; training then goes on.

        Returns
        -------
        self

        Raises
        ------
        TrainingInterrupted
            :meth:`request_stop` was called; :attr:`state` says where to continue.
        TrainingDiverged
            The loss or the weights became NaN/Inf, or the weights exploded.
        """
        self._checkpoint.clear()  # a request is for a running fit: none left over from an earlier one
        corpus = self._prepare(corpus, vocab, cache_dir, quiet)
        plan = self._plan(corpus)
        st = self.state
        bar = Progress(plan.total_positions, desc="training", quiet=quiet)
        bar.set(st.words_done)
        t_start = time.perf_counter() - st.seconds
        try:
            while st.epoch < self.config.epochs:
                self._run_epoch(plan, bar, t_start, on_checkpoint)
                record = self._end_epoch(t_start)
                if on_epoch_end is not None:
                    on_epoch_end(self, record)
        finally:
            st.seconds = time.perf_counter() - t_start
            bar.close()
        return self

    # -- checkpoints ------------------------------------------------------------------

    def checkpoint_state(self) -> Tuple[Dict[str, np.ndarray], dict]:
        """``(arrays, state)``: the weights (and Adagrad's accumulators) and :class:`TrainState`,
        for :mod:`fastw2v.checkpoint`."""
        arrays = {"W_in": np.ascontiguousarray(self.W_in), "W_out": np.ascontiguousarray(self.W_out)}
        if self._rule != SGD:
            arrays.update(acc_in=np.ascontiguousarray(self.acc_in), acc_out=np.ascontiguousarray(self.acc_out))
        return arrays, dataclasses.asdict(self.state)

    def restore(self, arrays: Dict[str, np.ndarray], state: dict, vocab: Vocab) -> None:
        """Continue from :meth:`checkpoint_state`'s output; the next :meth:`fit` resumes there."""
        shape = (len(vocab), self.config.dim)
        fields = {f.name for f in dataclasses.fields(TrainState)}
        if not isinstance(state, dict) or set(state) != fields:
            have = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"the checkpoint lacks the Hogwild state (it holds {have})")
        try:
            W_in, W_out = arrays["W_in"], arrays["W_out"]
        except KeyError as exc:
            raise CheckpointError(f"the checkpoint lacks the weight array {exc}") from None
        self.state = TrainState(**state)
        for name, W in (("W_in", W_in), ("W_out", W_out)):
            if W.shape != shape or W.dtype != np.float32:
                raise CheckpointError(f"the checkpoint's {name} is {W.dtype}{list(W.shape)}, expected float32{list(shape)}")
        n_acc = len(vocab)
        accs = []
        for name in ("acc_in", "acc_out"):
            if self._rule == SGD:
                accs.append(None)
                continue
            acc = arrays.get(name)
            if acc is None:
                raise CheckpointError(f"the checkpoint lacks Adagrad's accumulator {name!r}")
            if acc.shape != (n_acc,) or acc.dtype != np.float32:
                raise CheckpointError(f"the checkpoint's {name} is {acc.dtype}{list(acc.shape)}, expected "
                                      f"float32[{n_acc}]")
            if not np.all(np.isfinite(acc)) or np.any(acc < 0):
                raise CheckpointError(f"the checkpoint's {name} holds values that are negative, NaN or Inf; "
                                      "an accumulator of squares cannot, so the file is damaged")
            accs.append(acc)
        self.vocab = vocab
        self._set_rows(W_in, W_out, *accs)

    def settings(self) -> dict:
        """What a checkpoint must have been trained with to be resumed here."""
        return self.config.to_dict()

    @property
    def history(self) -> List[dict]:
        """One record per completed epoch: epoch, mean loss per pair, loss sum, pairs, seconds."""
        return self.state.history

    def report_fields(self) -> dict:
        """Backend-specific fields for a run report."""
        return {"threads": self.config.n_threads}

    # -- one fit ---------------------------------------------------------------------

    def _prepare(self, corpus, vocab: Optional[Vocab], cache_dir, quiet: bool) -> EncodedCorpus:
        """Load and validate the corpus, check the vocabulary, and make the weights if new."""
        cfg = self.config
        if vocab is None:
            if isinstance(corpus, (EncodedCorpus, np.ndarray, tuple)):
                raise ArgumentError("an encoded corpus needs its vocab: fit(corpus, vocab=...)")
            vocab, corpus = load_corpus(corpus, cfg.min_count, cfg.max_vocab, cache_dir=cache_dir,
                                        progress_factory=None if quiet else factory(quiet))
        corpus = as_encoded(corpus, len(vocab))
        if self.vocab is not None and (len(self.vocab) != len(vocab) or self.vocab.words != vocab.words):
            raise ArgumentError("this model was trained on another vocabulary; make a new Word2Vec")
        self.vocab = vocab
        if self._rows_in is None:
            check_memory(len(vocab), cfg.dim)
            self._set_rows(*init_weights(len(vocab), cfg.dim, cfg.seed))
        self._raw_per_encoded = corpus.raw_words / max(1, corpus.n_words)
        return corpus

    def _plan(self, corpus: EncodedCorpus) -> _Plan:
        cfg = self.config
        starts = np.ascontiguousarray(corpus.sentence_starts, dtype=np.int64)
        sig, log_sig = sigmoid_tables()
        return _Plan(ids=corpus.ids, starts=starts, jobs=job_bounds(corpus),
                     longest=int(np.max(np.diff(starts))), total_positions=float(cfg.epochs * corpus.n_words),
                     tables=SamplingTables(self.vocab.counts, cfg.sample, cfg.ns_power,
                                           need_negatives=cfg.negative > 0),
                     sig=sig, log_sig=log_sig)

    def _run_epoch(self, plan: _Plan, bar: Progress, t_start: float,
                   on_checkpoint: Optional[Callable[["Word2Vec"], None]]) -> None:
        """Train the rest of the current epoch, from ``state.next_job``.

        The threads take jobs until none is left, a stop is asked for, or a checkpoint is:
        then, with every job they took finished, ``on_checkpoint`` runs (a safe point:
        the state counts exactly the finished jobs) and new threads go on from there. A
        request that meets the epoch's end waits for the next epoch's first safe point (after
        the last epoch, the fit is done and writes no more).
        """
        while True:
            self._run_threads(plan, bar, t_start)
            if not self._checkpoint.is_set() or self.state.next_job >= plan.n_jobs:
                return
            self._checkpoint.clear()
            if on_checkpoint is not None:
                on_checkpoint(self)  # a signal during it stops the next threads before their first job

    def _interrupted(self, plan: _Plan) -> TrainingInterrupted:
        """The stop request, acted on (the next fit continues)."""
        self._stop.clear()
        st = self.state
        return TrainingInterrupted(f"training stopped in epoch {st.epoch + 1} after {st.next_job} of "
                                   f"{plan.n_jobs} jobs")

    def _run_threads(self, plan: _Plan, bar: Progress, t_start: float) -> None:
        """The epoch's threads, from ``state.next_job`` until the jobs, a stop or a checkpoint request end them."""
        cfg = self.config
        st = self.state
        jobs = _JobQueue(st.next_job, plan.n_jobs)
        keys = epoch_keys(cfg.seed, st.epoch)
        threads = [threading.Thread(target=self._worker, args=(plan, jobs, keys), name=f"fastw2v-hogwild-{i}",
                                    daemon=True) for i in range(cfg.n_threads)]
        for t in threads:
            t.start()
        diverged = None
        running = True
        while running:
            for t in threads:
                t.join(timeout=0.5)
            # checked before collecting, so the last pass collects every job, however fast the workers were
            running = any(t.is_alive() for t in threads)
            diverged = self._collect(plan, jobs) or diverged
            st.seconds = time.perf_counter() - t_start
            bar.set(st.words_done, epoch=f"{st.epoch + 1}/{cfg.epochs}",
                    loss=self._epoch_mean_loss(),
                    alpha=self.current_alpha(plan.total_positions))
        if jobs.errors:
            raise jobs.errors[0]
        diverged = diverged or self._check_weights()
        if diverged is not None:
            raise TrainingDiverged(f"training diverged: {diverged}. The learning rate is probably too high: try a "
                                   f"lower --alpha ({cfg.optimizer}'s rate, now {cfg.rates()[0]})")
        if self._stop.is_set() and st.next_job < plan.n_jobs:
            raise self._interrupted(plan)

    def _worker(self, plan: _Plan, jobs: _JobQueue, keys) -> None:
        """One thread: take jobs and train them until none is left, or a stop or a checkpoint is requested."""
        cfg = self.config
        key, neg_key = keys
        # the kernel's argument groups, each field of the dtype its class lists
        sentences = Sentences(plan.ids, plan.starts)
        sampling = Sampling(plan.tables.keep_thresh, plan.tables.alias_table, np.uint64(key), np.uint64(neg_key),
                            int(cfg.window), int(cfg.negative))
        weights = Weights(self._rows_in, self._rows_out)
        rate, final = cfg.rates()
        schedule = Schedule(float(rate), float(final), float(self.state.epoch) * plan.ids.shape[0],
                            float(plan.total_positions))
        step = Step(int(self._rule), bool(cfg.shared_negatives), bool(cfg.exact_sigmoid), plan.sig, plan.log_sig)
        scratch = make_scratch(plan.longest, cfg.dim, cfg.window, cfg.negative)
        try:
            while not (self._stop.is_set() or self._checkpoint.is_set()):
                j = jobs.take()
                if j is None:
                    return
                lo, hi = int(plan.jobs[j]), int(plan.jobs[j + 1])
                loss, pairs = train_job(sentences, lo, hi, sampling, weights, schedule, step, scratch)
                jobs.put(j, loss, pairs, int(plan.starts[hi] - plan.starts[lo]))
        except BaseException as exc:  # surfaced in the main thread
            jobs.errors.append(exc)
            self._stop.set()

    def _collect(self, plan: _Plan, jobs: _JobQueue) -> Optional[str]:
        """Add finished jobs to the state; returns a divergence message if a loss is not finite."""
        st = self.state
        diverged = None
        for j, (loss, pairs, words) in jobs.drain():
            st.epoch_loss += loss
            st.epoch_pairs += pairs
            st.words_done += words
            st.pairs_done += pairs
            if not np.isfinite(loss) and diverged is None:
                diverged = f"loss became {loss} in epoch {st.epoch + 1}, job {j} (words {st.words_done:,})"
                self._stop.set()
        st.next_job = jobs.advance(st.next_job)
        # the corpus may be memory-mapped: drop the pages every thread is past
        release_pages(plan.ids, 0, int(plan.starts[plan.jobs[st.next_job]]))
        return diverged

    def _end_epoch(self, t_start: float) -> dict:
        """Close the finished epoch in the state and return its record."""
        st = self.state
        record = {
            "epoch": st.epoch + 1,
            "loss": self._epoch_mean_loss(),
            "loss_sum": st.epoch_loss,
            "pairs": st.epoch_pairs,
            "seconds": time.perf_counter() - t_start,
        }
        st.history.append(record)
        st.epoch += 1
        st.next_job = 0
        st.epoch_loss = 0.0
        st.epoch_pairs = 0
        return record

    def _epoch_mean_loss(self) -> float:
        """The current epoch's loss so far, per (positive or negative) pair."""
        st = self.state
        return st.epoch_loss / max(1, st.epoch_pairs * (self.config.negative + 1))

    def current_alpha(self, total_positions: float) -> float:
        """The learning rate at the current position of the schedule (Adagrad's, before its per-row scale)."""
        rate, final = self.config.rates()
        progress = self.state.words_done / max(1.0, total_positions)
        return max(final, rate - (rate - final) * progress)

    def _check_weights(self) -> Optional[str]:
        where = f"in epoch {self.state.epoch + 1}"
        for name, W in (("W_in", self.W_in), ("W_out", self.W_out)):
            if not np.all(np.isfinite(W)):
                return f"{name} holds NaN or Inf {where}"
            peak = float(np.max(np.abs(W)))
            if peak > WEIGHT_LIMIT:
                return f"{name} exploded (max |w| = {peak:.3g}) {where}"
        return None


def job_bounds(corpus: EncodedCorpus) -> np.ndarray:
    """Sentence indices that start each Hogwild job: whole sentences, about JOB_WORDS tokens.

    Returns
    -------
    int64[n_jobs + 1]
        Job ``j`` is sentences ``bounds[j] .. bounds[j + 1] - 1``.
    """
    starts = corpus.sentence_starts
    marks = np.arange(JOB_WORDS, corpus.n_words, JOB_WORDS, dtype=np.int64)
    idx = np.searchsorted(starts, marks, side="left")
    return np.unique(np.concatenate(([0], idx, [corpus.n_sentences]))).astype(np.int64)
