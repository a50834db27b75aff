"""Names that exist for type checkers: the :class:`Transport` protocol and the
:class:`Stats` dictionary. Importing them costs ``typing``; the package exports them
lazily, so that ``import posthog_exceptions`` stays cheap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypedDict

from ._delivery.transport import TransportResponse


class Transport(Protocol):
    """Delivers one request body; returns what happened instead of raising."""

    def send(self, body: bytes, headers: Mapping[str, str]) -> TransportResponse: ...

    def close(self) -> None: ...


class Stats(TypedDict):
    """A snapshot of a client's counters (``Client.stats()``)."""

    queued: int
    """Events accepted for delivery since the client started (or the process forked)."""
    pending: int
    """Events waiting in the queue right now."""
    sent: int
    """Events the server accepted."""
    retried: int
    """Requests resent after a transient failure or a 429."""
    spooled: int
    """Events written to the disk spool (``spool_dir``) instead of being dropped."""
    stalls: int
    """Times the delivery thread stopped showing signs of life with events waiting
    (``stall_timeout``): each time, captures sent from the calling thread until it did."""
    dropped: dict[str, int]
    """Events dropped, by reason (see ``DROP_REASONS``); every reason is present."""
