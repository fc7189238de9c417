"""The multi-worker watch (fastw2v.multiworker.peers), in-process and against real processes: no TensorFlow.

Every wait is bounded: a PeerGroup that fails to notice a loss fails its test at the
bound instead of hanging it.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastw2v.multiworker.cluster import local_tf_configs
from fastw2v.errors import PeerLost
from fastw2v.cli import EXIT_PEER_LOST
from fastw2v.multiworker.peers import PeerGroup, heartbeat_interval

# every test here starts processes, sockets or the command line: the integration tier
pytestmark = pytest.mark.integration

TIMEOUT = 1.5  # --peer-timeout of these groups, seconds


class Losses:
    """An on_lost that records, so a loss does not end the test process."""

    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def __call__(self, message, code):
        self.calls.append((message, code))
        self.event.set()

    def wait(self, seconds):
        return self.event.wait(seconds)


def _port():
    return local_tf_configs(1)[1]


def _connect(port, seconds=10):
    """A raw connection to a chief that may still be starting to listen."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return socket.create_connection(("localhost", port), timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _group(n, timeout=TIMEOUT, hint="no checkpoint was written yet"):
    """n started PeerGroups on localhost, each with its own recorder."""
    port = _port()
    addresses = [f"localhost:{port + 100 + i}" for i in range(n)]
    losses = [Losses() for _ in range(n)]
    groups = [None] * n
    errors = []

    def start(i):
        try:
            groups[i] = PeerGroup(i, n, ("localhost", port), timeout, addresses=addresses, checkpoint_hint=hint,
                                  on_lost=losses[i]).start()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    assert not errors and all(groups), errors
    return groups, losses


def _close_silently(group):
    """What a dead process leaves: its connections close, with no goodbye."""
    group._closing.set()
    for link in group.links.values():
        link.sock.close()


def test_a_worker_whose_process_ends_is_lost_at_once_and_the_message_names_it_and_the_checkpoint():
    (chief, worker), (chief_lost, worker_lost) = _group(2)
    chief.note_checkpoint("ck/ (saved now, at epoch 1, batch 7)")
    t0 = time.monotonic()
    _close_silently(worker)
    assert chief_lost.wait(TIMEOUT), "a closed connection must be noticed before the silence timeout"
    message, code = chief_lost.calls[0]
    assert code == EXIT_PEER_LOST and time.monotonic() - t0 < TIMEOUT
    assert "lost worker 1 at localhost:" in message and "its process ended" in message
    assert "ck/ (saved now, at epoch 1, batch 7)" in message and "--resume" in message
    assert "\n" not in message and len(chief_lost.calls) == 1


def test_a_silent_peer_is_lost_after_the_timeout_not_before():
    """A host that drops off keeps its connection open and says nothing: the chief waits the timeout."""
    port = _port()
    losses = Losses()
    chief = PeerGroup(0, 2, ("localhost", port), TIMEOUT, on_lost=losses)
    started = threading.Thread(target=chief.start)
    started.start()
    sock = _connect(port)
    hello = json.dumps({"hello": "fastw2v-peers-1", "worker": 1, "workers": 2}).encode()
    sock.sendall(struct.pack(">I", len(hello)) + hello)
    started.join(10)
    t0 = time.monotonic()
    assert losses.wait(TIMEOUT + 5), "a silent peer was never declared lost"
    waited = time.monotonic() - t0
    assert TIMEOUT * 0.7 <= waited <= TIMEOUT + 3, waited
    message, code = losses.calls[0]
    assert code == EXIT_PEER_LOST and f"no word from it for {TIMEOUT:g} s" in message
    assert "no checkpoint was written yet" in message
    sock.close()


def test_heartbeats_keep_a_slow_but_live_peer():
    (chief, worker), losses = _group(2)
    assert heartbeat_interval(TIMEOUT) < TIMEOUT / 2
    time.sleep(3 * TIMEOUT)  # both only beat: neither is lost
    assert not any(l.calls for l in losses)
    worker.leave(expected=True)
    chief.leave(expected=True)


def test_a_goodbye_says_whether_the_group_ends_with_it():
    (chief, worker), (chief_lost, _) = _group(2)
    worker.leave(expected=True)  # the group agreed (training ended, an agreed stop, a divergence)
    time.sleep(TIMEOUT + 0.5)
    assert chief_lost.calls == []
    for code, expected_code in ((2, EXIT_PEER_LOST), (130, 130)):
        (chief, worker), (chief_lost, _) = _group(2)
        worker.leave(expected=False, code=code, message="no checkpoint in ck")
        assert chief_lost.wait(TIMEOUT)
        message, got = chief_lost.calls[0]
        assert got == expected_code and "it stopped: no checkpoint in ck" in message


def test_the_chief_tells_every_worker_of_a_loss_and_of_each_checkpoint():
    (chief, one, two), (chief_lost, one_lost, two_lost) = _group(3)
    chief.note_checkpoint("ck/ (saved 12:00, at the end of epoch 1)")
    deadline = time.monotonic() + 5
    while None in (one.last_checkpoint, two.last_checkpoint) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert one.last_checkpoint == two.last_checkpoint == "ck/ (saved 12:00, at the end of epoch 1)"
    _close_silently(two)
    assert chief_lost.wait(TIMEOUT) and one_lost.wait(TIMEOUT)
    message, code = one_lost.calls[0]
    assert code == EXIT_PEER_LOST and "lost worker 2" in message and "ck/ (saved 12:00" in message


def test_a_worker_loses_the_chief():
    (chief, worker), (_, worker_lost) = _group(2)
    _close_silently(chief)
    assert worker_lost.wait(TIMEOUT)
    assert "lost worker 0 (the chief)" in worker_lost.calls[0][0]


def test_after_disarm_a_leaving_peer_ends_nothing():
    (chief, worker), (chief_lost, _) = _group(2)
    chief.disarm()  # training is over: the chief writes its files
    _close_silently(worker)
    time.sleep(TIMEOUT + 0.5)
    assert chief_lost.calls == []


def test_the_chiefs_checkpoint_reaches_every_worker_whole():
    (chief, one, two), losses = _group(3)
    rng = np.random.default_rng(0)
    arrays = {"w0": rng.standard_normal((300, 17)).astype(np.float32), "opt0": np.array(12, dtype=np.int64),
              "empty": np.zeros((0, 4), np.float32), "strided": np.arange(40, dtype=np.float64)[::2]}
    meta = {"state": {"epoch": 1, "skip_batches": 3}, "saved_at": "now"}
    chief.send_state(meta, arrays)
    for worker in (one, two):
        got_meta, got = worker.receive_state()
        assert got_meta == meta and sorted(got) == sorted(arrays)
        for k, a in arrays.items():
            assert got[k].shape == a.shape and got[k].dtype == a.dtype and np.array_equal(got[k], a), k
    assert not any(l.calls for l in losses)


def test_start_up_is_bounded_on_both_sides():
    port = _port()
    t0 = time.monotonic()
    with pytest.raises(PeerLost, match=r"worker 1 at h:2 did not join within 1 s"):
        PeerGroup(0, 2, ("localhost", port), 1.0, addresses=["h:1", "h:2"]).start()
    assert time.monotonic() - t0 < 4
    t0 = time.monotonic()
    with pytest.raises(PeerLost, match=rf"worker 1 could not reach the chief at localhost:{port} within 1 s"):
        PeerGroup(1, 2, ("localhost", port), 1.0).start()
    assert time.monotonic() - t0 < 4


def test_a_stray_connection_is_turned_away_and_a_mismatched_worker_refused():
    port = _port()
    chief = PeerGroup(0, 2, ("localhost", port), 5.0, on_lost=Losses())
    started = threading.Thread(target=chief.start)
    started.start()
    stray = _connect(port)
    stray.sendall(b"GET / HTTP/1.0\r\n\r\n")
    with pytest.raises(PeerLost, match="turned worker 1 away: the chief expects workers 1..1 of 2"):
        PeerGroup(1, 3, ("localhost", port), 5.0).start()
    worker = PeerGroup(1, 2, ("localhost", port), 5.0, on_lost=Losses()).start()
    started.join(10)
    assert 1 in chief.links and 0 in worker.links
    stray.close()


def test_a_killed_worker_process_is_noticed_at_once():
    """A real SIGKILL: the kernel closes the dead process's socket."""
    port = _port()
    losses = Losses()
    chief = PeerGroup(0, 2, ("localhost", port), 30.0, on_lost=losses)
    code = ("import os, signal, time\n"
            "from fastw2v.multiworker.peers import PeerGroup\n"
            f"PeerGroup(1, 2, ('localhost', {port}), 30.0).start()\n"
            "time.sleep(0.5)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    chief.start()
    proc.wait(60)
    t_dead = time.monotonic()
    assert losses.wait(10), "the killed worker was not noticed"
    assert time.monotonic() - t_dead < 5 and "its process ended" in losses.calls[0][0]


def test_a_barrier_waits_for_every_worker_and_a_bounded_step_ends_the_group():
    groups, losses = _group(3)
    done = []

    def reach(g, delay):
        time.sleep(delay)
        g.barrier("strategy")
        done.append((g.index, time.monotonic()))

    t0 = time.monotonic()
    threads = [threading.Thread(target=reach, args=(g, 1.0 if g.index == 2 else 0.0)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(done) == 3 and all(t - t0 >= 0.9 for _, t in done)  # nobody passed before the slow one
    with groups[0].bounded("a quick step"):
        time.sleep(0.1)
    time.sleep(TIMEOUT + 0.3)
    assert not any(l.calls for l in losses)  # finished in time: the bound was cancelled
    with groups[1].bounded("connecting the engine"):
        assert losses[1].wait(TIMEOUT + 3)
    message, code = losses[1].calls[0]
    assert code == EXIT_PEER_LOST and "connecting the engine did not finish within 1.5 s" in message


def test_await_verdict_says_whether_the_watch_declared_a_loss():
    (chief, worker), (chief_lost, _) = _group(2)
    t0 = time.monotonic()
    assert not chief.await_verdict(0.3) and time.monotonic() - t0 >= 0.25  # no peer lost: it waits, then says so
    _close_silently(worker)
    assert chief.await_verdict(TIMEOUT) and chief_lost.calls
