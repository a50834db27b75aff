"""One batch through the retry policy, and the waits that flush and shutdown cut short.

:class:`Sender` turns a list of serialised events into request bodies (at most 5 MiB,
gzip-compressed), sends them through the transport and acts on each answer as
:mod:`posthog_exceptions._delivery.retry` says: sent, split in halves (413), rejected, retried
after a backoff, or paused for everyone (429). What it gives up on goes to the
``lose`` callback it was made with (the spool, or a drop count). It runs on whichever
thread delivers — the worker thread, or the calling thread in sync mode and at exit —
and marks that thread as delivering (``_own.work.delivering``) meanwhile.

:class:`Pacing` holds what makes delivery wait: a 429 pause that holds back all sending,
backoffs before a retry, and an overall deadline once shutdown or the exit has begun.
Its waits are on a condition of its own, never under the worker's lock, and
:meth:`Pacing.hurry` (``flush()``, ``shutdown()``) cuts a backoff short.
"""

from __future__ import annotations

import threading
import time

from posthog_exceptions._event import iso_now
from posthog_exceptions._log import internal_error, logger
from posthog_exceptions._own import work
from posthog_exceptions._payload import parts
from posthog_exceptions._version import __version__

from . import retry as _retry
from .retry import Verdict
from .transport import TransportResponse, import_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from posthog_exceptions._config import Options
    from posthog_exceptions._payload import Built as Payload  # (built: queue.requests)
    from posthog_exceptions._stats import Counters
    from posthog_exceptions._types import Transport

    Lose = Callable[[list[Payload], str], None]

_BUSY = "another delivery held the transport until the deadline"

GZIP_LEVEL = 3  # deflate's fast family: about half the CPU of level 6, the bytes still small


class Pacing:
    """The 429 pause, the backoff waits, and the deadline that ends them (thread-safe)."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._generation = 0  # bumped by hurry(): a backoff begun before it ends at once
        self._paused_until = 0.0  # a 429 holds back all sending until then
        self._backoff_until = 0.0  # the backoff under way (or the last one) ends then
        self._deadline: float | None = None  # shutdown or the exit: give up after this

    @property
    def generation(self) -> int:
        return self._generation

    def quiet_until(self) -> float:
        """Until when delivery waits on purpose (a 429 pause, a backoff): the stall
        watchdog does not count that time against the delivery thread."""
        return max(self._paused_until, self._backoff_until)

    def renew_lock(self) -> None:
        """Make the lock anew from what ``threading.Lock`` is now (monkey-patching since);
        only while nothing delivers."""
        self._changed = threading.Condition(threading.Lock())

    def hurry(self, deadline: float | None = None) -> None:
        """Cut every backoff short; with ``deadline``, give up on retries after it."""
        with self._changed:
            if deadline is not None:
                current = self._deadline
                self._deadline = deadline if current is None else min(current, deadline)
            self._generation += 1
            self._changed.notify_all()

    @property
    def stopping(self) -> bool:
        """``shutdown()`` or the exit has set a deadline."""
        return self._deadline is not None

    def clear_deadline(self) -> None:
        with self._changed:
            self._deadline = None

    def limit(self, deadline: float | None) -> float | None:
        """The deadline a delivery works to: its own, else the shutdown's."""
        return self._deadline if deadline is None else deadline

    def expired(self, deadline: float | None) -> bool:
        limit = self.limit(deadline)
        return limit is not None and time.monotonic() >= limit

    def pause(self, seconds: float) -> None:
        with self._changed:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def wait_out_pause(self, deadline: float | None) -> bool:
        """Wait for a 429 pause to end; False if the deadline comes first."""
        with self._changed:
            while True:
                now = time.monotonic()
                limit = self.limit(deadline)
                if limit is not None and limit <= now:
                    return False
                if self._paused_until <= now:
                    return True
                until = self._paused_until if limit is None else min(self._paused_until, limit)
                self._changed.wait(until - now)

    def backoff(self, seconds: float, deadline: float | None, generation: int) -> None:
        """Sleep before a retry; the deadline, or a :meth:`hurry` since ``generation``,
        cuts it short."""
        end = time.monotonic() + seconds
        self._backoff_until = end
        with self._changed:
            while self._generation == generation:
                limit = self.limit(deadline)
                remaining = min(end, limit if limit is not None else end) - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)


class Sender:
    """Delivers batches for one client through its transport and the retry policy."""

    def __init__(
        self,
        options: Options,
        counters: Counters,
        transport: Transport,
        pacing: Pacing,
        lose: Lose,
    ) -> None:
        self._options = options
        self._counters = counters
        self.transport = transport
        self._pacing = pacing
        self._lose = lose
        self._key_json = _json_str(options.api_key)
        self._headers = {"Content-Type": "application/json", "X-Sdk-Version": __version__}
        if options.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._send_lock = threading.Lock()
        self.in_request = False
        """A request is on the wire."""
        self.active_at = 0.0
        """When a request last started or ended (a sign of life for the stall watchdog)."""

    def deliver(self, payloads: list[Payload], deadline: float | None) -> int:
        """Deliver ``payloads``; returns how many were given up (spooled or dropped) for
        lack of time or retries. Never raises: a failure here is logged and counted."""
        outer = work.delivering
        work.delivering = True
        try:
            return self._deliver(payloads, deadline)
        except Exception:
            internal_error("failed to deliver %d events", len(payloads))
            self._counters.drop("internal_error", len(payloads))
            return len(payloads)
        finally:
            work.delivering = outer

    def _deliver(self, batch: list[Payload], deadline: float | None) -> int:
        pacing = self._pacing
        waiting: list[list[Payload]] = [batch]
        attempt = 0
        given_up = 0
        while waiting:
            part = waiting[0]
            if not pacing.wait_out_pause(deadline) or pacing.expired(deadline):
                rest = [payload for each in waiting for payload in each]
                self._lose(rest, "shutdown" if pacing.stopping else "timed_out")
                return given_up + len(rest)
            generation = pacing.generation  # a flush() from here on cuts the backoff short
            response = self._post(part, deadline)
            verdict = _retry.judge(response)
            if verdict == Verdict.SENT:
                self._counters.add("sent", len(part))
                waiting.pop(0)
                attempt = 0
            elif verdict in (Verdict.SPLIT, Verdict.ISOLATE) and len(part) > 1:
                middle = len(part) // 2  # one event must not take the others with it
                waiting[0:1] = [part[:middle], part[middle:]]
            elif verdict == Verdict.SPLIT:
                waiting.pop(0)
                self._counters.drop("too_large")
                logger.warning("the server refused an event as too large (413); dropped it")
            elif verdict in (Verdict.REJECT, Verdict.ISOLATE):
                waiting.pop(0)
                self._counters.drop("rejected", len(part))
                _log_rejection(len(part), response)
            else:
                attempt += 1
                if attempt > self._options.max_retries:
                    waiting.pop(0)
                    attempt = 0
                    given_up += len(part)
                    self._give_up(part, response)
                    continue
                self._counters.add("retried")
                self._wait_to_retry(verdict, response, attempt, deadline, generation)
        return given_up

    def _give_up(self, part: list[Payload], response: TransportResponse) -> None:
        logger.warning(
            "gave up on %d events after %d retries (%s); last failure: %s",
            len(part),
            self._options.max_retries,
            "spooling them" if self._options.spool_dir else "dropping them",
            _describe(response),
        )
        self._lose(part, "retries_exhausted")

    def _wait_to_retry(
        self,
        verdict: str,
        response: TransportResponse,
        attempt: int,
        deadline: float | None,
        generation: int,
    ) -> None:
        if verdict == Verdict.PAUSE:
            seconds = _retry.pause_seconds(response, attempt)
            logger.info("rate limited (429); pausing all sending for %.1f s", seconds)
            self._pacing.pause(seconds)
        else:
            seconds = _retry.backoff(attempt)
            logger.info("%s; retrying in %.1f s", _describe(response), seconds)
            self._pacing.backoff(seconds, deadline, generation)

    def _post(self, part: list[Payload], deadline: float | None) -> TransportResponse:
        pieces = [b'{"api_key":', self._key_json, b',"batch":[']
        for index, payload in enumerate(part):
            if index:
                pieces.append(b",")
            pieces.extend(parts(payload))
        pieces += (b'],"sent_at":"', iso_now().encode(), b'"}')
        body = b"".join(pieces)
        if self._options.gzip:
            with import_lock:  # see _transport.import_lock
                import gzip

            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        limit = self._pacing.limit(deadline)
        lock = self._send_lock
        if not lock.acquire(timeout=-1 if limit is None else max(limit - time.monotonic(), 0.0)):
            return TransportResponse(None, error=_BUSY)
        try:
            self.active_at = time.monotonic()
            self.in_request = True
            send_by = getattr(self.transport, "send_by", None)
            if send_by is not None:  # the HTTP transport: bounded by the deadline too
                return send_by(body, self._headers, limit)  # type: ignore[no-any-return]
            return self.transport.send(body, self._headers)
        finally:
            self.in_request = False
            self.active_at = time.monotonic()
            lock.release()

    def renew_lock(self) -> None:
        """Make the send lock anew from what ``threading.Lock`` is now (gevent's or
        eventlet's after monkey-patching: a greenlet waiting for it must yield, not block
        the hub); only while nothing delivers."""
        if not self._send_lock.locked():
            self._send_lock = threading.Lock()

    def abort(self) -> None:
        """End the request on the wire now, if the transport can (the HTTP one can)."""
        abort = getattr(self.transport, "abort", None)
        if abort is not None and self.in_request:
            try:
                abort()
            except Exception:
                internal_error("aborting the request failed")

    def close(self) -> None:
        try:
            self.transport.close()
        except Exception:
            internal_error("closing the transport failed")


def _log_rejection(count: int, response: TransportResponse) -> None:
    status = response.status or 0
    if 300 <= status < 400:
        logger.warning(
            "the server answered %d events with a redirect (HTTP %s) to %s, which is not "
            "followed; they were dropped. Configure that address as the host (a host given "
            "as http:// that redirects to https:// needs the https:// URL)",
            count,
            status,
            response.location or "(no Location header)",
        )
        return
    logger.warning(
        "the server rejected %d events with HTTP %s: %s",
        count,
        status,
        " ".join(response.body.split())[:300] or "(empty body)",
    )


def _json_str(text: str) -> bytes:
    import json

    return json.dumps(text).encode()


def _describe(response: TransportResponse) -> str:
    if response.status is None:
        return response.error or "network error"
    return f"HTTP {response.status}"
