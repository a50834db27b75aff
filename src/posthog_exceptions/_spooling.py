"""The worker's side of the disk spool: what cannot be delivered goes to disk, and what
is on disk is sent again (see :mod:`posthog_exceptions._spool` for the files).

A mixin of :class:`~posthog_exceptions._worker.Worker`: it shares the worker's
lock, counters and delivery path, so spooled events go through the same retry
policy as fresh ones. Spooled batches are numbered above anything ``flush()``
waits for: a flush covers the events queued before it, not an earlier process's.
"""

from __future__ import annotations

import threading
import time

from ._log import logger
from ._payload import to_bytes
from ._spool import Corrupt, event_count
from ._transport import MAX_REQUEST_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._config import Options
    from ._payload import Payload
    from ._spool import Spool
    from ._stats import Counters

    Item = tuple[int, Payload]

REPLAY_INTERVAL = 5.0  # seconds between two looks at the spool after successful sends
REPLAY_SEQ = 1 << 62  # spooled batches are numbered above anything flush() waits for


class Spooling:
    """Spool writing and replay for a worker (which provides the attributes below)."""

    if TYPE_CHECKING:
        _options: Options
        _counters: Counters
        _spool: Spool | None
        _lock: threading.Lock
        _progress: threading.Condition
        _inflight: dict[int, int]
        _closed: bool
        _replaying: bool
        _replay_thread: threading.Thread | None
        _replay_at: float
        _replay_seq: int

        def _deliver_tracked(self, batch: list[Item], deadline: float | None) -> int: ...

        def _expired(self, deadline: float | None) -> bool: ...

    def _lose(self, items: list[Item], reason: str) -> None:
        """Events that could not be delivered: to the spool if there is one, else dropped."""
        if not items:
            return
        if self._spool is not None:
            try:
                overflow = self._spool.write(
                    [to_bytes(payload) for _, payload in items],
                    self._options.api_key,
                    self._options.host,
                )
            except OSError as exc:
                logger.warning("could not spool %d events: %s", len(items), exc)
            else:
                self._counters.add("spooled", len(items))
                if overflow:
                    self._counters.drop("spool_full", overflow)
                    logger.warning("the spool is full; dropped its %d oldest events", overflow)
                return
        self._counters.drop(reason, len(items))
        logger.info("dropped %d undelivered events (%s)", len(items), reason)

    # ----------------------------------------------------------- the spool

    def _maybe_replay(self) -> None:
        """Send spooled events, looking at the spool at most every few seconds."""
        now = time.monotonic()
        if self._spool is None or now < self._replay_at:
            return
        self._replay_at = now + REPLAY_INTERVAL
        self.replay_spool(None)

    def replay_spool(self, deadline: float | None) -> int:
        """Send the spool's events for this client's key and host, through the usual retry
        policy; returns how many could not be delivered (they are spooled again)."""
        spool = self._spool
        with self._lock:
            if spool is None or self._replay_thread is not None:
                return 0  # no spool, or another thread is sending it
            if self._closed:
                self._replaying = False
                self._progress.notify_all()
                return 0
            self._replay_thread = threading.current_thread()
            self._replaying = True
        undelivered = 0
        try:
            for path in spool.pending():
                if self._expired(deadline) or self._closed:
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
                        self._lose([(0, payload) for payload in chunk], "retries_exhausted")
                        undelivered += len(chunk)
                        continue
                    with self._lock:
                        self._replay_seq += 1
                        batch: list[Item] = [(self._replay_seq, payload) for payload in chunk]
                        self._inflight[self._replay_seq] = len(batch)
                    undelivered += self._deliver_tracked(batch, deadline)
                spool.done(claimed)
        finally:
            with self._lock:
                self._replay_thread = None
                self._replaying = False
                self._progress.notify_all()
        return undelivered


def _chunks(payloads: list[bytes], size: int) -> list[list[bytes]]:
    """Batches of at most ``size`` events and :data:`MAX_REQUEST_BYTES`."""
    chunks: list[list[bytes]] = [[]]
    total = 0
    for payload in payloads:
        current = chunks[-1]
        if current and (len(current) >= size or total + len(payload) > MAX_REQUEST_BYTES):
            chunks.append([])
            total = 0
        chunks[-1].append(payload)
        total += len(payload) + 1
    return [chunk for chunk in chunks if chunk]
