"""JAX glue of the Keras path: what Keras 3 needs only on the JAX backend.

* :func:`train_step`: JAX's stateless ``train_step(state, data)``. It runs the model's
  closed-form step (:mod:`fastw2v.keras_models`, written in ``keras.ops``) inside a
  ``keras.StatelessScope`` holding the state, and returns the new state. Keras jits
  it with the state donated, so the row writes (``table.at[rows].add``) happen in
  place.
* :func:`scatter_add` and :func:`scatter_set`: row writes as ``.at[rows]`` updates.
* :func:`fit_data`: the :class:`~fastw2v.feed.EpochFeed` as the Python generator
  ``fit`` iterates (the feed prefetches in its own background thread), so
  :func:`python_step` gives the trainer no loop of its own.
* :class:`Strategy`: ``default`` (one device) and ``mirrored``
  (``keras.distribution.DataParallel`` over the local devices). ``multiworker`` is
  TensorFlow's and is refused here.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import jax
import keras

from .errors import UsageError
from .keras_backend import multiworker_refusal
from .vocab import WordIds

NAME = "jax"


def train_step(model, state, data):
    """``train_step(state, data) -> (logs, state)`` of a model with a closed-form step."""
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    refs = (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
            model.metrics_variables)
    mapping = [(ref, value) for group, values in zip(refs, state) for ref, value in zip(group, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model.closed_form_step(x, y)
    return logs, tuple([scope.get_current_value(ref) for ref in group] for group in refs)


def apply_gradient(optimizer, updates) -> None:
    """Apply ``[(variable, rows or None, values, segments)]`` (a :class:`~fastw2v.keras_optimizers.RowOptimizer`)."""
    optimizer.apply_rows(updates)


def gradient_rows(gradient):
    """JAX gradients are dense arrays: ``(None, gradient)``."""
    return None, gradient


def scatter_add(optimizer, variable, rows, values) -> None:
    """``variable[rows] += values``, duplicates adding up (in place under a donating jit)."""
    optimizer.assign(variable, variable.value.at[rows].add(values))


def scatter_set(optimizer, variable, rows, values) -> None:
    """``variable[rows] = values`` (duplicate rows must carry equal values)."""
    optimizer.assign(variable, variable.value.at[rows].set(values))


def replicas_in_sync() -> int:
    """1: under ``DataParallel`` the step sees the whole global batch."""
    return 1


def sync_weights(model) -> None:
    """Write the state Keras' JAX ``fit`` holds during an epoch back into the model's variables."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def python_step(model, strategy):
    """None: ``model.fit`` on JAX iterates the feed's batches directly, with no pipeline
    threads beside the step's, so the trainer needs no loop of its own here."""
    return None


def fit_data(feed, layout: str, width: int):
    """The feed as the generator ``model.fit`` iterates (one epoch)."""
    return iter(feed)


class Strategy:
    """``default``: one device; ``mirrored``: ``keras.distribution.DataParallel`` over the local devices."""

    def __init__(self, name: str) -> None:
        if name == "multiworker":
            raise UsageError(multiworker_refusal(NAME))
        self.name = name
        self._devices = jax.devices() if name == "mirrored" else jax.devices()[:1]
        self._distribution = keras.distribution.DataParallel(devices=self._devices) if name == "mirrored" else None

    @property
    def num_replicas(self) -> int:
        return len(self._devices)

    @property
    def batch_multiple(self) -> int:
        """Rows a batch must be a multiple of: it is split evenly over the devices."""
        return self.num_replicas

    jit_compile = True

    def scope(self):
        return self._distribution.scope() if self._distribution is not None else contextlib.nullcontext()

    fit_scope = scope


def devices() -> list:
    """The devices the step can run on, by name."""
    return [str(d) for d in jax.devices()]


#: the machine's devices: on JAX, the same as the step's
physical_devices = devices


def string_lookup(words, mask: bool):
    """:class:`~fastw2v.vocab.WordIds`: JAX has no string tensors, so the lookup runs in the input
    pipeline, in NumPy, with ``StringLookup``'s numbering (Keras' own needs TensorFlow)."""
    return WordIds(words, mask)


def accelerator_memory() -> Optional[int]:
    """Bytes of memory on the first accelerator, or None on a CPU (or where JAX does not say)."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    try:
        stats = device.memory_stats() or {}
    except Exception:  # not every plugin implements it
        return None
    limit = stats.get("bytes_limit")
    return int(limit) if limit else None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is XLA running out of device memory."""
    text = str(exc)[:2000]
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text
