"""posthog-js's tracing headers, through real servers: one context per request, sanitised."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import parse_qs

import pytest

import posthog_exceptions
from posthog_exceptions import identify_context, tag
from posthog_exceptions.integrations._tracing import MAX_VALUE, sanitise
from posthog_exceptions.integrations.asgi import PostHogASGIMiddleware
from posthog_exceptions.integrations.wsgi import PostHogWSGIMiddleware

from .recording_server import RecordingServer
from .web_helpers import Response, asgi_server, fail_order, init_client, request, wsgi_server

CONCURRENT = 50
StartResponse = Callable[..., Any]


def tracing_headers(n: int) -> dict[str, str]:
    return {
        "X-POSTHOG-SESSION-ID": f"session-{n}",
        "X-POSTHOG-WINDOW-ID": f"window-{n}",
        "X-POSTHOG-DISTINCT-ID": f"person-{n}",
    }


def _concurrently(url: str, headers_of: Callable[[int], dict[str, str]]) -> list[Response]:
    with ThreadPoolExecutor(CONCURRENT) as pool:
        futures = [
            pool.submit(request, url, f"/boom?n={n}", headers=headers_of(n))
            for n in range(CONCURRENT)
        ]
        return [future.result(30) for future in futures]


def _assert_each_request_has_its_own(events: list[dict[str, Any]], *, tagged: bool) -> None:
    """One ``$exception`` and one ``in-request`` event per request, each with exactly
    its own request's session, window, person and tag."""
    by_kind: dict[str, dict[int, dict[str, Any]]] = {"$exception": {}, "in-request": {}}
    for event in events:
        props = event["properties"]
        n = int(props["n"])
        assert n not in by_kind[event["event"]], f"request {n} sent {event['event']} twice"
        by_kind[event["event"]][n] = event
        assert event["distinct_id"] == f"person-{n}"
        assert props["$session_id"] == f"session-{n}"
        assert props["$window_id"] == f"window-{n}"
        if tagged:
            assert props["request"] == n
    assert sorted(by_kind["$exception"]) == sorted(by_kind["in-request"]) == list(range(CONCURRENT))


def _wsgi_app(arrived: threading.Barrier) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        n = int(parse_qs(environ["QUERY_STRING"]).get("n", ["-1"])[0])
        if n >= 0:
            tag("request", n)
            tag("n", n)
            arrived.wait(20)  # every request is in flight at once
            posthog_exceptions.capture("in-request")
            fail_order(n)
        posthog_exceptions.capture("probe")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def test_concurrent_wsgi_requests_each_send_only_their_own_context(
    server: RecordingServer,
) -> None:
    client = init_client(server, rate_limit=False)
    arrived = threading.Barrier(CONCURRENT)
    with wsgi_server(PostHogWSGIMiddleware(_wsgi_app(arrived)), threaded=True) as url:
        answers = _concurrently(url, tracing_headers)
        assert [a.status for a in answers] == [500] * CONCURRENT
        assert request(url, "/after").status == 200  # no headers: nothing carried over
    assert client.flush(20)
    events = server.events
    _assert_each_request_has_its_own([e for e in events if e["event"] != "probe"], tagged=True)
    (probe,) = [e for e in events if e["event"] == "probe"]
    assert "$session_id" not in probe["properties"] and "request" not in probe["properties"]
    assert probe["properties"]["$process_person_profile"] is False


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    query = parse_qs(scope["query_string"].decode())
    n = int(query.get("n", ["-1"])[0])
    if n >= 0:
        tag("request", n)
        tag("n", n)
        _ARRIVED.append(n)
        deadline = time.monotonic() + 20
        while len(_ARRIVED) < CONCURRENT:  # every request is in flight at once
            assert time.monotonic() < deadline, "the requests did not overlap"
            await asyncio.sleep(0.001)

        async def in_a_task() -> None:  # a task the request starts inherits its context
            posthog_exceptions.capture("in-request")

        await asyncio.ensure_future(in_a_task())
        fail_order(n)
    posthog_exceptions.capture("probe")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


_ARRIVED: list[int] = []


def test_concurrent_asgi_requests_each_send_only_their_own_context(
    server: RecordingServer,
) -> None:
    client = init_client(server, rate_limit=False)
    _ARRIVED.clear()
    with asgi_server(PostHogASGIMiddleware(_asgi_app)) as url:
        answers = _concurrently(url, tracing_headers)
        assert [a.status for a in answers] == [500] * CONCURRENT
        assert request(url, "/after").status == 200
    assert client.flush(20)
    events = server.events
    _assert_each_request_has_its_own([e for e in events if e["event"] != "probe"], tagged=True)
    (probe,) = [e for e in events if e["event"] == "probe"]
    assert "$session_id" not in probe["properties"] and "request" not in probe["properties"]


def test_nothing_survives_a_request_on_a_reused_thread(server: RecordingServer) -> None:
    """One thread serves request after request (as a thread-pool server does)."""
    client = init_client(server)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_POSTHOG_SESSION_ID"):
            identify_context("logged-in")
            tag("leaky", True)
        posthog_exceptions.capture("seen")
        start_response("200 OK", [])
        return iter([b"ok"])  # an iterator: iterated after the call returns

    middleware = PostHogWSGIMiddleware(app)
    for headers in ({"HTTP_X_POSTHOG_SESSION_ID": "s-1"}, {}):
        body = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/", **headers}, _ignore)
        assert b"".join(body) == b"ok"
    assert posthog_exceptions.get_tags() == {}
    assert client.flush(10)
    first, second = server.events
    assert (first["distinct_id"], first["properties"]["$session_id"]) == ("logged-in", "s-1")
    assert first["properties"]["leaky"] is True
    assert "leaky" not in second["properties"] and "$session_id" not in second["properties"]
    assert second["distinct_id"] != "logged-in"


def _ignore(status: str, headers: list[Any], exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda data: None


HOSTILE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "control characters are removed and the rest trimmed",
        {"X-POSTHOG-SESSION-ID": "  sess\x01ion\x7f-1\t ", "X-POSTHOG-DISTINCT-ID": "\x1bp-1"},
        {"$session_id": "session-1", "distinct_id": "p-1"},
    ),
    (
        "nothing but control characters is absent",
        {"X-POSTHOG-SESSION-ID": "\x01\x02\x03", "X-POSTHOG-WINDOW-ID": "   "},
        {"$session_id": None, "$window_id": None},
    ),
    (
        "non-ASCII ids are dropped, a UTF-8 distinct id is read",
        {"X-POSTHOG-SESSION-ID": "sé".encode(), "X-POSTHOG-DISTINCT-ID": "usér".encode()},
        {"$session_id": None, "distinct_id": "usér"},
    ),
    (
        "a distinct id that is not UTF-8 is dropped",
        {"X-POSTHOG-DISTINCT-ID": b"\xff\xfe\xfa", "X-POSTHOG-WINDOW-ID": "w-1"},
        {"distinct_id": None, "$window_id": "w-1"},
    ),
    (
        "a long value is cut",
        {"X-POSTHOG-SESSION-ID": "s" * 12_000},  # (uvicorn refuses a header line over 16 kB)
        {"$session_id": "s" * MAX_VALUE},
    ),
]


@pytest.mark.parametrize("stack", ["wsgi", "asgi"])
@pytest.mark.parametrize(
    ("headers", "expected"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_header_values_are_sanitised_and_the_request_is_undisturbed(
    server: RecordingServer, stack: str, headers: dict[str, Any], expected: dict[str, Any]
) -> None:
    client = init_client(server)

    def wsgi_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        posthog_exceptions.capture("seen")
        start_response("200 OK", [])
        return [b"ok"]

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        posthog_exceptions.capture("seen")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    serve = (
        wsgi_server(PostHogWSGIMiddleware(wsgi_app))
        if stack == "wsgi"
        else asgi_server(PostHogASGIMiddleware(asgi_app))
    )
    with serve as url:
        answer = request(url, "/", headers=headers)
    assert (answer.status, answer.body) == (200, "ok")
    assert client.flush(10)
    (event,) = server.events
    for key, value in expected.items():
        if key == "distinct_id":
            if value is None:
                assert event["properties"]["$process_person_profile"] is False
            else:
                assert event["distinct_id"] == value
        else:
            assert event["properties"].get(key) == value


def test_100_kb_headers_reach_the_app_and_are_cut_in_the_event(server: RecordingServer) -> None:
    """Past what the test servers accept on one line: the middlewares called directly."""
    client = init_client(server)
    huge = "s" * 100_000

    def wsgi_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert environ["HTTP_X_POSTHOG_SESSION_ID"] == huge  # the app's view is unchanged
        posthog_exceptions.capture("wsgi")
        start_response("200 OK", [])
        return [b"ok"]

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        posthog_exceptions.capture("asgi")
        await send({"type": "http.response.start", "status": 200, "headers": []})

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_X_POSTHOG_SESSION_ID": huge}
    assert list(PostHogWSGIMiddleware(wsgi_app)(environ, _ignore)) == [b"ok"]
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": "/", "headers": [(b"x-posthog-session-id", huge.encode())]}
    asyncio.run(PostHogASGIMiddleware(asgi_app)(scope, receive, send))
    assert sent == [{"type": "http.response.start", "status": 200, "headers": []}]
    assert client.flush(10)
    assert [e["properties"]["$session_id"] for e in server.events] == ["s" * MAX_VALUE] * 2


def test_a_100_kb_value_is_cut_without_reading_it_all() -> None:
    assert sanitise("x" * 100_000, ascii_only=True) == "x" * MAX_VALUE
    expected = (" ab " * 30_000).strip()[:MAX_VALUE].strip()
    assert sanitise(b" a\x00b " * 30_000, ascii_only=False) == expected
    assert sanitise("é".encode() * 50_000, ascii_only=False) == "é" * MAX_VALUE
    assert sanitise(b"", ascii_only=False) is None
    assert sanitise(42, ascii_only=True) is None
    assert sanitise("\u0100", ascii_only=False) is None  # not latin-1: never from a header


def test_headers_are_not_read_when_switched_off(server: RecordingServer) -> None:
    client = init_client(server, capture_tracing_headers=False)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        posthog_exceptions.capture("seen")
        start_response("200 OK", [])
        return [b"ok"]

    with wsgi_server(PostHogWSGIMiddleware(app)) as url:
        assert request(url, "/", headers=tracing_headers(1)).status == 200
    assert client.flush(10)
    (event,) = server.events
    assert "$session_id" not in event["properties"]
    assert event["distinct_id"] != "person-1"


def test_an_integration_callable_beats_the_header_and_identify_context_beats_both(
    server: RecordingServer,
) -> None:
    client = init_client(server)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/identified":
            identify_context("from-identify")
        fail_order(environ["PATH_INFO"])
        return []

    middleware = PostHogWSGIMiddleware(app, distinct_id=lambda environ: "from-callable")
    with wsgi_server(middleware) as url:
        assert request(url, "/plain", headers=tracing_headers(1)).status == 500
        assert request(url, "/identified", headers=tracing_headers(2)).status == 500
    plain, identified = (e for e in server.wait_for_events(2) if e["event"] == "$exception")
    assert client.flush(10)
    assert plain["distinct_id"] == "from-callable"
    assert plain["properties"]["$session_id"] == "session-1"
    assert identified["distinct_id"] == "from-identify"
    assert identified["properties"]["$session_id"] == "session-2"


def _framework(name: str) -> Any:
    """``(server context manager, failing path)`` of each framework integration."""
    if name.startswith("django"):
        from .test_django import django_server

        return django_server(name.split("-")[1]), "/orders/3/"
    if name == "flask":
        from .test_flask import flask_server, make_app

        return flask_server(make_app()), "/orders/3"
    from .test_asgi import starlette_app

    return asgi_server(starlette_app()), "/orders/3"


@pytest.mark.parametrize("name", ["django-wsgi", "django-asgi", "flask", "starlette"])
def test_every_framework_integration_reads_the_tracing_headers(
    server: RecordingServer, name: str
) -> None:
    client = init_client(server)
    serve, path = _framework(name)
    with serve as url:
        assert request(url, path, headers=tracing_headers(3)).status == 500
        assert request(url, path).status == 500  # the next request: nothing carried over
    assert client.flush(10)
    first, second = (e for e in server.events if e["event"] == "$exception")
    assert first["distinct_id"] == "person-3"
    assert first["properties"]["$session_id"] == "session-3"
    assert first["properties"]["$window_id"] == "window-3"
    assert "$session_id" not in second["properties"]
    assert second["properties"]["$process_person_profile"] is False
