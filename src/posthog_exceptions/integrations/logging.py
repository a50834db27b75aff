"""The ``logging`` integration: log records that carry an exception become ``$exception`` events.

- :class:`LoggingHandler` is a :class:`logging.Handler`. A record with ``exc_info``
  (``logger.exception(...)``, ``logger.error(..., exc_info=True)``) is sent with
  ``mechanism: logger``, ``handled: true``, the record's level mapped to PostHog's
  (CRITICAL → fatal, ERROR → error, WARNING → warning, INFO → info, lower → debug),
  ``$exception_source: python.logging`` and ``$logger_name``, ``$log_message``,
  ``$log_level``, ``$log_location``.
- With ``capture_messages=True``, a record at ERROR or above *without* an exception
  is sent as a :class:`LoggedError` carrying the message, whose synthesised stack
  (``mechanism.synthetic: true``) ends at the logging call in your code — the
  frames of the ``logging`` package are never the crash site.
- Records of the library's own logger and of ``urllib3``/``requests`` (which the
  transport uses while sending) are never captured, nor is anything logged while
  the library works on the thread (``_own.work``): while it delivers events (a custom
  transport that logs: capturing there would send from inside a send), builds an
  event (a ``__repr__`` or ``before_send`` that logs), or formats a record for this
  handler.
- An exception a hook or the decorator already sent is not sent again: the client
  remembers it on the exception object.
- The handler never raises: a broken format string is sent as its template, a
  failure inside the library goes to the library's logger, which this handler
  ignores.

This module imports :mod:`logging`, so the package exports it lazily.
"""

from __future__ import annotations

import logging
import sys
import threading

from posthog_exceptions._capture.kinds import LOGGING
from posthog_exceptions._default import get_client
from posthog_exceptions._log import LOGGER_NAME, internal_error
from posthog_exceptions._own import busy, is_own_module, work
from posthog_exceptions._serialize import safe_repr, safe_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Union

    from posthog_exceptions._client import Client

    Level = Union[int, str]
    Prepared = tuple[Client, Any, str, dict[str, Any], Union[FrameType, None]]

MAX_MESSAGE_LENGTH = 2000
"""``$log_message`` and the value of a :class:`LoggedError` are cut to this many characters."""
IGNORED_LOGGERS = (LOGGER_NAME, "urllib3", "requests")
"""Loggers (and their children) whose records are never captured: they log while sending."""
_MAX_WALK = 500
_LEVELS = (
    (logging.CRITICAL, "fatal"),
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
)
_lock = threading.Lock()


class LoggedError(Exception):
    """A log message at ERROR or above captured without an exception (``capture_messages``)."""


# The module name is part of the type in the grouping key: the one this type had when it
# was first sent stays, so that moving this module never regroups anyone's logged errors.
LoggedError.__module__ = "posthog_exceptions._logging"


def event_level(levelno: int) -> str:
    """The PostHog ``$exception_level`` of a logging level number."""
    for threshold, name in _LEVELS:
        if levelno >= threshold:
            return name
    return "debug"


class LoggingHandler(logging.Handler):
    """Sends log records that carry an exception (and, with ``capture_messages``, error
    messages) to PostHog through ``client``, by default the one :func:`init` installed
    (looked up for each record, so the handler may be attached before ``init()``)."""

    def __init__(
        self,
        level: Level = logging.ERROR,
        *,
        capture_messages: bool = False,
        client: Client | None = None,
    ) -> None:
        super().__init__(level)
        _check(capture_messages, client)
        self.capture_messages = capture_messages
        self.client = client

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler's lock: capturing is thread-safe, and a
        sync-mode client would otherwise hold every other thread's log call while it sends."""
        result = self.filter(record)
        if isinstance(result, logging.LogRecord):  # Python 3.12+: a filter may replace it
            record = result
        if not result:
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if _ignored_logger(record.name):
            return
        if busy():  # the library is at work on this thread: this record interrupts it
            if self._wanted(record):
                client = self.client if self.client is not None else get_client()
                if client is not None:
                    client._counters.drop("reentrant")
            return
        work.capturing = True  # formatting the record runs user code, which may log
        try:
            prepared = self._prepare(record)
        except Exception:
            prepared = None
            internal_error("the logging integration failed")  # our own logger: ignored here
        finally:
            work.capturing = False
        if prepared is not None:
            client, target, level, properties, stack = prepared
            client._capture(LOGGING, target, properties=properties, level=level, stack=stack)

    def handleError(self, record: logging.LogRecord) -> None:
        """Quiet: the handler has nothing of its own that could fail loudly."""

    def _prepare(self, record: logging.LogRecord) -> Prepared | None:
        """What to capture for ``record``: the client, the exception, its level, properties
        and (for a message) the frame its synthesised stack ends at; ``None`` for nothing."""
        if not self._wanted(record):
            return None
        exc_info = record.exc_info
        is_message = not _has_exception(exc_info)
        client = self.client if self.client is not None else get_client()
        if client is None or not client.enabled:
            return None
        message = _message(record)
        target: Any = exc_info
        stack: FrameType | None = None
        if is_message:
            target = LoggedError(message)
            stack = call_site(record)
        properties = {
            "$logger_name": record.name,
            "$log_message": message,
            "$log_level": record.levelname,
            "$log_location": f"{record.pathname}:{record.lineno} in {record.funcName}",
        }
        return client, target, event_level(record.levelno), properties, stack

    def _wanted(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is one this handler sends: it carries an exception, or it is
        an error message and ``capture_messages`` is on."""
        if _has_exception(record.exc_info):
            return True
        return self.capture_messages and record.levelno >= logging.ERROR

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<LoggingHandler ({level}, capture_messages={self.capture_messages})>"


def capture_logging(
    level: Level = logging.ERROR,
    *,
    logger: logging.Logger | str | None = None,
    capture_messages: bool = False,
    client: Client | None = None,
) -> LoggingHandler:
    """Attach a :class:`LoggingHandler` to ``logger`` (a logger or its name; by default the
    root logger) and return it. Idempotent: when the logger already has one, that handler
    takes these settings and is returned, so no record is sent twice."""
    target = _logger(logger)
    _check(capture_messages, client)
    with _lock:
        for handler in target.handlers:
            if isinstance(handler, LoggingHandler):
                handler.setLevel(level)
                handler.capture_messages = capture_messages
                handler.client = client
                return handler
        handler = LoggingHandler(level, capture_messages=capture_messages, client=client)
        target.addHandler(handler)
        return handler


def uncapture_logging(logger: logging.Logger | str | None = None) -> bool:
    """Remove the :class:`LoggingHandler` that :func:`capture_logging` attached to ``logger``
    (by default the root logger); returns whether there was one."""
    target = _logger(logger)
    with _lock:
        ours = [h for h in target.handlers if isinstance(h, LoggingHandler)]
        for handler in ours:
            target.removeHandler(handler)
    return bool(ours)


def call_site(record: logging.LogRecord) -> FrameType | None:
    """The frame of the logging call that made ``record``, found on the current stack.

    ``record.pathname``/``lineno``/``funcName`` say where the call is (``stacklevel``
    included). When the record was made elsewhere (another thread, a queue), the first
    frame above the handler outside ``logging`` and this library stands in."""
    frame: FrameType | None = sys._getframe(1)
    fallback: FrameType | None = None
    for _ in range(_MAX_WALK):
        if frame is None:
            break
        code = frame.f_code
        if (
            frame.f_lineno == record.lineno
            and code.co_filename == record.pathname
            and code.co_name == record.funcName
        ):
            return frame
        if fallback is None and not _is_internal(frame):
            fallback = frame
        frame = frame.f_back
    return fallback


def _is_internal(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__")
    if not isinstance(name, str):
        return False
    return name == "logging" or name.startswith("logging.") or is_own_module(name)


def _has_exception(exc_info: object) -> bool:
    return (
        isinstance(exc_info, tuple)
        and len(exc_info) == 3
        and isinstance(exc_info[1], BaseException)
    )


def _ignored_logger(name: object) -> bool:
    if not isinstance(name, str):
        return False
    return any(name == ignored or name.startswith(ignored + ".") for ignored in IGNORED_LOGGERS)


def _message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, bounded; a format that fails gives the template and args."""
    try:
        text = record.getMessage()
    except Exception:
        text = f"{safe_str(record.msg)} (unformattable; args: {safe_repr(record.args, 500)})"
    return safe_str(text, MAX_MESSAGE_LENGTH)


def _logger(logger: logging.Logger | str | None) -> logging.Logger:
    if logger is None or isinstance(logger, str):
        return logging.getLogger(logger)
    if isinstance(logger, logging.Logger):
        return logger
    raise TypeError(f"'logger' must be a logging.Logger, a logger name or None, got {logger!r}")


def _check(capture_messages: object, client: object) -> None:
    if not isinstance(capture_messages, bool):
        raise TypeError(f"'capture_messages' must be True or False, got {capture_messages!r}")
    if client is not None:
        from posthog_exceptions._client import Client

        if not isinstance(client, Client):
            raise TypeError(f"'client' must be a posthog_exceptions.Client or None, got {client!r}")
