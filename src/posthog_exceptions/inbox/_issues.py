"""The ``issues`` and ``show`` sub-commands: the inbox's ``$exception`` events grouped the way
PostHog groups them — by the client's ``$exception_fingerprint``, else by the fingerprint
PostHog computes on the server (:mod:`._grouping`) — and one of them printed like a
Python traceback.

``python -m posthog_exceptions issues`` lists one line per group, most recent first:
fingerprint, occurrences, ``type: value`` and the crash site of the latest event.
``python -m posthog_exceptions show FINGERPRINT`` (any unique prefix) prints that
group's latest event: root cause first, as Python does.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._cli import exception_summary
from ._grouping import fingerprint_of
from ._store import DB_ENV_VAR, DEFAULT_DB_NAME, EventStore, default_db
from ._terminal import visible

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

_KEY_COLUMN = 32
_DB_HELP = f"SQLite database file (default: ${DB_ENV_VAR}, else ./{DEFAULT_DB_NAME})"
_LINKS = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
    "member": "The above exception is a member of the following exception group:",
}


@dataclass
class Issue:
    fingerprint: str
    count: int
    latest: dict[str, Any]


def register(subparsers: Subparsers) -> None:
    """Add the ``issues`` and ``show`` sub-commands."""
    issues = subparsers.add_parser(
        "issues",
        help="list the inbox's exceptions grouped by fingerprint",
        description="One line per $exception_fingerprint: occurrences, type: value, crash site.",
    )
    issues.add_argument("--db", help=_DB_HELP)
    issues.set_defaults(handler=run_issues)
    show = subparsers.add_parser(
        "show",
        help="print the latest exception of one group like a Python traceback",
        description="Print the latest $exception event with this fingerprint (or prefix).",
    )
    show.add_argument("fingerprint", help="the fingerprint, or a unique prefix of it")
    show.add_argument("--db", help=_DB_HELP)
    show.set_defaults(handler=run_show)


def load_issues(db: str) -> list[Issue]:
    """Every fingerprint's count and latest event, most recently seen first."""
    groups: dict[str, Issue] = {}
    with EventStore(db) as store:
        for row in store.events(event="$exception"):
            props = row["properties"] if isinstance(row["properties"], dict) else {}
            fingerprint = fingerprint_of(props)  # PostHog's key, whoever sent the event
            issue = groups.get(fingerprint)
            if issue is None:
                groups[fingerprint] = Issue(fingerprint, 1, row)
            else:
                issue.count += 1
                issue.latest = row
    return sorted(groups.values(), key=lambda issue: issue.latest["id"], reverse=True)


def crash_site(properties: dict[str, Any]) -> str:
    """``file:line in function`` of the first exception's last frame."""
    frames = _frames(_exceptions(properties)[:1])
    if not frames:
        return "(no stack)"
    last = frames[-1]
    return f"{last.get('filename', '?')}:{last.get('lineno', '?')} in {last.get('function', '?')}"


def format_traceback(properties: dict[str, Any]) -> str:
    """The exception list as Python would print it: root cause first."""
    blocks: list[str] = []
    entries = _exceptions(properties)
    for index, entry in enumerate(reversed(entries)):
        if index:
            source = entries[len(entries) - index].get("mechanism", {}).get("source")
            blocks.append(_LINKS.get(str(source), _LINKS["context"]))
        lines = []
        frames = _frames([entry])
        if frames:
            lines.append("Traceback (most recent call last):")
            for frame in frames:
                lines.append(
                    f'  File "{frame.get("filename", "?")}", line {frame.get("lineno", "?")}, '
                    f"in {frame.get('function', '?')}"
                )
                if frame.get("context_line"):
                    lines.append(f"    {str(frame['context_line']).strip()}")
        kind = entry.get("type", "Exception")
        module = entry.get("module")
        name = f"{module}.{kind}" if module and module != "__main__" else kind
        value = entry.get("value")
        lines.append(f"{name}: {value}" if value else str(name))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run_issues(args: argparse.Namespace) -> int:
    issues = _issues_of(args, "issues")
    if issues is None:
        return 1
    if not issues:
        print("no $exception events in the inbox yet")
        return 0
    print(f"{'FINGERPRINT':<{_KEY_COLUMN}}  {'COUNT':>5}  EXCEPTION  (CRASH SITE)")
    for issue in issues:
        props = issue.latest["properties"]
        summary = " ".join(exception_summary(props).split())[:100]
        key = _short(issue.fingerprint)
        line = f"{key:<{_KEY_COLUMN}}  {issue.count:>5}  {summary}  ({crash_site(props)})"
        print(visible(line))
    return 0


def _short(fingerprint: str) -> str:
    """A key that fits its column: longer ones (PostHog's are 128 hex digits) are cut,
    and ``show`` takes any unique prefix."""
    if len(fingerprint) <= _KEY_COLUMN:
        return fingerprint
    return fingerprint[: _KEY_COLUMN - 3] + "..."


def run_show(args: argparse.Namespace) -> int:
    issues = _issues_of(args, "show")
    if issues is None:
        return 1
    matches = [i for i in issues if i.fingerprint.startswith(args.fingerprint)]
    if len(matches) != 1:
        found = "no" if not matches else f"{len(matches)}"
        print(
            f"posthog-exceptions show: {found} groups match {args.fingerprint!r}", file=sys.stderr
        )
        return 1
    issue = matches[0]
    latest = issue.latest
    props = latest["properties"]
    lines = [
        f"{issue.fingerprint}: {issue.count} occurrence(s); latest {latest['uuid']} at "
        f"{latest['timestamp']} for {latest['distinct_id']} "
        f"(level {props.get('$exception_level')}, source {props.get('$exception_source')})"
    ]
    lines.extend(f"{label + ':':<9}{value}" for label, value in _who_and_where(latest))
    for line in lines:  # every line holds event data: control characters made visible
        print(visible(line))
    print()
    print(visible(format_traceback(props), newlines=True))
    return 0


def _who_and_where(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The occurrence's person, session, window and tags (its properties without ``$``)."""
    props = event.get("properties")
    props = props if isinstance(props, dict) else {}
    anonymous = props.get("$process_person_profile") is False
    lines = [("person", f"{event.get('distinct_id')}" + (" (anonymous)" if anonymous else ""))]
    for label, key in (("session", "$session_id"), ("window", "$window_id")):
        if props.get(key):
            lines.append((label, str(props[key])))
    tags = [f"{k}={json.dumps(v, default=str)}" for k, v in props.items() if not k.startswith("$")]
    lines.append(("tags", ", ".join(tags) if tags else "(none)"))
    return lines


def _issues_of(args: argparse.Namespace, command: str) -> list[Issue] | None:
    """The groups in ``--db``; ``None`` after explaining on stderr why there are none."""
    db: str = args.db or default_db()
    if not os.path.isfile(db):
        print(f"posthog-exceptions {command}: no inbox database at {db}", file=sys.stderr)
        return None
    try:
        return load_issues(db)
    except sqlite3.Error as exc:
        print(f"posthog-exceptions {command}: cannot read {db}: {exc}", file=sys.stderr)
        return None


def _exceptions(properties: object) -> list[dict[str, Any]]:
    if not isinstance(properties, dict):
        return []
    entries = properties.get("$exception_list")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _frames(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not entries:
        return []
    stack = entries[0].get("stacktrace")
    frames = stack.get("frames") if isinstance(stack, dict) else None
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []
