"""A plain WSGI middleware: what escapes a WSGI application becomes an ``$exception`` event.

::

    from posthog_exceptions.integrations.wsgi import PostHogWSGIMiddleware

    application = PostHogWSGIMiddleware(application)

An exception that escapes the application — from the call itself, while the server
iterates the response, or from its ``close()`` — is what a WSGI server answers with a 500
(or a broken connection, once the response has started). It is sent with
``mechanism.type`` ``wsgi``, ``handled: false``, ``$exception_source`` ``python.wsgi`` and
the request properties (see :mod:`posthog_exceptions.integrations`), then re-raised
unchanged. Frameworks that turn errors into a response themselves (Django, Flask) let
nothing escape: use their own integrations.
"""

from __future__ import annotations

from posthog_exceptions._capture import kinds as _kinds

from . import _common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, Callable, Dict

    from posthog_exceptions._client import Client

    Environ = Dict[str, Any]
    StartResponse = Callable[..., Any]
    WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

KIND = _kinds.WSGI
INTEGRATION = KIND.mechanism


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
        try:
            result = self.app(environ, start_response)
        except BaseException as exc:
            self.capture(environ, exc)
            raise
        if isinstance(result, (list, tuple)):
            return result  # nothing can fail; the server may still set Content-Length
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            return result  # the server's own fast path (sendfile)
        return _Response(self, environ, result)

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


class _Response:
    """The application's response iterable, with errors while iterating or closing sent."""

    __slots__ = ("_environ", "_middleware", "_result")

    def __init__(
        self, middleware: PostHogWSGIMiddleware, environ: Environ, result: Iterable[bytes]
    ) -> None:
        self._middleware = middleware
        self._environ = environ
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        try:
            iterator = iter(self._result)
        except BaseException as exc:
            self._middleware.capture(self._environ, exc)
            raise
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                self._middleware.capture(self._environ, exc)
                raise
            yield chunk

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is None:
            return
        try:
            close()
        except BaseException as exc:
            self._middleware.capture(self._environ, exc)
            raise
