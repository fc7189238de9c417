"""The single, frozen, validated configuration object for training."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Optional

from .constants import KERAS_BATCH_SIZE


def default_threads() -> int:
    """Number of worker threads to use when the user does not say."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass(frozen=True)
class Word2VecConfig:
    """Hyperparameters of skip-gram with negative sampling.

    Defaults follow gensim's skip-gram (``sg=1``) where one exists. Every field is
    validated once, in ``__post_init__``; a bad value raises ``ValueError`` (or
    ``TypeError`` for a wrong type) naming the field.
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
    batch_size: int = KERAS_BATCH_SIZE["sgns"]  # 16,384 summed rows diverged on wiki8
    exact_sigmoid: bool = False

    def __post_init__(self) -> None:
        _check_int("dim", self.dim, low=1)
        _check_int("window", self.window, low=1)
        _check_int("negative", self.negative, low=0)
        _check_float("sample", self.sample, low=0.0)
        _check_int("min_count", self.min_count, low=1)
        if self.max_vocab is not None:
            _check_int("max_vocab", self.max_vocab, low=1)
        _check_float("alpha", self.alpha, low=0.0, strict=True)
        if self.min_alpha is not None:
            _check_float("min_alpha", self.min_alpha, low=0.0)
            if self.min_alpha > self.alpha:
                raise ValueError(f"min_alpha ({self.min_alpha}) must not exceed alpha ({self.alpha})")
        _check_int("epochs", self.epochs, low=1)
        if self.threads is not None:
            _check_int("threads", self.threads, low=1)
        _check_int("seed", self.seed, low=0)
        _check_float("ns_power", self.ns_power, low=0.0)
        _check_int("batch_size", self.batch_size, low=1)

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


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy integers are fine too
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _check_float(name: str, value, low: float, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < low or (strict and value == low):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {low}, got {value}")
