"""Delivery: a bounded in-memory queue drained by one daemon thread per client.

- :meth:`Worker.put` never blocks the caller beyond a short lock: when the
  queue holds ``max_queue_size`` events or ``max_queue_bytes`` bytes, the new
  event is dropped, counted, and logged once per burst of drops.
- The thread (``posthog-exceptions-worker``) starts with the first event and
  sends whatever has accumulated as soon as it is free — no fixed delay — in
  batches of at most ``batch_size`` events and 5 MiB, through a
  :class:`~posthog_exceptions._delivery.sender.Sender` (the one retry policy of
  :mod:`posthog_exceptions._delivery.retry`). It sleeps on a condition variable, never
  in a polling loop; backoff waits (:class:`~posthog_exceptions._delivery.sender.Pacing`)
  are cut short by :meth:`flush` and :meth:`shutdown`.
- :meth:`flush` waits until every event queued before the call is delivered or
  given up. At interpreter exit the queue is flushed for up to
  ``shutdown_timeout`` (an ``atexit`` handler registered when the first worker
  starts); events captured after that are sent from the capturing thread.
- What cannot be delivered goes to the worker's
  :class:`~posthog_exceptions._delivery.replay.Replay`: the disk spool, or a drop count.
- After ``os.fork()`` the child gets a fresh queue, locks, counters and
  connection, and a thread of its own on its first event; it never resends the
  parent's pending events.
- ``sync_mode``, a thread that cannot be started (interpreter shutdown) and
  exit time all deliver from the calling thread through the same code path.

The parts are composed: the worker owns a :class:`Ledger` (the queue's memory), a
``Pacing``, a ``Sender`` and a ``Replay``, and only the worker's lock guards the queue.
"""

from __future__ import annotations

import os
import threading
import time

from posthog_exceptions._event import forked
from posthog_exceptions._log import internal_error, logger
from posthog_exceptions._own import OwnLock, forget_locks, renew_work, work

from . import process as _process
from .hosts import threads_unavailable
from .queue import Batch, EventQueue, requests
from .replay import Replay
from .sender import Pacing, Sender
from .spool import Spool
from .transport import HttpTransport
from .watchdog import Watchdog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from posthog_exceptions._config import Options
    from posthog_exceptions._payload import Payload
    from posthog_exceptions._stats import Counters

THREAD_NAME = "posthog-exceptions-worker"
EXIT_GRACE = 0.5
"""Seconds the exit waits, past its deadline, for a batch given up in flight to be spooled
or counted (its request ends at the deadline)."""


class Worker:
    """Queues serialised events and delivers them for one client."""

    def __init__(self, options: Options, counters: Counters) -> None:
        self._options = options
        self._counters = counters
        self._spool = (
            Spool(options.spool_dir, options.spool_max_bytes) if options.spool_dir else None
        )
        self._no_threads = None if options.sync_mode else threads_unavailable()
        if self._no_threads:
            logger.warning("%s: each capture sends its event before it returns", self._no_threads)
        self._reset()
        _process.track(self)
        _process.watch_children()
        if not options.sync_mode and self._replay.has_pending():
            with self._lock:  # events from an earlier process wait: start sending them now
                self._ensure_thread(replay_first=True)  # (an early exit waits for them)

    def _reset(self) -> None:
        """Fresh state; also what a forked child starts from."""
        options = self._options
        self._lock = OwnLock()  # never waited for by code that interrupts its holder
        self._work = threading.Condition(self._lock)  # type: ignore[arg-type]  # the delivery thread waits here
        self._progress = threading.Condition(self._lock)  # type: ignore[arg-type]
        self._queue = EventQueue(options.max_queue_size, options.max_queue_bytes, self._counters)
        self._thread: threading.Thread | None = None
        self._direct = options.sync_mode or bool(self._no_threads)  # send on the caller
        self._pid = os.getpid()
        self._lock_kind = threading.Lock  # what made the locks (a monkey-patch replaces it)
        self._closed = False  # shutdown() was called: accept nothing more
        self._stopping = False  # the delivery thread should end once the queue is empty
        self._exiting = False  # the exit-time flush has run
        self._exit_by: float | None = None  # the exit's time budget ends then
        self._burst = 0  # events dropped since the queue last had room
        self._pacing = Pacing()
        self._replay = Replay(options, self._counters, self._spool, self._pacing)
        transport = options.transport or HttpTransport(options.host, options.timeout)
        self._sender = Sender(options, self._counters, transport, self._pacing, self._replay.lose)
        self._watch = Watchdog(options.stall_timeout, self._counters, self._sender, self._pacing)

    # ----------------------------------------------------------------- callers

    def put(self, payload: Payload, uuid: str | None = None) -> bool:
        """Queue one serialised event. Returns False when it was dropped (and counted).

        ``uuid`` (the event's) is recorded in ``work.queued`` the moment the event is in
        the queue, so that a capture that fails after that point never sends it twice.

        Nothing is logged while the lock is held: a logging handler of the application's
        that captures would otherwise wait for it (it is refused as re-entrant instead)."""
        if self._pid != os.getpid() or threading.Lock is not self._lock_kind:
            self._catch_up()
        options = self._options
        stall = False
        with self._lock:
            idle = not self._queue.waiting and not self._queue.inflight  # it waits for work
            if self._closed:
                self._counters.drop("shutdown")
                refused: tuple[Any, ...] | None = ("closed",)
            elif not self._queue.admit_locked(payload, uuid):
                self._counters.drop("queue_full")
                self._burst += 1
                refused = ("full", len(self._queue), self._queue.held.total, self._burst)
            else:
                refused = None
                recovered, self._burst = self._burst, 0
                direct = self._direct or (self._thread is None and not self._ensure_thread())
                if not direct:
                    self._work.notify()
                    direct = self._watch.stalled_now(idle)  # then this thread sends
                    stall = direct and self._watch.notice_locked()  # a new stall, to report
        if refused is not None:
            _log_refusal(refused)
            return False
        if stall:
            self._watch.report()
        if recovered:
            logger.warning("the queue has room again; %d events were dropped", recovered)
        if direct and work.delivering:
            # Captured by code the delivery itself ran (a transport or a logging handler
            # reacting to it): queue it; the delivery under way sends it next. Delivering
            # here would wait on this thread's own send lock.
            return True
        if direct:  # sync mode, or at exit: each capture waits at most shutdown_timeout
            self._drain_here(time.monotonic() + options.shutdown_timeout)
            if not self._exiting:
                self._replay.maybe_run(self._sender.deliver)
        return True

    def pending(self) -> int:
        if work.holding:  # interrupting the library on this thread: read, do not wait
            return len(self._queue)
        with self._lock:
            return len(self._queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued before this call is delivered or given up."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._lock:
            target = self._queue.last_seq
            if self._queue.settled_locked(target):
                return True
            if threading.current_thread() is self._thread:
                return False  # called from a before_send running on the worker: cannot wait
            alive = self._running_locked()
        if not alive:
            self._drain_here(deadline)
        self._pacing.hurry()
        with self._lock:
            self._work.notify_all()
            return self._wait_settled(target, deadline)

    def replay_spool(self, deadline: float | None) -> int:
        """Send what the spool holds for this client now, from the calling thread; returns
        how many events could not be delivered (``flush-spool``)."""
        return self._replay.run(self._sender.deliver, deadline)

    def shutdown(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, drop (and count) what is left, stop the thread.

        Returns whether everything was delivered or settled without running out of time."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            self._closed = True
        self._replay.close()
        lost_before = self._shutdown_losses()
        self._finish(deadline)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not self._sender.in_request:
                remaining = 0.5  # it is only waiting, and gives up at once: let it count
            thread.join(max(remaining, 0.0))
        if thread is None or not thread.is_alive():
            self._sender.close()
        with self._lock:
            settled = not self._queue.inflight and not self._replay.busy
        return settled and self._shutdown_losses() == lost_before

    def flush_for_exit(self) -> bool:
        """Flush within the exit's time budget (``shutdown_timeout``, counted from the first
        call: the fatal-error flush and the exit-time flush share it)."""
        return self.flush(max(self._exit_deadline() - time.monotonic(), 0.0))

    def _exit_deadline(self) -> float:
        with self._lock:
            if self._exit_by is None:
                self._exit_by = time.monotonic() + self._options.shutdown_timeout
            return self._exit_by

    def at_exit(self) -> None:
        """The exit-time flush, within what is left of the exit's time budget; events
        captured after it are sent from the capturing thread."""
        deadline = self._exit_deadline()
        with self._lock:
            idle = not self._queue and not self._queue.inflight and not self._replay.busy
            self._direct = self._exiting = True
        if not idle:
            self._finish(deadline)
            with self._lock:  # a batch given up in flight is being spooled or counted
                self._wait_settled(self._queue.last_seq, time.monotonic() + EXIT_GRACE)
                abandoned = self._queue.abandon_locked()
                self._progress.notify_all()
            if abandoned:  # still on the wire when the process ends: counted, not lost
                self._counters.drop("shutdown", abandoned)
                logger.warning("%d events were still being sent at exit; dropped", abandoned)
        self._pacing.clear_deadline()

    def _shutdown_losses(self) -> int:
        return self._counters.dropped["shutdown"] + self._counters.spooled

    def _finish(self, deadline: float) -> bool:
        """Deliver until ``deadline``, then spool or drop what is left; True if nothing was."""
        dropped_before = self._counters.dropped["shutdown"]
        spooled_before = self._counters.spooled
        self._pacing.hurry(deadline)
        with self._lock:
            target = self._queue.last_seq
            alive = self._running_locked()
            self._work.notify_all()
        if not alive:
            self._drain_here(deadline)
        with self._lock:
            settled = self._wait_settled(target, deadline)
        if not settled:
            self._sender.abort()  # a request still on the wire: its events are given up now
        self._replay.wait_idle(deadline)  # a spool being sent
        with self._lock:
            self._stopping = True
            in_flight = sum(self._queue.inflight.values())
            leftover = self._queue.drain_locked()
            self._work.notify_all()
        self._replay.lose(leftover, "shutdown")
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

    def _ensure_thread(self, replay_first: bool = False) -> bool:
        """Start the delivery thread if needed (lock held). False if it cannot run.

        ``replay_first``: the new thread sends the spool before anything else."""
        if self._thread is not None:
            return True
        thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        if replay_first:
            self._replay.reserve(thread)
        try:
            thread.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            self._replay.release(thread)
            self._direct = self._exiting = True
            return False
        self._thread = thread
        self._stopping = False
        _process.install_hooks()
        return True

    def _run(self) -> None:
        deliver = self._sender.deliver
        try:
            self._replay.maybe_run(deliver)
            while True:
                with self._lock:
                    while not self._queue and not self._stopping:
                        self._work.wait()
                    batch = self._queue.take_locked(self._options.batch_size)
                    self._watch.alive()
                if batch is None:
                    return
                if not self._deliver(batch, None):
                    self._replay.maybe_run(deliver)
                self._watch.alive()
        except Exception:  # pragma: no cover - the sender guards itself; this is the last line
            internal_error("the delivery thread stopped unexpectedly")
            with self._lock:
                self._thread = None

    def _drain_here(self, deadline: float | None) -> None:
        """Deliver everything queued from the calling thread (sync mode, exit time)."""
        while True:
            with self._lock:
                batch = self._queue.take_locked(self._options.batch_size)
            if batch is None:
                return
            self._deliver(batch, deadline)

    def _deliver(self, batch: Batch, deadline: float | None) -> int:
        """Deliver a batch taken from the queue; returns how many events were given up."""
        try:  # (an event captured but not built yet is built here, on the sending thread)
            parts = requests(batch.payloads)
            return sum([self._sender.deliver(part, deadline) for part in parts])
        finally:
            with self._lock:
                self._queue.settle_locked(batch)
                self._progress.notify_all()

    # ----------------------------------------------------------- the process

    def _running_locked(self) -> bool:
        """The delivery thread exists and shows signs of life (lock held)."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._watch.stalled_now(False)

    def _catch_up(self) -> None:
        """The process changed under this worker without telling it.

        - Forked by code that bypasses ``os.register_at_fork`` (uWSGI forks its workers in
          C; a C extension's ``fork()``): start afresh, as the fork handler would have —
          the parent's queue is the parent's to send.
        - ``threading`` monkey-patched (gevent, eventlet) after the locks were made, as
          under gunicorn ``--preload`` with gevent workers: before the delivery thread
          starts — it will be a greenlet — make them anew, so no greenlet ever blocks the
          hub on a lock that does not yield."""
        renew_work()  # (if threading.local is patched; nothing otherwise)
        if self._pid != os.getpid():
            forget_locks()
            forked()  # new random bits for event ids
            self.after_fork_in_child()  # all made anew, from what threading is now
            return
        kind, self._lock_kind = self._lock_kind, threading.Lock
        if self._thread is None and not self._lock.locked():
            self._lock.renew()
            self._pacing.renew_lock()
            self._sender.renew_lock()
            self._replay.renew_lock()
        else:
            logger.debug("threading was patched after delivery began (%r); locks kept", kind)

    # ----------------------------------------------------------- waiting

    def _wait_settled(self, target: int, deadline: float | None) -> bool:
        while not self._queue.settled_locked(target):
            if deadline is None:
                self._progress.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._progress.wait(remaining)
        return True

    # ----------------------------------------------------------- fork

    def after_fork_in_child(self) -> None:
        transport = self._sender.transport
        if isinstance(transport, HttpTransport):
            transport.forget()  # its sockets are the parent's
        self._counters.reset()
        self._reset()

    def before_fork(self) -> None:
        self._lock.acquire()

    def after_fork_in_parent(self) -> None:
        self._lock.release()


def _log_refusal(refused: tuple[Any, ...]) -> None:
    """The log line for an event :meth:`Worker.put` refused (once per burst when full)."""
    if refused[0] == "closed":
        logger.warning("the client was shut down; dropping an event captured after it")
    elif refused[3] == 1:
        logger.warning(
            "the event queue is full (%d events, %d bytes); dropping new events until it drains",
            refused[1],
            refused[2],
        )
