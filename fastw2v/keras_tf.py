"""TensorFlow glue of the Keras path: what Keras 3 needs only on the TensorFlow backend.

* :func:`train_step`: TensorFlow's stateful step. The model's closed-form gradient
  reaches the optimizer as ``tf.IndexedSlices`` through ``optimizer.apply``, so a
  ``tf.distribute`` strategy all-reduces it across replicas as for any Keras model.
* :func:`scatter_add` and :func:`scatter_set`: row writes into a variable.
* :func:`python_step`: the step as an XLA function that the trainer's own loop calls on
  the feed's batches, on one device, made tensors in the feed's thread
  (:func:`step_input`); :func:`fit_data`: the
  :class:`~fastw2v.feed.EpochFeed` as a prefetching ``tf.data`` pipeline, for ``fit``
  under a strategy.
* :class:`Strategy`: ``default``, ``mirrored`` (``MirroredStrategy``) and
  ``multiworker`` (``MultiWorkerMirroredStrategy``, by the custom loop
  :func:`fit_epoch_distributed`).

The maths lives in :mod:`fastw2v.keras_models`, in ``keras.ops``.

Under ``multiworker`` each worker builds the same vocabulary from the same corpus and
trains its own disjoint share of the sentences (worker ``i`` of ``n``: sentences
``i*S/n`` to ``(i+1)*S/n``, so no window crosses two shares); the optimizer
all-reduces the gradient slices, so every worker holds the same weights after each
step, and the chief (worker 0) alone writes files. Losing a peer, stopping the group
and resuming it are :mod:`fastw2v.multiworker`'s and :mod:`fastw2v.runner`'s.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import keras
import tensorflow as tf

from .errors import PeerLost

NAME = "tensorflow"


def train_step(model, data):
    """``train_step(data)`` of a model with a closed-form step (Keras' TensorFlow contract).

    Every op of the step waits for the batch. Outside XLA, a stateful op that does
    not read it (the optimizer's step count) would otherwise also run in the call
    that finds the dataset exhausted, counting one step too many per epoch.
    """
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    if not model.optimizer.built:  # its variables are lifted out of the function: not under the dependency
        model.optimizer.build(model.trainable_variables)
    with tf.control_dependencies(tf.nest.flatten(x)):
        return model.closed_form_step(x, y)


def apply_gradient(optimizer, updates) -> None:
    """Apply ``[(variable, rows or None, values, segments)]``.

    With the batch's unique rows (``segments``; fed only on one replica), the optimizer
    steps them directly (:meth:`~fastw2v.keras_optimizers.RowOptimizer.apply_rows`).
    Otherwise the rows go to ``optimizer.apply`` as ``IndexedSlices``, which a
    strategy all-reduces across replicas.
    """
    if any(u[3] is not None for u in updates):
        if replicas_in_sync() != 1:
            raise ValueError("unique-row batches are per replica and cannot be all-reduced; feed plain rows")
        optimizer.apply_rows(updates)
        return
    grads = [v if rows is None else tf.IndexedSlices(v, rows, tf.constant(list(var.shape)))
             for var, rows, v, _ in updates]
    optimizer.apply(grads, [u[0] for u in updates])


def gradient_rows(gradient):
    """``(rows, values)`` of an ``IndexedSlices`` gradient; ``(None, gradient)`` of a dense one."""
    if isinstance(gradient, tf.IndexedSlices):
        return gradient.indices, gradient.values
    return None, gradient


def scatter_add(optimizer, variable, rows, values) -> None:
    """``variable[rows] += values``, duplicates adding up, in place."""
    optimizer.assign_add(variable, tf.IndexedSlices(values, rows))


def scatter_set(optimizer, variable, rows, values) -> None:
    """``variable[rows] = values`` in place (duplicate rows must carry equal values)."""
    optimizer.assign(variable, tf.IndexedSlices(values, rows))


def replicas_in_sync() -> int:
    """Replicas whose gradients the strategy sums (1 outside a strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def sync_weights(model) -> None:
    """Nothing to do: TensorFlow's step writes the model's variables in place."""


def python_step(model, strategy):
    """The model's ``train_step`` as one XLA function of a NumPy batch, for the trainer's
    own epoch loop (:meth:`~fastw2v.keras_trainer.KerasTrainer.fit`); None where
    ``model.fit`` must run the step: under a ``tf.distribute`` strategy (multiworker
    included), or with several steps per execution.

    ``fit`` on TensorFlow reads every batch through ``tf.data``, whose threads share the
    cores with XLA's; on a small CPU that can stall the step for whole rounds of steps,
    which the same step called from Python on the feed's batches avoids. JAX's ``fit``
    already iterates the feed directly.
    """
    if strategy.name != "default" or model.steps_per_execution != 1:
        return None
    return tf.function(model.train_step, jit_compile=model.jit_compile, reduce_retracing=True)


def step_input(arrays) -> tuple:
    """NumPy arrays as the eager tensors :func:`python_step`'s function takes, made in the
    caller's thread: the feed's, so that the copy is not made in the loop's thread between
    two steps."""
    return tuple(tf.convert_to_tensor(a) for a in arrays)


def fit_data(feed, layout: str, width: int):
    """The feed as a ``tf.data.Dataset`` that prefetches, for ``model.fit`` (one epoch)."""
    if layout == "rows":
        x = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, width], tf.int32))
        if feed.prepare is not None:  # the unique rows, counts and inverse of each table
            x += (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
                  tf.TensorSpec([None], tf.int32)) * 2
        spec = (x,)
    else:
        spec = ((tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)), tf.TensorSpec([None], tf.int8))
    ds = tf.data.Dataset.from_generator(feed.__iter__, output_signature=spec)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(2)


class Strategy:
    """The ``tf.distribute`` strategy ``name``; for ``multiworker`` the caller has checked
    ``TF_CONFIG`` first (:func:`~fastw2v.multiworker.cluster.cluster_from_tf_config`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "mirrored":
            self._strategy = tf.distribute.MirroredStrategy()
        elif name == "multiworker":
            self._strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            self._strategy = tf.distribute.get_strategy()

    @property
    def num_replicas(self) -> int:
        return self._strategy.num_replicas_in_sync

    #: rows a batch must be a multiple of (TensorFlow splits uneven batches itself)
    batch_multiple = 1

    @property
    def jit_compile(self) -> bool:
        """XLA for the step: on one replica (XLA and ``tf.distribute``'s cross-replica ops do not mix).

        XLA stays on for a CPU too: TensorFlow's own multi-threaded kernels would compete
        for the cores with the pair generator's threads during training.
        """
        return self.num_replicas == 1

    def scope(self):
        return self._strategy.scope()

    def fit_scope(self):
        return contextlib.nullcontext()


def devices() -> list:
    """The logical devices the step can run on, by name."""
    return [d.name for d in tf.config.list_logical_devices()]


def string_lookup(words, mask: bool):
    """Keras' ``StringLookup`` over ``words``: 0 for an unknown word (with ``mask``, 0 for "" and 1 for
    unknown), then the words in order; it runs inside a model on string inputs."""
    return keras.layers.StringLookup(vocabulary=list(words), num_oov_indices=1, mask_token="" if mask else None)


def physical_devices() -> list:
    """The machine's devices, by name; starts the device platforms (CUDA's included) without fixing
    TensorFlow's runtime configuration, which a multi-worker strategy still sets afterwards."""
    return [d.name for d in tf.config.list_physical_devices()]


def accelerator_memory() -> Optional[int]:
    """None: TensorFlow has no public call for a GPU's total memory (``get_memory_info``
    gives only what it has allocated), so on this backend a batch too large for the
    device is caught when XLA runs out of memory (:func:`is_out_of_memory`)."""
    return None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the device running out of memory."""
    return isinstance(exc, tf.errors.ResourceExhaustedError) or "RESOURCE_EXHAUSTED" in str(exc)[:2000]


#: how a collective reports a peer it cannot reach or that went away
_PEER_FAILURES = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                  tf.errors.CancelledError)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", exc)).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def fit_epoch_distributed(trainer, data, callbacks, max_steps: Optional[int]) -> None:
    """One epoch under ``MultiWorkerMirroredStrategy``, by a custom loop.

    Keras 3's ``fit`` hands ``PerReplica`` values to the step under this strategy
    and fails (keras-team/keras#20585 is of this family), so the loop is ours:
    ``strategy.run`` of the model's own ``train_step``, whose optimizer all-reduces
    the gradient slices across workers. The distributed iterator agrees across
    workers on when the epoch ends, so shares of unequal length end together (a
    worker out of rows steps on empty batches). Callbacks get the calls ``fit`` makes.

    Every step also sums, over all workers, the rows each trained and each worker's
    stop request (:meth:`~fastw2v.keras_trainer.KerasTrainer.stop_flags`: a signal to
    any worker). The whole group therefore stops after the same step, which its next
    all-reduce needs (:meth:`~fastw2v.keras_trainer.KerasTrainer.group_stopped`). The
    scalars ride on the loss's own reduction, so this costs no extra round trip. The
    chief writes its periodic checkpoints between two steps, in a callback, while the
    other workers wait for it in the next all-reduce.

    A collective that cannot reach a peer raises :class:`~fastw2v.errors.PeerLost`
    (exit status 4), as a peer the watch of :mod:`fastw2v.multiworker.peers` loses does.
    """
    try:
        _distributed_epoch(trainer, data, callbacks, max_steps)
    except _PEER_FAILURES as exc:
        raise PeerLost(f"TensorFlow's all-reduce lost a peer: {_first_line(exc)}") from None


def _distributed_epoch(trainer, data, callbacks, max_steps: Optional[int]) -> None:
    model, strategy = trainer.model, trainer.strategy._strategy
    if getattr(trainer, "_distributed_step", None) is None:
        def replica_step(batch, flags):
            logs = model.train_step(batch)
            rows = tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], tf.float32)
            # weighted by rows: a worker out of rows steps on an empty batch, whose loss is NaN
            loss = tf.where(rows > 0, tf.cast(logs["loss"], tf.float32) * rows, 0.0)
            return tf.concat([tf.stack([loss, rows]), flags], 0)

        @tf.function
        def step(batch, flags):
            sums = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=(batch, flags)),
                                   axis=None)
            return tf.concat([sums[:1] / tf.maximum(sums[1:2], 1.0), sums[1:]], 0)

        trainer._distributed_step = step
    cbs = keras.callbacks.CallbackList(list(callbacks), model=model)
    model.stop_training = False
    cbs.on_train_begin()
    cbs.on_epoch_begin(trainer.epoch)
    for metric in model.metrics:
        metric.reset_state()
    # a stop agreed at an epoch's last step leaves a later fit of this trainer no step: its end keeps the loss
    epoch, logs = getattr(trainer, "_distributed_logs", (None, {}))
    logs = logs if epoch == trainer.epoch else {}
    # each worker's feed is its own share, already batched per replica: distributed from a
    # function, it is neither sharded nor rebatched (experimental_distribute_dataset would
    # cut every batch into one piece per replica of the whole group, and a worker would
    # train only its own piece of each, half its rows on two workers)
    for i, batch in enumerate(strategy.distribute_datasets_from_function(lambda context: data)):
        loss, rows, stop = trainer._distributed_step(batch, tf.constant(trainer.stop_flags())).numpy()
        trainer.group_rows_done += int(round(rows))
        logs = {"loss": float(loss)}
        trainer._distributed_logs = (trainer.epoch, logs)
        agreed = trainer.group_stopped(stop > 0)
        cbs.on_train_batch_end(i, logs)
        if agreed or model.stop_training or (max_steps is not None and i + 1 >= max_steps):
            break
    if max_steps is None and not model.stop_training and not trainer.group_stop:
        cbs.on_epoch_end(trainer.epoch, logs)
    cbs.on_train_end()
