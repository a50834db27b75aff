"""An exception → ``$exception_list`` (wire-format §3) and its grouping key.

Order: the exception that was caught first, then what it wraps, so the root
cause is last. Links are followed depth-first: an exception group's members
(``source: "member"``), then ``__cause__`` (``"cause"``), else ``__context__``
(``"context"``) unless ``__suppress_context__`` is set. A seen-set makes
cycles harmless, and the list stops at 50 entries.

Each entry: ``type`` (the class ``__qualname__``), ``value`` (the message with
``__notes__`` appended), ``module`` (omitted for builtins), ``mechanism`` and,
when there are frames, ``stacktrace``. The first entry's mechanism says how
the exception was caught (``type``), whether the program handled it
(``handled``, omitted when unknown) and whether its stack was synthesised
(``synthetic``); every later entry is ``chained`` with the ``source`` of the
link. ``exception_id``/``parent_id`` follow the cross-SDK contract.

Nothing an exception does — a ``__str__`` that raises, hostile ``__notes__``,
a ``__getattr__`` that raises, a chain that loops — can make building fail.
"""

from __future__ import annotations

import builtins
import sys
from dataclasses import dataclass
from types import FunctionType, TracebackType
from typing import TYPE_CHECKING, Any

from . import _frames
from ._fingerprint import ExceptionKey
from ._frames import FrameReader, Info, Raw
from ._serialize import safe_str

if TYPE_CHECKING:
    from ._scrub import Scrubber
    from ._variables import Budget

MAX_EXCEPTIONS = 50
MAX_VALUE_LENGTH = 10_000
_TYPE_ATTRS: Any = vars(type)  # type's own descriptors: no metaclass gets a say
MESSAGE_SECONDS = 0.05
"""How long an exception class's own ``__str__`` may run before it is cut off."""


@dataclass
class Node:
    """One exception of the list, walked but not yet rendered (no context lines, no locals).

    Walking is cheap, so the fingerprint and the rate limit are decided before the
    expensive part of building an event."""

    exception_id: int
    source: str | None  # how it links to its parent: cause, context, member
    parent: int | None
    type: str  # the class __qualname__
    module: str | None  # omitted for builtins
    value: str
    frames: list[Info]
    omitted: int  # frames trimmed out of the middle
    gap: int  # where the trimmed frames were
    synthetic: bool  # the stack is the capture site's, not the exception's

    @property
    def key(self) -> ExceptionKey:
        qualified = f"{self.module}.{self.type}" if self.module else self.type
        return ExceptionKey(qualified, self.value, self.frames, self.synthetic)


def walk(
    exc: BaseException,
    *,
    traceback: TracebackType | None = None,
    reader: FrameReader,
    synthetic_stack: list[Raw] | None = None,
) -> list[Node]:
    """``exc`` and what it links to, in list order, with their (described) frames.

    ``traceback`` overrides the first exception's own (an ``exc_info`` tuple may carry one)."""
    nodes: list[Node] = []
    seen: set[int] = set()
    # (exception, link source, parent id), popped from the end: depth-first.
    todo: list[tuple[BaseException, str | None, int | None]] = [(exc, None, None)]
    while todo and len(nodes) < MAX_EXCEPTIONS:
        current, source, parent = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        exception_id = len(nodes)
        tb = traceback if exception_id == 0 and traceback is not None else _traceback(current)
        raw = _frames.from_traceback(tb)
        synthetic = False
        if not raw and exception_id == 0 and synthetic_stack is not None:
            raw, synthetic = synthetic_stack, True
        kept, omitted, gap = reader.read(raw)
        cls = type(current)
        name = _class_attr(cls, "__qualname__") or _class_attr(cls, "__name__") or "Exception"
        module = _class_attr(cls, "__module__")
        nodes.append(
            Node(
                exception_id=exception_id,
                source=source,
                parent=parent,
                type=name[:255],
                module=module if module and module != "builtins" else None,
                value=_message(current),
                frames=kept,
                omitted=omitted,
                gap=gap,
                synthetic=synthetic,
            )
        )
        todo.extend(reversed(_links(current, exception_id)))
    return nodes


def render(
    nodes: list[Node],
    *,
    mechanism_type: str,
    handled: bool | None,
    reader: FrameReader,
    variables: tuple[Budget, Scrubber] | None = None,
    frame_json: dict[int, bytes] | None = None,
) -> list[dict[str, Any]]:
    """The ``$exception_list``: context lines and local variables are read here.

    ``frame_json`` receives the cached JSON of each frame dict that has one (keyed by
    ``id()`` of the dict), for :func:`~posthog_exceptions._serialize.dumps_spliced`."""
    entries = []
    for node in nodes:
        entry: dict[str, Any] = {"type": node.type, "value": node.value}
        if node.module:
            entry["module"] = node.module
        mechanism: dict[str, Any]
        if node.source is None:
            mechanism = {"type": mechanism_type}
            if handled is not None:
                mechanism["handled"] = handled
            if node.synthetic:
                mechanism["synthetic"] = True
            mechanism["exception_id"] = node.exception_id
        else:
            mechanism = {"type": "chained", "source": node.source}
            mechanism["exception_id"] = node.exception_id
            mechanism["parent_id"] = node.parent
        entry["mechanism"] = mechanism
        if node.frames:
            wire = []
            for info in node.frames:
                frame, encoded = reader.wire(info, variables)
                wire.append(frame)
                if encoded is not None and frame_json is not None:
                    frame_json[id(frame)] = encoded
            if node.omitted:
                wire.insert(node.gap, _frames.gap_marker(node.omitted, reader.custom))
            entry["stacktrace"] = {"type": "raw", "frames": wire}
        entries.append(entry)
    return entries


def _links(exc: BaseException, exception_id: int) -> list[tuple[BaseException, str, int]]:
    """What ``exc`` leads to, in list order: group members, then cause or context."""
    links: list[tuple[BaseException, str, int]] = []
    for member in _members(exc):
        links.append((member, "member", exception_id))
    cause = _attr(exc, "__cause__")
    if isinstance(cause, BaseException):
        links.append((cause, "cause", exception_id))
    elif not _attr(exc, "__suppress_context__"):
        context = _attr(exc, "__context__")
        if isinstance(context, BaseException):
            links.append((context, "context", exception_id))
    return links


def _members(exc: BaseException) -> list[BaseException]:
    groups = tuple(
        cls
        for cls in (
            getattr(builtins, "BaseExceptionGroup", None),
            getattr(sys.modules.get("exceptiongroup"), "BaseExceptionGroup", None),
        )
        if isinstance(cls, type)
    )
    if not groups or not isinstance(exc, groups):
        return []
    members = _attr(exc, "exceptions")
    if not isinstance(members, (list, tuple)):
        return []
    return [m for m in members if isinstance(m, BaseException)]


def _message(exc: BaseException) -> str:
    if isinstance(_class_attr_any(type(exc), "__str__"), FunctionType):
        from ._variables import bounded_str  # a Python __str__ may loop: bound its cost

        text = safe_str(bounded_str(exc, MESSAGE_SECONDS), MAX_VALUE_LENGTH)
    else:
        text = safe_str(exc, MAX_VALUE_LENGTH)
    notes = _attr(exc, "__notes__")
    if isinstance(notes, (list, tuple)) and notes:
        text = "\n".join([text, *(safe_str(note, MAX_VALUE_LENGTH) for note in notes)])
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 3] + "..."
    return text


def _traceback(exc: BaseException) -> TracebackType | None:
    tb = _attr(exc, "__traceback__")
    return tb if isinstance(tb, TracebackType) else None


def _attr(obj: object, name: str) -> Any:
    """``getattr`` that survives a hostile ``__getattr__``/property."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _class_attr_any(cls: type, name: str) -> Any:
    """The attribute as defined on the class or a base, without running any user code."""
    try:
        for klass in _TYPE_ATTRS["__mro__"].__get__(cls):
            found = _TYPE_ATTRS["__dict__"].__get__(klass).get(name)
            if found is not None:
                return found
    except Exception:
        pass
    return None


def _class_attr(cls: type, name: str) -> str | None:
    value = _attr(cls, name)
    return value if isinstance(value, str) else None
