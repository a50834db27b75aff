"""What could not be delivered goes to the disk spool; what the spool holds is sent again
(see :mod:`posthog_exceptions._delivery.spool` for the files themselves).

:class:`Replay` is owned by the worker (composed, not inherited): the worker hands it
events it has to give up on (:meth:`Replay.lose`: to the spool if there is one, else
dropped and counted) and lets it send the spool's events through the same
:class:`~posthog_exceptions._delivery.sender.Sender` as fresh ones, with the same retry policy
(:meth:`Replay.run`). Spooled batches are an earlier process's: they never enter the
worker's queue or its in-flight register, so ``flush()`` — which covers the events
queued before it — never waits for them, while ``shutdown()`` and the exit do
(:meth:`Replay.wait_idle`). One thread at a time sends the spool (:attr:`Replay.owner`).
"""

from __future__ import annotations

import threading
import time

from posthog_exceptions._log import logger
from posthog_exceptions._payload import built, to_bytes

from .spool import Corrupt, event_count
from .transport import MAX_REQUEST_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Callable

    from posthog_exceptions._config import Options
    from posthog_exceptions._payload import Built, Payload
    from posthog_exceptions._stats import Counters

    from .sender import Pacing
    from .spool import Spool

    Deliver = Callable[[list[Built], "float | None"], int]

REPLAY_INTERVAL = 5.0  # seconds between two looks at the spool after successful sends


class Replay:
    """The spool of one client's worker (or none), and the losses it takes."""

    def __init__(
        self, options: Options, counters: Counters, spool: Spool | None, pacing: Pacing
    ) -> None:
        self._options = options
        self._counters = counters
        self.spool = spool
        self._pacing = pacing
        self._state = threading.Condition(threading.Lock())
        self.owner: threading.Thread | None = None
        """The thread sending the spool, or about to (see :meth:`reserve`)."""
        self._closed = False
        self._next_look = 0.0

    def renew_lock(self) -> None:
        """Make the lock anew from what ``threading.Lock`` is now (see ``Worker``)."""
        self._state = threading.Condition(threading.Lock())

    @property
    def busy(self) -> bool:
        """The spool is being sent, or a thread is about to send it."""
        return self.owner is not None

    def has_pending(self) -> bool:
        return self.spool is not None and bool(self.spool.pending())

    def reserve(self, thread: threading.Thread) -> None:
        """Make ``thread`` the one to send the spool (before it starts), so that an early
        exit waits for it."""
        with self._state:
            if self.owner is None:
                self.owner = thread

    def release(self, thread: threading.Thread) -> None:
        """Undo :meth:`reserve` for a thread that could not start."""
        with self._state:
            if self.owner is thread:
                self.owner = None
                self._state.notify_all()

    def close(self) -> None:
        """Send nothing more from the spool (the client is shutting down)."""
        with self._state:
            self._closed = True

    def wait_idle(self, deadline: float) -> bool:
        """Wait until no thread sends the spool; False if ``deadline`` came first."""
        with self._state:
            while self.owner is not None and self.owner is not threading.current_thread():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state.wait(remaining)
            return True

    # ------------------------------------------------------------------ losses

    def lose(self, payloads: Sequence[Payload], reason: str) -> None:
        """Events that could not be delivered: to the spool if there is one, else dropped."""
        if not payloads:
            return
        if self.spool is not None:
            ready = built(list(payloads))  # (deferred ones are built now)
            if not ready:
                return
            try:
                overflow = self.spool.write(
                    [to_bytes(payload) for payload in ready],
                    self._options.api_key,
                    self._options.host,
                )
            except OSError as exc:
                logger.warning("could not spool %d events: %s", len(ready), exc)
                payloads = ready  # (those the build dropped are counted already)
            else:
                self._counters.add("spooled", len(ready))
                if overflow:
                    self._counters.drop("spool_full", overflow)
                    logger.warning("the spool is full; dropped its %d oldest events", overflow)
                return
        self._counters.drop(reason, len(payloads))
        logger.info("dropped %d undelivered events (%s)", len(payloads), reason)

    # ------------------------------------------------------------------ replay

    def maybe_run(self, deliver: Deliver) -> None:
        """Send spooled events, looking at the spool at most every few seconds (at once
        for the thread :meth:`reserve` chose)."""
        now = time.monotonic()
        if self.spool is None:
            return
        if now < self._next_look and self.owner is not threading.current_thread():
            return
        self._next_look = now + REPLAY_INTERVAL
        self.run(deliver, None)

    def run(self, deliver: Deliver, deadline: float | None) -> int:
        """Send the spool's events for this client's key and host through ``deliver``;
        returns how many could not be delivered (they are spooled again)."""
        spool = self.spool
        me = threading.current_thread()
        with self._state:
            if spool is None or (self.owner is not None and self.owner is not me):
                return 0  # no spool, or another thread is sending it
            if self._closed:
                self.owner = None
                self._state.notify_all()
                return 0
            self.owner = me
        try:
            return self._send_files(spool, deliver, deadline)
        finally:
            with self._state:
                self.owner = None
                self._state.notify_all()

    def _send_files(self, spool: Spool, deliver: Deliver, deadline: float | None) -> int:
        undelivered = 0
        for path in spool.pending():
            if self._closed or self._pacing.expired(deadline):
                break
            claimed = spool.claim(path)
            if claimed is None:
                continue  # another process took it
            try:
                stored = spool.read(claimed)
            except Corrupt as exc:
                spool.quarantine(claimed)
                self._counters.drop("spool_corrupt", event_count(path))
                logger.warning("skipped an unreadable spool file: %s", exc)
                continue
            if (stored.api_key, stored.host) != (self._options.api_key, self._options.host):
                spool.release(claimed)  # another project's: leave it for its client
                continue
            for chunk in _chunks(stored.payloads, self._options.batch_size):
                if undelivered:  # the server is failing: straight back to the spool
                    self.lose(chunk, "retries_exhausted")
                    undelivered += len(chunk)
                else:
                    undelivered += deliver(chunk, deadline)
            spool.done(claimed)
        return undelivered


def _chunks(payloads: list[bytes], size: int) -> list[list[Built]]:
    """Batches of at most ``size`` events and :data:`MAX_REQUEST_BYTES`."""
    chunks: list[list[Built]] = [[]]
    total = 0
    for payload in payloads:
        current = chunks[-1]
        if current and (len(current) >= size or total + len(payload) > MAX_REQUEST_BYTES):
            chunks.append([])
            total = 0
        chunks[-1].append(payload)
        total += len(payload) + 1
    return [chunk for chunk in chunks if chunk]
