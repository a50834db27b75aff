"""Counters of what happened to events, for ``Client.stats()``.

Safe to re-enter: an update that starts on a thread already inside an update (a signal
handler or a finaliser that interrupts it and captures) is put on a side deque, which
any later update or snapshot folds in — it never waits for the lock its own thread holds.
"""

from __future__ import annotations

import threading

from ._own import work

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque

    from ._types import Stats

DROP_REASONS = (
    "queue_full",  # the in-memory queue was at max_queue_size / max_queue_bytes
    "too_large",  # one event above the size limit, or refused with 413 on its own
    "rejected",  # the server refused the batch with 400, 401 or another 4xx
    "retries_exhausted",  # still failing after max_retries
    "shutdown",  # still queued when shutdown() or the exit-time flush ran out of time
    "timed_out",  # sync_mode: not delivered within shutdown_timeout of its capture
    "before_send",  # the before_send callback returned None
    "before_send_error",  # the before_send callback raised
    "rate_limited",  # an exception of a group over its rate limit (see rate_limit)
    "spool_full",  # the oldest spooled events, removed to keep the spool under its bound
    "spool_corrupt",  # events in a spool file that could not be read
    "invalid",  # a call the library could not turn into an event (e.g. no event name)
    "reentrant",  # captured on a thread already inside a capture (signal handler, finaliser)
    "internal_error",  # a bug in the library, logged with its traceback
)
_TOTALS = ("queued", "sent", "retried", "spooled", "stalls")


class Counters:
    """Thread-safe, re-entrant-safe counters behind :class:`Stats`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start from zero with a fresh lock (also used in a forked child)."""
        from collections import deque  # deferred: importing the library stays cheap

        self._lock = threading.Lock()
        self._deferred: deque[tuple[str, int]] = deque()
        self.queued = 0  # written only by the event queue, under its worker's lock
        self.sent = 0
        self.retried = 0
        self.spooled = 0
        self.stalls = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    def add(self, name: str, count: int = 1) -> None:
        state = work
        if state.counting:  # re-entered on this thread: its outer update folds this in
            self._deferred.append((name, count))
            return
        state.counting = True
        try:
            with self._lock:
                setattr(self, name, getattr(self, name) + count)
                if self._deferred:
                    self._fold()
        finally:
            state.counting = False

    def drop(self, reason: str, count: int = 1) -> None:
        state = work
        if state.counting:
            self._deferred.append((reason, count))
            return
        state.counting = True
        try:
            with self._lock:
                self.dropped[reason] += count
                if self._deferred:
                    self._fold()
        finally:
            state.counting = False

    def snapshot(self, pending: int) -> Stats:
        state = work
        if state.counting:  # re-entered: read without the lock this thread holds
            return self._read(pending)
        state.counting = True
        try:
            with self._lock:
                self._fold()
                return self._read(pending)
        finally:
            state.counting = False

    def _apply(self, name: str, count: int) -> None:
        if name in _TOTALS:
            setattr(self, name, getattr(self, name) + count)
        else:
            self.dropped[name] += count

    def _fold(self) -> None:
        deferred = self._deferred
        while deferred:
            try:
                name, count = deferred.popleft()
            except IndexError:  # pragma: no cover - emptied meanwhile
                return
            self._apply(name, count)

    def _read(self, pending: int) -> Stats:
        return {
            "queued": self.queued,
            "pending": pending,
            "sent": self.sent,
            "retried": self.retried,
            "spooled": self.spooled,
            "stalls": self.stalls,
            "dropped": dict(self.dropped),
        }
