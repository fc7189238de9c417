"""Configuration: the frozen, validated hyperparameters and the Keras options.

:class:`Word2VecConfig` holds what every backend shares; :class:`KerasOptions` what
only the Keras backend uses (the model, the distribution strategy, rows per step and
the tutorial's RMSprop rate). Per-model defaults are resolved here, once, so the
command line and the Python API agree. A bad value raises
:class:`~fastw2v.errors.ArgumentError` (a ``ValueError``) or
:class:`~fastw2v.errors.ArgumentTypeError` (a ``TypeError``) naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .constants import DEFAULT_PEER_TIMEOUT
from .errors import ArgumentError, ArgumentTypeError

KERAS_MODELS = ("sgns", "tutorial")
KERAS_STRATEGIES = ("default", "mirrored", "multiworker")
#: The trainers a config is resolved for: the Hogwild backend, and the Keras models.
TRAINERS = ("hogwild",) + KERAS_MODELS
#: Update rules per trainer; the first is the default. ``adagrad`` is row-wise Adagrad
#: (one accumulator per embedding row), ``sgd`` word2vec's step with its linear decay.
OPTIMIZERS = {"hogwild": ("adagrad", "sgd"), "sgns": ("adagrad", "sgd"), "tutorial": ("rmsprop",)}
#: The adaptive optimizers' rate and the fraction of it the rate decays to, linearly by the
#: last word from DECAY_START_DEFAULTS on (1.0: constant), per trainer and optimizer; None
#: where the optimizer does not take it (``sgd`` steps by ``Word2VecConfig.alpha`` down to
#: ``final_alpha``; RMSprop's rate is constant). Hogwild's decays over all the words to a
#: quarter of itself; Keras sgns's, with DECAY_START_DEFAULTS, is held and then decays to
#: nothing; the tutorial's is the Keras tutorial's. benchmarks/README.md says how each was
#: chosen.
RATE_DEFAULTS = {
    ("hogwild", "adagrad"): {"learning_rate": 0.2, "final_rate": 0.25},
    ("sgns", "adagrad"): {"learning_rate": 0.25, "final_rate": 0.0},
    ("tutorial", "rmsprop"): {"learning_rate": 0.001, "final_rate": None},
}
#: Where the rate's linear decay to its final rate starts, as a share of all the run's words
#: (0: from the first word, word2vec's schedule), per trainer and optimizer; None where the
#: rate is constant (RMSprop). Keras sgns's row-wise Adagrad holds its rate for most of the
#: run, while its accumulators grow, and then decays it to settle the rows; Hogwild's kernel decays
#: over all words, so 0 is the only value it takes.
DECAY_START_DEFAULTS = {
    ("hogwild", "adagrad"): 0.0, ("hogwild", "sgd"): 0.0,
    ("sgns", "adagrad"): 0.75, ("sgns", "sgd"): 0.0,
    ("tutorial", "rmsprop"): None,
}
#: Update rules per Keras model; the first is the default.
KERAS_OPTIMIZERS = {m: OPTIMIZERS[m] for m in KERAS_MODELS}

#: Keras defaults that depend on the model and its optimizer. ``batch_size`` is rows per
#: step (sgns: one positive and its negatives; tutorial: one labelled pair). The tutorial trains 1
#: negative per positive, as the Keras tutorial does. sgns with summed SGD steps by
#: ``alpha``, word2vec's per-pair rate, which bounds its batch; row-wise Adagrad takes
#: large batches. ``negative_group`` is how many consecutive rows share one draw of negatives.
KERAS_MODEL_DEFAULTS = {
    "sgns": {"batch_size": 65536, "negative": 5, "negative_group": 32},
    "tutorial": {"batch_size": 65536, "negative": 1, "negative_group": 1},
}
KERAS_OPTIMIZER_DEFAULTS = {("sgns", "sgd"): {"batch_size": 4096, "negative_group": 1}}
#: The largest batch sgns takes with summed SGD: each occurrence steps by the full per-pair rate,
#: so a frequent row's summed step grows with the batch, and larger batches diverge.
SGD_MAX_BATCH = 4096


def default_threads() -> int:
    """Number of worker threads to use when the user does not say: the usable cores."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_int(name: str, value, low: int) -> int:
    """``value`` as an int if it is an integer ``>= low``; else an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ArgumentError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_float(name: str, value, low: float, strict: bool = False) -> float:
    """``value`` as a finite float ``>= low`` (``> low`` if ``strict``); else an error naming ``name``."""
    if isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ArgumentError(f"{name} must be finite, got {value}")
    if value < low or (strict and value == low):
        raise ArgumentError(f"{name} must be {'>' if strict else '>='} {low}, got {value}")
    return value


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


@dataclass(frozen=True)
class Word2VecConfig:
    """Hyperparameters of skip-gram with negative sampling, shared by every backend.

    Defaults follow gensim's skip-gram (``sg=1``) where one exists. Every field is
    validated once, in ``__post_init__``.

    The update rule is shared by every backend: ``optimizer`` (``"adagrad"``, row-wise
    Adagrad, or ``"sgd"``, word2vec's step; the Keras tutorial model's ``"rmsprop"``),
    with ``learning_rate`` and ``final_rate`` for the adaptive ones and ``alpha`` and
    ``min_alpha`` for SGD. ``decay_start`` is where the linear decay to the final rate
    starts, as a share of all the run's words: the rate is constant before it. None takes
    the trainer's default; each trainer resolves its config with :meth:`for_trainer`,
    which refuses a rate its optimizer would ignore.
    """

    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    min_count: int = 5
    max_vocab: Optional[int] = None
    alpha: float = 0.025
    min_alpha: Optional[float] = None  # None means alpha * 1e-4, as word2vec.c
    epochs: int = 5
    threads: Optional[int] = None  # None means every available core
    seed: int = 1
    ns_power: float = 0.75
    exact_sigmoid: bool = False
    shared_negatives: bool = True  # Hogwild: one draw of negatives per centre word's window
    optimizer: Optional[str] = None  # None: the trainer's default (OPTIMIZERS)
    learning_rate: Optional[float] = None  # adagrad and rmsprop; None: the trainer's default (RATE_DEFAULTS)
    final_rate: Optional[float] = None  # adagrad: the fraction of learning_rate it decays to
    decay_start: Optional[float] = None  # the share of the run's words before the rate's decay starts

    def __post_init__(self) -> None:
        check_int("dim", self.dim, 1)
        check_int("window", self.window, 1)
        check_int("negative", self.negative, 0)
        check_float("sample", self.sample, 0.0)
        check_int("min_count", self.min_count, 1)
        if self.max_vocab is not None:
            check_int("max_vocab", self.max_vocab, 1)
        check_float("alpha", self.alpha, 0.0, strict=True)
        if self.min_alpha is not None:
            check_float("min_alpha", self.min_alpha, 0.0)
            if self.min_alpha > self.alpha:
                raise ArgumentError(f"min_alpha ({self.min_alpha}) must not exceed alpha ({self.alpha})")
        check_int("epochs", self.epochs, 1)
        if self.threads is not None:
            check_int("threads", self.threads, 1)
        check_int("seed", self.seed, 0)
        check_float("ns_power", self.ns_power, 0.0)
        if not isinstance(self.exact_sigmoid, (bool, np.bool_)):
            raise ArgumentTypeError(f"exact_sigmoid must be True or False, got {self.exact_sigmoid!r}")
        if not isinstance(self.shared_negatives, (bool, np.bool_)):
            raise ArgumentTypeError(f"shared_negatives must be True or False, got {self.shared_negatives!r}")
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, sorted({o for opts in OPTIMIZERS.values() for o in opts}))
        if self.learning_rate is not None:
            check_float("learning_rate", self.learning_rate, 0.0, strict=True)
        if self.final_rate is not None:
            check_float("final_rate", self.final_rate, 0.0)
            if self.final_rate > 1.0:
                raise ArgumentError(f"final_rate is a fraction of the initial rate, at most 1; got {self.final_rate}")
        if self.decay_start is not None:
            check_float("decay_start", self.decay_start, 0.0)
            if self.decay_start >= 1.0:
                raise ArgumentError("decay_start is the share of the run's words trained before the rate starts to "
                                    f"decay, below 1; got {self.decay_start}")

    def for_trainer(self, trainer: str) -> "Word2VecConfig":
        """This config with the update rule resolved for ``trainer`` (one of :data:`TRAINERS`).

        A None ``optimizer`` becomes the trainer's default, and None ``learning_rate`` and
        ``final_rate`` the optimizer's (:data:`RATE_DEFAULTS`), and a None ``decay_start``
        the trainer's (:data:`DECAY_START_DEFAULTS`). An optimizer the trainer lacks, or a
        rate or schedule the trainer does not take, raises ArgumentError. Resolving a
        resolved config changes nothing.
        """
        check_choice("trainer", trainer, TRAINERS)
        optimizer = OPTIMIZERS[trainer][0] if self.optimizer is None else self.optimizer
        where = "hogwild" if trainer == "hogwild" else f"the {trainer} model"
        if optimizer not in OPTIMIZERS[trainer]:
            raise ArgumentError(f"optimizer {optimizer!r} is not one {where} trains with; choose from "
                                f"{', '.join(map(repr, OPTIMIZERS[trainer]))}")
        if optimizer != "sgd" and (self.alpha != Word2VecConfig.alpha or self.min_alpha is not None):
            raise ArgumentError(f"alpha and min_alpha are word2vec's SGD rate; {optimizer} steps by learning_rate "
                                "(decaying to final_rate of it): set learning_rate, or optimizer='sgd'")
        defaults = RATE_DEFAULTS.get((trainer, optimizer), {"learning_rate": None, "final_rate": None})
        changes = {"optimizer": optimizer}
        for name in ("learning_rate", "final_rate"):
            given = getattr(self, name)
            if given is None:
                changes[name] = defaults[name]
            elif defaults[name] is None:
                raise ArgumentError(f"{name} is not for {optimizer} ({where}): " + (
                    "sgd steps by alpha, decaying to min_alpha" if optimizer == "sgd"
                    else "RMSprop's rate is constant"))
        start = DECAY_START_DEFAULTS[(trainer, optimizer)]
        if self.decay_start is None:
            changes["decay_start"] = start
        elif start is None:
            raise ArgumentError(f"decay_start is not for {optimizer} ({where}): RMSprop's rate is constant")
        elif trainer == "hogwild" and self.decay_start != 0:
            raise ArgumentError(f"decay_start is for the Keras sgns model; hogwild's rate decays over all words "
                                f"(decay_start 0), got {self.decay_start}")
        return self.replace(**changes)

    def rates(self) -> tuple:
        """``(initial, final)`` rate of a resolved config's optimizer: sgd's ``alpha`` and
        ``final_alpha``, or ``learning_rate`` and ``final_rate`` of it (constant without one)."""
        if self.optimizer == "sgd":
            return self.alpha, self.final_alpha
        if self.learning_rate is None:
            raise ArgumentError("the config's update rule is not resolved: call for_trainer() first")
        final = 1.0 if self.final_rate is None else self.final_rate
        return self.learning_rate, self.learning_rate * final

    @classmethod
    def for_model(cls, model: str = "sgns", **fields) -> "Word2VecConfig":
        """A config whose fields left out (or None) take ``model``'s defaults.

        ``model`` is a Keras model name; the Hogwild trainer is ``"sgns"``. Fields
        whose default is None (``max_vocab``, ``min_alpha``, ``threads``) stay None.
        """
        check_choice("model", model, KERAS_MODELS)
        given = {k: v for k, v in fields.items() if v is not None}
        given.setdefault("negative", KERAS_MODEL_DEFAULTS[model]["negative"])
        return cls(**given)

    @property
    def final_alpha(self) -> float:
        return self.alpha * 1e-4 if self.min_alpha is None else self.min_alpha

    @property
    def n_threads(self) -> int:
        return default_threads() if self.threads is None else self.threads

    def replace(self, **changes) -> "Word2VecConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class KerasOptions:
    """What only the Keras backend uses. ``None`` fields take the model's default.

    The update rule (optimizer, rate, schedule) is the config's, shared with Hogwild:
    :meth:`Word2VecConfig.for_trainer`. Its defaults that depend on the optimizer are
    filled in by :meth:`resolved`, which :class:`~fastw2v.keras_trainer.KerasTrainer` calls.

    Attributes
    ----------
    model : {"sgns", "tutorial"}
        ``sgns``: input and output embeddings, ``negative`` negatives per positive.
        ``tutorial``: the Keras tutorial's shared embedding, dot product and sigmoid
        ``Dense``, trained with RMSprop.
    strategy : {"default", "mirrored", "multiworker"}
        ``mirrored``: every local device (TensorFlow's ``MirroredStrategy``, JAX's
        ``keras.distribution.DataParallel``); ``multiworker``: TensorFlow's
        ``MultiWorkerMirroredStrategy``, with the cluster read from ``TF_CONFIG``.
    batch_size : int
        Rows per step (per worker under ``multiworker``). sgns with summed SGD takes at
        most :data:`SGD_MAX_BATCH`.
    negative_group : int
        sgns: consecutive rows of a batch that share one draw of negatives (the first
        row's); 1 gives each row its own. Sharing cuts the step's memory traffic
        (:meth:`fastw2v.keras_models.SGNS.train_step`). The tutorial model takes 1 only.
        At most ``batch_size``; the default shrinks to a smaller batch.
    steps_per_execution : int
        Training steps per call from Python (Keras' ``compile`` option). Progress,
        stop requests and the loss are seen once per call, so more steps per call keep
        an accelerator busy while Python catches up; 1 suits a CPU.
    peer_timeout : float
        ``multiworker``: seconds of silence after which a peer counts as lost, and the
        bound on meeting the peers at start-up (:mod:`fastw2v.multiworker.peers`).
    peer_port : int, optional
        ``multiworker``: the port the chief watches its peers on; by default its
        ``TF_CONFIG`` port plus one.
    """

    model: str = "sgns"
    strategy: str = "default"
    batch_size: Optional[int] = None
    negative_group: Optional[int] = None
    steps_per_execution: int = 1
    peer_timeout: float = DEFAULT_PEER_TIMEOUT
    peer_port: Optional[int] = None

    def __post_init__(self) -> None:
        check_choice("model", self.model, KERAS_MODELS)
        check_float("peer_timeout", self.peer_timeout, 0.0, strict=True)
        if self.peer_port is not None:
            if check_int("peer_port", self.peer_port, 1) > 65535:
                raise ArgumentError(f"peer_port must be a TCP port (1..65535), got {self.peer_port}")
        check_int("steps_per_execution", self.steps_per_execution, 1)
        check_choice("strategy", self.strategy, KERAS_STRATEGIES)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1)
        if self.negative_group is not None:
            check_int("negative_group", self.negative_group, 1)
            if self.model == "tutorial" and self.negative_group != 1:
                raise ArgumentError("negative_group is for the sgns model; the tutorial model trains on labelled "
                                    "pairs")

    def resolved(self, optimizer: str) -> "KerasOptions":
        """These options with the defaults for ``optimizer`` filled in and the combination checked."""
        check_choice(f"optimizer for the {self.model} model", optimizer, KERAS_OPTIMIZERS[self.model])
        defaults = dict(KERAS_MODEL_DEFAULTS[self.model], **KERAS_OPTIMIZER_DEFAULTS.get((self.model, optimizer), {}))
        batch = defaults["batch_size"] if self.batch_size is None else self.batch_size
        if self.model == "sgns" and optimizer == "sgd" and batch > SGD_MAX_BATCH:
            raise ArgumentError(f"batch_size {batch} is too large for summed SGD, which diverges past "
                                f"{SGD_MAX_BATCH} rows; use the adagrad optimizer for large batches")
        group = min(defaults["negative_group"], batch) if self.negative_group is None else self.negative_group
        if group > batch:
            raise ArgumentError(f"negative_group {group} is larger than batch_size {batch}: a group shares one "
                                "row's negatives within a batch")
        return dataclasses.replace(self, batch_size=batch, negative_group=group)

    @property
    def layout(self) -> str:
        """The pair generator layout the model reads: ``"rows"`` or ``"flat"``."""
        return "rows" if self.model == "sgns" else "flat"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
