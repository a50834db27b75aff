"""From an exception to the properties of an ``$exception`` event, and the rules around it.

- **Filter before you build**: ignore rules and the "already sent" check run
  before any frame is walked.
- **Once per exception**: a sent exception is marked with its event uuid (an
  attribute on the exception object, so nothing — not the exception, its
  traceback or its frames — is kept alive by the library); capturing it again
  returns that uuid and sends nothing. This is how a decorator's capture and
  the global hook it re-raises into produce one event.
- **No re-entrance**: while a thread builds an exception event
  (``_own.work.capturing``), a capture triggered from inside (a ``__repr__`` that logs,
  a hook that fires) is skipped.
- **Never oversize**: an event above the size limit is made smaller step by
  step — local variables, then context lines, then message lengths, then
  frames, then chained exceptions — until it fits.
"""

from __future__ import annotations

import sys
from types import TracebackType

from posthog_exceptions._log import logger
from posthog_exceptions._serialize import safe_repr

from .kinds import LEVELS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any, Union

    from posthog_exceptions._config import Options

    from .exceptions import Node
    from .frames import Raw
    from .kinds import CaptureKind

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


class ExceptionBuilder:
    """Builds the ``$exception`` properties for one client's options."""

    def __init__(self, options: Options) -> None:
        # deferred, with everything that builds exception events; kept here, so that a
        # capture does not pay for an import statement
        from . import exception_list as _exception_list
        from . import exceptions as _exception
        from . import fingerprint as _fingerprint
        from . import frames as _frames

        self._exception = _exception
        self._render = _exception_list.render
        self._fingerprint = _fingerprint
        self.reader = _frames.FrameReader(options)
        self.capture_locals = options.capture_locals
        self.scrub_names = options.scrub_names
        self._scrubber: Any = None
        self._budget: Any = None

    def walk(
        self,
        exc: BaseException,
        tb: TracebackType | None,
        *,
        fingerprint: str | Sequence[str] | None,
        synthetic_stack: list[Raw] | None,
    ) -> Walked:
        """The cheap half: the exceptions, their frames and the fingerprint."""
        _exception, _fingerprint = self._exception, self._fingerprint
        nodes = _exception.walk(
            exc, traceback=tb, reader=self.reader, synthetic_stack=synthetic_stack
        )
        parts = _fingerprint.default_parts([node.key for node in nodes])
        custom = _custom_fingerprint(fingerprint)
        if custom is not None:
            parts = _fingerprint.custom_parts(custom, parts)
        return Walked(nodes, _fingerprint.fingerprint(parts))

    def properties(self, walked: Walked, kind: CaptureKind, level: str | None) -> dict[str, Any]:
        """The expensive half: context lines, local variables, the event properties.

        ``$exception_list`` is an :class:`~posthog_exceptions._capture.exception_list.ExceptionList`
        (encode the event with it, or copy it to edit it)."""
        variables = None
        if self.capture_locals:
            if self._scrubber is None:
                from .scrub import Scrubber
                from .variables import Budget

                self._scrubber = Scrubber(self.scrub_names)
                self._budget = Budget
            variables = (self._budget(), self._scrubber)
        exception_list = self._render(
            walked.nodes,
            mechanism_type=kind.mechanism,
            handled=kind.handled,
            reader=self.reader,
            variables=variables,
        )
        return {
            "$exception_list": exception_list,
            "$exception_fingerprint": walked.fingerprint,
            "$exception_level": kind.level if level is None else _level(level),
            "$exception_source": kind.source,
        }


class Walked:
    """The exceptions of one event, walked, and their fingerprint."""

    __slots__ = ("fingerprint", "nodes")

    def __init__(self, nodes: list[Node], fingerprint: str) -> None:
        self.nodes = nodes
        self.fingerprint = fingerprint


def _level(level: object) -> str:
    """A valid level, else ``"error"`` and one log line. Exactly a str: a subclass's
    ``__eq__`` may raise, or claim to equal anything."""
    if type(level) is str and level in LEVELS:
        return level
    logger.warning("level %s is not one of %s; using 'error'", safe_repr(level), ", ".join(LEVELS))
    return "error"


def _custom_fingerprint(value: Any) -> str | list[str] | None:
    """``fingerprint=`` as a plain str or list of plain strs, else ``None`` (logged).

    Fast path for exact types; subclasses of str, list and tuple are read through the
    base type's C methods (their own ``__len__``, ``__iter__`` or ``__eq__`` may raise)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        if value:
            return str(value)
    elif kind is list or kind is tuple:
        items = _plain_strs(value)
        if items:
            return items
    else:
        try:
            if issubclass(kind, str):
                text = str.__str__(value)
                if text:
                    return text
            elif issubclass(kind, (list, tuple)):
                base = list if issubclass(kind, list) else tuple
                items = _plain_strs(list(base.__iter__(value)))
                if items:
                    return items
        except Exception:
            pass
    logger.warning("fingerprint %s is not a string or a list of strings; ignored", safe_repr(value))
    return None


def _plain_strs(items: Any) -> list[str] | None:
    """The items as plain strs, or ``None`` when there are none or one is not a str."""
    out: list[str] = []
    for item in items:
        if type(item) is str:
            out.append(item)
        elif issubclass(type(item), str):
            out.append(str.__str__(item))
        else:
            return None
    return out or None


def shrink(properties: Mapping[str, Any]) -> Iterator[None]:
    """Make an ``$exception`` event smaller, one step per iteration (wire-format §2 on 413).

    ``$exception_list`` must be the event's own plain list (``ExceptionList.copy()``): the
    steps edit it in place."""
    from . import frames as _frames

    exceptions: list[dict[str, Any]] = properties["$exception_list"]

    def without(*keys: str) -> None:
        for entry in exceptions:
            stack = entry.get("stacktrace")
            if stack:
                for frame in stack["frames"]:
                    for key in keys:
                        frame.pop(key, None)

    without("code_variables")
    yield
    without("pre_context", "post_context")
    yield
    for entry in exceptions:
        entry["value"] = entry["value"][:1000]
    without("context_line")
    yield
    for keep in (50, 20, 6):
        for entry in exceptions:
            stack = entry.get("stacktrace")
            if stack and len(stack["frames"]) > keep:
                head = keep // 3
                dropped = len(stack["frames"]) - keep
                marker = _frames.gap_marker(dropped, stack["frames"][0]["platform"] == "custom")
                stack["frames"] = [
                    *stack["frames"][:head],
                    marker,
                    *stack["frames"][-(keep - head) :],
                ]
        yield
    for keep in (10, 1):
        del exceptions[keep:]
        yield
