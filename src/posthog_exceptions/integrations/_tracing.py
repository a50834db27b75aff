"""One fresh context per request, with what posthog-js's tracing headers say.

posthog-js (with ``__add_tracing_headers`` for the app's own hosts) adds three headers
to the browser's requests, and every web integration reads them into the request's
context (see :mod:`posthog_exceptions._context`) unless ``capture_tracing_headers=False``:

- ``X-POSTHOG-SESSION-ID`` → ``$session_id`` (the session replay the error happened in);
- ``X-POSTHOG-WINDOW-ID`` → ``$window_id`` (the browser tab);
- ``X-POSTHOG-DISTINCT-ID`` → the person, below an integration's ``distinct_id``
  callable and :func:`~posthog_exceptions.identify_context` (what the server knows of
  the user beats what the browser claims).

The values come from the browser, so they are used for analytics only and sanitised
first, as PostHog's cross-SDK contract asks: control characters (C0, DEL, C1) are
removed, the rest trimmed and cut to 1,000 characters, and what is left empty counts as
absent. The session and window ids are UUIDs: a value with non-ASCII characters is
dropped. A distinct id travels as ISO-8859-1 on the wire (HTTP headers are bytes); when
its bytes are UTF-8 they are read as such, otherwise it is dropped.
"""

from __future__ import annotations

import codecs
import re

from posthog_exceptions._context import Context
from posthog_exceptions._event import normalize_distinct_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Callable

    from posthog_exceptions._client import Client

SESSION_HEADER = "X-POSTHOG-SESSION-ID"
WINDOW_HEADER = "X-POSTHOG-WINDOW-ID"
DISTINCT_ID_HEADER = "X-POSTHOG-DISTINCT-ID"
MAX_VALUE = 1000
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def request_context(client: Client | None, header: Callable[[str], Any]) -> Context:
    """A fresh context for one request; ``header(name)`` gives a request header's value
    (``str`` or ``bytes``, ``None`` when absent). The headers are read only when
    ``client`` (the integration's, else the default one) has ``capture_tracing_headers``."""
    scope = Context(None, fresh=True, capture_exceptions=False)
    if client is None:
        from posthog_exceptions._default import get_client

        client = get_client()
    if client is None or not client.options.capture_tracing_headers:
        return scope
    scope.own_session_id = sanitise(header(SESSION_HEADER), ascii_only=True)
    scope.own_window_id = sanitise(header(WINDOW_HEADER), ascii_only=True)
    person = sanitise(header(DISTINCT_ID_HEADER), ascii_only=False)
    scope.header_distinct_id = None if person is None else normalize_distinct_id(person)
    return scope


def guarded_request_context(client: Client | None, header: Callable[[str], Any]) -> Context:
    """:func:`request_context`, never raising: on a failure (logged), an empty context."""
    try:
        return request_context(client, header)
    except Exception:
        from posthog_exceptions._log import internal_error

        internal_error("reading the request's tracing headers failed")
        return Context(None, fresh=True, capture_exceptions=False)


def sanitise(value: object, *, ascii_only: bool) -> str | None:
    """A header value as the module docstring says, or ``None``; never raises."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            value = value.encode("latin-1")
        if not isinstance(value, (bytes, bytearray)):
            return None
        raw = bytes(value[: MAX_VALUE * 4 + 64])  # enough for 1,000 characters and spaces
        if ascii_only:
            if not raw.isascii():
                return None
            text = raw.decode("ascii")
        else:  # a cut through a character leaves its first bytes behind, unread
            text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except (UnicodeError, ValueError):
        return None  # not latin-1 text (a str from a framework that decoded otherwise)
    text = _CONTROL.sub("", text).strip()[:MAX_VALUE].strip()
    return text or None


def wsgi_header(environ: Mapping[str, Any]) -> Callable[[str], Any]:
    """``header(name)`` over a WSGI ``environ`` (or Django's ``request.META``)."""

    def header(name: str) -> Any:
        return environ.get("HTTP_" + name.upper().replace("-", "_"))

    return header


def asgi_header(scope: Mapping[str, Any]) -> Callable[[str], Any]:
    """``header(name)`` over an ASGI scope's ``headers``: the first value, as bytes."""

    def header(name: str) -> Any:
        wanted = name.lower().encode("ascii")
        for key, value in scope.get("headers") or ():
            if key.lower() == wanted:
                return value
        return None

    return header
