"""A training run as one worker of a multi-worker group: meet, train, and tell the others how it ended.

:func:`run_in_group` wraps the run's body (:func:`fastw2v.runner.run` hands it over) in
the group's watch (:mod:`fastw2v.multiworker.peers`): the workers meet before the corpus
loads, a lost peer ends this process with :data:`~fastw2v.cli.EXIT_PEER_LOST`, and every
way this run ends is told to the others. :func:`worker_run_options` is what a worker
other than the chief keeps of the run's options (only the chief writes files), and
:func:`checkpoint_name` how a lost-worker message names the last checkpoint.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import replace
from typing import Callable, TypeVar

from ..cli import PROG, exit_code
from ..errors import PeerLost, TrainingDiverged, TrainingInterrupted
from .cluster import worker_addresses
from .peers import PeerGroup, heartbeat_interval, start_peers

T = TypeVar("T")


def checkpoint_name(directory, meta: dict) -> str:
    """A checkpoint as a lost-worker message names it: where, when, and how far it had trained."""
    state = meta.get("state") or {}
    epoch, batches = state.get("epoch", 0), state.get("skip_batches", 0)
    where = f"epoch {epoch + 1}, batch {batches}" if batches else f"the end of epoch {epoch}"
    return f"{directory}/ (saved {meta.get('saved_at', '?')}, at {where})"


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt, as SIGINT does, until training installs its own handlers.

    A multi-worker run stopped before it trains then says goodbye to its peers, which
    stop with it, instead of vanishing as a lost worker.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_in_group(peer_timeout: float, peer_port, keeps_checkpoints: bool, body: Callable[[PeerGroup], T]) -> T:
    """``body(peers)`` as this process's part of the group ``TF_CONFIG`` names; its result.

    A missing or malformed ``TF_CONFIG`` is refused first. ``keeps_checkpoints`` (the
    chief has a checkpoint directory) shapes what a lost-worker message says of them.

    Raises
    ------
    PeerLost
        A peer was lost, or the engine's own channel failed (exit status 4).
    """
    index, addresses = worker_addresses()
    hint = ("no checkpoint was written yet" if keeps_checkpoints else
            "the run keeps no checkpoint (give the chief --checkpoint-dir to keep one)")
    with _sigterm_interrupts():
        # met before the corpus loads: a peer still loading keeps the watch's heartbeat going
        peers = start_peers(index, len(addresses), addresses, peer_timeout, peer_port, checkpoint_hint=hint,
                            prog=PROG)
        try:
            result = body(peers)
        except BaseException as exc:
            if isinstance(exc, PeerLost):
                # the engine saw a collective fail: the watch names the lost peer within its timeout
                # (and ends the process); if no peer is lost, the engine's own channel is at fault
                peers.await_verdict(peer_timeout + 2 * heartbeat_interval(peer_timeout))
            # a divergence or a stop all workers agreed on ends every worker by itself
            peers.leave(expected=isinstance(exc, (TrainingDiverged, TrainingInterrupted)), code=exit_code(exc),
                        message=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            if isinstance(exc, PeerLost):  # the engine's own channel failed: say what the checkpoint holds
                raise PeerLost(f"{exc}; {peers.held()}") from None
            raise
        peers.leave(expected=True)
    return result


def worker_run_options(trainer, encoded, run_options):
    """What this worker keeps of ``run_options``, after saying which share of ``encoded`` it trains.

    The chief (worker 0) writes every file; another worker trains its share and writes
    none (its ``checkpoint_dir`` stays, for ``--resume``, whose state comes from the chief).
    """
    share = trainer.worker_share(encoded).extra["share"]
    print(f"worker {trainer.worker_index} of {trainer.n_workers}: sentences {share[0]}..{share[1] - 1}"
          + ("" if trainer.is_chief else "; this worker writes no files"), file=sys.stderr)
    if trainer.is_chief:
        return run_options
    return replace(run_options, output=None, report=None, tensorboard=None, eval_analogies=None, eval_pairs=(),
                   validate=())
