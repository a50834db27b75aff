"""The inbox's web page: the errors it received, in a browser, updated live.

Paths (``GET`` only; none of them is one of PostHog's):

- ``/`` (and ``/index.html``, ``/events``, ``/issue/<fingerprint>``): the page, one HTML
  shell whose script draws the issue list, an issue and the live list of events from the
  JSON API. A request to ``/`` that asks for JSON only (``Accept: application/json``)
  gets the health answer ``{"status": "ok"}`` as before.
- ``/static/app.js``, ``/static/app.css``: its script and style sheet, files of this
  package (``_static/``), so the page needs no inline script or style.
- ``/api/...``: the JSON API (:mod:`._api`); ``/api/stream``: server-sent events
  (``text/event-stream``), one ``commit`` event, carrying the newest event id, after every
  request that stored events, woken by the server's commit signal (:class:`CommitSignal`),
  and a comment every 15 seconds to keep the connection open.

Event data holds personal data and arbitrary text, so these answers differ from the
capture endpoints': no CORS headers (no other site's script may read them), a
``Content-Security-Policy`` that allows only this origin's script, style and API
(:data:`SECURITY_HEADERS`), ``nosniff``, no caching, no framing; and a request whose
``Host`` is neither ``localhost`` nor an IP address is refused (403), so that a web site
cannot rebind its own name to the inbox's address and read the page as its own.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import threading
from importlib import resources
from typing import Callable, Optional

from ._api import answer
from ._store import EventStore

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    f"Content-Security-Policy: {CSP}",
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
    "Cross-Origin-Opener-Policy: same-origin",
    "Cross-Origin-Resource-Policy: same-origin",
    "Cache-Control: no-store",
]
HTML = "text/html; charset=utf-8"
ASSETS = {
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
SHELL_PATHS = frozenset({"", "/index.html", "/events"})
STREAM_PATH = "/api/stream"
KEEPALIVE_SECONDS = 15.0


def is_page_route(route: str) -> bool:
    """Whether ``route`` (the path without its trailing slash) is the page's."""
    return (
        route in SHELL_PATHS
        or route in ASSETS
        or route in ("/favicon.ico", "/api")
        or route.startswith(("/issue/", "/api/"))
    )


def wants_health(route: str, accept: str) -> bool:
    """A ``GET /`` from a client asking for JSON (not HTML) gets the health answer."""
    accept = accept.lower()
    return route == "" and "application/json" in accept and "text/html" not in accept


def allowed_host(host: Optional[str]) -> bool:
    """Whether the ``Host`` header names this machine by IP address or ``localhost``."""
    if not host:
        return True  # HTTP/1.0 clients; browsers always send one
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@functools.cache
def asset(name: str) -> bytes:
    """A file of ``_static/`` (read once)."""
    return resources.files(__package__).joinpath("_static").joinpath(name).read_bytes()


def page_answer(route: str, query: str, store: EventStore) -> tuple[int, bytes, str]:
    """``(status, body, content type)`` for a page, asset or API path (not the stream)."""
    if route in SHELL_PATHS or route.startswith("/issue/"):
        return 200, asset("index.html"), HTML
    if route in ASSETS:
        name, content_type = ASSETS[route]
        return 200, asset(name), content_type
    if route == "/favicon.ico":
        return 204, b"", HTML
    try:
        status, payload = answer(store, route, query)
    except RuntimeError:  # the store closed: the inbox is stopping
        status, payload = 503, {"error": "the inbox is stopping"}
    return status, dumps(payload), "application/json"


def dumps(payload: object) -> bytes:
    """JSON that any browser parses: ASCII only, no NaN (stored events may hold one)."""
    try:
        text = json.dumps(payload, ensure_ascii=True, allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(_finite(payload), ensure_ascii=True, default=str)
    return text.encode("ascii")


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


class CommitSignal:
    """A counter of committed requests that stream connections wait on; closed at stop."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.version = 0
        self.closed = False

    def notify(self) -> None:
        with self._condition:
            self.version += 1
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self.closed = True
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> Optional[int]:
        """The version once it differs from ``seen`` (or after ``timeout``); ``None``
        once closed."""
        with self._condition:
            self._condition.wait_for(lambda: self.closed or self.version != seen, timeout)
            return None if self.closed else self.version


STREAM_HEADERS = [
    "Content-Type: text/event-stream; charset=utf-8",
    "Connection: close",
    *SECURITY_HEADERS,
]


def stream(write: Callable[[bytes], object], signal: CommitSignal, store: EventStore) -> None:
    """Write server-sent events until the client leaves or the inbox stops.

    ``ready`` first, then ``commit`` after each commit, both with ``{"last_id": N}``
    (the newest event's id). A client that misses some (or reconnects, after the
    ``retry`` of one second) asks the API for what is new since the id it has.
    """
    seen = signal.version
    try:
        write(f"retry: 1000\nevent: ready\ndata: {_last(store)}\n\n".encode())
        while True:
            version = signal.wait(seen, KEEPALIVE_SECONDS)
            if version is None:
                return
            if version == seen:
                write(b": keep-alive\n\n")
                continue
            seen = version
            write(f"event: commit\ndata: {_last(store)}\n\n".encode())
    except (OSError, RuntimeError):  # the client went away, or the store closed
        return


def _last(store: EventStore) -> str:
    return json.dumps({"last_id": store.last_id()})
