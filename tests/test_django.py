"""The Django middleware in a real Django, served over WSGI (wsgiref) and ASGI (uvicorn)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import Http404, HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path, re_path

from posthog_exceptions.integrations.django import PostHogMiddleware

from .recording_server import RecordingServer
from .web_helpers import (
    OrderFailed,
    Secrets,
    asgi_server,
    assert_request_failure,
    exception_events,
    fail_order,
    init_client,
    request,
    secret_request,
    wsgi_server,
)

MIDDLEWARE = "posthog_exceptions.integrations.django.PostHogMiddleware"


def order(request: HttpRequest, order_id: int) -> HttpResponse:
    fail_order(order_id)
    return HttpResponse("unreachable")


async def async_order(request: HttpRequest, order_id: int) -> HttpResponse:
    fail_order(order_id)
    return HttpResponse("unreachable")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such page")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def caught(request: HttpRequest) -> HttpResponse:
    try:
        fail_order(0)
    except OrderFailed:
        return HttpResponse("carried on")
    return HttpResponse("unreachable")


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("fine")


def leak(request: HttpRequest) -> HttpResponse:
    """Fails with the request (and its headers) in the view's locals (test_secrets_web)."""
    headers = request.headers
    fail_order(len(headers))
    return HttpResponse("unreachable")


urlpatterns = [
    path("orders/<int:order_id>/", order),
    path("async-orders/<int:order_id>/", async_order),
    path("missing/", missing),
    path("forbidden/", forbidden),
    path("caught/", caught),
    path("ok/", ok),
    re_path(r"^leak/", leak),
]


def user_from_header(request: HttpRequest) -> str:
    return str(request.headers["X-User"])


def broken_distinct_id(request: HttpRequest) -> str:
    raise LookupError("no session store")


if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1"],
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[MIDDLEWARE],
        INSTALLED_APPS=[],
        TEMPLATES=[],
        DATABASES={},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


@contextmanager
def django_server(stack: str, **overrides: Any) -> Iterator[str]:
    """Django behind a real server: ``wsgi`` (sync stack) or ``asgi`` (async stack).
    The handler loads the middleware, so settings apply per server."""
    with override_settings(**overrides):
        if stack == "wsgi":
            with wsgi_server(WSGIHandler()) as url:
                yield url
        else:
            with asgi_server(ASGIHandler()) as url:
                yield url


STACKS = ["wsgi", "asgi"]


@pytest.mark.parametrize("stack", STACKS)
def test_500s_are_sent_once_with_the_route_and_without_secrets(
    server: RecordingServer, stack: str
) -> None:
    client = init_client(server)
    secrets = Secrets()
    with django_server(stack) as url:
        assert request(url, "/ok/").status == 200
        assert request(url, "/nowhere/").status == 404
        assert request(url, "/missing/").status == 404  # Http404 from the view
        assert request(url, "/forbidden/").status == 403
        assert request(url, "/caught/").status == 200
        answer = secret_request(url, "/orders/42/", secrets)
    assert answer.status == 500
    assert "Server Error (500)" in answer.body  # Django's own 500 page
    (event,) = exception_events(client, server)
    entry = assert_request_failure(
        event,
        source="django.middleware",
        url=url,
        path="/orders/42/",
        route="orders/<int:order_id>/",
        secrets=secrets,
    )
    assert entry["value"] == "order 42 could not be placed"
    assert event["properties"]["$process_person_profile"] is False


def test_async_views_on_the_async_stack(server: RecordingServer) -> None:
    client = init_client(server)
    with django_server("asgi") as url:
        assert request(url, "/async-orders/5/").status == 500
    (event,) = exception_events(client, server)
    assert event["properties"]["$request_route"] == "async-orders/<int:order_id>/"
    frames = event["properties"]["$exception_list"][0]["stacktrace"]["frames"]
    assert [f["function"] for f in frames][-2:] == ["async_order", "fail_order"]


@pytest.mark.parametrize("stack", STACKS)
def test_distinct_id_setting(server: RecordingServer, stack: str) -> None:
    client = init_client(server)
    setting = f"{__name__}.user_from_header"
    with django_server(stack, POSTHOG_EXCEPTIONS_DISTINCT_ID=setting) as url:
        assert request(url, "/orders/1/", headers={"X-User": "user-11"}).status == 500
    (event,) = exception_events(client, server)
    assert event["distinct_id"] == "user-11"
    assert "$process_person_profile" not in event["properties"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_raising_distinct_id_sends_anonymously(
    server: RecordingServer, caplog: pytest.LogCaptureFixture, stack: str
) -> None:
    client = init_client(server)
    with django_server(stack, POSTHOG_EXCEPTIONS_DISTINCT_ID=broken_distinct_id) as url:
        assert request(url, "/orders/1/").status == 500
        assert request(url, "/ok/").status == 200
    (event,) = exception_events(client, server)
    assert event["properties"]["$process_person_profile"] is False
    assert any("distinct_id callable raised" in r.getMessage() for r in caplog.records)


def test_propagated_exceptions_still_propagate(server: RecordingServer) -> None:
    """DEBUG_PROPAGATE_EXCEPTIONS: Django re-raises; the middleware changes nothing."""
    client = init_client(server)
    with override_settings(DEBUG_PROPAGATE_EXCEPTIONS=True):
        handler = WSGIHandler()
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/orders/3/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "wsgi.input": io.BytesIO(),
            "wsgi.url_scheme": "http",
        }
        with pytest.raises(OrderFailed):
            handler(environ, lambda *args: None)
    (event,) = exception_events(client, server)
    assert event["properties"]["$current_url"] == "http://127.0.0.1:8000/orders/3/"


def test_the_middleware_is_sync_and_async_capable() -> None:
    import inspect

    def sync_get_response(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    async def async_get_response(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert PostHogMiddleware.sync_capable and PostHogMiddleware.async_capable
    assert not inspect.iscoroutinefunction(PostHogMiddleware(sync_get_response))
    from asgiref.sync import iscoroutinefunction

    assert iscoroutinefunction(PostHogMiddleware(async_get_response))
