"""Web-framework integrations: the exceptions a framework turns into a 500 response.

One module per framework, each imported only by the application that uses it (importing
:mod:`posthog_exceptions` never imports a framework):

- :mod:`posthog_exceptions.integrations.django` — ``PostHogMiddleware`` (sync and async stacks);
- :mod:`posthog_exceptions.integrations.flask` — ``init_app(app)`` (the
  ``got_request_exception`` signal);
- :mod:`posthog_exceptions.integrations.starlette` — ``PostHogMiddleware`` for Starlette
  and FastAPI;
- :mod:`posthog_exceptions.integrations.asgi` and :mod:`~posthog_exceptions.integrations.wsgi`
  — plain middlewares for any other ASGI or WSGI application.

Each sends the exception with ``mechanism.type`` naming the integration, ``handled:
false``, level ``error`` and ``$exception_source`` ``python.<integration>``, plus the
request properties of :func:`~posthog_exceptions.integrations._common.request_properties`
— never a body, a cookie, an auth header or a query-string value — and leaves the
framework's own error handling (the 500 page, logging, propagation) as it was.
"""
