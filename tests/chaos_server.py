"""A capture endpoint that fails the way real networks and servers do, reproducibly.

:class:`ChaosServer` serves ``POST /batch/`` on 127.0.0.1 (standard library only) and
answers each request with one behaviour, dealt from a deck shuffled by a seeded
:class:`random.Random`. The weights say how many cards of each behaviour a deck holds
(by default 12 ``ok`` and one of each failure); an exhausted deck is reshuffled. So
the proportions are the weights', and every deck's worth of requests meets every
behaviour, which a short test can count on:

=====================  ===============================================================
behaviour              what the client sees
=====================  ===============================================================
``ok``                 200; the batch's events are stored (every ``uuid`` recorded)
``500`` / ``503``      a server error
``429_retry_after``    429 with ``Retry-After: 1``
``429``                429 without ``Retry-After``
``413``                413 with the plain-text body "maximum event size exceeded", only
                       for a batch of more than ``max_batch_events`` events (the card
                       stays on top for the next large batch; a smaller batch gets the
                       next other card)
``reset``              the connection is reset (RST, no response); nothing stored
``stall``              no answer for ``stall_seconds`` (longer than the client's
                       timeout), then a 503; nothing stored
``lost_after_store``   the batch is stored, then the connection is reset: the only
                       behaviour after which a correct client sends duplicates
=====================  ===============================================================

Outages come on top: every ``outage_every`` requests (a range, drawn by a second
seeded generator) the request that arrives is reset and the server goes down for
``outage_duration`` seconds (also a drawn range). Down means down: the listening
socket is closed, open connections are cut, and connections are refused. The port
stays reserved meanwhile by a bound socket that does not listen (``SO_REUSEADDR``),
which starts listening again when the outage ends, so the URL never changes and
nothing else can take the port. :meth:`ChaosServer.down` and :meth:`ChaosServer.up`
do the same on demand.

With one client sending over one connection, a seed fixes the sequence of
behaviours and outages; only the size of each batch depends on timing (and so where
a 413 card finds a batch large enough).
"""

from __future__ import annotations

import gzip
import json
import random
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Protocol, cast

HOST = "127.0.0.1"
BATCH_PATH = "/batch/"

OK = "ok"
ERROR_500 = "500"
ERROR_503 = "503"
RATE_LIMITED_RETRY_AFTER = "429_retry_after"
RATE_LIMITED = "429"
TOO_LARGE = "413"
RESET = "reset"
STALL = "stall"
LOST_AFTER_STORE = "lost_after_store"
OUTAGE = "outage"
"""Not a weighted behaviour: the request that arrived when an outage began (reset)."""
BEHAVIOURS = (
    OK,
    ERROR_500,
    ERROR_503,
    RATE_LIMITED_RETRY_AFTER,
    RATE_LIMITED,
    TOO_LARGE,
    RESET,
    STALL,
    LOST_AFTER_STORE,
)
DEFAULT_WEIGHTS: Mapping[str, int] = {
    OK: 12,
    ERROR_500: 1,
    ERROR_503: 1,
    RATE_LIMITED_RETRY_AFTER: 1,
    RATE_LIMITED: 1,
    TOO_LARGE: 1,
    RESET: 1,
    STALL: 1,
    LOST_AFTER_STORE: 1,
}
TOO_LARGE_BODY = b"maximum event size exceeded"
BACKLOG = 64
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Served:
    """One request the server answered (or did not): for reports and failure messages."""

    number: int
    behaviour: str
    events: int
    at: float


class ChaosServer:
    """A misbehaving, seeded ``POST /batch/`` endpoint; see the module docstring.

    ``weights`` gives cards per deck for the behaviours it names; the others keep
    :data:`DEFAULT_WEIGHTS` (:func:`only` builds a deck of just some behaviours).
    ``stall_seconds`` must exceed the client's timeout for a stall to be one.

    Use as a context manager, or :meth:`start` and :meth:`stop`. Results, all safe to
    read from any thread: :attr:`received` (unique uuids stored), :attr:`duplicates`
    (events stored again), :attr:`requests`, :attr:`counts` (per behaviour),
    :attr:`outages` and :attr:`down_seconds`. :meth:`wait_for` waits on a condition
    notified at every change.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        weights: Mapping[str, int] | None = None,
        max_batch_events: int = 50,
        stall_seconds: float = 2.0,
        outage_every: tuple[int, int] | None = None,
        outage_duration: tuple[float, float] = (2.0, 4.0),
        max_outages: int | None = None,
        port: int = 0,
    ) -> None:
        self.seed = seed
        self.max_batch_events = max_batch_events
        self.stall_seconds = stall_seconds
        self.outage_every = outage_every
        self.outage_duration = outage_duration
        self.max_outages = max_outages
        self.port = port
        self._weights = _check_weights(weights)
        self._rng = random.Random(seed)
        self._deck: list[str] = []  # the behaviours still to deal, last card on top
        self._outage_rng = random.Random(f"outages-{seed}")
        self._cond = threading.Condition()  # guards every field below; notified at each change
        self._control = threading.RLock()  # serialises start/down/up/stop
        self._stopping = threading.Event()  # set by stop(): ends stalls and outages at once
        self._received: set[str] = set()
        self._duplicates = 0
        self._stored = 0
        self._requests = 0
        self._counts: dict[str, int] = dict.fromkeys((*BEHAVIOURS, OUTAGE), 0)
        self._lost_after_store_events = 0
        self._history: list[Served] = []
        self._outages = 0
        self._down_seconds = 0.0
        self._down_since: float | None = None
        self._next_outage: int | None = None
        self._started = False
        self._stopped = False
        self._connections: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._outage_threads: list[threading.Thread] = []
        self._handler_errors: list[str] = []
        self._server: _HTTPServer | None = None
        self._serving: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> ChaosServer:
        with self._control:
            if self._started:
                raise RuntimeError("a ChaosServer starts once")
            sock = _bind(self.port)
            self.port = sock.getsockname()[1]
            sock.listen(BACKLOG)
            server = _HTTPServer((HOST, self.port), _Handler, bind_and_activate=False)
            server.socket.close()  # the one TCPServer made; ours is bound already
            server.socket = sock
            server.server_address = sock.getsockname()
            server.server_name, server.server_port = HOST, self.port
            server.owner = self
            self._server = server
            with self._cond:
                self._started = True
                self._next_outage = self._draw_next_outage()
            self._serve()
        return self

    def stop(self) -> None:
        """End everything now: stalls, outages, connections and threads; close every socket."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._cond.notify_all()
        self._stopping.set()
        for thread in self._outage_threads:
            if thread is not threading.current_thread():
                thread.join(10)
        with self._control:
            server = self._server
            if server is None:
                return
            self._stop_serving()
            server.socket.close()
            self._cut_connections()
        deadline = time.monotonic() + 10
        with self._cond:
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join(max(deadline - time.monotonic(), 0.0))
        server.server_close()
        with self._cond:
            if self._down_since is not None:
                self._down_seconds += time.monotonic() - self._down_since
                self._down_since = None

    def down(self) -> None:
        """Go down now: close the listening socket (connections are refused from here on,
        the port stays reserved), and cut every open connection."""
        with self._control:
            server = self._server
            with self._cond:
                if server is None or self._stopped or self._down_since is not None:
                    return
            self._stop_serving()
            server.socket.close()
            server.socket = _bind(self.port)  # bound, not listening: refuses, keeps the port
            self._cut_connections()
            with self._cond:
                self._down_since = time.monotonic()
                self._outages += 1
                self._cond.notify_all()

    def up(self) -> None:
        """Listen again on the same port after :meth:`down`."""
        with self._control:
            server = self._server
            with self._cond:
                if server is None or self._stopped or self._down_since is None:
                    return
            try:
                server.socket.listen(BACKLOG)
            except OSError:  # pragma: no cover - should the reserved socket misbehave
                server.socket.close()
                server.socket = _bind(self.port)
                server.socket.listen(BACKLOG)
            self._serve()
            with self._cond:
                assert self._down_since is not None
                self._down_seconds += time.monotonic() - self._down_since
                self._down_since = None
                self._next_outage = self._draw_next_outage()
                self._cond.notify_all()

    def outage(self, seconds: float) -> None:
        """Go down for ``seconds`` in the background (:meth:`stop` cuts it short)."""
        thread = threading.Thread(
            target=self._outage, args=(seconds,), name="chaos-outage", daemon=True
        )
        with self._cond:
            if self._stopped:
                return
            self._outage_threads.append(thread)
        thread.start()

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Replace the weights (behaviours not named get weight 0) and the deck."""
        checked = _check_weights({name: weights.get(name, 0) for name in BEHAVIOURS})
        with self._cond:
            self._weights = checked
            self._deck = []

    def __enter__(self) -> ChaosServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ reading

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def received(self) -> set[str]:
        """The uuids stored (a copy)."""
        with self._cond:
            return set(self._received)

    @property
    def unique(self) -> int:
        with self._cond:
            return len(self._received)

    @property
    def duplicates(self) -> int:
        """Events stored whose uuid had been stored before."""
        with self._cond:
            return self._duplicates

    @property
    def stored(self) -> int:
        """Events stored, duplicates included."""
        with self._cond:
            return self._stored

    @property
    def requests(self) -> int:
        """Requests that reached a handler (refused connections never do)."""
        with self._cond:
            return self._requests

    @property
    def counts(self) -> dict[str, int]:
        """Requests per behaviour (a copy), ``outage`` included."""
        with self._cond:
            return dict(self._counts)

    @property
    def lost_after_store_events(self) -> int:
        """Events in the batches stored and then answered with a reset: the bound on
        duplicates a correct client can cause."""
        with self._cond:
            return self._lost_after_store_events

    @property
    def history(self) -> list[Served]:
        with self._cond:
            return list(self._history)

    @property
    def outages(self) -> int:
        with self._cond:
            return self._outages

    @property
    def is_down(self) -> bool:
        with self._cond:
            return self._down_since is not None

    @property
    def down_seconds(self) -> float:
        """Seconds spent down so far (the current outage included)."""
        with self._cond:
            ongoing = 0.0 if self._down_since is None else time.monotonic() - self._down_since
            return self._down_seconds + ongoing

    @property
    def handler_errors(self) -> list[str]:
        """Unexpected exceptions in request handlers (tracebacks); should stay empty."""
        with self._cond:
            return list(self._handler_errors)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true (evaluated at each change); False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    # ------------------------------------------------------------------ internals

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        thread = threading.Thread(
            target=server.serve_forever, args=(POLL_INTERVAL,), name="chaos-serve", daemon=True
        )
        self._serving = thread
        thread.start()

    def _stop_serving(self) -> None:
        thread, self._serving = self._serving, None
        if thread is not None and self._server is not None:
            self._server.shutdown()
            thread.join()

    def _cut_connections(self) -> None:
        """Shut every open connection down; its handler thread then ends and closes it."""
        with self._cond:
            for conn in self._connections:
                try:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _outage(self, seconds: float) -> None:
        self.down()
        self._stopping.wait(seconds)
        self.up()

    def _draw_next_outage(self) -> int | None:
        """Lock held: the request number that starts the next scheduled outage."""
        if self.outage_every is None:
            return None
        if self.max_outages is not None and self._outages >= self.max_outages:
            return None
        low, high = self.outage_every
        return self._requests + self._outage_rng.randint(low, high)

    def _decide(self, events: list[dict[str, Any]]) -> str:
        """Pick what to do with one request, and store its events if that is the choice."""
        with self._cond:
            self._requests += 1
            if self._next_outage is not None and self._requests >= self._next_outage:
                self._next_outage = None
                low, high = self.outage_duration
                behaviour = OUTAGE
                self.outage(self._outage_rng.uniform(low, high))
            else:
                behaviour = self._pick(len(events))
            self._counts[behaviour] += 1
            if behaviour in (OK, LOST_AFTER_STORE):
                self._store(events)
            if behaviour == LOST_AFTER_STORE:
                self._lost_after_store_events += len(events)
            self._history.append(Served(self._requests, behaviour, len(events), time.monotonic()))
            self._cond.notify_all()
            return behaviour

    def _pick(self, size: int) -> str:
        """Lock held: deal the next card. A 413 card waits on top of the deck for a batch
        large enough; a smaller batch gets the next other card."""
        if not self._deck:
            self._deck = [name for name in BEHAVIOURS for _ in range(self._weights[name])]
            self._rng.shuffle(self._deck)
            if not self._deck:
                return OK
        if self._deck[-1] != TOO_LARGE or size > self.max_batch_events:
            return self._deck.pop()
        for index in range(len(self._deck) - 2, -1, -1):
            if self._deck[index] != TOO_LARGE:
                return self._deck.pop(index)
        return OK  # only 413 cards left, and this batch is small

    def _store(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            uid = str(event.get("uuid"))
            if uid in self._received:
                self._duplicates += 1
            else:
                self._received.add(uid)
            self._stored += 1

    def _track(self, conn: socket.socket, thread: threading.Thread) -> None:
        with self._cond:
            self._connections.add(conn)
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)

    def _forget(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.discard(conn)

    def _handler_error(self, text: str) -> None:
        with self._cond:
            self._handler_errors.append(text)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: ChaosServer

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="chaos-handler",
            daemon=True,
        )
        self.owner._track(request, thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        self.owner._forget(request)  # no longer cut from another thread: it is closing
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # OSError: a client gone, a cut connection
            self.owner._handler_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def owner(self) -> ChaosServer:
        return cast(_HTTPServer, self.server).owner

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?")[0] != BATCH_PATH:
            self._answer(404, b"not found", "text/plain")
            return
        events = _events_in(raw, self.headers.get("Content-Encoding"))
        if events is None:
            self._answer(400, b"malformed body", "text/plain")
            return
        owner = self.owner
        behaviour = owner._decide(events)
        if behaviour == OK:
            self._answer(200, b'{"status": 1}')
        elif behaviour in (ERROR_500, ERROR_503):
            self._answer(int(behaviour), b'{"error": "chaos"}')
        elif behaviour == RATE_LIMITED_RETRY_AFTER:
            self._answer(429, b'{"error": "rate limited"}', retry_after="1")
        elif behaviour == RATE_LIMITED:
            self._answer(429, b'{"error": "rate limited"}')
        elif behaviour == TOO_LARGE:
            self._answer(413, TOO_LARGE_BODY, "text/plain")
        elif behaviour == STALL:
            if owner._stopping.wait(owner.stall_seconds):
                self._reset()
            else:
                self._answer(503, b'{"error": "too late"}')
        else:  # RESET, LOST_AFTER_STORE, OUTAGE
            self._reset()

    def _answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        retry_after: str | None = None,
    ) -> None:
        """The whole response in one write."""
        head = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('Chaos',))[0]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        if retry_after is not None:
            head.append(f"Retry-After: {retry_after}")
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:  # the client gave up waiting, or an outage cut the connection
            self.close_connection = True

    def _reset(self) -> None:
        """Close the connection with an RST and no response."""
        self.close_connection = True
        conn = self.connection
        self.owner._forget(conn)
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.rfile.close()  # it holds a reference: without this, close() would not close
        conn.close()


def _events_in(raw: bytes, encoding: str | None) -> list[dict[str, Any]] | None:
    try:
        if (encoding or "").lower() == "gzip" or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        payload = json.loads(raw)
    except (OSError, EOFError, ValueError, zlib.error):
        return None
    batch = payload.get("batch", [payload]) if isinstance(payload, dict) else payload
    if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
        return None
    return batch


def _bind(port: int) -> socket.socket:
    """A socket bound to ``port`` (with ``SO_REUSEADDR``), not yet listening.

    Retries for a while: the port may be briefly busy while an outage swaps sockets."""
    deadline = time.monotonic() + 10
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, port))
        except OSError:
            sock.close()
            if port == 0 or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
            continue
        return sock


def only(*behaviours: str) -> dict[str, int]:
    """Weights for a deck of just these behaviours, one card each."""
    return {name: int(name in behaviours) for name in BEHAVIOURS}


def _check_weights(weights: Mapping[str, int] | None) -> dict[str, int]:
    merged = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        unknown = set(weights) - set(BEHAVIOURS)
        if unknown:
            raise ValueError(f"unknown behaviours {sorted(unknown)}; known: {BEHAVIOURS}")
        merged.update(weights)
    if any(not isinstance(w, int) or w < 0 for w in merged.values()):
        raise ValueError(f"weights are cards per deck: ints, zero or more; got {merged}")
    return merged


# ---------------------------------------------------------------------- the load


class CapturingClient(Protocol):
    """What the producers need of a ``posthog_exceptions.Client``."""

    def capture(
        self, event: str, *, distinct_id: Any = ..., properties: Any = ...
    ) -> str | None: ...

    def capture_exception(
        self, exception: Any = ..., *, distinct_id: Any = ..., properties: Any = ...
    ) -> str | None: ...


@dataclass
class Load:
    """What the producer threads did."""

    sent: list[str] = field(default_factory=list)
    """The uuids the calls returned."""
    not_queued: int = 0
    """Calls that returned None (the event was not queued)."""
    failures: list[str] = field(default_factory=list)
    """Exceptions that escaped a call (tracebacks)."""
    calls: int = 0
    exceptions: int = 0
    """How many of the calls were capture_exception()."""
    longest_pause: float = 0.0
    """The longest single call, in seconds: the longest a caller waited."""
    seconds: float = 0.0


class OrderFailed(Exception):
    """The exception the producers raise and capture."""


def produce(
    client: CapturingClient,
    *,
    events: int,
    threads: int,
    seconds: float = 0.0,
    exception_every: int = 5,
) -> Load:
    """Call ``client.capture()`` ``events`` times from ``threads`` threads, spread evenly
    over ``seconds``; every ``exception_every``-th call is a ``capture_exception()`` of a
    freshly raised (and chained) exception instead. Every call is timed."""
    load = Load()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    started = [0.0]

    def run(worker: int) -> None:
        sent: list[str] = []
        failures: list[str] = []
        not_queued = calls = exceptions = 0
        longest = 0.0
        barrier.wait()
        if worker == 0:
            started[0] = time.monotonic()
        barrier.wait()
        for seq in range(worker, events, threads):
            due = started[0] + seconds * seq / events
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            properties = {"seq": seq, "producer": worker}
            as_exception = exception_every > 0 and seq % exception_every == exception_every - 1
            exc: BaseException | None = None
            if as_exception:
                exc = _raised(seq)
            began = time.perf_counter()
            try:
                if exc is not None:
                    uid = client.capture_exception(
                        exc, distinct_id=f"chaos-{worker}", properties=properties
                    )
                else:
                    uid = client.capture(
                        "chaos event", distinct_id=f"chaos-{worker}", properties=properties
                    )
            except Exception:
                uid = None
                failures.append(traceback.format_exc())
            took = time.perf_counter() - began
            longest = max(longest, took)
            calls += 1
            exceptions += exc is not None
            if uid is None:
                not_queued += 1
            else:
                sent.append(uid)
        with lock:
            load.sent.extend(sent)
            load.failures.extend(failures)
            load.not_queued += not_queued
            load.calls += calls
            load.exceptions += exceptions
            load.longest_pause = max(load.longest_pause, longest)

    workers = [
        threading.Thread(target=run, args=(n,), name=f"chaos-producer-{n}") for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    load.seconds = time.monotonic() - started[0]
    return load


def _parse_quantity(text: str) -> int:
    return int(text)


def _raised(seq: int) -> BaseException:
    """A raised exception with a cause, as application code produces them."""
    try:
        try:
            _parse_quantity(f"order-{seq}")
        except ValueError as cause:
            raise OrderFailed(f"order {seq} failed") from cause
    except OrderFailed as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


def behaviour_table(counts: Mapping[str, int], names: Sequence[str] = (*BEHAVIOURS, OUTAGE)) -> str:
    """``name=count`` pairs, for reports and assertion messages."""
    return ", ".join(f"{name}={counts.get(name, 0)}" for name in names)
