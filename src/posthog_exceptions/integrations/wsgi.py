"""A plain WSGI middleware: what escapes a WSGI application becomes an ``$exception`` event.

::

    from posthog_exceptions.integrations.wsgi import PostHogWSGIMiddleware

    application = PostHogWSGIMiddleware(application)

An exception that escapes the application — from the call itself, while the server
iterates the response, or from its ``close()`` — is what a WSGI server answers with a 500
(or a broken connection, once the response has started). It is sent with
``mechanism.type`` ``middleware``, ``handled: false``, ``$exception_source``
``wsgi.middleware`` and the request properties (see :mod:`posthog_exceptions.integrations`),
then re-raised unchanged. Frameworks that turn errors into a response themselves (Django,
Flask) let nothing escape: use their own integrations.

The application runs in a fresh context per request (see
:mod:`posthog_exceptions.integrations._tracing`), and so does the iteration of its
response: every event the request sends carries its session and person.
"""

from __future__ import annotations

from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._context import enter, leave, run_in

from . import _common, _tracing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, Callable, Dict

    from posthog_exceptions._client import Client
    from posthog_exceptions._context import Context

    Environ = Dict[str, Any]
    StartResponse = Callable[..., Any]
    WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

KIND = _kinds.WSGI
INTEGRATION = "wsgi"


class PostHogWSGIMiddleware:
    """Wraps the WSGI application ``app``.

    ``distinct_id(environ)`` names the person (when it raises, a warning is logged and
    the event is sent anonymously); ``client`` defaults to the one :func:`init` installed,
    looked up per error."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        distinct_id: Callable[[Environ], Any] | None = None,
        client: Client | None = None,
    ) -> None:
        _common.check_options(distinct_id, client)
        self.app = app
        self.distinct_id = distinct_id
        self.client = client

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return serve(self.app, environ, start_response, self.client, self.capture)

    def capture(self, environ: Environ, exc: BaseException) -> None:
        """Send ``exc``, raised while serving ``environ``; never raises."""
        try:
            client = _common.get_client(self.client)
            if client is None:
                return
            _common.capture(
                client,
                exc,
                kind=KIND,
                distinct_id=_common.call_distinct_id(self.distinct_id, environ, INTEGRATION),
                properties=_common.wsgi_properties(client, environ),
            )
        except Exception:
            _common.report_failure(INTEGRATION)


def serve(
    app: WSGIApp,
    environ: Environ,
    start_response: StartResponse,
    client: Client | None,
    on_error: Callable[[Environ, BaseException], None] | None,
) -> Iterable[bytes]:
    """``app(environ, start_response)`` in a fresh request context, its response iterated
    and closed in that context too; ``on_error`` (never raising) is given what escapes,
    in the context, before it propagates. (The Flask integration uses it too.)"""
    scope = _tracing.guarded_request_context(client, _tracing.wsgi_header(environ))
    token = enter(scope)
    try:
        result = app(environ, start_response)
    except BaseException as exc:
        if on_error is not None:
            on_error(environ, exc)
        raise
    finally:
        leave(token)
    if isinstance(result, (list, tuple)):
        return result  # nothing can fail; the server may still set Content-Length
    file_wrapper = environ.get("wsgi.file_wrapper")
    if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
        return result  # the server's own fast path (sendfile)
    return _Response(on_error, environ, result, scope)


class _Response:
    """The application's response iterable, iterated and closed in the request's context,
    with errors while iterating or closing sent."""

    __slots__ = ("_environ", "_on_error", "_result", "_scope")

    def __init__(
        self,
        on_error: Callable[[Environ, BaseException], None] | None,
        environ: Environ,
        result: Iterable[bytes],
        scope: Context,
    ) -> None:
        self._on_error = on_error
        self._environ = environ
        self._result = result
        self._scope = scope

    def __iter__(self) -> Iterator[bytes]:
        iterator = self._in_context(iter, self._result)
        while True:
            try:
                chunk = self._in_context(next, iterator)
            except StopIteration:
                return
            yield chunk

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            self._in_context(close)

    def _in_context(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return run_in(self._scope, function, *args)
        except StopIteration:
            raise
        except BaseException as exc:
            if self._on_error is not None:
                run_in(self._scope, self._on_error, self._environ, exc)
            raise
