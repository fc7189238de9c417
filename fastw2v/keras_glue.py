"""The backend glue's contract, and the glue module for the backend Keras has loaded.

fastw2v writes its models, optimizers and trainer once, in ``keras.ops``; the little
that Keras 3 needs per backend lives in one module per backend, :mod:`fastw2v.keras_tf`
and :mod:`fastw2v.keras_jax`. Each such module provides :class:`BackendGlue`, and its
``Strategy`` class provides :class:`Strategy`; :func:`glue` returns the module for the
backend Keras has loaded, after checking that it provides the contract. Two parts are
TensorFlow's alone and are asked for only where they apply:

* :class:`OwnLoopGlue` adds ``step_input``: a backend whose ``python_step`` returns a
  step (the trainer runs its own epoch loop) turns each batch into its tensors;
* :class:`MultiWorkerGlue` adds ``fit_epoch_distributed``: the epoch of a multi-worker
  group (``--strategy multiworker``, refused on other backends before Keras loads).
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager, List, Optional, Protocol, Sequence, runtime_checkable

import keras

from .contract import missing_members
from .errors import UsageError
from .keras_backend import SUPPORTED


@runtime_checkable
class Strategy(Protocol):
    """How a backend spreads a step over devices: ``default``, ``mirrored`` or ``multiworker``."""

    #: the strategy's name, as ``KerasOptions.strategy`` gives it
    name: str
    #: replicas each batch is split over (1 on one device)
    num_replicas: int
    #: rows a batch must be a multiple of
    batch_multiple: int
    #: whether the step is XLA-compiled
    jit_compile: bool

    def scope(self) -> ContextManager:
        """The scope the model and its optimizer are built in."""

    def fit_scope(self) -> ContextManager:
        """The scope an epoch is trained in."""


@runtime_checkable
class BackendGlue(Protocol):
    """What a backend module provides to the backend-neutral models, optimizers and trainer."""

    #: the Keras backend's name ("tensorflow", "jax")
    NAME: str
    #: the backend's :class:`Strategy`, built from the strategy's name
    Strategy: Callable[[str], Strategy]

    def train_step(self, model, *args) -> Any:
        """Keras' ``train_step`` for a model with a closed-form step, in the backend's form
        (TensorFlow's stateful ``(data)``, JAX's stateless ``(state, data)``)."""

    def apply_gradient(self, optimizer, updates) -> None:
        """Apply ``[(variable, rows or None, values, segments)]`` through ``optimizer``."""

    def gradient_rows(self, gradient) -> tuple:
        """``(rows or None, values)`` of a gradient, sparse or dense."""

    def scatter_add(self, optimizer, variable, rows, values) -> None:
        """``variable[rows] += values`` in place, duplicate rows adding up."""

    def scatter_set(self, optimizer, variable, rows, values) -> None:
        """``variable[rows] = values`` in place."""

    def replicas_in_sync(self) -> int:
        """Replicas whose gradients are summed in this step (1 outside a strategy)."""

    def sync_weights(self, model) -> None:
        """Make the model's variables hold the weights of the last step ``fit`` ran."""

    def python_step(self, model, strategy) -> Optional[Callable]:
        """The compiled step for the trainer's own epoch loop, or None where ``fit`` runs it."""

    def fit_data(self, feed, layout: str, width: int) -> Any:
        """An epoch's :class:`~fastw2v.feed.EpochFeed` as ``fit`` takes it."""

    def devices(self) -> List[str]:
        """The devices the step can run on, by name."""

    def physical_devices(self) -> List[str]:
        """The machine's devices, by name (starts the backend's device platforms)."""

    def string_lookup(self, words: Sequence[str], mask: bool) -> Any:
        """A lookup from words to the rows of :func:`fastw2v.to_keras`'s embedding."""

    def accelerator_memory(self) -> Optional[int]:
        """Bytes of memory on the first accelerator; None on a CPU or where unknown."""

    def is_out_of_memory(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the device running out of memory."""


@runtime_checkable
class OwnLoopGlue(BackendGlue, Protocol):
    """A backend whose ``python_step`` can return a step for the trainer's own loop."""

    def step_input(self, arrays) -> tuple:
        """A batch's NumPy arrays as the tensors that step takes, made in the caller's thread."""


@runtime_checkable
class MultiWorkerGlue(BackendGlue, Protocol):
    """A backend that trains a multi-worker group."""

    def fit_epoch_distributed(self, trainer, data, callbacks, max_steps: Optional[int]) -> None:
        """One epoch of ``trainer`` under the group's strategy, its stop requests agreed each step."""


def glue() -> BackendGlue:
    """:mod:`fastw2v.keras_tf` or :mod:`fastw2v.keras_jax`, for the backend Keras has loaded.

    Raises
    ------
    UsageError
        Keras loaded a backend fastw2v does not support (set before Keras was imported).
    TypeError
        The backend's module does not provide :class:`BackendGlue` (a bug in fastw2v).
    """
    name = keras.backend.backend()
    if name == "tensorflow":
        from . import keras_tf as module
    elif name == "jax":
        from . import keras_jax as module
    else:
        raise UsageError(f"Keras runs on the {name!r} backend, which fastw2v's Keras path does not support; set "
                         f"KERAS_BACKEND to one of {', '.join(SUPPORTED)} before Keras is imported")
    missing = missing_members(module, BackendGlue)
    if missing:
        raise TypeError(f"fastw2v.{module.__name__.rsplit('.', 1)[-1]} lacks the glue's {', '.join(missing)}")
    return module

