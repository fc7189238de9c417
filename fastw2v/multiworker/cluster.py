"""The multi-worker cluster from ``TF_CONFIG``, read without importing TensorFlow.

``--strategy multiworker`` runs one process per machine, each told its place by the
``TF_CONFIG`` environment variable, as TensorFlow's ``MultiWorkerMirroredStrategy``
expects. :func:`cluster_from_tf_config` checks it first, so that a missing or
malformed one is a one-line error instead of a strategy waiting for peers forever.
"""

from __future__ import annotations

import json
import os
import socket
from typing import List, Tuple

from ..errors import UsageError

#: Added to the generator's seed per worker index.
WORKER_SEED_STRIDE = 1_000_003


def cluster_from_tf_config(environ=None) -> Tuple[int, int]:
    """``(worker_index, n_workers)`` from ``TF_CONFIG``, checked before TensorFlow reads it.

    ``TF_CONFIG`` must be JSON with ``cluster.worker`` (a list of ``host:port``) and
    ``task`` (``{"type": "worker", "index": i}``). A missing or malformed one raises
    :class:`~fastw2v.errors.UsageError` instead of letting the strategy wait forever.
    """
    index, workers = worker_addresses(environ)
    return index, len(workers)


def worker_addresses(environ=None) -> Tuple[int, List[str]]:
    """``(worker_index, ["host:port", ...])`` from ``TF_CONFIG``, checked as :func:`cluster_from_tf_config`."""
    environ = os.environ if environ is None else environ
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    raw = environ.get("TF_CONFIG")
    if not raw:
        raise UsageError(f"--strategy multiworker needs TF_CONFIG in the environment, e.g. TF_CONFIG='{example}'")
    try:
        spec = json.loads(raw)
        workers = spec["cluster"]["worker"]
        task = spec["task"]
        kind, index = task["type"], task["index"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"TF_CONFIG is malformed ({type(exc).__name__}: {exc}); expected {example}") from None
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) and w.rpartition(":")[2].isdigit() for w in workers):
        raise UsageError(f"TF_CONFIG cluster.worker must be a non-empty list of 'host:port', got {workers!r}")
    if set(spec["cluster"]) - {"worker", "chief"} or "chief" in spec["cluster"]:
        raise UsageError("TF_CONFIG: fastw2v runs workers only (task index 0 is the chief); "
                         f"got the cluster roles {sorted(spec['cluster'])}")
    if kind != "worker" or isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
        raise UsageError(f"TF_CONFIG task must be {{\"type\": \"worker\", \"index\": 0..{len(workers) - 1}}}, "
                         f"got {task!r}")
    return index, list(workers)


def local_tf_configs(n_workers: int, host: str = "localhost") -> Tuple[List[str], int]:
    """``TF_CONFIG`` values for ``n_workers`` workers on this machine, and a ``--peer-port``.

    The ports are free when chosen (another process could still take one before the
    workers bind it). For trying ``--strategy multiworker`` on one machine, and for the
    tests and benchmarks that do.
    """
    socks = [socket.socket() for _ in range(n_workers + 1)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        ports = [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    workers = [f"{host}:{p}" for p in ports[:-1]]
    configs = [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
               for i in range(n_workers)]
    return configs, ports[-1]
