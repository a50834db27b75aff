"""The page's JSON API: ``GET /api/...``, read-only, answered from the inbox's store.

- ``/api/issues``: every group of ``$exception`` events, grouped exactly as ``issues``
  groups them (:func:`~._groups.group_issues`), most recently seen first: type and
  message, count, people affected (distinct ``distinct_id``\\ s), first and last seen,
  level, handled, crash site and ``histogram``: occurrences in 24 equal slices of the
  time from the inbox's first exception to its last.
- ``/api/issues/<fingerprint>`` (the key URL-quoted; ``?event=<id>`` picks an
  occurrence, else the latest): the group, its occurrences newest first, and the chosen
  event in full (:func:`~._view.event_detail`).
- ``/api/events?after=<id>&limit=<n>&event=<name>``: the newest events of every kind
  (at most ``limit``, 200 by default, 1,000 at most), stored after ``after``, oldest first.
- ``/api/events/<id>``: one event in full.

Answers are ``(status, JSON object)``; an unknown path or id is 404, a bad parameter 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, unquote

from ._groups import Issue, crash_site, group_issues
from ._store import EventStore
from ._tree import entries_of, mechanism
from ._view import event_detail, event_summary, exception_summary, flag, text

Answer = tuple[int, dict[str, Any]]
BUCKETS = 24
DEFAULT_EVENTS = 200
MAX_EVENTS = 1000
MAX_OCCURRENCES = 1000


class BadRequest(Exception):
    """A parameter the API cannot use; answered 400."""


def answer(store: EventStore, path: str, query: str) -> Answer:
    """The answer to ``GET path?query`` for a path under ``/api/`` (trailing slash cut)."""
    params = parse_qs(query)
    routes: dict[str, Callable[[str, dict[str, list[str]]], Answer]] = {
        "/api/issues": lambda rest, q: issues(store) if not rest else issue(store, rest, q),
        "/api/events": lambda rest, q: events(store, q) if not rest else event(store, rest),
    }
    for prefix, route in routes.items():
        if path == prefix or path.startswith(prefix + "/"):
            try:
                return route(unquote(path[len(prefix) + 1 :]), params)
            except BadRequest as exc:
                return 400, {"error": str(exc)}
    return 404, {"error": f"no such API path: {text(path, 200)}"}


def issues(store: EventStore) -> Answer:
    groups = group_issues(store.events(event="$exception"))
    span = _span(groups)
    return 200, {"issues": [summary(g, span) for g in groups], "last_id": store.last_id()}


def issue(store: EventStore, fingerprint: str, params: dict[str, list[str]]) -> Answer:
    groups = group_issues(store.events(event="$exception"))
    found = next((g for g in groups if g.fingerprint == fingerprint), None)
    if found is None:
        return 404, {"error": "no issue has this fingerprint"}
    wanted = _integer(params, "event")
    ids = {row["id"] for row in found.occurrences}
    chosen = store.get(wanted if wanted is not None and wanted in ids else found.latest["id"])
    occurrences = [
        {
            "id": row["id"],
            "uuid": text(row["uuid"], 200),
            "distinct_id": text(row["distinct_id"], 1000),
            "timestamp": text(row["timestamp"], 200),
            "received_at": row["received_at"],
        }
        for row in reversed(found.occurrences[-MAX_OCCURRENCES:])
    ]
    return 200, {
        "issue": summary(found, _span(groups)),
        "occurrences": occurrences,
        "event": None if chosen is None else event_detail(chosen),
        "last_id": store.last_id(),
    }


def events(store: EventStore, params: dict[str, list[str]]) -> Answer:
    after = _integer(params, "after")
    limit = _integer(params, "limit")
    limit = DEFAULT_EVENTS if limit is None else max(0, min(limit, MAX_EVENTS))
    name = params.get("event", [None])[-1]
    rows = store.events(limit=limit, event=name, after=after)
    return 200, {"events": [event_summary(row) for row in rows], "last_id": store.last_id()}


def event(store: EventStore, identifier: str) -> Answer:
    try:
        number = int(identifier)
    except ValueError:
        raise BadRequest(f"an event id is a number, not {text(identifier, 100)!r}") from None
    row = store.get(number) if 0 < number < 2**63 else None
    if row is None:
        return 404, {"error": "no event has this id"}
    return 200, {"event": event_detail(row)}


def summary(group: Issue, span: tuple[float, float]) -> dict[str, Any]:
    """What the issue list shows of one group."""
    latest = group.latest
    props = latest["properties"] if isinstance(latest["properties"], dict) else {}
    entries = entries_of(props)
    kind, message = exception_summary(props)
    return {
        "fingerprint": group.fingerprint,
        "type": kind,
        "value": message,
        "count": group.count,
        "people": len({row["distinct_id"] for row in group.occurrences}),
        "first_seen": group.occurrences[0]["received_at"],
        "last_seen": latest["received_at"],
        "level": text(props.get("$exception_level"), 200),
        "handled": flag(mechanism(entries[0]).get("handled")) if entries else None,
        "source": text(props.get("$exception_source"), 1000),
        "crash_site": text(crash_site(props), 2000),
        "latest_id": latest["id"],
        "histogram": _histogram(group, span),
    }


def _integer(params: dict[str, list[str]], name: str) -> Optional[int]:
    values = params.get(name)
    if not values or values[-1] == "":
        return None
    try:
        return int(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None


def _seconds(stamp: str) -> float:
    """Seconds since the epoch of a ``received_at`` (the inbox's own UTC time)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _span(groups: list[Issue]) -> tuple[float, float]:
    if not groups:
        return 0.0, 1.0
    start = min(_seconds(g.occurrences[0]["received_at"]) for g in groups)
    end = max(_seconds(g.latest["received_at"]) for g in groups)
    return start, max(end, start + 1.0)


def _histogram(group: Issue, span: tuple[float, float]) -> list[int]:
    start, end = span
    counts = [0] * BUCKETS
    for row in group.occurrences:
        position = (_seconds(row["received_at"]) - start) / (end - start)
        counts[min(BUCKETS - 1, max(0, int(position * BUCKETS)))] += 1
    return counts
