"""A small capture endpoint for delivery tests: it records every request and answers
as a test scripts it (status codes, Retry-After, slowness), on 127.0.0.1.

Unlike the inbox it is meant to misbehave: a test queues the responses it wants
(`answer(500)`, `answer(429, retry_after="1")`, `answer(200, delay=2)`), or
installs a `responder` callable that decides per request.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from .wire_validator import problems_in_body


@dataclass
class Answer:
    status: int = 200
    body: str = '{"status": 1}'
    retry_after: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    raw: bytes
    payload: Any
    at: float
    status: int = 0
    peer: int = 0  # the client's port: one value for requests over one connection

    @property
    def events(self) -> list[dict[str, Any]]:
        if isinstance(self.payload, dict):
            return list(self.payload.get("batch", [self.payload]))
        return list(self.payload or [])


Responder = Callable[[Request], Optional[Answer]]


@dataclass
class RecordingServer:
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    responder: Responder | None = None

    def __post_init__(self) -> None:
        self._answers: deque[Answer] = deque()
        self.wire_problems: list[str] = []  # what wire_validator found in the bodies received
        self.arrived = 0  # requests whose body has been read (answered or not)
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- control

    def start(self, sock: socket.socket | None = None) -> RecordingServer:
        """Serve on a new port, on ``self.port``, or on ``sock`` (bound, not yet listening)."""
        if sock is None:
            server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        else:
            server = ThreadingHTTPServer(sock.getsockname(), self._handler_class(), False)
            server.socket.close()
            server.socket = sock
            server.server_address = sock.getsockname()
            server.server_activate()
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """End every delayed answer now (and skip later delays)."""
        self._release.set()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: int = 200, *, times: int = 1, **kwargs: Any) -> None:
        """Queue the next `times` responses (after those already queued)."""
        for _ in range(times):
            self._answers.append(Answer(status=status, **kwargs))

    # ---------------------------------------------------------------- reading

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events of the requests answered 2xx, in arrival order."""
        with self._cond:
            return [e for r in self.requests if 200 <= r.status < 300 for e in r.events]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    statuses = [r.status for r in self.requests]
                    raise TimeoutError(f"condition not met within {timeout} s; statuses {statuses}")
                self._cond.wait(remaining)

    def wait_for_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.events) >= count, timeout)
        return self.events

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` requests have arrived, even if they are still being answered."""
        self.wait_for(lambda: self.arrived >= count, timeout)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Request]:
        self.wait_for(lambda: sum(1 for r in self.requests if r.status) >= count, timeout)
        return list(self.requests)

    # ---------------------------------------------------------------- serving

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = raw
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = None
                request = Request(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
                    payload=payload,
                    at=time.monotonic(),
                    peer=self.client_address[1],
                )
                problems = problems_in_body(payload)
                answer = recorder._next_answer(request)
                with recorder._cond:
                    recorder.arrived += 1
                    recorder._cond.notify_all()
                if answer.delay:
                    recorder._release.wait(answer.delay)
                data = answer.body.encode()
                head = [f"HTTP/1.1 {answer.status} X", f"Content-Length: {len(data)}"]
                head.append("Content-Type: application/json")
                if answer.retry_after is not None:
                    head.append(f"Retry-After: {answer.retry_after}")
                head.extend(f"{name}: {value}" for name, value in answer.headers.items())
                with recorder._cond:  # recorded before the client can see the answer
                    recorder.wire_problems.extend(problems)
                    request.status = answer.status
                    recorder.requests.append(request)
                    recorder._cond.notify_all()
                try:
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                except OSError:
                    pass  # the client gave up waiting

        return Handler

    def _next_answer(self, request: Request) -> Answer:
        if self._answers:
            return self._answers.popleft()
        if self.responder is not None:
            answer = self.responder(request)
            if answer is not None:
                return answer
        return Answer()


def refusing_socket() -> socket.socket:
    """A bound socket that does not listen: connections to its port are refused, and no
    one else can take the port. ``RecordingServer().start(sock)`` later serves on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock
