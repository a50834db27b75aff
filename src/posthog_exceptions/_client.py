"""The Client: build an event, filter it, serialise it, hand it to the worker.

Every public method is a never-raise boundary: after construction (which
validates its options and raises on bad ones), a failure inside the library
is logged on the ``posthog_exceptions`` logger and counted, and the call
returns ``None``/``False``. The boundary catches ``Exception`` only, so
``KeyboardInterrupt`` and ``SystemExit`` still reach the program.
"""

from __future__ import annotations

import sys

from . import _context, _deferred
from ._assemble import Assembler, anonymous
from ._capture.kinds import MANUAL
from ._capture.rules import is_ignored, mark_sent, resolve, sent_uuid
from ._config import Options, build_options
from ._event import normalize_distinct_id, normalize_timestamp, normalize_uuid, problem
from ._guard import capture_entry, never_raise
from ._log import enable_debug, logger
from ._own import work
from ._payload import size as payload_size
from ._ratelimit import RateLimiter
from ._serialize import clean, dumps, safe_repr
from ._stats import Counters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import FrameType
    from typing import Any, Callable, TypeVar

    from ._capture.builder import ExceptionBuilder
    from ._capture.exception_list import ExceptionList
    from ._capture.kinds import CaptureKind
    from ._capture.rules import ExceptionArg
    from ._payload import Payload
    from ._types import Stats

    F = TypeVar("F", bound=Callable[..., Any])

MAX_EVENT_BYTES = 900 * 1024
"""Events above this size are not sent (the capture service refuses events near 1 MB)."""


class Client:
    """An independent PostHog client: its own options, queue, worker thread and connection.

    ``Client(api_key=None, host=None, **options)`` takes the options listed in the
    README (and on :class:`~posthog_exceptions._config.Options`). Bad options raise
    ``TypeError``/``ValueError`` here; nothing the client does later raises.
    """

    def __init__(self, api_key: str | None = None, host: str | None = None, **options: Any) -> None:
        self.options: Options = build_options(api_key, host, options)
        if self.options.debug:
            enable_debug()
        self._counters = Counters()
        from ._delivery.worker import Worker  # loads with the first client, not the package

        self._worker = Worker(self.options, self._counters)
        self._exceptions: ExceptionBuilder | None = None  # built with the first exception
        self._rate_limiter = (
            RateLimiter(self.options.rate_limit_burst, self.options.rate_limit_per_second)
            if self.options.rate_limit
            else None
        )
        self._assembler = Assembler(self.options)
        self._enabled = self.options.has_key and not self.options.disabled  # (frozen options)
        self._defer = not self.options.sync_mode and self.options.before_send is None
        """Build ``$exception`` events on the sending thread (:mod:`._deferred`)."""
        if not self.options.has_key and not self.options.disabled:
            logger.warning(
                "no PostHog project API key (api_key=, POSTHOG_API_KEY or "
                "POSTHOG_PROJECT_API_KEY); the client is disabled and sends nothing"
            )

    @property
    def enabled(self) -> bool:
        """Whether this client sends anything (it has a key and is not ``disabled``)."""
        return self._enabled

    # ------------------------------------------------------------- events

    @never_raise(None)
    @capture_entry
    def capture(
        self,
        event: str,
        *,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        uuid: Any = None,
    ) -> str | None:
        """Send an event; returns its uuid, or ``None`` when it was not queued.

        Without a ``distinct_id`` (here or as the client's default) the event gets a
        random one and ``$process_person_profile: false``, so no person is created.
        """
        if not isinstance(event, str) or not event:
            return self._invalid(f"capture() needs a non-empty event name, got {safe_repr(event)}")
        return self._send(event, distinct_id, clean(properties or {}), timestamp, uuid)

    @never_raise(None)
    @capture_entry
    def identify(
        self,
        distinct_id: Any,
        properties: Mapping[str, Any] | None = None,
        *,
        set_once: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Set person properties: sends ``$identify`` with ``$set`` and ``$set_once``."""
        if normalize_distinct_id(distinct_id) is None:
            return self._invalid(f"identify() needs a distinct_id, got {safe_repr(distinct_id)}")
        props = {"$set": clean(properties or {}), "$set_once": clean(set_once or {})}
        return self._send("$identify", distinct_id, props, with_context=False)

    @never_raise(None)
    @capture_entry
    def alias(self, previous_id: Any, distinct_id: Any) -> str | None:
        """Link two ids of one person: sends ``$create_alias`` as ``previous_id``."""
        previous, new = normalize_distinct_id(previous_id), normalize_distinct_id(distinct_id)
        if previous is None or new is None:
            return self._invalid(
                f"alias() needs two ids, got {safe_repr(previous_id)} and {safe_repr(distinct_id)}"
            )
        props = {"distinct_id": previous, "alias": new}
        return self._send("$create_alias", previous, props, with_context=False)

    @never_raise(None, headroom=True)
    def capture_exception(
        self,
        exception: ExceptionArg = None,
        *,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
        fingerprint: str | Sequence[str] | None = None,
        level: str | None = None,
        issue_name: str | None = None,
        issue_description: str | None = None,
    ) -> str | None:
        """Send an exception as an ``$exception`` event; returns its uuid.

        ``exception`` is an exception instance or an ``exc_info`` tuple; by default, the
        exception being handled. With nothing being handled, nothing is sent and ``None``
        is returned. An exception that was never raised gets the current call stack
        (``mechanism.synthetic: true``). The same exception object is sent once: capturing
        it again returns the first uuid. ``fingerprint`` (a string or list of strings, where
        ``"{{ default }}"`` stands for the automatic key) overrides the grouping; ``level``
        is one of fatal, error (the default), warning, log, info, debug. ``issue_name`` and
        ``issue_description`` name the issue PostHog opens for a new group (``$issue_name``,
        ``$issue_description``; PostHog uses them only when it creates the issue).
        """
        if issue_name is not None or issue_description is not None:
            properties = {**(properties or {})}
            if issue_name is not None:
                properties["$issue_name"] = str(issue_name)
            if issue_description is not None:
                properties["$issue_description"] = str(issue_description)
        return self._capture_unguarded(  # (this method is the boundary)
            MANUAL,
            exception,
            distinct_id=distinct_id,
            properties=properties,
            fingerprint=fingerprint,
            level=level,
        )

    def install_hooks(self) -> None:
        """Send unhandled exceptions through this client: ``sys.excepthook`` (unless the
        session is interactive and ``capture_interactive`` is off), ``threading.excepthook``
        and ``sys.unraisablehook``. Idempotent; the previous hooks still run."""
        from .integrations import hooks as _hooks

        _hooks.install(self)

    def uninstall_hooks(self) -> None:
        """Put back the hooks that :meth:`install_hooks` replaced, where they are still ours."""
        from .integrations import hooks as _hooks

        _hooks.uninstall(self)

    @never_raise(False)
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before the call is delivered or given up.

        Returns ``False`` if ``timeout`` seconds passed first. ``None`` waits as long as
        the retry policy keeps trying (about a minute of server trouble at most per batch).
        Called from code that interrupted the library on this thread (a signal handler or
        a finaliser that ran while the library held a lock), it returns ``False`` at once:
        waiting there could only deadlock.
        """
        if work.holding:
            return False
        return self._worker.flush(timeout)

    @never_raise(False)
    def _flush_for_exit(self) -> bool:
        """The fatal-error flush (``sys.excepthook``): it starts the exit's time budget,
        ``shutdown_timeout``, which the exit-time flush then only finishes."""
        if work.holding:
            return False
        return self._worker.flush_for_exit()

    @never_raise(False)
    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` (default ``shutdown_timeout``) seconds, then stop.

        What is still undelivered is dropped and counted; events captured afterwards
        are dropped too. Returns whether everything was delivered.
        """
        if work.holding:  # interrupting the library on this thread: see flush()
            return False
        limit = self.options.shutdown_timeout if timeout is None else timeout
        return self._worker.shutdown(limit)

    def stats(self) -> Stats:
        """Counts of events queued, pending, sent, retried and dropped (by reason)."""
        return self._counters.snapshot(self._worker.pending())

    # ------------------------------------------------------------- internals

    @capture_entry
    def _capture_unguarded(
        self,
        kind: CaptureKind,
        exception: ExceptionArg,
        *,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
        fingerprint: str | Sequence[str] | None = None,
        level: str | None = None,
        stack: FrameType | None = None,
        fallback_distinct_id: Any = None,
    ) -> str | None:
        """The one path of every exception: filter, build, send, mark as sent.

        ``kind`` (see :mod:`posthog_exceptions._capture.kinds`) says which entry point captured
        it: the mechanism, ``handled``, the default level, the source and whether the
        flow-control exceptions are skipped. ``level`` overrides the kind's. ``stack`` is
        the frame where the synthesised stack of a never-raised exception ends (by default
        the caller's; the logging integration passes the logging call).
        ``fallback_distinct_id`` is an integration's ``distinct_id`` callable's answer: below
        the context's distinct id, above the tracing header's (see :mod:`._assemble`)."""
        resolved = resolve(exception)
        if resolved is None:
            return None
        exc, tb = resolved
        already = sent_uuid(exc)
        if already is not None:
            return already
        if is_ignored(exc, self.options, kind.automatic):
            return None
        if self._exceptions is None:  # the first exception loads what builds events
            from ._capture.builder import ExceptionBuilder

            self._exceptions = ExceptionBuilder(self.options)
        synthetic = None
        if tb is None:
            from ._capture.frames import from_stack

            synthetic = from_stack(sys._getframe(1) if stack is None else stack)
        limiter = self._rate_limiter
        walked = self._exceptions.walk(
            exc, tb, fingerprint=fingerprint, synthetic_stack=synthetic, keyed=limiter is not None
        )
        suppressed = 0
        if limiter is not None:
            admitted, suppressed = limiter.admit(walked.fingerprint)  # type: ignore[arg-type]
            if not admitted:
                self._counters.drop("rate_limited")
                return None
        props = clean(properties) if properties else {}  # scrubbed where the event is built
        scope = _context.remembered(exc) or _context.current()
        person = (distinct_id, fallback_distinct_id)
        # built by the thread that sends it, or here (sync_mode, before_send): see _deferred
        uid = _deferred.send(self, walked, kind, level, props, person, scope, suppressed)
        if uid is not None:
            mark_sent(exc, uid)
        return uid

    _capture = never_raise(None, headroom=True)(_capture_unguarded)
    """The one path of every exception (see :meth:`_capture_unguarded`), as a never-raise
    boundary: what the hooks, the decorator and the integrations call."""

    def _invalid(self, message: str) -> str | None:
        """Count and log a call that cannot become an event; returns ``None`` for the caller."""
        self._counters.drop("invalid")
        logger.warning("%s; nothing was sent", message)
        return None

    def _send(
        self,
        name: str,
        distinct_id: Any,
        properties: dict[str, Any],
        timestamp: Any = None,
        uuid: Any = None,
        exceptions: ExceptionList | None = None,
        *,
        fallback: Any = None,
        with_context: bool = True,
        scope: _context.Context | None = None,
    ) -> str | None:
        """Complete the event (the shared parts and the context's, see :mod:`._assemble`),
        filter it, queue it. ``exceptions`` is the ``$exception_list`` of an ``$exception``
        event, which shares frames with other events: ``before_send`` and the shrinking of
        an oversize event get a copy. ``with_context=False`` (``$identify``,
        ``$create_alias``) leaves the context out: those are about the person they name."""
        event_uuid = normalize_uuid(uuid)
        if scope is None and with_context:
            scope = _context.current()
        props = self._assembler.properties(properties, scope)
        person = self._assembler.person(distinct_id, fallback, scope)
        if person is None:
            person = anonymous()
            props["$process_person_profile"] = False
        event: dict[str, Any] = {
            "event": name,
            "distinct_id": person,
            "properties": props,
            "timestamp": normalize_timestamp(timestamp),
            "uuid": event_uuid,
        }
        shrinkable = exceptions is not None
        if self.options.before_send is not None:
            if exceptions is not None:
                props["$exception_list"] = exceptions.copy()  # the event's own, to edit
                exceptions = None
            edited = self._before_send(event)
            if edited is None:
                return None
            event = edited
        payload = self._encode(event, exceptions, shrinkable=shrinkable)
        if payload is None:
            return None
        return event_uuid if self._worker.put(payload, event_uuid) else None

    def _encode(
        self, event: dict[str, Any], exceptions: ExceptionList | None, *, shrinkable: bool = True
    ) -> Payload | None:
        """The event's JSON, an ``$exception`` event shrunk to fit; ``None`` (counted and
        logged) when it is still too large."""
        props = event["properties"]
        payload = exceptions.encode(event) if exceptions is not None else dumps(event)
        if payload_size(payload) > MAX_EVENT_BYTES and shrinkable:
            if exceptions is not None:
                props["$exception_list"] = exceptions.copy()  # shrinking edits it
            from ._capture.shrink import shrink

            for _ in shrink(props):
                payload = dumps(event)
                if len(payload) <= MAX_EVENT_BYTES:
                    break
        if payload_size(payload) > MAX_EVENT_BYTES:
            self._too_large(event["event"], payload_size(payload))
            return None
        return payload

    def _too_large(self, name: str, size: int) -> str | None:
        """Count and log an event too large to send; returns ``None`` for the caller."""
        self._counters.drop("too_large")
        logger.warning(
            "event %r is %d bytes, above the %d-byte limit; dropped it", name, size, MAX_EVENT_BYTES
        )
        return None

    def _before_send(self, event: dict[str, Any]) -> dict[str, Any] | None:
        assert self.options.before_send is not None
        try:
            result = self.options.before_send(event)
        except Exception:
            # Dropping is the safe side: before_send is where users scrub personal data.
            self._counters.drop("before_send_error")
            logger.warning("before_send raised; the event was dropped", exc_info=True)
            return None
        if result is None:
            self._counters.drop("before_send")
            return None
        if not isinstance(result, dict) or not result.get("event"):
            self._counters.drop("invalid")
            logger.warning("before_send returned %s, not an event; dropped it", safe_repr(result))
            return None
        refused = problem(result)
        if refused is not None:  # PostHog would refuse the whole batch it travels in
            self._counters.drop("invalid")
            logger.warning(
                "before_send returned an event PostHog would refuse (%s); dropped it", refused
            )
            return None
        return result

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<posthog_exceptions.Client host={self.options.host!r} {state}>"
