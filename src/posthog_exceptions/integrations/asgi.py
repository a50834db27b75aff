"""A plain ASGI middleware: what escapes an ASGI application becomes an ``$exception`` event.

::

    from posthog_exceptions.integrations.asgi import PostHogASGIMiddleware

    app = PostHogASGIMiddleware(app)

An exception that escapes the application while it serves an HTTP request or a
WebSocket — what an ASGI server answers with a 500 (or a closed connection) — is sent with
``mechanism.type`` ``middleware``, ``handled: false``, ``$exception_source``
``asgi.middleware`` and the request properties (see :mod:`posthog_exceptions.integrations`),
then re-raised unchanged. Lifespan and other scopes pass through untouched. For Starlette
and FastAPI, :mod:`posthog_exceptions.integrations.starlette` also knows the route.

Each request or WebSocket runs in a fresh context (see
:mod:`posthog_exceptions.integrations._tracing`); the tasks it starts inherit it.
"""

from __future__ import annotations

from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._context import enter, leave

from . import _common, _tracing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, MutableMapping
    from typing import Any, Callable

    from posthog_exceptions._client import Client

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]  # any scope/receive/send types

_REQUEST_SCOPES = ("http", "websocket")


class PostHogASGIMiddleware:
    """Wraps the ASGI application ``app``.

    ``distinct_id(scope)`` names the person (when it raises, a warning is logged and the
    event is sent anonymously); ``client`` defaults to the one :func:`init` installed,
    looked up per error."""

    kind = _kinds.ASGI
    name = "asgi"
    """The integration's name in the library's log messages."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        distinct_id: Callable[[Any], Any] | None = None,
        client: Client | None = None,
    ) -> None:
        _common.check_options(distinct_id, client)
        self.app = app
        self.distinct_id = distinct_id
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in _REQUEST_SCOPES:
            await self.app(scope, receive, send)
            return
        # The application may rewrite the scope as it routes (root_path, path): keep the
        # request as it arrived.
        original = dict(scope)
        token = enter(_tracing.guarded_request_context(self.client, _tracing.asgi_header(scope)))
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.capture(original, scope, exc)
            raise
        finally:
            leave(token)

    def capture(self, original: Scope, scope: Scope, exc: BaseException) -> None:
        """Send ``exc``, raised while serving ``original`` (``scope`` as the application
        left it); never raises."""
        try:
            client = _common.get_client(self.client)
            if client is None:
                return
            _common.capture(
                client,
                exc,
                kind=self.kind,
                distinct_id=_common.call_distinct_id(
                    self.distinct_id, self.request_for(scope), self.name
                ),
                properties=_common.asgi_properties(
                    client, dict(original), self.route_of(original, scope)
                ),
            )
        except Exception:
            _common.report_failure(self.name)

    def request_for(self, scope: Scope) -> Any:
        """What the ``distinct_id`` callable is given: here the ASGI scope."""
        return scope

    def route_of(self, original: Scope, scope: Scope) -> str | None:
        """The route template of the request, when the application says (here: never)."""
        return None
