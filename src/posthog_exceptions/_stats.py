"""Counters of what happened to events, for ``Client.stats()``."""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._types import Stats

DROP_REASONS = (
    "queue_full",  # the in-memory queue was at max_queue_size / max_queue_bytes
    "too_large",  # one event above the size limit, or refused with 413 on its own
    "rejected",  # the server refused the batch with 400, 401 or another 4xx
    "retries_exhausted",  # still failing after max_retries
    "shutdown",  # still queued when shutdown() or the exit-time flush ran out of time
    "before_send",  # the before_send callback returned None
    "before_send_error",  # the before_send callback raised
    "rate_limited",  # an exception of a group over its rate limit (see rate_limit)
    "spool_full",  # the oldest spooled events, removed to keep the spool under its bound
    "spool_corrupt",  # events in a spool file that could not be read
    "invalid",  # a call the library could not turn into an event (e.g. no event name)
    "internal_error",  # a bug in the library, logged with its traceback
)


class Counters:
    """Thread-safe counters behind :class:`Stats`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start from zero with a fresh lock (also used in a forked child)."""
        self._lock = threading.Lock()
        self.queued = 0
        self.sent = 0
        self.retried = 0
        self.spooled = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.dropped[reason] += count

    def snapshot(self, pending: int) -> Stats:
        with self._lock:
            return {
                "queued": self.queued,
                "pending": pending,
                "sent": self.sent,
                "retried": self.retried,
                "spooled": self.spooled,
                "dropped": dict(self.dropped),
            }
