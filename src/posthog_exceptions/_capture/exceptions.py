"""An exception → the walked entries of its ``$exception_list`` (wire-format §3) and their
grouping key; :mod:`posthog_exceptions._capture.exception_list` renders them.

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
from time import perf_counter
from types import TracebackType, WrapperDescriptorType
from typing import TYPE_CHECKING, Any, NamedTuple

from posthog_exceptions._serialize import cut_bytes, safe_str

from .frames import FrameReader, Info, Raw
from .stacks import Stack, Stacks

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_EXCEPTIONS = 50
MAX_VALUE_LENGTH = 10_000
MAX_NAME_BYTES = 255
"""An entry's ``type`` may have at most 255 UTF-8 bytes (wire-format §3); ``module`` gets the
same bound, so that an absurd ``__module__`` cannot make the event too large to send."""
_TYPE_ATTRS: Any = vars(type)  # type's own descriptors: no metaclass gets a say
_BASE_ARGS: Any = vars(BaseException)["args"]
_BASE_TRACEBACK: Any = vars(BaseException)["__traceback__"]
_BASE_CAUSE: Any = vars(BaseException)["__cause__"]  # None or an exception (C-checked)
_BASE_CONTEXT: Any = vars(BaseException)["__context__"]
_BASE_SUPPRESS: Any = vars(BaseException)["__suppress_context__"]  # a C bool
MESSAGE_SECONDS = 0.05
"""How long ``str()`` of one exception (its class's ``__str__``, or the ``__str__`` of its
arguments) and of its notes may run, in all, before it is cut off."""
MESSAGES_SECONDS = 0.25
"""The same bound for all the exceptions of one event."""


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
    frames: Sequence[Info]  # (the stack cache's shared tuple, with ``shared``)
    omitted: int  # frames trimmed out of the middle
    gap: int  # where the trimmed frames were
    synthetic: bool  # the stack is the capture site's, not the exception's
    keys: tuple[str, ...] | None = None  # the frames' grouping keys, when known already
    qualified: str = ""  # module.qualname (the qualname for builtins): the grouping key's
    scrubbed: bool = False  # value has been through the scrubber (see builder)
    shared: Stack | None = None  # the stack cache's entry, when frames are its shared Infos


def walk(
    exc: BaseException,
    *,
    traceback: TracebackType | None = None,
    reader: FrameReader,
    stacks: Stacks,
    synthetic_stack: list[Raw] | None = None,
) -> list[Node]:
    """``exc`` and what it links to, in list order, with their (described) frames.

    ``traceback`` overrides the first exception's own (an ``exc_info`` tuple may carry one)."""
    nodes: list[Node] = []
    seen: set[int] = set()
    messages_deadline = perf_counter() + MESSAGES_SECONDS
    read = reader.read
    # (exception, link source, parent id), popped from the end: depth-first.
    todo: list[tuple[BaseException, str | None, int | None]] = [(exc, None, None)]
    while todo and len(nodes) < MAX_EXCEPTIONS:
        current, source, parent = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        exception_id = len(nodes)
        if exception_id == 0 and traceback is not None:
            tb: TracebackType | None = traceback
        else:  # BaseException's own descriptor: a class may shadow __traceback__
            tb = _BASE_TRACEBACK.__get__(current)
            if type(tb) is not TracebackType:
                tb = None
        synthetic = False
        keys = shared = None
        if tb is not None:
            kept, omitted, gap, stack = stacks.read(tb)
            if stack is not None:
                keys = stack.keys
                shared = stack if stacks.share else None
        elif exception_id == 0 and synthetic_stack is not None:
            kept, omitted, gap = read(synthetic_stack)
            synthetic = True
        else:
            kept, omitted, gap = [], 0, 0
        kind = _kind(type(current))
        value = _message(current, kind, messages_deadline)
        nodes.append(
            Node(exception_id, source, parent, kind.name, kind.module, value, kept, omitted,
                 gap, synthetic, keys, kind.qualified, False, shared)
        )  # fmt: skip
        links = _links(current, kind, exception_id)
        if links:
            todo.extend(reversed(links))
    return nodes


class _Kind(NamedTuple):
    """What the walk needs of an exception class, read once per class."""

    cls: type
    name: str  # __qualname__, cut to MAX_NAME_BYTES
    module: str | None  # None for builtins
    qualified: str  # module.name, or name for builtins
    group: bool  # an exception group: it has members
    builtin_str: bool  # its __str__ is a C slot (no Python code of its own)


_kinds: dict[int, _Kind] = {}
_KINDS_LIMIT = 1024


def _kind(cls: type) -> _Kind:
    """The class's :class:`_Kind`, cached by identity (each entry holds its class, so an
    id is never reused under it)."""
    found = _kinds.get(id(cls))
    if found is not None and found.cls is cls:
        return found
    name = _class_attr(cls, "__qualname__") or _class_attr(cls, "__name__") or "Exception"
    module = _class_attr(cls, "__module__")
    groups = _group_classes()
    name = cut_bytes(name, MAX_NAME_BYTES)
    module = cut_bytes(module, MAX_NAME_BYTES) if module and module != "builtins" else None
    kind = _Kind(
        cls,
        name,
        module,
        f"{module}.{name}" if module else name,
        bool(groups) and issubclass(cls, groups),
        type(_class_attr_any(cls, "__str__")) is WrapperDescriptorType,
    )
    if len(_kinds) >= _KINDS_LIMIT:
        _kinds.clear()
    _kinds[id(cls)] = kind
    return kind


def _group_classes() -> tuple[type, ...]:
    """The exception-group base classes there are: the builtin one (Python ≥ 3.11) and the
    ``exceptiongroup`` backport's, once imported (no class can derive from it before)."""
    return tuple(
        cls
        for cls in (
            getattr(builtins, "BaseExceptionGroup", None),
            getattr(sys.modules.get("exceptiongroup"), "BaseExceptionGroup", None),
        )
        if isinstance(cls, type)
    )


def _links(
    exc: BaseException, kind: _Kind, exception_id: int
) -> list[tuple[BaseException, str, int]]:
    """What ``exc`` leads to, in list order: group members, then cause or context (read
    with BaseException's own descriptors: a class may shadow them)."""
    links: list[tuple[BaseException, str, int]] = []
    if kind.group:
        for member in _sequence(_attr(exc, "exceptions")):
            if issubclass(type(member), BaseException):
                links.append((member, "member", exception_id))
    cause = _BASE_CAUSE.__get__(exc)
    if cause is not None:
        links.append((cause, "cause", exception_id))
    elif not _BASE_SUPPRESS.__get__(exc):
        context = _BASE_CONTEXT.__get__(exc)
        if context is not None:
            links.append((context, "context", exception_id))
    return links


def _sequence(value: object) -> list[Any] | tuple[Any, ...]:
    """A list or tuple (a subclass read with the base type's C methods: its own ``__len__``
    or ``__iter__`` may raise); anything else is empty."""
    kind = type(value)
    if kind is list or kind is tuple:
        return value  # type: ignore[return-value]
    try:
        if issubclass(kind, list):
            return list(list.__iter__(value))  # type: ignore[arg-type]
        if issubclass(kind, tuple):
            return tuple(tuple.__iter__(value))  # type: ignore[arg-type]
    except Exception:
        pass
    return ()


def _message(exc: BaseException, kind: _Kind, deadline: float) -> str:
    """The message and ``__notes__``, at most :data:`MAX_VALUE_LENGTH` characters.

    ``str()`` of an exception runs user code — the class's ``__str__``, or (the builtin
    ``__str__``) the ``__str__``/``__repr__`` of its arguments — and so do notes that are
    not plain strings. Such calls share one time bound, :data:`MESSAGE_SECONDS` (and
    ``deadline``, the event's); the common case (a builtin ``__str__`` over plain arguments,
    notes that are strs) is not traced, which is what keeps it fast."""
    bounded = False  # the clock is read only once a traced call is needed
    if kind.builtin_str and _plain_args(exc):
        text = safe_str(exc, MAX_VALUE_LENGTH)
    else:
        deadline, bounded = min(deadline, perf_counter() + MESSAGE_SECONDS), True
        text = _bounded_str(exc, deadline)
    try:  # (getattr's default: no AttributeError made when there are none, the common case)
        notes: Any = getattr(exc, "__notes__", None)
    except Exception:  # a hostile __getattr__ or property
        notes = None
    if notes is not None and (notes := _sequence(notes)):
        parts = [text]
        size = len(text)
        for note in notes:
            if size > MAX_VALUE_LENGTH:
                break
            if type(note) is str or issubclass(type(note), str):  # read as data, no user code
                part = safe_str(note, MAX_VALUE_LENGTH)
            else:
                if not bounded:
                    deadline, bounded = min(deadline, perf_counter() + MESSAGE_SECONDS), True
                part = _bounded_str(note, deadline)
            parts.append(part)
            size += len(part) + 1
        text = "\n".join(parts)
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 3] + "..."
    return text


_PLAIN_ARGS = frozenset({str, int, float, bool, bytes, type(None)})
"""Exact types whose ``str()``/``repr()`` (called by a builtin exception ``__str__``) is C code."""


def _plain_args(exc: BaseException) -> bool:
    """Whether a builtin ``__str__`` of ``exc`` runs no Python code: its arguments are of
    exact builtin scalar types."""
    try:
        args = _BASE_ARGS.__get__(exc)  # BaseException's own: a class may shadow args
    except Exception:
        return False
    for arg in args:  # noqa: SIM110  (a loop: no generator made on the capture path)
        if type(arg) not in _PLAIN_ARGS:
            return False
    return True


def _bounded_str(value: object, deadline: float) -> str:
    """``str(value)`` cut off at ``deadline`` (a placeholder when it has already passed)."""
    from .bounded import bounded_str  # a Python __str__ may loop: bound its cost

    left = deadline - perf_counter()
    if left <= 0:
        return f"<{_qualname(value)} object (str too slow)>"
    return safe_str(bounded_str(value, left), MAX_VALUE_LENGTH)


def _qualname(value: object) -> str:
    name = _class_attr(type(value), "__qualname__")
    return name if name is not None else "object"


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
    """A str attribute of the class (a str subclass read as its data), else ``None``."""
    value = _attr(cls, name)
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    return str.__str__(value) if issubclass(kind, str) else None
