"""Django: exceptions that become a 500 response are sent to PostHog.

::

    MIDDLEWARE = [
        "posthog_exceptions.integrations.django.PostHogMiddleware",   # first in the list
        ...
    ]

Django passes an exception raised by a view (or a template response's rendering) to
each middleware's ``process_exception``, in *reverse* order of ``MIDDLEWARE``, until one
returns a response. Listed first, this middleware is asked last, so it only sees what no
other middleware turned into a response; it sends exceptions Django then answers with a
500, and leaves alone the ones Django answers with 4xx (``Http404``,
``PermissionDenied``, ``BadRequest``, ``SuspiciousOperation``, ``MultiPartParserError``).
Each is sent with ``mechanism.type`` ``middleware``, ``handled: false``,
``$exception_source`` ``django.middleware``, the request properties (see
:mod:`posthog_exceptions.integrations`) and the URL pattern (``orders/<int:order_id>/``,
``resolver_match.route``) as ``$request_route``. It returns ``None``: Django's 500 page,
its ``django.request`` log line and ``DEBUG_PROPAGATE_EXCEPTIONS`` are untouched.

The middleware works in sync (WSGI) and async (ASGI) stacks without adapting them. Its
``distinct_id`` is the ``POSTHOG_EXCEPTIONS_DISTINCT_ID`` setting, a callable (or its
dotted path) taking the request; in an async stack Django calls ``process_exception``
in a thread, so the callable may touch the ORM (``request.user``). A subclass may
override :meth:`PostHogMiddleware.get_distinct_id`, or set ``client``.

Each request runs in a fresh context with posthog-js's tracing headers (see
:mod:`posthog_exceptions.integrations._tracing`), until its response is returned (a
streaming response's body is iterated outside it). Middleware listed after this one may
call :func:`~posthog_exceptions.identify_context` with the logged-in user.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.http.multipartparser import MultiPartParserError

from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._context import enter, leave

from . import _common, _tracing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable
    from typing import Any, Callable, Union

    from posthog_exceptions._client import Client

    Request = Any  # django.http.HttpRequest (Django ships no type information)
    Response = Any
    GetResponse = Callable[[Request], Union[Response, Awaitable[Response]]]

KIND = _kinds.DJANGO
INTEGRATION = "django"
SETTING = "POSTHOG_EXCEPTIONS_DISTINCT_ID"
CLIENT_ERRORS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)
"""What Django answers with a 4xx response (``response_for_exception``): never sent."""


class PostHogMiddleware:
    """Sends the view exceptions that Django turns into a 500 response."""

    sync_capable = True
    async_capable = True
    client: Client | None = None
    """The client to send through; ``None``: the one :func:`init` installed, per error."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.distinct_id = _distinct_id_setting()
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Request) -> Any:
        if self.is_async:
            return self._acall(request)
        token = enter(self._request_context(request))
        try:
            return self.get_response(request)
        finally:
            leave(token)

    async def _acall(self, request: Request) -> Any:
        token = enter(self._request_context(request))
        try:
            return await self.get_response(request)
        finally:
            leave(token)

    def _request_context(self, request: Request) -> Any:
        return _tracing.guarded_request_context(self.client, _tracing.wsgi_header(request.META))

    def process_exception(self, request: Request, exception: Exception) -> None:
        """Send ``exception`` unless Django answers it with a 4xx; never a response."""
        if isinstance(exception, CLIENT_ERRORS):
            return
        try:
            client = _common.get_client(self.client)
            if client is None:
                return
            distinct_id = _common.call_distinct_id(self.get_distinct_id, request, INTEGRATION)
            _common.capture(
                client,
                exception,
                kind=KIND,
                distinct_id=distinct_id,
                properties=_properties(client, request),
            )
        except Exception:
            _common.report_failure(INTEGRATION)

    def get_distinct_id(self, request: Request) -> Any:
        """The person the request is for: the setting's callable, else ``None`` (the
        client's default ``distinct_id``, or an anonymous event)."""
        if self.distinct_id is None:
            return None
        return self.distinct_id(request)


def _properties(client: Client, request: Request) -> dict[str, Any]:
    meta = request.META
    match = getattr(request, "resolver_match", None)
    host = meta.get("HTTP_HOST")  # not get_host(): it raises for hosts not in ALLOWED_HOSTS
    if not host:
        host = meta.get("SERVER_NAME")
        port = meta.get("SERVER_PORT")
        if host and port and str(port) not in ("80", "443"):
            host = f"{host}:{port}"
    return _common.request_properties(
        client,
        method=request.method,
        scheme=_scheme(request),
        host=host,
        path=request.path,
        query=meta.get("QUERY_STRING"),
        user_agent=meta.get("HTTP_USER_AGENT"),
        route=getattr(match, "route", None),
    )


def _scheme(request: Request) -> Any:
    try:
        return request.scheme  # SECURE_PROXY_SSL_HEADER, when set, may be misconfigured
    except Exception:
        return None


def _distinct_id_setting() -> Callable[[Request], Any] | None:
    from django.conf import settings

    value = getattr(settings, SETTING, None)
    if isinstance(value, str):
        from django.utils.module_loading import import_string

        value = import_string(value)
    if value is not None and not callable(value):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"{SETTING} must be a callable or its dotted path, got {value!r}"
        )
    return value
