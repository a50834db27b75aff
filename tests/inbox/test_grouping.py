"""``issues`` and ``show`` group events without ``$exception_fingerprint`` the way PostHog's
cymbal does: events go to a real inbox over HTTP and are read back through the CLI.

The automatic key, as the tests rely on it (v2, what PostHog gives a new issue): one
SHA-512 (lowercase hex) over the concatenated UTF-8 pieces, for each exception in list
order: the type; the message only when the exception has no stacktrace (v2 masks its
quoted text, hex ids and numbers); then every frame's source file (base name, query
string dropped, build hashes masked as ``*``), module, and function name — or, for a
frame with no resolved name, its raw name and language (v1 adds its line and column).
posthog-python's list is reversed first. v1 keeps only the in-app frames (the first frame
when none is in-app) and normalises nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from posthog_exceptions.__main__ import main
from posthog_exceptions.inbox import Inbox
from posthog_exceptions.inbox._grouping import fingerprint_of

KEY = "phc_grouping_key"


def _sha512(*pieces: str) -> str:
    return hashlib.sha512("".join(pieces).encode()).hexdigest()


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(db=tmp_path / "inbox.sqlite3") as running:
        yield running


def _db(inbox: Inbox) -> str:
    return str(inbox._db)


def _post(inbox: Inbox, properties: list[dict[str, Any]]) -> None:
    batch = [
        {"event": "$exception", "distinct_id": f"user-{i}", "properties": props}
        for i, props in enumerate(properties)
    ]
    host, port = inbox.url.rsplit("/", 1)[-1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = json.dumps({"api_key": KEY, "batch": batch}).encode()
        conn.request("POST", "/batch/", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()


def _issues(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """``{fingerprint: occurrences}`` as ``python -m posthog_exceptions issues`` lists them."""
    assert main(["issues", "--db", _db(inbox)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FINGERPRINT")
    return {line.split()[0]: int(line.split()[1]) for line in lines[1:]}


def _show(inbox: Inbox, prefix: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["show", prefix, "--db", _db(inbox)]) == 0
    return capsys.readouterr().out


# ---- the algorithm, against known vectors ------------------------------------------------


def _python_frame(filename: str, function: str, lineno: int) -> dict[str, Any]:
    return {"platform": "python", "filename": filename, "function": function, "lineno": lineno}


CART = {"module": "shop.cart", "abs_path": "/srv/shop/cart.py", "in_app": True}
REQUESTS = {
    "module": "requests.api",
    "abs_path": "/venv/lib/python3.12/site-packages/requests/api.py",
    "in_app": True,  # the client thought so; the server demotes installed packages
}
CHAIN = [
    {
        "type": "ValueError",
        "value": "bad quantity 42",
        "stacktrace": {
            "type": "raw",
            "frames": [
                {**_python_frame("shop/cart.py", "checkout", 10), **CART},
                {**_python_frame("requests/api.py", "get", 5), **REQUESTS},
            ],
        },
    },
    {"type": "KeyError", "value": "'sku-1' at 0xdeadbeef"},  # no stacktrace: message counts
]


def test_the_automatic_key_hashes_type_frames_and_stackless_messages_in_order() -> None:
    v2 = _sha512(
        "ValueError",  # the message of an exception with frames is not hashed
        *("cart.py", "shop.cart", "checkout"),  # base name, module, function; no line
        *("api.py", "requests.api", "get"),  # v2 hashes every frame
        "KeyError",
        "'*' at *",  # quoted text and hex masked
    )
    assert fingerprint_of({"$exception_list": CHAIN, "$lib": "posthog-exceptions"}) == v2
    v1 = _sha512(
        "ValueError",
        *("shop/cart.py", "shop.cart", "checkout"),  # the site-packages frame is not in-app
        "KeyError",
        "'sku-1' at 0xdeadbeef",
    )
    assert fingerprint_of({"$exception_list": CHAIN}, version="v1") == v1
    # cymbal reverses posthog-python's list before hashing (its old root-cause-first order)
    reversed_v2 = _sha512(
        "KeyError",
        "'*' at *",
        "ValueError",
        *("cart.py", "shop.cart", "checkout"),
        *("api.py", "requests.api", "get"),
    )
    assert fingerprint_of({"$exception_list": CHAIN, "$lib": "posthog-python"}) == reversed_v2
    assert reversed_v2 != v2


def test_the_key_matches_cymbals_own_fixture() -> None:
    """cymbal's fingerprinting tests pin these two values for this exception (v1, v2)."""
    frames: list[dict[str, Any]] = [
        {"function": "bar", "filename": "http://example.com/alpha/foo.js", "lineno": 10},
        {"function": "baz", "filename": "http://example.com/bar.js", "module": "app.module"},
    ]
    exception = {
        "type": "TypeError",
        "value": "Cannot read property 'foo' of undefined",
        "stacktrace": {
            "type": "raw",
            "frames": [
                {**f, "platform": "custom", "lang": "javascript", "resolved": True} for f in frames
            ],
        },
    }
    props = {"$exception_list": [exception]}
    assert fingerprint_of(props, version="v1").startswith("d03a8ead4f42a8a315039e016979d6de")
    assert fingerprint_of(props).startswith("444724bab3c0330331620497546290ef")


def test_minified_browser_frames_are_keyed_by_raw_name_and_language() -> None:
    frame = {
        "platform": "web:javascript",
        "filename": "https://app.example.com/static/chunk-PGUQKT6S.js:64:25112",
        "function": "eF",
        "lineno": 64,
        "colno": 25112,  # past column 300 with no source map: minified
        "in_app": True,
    }
    props = {"$exception_list": [{"type": "TypeError", "stacktrace": {"frames": [frame]}}]}
    v1 = _sha512("TypeError", "/static/chunk-PGUQKT6S.js", "eF", "64", "25112", "javascript")
    assert fingerprint_of(props, version="v1") == v1
    assert fingerprint_of(props) == _sha512("TypeError", "chunk-*.js", "eF", "javascript")


def test_a_client_fingerprint_wins_and_a_long_one_is_hashed() -> None:
    assert fingerprint_of({"$exception_fingerprint": "my-key", "$exception_list": CHAIN}) == (
        "my-key"
    )
    long = "k" * 65
    assert fingerprint_of({"$exception_fingerprint": long}) == _sha512(long)
    with pytest.raises(ValueError, match="v9"):
        fingerprint_of({}, version="v9")
