"""The ``issues`` and ``show`` sub-commands: the inbox's ``$exception`` events grouped the way
PostHog groups them — by the client's ``$exception_fingerprint``, else by the fingerprint
PostHog computes on the server (:mod:`._grouping`) — and one of them printed like a
Python traceback.

``python -m posthog_exceptions issues`` lists one line per group, most recent first:
fingerprint, occurrences, ``type: value`` and the crash site of the latest event.
``python -m posthog_exceptions show FINGERPRINT`` (any unique prefix) prints that
group's latest event: root cause first, an exception group as a tree of its members, as
Python does (:mod:`._traceback`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from typing import TYPE_CHECKING, Any

from ._cli import exception_summary
from ._groups import Issue, crash_site, group_issues, load_issues
from ._store import DB_ENV_VAR, DEFAULT_DB_NAME, default_db
from ._terminal import visible
from ._traceback import format_traceback

__all__ = ["Issue", "crash_site", "format_traceback", "group_issues", "load_issues"]

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

_KEY_COLUMN = 32
_DB_HELP = f"SQLite database file (default: ${DB_ENV_VAR}, else ./{DEFAULT_DB_NAME})"


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
        f"{issue.fingerprint}: {issue.count} occurrence(s); latest {_or_dash(latest['uuid'])} at "
        f"{_or_dash(latest['timestamp'])} for {latest['distinct_id']} "
        f"(level {_or_dash(props.get('$exception_level'))}, "
        f"source {_or_dash(props.get('$exception_source'))})"
    ]
    lines.extend(f"{label + ':':<9}{value}" for label, value in _who_and_where(latest))
    for line in lines:  # every line holds event data: control characters made visible
        print(visible(line))
    print()
    print(visible(format_traceback(props), newlines=True))
    return 0


def _or_dash(value: object) -> str:
    """A header field: ``-`` when the event has none (never Python's ``None``)."""
    if value is None or value == "":
        return "-"
    return value if isinstance(value, str) else json.dumps(value, default=str)


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
