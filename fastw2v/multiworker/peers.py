"""The watch a multi-worker run keeps on its peers, over a TCP channel of its own.

``--strategy multiworker`` steps every worker together: each step's all-reduce waits
for every peer. A peer that is gone (SIGKILL, an OOM kill, a host that drops off)
would leave the others waiting in that all-reduce forever, and a Python thread
cannot interrupt it. :class:`PeerGroup` is the watch. Besides the engine's own
channel, the chief (worker 0) listens on one more port; every other worker connects
to it before any training starts. Each end sends a heartbeat every
:func:`heartbeat_interval` seconds and reads the other's messages:

* a connection that closes without a goodbye (the peer's process died) is a lost
  peer at once;
* a connection silent for ``timeout`` seconds (its host dropped off, or the network
  between them) is a lost peer then;
* a peer that leaves with an error says so first, and the group stops with it.

On a loss the watch prints one line naming the lost worker and the last checkpoint
that holds, and ends the process with :data:`~fastw2v.cli.EXIT_PEER_LOST`: the main thread may be
blocked inside the engine's all-reduce, and that is the one way out of it. Nothing
is lost that the checkpoint does not hold: checkpoints are written atomically. The
chief tells the other workers of every checkpoint it writes, so that they can name it
too, and of any peer it loses, so that the group ends together.

The watch tells slow from dead, which a collective timeout cannot: a peer still
building its corpus cache, or the chief writing a large checkpoint, keeps sending
heartbeats, and the others wait for it as long as it takes.

Start-up is bounded the same way: the chief waits at most ``timeout`` seconds for
every worker to join, and a worker tries to reach the chief for at most as long.

The engine's own start-up is bounded too (:meth:`PeerGroup.barrier`, then
:meth:`PeerGroup.bounded`): once every worker is ready for it, connecting
TensorFlow's channel takes seconds, and one that does not connect within ``timeout``
(a port blocked between the hosts) ends the group like a lost peer.

The channel also carries the chief's checkpoint at a resume (:meth:`PeerGroup.send_state`
and :meth:`PeerGroup.receive_state`), so no worker but the chief needs the checkpoint's
directory. It imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import struct
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..cli import EXIT_INTERRUPTED, EXIT_PEER_LOST
from ..constants import DEFAULT_PEER_TIMEOUT
from ..errors import PeerLost

#: the exit status of a worker whose group lost a peer (0, 1, 2, 3 and 130 mean other things)
#: magic of the channel's first message, so that a stray connection is turned away
_HELLO = "fastw2v-peers-1"
_HEADER = struct.Struct(">I")  # the length of each message's JSON header
_CONNECT_RETRY_SECONDS = 0.2


def heartbeat_interval(timeout: float) -> float:
    """Seconds between heartbeats: often enough that several fit in ``timeout``."""
    return min(1.0, timeout / 5)


def _send(sock: socket.socket, header: dict, payload: List[memoryview] = ()) -> None:
    data = json.dumps(header).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)
    for part in payload:
        sock.sendall(part)


def _recv_exact(sock: socket.socket, n: int, into: Optional[memoryview] = None) -> bytes:
    buf = into if into is not None else memoryview(bytearray(n))
    got = 0
    while got < n:
        k = sock.recv_into(buf[got:], n - got)
        if k == 0:
            raise ConnectionError("the connection closed")
        got += k
    return buf if into is not None else bytes(buf)


def _recv(sock: socket.socket) -> dict:
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > 1 << 26:
        raise ConnectionError(f"a message header of {size} bytes is not from a fastw2v peer")
    return json.loads(_recv_exact(sock, size))


def _exit_process(message: str, code: int) -> None:
    """Print ``message`` and end the process now (the main thread may be stuck in an all-reduce)."""
    try:
        os.write(2, (message + "\n").encode())
    finally:
        os._exit(code)


class _Link:
    """One connection to a peer: a send lock (heartbeats and messages interleave) and its reader."""

    def __init__(self, sock: socket.socket, index: int, address: str) -> None:
        self.sock, self.index, self.address = sock, index, address
        self.lock = threading.Lock()
        self.left = False  # the peer said goodbye

    def send(self, header: dict, payload: List[memoryview] = ()) -> None:
        with self.lock:
            _send(self.sock, header, payload)


class PeerGroup:
    """This worker's watch on the others, and the chief's channel to them.

    Parameters
    ----------
    index, n_workers : int
        This worker's place (0 is the chief) and the group's size.
    chief : (host, port)
        Where the chief listens for the other workers.
    timeout : float
        Seconds of silence after which a peer counts as lost; also the bound on
        start-up.
    addresses : list of str, optional
        The workers' ``host:port`` from ``TF_CONFIG``, to name a lost one.
    checkpoint_hint : str, optional
        What to say when a loss comes before any checkpoint was written.
    prog : str
        The program's name, at the start of the message.
    on_lost : callable(message, exit_code), optional
        What a loss does: by default print the message and end the process. Tests
        pass a function that records it.
    """

    def __init__(self, index: int, n_workers: int, chief: Tuple[str, int], timeout: float = DEFAULT_PEER_TIMEOUT,
                 addresses: Optional[List[str]] = None, checkpoint_hint: str = "no checkpoint was written yet",
                 prog: str = "fastw2v", on_lost: Optional[Callable[[str, int], None]] = None) -> None:
        self.index, self.n_workers, self.chief = index, n_workers, chief
        self.timeout = float(timeout)
        self.addresses = list(addresses) if addresses else [f"worker {i}" for i in range(n_workers)]
        self.prog = prog
        self.on_lost = on_lost or _exit_process
        self.last_checkpoint: Optional[str] = None
        self.checkpoint_hint = checkpoint_hint
        self.links: Dict[int, _Link] = {}
        self._armed = threading.Event()
        self._closing = threading.Event()
        self._failed = threading.Lock()
        self._verdict = threading.Event()  # a loss was declared
        #: what the readers received for the main thread: the chief's checkpoint, barrier calls
        self._inbox: Dict[str, "queue.Queue"] = {"state": queue.Queue(), "ready": queue.Queue(),
                                                 "go": queue.Queue()}
        self._threads: List[threading.Thread] = []

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    def _name(self, index: int) -> str:
        return f"worker {index}" + (" (the chief)" if index == 0 else "") + f" at {self.addresses[index]}"

    # -- start-up ----------------------------------------------------------------------

    def start(self) -> "PeerGroup":
        """Meet every peer within ``timeout`` seconds, then watch them; raises PeerLost if one is missing."""
        deadline = time.monotonic() + self.timeout
        if self.is_chief:
            self._accept_all(deadline)
        else:
            self._join(deadline)
        self._armed.set()
        for link in self.links.values():
            self._spawn(self._read, link)
        self._spawn(self._beat)
        return self

    def _accept_all(self, deadline: float) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("", self.chief[1]))
        except OSError as exc:
            server.close()
            raise PeerLost(f"the chief cannot listen for its peers on port {self.chief[1]} ({exc.strerror}); "
                           "choose another with --peer-port on every worker") from None
        server.listen(self.n_workers)
        try:
            while len(self.links) < self.n_workers - 1:
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [i for i in range(1, self.n_workers) if i not in self.links]
                    raise PeerLost(f"{', '.join(self._name(i) for i in missing)} did not join within "
                                   f"{self.timeout:g} s; start every worker with the same TF_CONFIG cluster and "
                                   "--peer-port, or raise --peer-timeout")
                server.settimeout(min(left, 1.0))
                try:
                    sock, addr = server.accept()
                except socket.timeout:
                    continue
                sock.settimeout(max(0.1, min(left, 5.0)))
                try:
                    hello = _recv(sock)
                except (OSError, ValueError, ConnectionError):
                    sock.close()  # not a fastw2v peer, or gone already
                    continue
                index = hello.get("worker")
                if hello.get("hello") != _HELLO or hello.get("workers") != self.n_workers or \
                        not isinstance(index, int) or not 0 < index < self.n_workers or index in self.links:
                    _send(sock, {"kind": "refused", "why": f"the chief expects workers 1..{self.n_workers - 1} "
                                 f"of {self.n_workers}, not {hello.get('worker')!r} of {hello.get('workers')!r}"})
                    sock.close()
                    continue
                self.links[index] = _Link(sock, index, self.addresses[index])
            for link in self.links.values():
                link.sock.settimeout(self.timeout)
                link.send({"kind": "welcome"})
        except BaseException:
            for link in self.links.values():
                link.sock.close()
            self.links.clear()
            raise
        finally:
            server.close()

    def _join(self, deadline: float) -> None:
        host, port = self.chief
        why = "no answer"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerLost(f"worker {self.index} could not reach the chief at {host}:{port} within "
                               f"{self.timeout:g} s ({why}); start the chief (worker 0), check TF_CONFIG and "
                               "--peer-port, or raise --peer-timeout")
            try:
                sock = socket.create_connection((host, port), timeout=min(left, 5.0))
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                time.sleep(min(_CONNECT_RETRY_SECONDS, max(0.0, left)))
                continue
            try:
                sock.settimeout(max(0.1, left))
                _send(sock, {"hello": _HELLO, "worker": self.index, "workers": self.n_workers})
                answer = _recv(sock)
            except (OSError, ValueError, ConnectionError) as exc:
                sock.close()
                why = str(exc) or type(exc).__name__
                time.sleep(_CONNECT_RETRY_SECONDS)
                continue
            if answer.get("kind") != "welcome":
                sock.close()
                raise PeerLost(f"the chief at {host}:{port} turned worker {self.index} away: {answer.get('why')}")
            sock.settimeout(self.timeout)
            self.links[0] = _Link(sock, 0, self.addresses[0])
            return

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name=f"fastw2v-peers-{target.__name__}")
        t.start()
        self._threads.append(t)

    # -- watching ----------------------------------------------------------------------

    def _beat(self) -> None:
        interval = heartbeat_interval(self.timeout)
        while not self._closing.wait(interval):
            for link in list(self.links.values()):
                # a link busy sending (a checkpoint) needs no beat: its bytes are word enough
                if link.left or not link.lock.acquire(blocking=False):
                    continue
                try:
                    _send(link.sock, {"kind": "beat"})
                except OSError:
                    pass  # its reader sees the same connection fail, and says so
                finally:
                    link.lock.release()

    def _read(self, link: _Link) -> None:
        while not self._closing.is_set():
            try:
                msg = _recv(link.sock)
            except socket.timeout:
                if not self._closing.is_set():
                        self._lost(link.index, f"no word from it for {self.timeout:g} s (its host or the network is "
                                               "down)")
                return
            except (OSError, ValueError, ConnectionError):
                if not (link.left or self._closing.is_set()):
                    self._lost(link.index, "its process ended")
                return
            kind = msg.get("kind")
            if kind == "bye":
                link.left = True
                if not msg.get("expected"):
                    self._lost(link.index, f"it stopped: {msg.get('message')}",
                               code=EXIT_INTERRUPTED if msg.get("code") == EXIT_INTERRUPTED else EXIT_PEER_LOST)
                    return
            elif kind == "lost":
                self._fail(msg["message"], int(msg.get("code", EXIT_PEER_LOST)))
                return
            elif kind == "checkpoint":
                self.last_checkpoint = msg.get("where")
            elif kind == "state":
                try:
                    self._inbox["state"].put((msg["meta"], self._read_arrays(link.sock, msg["arrays"])))
                except (OSError, ValueError, ConnectionError, KeyError):
                    self._lost(link.index, "its checkpoint did not arrive whole")
                    return
            elif kind in ("ready", "go"):
                self._inbox[kind].put((link.index, msg.get("name")))

    @staticmethod
    def _read_arrays(sock: socket.socket, specs: List[dict]) -> Dict[str, np.ndarray]:
        arrays = {}
        for spec in specs:
            a = np.empty(tuple(spec["shape"]), dtype=np.dtype(spec["dtype"]))
            if a.nbytes:
                _recv_exact(sock, a.nbytes, memoryview(a.reshape(-1).view(np.uint8)))
            arrays[spec["name"]] = a
        return arrays

    def _lost(self, index: int, why: str, code: int = EXIT_PEER_LOST) -> None:
        if not self._armed.is_set():
            return  # training is over: a peer leaving now costs nothing
        message = f"{self.prog}: lost {self._name(index)}: {why}; {self.held()}"
        if self.is_chief:  # the other workers end with the chief, and say why
            for other in list(self.links.values()):
                if other.index != index and not other.left:
                    try:
                        other.sock.settimeout(2.0)
                        other.send({"kind": "lost", "message": message, "code": code})
                    except OSError:
                        pass
        self._fail(message, code)

    def _fail(self, message: str, code: int) -> None:
        if not self._armed.is_set() or not self._failed.acquire(blocking=False):
            return
        self._verdict.set()
        self.on_lost(message, code)

    def await_verdict(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the watch to declare a peer lost; whether it did.

        For when the engine reports a failed collective first: the watch then names the
        peer (and, by default, ends the process) once its own timeout runs out.
        """
        return self._verdict.wait(seconds)

    def held(self) -> str:
        """What a loss leaves: the last checkpoint and how to resume from it, or why there is none."""
        where = self.last_checkpoint
        return (f"the last checkpoint is {where}; restart every worker with --resume and the same "
                "--checkpoint-dir" if where else self.checkpoint_hint)

    # -- what the runner tells the group ----------------------------------------------

    def note_checkpoint(self, where: str) -> None:
        """The chief wrote a checkpoint: name it in any later loss, here and on every worker."""
        self.last_checkpoint = where
        for link in list(self.links.values()):
            try:
                link.send({"kind": "checkpoint", "where": where})
            except OSError:
                pass

    def send_state(self, meta: dict, arrays: Dict[str, np.ndarray]) -> None:
        """The chief hands its checkpoint to every worker (a resume)."""
        names = sorted(arrays)
        parts = [np.asarray(arrays[k]) for k in names]
        parts = [a if a.flags.c_contiguous else a.copy(order="C") for a in parts]  # 0-d arrays stay 0-d
        specs = [{"name": k, "dtype": a.dtype.str, "shape": list(a.shape)} for k, a in zip(names, parts)]
        views = [memoryview(a.reshape(-1).view(np.uint8)) for a in parts if a.nbytes]
        for link in list(self.links.values()):
            link.send({"kind": "state", "meta": meta, "arrays": specs}, views)

    def receive_state(self) -> Tuple[dict, Dict[str, np.ndarray]]:
        """A worker's copy of the chief's checkpoint; waits as long as the chief is alive."""
        return self._take("state")

    def _take(self, kind: str):
        while True:
            try:
                return self._inbox[kind].get(timeout=1.0)
            except queue.Empty:
                if self._closing.is_set():
                    raise PeerLost(f"the group closed while this worker waited for {kind!r}") from None

    def barrier(self, name: str) -> None:
        """Wait until every worker has reached ``name``, as long as they are all alive."""
        if self.is_chief:
            arrived = set()
            while len(arrived) < self.n_workers - 1:
                index, got = self._take("ready")
                if got == name:
                    arrived.add(index)
            for link in list(self.links.values()):
                link.send({"kind": "go", "name": name})
        else:
            self.links[0].send({"kind": "ready", "name": name})
            while self._take("go")[1] != name:
                pass

    @contextlib.contextmanager
    def bounded(self, what: str):
        """Within the block, ``what`` must be done in ``timeout`` seconds, or the group ends here.

        For the engine's own start-up, once every worker has reached it
        (:meth:`barrier`): then no peer is slow, and a wait past the timeout means the
        engine's channel cannot connect (a port blocked between hosts, say).
        """
        timer = threading.Timer(self.timeout, lambda: self._fail(
            f"{self.prog}: {what} did not finish within {self.timeout:g} s although every worker had reached it; "
            "check that each worker's TF_CONFIG port is reachable from the others, or raise --peer-timeout",
            EXIT_PEER_LOST))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def disarm(self) -> None:
        """Training is over: from now on a peer that leaves, or is lost, ends nothing here."""
        self._armed.clear()

    def leave(self, expected: bool, code: int = 0, message: str = "") -> None:
        """Say goodbye to every peer and close the channel.

        ``expected`` says the group as a whole ended this way (training finished, a stop
        or a divergence all workers agreed on), so the others go on to their own end;
        otherwise they stop with this worker's ``message``.
        """
        self._armed.clear()
        self._closing.set()
        for link in list(self.links.values()):
            try:
                link.sock.settimeout(2.0)
                link.send({"kind": "bye", "expected": bool(expected), "code": int(code), "message": message})
            except OSError:
                pass
        for link in list(self.links.values()):
            try:
                link.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            link.sock.close()


def start_peers(index: int, n_workers: int, addresses: List[str], timeout: float, port: Optional[int] = None,
                **kwargs) -> PeerGroup:
    """A started :class:`PeerGroup` for worker ``index`` of the ``TF_CONFIG`` cluster ``addresses``.

    The chief listens on ``port``, by default its own ``TF_CONFIG`` port plus one.
    """
    host, chief_port = addresses[0].rsplit(":", 1)
    chief = (host.strip("[]"), int(port) if port is not None else int(chief_port) + 1)
    return PeerGroup(index, n_workers, chief, timeout, addresses=addresses, **kwargs).start()


__all__ = ["PeerGroup", "heartbeat_interval", "start_peers"]
