"""Run the Hogwild backend for the command line: checkpoints, signals, monitoring."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path

from . import checkpoint as ckpt
from .model import TrainingInterrupted, TrainState, Word2Vec

#: seconds between periodic checkpoints (besides one at each epoch end)
CHECKPOINT_EVERY = 300.0
DEFAULT_INTERRUPT_DIR = "fastw2v-checkpoint"


class _Signals:
    """SIGINT/SIGTERM ask the model to stop cleanly; handlers restored on exit."""

    def __init__(self, model: Word2Vec) -> None:
        self.model = model
        self.received = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name
        self.model.request_stop()

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _save_checkpoint(directory, model: Word2Vec, fingerprint: dict, serial: int) -> None:
    meta = {
        "backend": "hogwild",
        "config": model.config.to_dict(),
        "corpus": fingerprint,
        "state": dataclasses.asdict(model.state),
        "serial": serial,
        "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    ckpt.save(directory, {"W_in": model.W_in, "W_out": model.W_out}, meta)


def train_hogwild(cfg, vocab, corpus, args, validate) -> dict:
    model = Word2Vec(cfg)
    fingerprint = ckpt.corpus_fingerprint(vocab, corpus)
    directory = getattr(args, "checkpoint_dir", None)
    serial = 0
    if getattr(args, "resume", False):
        meta, arrays = ckpt.load(directory)
        ckpt.check_compatible(meta, cfg.to_dict(), fingerprint, "hogwild")
        model.vocab = vocab
        model.W_in, model.W_out = arrays["W_in"], arrays["W_out"]
        model.state = TrainState(**meta["state"])
        serial = int(meta.get("serial", 0)) + 1
        if not args.quiet:
            print(f"resuming from {directory}: epoch {model.state.epoch + 1}, job {model.state.next_job}",
                  file=sys.stderr)

    def on_epoch_end(m, record):
        nonlocal serial
        if not args.quiet:
            print(f"\nepoch {record['epoch']}: loss {record['loss']:.4f}", file=sys.stderr)
            known = [w for w in validate if w in vocab]
            if known:
                for w, near in m.vectors.most_similar_batch(known, topn=8).items():
                    print(f"  Nearest to {w}: {', '.join(near)}", file=sys.stderr)
        if directory:
            _save_checkpoint(directory, m, fingerprint, serial)
            serial += 1

    t0 = time.perf_counter()
    start_words = model.state.words_done
    start_pairs = model.state.pairs_done
    with _Signals(model) as signals:
        while True:
            timer = None
            if directory:
                timer = threading.Timer(CHECKPOINT_EVERY, model.request_stop)
                timer.daemon = True
                timer.start()
            try:
                model.fit(corpus, vocab=vocab, quiet=args.quiet, on_epoch_end=on_epoch_end)
                break
            except TrainingInterrupted as exc:
                if signals.received is None and directory:  # a periodic checkpoint
                    _save_checkpoint(directory, model, fingerprint, serial)
                    serial += 1
                    continue
                where = directory or DEFAULT_INTERRUPT_DIR
                _save_checkpoint(where, model, fingerprint, serial)
                model.vectors.save(Path(where) / "vectors.bin")
                if args.output:
                    model.vectors.save(args.output)
                raise TrainingInterrupted(
                    f"{exc} by {signals.received}. Checkpoint and vectors so far saved in {where}/"
                    + (f" (vectors also in {args.output})" if args.output else "")
                    + f"; continue with --resume --checkpoint-dir {where}"
                ) from None
            finally:
                if timer is not None:
                    timer.cancel()
    seconds = time.perf_counter() - t0
    words = model.state.words_done - start_words
    pairs = model.state.pairs_done - start_pairs
    history = model.state.history
    raw_per_encoded = corpus.raw_words / max(1, corpus.n_words)
    return {
        "vectors": model.vectors,
        "train_seconds": seconds,
        "words_per_sec": words * raw_per_encoded / seconds if seconds else 0.0,
        "pairs_per_sec": pairs * (cfg.negative + 1) / seconds if seconds else 0.0,
        "final_loss": history[-1]["loss"] if history else None,
        "history": history,
        "threads": cfg.n_threads,
    }
