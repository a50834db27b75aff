"""One connection of the local inbox: routing, reading within the byte budget, answering.

See :mod:`posthog_exceptions.inbox._server` for the endpoints and the memory bound, and
:mod:`posthog_exceptions.inbox._web` for the page's paths.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Dict, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from . import _web
from ._body import BadBody, BodyTooLarge, ChunkedReader, discard
from ._budget import BudgetExhausted, ByteBudget, Reservation
from ._decode import COMPRESSIONS, decode_payload, extract_payload
from ._flags import FLAG_PATHS, no_flags
from ._protocol import Rejected, load_json, validate_capture
from ._store import EventStore
from ._v1 import V1_PATHS, parse_v1, v1_compression, v1_error, v1_key, v1_results
from ._web import SECURITY_HEADERS, CommitSignal, is_page_route

CAPTURE_PATHS = frozenset({"/i/v0/e", "/e", "/batch", "/capture", "/track", "/engage"})
"""Capture endpoints, compared without the trailing slash."""

_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_EXPANDING = frozenset({"gzip", "deflate", "lz64"})


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


class InboxServer(Protocol):
    """What a connection needs of :class:`~posthog_exceptions.inbox._server.CaptureServer`."""

    store: EventStore
    api_key: str | None
    max_event_bytes: int
    max_request_bytes: int
    verbose: bool
    budget: ByteBudget
    budget_wait: float
    on_commit: Callable[[], None]
    on_request: Callable[[RequestRecord], None]
    commits: CommitSignal


def _route(target: str) -> str:
    return urlsplit(target).path.rstrip("/")


class _Answered(Exception):
    """The request has been answered already; stop handling it."""


class CaptureHandler(BaseHTTPRequestHandler):
    """Serves one connection, a request at a time (keep-alive)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30.0  # idle keep-alive connections are closed after this
    server_version = "posthog-exceptions-inbox"

    @property
    def inbox(self) -> InboxServer:
        return cast(InboxServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request logging on stderr."""

    def _lower_headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def do_OPTIONS(self) -> None:
        route = _route(self.path)
        self._discard_body()
        if route in CAPTURE_PATHS or route in V1_PATHS or route in FLAG_PATHS:
            requested = self.headers.get("Access-Control-Request-Headers")
            preflight = [
                "Access-Control-Allow-Methods: GET, POST, OPTIONS",
                f"Access-Control-Allow-Headers: {requested or 'Content-Type, Authorization'}",
                "Access-Control-Max-Age: 86400",
            ]
            if route in CAPTURE_PATHS:  # as PostHog's capture answers them
                self._respond(200, b'{"status": 1}', _JSON, extra=preflight)
            else:
                self._respond(204, b"", _TEXT, extra=preflight)
        else:
            self._respond(404, b"not found", _TEXT)

    def do_GET(self) -> None:
        route = _route(self.path)
        if route == "/_health" or _web.wants_health(route, self.headers.get("Accept", "")):
            self._discard_body()
            self._respond(200, b'{"status": "ok"}', _JSON)
        elif is_page_route(route):
            self._discard_body()
            self._serve_page(route)
        elif route in V1_PATHS:
            self._discard_body()
            rejected = Rejected(405, "use POST to send events", "method_not_allowed")
            self._respond(405, v1_error(rejected), _JSON)
        else:
            self._serve(route)

    def _serve_page(self, route: str) -> None:
        """The web page, its files and its JSON API (no CORS: see :mod:`._web`)."""
        if not _web.allowed_host(self.headers.get("Host")):
            message = b"this page answers only to localhost or an IP address"
            self._respond(403, message, _TEXT, extra=SECURITY_HEADERS)
        elif route == _web.STREAM_PATH:
            self.close_connection = True  # the stream ends with the connection
            content_type = "text/event-stream; charset=utf-8"
            self._respond(200, b"", content_type, extra=SECURITY_HEADERS, streaming=True)
            _web.stream(self.wfile.write, self.inbox.commits, self.inbox.store)
        else:
            query = urlsplit(self.path).query
            status, body, content_type = _web.page_answer(route, query, self.inbox.store)
            self._respond(status, body, content_type, extra=SECURITY_HEADERS)

    def do_POST(self) -> None:
        self._serve(_route(self.path))

    def _serve(self, route: str) -> None:
        """Read the body within the budget, then capture, or answer flags, or 404."""
        if route not in CAPTURE_PATHS and route not in V1_PATHS and route not in FLAG_PATHS:
            self._respond(404, b"not found", _TEXT, body_size=self._discard_body())
            return
        limit = self.inbox.max_request_bytes
        deadline = time.monotonic() + self.inbox.budget_wait
        with self.inbox.budget.reserve(0, deadline) as reservation:
            try:
                box = [self._read_body(reservation, self._expansion_hinted(route))]
            except _Answered:
                return

            def make_room() -> None:  # a body to decompress may grow up to the limit
                try:
                    reservation.grow(limit - reservation.held)
                except BudgetExhausted as exc:
                    raise Rejected(503, f"the inbox is busy: {exc}; retry") from None

            if route in FLAG_PATHS:
                self._respond(200, no_flags(), _JSON, body_size=len(box.pop()))
            elif route in V1_PATHS:
                self._capture_v1(box, make_room)
            else:
                self._capture(route, box, make_room)

    def _expansion_hinted(self, route: str) -> bool:
        """Whether the headers or query say the body is compressed (room is reserved then)."""
        if route in FLAG_PATHS:
            return False
        names = [self.headers.get("Content-Encoding", "")]
        names += parse_qs(urlsplit(self.path).query).get("compression", [])
        return any(COMPRESSIONS.get(name.strip().lower()) in _EXPANDING for name in names)

    def _content_length(self) -> int:
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
            raise _Answered from None
        return length

    def _discard_body(self) -> int:
        """Drop a body nobody wants (so the client sees our answer); return its size."""
        if self._is_chunked():
            reader = ChunkedReader(self.rfile, 0)
            if not reader.drain():
                self.close_connection = True
            return reader.size
        try:
            length = self._content_length()
        except _Answered:
            return 0
        try:
            if not discard(self.rfile, length):
                self.close_connection = True
        except OSError:
            self.close_connection = True
        return length

    def _is_chunked(self) -> bool:
        return self.headers.get("Content-Length") is None and (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        )

    def _busy(self, exc: BudgetExhausted, size: int) -> None:
        message = f"the inbox is busy: {exc}; retry".encode()
        self._respond(503, message, _TEXT, body_size=size)

    def _read_body(self, reservation: Reservation, expands: bool) -> bytes:
        """The body, its bytes reserved (the whole limit if it ``expands``), or _Answered."""
        limit = self.inbox.max_request_bytes
        if self._is_chunked():
            return self._read_chunked(reservation)
        length = self._content_length()
        if length >= limit:
            self.close_connection = True
            self._respond(413, b"request body too large", _TEXT, body_size=length)
            self._discard_known(length)
            raise _Answered
        try:
            reservation.grow(limit if expands else length)
        except BudgetExhausted as exc:
            self.close_connection = True
            self._busy(exc, length)
            self._discard_known(length)
            raise _Answered from None
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            raise _Answered
        return body

    def _discard_known(self, length: int) -> None:
        try:
            discard(self.rfile, length)
        except OSError:
            pass

    def _read_chunked(self, reservation: Reservation) -> bytes:
        limit = self.inbox.max_request_bytes
        reader = ChunkedReader(self.rfile, limit)
        try:  # the size is unknown: room for the largest body, once the first chunk fits
            return reader.read(lambda: reservation.grow(limit))
        except BadBody as exc:
            self.close_connection = True
            self._respond(400, str(exc).encode(), _TEXT, body_size=reader.size)
        except BodyTooLarge as exc:
            self.close_connection = True
            self._respond(413, b"request body too large", _TEXT, body_size=exc.size)
            reader.drain()
        except BudgetExhausted as exc:
            self.close_connection = True
            self._busy(exc, reader.size)
            reader.drain()
        except OSError:
            self.close_connection = True
        raise _Answered

    def _capture(self, route: str, box: list[bytes], make_room: Callable[[], None]) -> None:
        """Decode, validate, store and answer one capture request whose body has been read.

        The body comes in ``box`` and each stage's input is let go once the next one
        has its output, so a large body is not held several times over.
        """
        inbox = self.inbox
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        size = len(box[0])
        try:
            payload, compression = extract_payload(box.pop(), query, self._lower_headers())
            text = decode_payload(
                payload, compression, max_bytes=inbox.max_request_bytes, make_room=make_room
            )
            del payload
            tree = load_json(text)
            del text
            events, key = validate_capture(
                tree,
                expected_key=inbox.api_key,
                max_event_bytes=inbox.max_event_bytes,
                engage=route == "/engage",
            )
            del tree
            stored = self._store(events, key)
        except Rejected as rejected:
            message = rejected.message.encode("utf-8")
            self._respond(rejected.status, message, _TEXT, body_size=size)
            return
        if query.get("beacon") == ["1"]:
            self._respond(204, b"", _TEXT, body_size=size, events=stored)
        else:
            self._respond(200, b'{"status": 1}', _JSON, body_size=size, events=stored)

    def _capture_v1(self, box: list[bytes], make_room: Callable[[], None]) -> None:
        inbox = self.inbox
        headers = self._lower_headers()
        size = len(box[0])
        try:
            key = v1_key(headers, inbox.api_key)
            compression = v1_compression(headers)
            text = decode_payload(
                box.pop(), compression, max_bytes=inbox.max_request_bytes, make_room=make_room
            )
            tree = load_json(text)
            del text
            events = parse_v1(tree, headers, max_event_bytes=inbox.max_event_bytes)
            del tree
            stored = self._store(events, key)
        except Rejected as rejected:
            self._respond(rejected.status, v1_error(rejected), _JSON, body_size=size)
            return
        self._respond(200, v1_results(events), _JSON, body_size=size, events=stored)

    def _store(self, events: list[dict[str, Any]], key: str) -> int:
        try:
            stored = self.inbox.store.add(events, key)
        except Exception as exc:  # store closed (inbox stopping) or a database error
            problem = f"could not store the events: {exc}"
            raise Rejected(503, problem, "service_unavailable") from None
        self.inbox.on_commit()
        self.inbox.commits.notify()  # wakes the page's live streams
        return stored

    def end_headers(self) -> None:
        """Add the CORS headers to the errors http.server writes itself (such as 501)."""
        for line in self._cors_headers():
            name, _, value = line.partition(": ")
            self.send_header(name, value)
        super().end_headers()

    def _cors_headers(self) -> list[str]:
        if is_page_route(_route(getattr(self, "path", "*"))):
            return []  # the page and its API hold personal data: no other origin reads them
        headers = getattr(self, "headers", None)  # unset when the request line was bad
        origin = headers.get("Origin") if headers is not None else None
        if not origin:
            return ["Access-Control-Allow-Origin: *"]
        return [
            f"Access-Control-Allow-Origin: {origin}",
            "Access-Control-Allow-Credentials: true",
            "Vary: Origin",
        ]

    def _respond(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        body_size: int = 0,
        events: int = 0,
        extra: list[str] | None = None,
        streaming: bool = False,
    ) -> None:
        """Record the request, then send status line, headers and body in one write
        (only the headers when ``streaming``: the body follows until the connection ends)."""
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"{self.protocol_version} {status} {reason}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            *self._cors_headers(),
            *(extra or []),
        ]
        if status != 204:
            lines.append(f"Content-Type: {content_type}")
            if not streaming:
                lines.append(f"Content-Length: {len(body)}")
        if status == 503:
            lines.append("Retry-After: 1")
        if self.close_connection:
            lines.append("Connection: close")
        record = RequestRecord(
            method=self.command,
            path=self.path,
            headers=self._lower_headers(),
            body_size=body_size,
            status=status,
            events=events,
        )
        # Record (and log) before answering, so a client that got its answer sees the record.
        self.inbox.on_request(record)
        if self.inbox.verbose:
            print(
                f"{self.client_address[0]} {self.command} {self.path} -> {status}"
                f" ({events} events)",
                file=sys.stderr,
                flush=True,
            )
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
