"""From an exception to the properties of an ``$exception`` event, in two halves.

:meth:`ExceptionBuilder.walk` is the cheap half: the exceptions and their frames (a
few dictionary lookups per frame once a code location has been seen) and the
fingerprint, which the rate limit needs. :meth:`ExceptionBuilder.properties` is the
expensive half: context lines, local variables and the rendered ``$exception_list``
(an :class:`~posthog_exceptions._capture.exception_list.ExceptionList`). The client
runs the rate limit between the two, so a suppressed event costs only the first.

This module loads with the first exception a client captures (the client imports it
then), and with it everything that builds events.
"""

from __future__ import annotations

from posthog_exceptions._log import logger
from posthog_exceptions._serialize import safe_repr

from .exception_list import render
from .exceptions import walk as walk_exceptions
from .fingerprint import custom_parts, default_parts, reads_message
from .fingerprint import fingerprint as fingerprint_of
from .frames import FrameReader
from .kinds import LEVEL_ALIASES, LEVELS
from .stacks import Stacks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType
    from typing import Any

    from posthog_exceptions._config import Options

    from .exceptions import Node
    from .frames import Raw
    from .kinds import CaptureKind
    from .scrub import Scrubber


_EVENT_JSON = 1_000
"""Estimated JSON of an event apart from its messages, frames and variables."""
_EVENT_MEMORY = 1_600
"""Estimated memory of a queued, unbuilt event apart from its messages, frames and
variables: its properties and the event dict (tests/test_payload.py checks that a burst
of one bug fits the queue's byte bound)."""
_FRAME_JSON = 300
_NODE_MEMORY = 200
_FRAME_MEMORY = 250
"""A frame of its own (not a shared one): its Info, Detached and module-globals dict."""


class ExceptionBuilder:
    """Builds the ``$exception`` properties for one client's options."""

    def __init__(self, options: Options) -> None:
        self.reader = FrameReader(options)
        self.stacks = Stacks(self.reader)
        self.posthog_groups = options.grouping == "posthog"
        self.capture_locals = options.capture_locals
        self.scrubber = self.reader.scrubber
        self._budget: Any = None

    def walk(
        self,
        exc: BaseException,
        tb: TracebackType | None,
        *,
        fingerprint: str | Sequence[str] | None,
        synthetic_stack: list[Raw] | None,
        keyed: bool = True,
    ) -> Walked:
        """The cheap half: the exceptions, their frames and the fingerprint. The messages
        the fingerprint does not read (those of exceptions with a stack of their own) are
        scrubbed by :meth:`properties`, on the thread that builds the event. Unless
        ``keyed`` (the rate limit needs the key now) or the call gives ``fingerprint``,
        the automatic key is left to :meth:`properties` too (it reads only the walk)."""
        nodes = walk_exceptions(
            exc,
            traceback=tb,
            reader=self.reader,
            stacks=self.stacks,
            synthetic_stack=synthetic_stack,
        )
        if not keyed and fingerprint is None:
            return Walked(nodes, None)
        scrub = self.scrubber.scrub_message
        for node in nodes:  # before the fingerprint, where it reads the message
            if reads_message(node):  # (the others: when the event is built)
                node.value, node.scrubbed = scrub(node.value), True
        parts = default_parts(nodes)
        custom = None if fingerprint is None else _custom_fingerprint(fingerprint)
        if custom is not None:
            parts = custom_parts(custom, parts)
        return Walked(nodes, fingerprint_of(parts), custom is not None)

    def detach(self, walked: Walked) -> tuple[int, int]:
        """Let go of the frames (see :mod:`.detached`), reading their variables now when
        ``capture_locals`` is on; returns estimates of the event's JSON length and of the
        memory the snapshot holds, for the queue's bounds."""
        variables = self._variables() if self.capture_locals else None
        detach_all = self.reader.detach_all
        size, memory = _EVENT_JSON, _EVENT_MEMORY
        for node in walked.nodes:
            if node.shared is not None:  # the stack cache's, detached already
                frames, own = node.frames, 0
            else:
                frames, own = detach_all(node.frames, variables)
                node.frames = frames
            size += len(node.value) + _FRAME_JSON * len(frames)
            memory += 2 * len(node.value) + _NODE_MEMORY + 8 * len(frames) + _FRAME_MEMORY * own
        if variables is not None:
            spent = variables[0].spent
            size += spent
            memory += 2 * spent
        return size, memory

    def properties(self, walked: Walked, kind: CaptureKind, level: str | None) -> dict[str, Any]:
        """The expensive half: context lines, local variables, the event properties.

        ``$exception_list`` is an :class:`~posthog_exceptions._capture.exception_list.ExceptionList`
        (encode the event with it, or copy it to edit it)."""
        scrub = self.scrubber.scrub_message
        for node in walked.nodes:
            if not node.scrubbed:
                node.value, node.scrubbed = scrub(node.value), True
        key = walked.fingerprint
        if key is None:  # (left by walk(): no rate limit, no fingerprint= of the call's)
            key = walked.fingerprint = fingerprint_of(default_parts(walked.nodes))
        variables = self._variables()
        exception_list = render(
            walked.nodes,
            mechanism_type=kind.mechanism,
            handled=kind.handled,
            reader=self.reader,
            variables=variables,
        )
        props: dict[str, Any] = {"$exception_list": exception_list}
        if walked.custom or not self.posthog_groups:
            props["$exception_fingerprint"] = key
        else:  # PostHog groups; the key stays visible (and groups the local inbox)
            props["$exception_client_fingerprint"] = key
        props["$exception_level"] = kind.level if level is None else _level(level)
        if kind.source is not None:
            props["$exception_source"] = kind.source
        return props

    def _variables(self) -> tuple[Any, Scrubber] | None:
        """A fresh budget and the scrubber for one event's variables (``capture_locals``)."""
        if not self.capture_locals:
            return None
        if self._budget is None:
            from .variables import Budget

            self._budget = Budget
        return (self._budget(), self.scrubber)


class Walked:
    """The exceptions of one event, walked, and their fingerprint."""

    __slots__ = ("custom", "fingerprint", "nodes")

    def __init__(self, nodes: list[Node], fingerprint: str | None, custom: bool = False) -> None:
        self.nodes = nodes
        self.fingerprint = fingerprint
        """The grouping key (the rate limit's, and ``$exception_fingerprint`` when sent);
        ``None`` until the event is built when nothing on the calling thread needs it."""
        self.custom = custom
        """The call gave its own ``fingerprint=``."""


def _level(level: object) -> str:
    """A valid level, else ``"error"`` and one log line. Exactly a str: a subclass's
    ``__eq__`` may raise, or claim to equal anything."""
    if type(level) is str:
        if level in LEVELS:
            return level
        named = level.lower()
        found = named if named in LEVELS else LEVEL_ALIASES.get(named)
        if found is not None:
            return found
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
