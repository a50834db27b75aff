"""The stall watchdog: events waiting on a delivery thread that shows no sign of life.

The worker thread can be gone without the library being told (a process forked by code
that bypasses ``os.register_at_fork`` keeps a thread object whose thread never ran
there), starved (a greenlet that never yields, a host that holds the GIL) or never
scheduled at all. Then events would wait until the exit and be lost with the process.

The worker asks :meth:`Watchdog.stalled` on every capture, under its lock: if events
have waited over ``stall_timeout`` with no sign of life from the thread — taking a
batch, finishing one, a request starting or ending — the capture is sent from the
calling thread, and so is every capture after it until the thread shows life again.
Time the thread waits on purpose (a 429 pause, a backoff before a retry) is not counted
against it, and a thread with a request on the wire is never called stalled: the
request is bounded by its deadline (the HTTP transport's) or is the transport's own
business. Each stall is logged once and counted (``stats()["stalls"]``).
"""

from __future__ import annotations

import time

from posthog_exceptions._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from posthog_exceptions._stats import Counters

    from .sender import Pacing, Sender


class Watchdog:
    """The delivery thread's signs of life, for one worker (guarded by its lock)."""

    __slots__ = ("_counters", "_pacing", "_sender", "_timeout", "beat", "stalled")

    def __init__(self, timeout: float, counters: Counters, sender: Sender, pacing: Pacing):
        self._timeout = timeout
        self._counters = counters
        self._sender = sender
        self._pacing = pacing
        self.beat = 0.0
        """The thread last showed life then (or owes it from then)."""
        self.stalled = False
        """A stall was noticed and the thread has not shown life since."""

    def alive(self) -> None:
        """The delivery thread took or finished a batch."""
        self.beat = time.monotonic()
        self.stalled = False

    def stalled_now(self, idle: bool) -> bool:
        """Whether the thread is stalled (lock held). ``idle``: the queue was empty before
        the event just queued, so the thread owes signs of life from now."""
        if self.stalled:
            return True
        now = time.monotonic()
        if idle:
            self.beat = now
            return False
        sender = self._sender
        if sender.in_request:
            return False
        since = max(self.beat, sender.active_at, self._pacing.quiet_until())
        return now - since > self._timeout

    def notice_locked(self) -> bool:
        """Mark a stall (lock held); True if it is a new one, to :meth:`report`."""
        new, self.stalled = not self.stalled, True
        return new

    def report(self) -> None:
        """Log and count a new stall (lock not held)."""
        self._counters.add("stalls")
        logger.warning(
            "events have waited over %.1f s with no sign of the delivery thread (gone, "
            "starved or never scheduled); sending them from the capturing thread until it "
            "runs again",
            self._timeout,
        )
