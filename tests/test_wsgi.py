"""The plain WSGI middleware, in front of a real WSGI application served by wsgiref."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Callable

import pytest

from posthog_exceptions.integrations.wsgi import PostHogWSGIMiddleware

from .recording_server import RecordingServer
from .web_helpers import (
    OrderFailed,
    Secrets,
    assert_request_failure,
    exception_events,
    fail_order,
    init_client,
    request,
    secret_request,
    wsgi_server,
)

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/boom":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        fail_order("boom")
    if path == "/stream":
        return _stream(start_response)
    if path == "/handled":
        try:
            fail_order("boom")
        except OrderFailed:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"try again later"]
    status = "200 OK" if path == "/ok" else "404 Not Found"
    start_response(status, [("Content-Type", "text/plain")])
    return [status.encode()]


def _stream(start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first chunk"
    raise OrderFailed("the stream broke")


def test_an_exception_that_escapes_the_app_is_sent_once_without_secrets(
    server: RecordingServer,
) -> None:
    client = init_client(server)
    secrets = Secrets()
    with wsgi_server(PostHogWSGIMiddleware(app)) as url:
        assert request(url, "/ok").status == 200
        assert request(url, "/missing").status == 404
        assert request(url, "/handled").status == 503
        answer = secret_request(url, "/boom", secrets)
    assert answer.status == 500  # wsgiref's own error page, as without the middleware
    (event,) = exception_events(client, server)
    entry = assert_request_failure(
        event, source="wsgi.middleware", url=url, path="/boom", route=None, secrets=secrets
    )
    assert entry["type"] == "OrderFailed"
    assert event["properties"]["$process_person_profile"] is False  # no distinct_id


def test_errors_while_streaming_the_response_are_sent(server: RecordingServer) -> None:
    client = init_client(server)
    with wsgi_server(PostHogWSGIMiddleware(app)) as url:
        try:
            request(url, "/stream")
        except (http.client.HTTPException, OSError):
            pass  # the server may cut the connection after the first chunk
    (event,) = exception_events(client, server)
    assert event["properties"]["$exception_list"][0]["value"] == "the stream broke"


def test_distinct_id_is_called_with_the_environ(server: RecordingServer) -> None:
    client = init_client(server)
    seen: list[str] = []

    def person(environ: dict[str, Any]) -> str:
        seen.append(environ["PATH_INFO"])
        return "user-7"

    with wsgi_server(PostHogWSGIMiddleware(app, distinct_id=person)) as url:
        assert request(url, "/boom").status == 500
    (event,) = exception_events(client, server)
    assert event["distinct_id"] == "user-7"
    assert "$process_person_profile" not in event["properties"]
    assert seen == ["/boom"]


def test_a_raising_distinct_id_sends_anonymously_and_breaks_nothing(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = init_client(server)

    def person(environ: dict[str, Any]) -> str:
        raise LookupError("no session store")

    with wsgi_server(PostHogWSGIMiddleware(app, distinct_id=person)) as url:
        assert request(url, "/boom").status == 500
        assert request(url, "/ok").status == 200
    (event,) = exception_events(client, server)
    assert event["properties"]["$process_person_profile"] is False
    assert event["properties"]["$exception_list"][0]["type"] == "OrderFailed"
    (warning,) = [r for r in caplog.records if r.name == "posthog_exceptions"]
    assert warning.levelno == logging.WARNING
    assert "distinct_id callable raised" in warning.getMessage()


def test_an_explicit_client_and_no_client(server: RecordingServer) -> None:
    from posthog_exceptions import Client

    client = Client("phc_testkey", host=server.url)
    try:
        with wsgi_server(PostHogWSGIMiddleware(app, client=client)) as url:
            assert request(url, "/boom").status == 500
        assert len(exception_events(client, server)) == 1
    finally:
        client.shutdown()
    # Without init() and without client= nothing is sent, and the app works as before.
    with wsgi_server(PostHogWSGIMiddleware(app)) as url:
        assert request(url, "/boom").status == 500


def test_bad_options_are_rejected() -> None:
    with pytest.raises(TypeError, match="distinct_id"):
        PostHogWSGIMiddleware(app, distinct_id="user-1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client"):
        PostHogWSGIMiddleware(app, client=object())  # type: ignore[arg-type]


def test_list_responses_pass_through_untouched() -> None:
    """A list body is returned as it is: the server still sets Content-Length itself."""
    environ = {"PATH_INFO": "/ok", "REQUEST_METHOD": "GET"}
    result = PostHogWSGIMiddleware(app)(environ, lambda *args: None)
    assert result == [b"200 OK"]
    assert isinstance(result, list)
