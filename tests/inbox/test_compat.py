"""What browsers and PostHog's SDKs send, as they send it, to a real inbox on 127.0.0.1.

posthog-js's bodies are built here the way its ``request.ts`` builds them: form
``data=`` with ``encodeURIComponent(base64(json))`` for ``compression=base64``,
lz-string and fflate output (made by the JavaScript originals, see ``test_lz.py``)
for ``lz64`` and ``gzip-js``, plain JSON through ``sendBeacon`` with ``?beacon=1``.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from posthog_exceptions.inbox import Inbox

from .test_server import KEY, U1, U2, Response, _connect, assert_plain_text, event, post

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "lz_vectors.json").read_text(encoding="utf-8")
)

JS_SAFE = "-_.!~*'()"
"""The characters encodeURIComponent leaves alone."""


def js_form(data: str) -> bytes:
    """``'data=' + encodeURIComponent(data)``, as posthog-js writes a form body."""
    return ("data=" + quote(data, safe=JS_SAFE)).encode("ascii")


def js_base64(payload: Any) -> str:
    return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")


def send(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Response, dict[str, str]]:
    """One request on a fresh connection: the response and its headers (lower-case names)."""
    conn = _connect(url)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        raw = conn.getresponse()
        text = raw.read().decode("utf-8")
        found = {name.lower(): value for name, value in raw.getheaders()}
        return Response(raw.status, text, raw.getheader("Content-Type", ""), ""), found
    finally:
        conn.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Any:
    with Inbox(db=tmp_path / "inbox.sqlite3") as running:
        yield running


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BATCH = json.loads(VECTORS["batch"])  # two posthog-js events: $pageview, $exception


# -- 1. lone surrogate escapes ------------------------------------------------------------


def test_lone_surrogate_escapes_become_replacement_characters(inbox: Inbox) -> None:
    """posthog-python writes a file name that is not UTF-8 as a lone surrogate escape."""
    payload = {"api_key": KEY, **event(properties={"file": "caf\udce9.txt", "\ud800k": "\udfff"})}
    body = json.dumps(payload).encode("ascii")
    assert b"\\udce9" in body
    assert post(inbox.url, "/batch/", body, raw=True).status == 200
    [row] = inbox.events()
    assert row["properties"] == {"file": "caf\ufffd.txt", "\ufffdk": "\ufffd"}
    with contextlib.closing(sqlite3.connect(str(inbox.store.path))) as db:  # (closes it)
        [(data,)] = db.execute("SELECT CAST(data AS BLOB) FROM events").fetchall()
    assert "caf\ufffd.txt" in data.decode("utf-8")  # valid UTF-8: strict decoding passes
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "posthog_exceptions",
            "events",
            "--json",
            "--db",
            str(inbox.store.path),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert "caf\ufffd.txt" in printed.stdout.decode("utf-8")


def test_a_valid_surrogate_pair_is_kept(inbox: Inbox) -> None:
    body = json.dumps({"api_key": KEY, **event(properties={"emoji": "\U0001f389"})}).encode()
    assert b"\\ud83c\\udf89" in body
    assert post(inbox.url, "/e/", body, raw=True).status == 200
    assert inbox.events()[0]["properties"]["emoji"] == "\U0001f389"


# -- 2. encodings, paths and CORS ---------------------------------------------------------


def _posthog_js_requests() -> dict[str, tuple[str, str, bytes, dict[str, str]]]:
    b64 = js_base64(BATCH)
    return {
        "form-base64": ("POST", "/e/?compression=base64&ver=1.200.0&_=1", js_form(b64), FORM),
        "form-lz64": (
            "POST",
            "/e/?compression=lz64&ver=1.100.0",
            VECTORS["form_lz64_body"].encode(),
            FORM,
        ),
        "form-plain-json": ("POST", "/batch/", js_form(VECTORS["batch"]), FORM),
        "gzip-js": (
            "POST",
            "/e/?compression=gzip-js&ver=1.200.0",
            base64.b64decode(VECTORS["gzip_js_base64"]),
            {"Content-Type": "text/plain"},
        ),
        "raw-base64": ("POST", "/batch/", b64.encode(), {"Content-Type": "text/plain"}),
        "raw-lz64": (
            "POST",
            "/i/v0/e/?compression=lz64",
            unquote(VECTORS["form_lz64_body"][len("data=") :]).encode(),
            {"Content-Type": "text/plain"},
        ),
        "get-data": ("GET", "/e/?data=" + quote(VECTORS["batch"], safe=JS_SAFE), b"", {}),
        "get-data-base64": ("GET", "/e/?data=" + quote(b64, safe=JS_SAFE), b"", {}),
        "track": ("POST", "/track/", VECTORS["batch"].encode(), {}),
        "deflate": (
            "POST",
            "/batch",
            zlib.compress(VECTORS["batch"].encode()),
            {"Content-Encoding": "deflate"},
        ),
    }


@pytest.mark.parametrize("case", sorted(_posthog_js_requests()))
def test_every_posthog_js_encoding_is_accepted(inbox: Inbox, case: str) -> None:
    method, path, body, headers = _posthog_js_requests()[case]
    response, _ = send(inbox.url, method, path, body or None, headers)
    assert (response.status, response.body) == (200, '{"status": 1}'), response
    rows = inbox.events()
    assert [row["event"] for row in rows] == ["$pageview", "$exception"]
    assert rows[0]["properties"]["title"] == "Ünïcødé 🎉"
    assert {row["api_key"] for row in rows} == {KEY}


def test_form_base64_with_unescaped_pluses(inbox: Inbox) -> None:
    """Old SDKs leave base64's '+' unescaped: the form decoding makes it a space."""
    payload = {"api_key": KEY, **event(properties={"q": "~~~>>>"})}  # base64 with '+'
    b64 = js_base64(payload)
    assert "+" in b64
    response, _ = send(inbox.url, "POST", "/e/", f"data={b64}".encode(), FORM)
    assert response.status == 200, response
    assert inbox.events()[0]["properties"] == {"q": "~~~>>>"}


def test_send_beacon_gets_204(inbox: Inbox) -> None:
    response, _ = send(
        inbox.url,
        "POST",
        "/e/?beacon=1&ver=1.200.0",
        VECTORS["batch"].encode(),
        {"Content-Type": "application/json"},
    )
    assert (response.status, response.body) == (204, "")
    assert inbox.store.count() == 2


def test_engage_names_an_event_without_a_name_identify(inbox: Inbox) -> None:
    body = json.dumps({"api_key": KEY, "distinct_id": "u", "$set": {"email": "a@b.c"}}).encode()
    assert send(inbox.url, "POST", "/engage/", body)[0].status == 200
    [row] = inbox.events()
    assert (row["event"], row["distinct_id"]) == ("$identify", "u")


@pytest.mark.parametrize(
    ("where", "name"),
    [("query", "br"), ("header", "br"), ("header", "zstd"), ("form", "snappy")],
)
def test_an_unsupported_compression_is_400_naming_it(inbox: Inbox, where: str, name: str) -> None:
    path, headers, body = "/batch/", {}, VECTORS["batch"].encode()
    if where == "query":
        path += f"?compression={name}"
    elif where == "header":
        headers = {"Content-Encoding": name}
    else:
        headers, body = FORM, js_form(VECTORS["batch"]) + f"&compression={name}".encode()
    response, _ = send(inbox.url, "POST", path, body, headers)
    assert_plain_text(response, 400)
    assert response.body.startswith(f"unsupported compression: {name}")


def test_empty_get_is_400_not_a_json_error(inbox: Inbox) -> None:
    response, _ = send(inbox.url, "GET", "/e/")
    assert_plain_text(response, 400)
    assert "data=" in response.body


ORIGIN = "http://localhost:5173"


@pytest.mark.parametrize("path", ["/e/", "/i/v0/e/", "/batch/", "/flags/?v=2", "/decide/"])
def test_cors_preflight(inbox: Inbox, path: str) -> None:
    response, headers = send(
        inbox.url,
        "OPTIONS",
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-posthog-session-id",
        },
    )
    assert response.status in (200, 204)
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type,x-posthog-session-id"
    assert int(headers["access-control-max-age"]) > 0


def test_every_answer_carries_cors_headers(inbox: Inbox) -> None:
    body = json.dumps({"api_key": KEY, **event()}).encode()
    answers = [
        send(inbox.url, "POST", "/e/", body, {"Origin": ORIGIN}),
        send(inbox.url, "POST", "/e/", b"{", {"Origin": ORIGIN}),  # a 400
        send(inbox.url, "GET", "/nothing", headers={"Origin": ORIGIN}),  # a 404
        send(inbox.url, "PUT", "/e/", headers={"Origin": ORIGIN}),  # http.server's own 501
    ]
    assert [response.status for response, _ in answers] == [200, 400, 404, 501]
    for _, headers in answers:
        assert headers["access-control-allow-origin"] == ORIGIN
        assert headers["access-control-allow-credentials"] == "true"
    _, without_origin = send(inbox.url, "POST", "/e/", body)
    assert without_origin["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in without_origin


# -- 4. feature flags, as the SDKs ask ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/flags/?v=2&config=true", js_form(js_base64({"token": KEY})), FORM),
        ("POST", "/flags/?v=4", json.dumps({"api_key": KEY, "distinct_id": "u"}).encode(), {}),
        ("POST", "/decide/?v=3", js_form(js_base64({"token": KEY})), FORM),
        ("GET", "/flags/?v=2", None, {}),
        ("GET", "/decide", None, {}),
    ],
    ids=["js-flags", "python-flags", "js-decide", "get-flags", "get-decide"],
)
def test_flags_answer_no_flags(
    inbox: Inbox, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> None:
    response, _ = send(inbox.url, method, path, body, headers)
    assert response.status == 200
    assert response.content_type == "application/json"
    answer = json.loads(response.body)
    assert answer["flags"] == answer["featureFlags"] == answer["featureFlagPayloads"] == {}
    assert answer["errorsWhileComputingFlags"] is False
    assert answer["sessionRecording"] is False
    assert set(answer["supportedCompression"]) <= {"gzip", "gzip-js", "lz64"}
    assert isinstance(answer["requestId"], str)
    assert inbox.store.count() == 0


# -- 5. validation as PostHog's --------------------------------------------------------------


def test_dollar_token_and_dollar_distinct_id_are_accepted(inbox: Inbox) -> None:
    payloads = [
        {"$token": KEY, "event": "e", "$distinct_id": "d1"},
        [{"$token": KEY, "event": "e", "$distinct_id": "d2", "properties": {}}],
        {"$token": KEY, "batch": [{"event": "e", "$distinct_id": "d3"}]},
    ]
    for payload in payloads:
        assert post(inbox.url, "/batch/", payload).status == 200, payload
    assert [(row["distinct_id"], row["api_key"]) for row in inbox.events()] == [
        ("d1", KEY),
        ("d2", KEY),
        ("d3", KEY),
    ]


def test_uuid_spellings_postHog_accepts(inbox: Inbox) -> None:
    for uuid in (U1, U1.upper(), U1.replace("-", ""), "{" + U1 + "}", "urn:uuid:" + U1, ""):
        assert post(inbox.url, "/e/", {"api_key": KEY, **event(uuid=uuid)}).status == 200, uuid


def _nested(levels: int) -> bytes:
    """An event whose whole body nests ``levels`` deep (the body itself is level 1)."""
    inner = "[" * (levels - 2) + "]" * (levels - 2)
    head = f'{{"api_key": "{KEY}", "event": "e", "distinct_id": "d", "properties": {{"x": '
    return (head + inner + "}}").encode()


def test_127_levels_are_accepted(inbox: Inbox) -> None:
    assert post(inbox.url, "/e/", _nested(127), raw=True).status == 200


BAD: dict[str, tuple[bytes, str]] = {
    "uuid-words": (
        json.dumps({"api_key": KEY, **event(uuid="u-1")}).encode(),
        "invalid uuid: 'u-1'",
    ),
    "uuid-number": (json.dumps({"api_key": KEY, **event(uuid=7)}).encode(), "invalid uuid: 7"),
    "uuid-short": (
        json.dumps({"api_key": KEY, **event(uuid=U1[:-1])}).encode(),
        "invalid uuid",
    ),
    "float-1e400": (
        b'{"api_key": "%s", "event": "e", "distinct_id": "d", "properties": {"x": 1e400}}'
        % KEY.encode(),
        "number out of range",
    ),
    "int-400-digits": (
        b'{"api_key": "%s", "event": "e", "distinct_id": "d", "properties": {"x": %s}}'
        % (KEY.encode(), b"9" * 400),
        "number out of range",
    ),
    "depth-128": (_nested(128), "nested deeper than 127 levels"),
    "depth-900": (_nested(900), "nested deeper than 127 levels"),
    "depth-100000": (_nested(100_000), "nested deeper than 127 levels"),
    "depth-100000-open": (b"[" * 100_000, "nested deeper than 127 levels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_postHog_refuses_these_so_the_inbox_does(inbox: Inbox, case: str) -> None:
    body, message = BAD[case]
    response = post(inbox.url, "/batch/", body, raw=True)
    assert_plain_text(response, 400)
    assert message in response.body, response.body
    assert "Recursion" not in response.body
    assert inbox.store.count() == 0


def test_brackets_inside_strings_do_not_count_as_nesting(inbox: Inbox) -> None:
    payload = {"api_key": KEY, **event(properties={"code": "[" * 500 + "{" * 500})}
    assert post(inbox.url, "/e/", payload).status == 200


def test_gzip_body_of_a_deep_payload_is_still_refused(inbox: Inbox) -> None:
    body = gzip.compress(_nested(200))
    response = post(inbox.url, "/e/", body, {"Content-Encoding": "gzip"}, raw=True)
    assert_plain_text(response, 400)
    assert "nested deeper" in response.body


# -- 4. capture v1, as posthog-python's capture_mode="v1" sends it --------------------------

V1 = "/i/v1/analytics/events"


def _v1_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {KEY}",
        "PostHog-Sdk-Info": "posthog-python/7.91.1",
        "PostHog-Attempt": "1",
        "PostHog-Request-Id": U1,
    }
    headers.update(overrides)
    return {name: value for name, value in headers.items() if value}


def _v1_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"created_at": "2026-01-01T00:00:00Z", "batch": list(events)}).encode()


def _v1_event(**overrides: Any) -> dict[str, Any]:
    return {
        "event": "e",
        "uuid": U1,
        "distinct_id": "d",
        "timestamp": "2026-01-01T00:00:00Z",
        "options": {},
        "properties": {"plan": "pro"},
        **overrides,
    }


def test_v1_answers_per_event_results(inbox: Inbox) -> None:
    body = _v1_body(_v1_event(session_id="s"), _v1_event(uuid=U2))
    response, _ = send(
        inbox.url, "POST", V1, gzip.compress(body), _v1_headers(**{"Content-Encoding": "gzip"})
    )
    assert response.status == 200, response
    assert json.loads(response.body) == {"results": {U1: {"result": "ok"}, U2: {"result": "ok"}}}
    first, second = inbox.events()
    assert first["properties"] == {
        "plan": "pro",
        "$session_id": "s",
        "$lib": "posthog-python",
        "$lib_version": "7.91.1",
    }
    assert (second["uuid"], second["api_key"]) == (U2, KEY)


@pytest.mark.parametrize(
    ("headers", "body", "status", "tag"),
    [
        (_v1_headers(Authorization=""), _v1_body(_v1_event()), 400, "missing_required_headers"),
        (_v1_headers(Authorization="Basic x"), _v1_body(_v1_event()), 400, "invalid_header_value"),
        (
            _v1_headers(Authorization="Bearer phx_p"),
            _v1_body(_v1_event()),
            401,
            "invalid_api_token",
        ),
        (_v1_headers(**{"Content-Encoding": "br"}), b"x", 415, "unsupported_encoding"),
        (_v1_headers(), _v1_body(), 400, "empty_batch"),
        (_v1_headers(), _v1_body(_v1_event(uuid="u-1")), 400, "missing_event_uuid"),
        (_v1_headers(), _v1_body(_v1_event(), _v1_event()), 400, "duplicate_event_uuid"),
        (_v1_headers(), _v1_body(_v1_event(timestamp=None)), 400, "invalid_event_timestamp"),
        (_v1_headers(), _v1_body(_v1_event(properties=[])), 400, "malformed_event_properties"),
        (_v1_headers(), b"[" * 200, 400, "request_parsing_error"),
    ],
    ids=[
        "no-auth",
        "not-bearer",
        "personal-key",
        "brotli",
        "empty",
        "bad-uuid",
        "duplicate-uuid",
        "no-timestamp",
        "properties-list",
        "too-deep",
    ],
)
def test_v1_errors_are_json_as_posthog_writes_them(
    inbox: Inbox, headers: dict[str, str], body: bytes, status: int, tag: str
) -> None:
    response, _ = send(inbox.url, "POST", V1, body, headers)
    assert response.status == status, response
    answer = json.loads(response.body)
    assert answer["error"] == tag
    assert answer["error_description"]
    assert inbox.store.count() == 0
