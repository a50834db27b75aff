"""Integrations: each turns one way a program meets an error into one capture.

Every integration calls ``Client._capture`` with its own
:class:`~posthog_exceptions._capture.kinds.CaptureKind` and always hands the error
back to the host's own handling. The interpreter and standard-library ones:

- :mod:`posthog_exceptions.integrations.hooks` — ``sys.excepthook``,
  ``threading.excepthook``, ``sys.unraisablehook`` (installed by ``init()``);
- :mod:`posthog_exceptions.integrations.logging` — ``LoggingHandler``/``capture_logging``;
- :mod:`posthog_exceptions.integrations.asyncio` — an event loop's exception handler.

The web-framework ones send the exceptions a framework turns into a 500 response; each
is imported only by the application that uses it (importing :mod:`posthog_exceptions`
never imports a framework):

- :mod:`posthog_exceptions.integrations.django` — ``PostHogMiddleware`` (sync and async stacks);
- :mod:`posthog_exceptions.integrations.flask` — ``init_app(app)`` (the
  ``got_request_exception`` signal);
- :mod:`posthog_exceptions.integrations.starlette` — ``PostHogMiddleware`` for Starlette
  and FastAPI;
- :mod:`posthog_exceptions.integrations.asgi` and :mod:`~posthog_exceptions.integrations.wsgi`
  — plain middlewares for any other ASGI or WSGI application.

Each web integration sends the exception with ``mechanism.type`` naming the integration, ``handled:
false``, level ``error`` and ``$exception_source`` ``python.<integration>``, plus the
request properties of :func:`~posthog_exceptions.integrations._common.request_properties`
— never a body, a cookie, an auth header or a query-string value — and leaves the
framework's own error handling (the 500 page, logging, propagation) as it was.
"""
