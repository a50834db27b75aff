"""Delivery: a bounded in-memory queue drained by one daemon thread per client.

- :meth:`Worker.put` never blocks the caller beyond a short lock: when the
  queue holds ``max_queue_size`` events or ``max_queue_bytes`` bytes, the new
  event is dropped, counted, and logged once per burst of drops.
- The thread (``posthog-exceptions-worker``) starts with the first event and
  sends whatever has accumulated as soon as it is free — no fixed delay — in
  batches of at most ``batch_size`` events and 5 MiB, following the one policy
  in :mod:`posthog_exceptions._retry`. It sleeps on a condition variable, never
  in a polling loop; backoff waits are cut short by :meth:`flush` and
  :meth:`shutdown`; a 429 pause holds back all sending until it ends.
- :meth:`flush` waits until every event queued before the call is delivered or
  given up. At interpreter exit the queue is flushed for up to
  ``shutdown_timeout`` (an ``atexit`` handler registered when the first worker
  starts); events captured after that are sent from the capturing thread.
- After ``os.fork()`` the child gets a fresh queue, locks, counters and
  connection, and a thread of its own on its first event; it never resends the
  parent's pending events.
- ``sync_mode``, a thread that cannot be started (interpreter shutdown) and
  exit time all deliver from the calling thread through the same code path.
"""

from __future__ import annotations

import threading
import time

from . import _process, _retry
from ._event import iso_now
from ._log import internal_error, logger
from ._payload import Ledger, parts, size
from ._retry import Verdict
from ._spool import Spool
from ._spooling import REPLAY_SEQ, Spooling
from ._transport import MAX_REQUEST_BYTES, HttpTransport, TransportResponse, import_lock
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque

    from ._config import Options
    from ._payload import Payload
    from ._stats import Counters
    from ._types import Transport

    Item = tuple[int, Payload]  # (sequence number, serialised event)

GZIP_LEVEL = 3  # deflate's fast family: about half the CPU of level 6, the bytes still small
THREAD_NAME = "posthog-exceptions-worker"


class Worker(Spooling):
    """Queues serialised events and delivers them for one client."""

    def __init__(self, options: Options, counters: Counters) -> None:
        self._options = options
        self._counters = counters
        self._key_json = _json_str(options.api_key)
        self._headers = {"Content-Type": "application/json", "X-Sdk-Version": __version__}
        if options.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._spool = (
            Spool(options.spool_dir, options.spool_max_bytes) if options.spool_dir else None
        )
        self._reset()
        _process.track(self)
        if self._spool is not None and not options.sync_mode and self._spool.pending():
            with self._lock:  # events from an earlier process wait: start sending them now
                self._replaying = self._ensure_thread()  # (an early exit waits for them)

    def _reset(self) -> None:
        """Fresh state; also what a forked child starts from."""
        from collections import deque  # deferred: importing the library stays cheap

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the delivering threads wait here
        self._progress = threading.Condition(self._lock)  # flush() waits here
        self._send_lock = threading.Lock()
        self._delivering = threading.local()  # .active: this thread is delivering a batch
        self._queue: deque[Item] = deque()
        # The memory of the events queued or being sent (a frame's JSON that several of them
        # share counts once); max_queue_bytes bounds it.
        self._held = Ledger()
        # Batches in flight that _held counts (first seq -> the request body it reserved).
        self._counted: dict[int, int] = {}
        self._last_seq = 0
        self._inflight: dict[int, int] = {}  # batches being delivered: first sequence -> size
        self._thread: threading.Thread | None = None
        self._direct = self._options.sync_mode  # deliver from the calling thread
        self._closed = False  # shutdown() was called: accept nothing more
        self._stopping = False  # the delivery thread should end once the queue is empty
        self._exiting = False  # the exit-time flush has run
        self._deadline: float | None = None  # give up on what is left after this moment
        self._hurry = 0  # bumped by flush()/shutdown() to cut a backoff short
        self._paused_until = 0.0  # a 429 holds back all sending until then
        self._burst = 0  # events dropped since the queue last had room
        self._in_request = False  # a request is on the wire
        self._replaying = False  # the spool is being sent, or is about to be
        self._replay_thread: threading.Thread | None = None  # the thread sending it
        self._replay_at = 0.0  # when the spool may be looked at again
        self._replay_seq = REPLAY_SEQ  # spooled batches get sequence numbers flush() ignores
        self._transport: Transport = self._options.transport or HttpTransport(
            self._options.host, self._options.timeout
        )

    # ----------------------------------------------------------------- callers

    def put(self, payload: Payload) -> bool:
        """Queue one serialised event. Returns False when it was dropped (and counted)."""
        options = self._options
        with self._lock:
            if self._closed:
                self._counters.drop("shutdown")
                logger.warning("the client was shut down; dropping an event captured after it")
                return False
            if len(self._queue) >= options.max_queue_size or not self._held.admit(
                payload, options.max_queue_bytes
            ):
                self._counters.drop("queue_full")
                if not self._burst:
                    logger.warning(
                        "the event queue is full (%d events, %d bytes); dropping new events "
                        "until it drains",
                        len(self._queue),
                        self._held.total,
                    )
                self._burst += 1
                return False
            if self._burst:
                logger.warning("the queue has room again; %d events were dropped", self._burst)
                self._burst = 0
            self._last_seq += 1
            self._queue.append((self._last_seq, payload))
            self._counters.add("queued")
            direct = self._direct or not self._ensure_thread()
            if not direct:
                self._work.notify()
        if direct and getattr(self._delivering, "active", False):
            # Captured by code the delivery itself ran (a transport or a logging handler
            # reacting to it): queue it; the delivery under way sends it next. Delivering
            # here would wait on this thread's own send lock.
            return True
        if direct:
            bounded = self._exiting or not options.sync_mode
            self._drain_here(time.monotonic() + options.shutdown_timeout if bounded else None)
            if not self._exiting:
                self._maybe_replay()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued before this call is delivered or given up."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._lock:
            target = self._last_seq
            if self._settled(target):
                return True
            if threading.current_thread() is self._thread:
                return False  # called from a before_send running on the worker: cannot wait
            alive = self._thread is not None and self._thread.is_alive()
        if not alive:
            self._drain_here(deadline)
        with self._lock:
            self._hurry += 1
            self._work.notify_all()
            return self._wait_settled(target, deadline)

    def shutdown(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, drop (and count) what is left, stop the thread.

        Returns whether everything was delivered or settled without running out of time."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            self._closed = True
        lost_before = self._shutdown_losses()
        self._finish(deadline)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not self._in_request:
                remaining = 0.5  # it is only waiting, and gives up at once: let it count
            thread.join(max(remaining, 0.0))
        if thread is None or not thread.is_alive():
            self._close_transport()
        with self._lock:
            settled = not self._inflight
        return settled and self._shutdown_losses() == lost_before

    def at_exit(self) -> None:
        """The exit-time flush; events captured after it are sent from the capturing thread."""
        with self._lock:
            idle = not self._queue and not self._inflight and not self._replaying
            self._direct = self._exiting = True
        if not idle:
            self._finish(time.monotonic() + self._options.shutdown_timeout)
            with self._lock:  # a batch given up in flight is being spooled or counted
                if not self._in_request:
                    self._wait_settled(self._last_seq, time.monotonic() + 0.5)
        with self._lock:
            self._deadline = None

    def _shutdown_losses(self) -> int:
        return self._counters.dropped["shutdown"] + self._counters.spooled

    def _finish(self, deadline: float) -> bool:
        """Deliver until ``deadline``, then spool or drop what is left; True if nothing was."""
        dropped_before = self._counters.dropped["shutdown"]
        spooled_before = self._counters.spooled
        with self._lock:
            self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)
            self._hurry += 1
            target = self._last_seq
            alive = self._thread is not None and self._thread.is_alive()
            self._work.notify_all()
        if not alive:
            self._drain_here(deadline)
        with self._lock:
            self._wait_settled(target, deadline)
            while self._replaying and self._remaining(deadline) > 0:
                self._progress.wait(self._remaining(deadline))  # a spool being sent
            self._stopping = True
            in_flight = sum(self._inflight.values())
            leftover = list(self._queue)
            self._queue.clear()
            for _, payload in leftover:
                self._held.remove(payload)
            self._work.notify_all()
        self._lose(leftover, "shutdown")
        dropped = self._counters.dropped["shutdown"] - dropped_before
        spooled = self._counters.spooled - spooled_before
        if dropped or spooled or in_flight:
            logger.warning(
                "shutdown ran out of time; undelivered events: %d "
                "(spooled %d, dropped %d, in flight %d)",
                dropped + spooled + in_flight,
                spooled,
                dropped,
                in_flight,
            )
        return not dropped and not spooled and not in_flight

    # ----------------------------------------------------------- the thread

    def _ensure_thread(self) -> bool:
        """Start the delivery thread if needed (lock held). False if it cannot run."""
        if self._thread is not None:
            return True
        thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            self._direct = self._exiting = True
            return False
        self._thread = thread
        self._stopping = False
        _process.install_hooks()
        return True

    def _run(self) -> None:
        try:
            self._maybe_replay()
            while True:
                with self._lock:
                    while not self._queue and not self._stopping:
                        self._work.wait()
                    batch = self._take_locked()
                if batch is None:
                    return
                if not self._deliver_tracked(batch, None):
                    self._maybe_replay()
        except Exception:  # pragma: no cover - _deliver guards itself; this is the last line
            internal_error("the delivery thread stopped unexpectedly")
            with self._lock:
                self._thread = None

    def _drain_here(self, deadline: float | None) -> None:
        """Deliver everything queued from the calling thread (sync mode, exit time)."""
        while True:
            with self._lock:
                batch = self._take_locked()
            if batch is None:
                return
            self._deliver_tracked(batch, deadline)

    def _take_locked(self) -> list[Item] | None:
        if not self._queue:
            return None
        batch: list[Item] = []
        total = 0
        limit = self._options.batch_size
        queue = self._queue
        while queue and len(batch) < limit:
            item_size = size(queue[0][1])
            if batch and total + item_size + len(batch) > MAX_REQUEST_BYTES:
                break
            batch.append(queue.popleft())
            total += item_size
        self._inflight[batch[0][0]] = len(batch)
        # Held in memory until delivered or given up, and so is the request body made of it.
        self._counted[batch[0][0]] = total
        self._held.total += total
        return batch

    def _deliver_tracked(self, batch: list[Item], deadline: float | None) -> int:
        """Deliver a batch registered in flight; returns how many events were given up."""
        outer = getattr(self._delivering, "active", False)
        self._delivering.active = True
        try:
            return self._deliver(batch, deadline)
        except Exception:
            internal_error("failed to deliver %d events", len(batch))
            self._counters.drop("internal_error", len(batch))
            return len(batch)
        finally:
            self._delivering.active = outer
            with self._lock:
                del self._inflight[batch[0][0]]
                body = self._counted.pop(batch[0][0], None)
                if body is not None:
                    self._held.total -= body
                    for _, payload in batch:
                        self._held.remove(payload)
                self._progress.notify_all()

    # ----------------------------------------------------------- delivery

    def _deliver(self, batch: list[Item], deadline: float | None) -> int:
        """One batch through the retry policy; returns the events given up (spooled or
        dropped) for lack of time or retries."""
        parts: list[list[Item]] = [batch]
        attempt = 0
        given_up = 0
        while parts:
            part = parts[0]
            if not self._wait_for_pause(deadline) or self._expired(deadline):
                rest = [item for waiting in parts for item in waiting]
                self._lose(rest, "shutdown")
                return given_up + len(rest)
            hurry = self._hurry  # a flush() from here on cuts the next backoff short
            response = self._send(part)
            verdict = _retry.judge(response)
            if verdict == Verdict.SENT:
                self._counters.add("sent", len(part))
                parts.pop(0)
                attempt = 0
            elif verdict == Verdict.SPLIT:
                parts.pop(0)
                if len(part) == 1:
                    self._counters.drop("too_large")
                    logger.warning("the server refused an event as too large (413); dropped it")
                else:
                    middle = len(part) // 2
                    parts[0:0] = [part[:middle], part[middle:]]
            elif verdict == Verdict.REJECT:
                parts.pop(0)
                self._counters.drop("rejected", len(part))
                logger.warning(
                    "the server rejected %d events with HTTP %s: %s",
                    len(part),
                    response.status,
                    " ".join(response.body.split())[:300] or "(empty body)",
                )
            else:
                attempt += 1
                if attempt > self._options.max_retries:
                    parts.pop(0)
                    attempt = 0
                    given_up += len(part)
                    logger.warning(
                        "gave up on %d events after %d retries (%s); last failure: %s",
                        len(part),
                        self._options.max_retries,
                        "spooling them" if self._spool else "dropping them",
                        _describe(response),
                    )
                    self._lose(part, "retries_exhausted")
                    continue
                self._counters.add("retried")
                if verdict == Verdict.PAUSE:
                    seconds = _retry.pause_seconds(response, attempt)
                    logger.info("rate limited (429); pausing all sending for %.1f s", seconds)
                    with self._lock:
                        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
                else:
                    seconds = _retry.backoff(attempt)
                    logger.info("%s; retrying in %.1f s", _describe(response), seconds)
                    self._backoff(seconds, deadline, hurry)
        return given_up

    def _send(self, part: list[Item]) -> TransportResponse:
        pieces = [b'{"api_key":', self._key_json, b',"batch":[']
        for index, (_, payload) in enumerate(part):
            if index:
                pieces.append(b",")
            pieces.extend(parts(payload))
        pieces += (b'],"sent_at":"', iso_now().encode(), b'"}')
        body = b"".join(pieces)
        if self._options.gzip:
            with import_lock:  # see _transport.import_lock
                import gzip

            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        with self._send_lock:
            self._in_request = True
            try:
                return self._transport.send(body, self._headers)
            finally:
                self._in_request = False

    # ----------------------------------------------------------- waiting

    def _expired(self, deadline: float | None) -> bool:
        limit = self._limit(deadline)
        return limit is not None and time.monotonic() >= limit

    @staticmethod
    def _remaining(deadline: float) -> float:
        return deadline - time.monotonic()

    def _limit(self, deadline: float | None) -> float | None:
        return self._deadline if deadline is None else deadline

    def _backoff(self, seconds: float, deadline: float | None, hurry: int) -> None:
        """Sleep before a retry; the deadline, or a flush()/shutdown() since generation
        ``hurry``, cuts it short."""
        end = time.monotonic() + seconds
        with self._lock:
            while self._hurry == hurry:
                limit = self._limit(deadline)
                remaining = min(end, limit if limit is not None else end) - time.monotonic()
                if remaining <= 0:
                    return
                self._work.wait(remaining)

    def _wait_for_pause(self, deadline: float | None) -> bool:
        """Wait out a 429 pause; False if the deadline comes first."""
        with self._lock:
            while True:
                now = time.monotonic()
                limit = self._limit(deadline)
                if limit is not None and limit <= now:
                    return False
                if self._paused_until <= now:
                    return True
                until = self._paused_until if limit is None else min(self._paused_until, limit)
                self._work.wait(until - now)

    def _settled(self, target: int) -> bool:
        """Lock held: is every event up to sequence ``target`` delivered or given up?"""
        if self._queue and self._queue[0][0] <= target:
            return False
        return all(first > target for first in self._inflight)

    def _wait_settled(self, target: int, deadline: float | None) -> bool:
        while not self._settled(target):
            if deadline is None:
                self._progress.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._progress.wait(remaining)
        return True

    def _close_transport(self) -> None:
        try:
            self._transport.close()
        except Exception:
            internal_error("closing the transport failed")

    # ----------------------------------------------------------- fork

    def after_fork_in_child(self) -> None:
        transport = self._transport
        if isinstance(transport, HttpTransport):
            transport.forget()  # its sockets are the parent's
        self._counters.reset()
        self._reset()

    def before_fork(self) -> None:
        self._lock.acquire()

    def after_fork_in_parent(self) -> None:
        self._lock.release()


def _json_str(text: str) -> bytes:
    import json

    return json.dumps(text).encode()


def _describe(response: TransportResponse) -> str:
    if response.status is None:
        return response.error or "network error"
    return f"HTTP {response.status}"
