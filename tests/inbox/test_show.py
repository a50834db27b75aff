"""What ``show`` and ``events`` print: exception groups as Python draws them, absent
header fields as ``-``, an ``$identify``'s top-level ``$set``."""

from __future__ import annotations

import builtins
import traceback
from pathlib import Path
from typing import Any

import pytest

from posthog_exceptions import Client
from posthog_exceptions.__main__ import main
from posthog_exceptions.inbox import EventStore
from posthog_exceptions.inbox._issues import format_traceback, load_issues
from posthog_exceptions.inbox._tree import build
from posthog_exceptions.testing import MemoryTransport

GROUP: Any = getattr(builtins, "ExceptionGroup", None)  # Python 3.11+


def _entry(kind: str, value: str, **mechanism: Any) -> dict[str, Any]:
    return {"type": kind, "value": value, "mechanism": {"type": "chained", **mechanism}}


# ExceptionGroup("checks", [ValueError("v") from KeyError("k"), TypeError("t"),
#                ExceptionGroup("sub", [OSError("o")])]), in the contract's wire order.
GROUP_LIST = [
    {
        "type": "ExceptionGroup",
        "value": "checks (3 sub-exceptions)",
        "mechanism": {"type": "generic", "handled": True, "exception_id": 0},
        "stacktrace": {
            "type": "raw",
            "frames": [
                {
                    "filename": "app.py",
                    "lineno": 9,
                    "function": "run",
                    "context_line": "    raise ExceptionGroup('checks', errors)",
                }
            ],
        },
    },
    _entry("ValueError", "v", source="member", exception_id=1, parent_id=0),
    _entry("KeyError", "'k'", source="cause", exception_id=2, parent_id=1),
    _entry("TypeError", "t", source="member", exception_id=3, parent_id=0),
    _entry("ExceptionGroup", "sub (1 sub-exception)", source="member", exception_id=4, parent_id=0),
    _entry("OSError", "o", source="member", exception_id=5, parent_id=4),
]
GROUP_TEXT = """\
  + Exception Group Traceback (most recent call last):
  |   File "app.py", line 9, in run
  |     raise ExceptionGroup('checks', errors)
  | ExceptionGroup: checks (3 sub-exceptions)
  +-+---------------- 1 ----------------
    | KeyError: 'k'
    |\x20
    | The above exception was the direct cause of the following exception:
    |\x20
    | ValueError: v
    +---------------- 2 ----------------
    | TypeError: t
    +---------------- 3 ----------------
    | ExceptionGroup: sub (1 sub-exception)
    +-+---------------- 1 ----------------
      | OSError: o
      +------------------------------------"""


def test_an_exception_group_prints_as_a_tree_of_its_members() -> None:
    assert format_traceback({"$exception_list": GROUP_LIST}) == GROUP_TEXT


def _without_sources(text: str) -> list[str]:
    """The lines of a traceback without each ``File`` line, the source line under it
    and CPython's caret lines (file paths and carets differ: the event's paths are
    relative to the import root, and carets are not sent)."""
    kept: list[str] = []
    skip = False
    for line in text.splitlines():
        body = line.lstrip(" |+")
        if body.startswith("File "):
            skip = True
        elif skip or (body and set(body) <= set("^~ ")):
            skip = False
        else:
            kept.append(line)
    return kept


def _raise_group() -> None:
    try:
        raise KeyError("root")
    except KeyError as root:
        inner = GROUP("inner", [OSError("o")])
        members: list[Exception] = [inner, *(TypeError(str(n)) for n in range(17))]
        raise GROUP("outer", members) from root


@pytest.mark.skipif(GROUP is None, reason="ExceptionGroup is Python 3.11+")
def test_a_captured_exception_group_prints_as_python_prints_it() -> None:
    transport = MemoryTransport()
    client = Client("phc_show", transport=transport, sync_mode=True)
    try:
        _raise_group()
    except Exception as group:
        client.capture_exception(group, distinct_id="u")
        lines = traceback.format_exception(type(group), group, group.__traceback__)
        expected = "".join(lines).rstrip("\n")
    [event] = transport.events
    printed = format_traceback(event["properties"])
    assert _without_sources(printed) == _without_sources(expected)
    assert "  +-+---------------- 1 ----------------" in printed
    assert "    | and 3 more exceptions" in printed


def test_a_list_without_ids_is_a_chain_and_members_join_the_group() -> None:
    entries = [
        {"type": "ExceptionGroup", "value": "g", "mechanism": {"is_exception_group": True}},
        {"type": "ValueError", "value": "a", "mechanism": {"source": "member"}},
        {"type": "KeyError", "value": "b", "mechanism": {"source": "member"}},
    ]
    root = build(entries)
    assert root is not None
    assert [m.entry["value"] for m in root.members] == ["a", "b"]
    text = format_traceback({"$exception_list": entries})
    assert "+-+---------------- 1 ----------------" in text
    assert "+---------------- 2 ----------------" in text


def test_hostile_ids_never_loop_and_every_entry_is_printed() -> None:
    entries: list[Any] = [
        {"type": "A", "mechanism": {"exception_id": 0, "parent_id": 0, "source": "member"}},
        {"type": "B", "mechanism": {"exception_id": 0, "parent_id": 7, "source": "cause"}},
        {"type": "C", "mechanism": {"exception_id": True, "parent_id": "0", "source": 3}},
        "not an exception",
        {"type": "D", "mechanism": {"exception_id": 9, "parent_id": 9, "source": "member"}},
    ]
    text = format_traceback({"$exception_list": entries})
    for name in "ABCD":
        assert f"\n{name}" in f"\n{text}"


def _store(db: Path, *events: dict[str, Any]) -> str:
    with EventStore(db) as store:
        store.add(list(events), "phc_show")
    return str(db)


def test_show_header_prints_a_dash_for_absent_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(
        tmp_path / "show.sqlite3",
        {"event": "$exception", "distinct_id": "d", "properties": {"$exception_list": GROUP_LIST}},
    )
    [issue] = load_issues(db)
    assert main(["show", issue.fingerprint[:10], "--db", db]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "None" not in header
    assert header.endswith("latest - at - for d (level -, source -)")


def test_events_shows_the_top_level_set_of_an_identify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    identify = {
        "event": "$identify",
        "distinct_id": "user-42",
        "$set": {"email": "ada@example.com", "name": "Ada\x1b[2J"},
        "$set_once": {"first_seen": "2026"},
        "properties": {},
    }
    db = _store(tmp_path / "events.sqlite3", identify)
    assert main(["events", "--db", db]) == 0
    line = capsys.readouterr().out.strip()
    assert '$set={"email": "ada@example.com", "name": "Ada\\u001b[2J"}' in line
    assert '$set_once={"first_seen": "2026"}' in line
    assert "\x1b" not in line
    assert main(["events", "--db", db, "--json"]) == 0
    assert '"$set": {"email": "ada@example.com"' in capsys.readouterr().out
