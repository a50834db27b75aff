"""The ``$exception_list`` of one event, and the one rule that lets events share frames.

Frames repeat from event to event (one bug raised again and again), so the frame reader
keeps each frame's wire form and JSON per code location, and every event with that frame
refers to the same two objects. What makes the sharing safe is owned here, not left to
a convention:

- A cached frame is **read-only** (the frame reader hands out a
  ``MappingProxyType`` over a dict whose lists are tuples), so an edit raises instead
  of changing every event that shares it.
- Only an :class:`ExceptionList` holds them. It is what ``$exception_list`` is while
  the client builds the event; nothing outside it ever sees a shared frame.
- **Copy on write**: whoever needs to edit an event's exception list — ``before_send``,
  the shrinker of an oversize event — gets :meth:`ExceptionList.copy`: fresh dicts and
  lists that belong to that event alone.
- An event nobody edits is encoded by :meth:`ExceptionList.encode`: its own JSON, cut
  around the cached JSON of its frames (a :class:`~posthog_exceptions._payload.Spliced`
  payload), which the queue then holds without copying the frames.
"""

from __future__ import annotations

import os

from posthog_exceptions._payload import Spliced
from posthog_exceptions._serialize import dumps

from .detached import gap_marker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from posthog_exceptions._payload import Payload

    from .exceptions import Node
    from .frames import FrameReader
    from .scrub import Scrubber
    from .variables import Budget

    Frame = Mapping[str, Any]

_NONCE = os.urandom(8).hex()
"""Per process: no user text can collide with a frames placeholder."""
_placeholders: list[tuple[str, bytes]] = []


def _placeholder(number: int) -> tuple[str, bytes]:
    """The string standing for stack ``number``'s frames, and its JSON."""
    while len(_placeholders) <= number:
        text = f"\x00{_NONCE}:{len(_placeholders)}\x00"
        _placeholders.append((text, dumps(text)))
    return _placeholders[number]


def _thaw(frame: Frame) -> dict[str, Any]:
    """An editable copy of a frame: a dict, with lists (and dicts) of its own."""
    out: dict[str, Any] = {}
    for key, value in frame.items():
        kind = type(value)
        if kind is tuple or kind is list:
            out[key] = list(value)
        elif kind is dict:
            out[key] = dict(value)
        else:
            out[key] = value
    return out


class ExceptionList:
    """One event's ``$exception_list``, which may share frames with the frame cache.

    Not JSON itself: :meth:`encode` the event, or :meth:`copy` the list to edit it."""

    __slots__ = ("_entries", "_stacks")

    def __init__(
        self, entries: list[dict[str, Any]], stacks: list[tuple[list[Frame], tuple[bytes, ...]]]
    ) -> None:
        self._entries = entries
        """The entries; the ``frames`` of the n-th stack is placeholder n."""
        self._stacks = stacks
        """Per stack, in entry order: its frames and their JSON."""

    def __len__(self) -> int:
        return len(self._entries)

    def copy(self) -> list[dict[str, Any]]:
        """The list as plain, editable JSON values that no other event shares."""
        out = []
        stacks = iter(self._stacks)
        for entry in self._entries:
            mine = {
                key: dict(value) if type(value) is dict else value for key, value in entry.items()
            }
            stack = mine.get("stacktrace")
            if stack is not None:
                frames, _ = next(stacks)
                stack["frames"] = [_thaw(frame) for frame in frames]
            out.append(mine)
        return out

    def encode(self, event: dict[str, Any]) -> Payload:
        """The JSON of ``event``, whose ``properties["$exception_list"]`` is this list."""
        properties = event["properties"]
        properties["$exception_list"] = self._entries
        try:
            encoded = dumps(event)
        finally:
            properties["$exception_list"] = self
        if not self._stacks:
            return encoded
        own: list[bytes] = []
        groups: list[tuple[bytes, ...]] = []
        rest = 0
        for number, (_, blobs) in enumerate(self._stacks):
            placeholder = _placeholder(number)[1]
            at = encoded.find(placeholder, rest)
            if at < 0:  # cannot happen: the event was encoded with it; stay correct anyway
                return self._plain(event)
            own.append((b"]" if groups else b"") + encoded[rest:at] + b"[")
            groups.append(blobs)
            rest = at + len(placeholder)
        own.append(b"]" + encoded[rest:])
        return Spliced(tuple(own), tuple(groups))

    def _plain(self, event: dict[str, Any]) -> bytes:
        properties = event["properties"]
        properties["$exception_list"] = self.copy()
        try:
            return dumps(event)
        finally:
            properties["$exception_list"] = self


def render(
    nodes: list[Node],
    *,
    mechanism_type: str,
    handled: bool | None,
    reader: FrameReader,
    variables: tuple[Budget, Scrubber] | None = None,
) -> ExceptionList:
    """The ``$exception_list`` of walked exceptions: context lines and local variables are
    read here (wire-format §3; :mod:`~posthog_exceptions._capture.exceptions` describes
    the entries)."""
    entries: list[dict[str, Any]] = []
    stacks: list[tuple[list[Frame], tuple[bytes, ...]]] = []
    for node in nodes:
        entry: dict[str, Any] = {"type": node.type, "value": node.value}
        if node.module:
            entry["module"] = node.module
        mechanism: dict[str, Any]
        if node.source is None:
            mechanism = {"type": mechanism_type}
            if handled is not None:
                mechanism["handled"] = handled
            mechanism["synthetic"] = node.synthetic
            mechanism["exception_id"] = node.exception_id
        else:
            mechanism = {"type": "chained", "source": node.source, "synthetic": False}
            mechanism["exception_id"] = node.exception_id
            mechanism["parent_id"] = node.parent
        entry["mechanism"] = mechanism
        if node.frames:
            stack = node.shared
            if stack is not None and variables is None:  # rendered once per stack
                if stack.rendered is None:
                    stack.rendered = _stack(node, reader, None)
                frames, blobs = stack.rendered
            else:
                frames, blobs = _stack(node, reader, variables)
            entry["stacktrace"] = {"type": "raw", "frames": _placeholder(len(stacks))[0]}
            stacks.append((frames, blobs))
        entries.append(entry)
    return ExceptionList(entries, stacks)


def _stack(
    node: Node, reader: FrameReader, variables: tuple[Budget, Scrubber] | None
) -> tuple[list[Frame], tuple[bytes, ...]]:
    """The wire forms and JSON of a node's frames (and of its gap marker). Without
    variables, a stack the stack cache remembers keeps the result for all its events
    (``Stack.rendered``), which read it and never change it (:meth:`ExceptionList.copy`
    makes new lists for whoever edits)."""
    frames: list[Frame] = []
    blobs: list[bytes] = []
    for info in node.frames:
        frame, encoded = reader.wire(info, variables)
        frames.append(frame)
        blobs.append(encoded)
    if node.omitted:
        marker = gap_marker(node.omitted, reader.custom)
        frames.insert(node.gap, marker)
        blobs.insert(node.gap, dumps(marker))
    return frames, tuple(blobs)
