"""Every example program, run as a user would against the local inbox, and the demo itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posthog_exceptions.__main__ import main as cli
from posthog_exceptions.inbox import Inbox
from posthog_exceptions.inbox._issues import format_traceback, load_issues

from .wire_validator import validate_event

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(db=tmp_path / "inbox.sqlite3") as running:
        yield running


def db_of(inbox: Inbox) -> str:
    path = inbox.store.path
    assert path is not None
    return path


def run_example(inbox: Inbox, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    env.update(POSTHOG_API_KEY="phc_example", POSTHOG_HOST=inbox.url, PYTHONWARNINGS="error")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def stored(inbox: Inbox, event: str | None = None) -> list[dict[str, Any]]:
    rows = inbox.events(event=event)
    for row in rows:
        validate_event(
            {k: row[k] for k in ("event", "distinct_id", "uuid", "timestamp", "properties")}
        )
    return rows


def test_manual_capture(inbox: Inbox) -> None:
    result = run_example(inbox, "manual_capture.py")
    assert result.returncode == 0, result.stderr
    assert [e["event"] for e in stored(inbox)] == [
        "$identify",
        "cart_viewed",
        "$create_alias",
        "$exception",
    ]
    (error,) = stored(inbox, "$exception")
    assert error["uuid"] in result.stdout
    props = error["properties"]
    assert props["form"] == "checkout"
    assert props["$exception_list"][0]["mechanism"]["handled"] is True
    assert props["$exception_list"][0]["stacktrace"]["frames"][-1]["function"] == "parse_quantity"


def test_decorator(inbox: Inbox) -> None:
    result = run_example(inbox, "decorator.py")
    assert result.returncode == 0, result.stderr
    assert "carried on" in result.stdout
    (error,) = stored(inbox, "$exception")
    props = error["properties"]
    assert props["$exception_source"] == "python.decorator"
    assert props["job"] == "nightly-invoices"
    assert props["$exception_list"][0]["stacktrace"]["frames"][-1]["function"] == "send_invoices"


def test_thread_crash(inbox: Inbox) -> None:
    result = run_example(inbox, "thread_crash.py")
    assert result.returncode == 0, result.stderr
    assert "Exception in thread thumbnailer" in result.stderr
    (error,) = stored(inbox, "$exception")
    assert error["properties"]["$thread_name"] == "thumbnailer"


def test_unhandled_crash_is_grouped_and_shown(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    for order in ("1001", "2002"):
        result = run_example(inbox, "unhandled_crash.py", order)
        assert result.returncode == 1
        assert f"PaymentDeclined: card declined for order {order}" in result.stderr
    errors = stored(inbox, "$exception")
    assert len(errors) == 2
    assert len({e["properties"]["$exception_fingerprint"] for e in errors}) == 1
    (issue,) = load_issues(db_of(inbox))
    assert issue.count == 2
    assert cli(["issues", "--db", db_of(inbox)]) == 0
    listing = capsys.readouterr().out
    assert f"{issue.fingerprint}      2  PaymentDeclined" in listing
    raise_line = _line_of(EXAMPLES / "unhandled_crash.py", "raise PaymentDeclined")
    assert f"unhandled_crash.py:{raise_line} in charge" in listing
    assert cli(["show", issue.fingerprint[:8], "--db", db_of(inbox)]) == 0
    shown = capsys.readouterr().out
    assert f'File "unhandled_crash.py", line {raise_line}, in charge' in shown
    assert shown.rstrip().endswith("PaymentDeclined: card declined for order 2002 (42 EUR)")


def test_traceback_printing_follows_python_order() -> None:
    props = {
        "$exception_list": [
            {"type": "RuntimeError", "value": "top", "mechanism": {"type": "generic"}},
            {
                "type": "KeyError",
                "value": "'k'",
                "mechanism": {"type": "chained", "source": "cause"},
                "stacktrace": {
                    "type": "raw",
                    "frames": [
                        {"filename": "a.py", "lineno": 3, "function": "f", "context_line": "x[k]"}
                    ],
                },
            },
        ]
    }
    text = format_traceback(props)
    assert (
        text.index("KeyError: 'k'") < text.index("direct cause") < text.index("RuntimeError: top")
    )
    assert 'File "a.py", line 3, in f\n    x[k]' in text


def test_show_unknown_fingerprint(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    run_example(inbox, "decorator.py")
    assert cli(["show", "ffffffff", "--db", db_of(inbox)]) == 1
    assert "no groups match" in capsys.readouterr().err


def test_the_demo_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "local inbox listening on http://127.0.0.1:" in out
    assert "$identify" in out
    assert "      2  PaymentDeclined" in out  # two crashes, one group
    assert "Traceback (most recent call last):" in out
    # not a terminal: it ends (rather than serving on) by printing the page's address
    last = out.strip().splitlines()[-1]
    assert last.startswith("open http://127.0.0.1:") and last.endswith("/ to see the errors")


@pytest.mark.parametrize(
    ("script", "source", "route", "distinct_id", "value"),
    [
        (
            "django_app.py",
            "django.middleware",
            "invoices/<int:invoice_id>/",
            "user-12",
            "invoice 12",
        ),
        (
            "flask_app.py",
            "flask.got_request_exception",
            "/orders/<int:order_id>",
            "user-42",
            "order 7",
        ),
        (
            "fastapi_app.py",
            "starlette.middleware",
            "/items/{item_id}",
            "u-7",
            "no price for item 3",
        ),
    ],
)
def test_web_framework_apps(
    inbox: Inbox, script: str, source: str, route: str, distinct_id: str, value: str
) -> None:
    result = run_example(inbox, script, "--once")
    assert result.returncode == 0, result.stderr
    assert "answered 500" in result.stdout
    (error,) = stored(inbox, "$exception")  # the 404 of the FastAPI app is not sent
    assert error["distinct_id"] == distinct_id
    props = error["properties"]
    entry = props["$exception_list"][0]
    assert entry["mechanism"]["type"] == "middleware"
    assert props["$exception_source"] == source
    assert entry["mechanism"]["handled"] is False
    assert value in entry["value"]
    assert props["$request_route"] == route
    assert props["$request_method"] == "GET"
    assert "?" not in props["$current_url"] and "abc" not in str(props)


def test_a_browser_session_reaches_the_backend_error_and_show_prints_it(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_example(inbox, "session_replay.py", "--once")
    assert result.returncode == 0, result.stderr
    assert "the app answered 500" in result.stdout
    (error,) = stored(inbox, "$exception")
    session = "01937a2e-6b5c-7c3f-a1d2-5e8f9b0c4d11"
    props = error["properties"]
    assert error["distinct_id"] == "customer-1017"
    assert props["$session_id"] == session
    assert props["$window_id"] == "01937a2e-6b5c-7c3f-a1d2-5e8f9b0c4d12"
    assert (props["plan"], props["api_version"]) == ("pro", "2024-06")
    assert props["$exception_source"] == "flask.got_request_exception"
    assert props["$request_route"] == "/checkout/<int:cart_id>"
    (issue,) = load_issues(db_of(inbox))
    assert cli(["show", issue.fingerprint[:8], "--db", db_of(inbox)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "person:  customer-1017" in shown
    assert f"session: {session}" in shown
    assert 'tags:    plan="pro", api_version="2024-06"' in shown
    assert shown[-1] == "RuntimeError: cart 88: payment provider timed out"
