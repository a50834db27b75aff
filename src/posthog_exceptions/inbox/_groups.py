"""The inbox's ``$exception`` events in groups, keyed as PostHog keys them
(:func:`~._grouping.fingerprint_of`): what ``issues``, ``show`` and the page's API list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ._grouping import fingerprint_of
from ._store import EventStore
from ._tree import entries_of, frames_of


@dataclass
class Issue:
    """One group of ``$exception`` events: its key, size and latest event (a store row)."""

    fingerprint: str
    count: int
    latest: dict[str, Any]
    occurrences: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """Every event of the group, oldest first (filled by :func:`group_issues`)."""


def load_issues(db: str) -> list[Issue]:
    """Every fingerprint's count and latest event, most recently seen first."""
    with EventStore(db) as store:
        return group_issues(store.events(event="$exception"))


def group_issues(rows: Iterable[dict[str, Any]]) -> list[Issue]:
    """The groups of these ``$exception`` rows (oldest first), most recently seen first."""
    groups: dict[str, Issue] = {}
    for row in rows:
        props = row["properties"] if isinstance(row["properties"], dict) else {}
        fingerprint = fingerprint_of(props)  # PostHog's key, whoever sent the event
        issue = groups.get(fingerprint)
        if issue is None:
            issue = groups[fingerprint] = Issue(fingerprint, 0, row)
        issue.count += 1
        issue.latest = row
        issue.occurrences.append(row)
    return sorted(groups.values(), key=lambda issue: issue.latest["id"], reverse=True)


def crash_site(properties: dict[str, Any]) -> str:
    """``file:line in function`` of the first exception's last frame."""
    entries = entries_of(properties)
    frames = frames_of(entries[0]) if entries else []
    if not frames:
        return "(no stack)"
    last = frames[-1]
    return f"{last.get('filename', '?')}:{last.get('lineno', '?')} in {last.get('function', '?')}"
