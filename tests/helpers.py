"""Shared test helpers: generated corpora with planted structure, and running the CLI."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def planted_corpus(seed, groups=6, per_group=8, sentences=1500, length=12):
    """Sentences drawn from one group each: words of a group share all their contexts.

    Returns (corpus: list of token lists, words: list of str).
    """
    rng = np.random.default_rng(seed)
    words = [f"g{g}w{i}" for g in range(groups) for i in range(per_group)]
    corpus = []
    for _ in range(sentences):
        g = rng.integers(groups)
        corpus.append([words[g * per_group + i] for i in rng.integers(per_group, size=length)])
    return corpus, words


def group_purity(vectors, words, topn=5):
    """Mean fraction of each word's topn neighbours that are in its own group."""
    near = vectors.most_similar_batch(words, topn=topn)
    return float(np.mean([sum(n.split("w")[0] == w.split("w")[0] for n in near[w]) / topn for w in words]))


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def wiki8_path():
    """The real corpus for opt-in tests: $FASTW2V_WIKI8, or ../shared/data/wiki8.txt.xz, or None."""
    env = os.environ.get("FASTW2V_WIKI8")
    if env:
        return Path(env)
    p = SHARED / "wiki8.txt.xz"
    return p if p.exists() else None



TRAIN = [sys.executable, "-m", "fastw2v.train"]


def require_keras() -> str:
    """The Keras backend the tests run on (``KERAS_BACKEND``); skips the test where Keras, or a
    backend fastw2v supports, is missing."""
    import pytest

    keras = pytest.importorskip("keras", reason="Keras is not installed (the 'tf' or 'jax' extra)")
    name = keras.backend.backend()
    if name not in ("tensorflow", "jax"):
        pytest.skip(f"fastw2v's Keras path does not run on {name}")
    return name


def stop_after(trainer, n: int):
    """A Keras callback that asks ``trainer`` to stop after the ``n``-th batch it sees."""
    import keras

    class StopAfter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == n:
                trainer.request_stop()

    return StopAfter()


def has_tensorflow() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def write_group_corpus(path, n_sent=6000, seed=0):
    """A text file of ``n_sent`` 40-word lines, each drawn from one of 20 groups of 30 words."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for _ in range(n_sent):
            g = rng.integers(20)
            fh.write(" ".join(f"g{g}w{i}" for i in rng.integers(0, 30, size=40)) + "\n")


def cli_env(tmp_path):
    return dict(os.environ, FASTW2V_CACHE=str(tmp_path / "cache"))


def run_cli(args, tmp_path, timeout=300):
    """``python -m fastw2v.train ARGS`` with its own cache directory; the CompletedProcess."""
    return subprocess.run(TRAIN + list(map(str, args)), capture_output=True, text=True, env=cli_env(tmp_path),
                          timeout=timeout)


def interrupt_cli(args, tmp_path, marker, sig=signal.SIGINT, timeout=180):
    """Start the CLI, send ``sig`` once a stderr line contains ``marker``; returns (exit code, stderr)."""
    proc = subprocess.Popen(TRAIN + list(map(str, args)), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=cli_env(tmp_path))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.time() + timeout
    while not any(marker in line for line in lines) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    if proc.poll() is not None:
        raise AssertionError("training finished before it could be interrupted; make the corpus larger:\n"
                             + "".join(lines)[-2000:])
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=120)
    finally:
        proc.kill()
    reader.join(timeout=5)
    return rc, "".join(lines)


def assert_one_line_error(r, match, code=2):
    """The process printed exactly one error line, last, containing ``match``, and no traceback."""
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.rstrip().splitlines()[-1] == errors[0]
    assert match in errors[0], errors[0]
