"""The inbox's web page over plain HTTP (no browser): its headers, its JSON API, the live
stream, and events that try to break it. tests/inbox/test_browser.py drives it in Chromium."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

import posthog_exceptions
from posthog_exceptions.inbox import Inbox
from posthog_exceptions.inbox._groups import group_issues
from posthog_exceptions.inbox._web import CSP

KEY = "phc_web_key"
PAGE_PATHS = ["/", "/index.html", "/events", "/issue/abc", "/static/app.js", "/static/app.css"]
EVIL = "https://evil.example"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with Inbox() as running:
        yield running


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.getheaders()}
        self.body = response.read()

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"

        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} is not JSON a browser parses")

        return json.loads(self.body.decode("ascii"), parse_constant=refuse)


def request(url: str, path: str, method: str = "GET", **headers: str) -> Answer:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(
            method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )
        return Answer(connection.getresponse())
    finally:
        connection.close()


def api(inbox: Inbox, path: str) -> Any:
    answer = request(inbox.url, path)
    assert answer.status == 200, answer.body
    return answer.json()


def send(inbox: Inbox, *events: dict[str, Any]) -> None:
    body = json.dumps({"api_key": KEY, "batch": list(events)})
    parts = urlsplit(inbox.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(
            "POST", "/batch/", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        connection.close()


def client(inbox: Inbox) -> posthog_exceptions.Client:
    return posthog_exceptions.Client(KEY, host=inbox.url, sync_mode=True, capture_locals=True)


def split_the_bill(total: int, people: int) -> float:
    share = total / people  # the line the issue page shows
    return round(share, 2)


def capture_division(inbox: Inbox, who: str = "user-1") -> None:
    sender = client(inbox)
    try:
        split_the_bill(42, 0)
    except ZeroDivisionError:
        sender.capture_exception(distinct_id=who, properties={"plan": "pro", "$session_id": "s-1"})
    sender.shutdown()


@pytest.mark.parametrize("path", [*PAGE_PATHS, "/api/issues", "/api/events", "/api/nothing"])
def test_the_page_its_files_and_its_api_carry_the_csp_and_no_cors(inbox: Inbox, path: str) -> None:
    answer = request(inbox.url, path, Origin=EVIL)
    assert answer.status == (404 if path == "/api/nothing" else 200)
    assert answer.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert "default-src 'none'" in CSP and "frame-ancestors 'none'" in CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert not [name for name in answer.headers if name.startswith("access-control-")]
    if path.startswith("/api/"):
        assert answer.headers["content-type"] == "application/json"
        assert isinstance(answer.json(), dict)


def test_the_capture_paths_still_answer_cors(inbox: Inbox) -> None:
    answer = request(inbox.url, "/batch/", "OPTIONS", Origin=EVIL)
    assert answer.headers["access-control-allow-origin"] == EVIL


def test_the_page_is_html_with_no_inline_script_or_style(inbox: Inbox) -> None:
    answer = request(inbox.url, "/", Accept="text/html")
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    page = answer.body.decode()
    assert '<script src="/static/app.js" defer></script>' in page
    assert page.count("<script") == 1 and "<style" not in page and "style=" not in page
    script = request(inbox.url, "/static/app.js").body.decode()
    for markup in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert markup not in script
    assert (
        request(inbox.url, "/static/app.js").headers["content-type"].startswith("text/javascript")
    )


def test_root_still_answers_health_to_a_client_asking_for_json(inbox: Inbox) -> None:
    assert request(inbox.url, "/", Accept="application/json").json() == {"status": "ok"}
    assert request(inbox.url, "/", Accept="text/html,application/json").body.startswith(
        b"<!doctype html>"
    )


def test_a_foreign_host_name_is_refused(inbox: Inbox) -> None:
    """A site that rebinds its name to 127.0.0.1 still cannot read the page."""
    port = urlsplit(inbox.url).port
    assert request(inbox.url, "/api/issues", Host=f"evil.example:{port}").status == 403
    assert request(inbox.url, "/", Host="evil.example").status == 403
    assert request(inbox.url, "/api/issues", Host=f"localhost:{port}").status == 200
    assert request(inbox.url, "/api/issues", Host=f"[::1]:{port}").status == 200
    send(inbox, {"event": "e", "distinct_id": "d"})  # capture answers any host: not the page's


def test_the_page_api_is_read_only(inbox: Inbox) -> None:
    for method in ("POST", "PUT", "DELETE"):
        answer = request(inbox.url, "/api/issues", method, Origin=EVIL)
        assert answer.status in (404, 501)
        assert "access-control-allow-origin" not in answer.headers


def test_the_issue_list_groups_as_issues_does(tmp_path: Path) -> None:
    with Inbox(db=tmp_path / "web.sqlite3") as inbox:
        capture_division(inbox, "user-1")
        capture_division(inbox, "user-2")
        capture_division(inbox, "user-1")
        send(inbox, {"event": "$exception", "distinct_id": "x", "properties": {}})
        listed = api(inbox, "/api/issues")["issues"]
        expected = group_issues(inbox.events(event="$exception"))
    assert [(i["fingerprint"], i["count"]) for i in listed] == [
        (g.fingerprint, g.count) for g in expected
    ]
    division = next(i for i in listed if i["type"] == "ZeroDivisionError")
    assert (division["count"], division["people"], division["handled"]) == (3, 2, True)
    assert division["value"] == "division by zero" and division["level"] == "error"
    assert division["crash_site"].endswith(f"in {split_the_bill.__name__}")
    assert sum(division["histogram"]) == 3 and len(division["histogram"]) == 24
    assert division["first_seen"] <= division["last_seen"]


def _frames(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for item in detail["exceptions"]["chain"] for f in item["exception"]["frames"]]


def test_an_issue_shows_frames_source_variables_and_properties(inbox: Inbox) -> None:
    capture_division(inbox, "user-1")
    capture_division(inbox, "user-2")
    [issue] = api(inbox, "/api/issues")["issues"]
    found = api(inbox, f"/api/issues/{quote(issue['fingerprint'], safe='')}")
    assert [o["distinct_id"] for o in found["occurrences"]] == ["user-2", "user-1"]
    event = found["event"]
    assert event["id"] == found["occurrences"][0]["id"] == issue["latest_id"]
    [frame] = [f for f in _frames(event) if f["function"] == "split_the_bill"]
    [current] = [line for line in frame["lines"] if line["current"]]
    assert current["text"].strip() == "share = total / people  # the line the issue page shows"
    assert current["no"] == frame["lineno"] == split_the_bill.__code__.co_firstlineno + 1
    assert frame["in_app"] is True
    assert ["people", "0"] in frame["variables"]
    assert ["plan", '"pro"'] in event["tags"] or ["plan", "pro"] in event["tags"]
    assert event["session_id"] == "s-1" and event["distinct_id"] == "user-2"
    assert json.loads(event["raw"])["uuid"] == event["uuid"]
    earlier = found["occurrences"][1]["id"]
    chosen = api(inbox, f"/api/issues/{quote(issue['fingerprint'], safe='')}?event={earlier}")
    assert chosen["event"]["distinct_id"] == "user-1"
    assert request(inbox.url, "/api/issues/nope").status == 404
    bad = request(inbox.url, f"/api/issues/{quote(issue['fingerprint'], safe='')}?event=abc")
    assert bad.status == 400 and "event" in bad.json()["error"]


def test_events_of_every_kind_after_an_id_and_one_in_full(inbox: Inbox) -> None:
    send(
        inbox,
        {"event": "signed_up", "distinct_id": "a"},
        {"event": "$identify", "distinct_id": "a", "$set": {"email": "a@example.com"}},
    )
    first = api(inbox, "/api/events")["events"]
    assert [e["event"] for e in first] == ["signed_up", "$identify"]
    send(inbox, {"event": "paid", "distinct_id": "b"})
    later = api(inbox, f"/api/events?after={first[-1]['id']}")
    assert [e["event"] for e in later["events"]] == ["paid"]
    assert later["last_id"] == later["events"][0]["id"]
    assert [e["event"] for e in api(inbox, "/api/events?event=paid")["events"]] == ["paid"]
    identify = api(inbox, f"/api/events/{first[1]['id']}")["event"]
    assert identify["person_updates"] == [["$set", '{"email": "a@example.com"}']]
    assert request(inbox.url, "/api/events/999999").status == 404
    assert request(inbox.url, "/api/events/x").status == 400
    assert request(inbox.url, "/api/events?after=x").status == 400


HOSTILE_PROPERTIES: list[Any] = [
    {},
    {"$exception_list": "not a list"},
    {"$exception_list": [None, 3, "x", {"type": ["a"], "value": {"b": 1}}]},
    {"$exception_list": [{"type": "E", "stacktrace": {"frames": "no"}}]},
    {
        "$exception_list": [
            {
                "type": "E" * 100_000,
                "value": "v" * 500_000,
                "mechanism": {"handled": "yes", "parent_id": 0, "exception_id": 0},
                "stacktrace": {
                    "frames": [
                        None,
                        {"lineno": "12", "pre_context": [None, 3, "x"], "context_line": 5},
                        {"lineno": -4, "pre_context": ["a"] * 5000, "code_variables": [1, 2]},
                        {"lineno": True, "code_variables": {"x": {"deep": [1, {"y": None}]}}},
                    ]
                },
            }
        ],
        "$exception_level": ["fatal"],
        "$session_id": {"id": 1},
        "$current_url": 7,
        "$exception_fingerprint": ["not", "a", "string"],
    },
    {
        "$exception_list": [
            {"type": "G", "mechanism": {"exception_id": i, "parent_id": i - 1, "source": "member"}}
            for i in range(300)
        ]
    },
]


@pytest.mark.parametrize("properties", HOSTILE_PROPERTIES)
def test_odd_events_never_break_the_api(inbox: Inbox, properties: Any) -> None:
    """Stored as they are (capture's validation would refuse some of them)."""
    inbox.store.add(
        [
            {"event": "$exception", "distinct_id": ["odd"], "uuid": None, "properties": properties},
            {"event": "x" * 10_000, "distinct_id": "d", "timestamp": "not a time", "$set": "s"},
        ]
    )
    for issue in api(inbox, "/api/issues")["issues"]:
        found = api(inbox, f"/api/issues/{quote(issue['fingerprint'], safe='')}")
        assert found["event"]["id"] == issue["latest_id"]
    for event in api(inbox, "/api/events")["events"]:
        api(inbox, f"/api/events/{event['id']}")
    assert request(inbox.url, "/").status == 200


def test_a_nan_in_a_stored_event_still_makes_json(inbox: Inbox) -> None:
    nan = float("nan")
    inbox.store.add([{"event": "$exception", "distinct_id": "n", "properties": {"v": nan}}])
    [issue] = api(inbox, "/api/issues")["issues"]
    event = api(inbox, f"/api/issues/{quote(issue['fingerprint'], safe='')}")["event"]
    assert event["tags"] == [["v", "NaN"]]


def _read_event(stream: Any, deadline: float) -> tuple[str, dict[str, Any]]:
    """The next server-sent event (comments skipped) as (name, data)."""
    name, data = "message", ""
    while time.monotonic() < deadline:
        line = stream.readline().decode()
        if not line:
            raise AssertionError("the stream ended")
        line = line.rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
        elif line == "" and data:
            return name, json.loads(data)
    raise AssertionError("no event before the deadline")


def test_the_stream_says_when_events_are_committed_and_ends_when_the_inbox_stops() -> None:
    inbox = Inbox().start()
    try:
        parts = urlsplit(inbox.url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        connection.request("GET", "/api/stream")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        assert response.getheader("Content-Security-Policy") == CSP
        assert response.getheader("Access-Control-Allow-Origin") is None
        deadline = time.monotonic() + 10
        assert _read_event(response, deadline) == ("ready", {"last_id": 0})
        send(inbox, {"event": "one", "distinct_id": "d"})
        name, data = _read_event(response, deadline)
        assert name == "commit" and data["last_id"] == inbox.store.last_id() > 0
    finally:
        started = time.monotonic()
        inbox.stop()
    assert time.monotonic() - started < 3  # the stream's thread woke at once
    with pytest.raises((OSError, AssertionError, http.client.HTTPException)):
        _read_event(response, time.monotonic() + 5)
    connection.close()


def test_a_client_leaving_the_stream_does_not_disturb_the_inbox(inbox: Inbox) -> None:
    parts = urlsplit(inbox.url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as raw:
        raw.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    send(inbox, {"event": "after", "distinct_id": "d"})  # its write fails; the thread ends
    assert api(inbox, "/api/events")["events"][0]["event"] == "after"
