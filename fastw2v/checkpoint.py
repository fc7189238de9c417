"""Training checkpoints: weights plus everything needed to continue exactly.

A checkpoint is one ``.npz`` file (arrays) and one ``.json`` file (metadata),
both written atomically; the JSON is written last and names the ``.npz`` it
belongs to, so a crash between the two leaves the previous checkpoint usable.

The metadata carries a format version, the training configuration, a
fingerprint of the corpus and vocabulary, and the training state (epoch, next
job, loss so far, history). No random state needs saving: every random stream is
derived from ``(seed, epoch, corpus position)``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from .atomic import atomic_open
from .constants import CHECKPOINT_FORMAT_VERSION
from .errors import CheckpointError

META = "checkpoint.json"


def corpus_fingerprint(vocab, corpus) -> dict:
    """What identifies the training data: the vocabulary (hashed) and the corpus' sizes."""
    h = hashlib.blake2b(digest_size=12)
    for w in vocab.words:
        h.update(w.encode("utf-8"))
        h.update(b"\0")
    h.update(np.ascontiguousarray(vocab.counts).tobytes())
    return {
        "vocab_size": len(vocab),
        "vocab_hash": h.hexdigest(),
        "corpus_words": int(corpus.n_words),
        "sentences": int(corpus.n_sentences),
    }


def save(directory, arrays: Dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and ``meta`` as the current checkpoint in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    step = int(meta.get("serial", 0))
    npz = d / f"weights-{step % 2}.npz"  # alternate, so the previous file survives until the JSON moves on
    with atomic_open(npz, "wb") as fh:
        np.savez(fh, **arrays)
    meta = dict(meta, format=CHECKPOINT_FORMAT_VERSION, arrays=npz.name)
    with atomic_open(d / META, "w") as fh:
        json.dump(meta, fh, indent=1, default=float)
    return d / META


def load(directory) -> Tuple[dict, Dict[str, np.ndarray]]:
    """Read the current checkpoint of ``directory``; a missing, damaged or old one raises CheckpointError."""
    d = Path(directory)
    meta_path = d / META
    if not meta_path.is_file():
        raise CheckpointError(f"no checkpoint in {d} (expected {META}); run without --resume to start afresh")
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is damaged: {exc}; run without --resume to start afresh") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{meta_path} is damaged: it holds no checkpoint metadata")
    if meta.get("format") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path} has format version {meta.get('format')}, this fastw2v reads version "
            f"{CHECKPOINT_FORMAT_VERSION}; run without --resume to start afresh"
        )
    try:
        with np.load(d / meta["arrays"]) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"the checkpoint arrays in {d} cannot be read: {exc}") from None
    return meta, arrays


#: Config fields newer than checkpoint format 2, with the value a checkpoint written
#: before them was trained with (Keras sgns: every row drew its own negatives, and
#: row-wise Adagrad decayed to 1e-4 of its rate; summed SGD takes no final_rate; Hogwild
#: stepped by SGD, and its checkpoints named no optimizer, because it had only that one;
#: a Keras run could resume on one worker only; every rate but RMSprop's decayed from the
#: first word).
CONFIG_ADDED_LATER = {"shared_negatives": False, "negative_group": 1, "final_rate": 1e-4, "optimizer": "sgd",
                      "workers": 1, "decay_start": 0.0}


def _with_added_later(saved: dict, now: dict) -> dict:
    """``saved`` with the fields it predates filled in, for those that ``now`` has."""
    filled = {k: v for k, v in CONFIG_ADDED_LATER.items() if k in now}
    if saved.get("optimizer") != "adagrad":
        filled.pop("final_rate", None)
    if saved.get("optimizer") == "rmsprop" and "decay_start" in filled:
        filled["decay_start"] = None
    return dict(filled, **saved)


def check_compatible(meta: dict, config: dict, fingerprint: dict, backend: str,
                     ignore: Tuple[str, ...] = ("threads",)) -> None:
    """Refuse a checkpoint from another configuration, corpus or backend, saying what differs."""
    diffs = []
    if meta.get("backend") != backend:
        diffs.append(f"backend: checkpoint {meta.get('backend')!r}, now {backend!r}")
    old = _with_added_later(meta.get("config", {}), config)
    for k in sorted(set(old) | set(config)):
        if k in ignore:
            continue
        if old.get(k) != config.get(k):
            diffs.append(f"{k}: checkpoint {old.get(k)!r}, now {config.get(k)!r}")
    for k, v in fingerprint.items():
        if meta.get("corpus", {}).get(k) != v:
            diffs.append(f"corpus {k}: checkpoint {meta.get('corpus', {}).get(k)!r}, now {v!r}")
    if diffs:
        raise CheckpointError("the checkpoint is from a different run; " + "; ".join(diffs))

