"""The Hogwild SGNS estimator: ``Word2Vec(config).fit(corpus)``.

Python orchestrates (epochs, the job queue, progress, NaN checks, stopping);
:func:`fastw2v.hogwild.train_job` computes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from .config import Word2VecConfig
from .corpus import EncodedCorpus, as_encoded
from .dataset import load_corpus
from .hogwild import init_weights, sigmoid_tables, train_job
from .memory import release_pages
from .pairs import _NEG_SALT, PairGenerator
from .progress import Progress
from .sampling import epoch_key, mix64_py
from .vectors import Vectors
from .vocab import Vocab

#: corpus tokens per job (whole sentences; word2vec.c and gensim use 10,000 too)
JOB_WORDS = 10_000
#: weights larger than this in magnitude mean training has diverged
EXPLODED = 1e4


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN/Inf or exploded."""


class TrainingInterrupted(RuntimeError):
    """Training was stopped on request (a signal); the state so far is kept."""


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

    def __init__(self, config: Optional[Word2VecConfig] = None, **overrides) -> None:
        if config is None:
            config = Word2VecConfig(**overrides)
        elif overrides:
            config = config.replace(**overrides)
        if not isinstance(config, Word2VecConfig):
            raise TypeError(f"config must be a Word2VecConfig, got {type(config).__name__}")
        self.config = config
        self.vocab: Optional[Vocab] = None
        self.W_in: Optional[np.ndarray] = None
        self.W_out: Optional[np.ndarray] = None
        self.state = TrainState()
        self._stop = threading.Event()

    # -- public ---------------------------------------------------------------------

    @property
    def vectors(self) -> Vectors:
        if self.W_in is None or self.vocab is None:
            raise RuntimeError("the model is not trained yet: call fit() first")
        return Vectors(self.vocab.words, self.W_in, self.vocab.counts)

    def request_stop(self) -> None:
        """Ask a running :meth:`fit` to stop after the jobs in flight (thread-safe)."""
        self._stop.set()

    def fit(self, corpus, vocab: Optional[Vocab] = None, *, cache_dir=None, quiet: bool = True,
            on_epoch_end: Optional[Callable[["Word2Vec", dict], None]] = None,
            on_tick: Optional[Callable[["Word2Vec"], None]] = None) -> "Word2Vec":
        """Train on ``corpus``.

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
        on_tick : callable(model), optional
            Called from the training loop about twice a second (e.g. to checkpoint).

        Returns
        -------
        self
        """
        cfg = self.config
        if vocab is None:
            if isinstance(corpus, (EncodedCorpus, np.ndarray, tuple)):
                raise ValueError("an encoded corpus needs its vocab: fit(corpus, vocab=...)")
            from .progress import factory

            vocab, corpus = load_corpus(corpus, cfg.min_count, cfg.max_vocab, cache_dir=cache_dir,
                                        progress_factory=None if quiet else factory(quiet))
        corpus = as_encoded(corpus, len(vocab))
        if self.vocab is not None and (len(self.vocab) != len(vocab) or self.vocab.words != vocab.words):
            raise ValueError("this model was trained on another vocabulary; make a new Word2Vec")
        self.vocab = vocab
        if self.W_in is None:
            check_memory(len(vocab), cfg.dim)
            self.W_in, self.W_out = init_weights(len(vocab), cfg.dim, cfg.seed)
        self.corpus_words = corpus.n_words
        self.raw_words = corpus.raw_words
        self._train(corpus, quiet, on_epoch_end, on_tick)
        return self

    # -- the loop ---------------------------------------------------------------------

    def job_bounds(self, corpus: EncodedCorpus) -> np.ndarray:
        """Sentence indices that start each job: whole sentences, about JOB_WORDS tokens."""
        starts = corpus.sentence_starts
        marks = np.arange(JOB_WORDS, corpus.n_words, JOB_WORDS, dtype=np.int64)
        idx = np.searchsorted(starts, marks, side="left")
        return np.unique(np.concatenate(([0], idx, [corpus.n_sentences]))).astype(np.int64)

    def _train(self, corpus: EncodedCorpus, quiet: bool, on_epoch_end, on_tick) -> None:
        cfg = self.config
        tables = PairGenerator(self.vocab, window=cfg.window, negative=cfg.negative, sample=cfg.sample,
                               ns_power=cfg.ns_power, seed=cfg.seed)
        sig, log_sig = sigmoid_tables()
        ids = corpus.ids
        starts = np.ascontiguousarray(corpus.sentence_starts, dtype=np.int64)
        jobs = self.job_bounds(corpus)
        n_jobs = jobs.shape[0] - 1
        n = corpus.n_words
        total_positions = float(cfg.epochs * n)
        max_sentence = int(np.max(np.diff(starts)))
        n_threads = cfg.n_threads
        st = self.state
        self._stop.clear()
        bar = Progress(total_positions, desc="training", quiet=quiet)
        bar.set(st.words_done)
        t_start = time.perf_counter() - st.seconds

        while st.epoch < cfg.epochs:
            epoch = st.epoch
            key = epoch_key(cfg.seed, epoch)
            neg_key = np.uint64(mix64_py(int(key) ^ _NEG_SALT))
            lock = threading.Lock()
            cursor = [st.next_job]
            done_jobs: List[int] = []
            results = {}  # job -> (loss, pairs, words)
            errors: List[BaseException] = []

            def worker():
                k_ids = np.empty(max_sentence, dtype=np.int32)
                k_win = np.empty(max_sentence, dtype=np.int64)
                neu1e = np.empty(cfg.dim + cfg.negative + 1, dtype=np.float32)
                outputs = np.empty(2 * cfg.window * (cfg.negative + 1), dtype=np.int32)
                try:
                    while not self._stop.is_set():
                        with lock:
                            j = cursor[0]
                            if j >= n_jobs:
                                return
                            cursor[0] = j + 1
                        lo, hi = int(jobs[j]), int(jobs[j + 1])
                        loss, pairs = train_job(ids, starts, lo, hi, tables.keep_thresh, key, neg_key, cfg.window,
                                                cfg.negative, tables.alias_table, self.W_in, self.W_out, cfg.alpha,
                                                cfg.final_alpha, float(epoch * n), total_positions,
                                                cfg.exact_sigmoid, sig, log_sig, k_ids, k_win, neu1e, outputs)
                        with lock:
                            results[j] = (loss, pairs, int(starts[hi] - starts[lo]))
                            done_jobs.append(j)
                except BaseException as exc:  # surfaced in the main thread
                    errors.append(exc)
                    self._stop.set()

            threads = [threading.Thread(target=worker, name=f"fastw2v-hogwild-{i}", daemon=True)
                       for i in range(n_threads)]
            for t in threads:
                t.start()
            diverged = None
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
                with lock:
                    finished = list(results.items())
                    results.clear()
                for j, (loss, pairs, words) in finished:
                    st.epoch_loss += loss
                    st.epoch_pairs += pairs
                    st.words_done += words
                    st.pairs_done += pairs
                    if not np.isfinite(loss) and diverged is None:
                        diverged = f"loss became {loss} in epoch {epoch + 1}, job {j} (words {st.words_done:,})"
                        self._stop.set()
                # every job below the lowest unfinished one is done: that is where to resume
                with lock:
                    done_jobs.sort()
                    while done_jobs and done_jobs[0] == st.next_job:
                        done_jobs.pop(0)
                        st.next_job += 1
                # the corpus is memory-mapped: drop the pages every thread is past
                release_pages(ids, 0, int(starts[jobs[st.next_job]]))
                mean_loss = st.epoch_loss / max(1, st.epoch_pairs * (cfg.negative + 1))
                st.seconds = time.perf_counter() - t_start
                bar.set(st.words_done, epoch=f"{epoch + 1}/{cfg.epochs}", loss=mean_loss,
                        alpha=self.current_alpha(n))
                if on_tick is not None and diverged is None and not errors:
                    on_tick(self)
            if errors:
                bar.close()
                raise errors[0]
            if diverged is None:
                diverged = self._check_weights(epoch)
            if diverged is not None:
                bar.close()
                raise TrainingDiverged(
                    f"training diverged: {diverged}. The learning rate is probably too high: try a lower "
                    f"--alpha (now {cfg.alpha})"
                )
            if self._stop.is_set() and st.next_job < n_jobs:
                bar.close()
                raise TrainingInterrupted(
                    f"training stopped in epoch {epoch + 1} after {st.next_job} of {n_jobs} jobs"
                )
            record = {
                "epoch": epoch + 1,
                "loss": st.epoch_loss / max(1, st.epoch_pairs * (cfg.negative + 1)),
                "loss_sum": st.epoch_loss,
                "pairs": st.epoch_pairs,
                "seconds": time.perf_counter() - t_start,
            }
            st.history.append(record)
            st.epoch += 1
            st.next_job = 0
            st.epoch_loss = 0.0
            st.epoch_pairs = 0
            if on_epoch_end is not None:
                on_epoch_end(self, record)
        st.seconds = time.perf_counter() - t_start
        bar.close()

    def current_alpha(self, n_words: int) -> float:
        cfg = self.config
        progress = self.state.words_done / max(1, cfg.epochs * n_words)
        return max(cfg.final_alpha, cfg.alpha - (cfg.alpha - cfg.final_alpha) * progress)

    def _check_weights(self, epoch: int) -> Optional[str]:
        for name, W in (("W_in", self.W_in), ("W_out", self.W_out)):
            if not np.all(np.isfinite(W)):
                return f"{name} holds NaN or Inf after epoch {epoch + 1}"
            peak = float(np.max(np.abs(W)))
            if peak > EXPLODED:
                return f"{name} exploded (max |w| = {peak:.3g}) after epoch {epoch + 1}"
        return None


def check_memory(vocab_size: int, dim: int, available: Optional[int] = None) -> None:
    """Refuse, with the estimate, weight matrices that cannot fit in memory."""
    need = 2 * vocab_size * dim * 4
    if available is None:
        available = _available_memory()
    if available is not None and need > 0.9 * available:
        raise MemoryError(
            f"the weights need {need / 2**30:.1f} GiB (2 x {vocab_size:,} words x dim {dim} x 4 bytes) but only "
            f"{available / 2**30:.1f} GiB of memory is available; lower --dim or --max-vocab"
        )


def _available_memory() -> Optional[int]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
