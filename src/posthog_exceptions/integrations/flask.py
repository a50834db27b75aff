"""Flask: exceptions that become a 500 response are sent to PostHog.

::

    from posthog_exceptions.integrations import flask as posthog_flask

    posthog_flask.init_app(app)

Flask sends its ``got_request_exception`` signal for an exception that no error handler
took — the ones it answers with a 500 (or re-raises, with ``PROPAGATE_EXCEPTIONS``) —
and never for an ``HTTPException`` (``abort(404)``) or an error that an
``errorhandler`` turned into a response. :func:`init_app` connects to that signal for
``app``: each such exception is sent with ``mechanism.type`` ``middleware``, ``handled:
false``, ``$exception_source`` ``flask.got_request_exception``, the request properties (see
:mod:`posthog_exceptions.integrations`) and the rule (``/orders/<int:order_id>``) as
``$request_route``. Flask's own handling — the 500 page, its log line, your 500 handler —
is untouched.

:func:`init_app` also wraps ``app.wsgi_app`` so that each request (and the iteration of
its response) runs in a fresh context with posthog-js's tracing headers (see
:mod:`posthog_exceptions.integrations._tracing`).
"""

from __future__ import annotations

from posthog_exceptions._capture import kinds as _kinds

from . import _common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from flask import Flask, Request

    from posthog_exceptions._client import Client

KIND = _kinds.FLASK
INTEGRATION = "flask"
EXTENSION = "posthog_exceptions"


class FlaskIntegration:
    """The receiver :func:`init_app` connects; ``app.extensions["posthog_exceptions"]``."""

    def __init__(self, distinct_id: Callable[[Request], Any] | None, client: Client | None) -> None:
        self.distinct_id = distinct_id
        self.client = client

    def __call__(self, sender: object, exception: BaseException | None = None, **_: Any) -> None:
        try:
            self._capture(exception)
        except Exception:
            _common.report_failure(INTEGRATION)

    def _capture(self, exception: BaseException | None) -> None:
        if exception is None:
            return
        client = _common.get_client(self.client)
        if client is None:
            return
        from flask import has_request_context, request

        properties: dict[str, Any] = {}
        distinct_id = None
        if has_request_context():
            rule = request.url_rule
            properties = _common.wsgi_properties(
                client, request.environ, rule.rule if rule is not None else None
            )
            distinct_id = _common.call_distinct_id(self.distinct_id, request, INTEGRATION)
        _common.capture(
            client,
            exception,
            kind=KIND,
            distinct_id=distinct_id,
            properties=properties,
        )


def init_app(
    app: Flask,
    *,
    distinct_id: Callable[[Request], Any] | None = None,
    client: Client | None = None,
) -> FlaskIntegration:
    """Send ``app``'s unhandled request exceptions to PostHog; returns the receiver.

    ``distinct_id(request)`` names the person (when it raises, a warning is logged and
    the event is sent anonymously); ``client`` defaults to the one :func:`init`
    installed, looked up per error. Calling it again for the same app replaces the
    settings (no exception is sent twice)."""
    _common.check_options(distinct_id, client)
    from flask import got_request_exception

    existing = app.extensions.get(EXTENSION)
    if isinstance(existing, FlaskIntegration):
        existing.distinct_id = distinct_id
        existing.client = client
        return existing
    receiver = FlaskIntegration(distinct_id, client)
    app.extensions[EXTENSION] = receiver
    got_request_exception.connect(receiver, app, weak=False)
    app.wsgi_app = _InRequestContext(app.wsgi_app, receiver)  # type: ignore[method-assign]
    return receiver


class _InRequestContext:
    """``app.wsgi_app``, run in a fresh request context (see :func:`.wsgi.serve`)."""

    def __init__(self, wsgi_app: Callable[..., Any], receiver: FlaskIntegration) -> None:
        self.wsgi_app = wsgi_app
        self.receiver = receiver

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from .wsgi import serve

        return serve(self.wsgi_app, environ, start_response, self.receiver.client, None)
