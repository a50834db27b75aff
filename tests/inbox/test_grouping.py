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
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

import posthog_exceptions
from posthog_exceptions.__main__ import main
from posthog_exceptions.inbox import Inbox
from posthog_exceptions.inbox._grouping import fingerprint_of

KEY = "phc_grouping_key"
PYTHON_WITH_POSTHOG_ENV = "PYTHON_WITH_POSTHOG"


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
    """``{fingerprint: occurrences}`` as ``python -m posthog_exceptions issues`` lists them
    (a key cut to fit its column is read back in full with ``show``, by its prefix)."""
    assert main(["issues", "--db", _db(inbox)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FINGERPRINT")
    listed = {line.split()[0]: int(line.split()[1]) for line in lines[1:]}
    assert all(len(key) <= 32 for key in listed)
    full = {}
    for key, count in listed.items():
        prefix = key[:-3] if key.endswith("...") else key
        full[_show(inbox, prefix, capsys).split(":", 1)[0]] = count
    return full


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


# ---- posthog-python, the real SDK, against the inbox ------------------------------------

BUG_TYPES = ("ValueError", "KeyError", "TypeError", "LookupError", "RuntimeError", "OSError")
BUGS_MODULE = "".join(
    f"def bug_{i:02d}(attempt):\n"
    f"    raise {BUG_TYPES[i % len(BUG_TYPES)]}(f'bug {i} failed on attempt {{attempt}}')\n\n\n"
    for i in range(19)
) + textwrap.dedent(
    """
    def flaky(n):
        if n == 0:
            raise ConnectionError("db timeout after 3s")
        if n == 1:
            raise ConnectionError("db refused the connection")
        raise ConnectionError(f"db gone ({n})")


    BUGS = [value for name, value in sorted(globals().items()) if name.startswith("bug_")]
    """
)
POSTHOG_PYTHON_PROGRAM = textwrap.dedent(
    """
    import sys

    from posthog import Posthog

    import shop_bugs

    client = Posthog("phc_x", host=sys.argv[1], sync_mode=True)
    for bug in shop_bugs.BUGS:
        for attempt in range(2):  # the same bug twice, with another message
            try:
                bug(attempt)
            except Exception as exc:
                client.capture_exception(exc, distinct_id=f"user-{attempt}")
    for n in range(3):  # one bug raised from three lines of one function
        try:
            shop_bugs.flaky(n)
        except Exception as exc:
            client.capture_exception(exc, distinct_id="user-flaky")
    client.shutdown()
    """
)


def _python_with_posthog() -> str | None:
    """This interpreter if posthog-python is importable, else ``$PYTHON_WITH_POSTHOG``."""
    if importlib.util.find_spec("posthog") is not None:
        return sys.executable
    return os.environ.get(PYTHON_WITH_POSTHOG_ENV) or None


def test_posthog_python_events_group_into_one_issue_per_bug(
    inbox: Inbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = _python_with_posthog()
    if python is None:
        pytest.skip(
            "posthog-python is not importable here: pip install posthog==7.91.1, or set "
            f"${PYTHON_WITH_POSTHOG_ENV} to an interpreter that has it"
        )
    (tmp_path / "shop_bugs.py").write_text(BUGS_MODULE)
    (tmp_path / "program.py").write_text(POSTHOG_PYTHON_PROGRAM)
    result = subprocess.run(
        [python, "program.py", inbox.url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = inbox.wait_for(19 * 2 + 3, event="$exception")
    assert all(e["properties"]["$lib"] == "posthog-python" for e in events)
    assert not any("$exception_fingerprint" in e["properties"] for e in events)

    issues = _issues(inbox, capsys)
    assert sorted(issues.values()) == [2] * 19 + [3]  # 19 bugs, each message kept together
    assert all(len(key) == 128 for key in issues)
    [flaky] = [key for key, count in issues.items() if count == 3]
    shown = _show(inbox, flaky[:12], capsys)
    assert shown.startswith(f"{flaky}: 3 occurrence(s)")
    assert ", in flaky" in shown
    assert shown.rstrip().endswith("ConnectionError: db gone (2)")


# ---- posthog-js-shaped events -------------------------------------------------------------


def _js_frame(url: str, function: str, line: int, column: int, in_app: bool = True) -> Any:
    return {
        "platform": "web:javascript",
        "filename": url,
        "function": function,
        "lineno": line,
        "colno": column,
        "in_app": in_app,
    }


def _js_error(kind: str, message: str, frames: list[Any] | None = None) -> dict[str, Any]:
    """An ``$exception`` event's properties as posthog-js sends them (entry frame first)."""
    exception: dict[str, Any] = {
        "type": kind,
        "value": message,
        "mechanism": {"handled": False, "synthetic": False, "type": "onerror"},
    }
    if frames is not None:
        exception["stacktrace"] = {"type": "raw", "frames": frames}
    return {"$exception_list": [exception], "$lib": "web", "$lib_version": "1.260.1"}


def _minified_checkout(deploy: str, vendor: str, column: int, message: str) -> dict[str, Any]:
    site = "https://app.example.com/static"
    return _js_error(
        "TypeError",
        message,
        [
            _js_frame(f"{site}/vendor-{vendor}.js", "r", 2, 1200, in_app=False),
            _js_frame(f"{site}/chunk-{deploy}.js", "eF", 64, column),
        ],
    )


def _dev_cart(function: str, stamp: int, line: int, kind: str = "RangeError") -> dict[str, Any]:
    url = f"http://localhost:3000/src/cart.js?t={stamp}"
    return _js_error(kind, f"{function} failed", [_js_frame(url, function, line, 13)])


def test_posthog_js_events_group_like_cymbal_without_source_maps(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    reading = "Cannot read properties of undefined (reading '{}')"
    checkout = [  # a minified bundle before and after a deploy: one bug
        _minified_checkout("PGUQKT6S", "9F3A2B7C", 25112, reading.format("total")),
        _minified_checkout("Z9XW4B2Q", "1A2B3C4D", 25140, reading.format("items")),
    ]
    coupon = [_dev_cart("applyCoupon", 1700000000, 42), _dev_cart("applyCoupon", 1700000999, 44)]
    others = [
        _dev_cart("removeItem", 1700000000, 80),  # another function: another bug
        _dev_cart("applyCoupon", 1700000000, 42, kind="TypeError"),  # another type
        _js_error("Error", "Request timed out after 30000ms"),  # no stack: the message counts,
        _js_error("Error", "Request timed out after 15000ms"),  # its numbers masked
        _js_error("Error", "Network request failed"),
    ]
    _post(inbox, checkout + coupon + others)
    inbox.wait_for(9, event="$exception")

    issues = _issues(inbox, capsys)
    assert sorted(issues.values()) == [1, 1, 1, 2, 2, 2]
    for pair in (checkout, coupon, others[2:4]):
        assert fingerprint_of(pair[0]) == fingerprint_of(pair[1])
        assert issues[fingerprint_of(pair[0])] == 2
    shown = _show(inbox, fingerprint_of(coupon[0])[:10], capsys)
    assert 'File "http://localhost:3000/src/cart.js?t=1700000999", line 44' in shown


# ---- this library's own events -----------------------------------------------------------


def _charge(order: int) -> None:
    if order % 2:
        raise ValueError(f"card declined for order {order}")
    raise ValueError(f"card expired for order {order}")  # another line, another message


def _ship(order: int) -> None:
    raise LookupError(f"no address for order {order}")


def _refund(order: int) -> None:
    try:
        _charge(order)
    except ValueError as exc:
        raise RuntimeError(f"refund of order {order} failed") from exc


def _capture_bugs(client: posthog_exceptions.Client) -> None:
    for bug, orders in ((_charge, range(1, 5)), (_ship, range(1, 3)), (_refund, range(1, 3))):
        for order in orders:
            try:
                bug(order)
            except Exception as exc:
                client.capture_exception(exc)
    assert client.flush(timeout=10)


def test_own_events_with_posthog_grouping_group_by_the_servers_key(
    inbox: Inbox, make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _capture_bugs(make_client(inbox.url, api_key=KEY, grouping="posthog"))
    events = inbox.wait_for(8, event="$exception")
    props = [e["properties"] for e in events]
    assert not any("$exception_fingerprint" in p for p in props)
    issues = _issues(inbox, capsys)
    assert sorted(issues.values()) == [2, 2, 4]  # charge, ship, refund
    assert set(issues) == {fingerprint_of(p) for p in props}
    assert not set(issues) & {p["$exception_client_fingerprint"] for p in props}
    shown = _show(inbox, fingerprint_of(props[0])[:12], capsys)
    assert "4 occurrence(s)" in shown
    assert shown.rstrip().endswith("ValueError: card expired for order 4")


def test_own_events_with_client_grouping_keep_their_fingerprint(
    inbox: Inbox, make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _capture_bugs(make_client(inbox.url, api_key=KEY))
    events = inbox.wait_for(8, event="$exception")
    issues = _issues(inbox, capsys)
    assert set(issues) == {e["properties"]["$exception_fingerprint"] for e in events}
    assert sorted(issues.values()) == [2, 2, 4]
