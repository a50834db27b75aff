"""Real servers for the web-framework integration tests: a WSGI server (wsgiref) or an
ASGI server (uvicorn) on 127.0.0.1 in a thread, requests over real HTTP, and the secrets
a request carries that no event may contain."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, Callable
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import posthog_exceptions

from .conftest import API_KEY
from .recording_server import RecordingServer

ASGIApp = Callable[..., Any]
WSGIApp = Callable[..., Any]


@dataclass
class Response:
    status: int
    body: str


@dataclass
class Secrets:
    """Random secrets (so no source line holds one) and the request that carries them."""

    cookie: str = field(default_factory=lambda: f"cookie-{uuid.uuid4().hex}")
    bearer: str = field(default_factory=lambda: f"bearer-{uuid.uuid4().hex}")
    api_key: str = field(default_factory=lambda: f"apikey-{uuid.uuid4().hex}")
    query: str = field(default_factory=lambda: f"s3cret-{uuid.uuid4().hex}")
    body: str = field(default_factory=lambda: f"body-{uuid.uuid4().hex}")

    @property
    def values(self) -> list[str]:
        return [self.cookie, self.bearer, self.api_key, self.query, self.body]

    def headers(self) -> dict[str, str]:
        return {
            "Cookie": f"sessionid={self.cookie}; csrftoken={self.cookie}",
            "Authorization": f"Bearer {self.bearer}",
            "X-Api-Key": self.api_key,
            "User-Agent": "integration-test/1.0",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def query_string(self) -> str:
        return f"token={self.query}&page=2"

    def form(self) -> str:
        return f"password={self.body}&card={self.body}"

    def assert_absent(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        for value in self.values:
            assert value not in text, f"a secret reached the event: {value}"


def request(
    base: str,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> Response:
    """One real HTTP request; the connection is closed after it."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return Response(answer.status, answer.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def secret_request(base: str, path: str, secrets: Secrets) -> Response:
    """A POST that carries every secret: cookies, auth headers, a query token, a body."""
    return request(
        base,
        f"{path}?{secrets.query_string()}",
        method="POST",
        headers=secrets.headers(),
        body=secrets.form(),
    )


def init_client(server: RecordingServer, **options: Any) -> posthog_exceptions.Client:
    """The default client (the integrations look it up per error), sending to ``server``."""
    return posthog_exceptions.init(API_KEY, host=server.url, install_hooks=False, **options)


def exception_events(
    client: posthog_exceptions.Client, server: RecordingServer
) -> list[dict[str, Any]]:
    """Every ``$exception`` event captured so far, once the client has delivered them."""
    assert client.flush(timeout=10)
    return [e for e in server.events if e["event"] == "$exception"]


class OrderFailed(Exception):
    """What the test apps' failing views raise."""


class Handled(Exception):
    """An error the test apps answer themselves (nothing may be sent)."""


def fail_order(order_id: object) -> None:
    raise OrderFailed(f"order {order_id} could not be placed")


def assert_request_failure(
    event: dict[str, Any],
    *,
    source: str,
    url: str,
    path: str,
    route: str | None,
    secrets: Secrets,
) -> dict[str, Any]:
    """What every integration sends for the failing ``POST path?token=…&page=2`` request
    that :func:`secret_request` makes; returns the first ``$exception_list`` entry."""
    props = event["properties"]
    entry: dict[str, Any] = props["$exception_list"][0]
    assert entry["mechanism"]["type"] == "middleware"
    assert entry["mechanism"]["handled"] is False
    assert entry["stacktrace"]["frames"][-1]["function"] == "fail_order"
    assert props["$exception_source"] == source
    assert props["$exception_level"] == "error"
    assert props.get("$request_route") == route
    assert props["$request_path"] == path
    assert props["$request_method"] == "POST"
    assert props["$current_url"] == f"{url}{path}"
    assert props["$request_query_keys"] == ["token", "page"]
    assert props["$user_agent"] == "integration-test/1.0"
    secrets.assert_absent(event)
    return entry


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(WSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the test closed early: nothing to print


class _ThreadingServer(ThreadingMixIn, _Server):
    daemon_threads = True
    request_queue_size = 128


@contextmanager
def wsgi_server(app: WSGIApp, *, threaded: bool = False) -> Iterator[str]:
    """Serve ``app`` with wsgiref on a free port (a thread per request when ``threaded``);
    yields the base URL. The socket listens before the thread starts, so a request made
    at once waits in the backlog."""
    server_class = _ThreadingServer if threaded else _Server
    server = make_server(
        "127.0.0.1", 0, app, server_class=server_class, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def asgi_server(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a socket bound and listening beforehand."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, lifespan="off", log_config=None, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
