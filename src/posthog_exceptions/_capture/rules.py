"""Which exceptions a capture sends at all, decided before anything is built.

- **What to send**: :func:`resolve` turns the argument (an exception, an ``exc_info``
  tuple, or nothing: the exception being handled) into the exception and its traceback,
  reading them through ``BaseException``'s own descriptors.
- **Filter before you build**: the ``ignore`` option, and for automatic captures the
  flow-control exceptions (:func:`is_flow_control`), are checked before any frame is
  walked.
- **Once per exception**: a sent exception is marked with its event uuid (an attribute
  on the exception object, so nothing — not the exception, its traceback or its frames
  — is kept alive by the library); capturing it again returns that uuid and sends
  nothing. This is how a decorator's capture and the global hook it re-raises into
  produce one event.
- **No re-entrance**: while a thread builds an exception event
  (``_own.work.capturing``), a capture triggered from inside (a ``__repr__`` that logs,
  a hook that fires) is skipped (the client checks it).
"""

from __future__ import annotations

import sys
from types import TracebackType

from posthog_exceptions._log import logger
from posthog_exceptions._serialize import safe_repr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Union

    from posthog_exceptions._config import Options

    ExcInfo = tuple[
        Union[type[BaseException], None], Union[BaseException, None], Union[TracebackType, None]
    ]
    ExceptionArg = Union[BaseException, ExcInfo, None]

ALWAYS_IGNORED: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit)
MARK = "__posthog_exceptions_uuid__"


def resolve(exception: ExceptionArg) -> tuple[BaseException, TracebackType | None] | None:
    """The exception to send and its traceback: an instance, an ``exc_info`` tuple, or
    (``None``) the exception being handled right now.

    Types are checked with ``type()``: ``isinstance()`` would read a ``__class__``
    property, which a hostile exception may make raise."""
    if exception is None:
        exception = sys.exc_info()
    given: Any = exception
    kind = type(given)
    if issubclass(kind, BaseException):
        return given, traceback_of(given)
    if issubclass(kind, tuple) and tuple.__len__(given) == 3:  # C methods: see the docstring
        value, tb = tuple.__getitem__(given, 1), tuple.__getitem__(given, 2)
        if issubclass(type(value), BaseException):
            return value, tb if type(tb) is TracebackType else traceback_of(value)
        return None
    logger.warning(
        "capture_exception() got %s, not an exception; nothing was sent", safe_repr(exception)
    )
    return None


_BASE_TRACEBACK: Any = vars(BaseException)["__traceback__"]


def traceback_of(exc: BaseException) -> TracebackType | None:
    """The exception's traceback, read through BaseException's own descriptor: a class
    may shadow ``__traceback__`` (or all attribute access) with something that raises
    or returns junk."""
    tb = _BASE_TRACEBACK.__get__(exc)
    return tb if type(tb) is TracebackType else None


def sent_uuid(exc: BaseException) -> str | None:
    try:
        value = exc.__dict__.get(MARK)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def mark_sent(exc: BaseException, uuid: str) -> None:
    try:
        exc.__dict__[MARK] = uuid
    except Exception:
        pass  # an exception without a __dict__ can be sent twice; nothing worse


def is_ignored(exc: BaseException, options: Options, automatic: bool) -> bool:
    """``ignore`` applies to every capture; the built-in list only to hooks and decorators."""
    if options.ignore and issubclass(type(exc), options.ignore):
        return True
    return automatic and is_flow_control(exc)


def is_flow_control(exc: BaseException) -> bool:
    """KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError: not errors.

    (``issubclass(type(exc), ...)``, not ``isinstance()``: see :func:`resolve`.)"""
    kind = type(exc)
    if issubclass(kind, ALWAYS_IGNORED):
        return True
    asyncio = sys.modules.get("asyncio")  # never import it: only loaded programs can cancel
    cancelled = getattr(asyncio, "CancelledError", None)
    return isinstance(cancelled, type) and issubclass(kind, cancelled)
