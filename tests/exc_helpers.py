"""Helpers for exception-capture tests: a client that delivers synchronously into memory,
with every event checked against the wire-format validator."""

from __future__ import annotations

from typing import Any

from posthog_exceptions import Client
from posthog_exceptions.testing import MemoryTransport

from .wire_validator import validate_event


class Captured:
    """A sync-mode client over a MemoryTransport; ``events`` are validated on read."""

    def __init__(self, **options: Any) -> None:
        self.transport = MemoryTransport()
        options.setdefault("sync_mode", True)
        self.client = Client("phc_test", transport=self.transport, **options)

    @property
    def events(self) -> list[dict[str, Any]]:
        events = self.transport.events
        for event in events:
            validate_event(event)
        return events

    @property
    def exception_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "$exception"]

    def only(self) -> dict[str, Any]:
        """The one ``$exception`` event sent (fails if there is not exactly one)."""
        events = self.exception_events
        assert len(events) == 1, f"expected one $exception event, got {len(events)}"
        return events[0]


def exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    return list(event["properties"]["$exception_list"])


def frames(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return list(entry.get("stacktrace", {}).get("frames", []))
