"""The ``inbox`` and ``events`` sub-commands of ``python -m posthog_exceptions``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import Inbox
from ._store import DB_ENV_VAR, DEFAULT_DB_NAME, EventStore, default_db
from ._terminal import json_line, visible

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

_SignalHandler = Union[Callable[[int, Optional[FrameType]], Any], int, signal.Handlers, None]
_DB_HELP = f"SQLite database file (default: ${DB_ENV_VAR}, else ./{DEFAULT_DB_NAME})"
_MAX_FIELD_CHARS = 200


def register(subparsers: Subparsers) -> None:
    """Add the ``inbox`` and ``events`` sub-commands."""
    inbox = subparsers.add_parser(
        "inbox",
        help="run a local PostHog-compatible capture endpoint storing events in SQLite",
        description="Serve PostHog's capture endpoints (/i/v0/e/, /e/, /batch/, /capture/, "
        "/track/, /engage/, /i/v1/analytics/events, /flags, /decide) like PostHog and store "
        "every accepted event; / is a web page of the issues and events, updated live. "
        "Stop with Ctrl-C or SIGTERM.",
    )
    inbox.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    inbox.add_argument("--port", type=int, default=8000, help="port, 0 for any (default: 8000)")
    inbox.add_argument("--db", help=_DB_HELP)
    inbox.add_argument("--api-key", help="accept only this project key (default: any valid key)")
    inbox.add_argument("--verbose", action="store_true", help="print one line per request")
    inbox.set_defaults(handler=run_inbox)

    events = subparsers.add_parser(
        "events",
        help="list the events stored by the local inbox",
        description="List recent events from the inbox database, oldest first.",
    )
    events.add_argument("--db", help=_DB_HELP)
    events.add_argument("--limit", type=int, default=20, help="how many, 0 for all (default: 20)")
    events.add_argument("--event", metavar="NAME", help="only events with this name")
    events.add_argument("--json", action="store_true", help="print one JSON object per line")
    events.set_defaults(handler=run_events)


class _Terminated(Exception):
    """Raised in the main thread by the SIGTERM handler."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Raise once only, so a second SIGTERM cannot interrupt the clean stop.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated


def _install_sigterm() -> _SignalHandler:
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not in the main thread: leave signals alone
        return None


def run_inbox(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; exit status 0 after a clean stop."""
    db = args.db or default_db()
    inbox = Inbox(args.host, args.port, db, api_key=args.api_key, verbose=args.verbose)
    previous = _install_sigterm()
    try:
        try:
            inbox.start()
        except OSError as exc:
            print(
                f"posthog-exceptions inbox: cannot listen on {args.host}:{args.port}: {exc}",
                file=sys.stderr,
            )
            return 1
        print(f"open {inbox.url}/ to see the errors", flush=True)  # the page (_web.py)
        print(
            f"posthog-exceptions inbox listening on {inbox.url} (db: {os.path.abspath(db)})",
            flush=True,
        )
        while True:  # the server runs in its own thread; signals interrupt the sleep
            time.sleep(3600)
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        inbox.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("posthog-exceptions inbox stopped", flush=True)
    return 0


def run_events(args: argparse.Namespace) -> int:
    """Print recent events, one line (or one JSON object) each."""
    db = args.db or default_db()
    if not os.path.isfile(db):
        print(
            f"posthog-exceptions events: no inbox database at {db}"
            " (start one with: python -m posthog_exceptions inbox)",
            file=sys.stderr,
        )
        return 1
    limit = args.limit if args.limit > 0 else None
    try:
        with EventStore(db) as store:
            rows = store.events(limit=limit, event=args.event, data=True)
    except sqlite3.Error as exc:
        print(f"posthog-exceptions events: cannot read {db}: {exc}", file=sys.stderr)
        return 1
    for row in rows:
        print(json_line(_json_row(row)) if args.json else format_event(row))
    return 0


PERSON_KEYS = ("$set", "$set_once")
"""Top-level keys an ``$identify`` (or any) event carries beside its properties."""


def person_updates(row: dict[str, Any]) -> dict[str, Any]:
    """The event's top-level ``$set`` and ``$set_once`` (from the row's ``data``)."""
    data = row.get("data")
    if not isinstance(data, dict):
        return {}
    return {key: data[key] for key in PERSON_KEYS if key in data}


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    found = {key: value for key, value in row.items() if key != "data"}
    found.update(person_updates(row))
    return found


def format_event(row: dict[str, Any]) -> str:
    """One line: received time, event name, distinct id, uuid and, for ``$exception``,
    the first exception's ``type: value``; then a top-level ``$set={...}`` and
    ``$set_once={...}`` when the event has them; control characters made visible."""
    fields = [row["received_at"], row["event"], row["distinct_id"], row["uuid"] or "-"]
    if row["event"] == "$exception":
        fields.append(exception_summary(row["properties"]))
    for key, value in person_updates(row).items():
        fields.append(f"{key}={json.dumps(value, ensure_ascii=False, default=str)}")
    return "  ".join(visible(_one_line(str(field))) for field in fields if field)


def exception_summary(properties: object) -> str:
    """``type: value`` of ``properties["$exception_list"][0]``, or ``""`` when absent."""
    if not isinstance(properties, dict):
        return ""
    exceptions = properties.get("$exception_list")
    if not isinstance(exceptions, list) or not exceptions or not isinstance(exceptions[0], dict):
        return ""
    first = exceptions[0]
    kind = first.get("type")
    value = first.get("value")
    text = kind if isinstance(kind, str) and kind else "<unknown type>"
    if value is not None and value != "":
        text += f": {value}"
    return text


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_FIELD_CHARS:
        text = text[: _MAX_FIELD_CHARS - 3] + "..."
    return text
