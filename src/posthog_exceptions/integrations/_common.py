"""What every web-framework integration shares: request properties, distinct ids, capture.

Request properties (the names follow PostHog's own: ``$current_url`` and
``$request_method`` as posthog-python's Django middleware sends them, ``$user_agent``
as PostHog's server-side SDKs do):

- ``$request_method`` — ``GET``, ``POST``, …;
- ``$current_url`` — ``scheme://host/path``, *without* the query string or fragment;
- ``$request_path`` — the path;
- ``$request_route`` — the route template when the framework knows it (Django
  ``resolver_match.route``, Flask ``url_rule``, Starlette/FastAPI route ``path``);
- ``$request_query_keys`` — the *names* of the query parameters, never their values
  (at most 50, each a plain identifier of at most 64 characters; others are dropped);
- ``$user_agent`` — the ``User-Agent`` header.

Secrets that look like secrets (JWTs, well-known key prefixes, ``key=value`` pairs with a
sensitive key) are masked in the path by the library's scrubber. Each request runs in a
fresh context that posthog-js's tracing headers fill (:mod:`._tracing`). Never read or
sent: request and response bodies, cookies, ``Authorization``/``Cookie``/
``Proxy-Authorization`` and every other header but ``Host``, ``User-Agent`` and the three
``X-POSTHOG-*`` tracing headers, query-string values, the client's IP address.
"""

from __future__ import annotations

import re

from posthog_exceptions._capture.scrub import Scrubber, for_options
from posthog_exceptions._log import internal_error, logger
from posthog_exceptions._serialize import safe_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Callable

    from posthog_exceptions._capture.kinds import CaptureKind
    from posthog_exceptions._client import Client

MAX_PATH = 2000
MAX_HOST = 255
MAX_USER_AGENT = 512
MAX_ROUTE = 500
MAX_QUERY_KEYS = 50
_QUERY_KEY = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,64}")


def get_client(client: Client | None) -> Client | None:
    """``client``, else the one :func:`~posthog_exceptions.init` installed; ``None`` when
    neither would send anything."""
    if client is None:
        from posthog_exceptions._default import get_client as default

        client = default()
    if client is None or not client.enabled:
        return None
    return client


def check_options(distinct_id: object, client: object) -> None:
    """The constructor checks every integration shares."""
    if distinct_id is not None and not callable(distinct_id):
        raise TypeError(f"'distinct_id' must be a callable or None, got {distinct_id!r}")
    if client is not None:
        from posthog_exceptions._client import Client

        if not isinstance(client, Client):
            raise TypeError(f"'client' must be a posthog_exceptions.Client or None, got {client!r}")


def call_distinct_id(func: Callable[[Any], Any] | None, request: object, name: str) -> Any:
    """``func(request)``; when it raises, a warning on the library's logger and ``None``
    (the event is sent anonymously, and the request is never disturbed)."""
    if func is None:
        return None
    try:
        return func(request)
    except Exception:
        logger.warning(
            "the %s integration's distinct_id callable raised; the exception is sent "
            "without a person",
            name,
            exc_info=True,
        )
        return None


def capture(
    client: Client,
    exception: BaseException,
    *,
    kind: CaptureKind,
    distinct_id: Any,
    properties: dict[str, Any],
) -> str | None:
    """Send ``exception`` as one the framework turns into a 500 response (``kind`` is the
    integration's, from :mod:`posthog_exceptions._capture.kinds`). ``distinct_id`` is the
    integration callable's answer: below the request context's own (see
    :mod:`posthog_exceptions._assemble`)."""
    return client._capture(kind, exception, fallback_distinct_id=distinct_id, properties=properties)


def request_properties(
    client: Client,
    *,
    method: object,
    scheme: object,
    host: object,
    path: object,
    query: object,
    user_agent: object,
    route: object = None,
) -> dict[str, Any]:
    """The request properties described in the module docstring; parts that are ``None``
    (unknown) are left out."""
    props: dict[str, Any] = {}
    if method:
        props["$request_method"] = safe_str(method, 32)
    clean_path = None
    if path:
        clean_path = _scrubber(client).scrub_text(safe_str(path, MAX_PATH))
        props["$request_path"] = clean_path
    if host and clean_path is not None:
        props["$current_url"] = f"{safe_str(scheme or 'http', 16)}://{safe_str(host, MAX_HOST)}"
        props["$current_url"] += clean_path
    if route:
        props["$request_route"] = safe_str(route, MAX_ROUTE)
    if query:
        keys = query_keys(query if isinstance(query, str) else _latin1(query), _scrubber(client))
        if keys:
            props["$request_query_keys"] = keys
    if user_agent:
        props["$user_agent"] = safe_str(user_agent, MAX_USER_AGENT)
    return props


def query_keys(query: str, scrubber: Scrubber | None = None) -> list[str]:
    """The distinct parameter names of a query string, in order, without values.

    Only ``name=value`` items count (a bare item may be a token on its own), and only
    names that look like names (a name that holds something secret-looking is dropped)."""
    scrubber = scrubber or Scrubber()
    keys: list[str] = []
    for item in query.replace(";", "&").split("&"):
        name, equals, _ = item.partition("=")
        if not equals:
            continue
        name = _unquote(name)
        if _QUERY_KEY.fullmatch(name) is None or scrubber.value_is_sensitive(name) or name in keys:
            continue
        keys.append(name)
        if len(keys) >= MAX_QUERY_KEYS:
            break
    return keys


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header ``name`` (lower case) in ASGI ``headers``."""
    for key, value in headers:
        if key.lower() == name:
            return _latin1(value)
    return None


def wsgi_properties(
    client: Client, environ: dict[str, Any], route: object = None
) -> dict[str, Any]:
    """Request properties from a WSGI ``environ`` (PEP 3333: ``PATH_INFO`` is latin-1)."""
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME")
        port = environ.get("SERVER_PORT")
        if host and port and str(port) not in ("80", "443"):
            host = f"{host}:{port}"
    path = f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
    try:
        path = path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeError:
        pass
    return request_properties(
        client,
        method=environ.get("REQUEST_METHOD"),
        scheme=environ.get("wsgi.url_scheme"),
        host=host,
        path=path or "/",
        query=environ.get("QUERY_STRING"),
        user_agent=environ.get("HTTP_USER_AGENT"),
        route=route,
    )


def asgi_properties(client: Client, scope: dict[str, Any], route: object = None) -> dict[str, Any]:
    """Request properties from an ASGI HTTP or WebSocket ``scope``."""
    headers = scope.get("headers") or ()
    host = header(headers, b"host")
    server = scope.get("server")
    if not host and isinstance(server, (tuple, list)) and len(server) == 2:
        host = f"{server[0]}:{server[1]}" if server[1] not in (80, 443, None) else server[0]
    path = scope.get("path") or "/"
    root = scope.get("root_path") or ""
    if root and not path.startswith(root):
        path = root + path
    return request_properties(
        client,
        method=scope.get("method") or ("WEBSOCKET" if scope.get("type") == "websocket" else None),
        scheme=scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http"),
        host=host,
        path=path,
        query=scope.get("query_string"),
        user_agent=header(headers, b"user-agent"),
        route=route,
    )


def report_failure(integration: str) -> None:
    """Log (never raise) a failure inside an integration."""
    internal_error("the %s integration failed", integration)


def _scrubber(client: Client) -> Scrubber:
    return for_options(client.options)


def _unquote(text: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(text, errors="replace")


def _latin1(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return safe_str(value)
