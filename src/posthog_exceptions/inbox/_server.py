"""The HTTP side of the local inbox: a capture endpoint that validates like PostHog's.

:class:`CaptureServer` serves HTTP/1.1 (keep-alive, chunked bodies) and stores the
events that :func:`~posthog_exceptions.inbox._protocol.parse_capture` accepts.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict
from urllib.parse import parse_qs, urlsplit

from ._protocol import MAX_EVENT_BYTES, MAX_REQUEST_BYTES, Rejected, decompress, parse_capture
from ._store import EventStore

CAPTURE_PATHS = frozenset({"/i/v0/e", "/e", "/batch", "/capture"})
"""Capture endpoints, compared without the trailing slash."""

HEALTH_PATHS = frozenset({"", "/_health"})
_DRAIN_LIMIT = 64 * 1024 * 1024
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"


@dataclass(frozen=True)
class RequestRecord:
    """What the inbox saw of one HTTP request, kept for tests."""

    method: str
    path: str
    """The request target, query string included."""
    headers: Dict[str, str]
    """Request headers with lower-case names."""
    body_size: int
    """Size of the raw (possibly compressed) body in bytes."""
    status: int
    events: int
    """How many events the request stored."""


def _route(target: str) -> str:
    return urlsplit(target).path.rstrip("/")


class CaptureServer(ThreadingHTTPServer):
    """A threaded HTTP server storing valid capture requests in an :class:`EventStore`.

    Run :meth:`serve_until_stopped` in a thread and end it with
    :meth:`stop_serving` (it wakes at once: no polling). ``on_commit`` runs
    after each committed request; ``on_request`` receives a
    :class:`RequestRecord` for every request answered.
    """

    daemon_threads = True
    allow_reuse_address = True
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
    ) -> None:
        self.store = store
        self.api_key = api_key
        self.max_event_bytes = max_event_bytes
        self.max_request_bytes = max_request_bytes
        self.verbose = verbose
        self.on_commit = on_commit
        self.on_request = on_request
        self._lock = threading.Lock()
        self._connections: dict[Any, threading.Thread] = {}
        self._stopping = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._wake_reader, self._wake_writer = socket.socketpair()
        try:
            super().__init__(address, _CaptureHandler)
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
        """Make :meth:`serve_until_stopped` return promptly."""
        self._stopping.set()
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


class _CaptureHandler(BaseHTTPRequestHandler):
    server: CaptureServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30.0  # idle keep-alive connections are closed after this
    server_version = "posthog-exceptions-inbox"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request logging on stderr."""

    def do_GET(self) -> None:
        route = _route(self.path)
        if route in HEALTH_PATHS:
            self._respond(200, b'{"status": "ok"}', _JSON)
        elif route in CAPTURE_PATHS:
            self._respond(405, b"use POST to capture events", _TEXT)
        else:
            self._respond(404, b"not found", _TEXT)

    def do_POST(self) -> None:
        server = self.server
        chunked = self.headers.get("Content-Length") is None and (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        )
        if chunked:
            body = self._read_chunked(server.max_request_bytes)
            if body is None:
                return
            self._handle_body(body, len(body), _route(self.path))
            return
        length = self._content_length()
        if length is None:
            return
        route = _route(self.path)
        if route not in CAPTURE_PATHS:
            self._discard(length)
            self._respond(404, b"not found", _TEXT, body_size=length)
            return
        if length >= server.max_request_bytes:
            self.close_connection = True
            self._respond(413, b"request body too large", _TEXT, body_size=length)
            self._discard(length)
            return
        raw = self.rfile.read(length)
        if len(raw) < length:  # the client went away mid-body
            self.close_connection = True
            return
        self._handle_body(raw, length, route)

    def _handle_body(self, raw: bytes, length: int, route: str) -> None:
        """Validate, store and answer one capture request whose body has been read."""
        server = self.server
        if route not in CAPTURE_PATHS:
            self._respond(404, b"not found", _TEXT, body_size=length)
            return
        stored = 0
        try:
            body = decompress(raw, gzipped=self._gzipped(), max_bytes=server.max_request_bytes)
            events, key = parse_capture(
                body, expected_key=server.api_key, max_event_bytes=server.max_event_bytes
            )
            try:
                stored = server.store.add(events, key)
            except Exception as exc:  # store closed (inbox stopping) or a database error
                raise Rejected(503, f"could not store the events: {exc}") from None
            server.on_commit()
        except Rejected as rejected:
            self._respond(
                rejected.status, rejected.message.encode("utf-8"), _TEXT, body_size=length
            )
            return
        self._respond(200, b'{"status": 1}', _JSON, body_size=length, events=stored)

    def _gzipped(self) -> bool:
        """Whether the header or ``?compression=gzip-js`` says the body is gzip."""
        if "gzip" in self.headers.get("Content-Encoding", "").lower():
            return True
        compression = parse_qs(urlsplit(self.path).query).get("compression", [])
        return any(value.startswith("gzip") for value in compression)

    def _content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return 0
        try:
            length = int(value)
            if length < 0:
                raise ValueError(value)
        except ValueError:
            self.close_connection = True
            self._respond(400, b"invalid Content-Length", _TEXT)
            return None
        return length

    def _read_chunked(self, limit: int) -> bytes | None:
        """A ``Transfer-Encoding: chunked`` body, or ``None`` after answering an error.

        A body over ``limit`` is read to its end (up to the drain limit) and dropped
        before the 413 goes out, so the client sees the answer rather than a reset."""
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                line = self.rfile.readline(1024)
                chunk = int(line.split(b";", 1)[0].strip() or b"x", 16)
                if chunk == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                size += chunk
                data = self.rfile.read(chunk)
                if size < limit:
                    parts.append(data)
                elif size > _DRAIN_LIMIT:
                    break
                self.rfile.readline(1024)  # the CRLF after each chunk
        except (ValueError, OSError):
            self.close_connection = True
            self._respond(400, b"malformed chunked body", _TEXT)
            return None
        if size >= limit:
            self.close_connection = True
            self._respond(413, b"request body too large", _TEXT, body_size=size)
            return None
        return b"".join(parts)

    def _discard(self, length: int) -> None:
        """Read and drop an unwanted body so the client sees our answer, not a reset."""
        remaining = min(length, _DRAIN_LIMIT)
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            self.close_connection = True
        if remaining:
            self.close_connection = True

    def _respond(
        self, status: int, body: bytes, content_type: str, *, body_size: int = 0, events: int = 0
    ) -> None:
        """Record the request, then send status line, headers and body in one write."""
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"{self.protocol_version} {status} {reason}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        record = RequestRecord(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body_size=body_size,
            status=status,
            events=events,
        )
        # Record (and log) before answering, so a client that got its answer sees the record.
        self.server.on_request(record)
        if self.server.verbose:
            print(
                f"{self.client_address[0]} {self.command} {self.path} -> {status}"
                f" ({events} events)",
                file=sys.stderr,
                flush=True,
            )
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
