"""The HTTP side of the local inbox: PostHog's capture endpoints, validating as PostHog does.

:class:`CaptureServer` serves HTTP/1.1 (keep-alive, chunked bodies) on these paths,
with or without the trailing slash:

- ``/i/v0/e``, ``/e``, ``/batch``, ``/capture``, ``/track``, ``/engage``: ``POST``, and
  ``GET ?data=``; every body :mod:`~posthog_exceptions.inbox._decode` unpacks (JSON,
  form ``data=``, base64, gzip, deflate, lz64), validated by
  :func:`~posthog_exceptions.inbox._protocol.parse_capture`; ``200 {"status": 1}``
  once stored (``204`` for ``?beacon=1``), else a plain-text 400, 401, 413 or 503.
- ``/i/v1/analytics/events``: ``POST``, posthog-python's ``capture_mode="v1"``
  (:mod:`~posthog_exceptions.inbox._v1`).
- ``/flags``, ``/decide``: ``GET`` and ``POST``, answered "no flags"
  (:mod:`~posthog_exceptions.inbox._flags`).
- ``/_health`` (and ``/`` for a client asking for JSON): ``GET``, ``200 {"status": "ok"}``.
- ``/``, ``/static/...``, ``/api/...``: ``GET``, the web page, its files, its JSON API
  and its live stream (:mod:`~posthog_exceptions.inbox._web`), with a
  Content-Security-Policy and without CORS headers.
- ``OPTIONS`` on the capture, v1 and flags paths: a CORS preflight answer (allowed
  methods, the requested headers echoed, ``Access-Control-Max-Age``). Every answer
  but the page's, errors included, carries ``Access-Control-Allow-Origin``: the
  request's ``Origin`` with ``Access-Control-Allow-Credentials: true``, or ``*`` when
  there is none.

Memory: request bodies are read and decoded within one :class:`ByteBudget` shared by
all connections, of ``max_request_bytes`` (20 MB by default): before reading a body
a request reserves its size (the whole limit when it is compressed or chunked, for
what decompressing may produce), and waits up to :attr:`CaptureServer.budget_wait`
seconds for room, else gets 503 with ``Retry-After``. So at most 20 MB of request
bodies are held at once, however many clients send; parsing and storing a body
takes about five times its size for typical events, and the inbox process stays
under 250 MB (measured: 165 MB with four concurrent 19 MB batches and a database
file; an in-memory store holds the stored events on top of that). Refused bodies
are read and dropped in 64 KB pieces, never kept.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Callable

from ._budget import ByteBudget
from ._handler import CaptureHandler, RequestRecord
from ._protocol import MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from ._store import EventStore
from ._web import CommitSignal

__all__ = ["CaptureServer", "RequestRecord"]


class CaptureServer(ThreadingHTTPServer):
    """A threaded HTTP server storing valid capture requests in an :class:`EventStore`.

    Run :meth:`serve_until_stopped` in a thread and end it with
    :meth:`stop_serving` (it wakes at once: no polling). ``on_commit`` runs
    after each committed request; ``on_request`` receives a
    :class:`RequestRecord` for every request answered.
    """

    daemon_threads = True
    allow_reuse_address = True
    budget_wait = 10.0
    """Seconds a request waits for room in :attr:`budget` before it is answered 503."""
    block_on_close = False  # connection threads are tracked and joined by close_connections

    def __init__(
        self,
        address: tuple[str, int],
        store: EventStore,
        *,
        api_key: str | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        verbose: bool = False,
        on_commit: Callable[[], None] = lambda: None,
        on_request: Callable[[RequestRecord], None] = lambda record: None,
        memory_budget: int | None = None,
    ) -> None:
        self.store = store
        self.api_key = api_key
        self.max_event_bytes = max_event_bytes
        self.max_request_bytes = max_request_bytes
        self.budget = ByteBudget(max(memory_budget or 0, max_request_bytes))
        """Request-body bytes all connections may hold at once (see the module docstring);
        ``memory_budget`` may raise it above ``max_request_bytes``, never below."""
        self.verbose = verbose
        self.on_commit = on_commit
        self.on_request = on_request
        self.commits = CommitSignal()
        """Counts committed requests; the page's live streams wait on it."""
        self._lock = threading.Lock()
        self._connections: dict[Any, threading.Thread] = {}
        self._stopping = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._wake_reader, self._wake_writer = socket.socketpair()
        try:
            super().__init__(address, CaptureHandler)
        except BaseException:
            self._wake_reader.close()
            self._wake_writer.close()
            raise
        self.socket.setblocking(False)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`stop_serving` is called."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self._stopping.is_set():
                        self._accept()

    def stop_serving(self) -> None:
        """Make :meth:`serve_until_stopped` return promptly, and end the page's streams."""
        self._stopping.set()
        self.commits.close()
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass

    def _accept(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:  # nothing to accept after all, or the client already left
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="posthog-inbox-connection",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Cut open (keep-alive) connections and wait for their threads to end."""
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in connections:
            thread.join(timeout)

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client went away or the inbox is stopping
        super().handle_error(request, client_address)
