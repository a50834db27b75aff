"""Starlette and FastAPI: exceptions that become a 500 response are sent to PostHog.

::

    from posthog_exceptions.integrations.starlette import PostHogMiddleware

    app.add_middleware(PostHogMiddleware)   # FastAPI() or Starlette()

Starlette answers an exception that no exception handler took with a 500 from its
outermost ``ServerErrorMiddleware``, and then re-raises it to the server. Middleware added
with ``add_middleware`` sits between that and the ``ExceptionMiddleware`` that runs the
app's handlers (``HTTPException``, ``RequestValidationError``, your
``exception_handler``\\ s): so this middleware sees exactly the exceptions that become a
500, never a 404, an ``HTTPException`` or an error the app handles itself. It sends them
with ``mechanism.type`` ``middleware``, ``handled: false``, ``$exception_source``
``starlette.middleware``, the request properties (see :mod:`posthog_exceptions.integrations`)
and the route template (``/items/{item_id}``) as ``$request_route``, then re-raises them
unchanged: the 500 page, the server's log line and your 500 handler are as before.

``distinct_id`` is called with a :class:`starlette.requests.Request` (``request.user``
works when ``AuthenticationMiddleware`` runs inside this one). The middleware gives each
request a fresh context with posthog-js's tracing headers (see
:mod:`posthog_exceptions.integrations._tracing`): add it before (outside) any
middleware that calls :func:`~posthog_exceptions.identify_context`.
"""

from __future__ import annotations

from posthog_exceptions._capture import kinds as _kinds

from .asgi import PostHogASGIMiddleware

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import MutableMapping, Sequence
    from typing import Any

    from starlette.requests import Request  # noqa: F401  (for the docs' type names)

    Scope = MutableMapping[str, Any]

_MAX_DEPTH = 8


class PostHogMiddleware(PostHogASGIMiddleware):
    """Add with ``app.add_middleware(PostHogMiddleware, distinct_id=..., client=...)``;
    ``distinct_id(request)`` receives a :class:`starlette.requests.Request`."""

    kind = _kinds.STARLETTE
    name = "starlette"

    def request_for(self, scope: Scope) -> Any:
        from starlette.requests import Request

        return Request(scope)

    def route_of(self, original: Scope, scope: Scope) -> str | None:
        route = scope.get("route")  # FastAPI's routes put themselves here
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        app = original.get("app") or scope.get("app")
        routes = getattr(getattr(app, "router", None), "routes", None)
        if routes is None:
            return None
        return _match(routes, dict(original), "", 0)


def _match(routes: Sequence[Any], scope: dict[str, Any], prefix: str, depth: int) -> str | None:
    """The template of the route (inside mounts) that matches ``scope`` fully."""
    from starlette.routing import Match

    for route in routes:
        matches = getattr(route, "matches", None)
        path = getattr(route, "path", None)
        if matches is None or not isinstance(path, str):
            continue
        match, child = matches(scope)
        if match != Match.FULL:
            continue
        inner = getattr(route, "routes", None)
        if inner and depth < _MAX_DEPTH:
            found = _match(inner, {**scope, **child}, prefix + path, depth + 1)
            if found is not None:
                return found
        return prefix + path
    return None
