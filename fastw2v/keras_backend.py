"""Which Keras 3 backend the Keras path runs on, checked before Keras is imported.

Keras 3 reads its backend from ``KERAS_BACKEND`` (else ``~/.keras/keras.json``, else
TensorFlow). fastw2v's Keras path runs on the backends in :data:`SUPPORTED`: the
maths is written once in ``keras.ops`` (:mod:`fastw2v.keras_models`), and the little
that Keras 3 needs per backend (the training step's glue, the data feed, the
distribution strategy) lives in one small module per backend,
:mod:`fastw2v.keras_tf` and :mod:`fastw2v.keras_jax`, which
:func:`fastw2v.keras_glue.glue` returns.

This module imports neither Keras nor a backend, so the command line can refuse an
unsupported backend with one line before anything heavy is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from .errors import UsageError

#: The Keras backends fastw2v's Keras path runs on; the first is Keras' own default.
SUPPORTED = ("tensorflow", "jax")
#: What to install for each backend (the package's extras).
EXTRAS = {"tensorflow": "tf", "jax": "jax"}


def requested_backend(environ=None) -> str:
    """The backend Keras will load: ``KERAS_BACKEND``, else ``keras.json``'s, else ``"tensorflow"``."""
    environ = os.environ if environ is None else environ
    name = environ.get("KERAS_BACKEND")
    if name:
        return name.strip()
    config = Path(environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        name = json.loads(config.read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        name = None
    return name or SUPPORTED[0]


def check_backend(environ=None) -> str:
    """The requested backend if fastw2v supports it; else a one-line :class:`UsageError`."""
    name = requested_backend(environ)
    if name not in SUPPORTED:
        raise UsageError(f"KERAS_BACKEND={name!r} is not supported by fastw2v's Keras path; use one of "
                         f"{', '.join(SUPPORTED)} (e.g. KERAS_BACKEND=jax), or --backend hogwild")
    return name


def multiworker_refusal(name: str) -> str:
    """The one-line refusal of ``--strategy multiworker`` on backend ``name``."""
    return (f"--strategy multiworker runs on the tensorflow backend only (MultiWorkerMirroredStrategy), not on "
            f"{name}; use --strategy mirrored for this machine's devices, or KERAS_BACKEND=tensorflow")


def check_strategy(strategy: str, environ=None) -> None:
    """Refuse, before Keras is imported, a strategy the requested backend cannot run."""
    name = check_backend(environ)
    if strategy == "multiworker" and name != "tensorflow":
        raise UsageError(multiworker_refusal(name))


def install_hint(name: Optional[str] = None) -> str:
    """The pip command that installs ``name``'s extra (default: the requested backend's)."""
    extra = EXTRAS.get(name or requested_backend(), "tf")
    return f"pip install 'fastw2v[{extra}]'"
