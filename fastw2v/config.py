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

from .errors import ArgumentError, ArgumentTypeError

KERAS_MODELS = ("sgns", "tutorial")
KERAS_STRATEGIES = ("default", "mirrored", "multiworker")
#: Update rules per Keras model; the first is the default.
KERAS_OPTIMIZERS = {"sgns": ("adagrad", "sgd"), "tutorial": ("rmsprop",)}

#: Defaults that depend on the Keras model and its optimizer. ``batch_size`` is rows per
#: step (sgns: one positive and its negatives; tutorial: one labelled pair); see
#: benchmarks/results/keras_sweep.* for how sgns's were chosen. The tutorial trains 1
#: negative per positive with RMSprop at 0.001, as the Keras tutorial does. sgns with
#: summed SGD steps by ``alpha`` (None here), word2vec's per-pair rate, which bounds its
#: batch; row-wise Adagrad has its own rate and takes large batches.
#: ``negative_group`` is how many consecutive rows share one draw of negatives, and
#: ``final_rate`` the fraction of its initial rate that row-wise Adagrad's rate decays to
#: (summed SGD decays from ``alpha`` to ``Word2VecConfig.final_alpha`` instead).
KERAS_MODEL_DEFAULTS = {
    "sgns": {"batch_size": 65536, "negative": 5, "learning_rate": 0.2, "negative_group": 32, "final_rate": 1.0},
    "tutorial": {"batch_size": 65536, "negative": 1, "learning_rate": 0.001, "negative_group": 1, "final_rate": None},
}
KERAS_OPTIMIZER_DEFAULTS = {("sgns", "sgd"): {"batch_size": 4096, "learning_rate": None, "negative_group": 1,
                                              "final_rate": None}}
#: The largest batch sgns takes with summed SGD: larger ones diverge (benchmarks/results/keras_sweep.*).
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
        Rows per step (per worker under ``multiworker``).
    learning_rate : float or None
        The optimizer's initial rate: row-wise Adagrad's (sgns, default 0.2) or RMSprop's
        (tutorial, 0.001). None with sgns and ``optimizer="sgd"``, which steps by
        ``Word2VecConfig.alpha``.
    optimizer : {"adagrad", "sgd"} for sgns, {"rmsprop"} for tutorial
        sgns: ``adagrad`` is row-wise sparse Adagrad (the default, stable at any batch);
        ``sgd`` is word2vec's per-pair SGD summed over a batch, for comparison, up to
        :data:`SGD_MAX_BATCH` rows.
    negative_group : int
        sgns: consecutive rows of a batch that share one draw of negatives (the first
        row's); 1 gives each row its own. Sharing cuts the step's memory traffic
        (:meth:`fastw2v.keras_models.SGNS.train_step`). The tutorial model takes 1 only.
        At most ``batch_size``; the default shrinks to a smaller batch.
    final_rate : float or None
        sgns with ``adagrad``: the rate decays linearly from ``learning_rate`` to
        ``final_rate * learning_rate`` over all epochs (default 1.0: constant). None for the
        optimizers that do not take it (summed SGD decays from ``alpha`` to
        ``Word2VecConfig.final_alpha``; the tutorial's RMSprop rate is constant).
    steps_per_execution : int
        Training steps per call from Python (Keras' ``compile`` option). Progress,
        stop requests and the loss are seen once per call, so more steps per call keep
        an accelerator busy while Python catches up; 1 suits a CPU.
    """

    model: str = "sgns"
    strategy: str = "default"
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    optimizer: Optional[str] = None
    negative_group: Optional[int] = None
    final_rate: Optional[float] = None
    steps_per_execution: int = 1

    def __post_init__(self) -> None:
        check_choice("model", self.model, KERAS_MODELS)
        check_int("steps_per_execution", self.steps_per_execution, 1)
        check_choice("strategy", self.strategy, KERAS_STRATEGIES)
        if self.optimizer is None:
            object.__setattr__(self, "optimizer", KERAS_OPTIMIZERS[self.model][0])
        check_choice(f"optimizer for the {self.model} model", self.optimizer, KERAS_OPTIMIZERS[self.model])
        defaults = dict(KERAS_MODEL_DEFAULTS[self.model],
                        **KERAS_OPTIMIZER_DEFAULTS.get((self.model, self.optimizer), {}))
        if self.batch_size is None:
            object.__setattr__(self, "batch_size", defaults["batch_size"])
        check_int("batch_size", self.batch_size, 1)
        if self.model == "sgns" and self.optimizer == "sgd" and self.batch_size > SGD_MAX_BATCH:
            raise ArgumentError(f"batch_size {self.batch_size} is too large for summed SGD, which diverges past "
                                f"{SGD_MAX_BATCH} rows; use the adagrad optimizer for large batches")
        if self.negative_group is None:
            object.__setattr__(self, "negative_group", min(defaults["negative_group"], self.batch_size))
        check_int("negative_group", self.negative_group, 1)
        if self.negative_group > self.batch_size:
            raise ArgumentError(f"negative_group {self.negative_group} is larger than batch_size {self.batch_size}: "
                                "a group shares one row's negatives within a batch")
        if self.model == "tutorial" and self.negative_group != 1:
            raise ArgumentError("negative_group is for the sgns model; the tutorial model trains on labelled pairs")
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", defaults["learning_rate"])
        elif defaults["learning_rate"] is None:
            raise ArgumentError("learning_rate is for the adagrad and rmsprop optimizers; sgns with sgd steps by "
                                "alpha")
        else:
            check_float("learning_rate", self.learning_rate, 0.0, strict=True)
        if self.final_rate is None:
            object.__setattr__(self, "final_rate", defaults["final_rate"])
        elif defaults["final_rate"] is None:
            raise ArgumentError("final_rate is for sgns with the adagrad optimizer; sgd decays alpha to min_alpha, "
                                "and the tutorial's RMSprop rate is constant")
        else:
            check_float("final_rate", self.final_rate, 0.0)
            if self.final_rate > 1.0:
                raise ArgumentError(f"final_rate is a fraction of the initial rate, at most 1; got {self.final_rate}")

    @property
    def layout(self) -> str:
        """The pair generator layout the model reads: ``"rows"`` or ``"flat"``."""
        return "rows" if self.model == "sgns" else "flat"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
