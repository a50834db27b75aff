"""Serialised events as they wait in the queue, and what they cost it in memory.

An ``$exception`` event is mostly frames, and the frames of one bug repeat from event
to event: :class:`~posthog_exceptions._frames.FrameReader` keeps each frame's JSON
(same code, line and instruction) as one ``bytes`` object. :func:`splice` therefore
leaves an event's JSON in pieces — its own bytes, and references to those shared frame
blobs — instead of copying every frame into one string per event. The pieces are
joined once, into the request body (:func:`parts`), or into one ``bytes`` when spooled.

The queue's byte bound counts what it really holds (:class:`Ledger`): every piece an
event owns, and each shared blob once however many queued events refer to it (plus a
pointer per reference). A burst of 10,000 events of one bug then costs the queue the
blobs once and a few hundred bytes per event; 10,000 different tracebacks cost it all of
their bytes, as before.
"""

from __future__ import annotations

from ._serialize import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Union

    Payload = Union[bytes, "Spliced"]

_POINTER = 8
_ITEM_OVERHEAD = 64


class Spliced:
    """One event's JSON as ``pieces``: its own bytes and the frame blobs in ``shared``."""

    __slots__ = ("own", "pieces", "shared", "size")

    def __init__(self, pieces: list[bytes], shared: list[bytes]) -> None:
        self.pieces = pieces
        self.shared = shared
        self.size = sum(map(len, pieces))
        self.own = self.size - sum(map(len, shared))

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces)


def size(payload: Payload) -> int:
    """The length of the event's JSON."""
    return len(payload) if type(payload) is bytes else payload.size  # type: ignore[union-attr]


def to_bytes(payload: Payload) -> bytes:
    return payload if type(payload) is bytes else bytes(payload)


def parts(payload: Payload) -> list[bytes] | tuple[bytes]:
    """The pieces to write, in order, for the event's JSON."""
    return (payload,) if type(payload) is bytes else payload.pieces  # type: ignore[union-attr]


_nonce: str | None = None


def splice(event: dict[str, Any], frame_json: dict[int, bytes]) -> Payload:
    """The JSON of an ``$exception`` event whose frames already have theirs.

    Each stack's frames list is swapped for a placeholder string, the event is encoded,
    and the encoding cut at the placeholders, the frames' JSON going in between (keyed
    by ``id()`` of the frame dict; a frame without JSON is encoded here). The placeholder
    carries a random per-process nonce, so no user text can collide with it."""
    global _nonce
    if _nonce is None:
        import os

        _nonce = os.urandom(8).hex()
    stacks = [
        entry["stacktrace"]
        for entry in event["properties"]["$exception_list"]
        if isinstance(entry.get("stacktrace"), dict)
    ]
    swapped: list[tuple[dict[str, Any], Any]] = []
    frames_of: list[tuple[bytes, list[bytes]]] = []
    try:
        for number, stack in enumerate(stacks):
            frames = stack["frames"]
            blobs = [frame_json.get(id(frame)) or dumps(frame) for frame in frames]
            token = f"\x00{_nonce}:{number}\x00"
            swapped.append((stack, frames))
            stack["frames"] = token
            frames_of.append((dumps(token), blobs))
        encoded = dumps(event)
    finally:
        for stack, frames in swapped:
            stack["frames"] = frames
    pieces: list[bytes] = []
    shared: list[bytes] = []
    rest = 0
    for placeholder, blobs in frames_of:
        at = encoded.find(placeholder, rest)
        if at < 0:  # cannot happen: the event was encoded with it; stay correct anyway
            return b"".join([*pieces, encoded[rest:]]) if pieces else encoded
        pieces.append(encoded[rest:at] + b"[")
        for index, blob in enumerate(blobs):
            if index:
                pieces.append(b",")
            pieces.append(blob)
        shared.extend(blobs)
        pieces.append(b"]")
        rest = at + len(placeholder)
    pieces.append(encoded[rest:])
    return Spliced(pieces, shared)


class Ledger:
    """The queue's memory, in bytes: events' own bytes, and each shared blob once.

    Not thread-safe: the queue calls it under its lock."""

    __slots__ = ("_blobs", "total")

    def __init__(self) -> None:
        self.total = 0
        self._blobs: dict[int, list[Any]] = {}  # id(blob) -> [references, blob]

    def cost(self, payload: Payload) -> int:
        """What queuing ``payload`` would add to :attr:`total`."""
        if type(payload) is bytes:
            return len(payload) + _ITEM_OVERHEAD
        spliced: Spliced = payload  # type: ignore[assignment]
        blobs = self._blobs
        added = spliced.own + _ITEM_OVERHEAD + _POINTER * len(spliced.pieces)
        seen: set[int] | None = None
        for blob in spliced.shared:
            key = id(blob)
            if key in blobs:
                continue
            if seen is None:
                seen = set()
            elif key in seen:
                continue
            seen.add(key)
            added += len(blob)
        return added

    def add(self, payload: Payload, cost: int) -> None:
        """Record ``payload`` as queued; ``cost`` is what :meth:`cost` said."""
        self.total += cost
        if type(payload) is not bytes:
            blobs = self._blobs
            for blob in payload.shared:  # type: ignore[union-attr]
                entry = blobs.get(id(blob))
                if entry is None:
                    blobs[id(blob)] = [1, blob]
                else:
                    entry[0] += 1

    def remove(self, payload: Payload) -> None:
        """``payload`` left the queue (taken for sending, or given up)."""
        if type(payload) is bytes:
            self.total -= len(payload) + _ITEM_OVERHEAD
            return
        spliced: Spliced = payload  # type: ignore[assignment]
        freed = spliced.own + _ITEM_OVERHEAD + _POINTER * len(spliced.pieces)
        blobs = self._blobs
        for blob in spliced.shared:
            entry = blobs[id(blob)]
            entry[0] -= 1
            if not entry[0]:
                del blobs[id(blob)]
                freed += len(blob)
        self.total -= freed

    def clear(self) -> None:
        self.total = 0
        self._blobs.clear()
