"""The inbox over real HTTP on 127.0.0.1: body shapes, compression, validation, lifecycle."""

from __future__ import annotations

import ast
import gzip
import http.client
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from posthog_exceptions.inbox import Inbox, serve

KEY = "phc_test_key"
U1 = "0190a8f0-1c2d-7e3f-8a4b-5c6d7e8f9a01"
U2 = "0190a8f0-1c2d-7e3f-8a4b-5c6d7e8f9a02"
PATHS = ["/i/v0/e/", "/i/v0/e", "/e/", "/e", "/batch/", "/batch", "/capture/", "/capture"]


class Response(NamedTuple):
    status: int
    body: str
    content_type: str
    connection: str


def _connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    assert parts.hostname is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode("utf-8")
    return Response(
        response.status,
        text,
        response.getheader("Content-Type", ""),
        response.getheader("Connection", ""),
    )


def post(
    url: str, path: str, payload: Any, headers: dict[str, str] | None = None, *, raw: bool = False
) -> Response:
    """POST ``payload`` (JSON-encoded unless ``raw``) on a fresh connection."""
    body = payload if raw else json.dumps(payload).encode("utf-8")
    conn = _connect(url)
    try:
        return _exchange(
            conn, "POST", path, body, {"Content-Type": "application/json", **(headers or {})}
        )
    finally:
        conn.close()


def event(**overrides: Any) -> dict[str, Any]:
    return {
        "event": "signed_up",
        "distinct_id": "user-1",
        "properties": {"plan": "pro"},
        **overrides,
    }


def assert_plain_text(response: Response, status: int) -> None:
    assert response.status == status, response
    assert response.content_type.startswith("text/plain")
    assert response.body
    with pytest.raises(ValueError):
        json.loads(response.body)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with Inbox() as running:
        yield running


SHAPES: dict[str, tuple[Any, int]] = {
    "single": ({"api_key": KEY, **event(uuid=U1, timestamp="2026-01-01T00:00:00Z")}, 1),
    "batch": (
        {
            "api_key": KEY,
            "batch": [event(), event(event="$pageview")],
            "sent_at": "2026-01-01T00:00:01.000Z",
            "historical_migration": False,
        },
        2,
    ),
    "array": ([{"api_key": KEY, **event()}, event(properties={"token": KEY})], 2),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("path", [*PATHS, "/batch/?ver=1.2.3&_=1700000000"])
def test_every_body_shape_on_every_path(inbox: Inbox, path: str, shape: str) -> None:
    payload, count = SHAPES[shape]
    response = post(inbox.url, path, payload)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"status": 1}
    rows = inbox.events()
    assert len(rows) == count
    assert {row["api_key"] for row in rows} == {KEY}
    [record] = inbox.requests
    assert (record.method, record.path, record.status, record.events) == ("POST", path, 200, count)


def test_success_body_is_exactly_status_1(inbox: Inbox) -> None:
    response = post(inbox.url, "/i/v0/e/", {"api_key": KEY, **event()})
    assert response.body == '{"status": 1}'


@pytest.mark.parametrize("how", ["header", "query", "magic", "none"])
def test_compression(inbox: Inbox, how: str) -> None:
    body = json.dumps({"api_key": KEY, "batch": [event(), event()]}).encode()
    path, headers = "/batch/", {}
    if how == "header":
        headers = {"Content-Encoding": "gzip"}
    elif how == "query":
        path = "/batch/?compression=gzip-js&ver=1"
    if how != "none":
        body = gzip.compress(body)
    response = post(inbox.url, path, body, headers, raw=True)
    assert response.status == 200, response
    assert inbox.store.count() == 2
    assert inbox.requests[-1].body_size == len(body)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"api_key": "phc_x"}', {"Content-Encoding": "gzip"}),
        (b"\x1f\x8b\x08garbage-not-deflate", {}),
        (gzip.compress(b'{"api_key": "phc_x", "event": "e"}')[:-12], {}),
    ],
    ids=["flagged-but-plain", "magic-then-garbage", "truncated"],
)
def test_bad_gzip_is_400(inbox: Inbox, body: bytes, headers: dict[str, str]) -> None:
    assert_plain_text(post(inbox.url, "/e/", body, headers, raw=True), 400)


BAD_REQUESTS: dict[str, Any] = {
    "malformed-json": b'{"api_key": "phc_test_key", "event": ',
    "not-utf8": b'{"api_key": "\xff"}',
    "nan": b'{"api_key": "phc_test_key", "event": "e", "distinct_id": "d", "x": NaN}',
    "string-body": "just a string",
    "number-body": 42,
    "empty-batch": {"api_key": KEY, "batch": []},
    "batch-not-list": {"api_key": KEY, "batch": {"event": "e"}},
    "empty-array": [],
    "event-not-object": [{"api_key": KEY, **event()}, "oops"],
    "properties-not-object": {"api_key": KEY, **event(properties=[1])},
    "missing-event": {"api_key": KEY, "distinct_id": "d", "properties": {}},
    "empty-event": {"api_key": KEY, **event(event="")},
    "event-not-string": {"api_key": KEY, **event(event=7)},
    "missing-distinct-id": {"api_key": KEY, "batch": [event(), {"event": "e", "properties": {}}]},
    "null-distinct-id": {"api_key": KEY, "batch": [event(), event(distinct_id=None)]},
    "empty-distinct-id": {"api_key": KEY, "batch": [event(), event(distinct_id="")]},
    "empty-distinct-id-in-properties": [
        {"api_key": KEY, **event()},
        {"api_key": KEY, "event": "e", "properties": {"distinct_id": ""}},
    ],
    "timestamp-words": {"api_key": KEY, **event(timestamp="yesterday")},
    "timestamp-bad-month": {"api_key": KEY, **event(timestamp="2026-13-01T00:00:00Z")},
    "timestamp-bad-offset": {"api_key": KEY, **event(timestamp="2026-01-01T00:00:00+25:00")},
    "timestamp-number": {"api_key": KEY, **event(timestamp=1700000000)},
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_400_plain_text_and_stores_nothing(inbox: Inbox, case: str) -> None:
    payload = BAD_REQUESTS[case]
    raw = isinstance(payload, bytes)
    assert_plain_text(post(inbox.url, "/batch/", payload, raw=raw), 400)
    assert inbox.store.count() == 0
    assert inbox.requests[-1].status == 400


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05.123Z",
        "2026-01-02T03:04:05.123456+01:00",
        "2026-01-02T03:04:05-0530",
        "2026-01-02 03:04:05",
        "2026-01-02T03:04",
        None,
    ],
)
def test_valid_timestamps_are_accepted(inbox: Inbox, timestamp: str | None) -> None:
    assert post(inbox.url, "/e/", {"api_key": KEY, **event(timestamp=timestamp)}).status == 200
    assert inbox.events()[0]["timestamp"] == timestamp


def test_distinct_id_in_properties_is_accepted(inbox: Inbox) -> None:
    payload = {"api_key": KEY, "event": "e", "properties": {"distinct_id": "from-props"}}
    assert post(inbox.url, "/i/v0/e/", payload).status == 200
    assert inbox.events()[0]["distinct_id"] == "from-props"


def test_numeric_distinct_id_is_stored_as_text(inbox: Inbox) -> None:
    assert post(inbox.url, "/e/", {"api_key": KEY, **event(distinct_id=42)}).status == 200
    assert inbox.events()[0]["distinct_id"] == "42"


def test_long_distinct_id_is_truncated_to_200(inbox: Inbox) -> None:
    assert post(inbox.url, "/e/", {"api_key": KEY, **event(distinct_id="d" * 201)}).status == 200
    assert post(inbox.url, "/e/", {"api_key": KEY, **event(distinct_id="x" * 5000)}).status == 200
    assert [row["distinct_id"] for row in inbox.events()] == ["d" * 200, "x" * 200]


BAD_KEYS: dict[str, Any] = {
    "missing": event(),
    "null": {"api_key": None, **event()},
    "empty": {"api_key": "", **event()},
    "blank": {"api_key": "   ", **event()},
    "too-long": {"api_key": "phc_" + "a" * 61, **event()},
    "non-ascii": {"api_key": "phc_clé", **event()},
    "personal-key": {"api_key": "phx_personal", **event()},
    "nul": {"api_key": "phc_a\x00b", **event()},
    "not-a-string": {"api_key": 12345, **event()},
    "mixed-top-level-and-event": {"api_key": KEY, "batch": [event(), event(api_key="phc_other")]},
    "mixed-in-array": [{"api_key": KEY, **event()}, {"api_key": "phc_other", **event()}],
    "mixed-token-property": {"api_key": KEY, **event(properties={"token": "phc_other"})},
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_bad_key_is_401_plain_text(inbox: Inbox, case: str) -> None:
    assert_plain_text(post(inbox.url, "/batch/", BAD_KEYS[case]), 401)
    assert inbox.store.count() == 0


def test_key_is_trimmed_and_64_chars_allowed(inbox: Inbox) -> None:
    long_key = "phc_" + "a" * 60
    assert post(inbox.url, "/e/", {"api_key": f"  {KEY}\n", **event()}).status == 200
    assert post(inbox.url, "/e/", {"api_key": long_key, **event()}).status == 200
    assert [row["api_key"] for row in inbox.events()] == [KEY, long_key]


def test_configured_api_key_must_match() -> None:
    with Inbox(api_key=KEY) as inbox:
        assert_plain_text(post(inbox.url, "/e/", {"api_key": "phc_other", **event()}), 401)
        assert post(inbox.url, "/e/", {"api_key": KEY, **event()}).status == 200
        assert inbox.store.count() == 1


def _event_of_size(size: int) -> dict[str, Any]:
    base = {"api_key": KEY, **event(properties={"pad": ""})}
    base["properties"]["pad"] = "p" * (size - len(json.dumps(base, separators=(",", ":"))))
    assert len(json.dumps(base, separators=(",", ":"))) == size
    return base


def test_event_at_size_limit_is_413_plain_text() -> None:
    with Inbox(max_event_bytes=400) as inbox:
        response = post(inbox.url, "/e/", _event_of_size(400))
        assert_plain_text(response, 413)
        assert response.body == "maximum event size exceeded"
        batch = [_event_of_size(100), _event_of_size(400)]
        assert_plain_text(post(inbox.url, "/batch/", batch), 413)
        assert inbox.store.count() == 0
        assert post(inbox.url, "/e/", _event_of_size(399)).status == 200
        assert inbox.store.count() == 1


def test_request_at_size_limit_is_413_and_connection_closed() -> None:
    with Inbox(max_request_bytes=1000) as inbox:
        padded = [{"api_key": KEY, **event(properties={"pad": "p" * 1200})}]
        response = post(inbox.url, "/batch/", padded)
        assert_plain_text(response, 413)
        assert response.connection == "close"
        # far larger than the socket buffers: the server drains it and still answers
        huge = b"[" + b" " * 5_000_000 + b"]"
        assert_plain_text(post(inbox.url, "/batch/", huge, raw=True), 413)
        assert inbox.store.count() == 0
        assert post(inbox.url, "/batch/", [{"api_key": KEY, **event()}]).status == 200
        assert [record.status for record in inbox.requests] == [413, 413, 200]


def test_decompressed_request_at_size_limit_is_413() -> None:
    with Inbox(max_request_bytes=1000) as inbox:
        body = gzip.compress(json.dumps({"api_key": KEY, **event(pad="z" * 5000)}).encode())
        assert len(body) < 1000
        assert_plain_text(post(inbox.url, "/e/", body, raw=True), 413)
        assert inbox.store.count() == 0


def test_unknown_path_is_404_and_health_is_ok(inbox: Inbox) -> None:
    assert_plain_text(post(inbox.url, "/s/", {"api_key": KEY}), 404)
    # "/" is the web page, except for a client that asks for JSON (tests/inbox/test_web.py)
    for path, accept in (("/", "application/json"), ("/_health", "*/*"), ("/_health", "")):
        request = urllib.request.Request(inbox.url + path, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "ok"}
    conn = _connect(inbox.url)
    try:
        assert_plain_text(_exchange(conn, "GET", "/nothing/here"), 404)
        assert_plain_text(_exchange(conn, "GET", "/batch/"), 400)  # no body, no ?data=
    finally:
        conn.close()


def test_chunked_body_is_accepted(inbox: Inbox) -> None:
    body = json.dumps({"api_key": KEY, **event()}).encode()
    conn = _connect(inbox.url)
    try:
        conn.request("POST", "/e/", body=iter([body[:10], body[10:]]), encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    finally:
        conn.close()
    assert len(inbox.events()) == 1


def test_chunked_body_over_the_limit_is_413() -> None:
    with Inbox(max_request_bytes=100) as small:
        conn = _connect(small.url)
        try:
            conn.request("POST", "/e/", body=iter([b"x" * 60, b"y" * 60]), encode_chunked=True)
            response = conn.getresponse()
            assert response.status == 413
            response.read()
        finally:
            conn.close()


def test_keep_alive_two_requests_on_one_connection(inbox: Inbox) -> None:
    conn = _connect(inbox.url)
    try:
        first = _exchange(
            conn, "POST", "/batch/", json.dumps([{"api_key": KEY, **event()}]).encode()
        )
        sock = conn.sock
        assert sock is not None
        second = _exchange(
            conn, "POST", "/i/v0/e/", json.dumps({"api_key": KEY, **event()}).encode()
        )
        assert conn.sock is sock  # not reconnected
    finally:
        conn.close()
    assert (first.status, second.status) == (200, 200)
    assert first.connection == second.connection == ""
    assert inbox.store.count() == 2


def test_request_records(inbox: Inbox) -> None:
    body = gzip.compress(json.dumps([{"api_key": KEY, **event()}]).encode())
    post(inbox.url, "/batch/?compression=gzip-js", body, {"X-Custom": "Yes"}, raw=True)
    [record] = inbox.requests
    assert record.path == "/batch/?compression=gzip-js"
    assert record.headers["x-custom"] == "Yes"
    assert record.headers["content-length"] == str(len(body))
    assert all(name == name.lower() for name in record.headers)
    assert (record.body_size, record.status, record.events) == (len(body), 200, 1)


def test_events_survive_restart_on_same_db(tmp_path: Path) -> None:
    db = tmp_path / "inbox.sqlite3"
    with Inbox(db=db) as first:
        assert post(first.url, "/e/", {"api_key": KEY, **event(uuid=U1)}).status == 200
    with Inbox(db=str(db)) as second:
        assert [row["uuid"] for row in second.events()] == [U1]
    second.start()  # an Inbox can be started again after stop()
    try:
        assert post(second.url, "/e/", {"api_key": KEY, **event(uuid=U2)}).status == 200
        assert [row["uuid"] for row in second.wait_for(2)] == [U1, U2]
    finally:
        second.stop()


def test_wait_for_wakes_on_commit_from_another_thread(inbox: Inbox) -> None:
    payload = [{"api_key": KEY, **event(event="$exception")}, {"api_key": KEY, **event()}]
    sender = threading.Thread(target=post, args=(inbox.url, "/batch/", payload))
    sender.start()
    try:
        rows = inbox.wait_for(1, event="$exception", timeout=10)
    finally:
        sender.join()
    assert [row["event"] for row in rows] == ["$exception"]


def test_wait_for_timeout_names_count_found_and_timeout(inbox: Inbox) -> None:
    post(inbox.url, "/e/", {"api_key": KEY, **event()})
    with pytest.raises(TimeoutError, match=r"0\.05s.*3 events.*found 1"):
        inbox.wait_for(3, timeout=0.05)
    with pytest.raises(TimeoutError, match=r"'\$exception' events.*found 0"):
        inbox.wait_for(1, event="$exception", timeout=0.01)


def test_concurrent_clients(inbox: Inbox) -> None:
    senders = [
        threading.Thread(
            target=post, args=(inbox.url, "/batch/", [{"api_key": KEY, **event()}] * 3)
        )
        for _ in range(8)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert len(inbox.wait_for(24, timeout=10)) == 24


def test_lifecycle_errors_and_idempotent_stop() -> None:
    inbox = Inbox()
    with pytest.raises(RuntimeError, match="not running"):
        _ = inbox.url
    with pytest.raises(RuntimeError, match="not running"):
        inbox.events()
    inbox.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            inbox.start()
        assert inbox.url.startswith("http://127.0.0.1:")
    finally:
        inbox.stop()
    inbox.stop()
    assert "stopped" in repr(inbox)


def test_stop_closes_idle_keep_alive_connections() -> None:
    inbox = Inbox().start()
    conn = _connect(inbox.url)
    try:
        assert _exchange(conn, "GET", "/_health").status == 200
        inbox.stop()  # must not hang on the idle connection
    finally:
        conn.close()
        inbox.stop()


def test_serve_yields_working_url() -> None:
    with serve(api_key=KEY) as url:
        assert post(url, "/e/", {"api_key": KEY, **event()}).status == 200
    with pytest.raises(OSError):
        post(url, "/e/", {"api_key": KEY, **event()})


def test_verbose_prints_one_line_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    with Inbox(verbose=True) as inbox:
        post(inbox.url, "/e/", {"api_key": KEY, **event()})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "POST /e/ -> 200 (1 events)" in lines[0]


def test_import_hygiene() -> None:
    code = (
        "import sys, posthog_exceptions\n"
        "assert 'posthog_exceptions.inbox' not in sys.modules\n"
        "import posthog_exceptions.inbox\n"
        "assert 'requests' not in sys.modules, 'inbox imported requests'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_inbox_imports_only_the_standard_library() -> None:
    if sys.version_info < (3, 10):
        pytest.skip("sys.stdlib_module_names is 3.10+")
    import posthog_exceptions.inbox as package

    for source in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", (source, name)
