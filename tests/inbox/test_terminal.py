"""The CLI prints what came in events with control characters made visible: an event
cannot clear the developer's screen or print fake output (stdout captured as bytes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from posthog_exceptions.inbox import EventStore
from posthog_exceptions.inbox._terminal import json_line, visible

ATTACK = "\x1b[2J\x1b[31mFAKE: all tests passed\x1b[0m\r\x07\x9b2J\u202egnp.exe\x00"
UNSAFE = [chr(c) for c in (*range(0x0A), *range(0x0B, 0x20), *range(0x7F, 0xA0))]
UNSAFE += ["\u202e", "\u2066", "\u200b", "\u2028", "\ufeff"]


def _event(n: int) -> dict[str, object]:
    return {
        "event": "$exception",
        "distinct_id": f"user{ATTACK}{n}",
        "uuid": f"00000000-0000-4000-8000-00000000000{n}",
        "timestamp": "2026-12-01T12:00:00Z",
        "properties": {
            "$exception_fingerprint": f"fp{n}",
            "$exception_level": "error",
            "$session_id": f"s{ATTACK}",
            f"tag{ATTACK}": f"value{ATTACK}",
            "$exception_list": [
                {
                    "type": f"Error{ATTACK}",
                    "value": f"message{ATTACK}\nsecond line",
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "filename": f"app{ATTACK}.py",
                                "function": f"f{ATTACK}",
                                "lineno": 3,
                                "context_line": f"raise Error({ATTACK!r})",
                            }
                        ],
                    },
                }
            ],
        },
    }


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "inbox.sqlite3")
    with EventStore(path) as store:
        store.add([_event(1), _event(2)], "phc_test")
    return path


def _run(*args: str) -> bytes:
    finished = subprocess.run(
        [sys.executable, "-m", "posthog_exceptions", *args],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return finished.stdout


def _assert_safe(out: bytes) -> None:
    text = out.decode("utf-8")
    found = sorted({repr(c) for c in UNSAFE if c in text})
    assert found == []
    assert "\\x1b[2J" in text  # shown, not run


@pytest.mark.parametrize(
    "args",
    [["events"], ["issues"], ["show", "fp1"]],
    ids=["events", "issues", "show"],
)
def test_cli_output_holds_no_raw_control_character(db: str, args: list[str]) -> None:
    out = _run(*args, "--db", db)
    _assert_safe(out)


def test_show_keeps_the_lines_of_a_multi_line_message(db: str) -> None:
    out = _run("show", "fp1", "--db", db).decode()
    assert "second line" in out.splitlines()


def test_events_json_stays_valid_json_and_safe(db: str) -> None:
    out = _run("events", "--json", "--db", db)
    text = out.decode("utf-8")
    assert not any(c in text for c in UNSAFE)
    rows = [json.loads(line) for line in text.splitlines()]
    stored = f"user{ATTACK}1".replace("\x00", "\ufffd")  # the store keeps no NUL in ids
    assert rows[0]["distinct_id"] == stored  # the data itself is unchanged


def test_visible_escapes_each_unsafe_character() -> None:
    for char in UNSAFE:
        shown = visible(f"a{char}b")
        assert char not in shown and shown.startswith("a\\") and shown.endswith("b")
    assert visible("a\nb", newlines=True) == "a\nb"
    assert visible("a\nb") == "a\\x0ab"
    assert visible("café ✓ 日本") == "café ✓ 日本"
    assert json.loads(json_line({"k": ATTACK})) == {"k": ATTACK}
