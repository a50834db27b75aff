"""Serialised events as they wait in the queue, and what they cost it in memory.

An ``$exception`` event is mostly frames, and the frames of one bug repeat from event
to event: :class:`~posthog_exceptions._capture.frames.FrameReader` keeps each frame's JSON
(same code, line and instruction) as one ``bytes`` object.
:meth:`~posthog_exceptions._capture.exception_list.ExceptionList.encode` therefore leaves an
event's JSON in pieces (a :class:`Spliced`) — its own bytes, and references to those shared frame
blobs — instead of copying every frame into one string per event. The pieces are
joined once, into the request body (:func:`parts`), or into one ``bytes`` when spooled.

The queue's byte bound counts what the queued and in-flight events really hold
(:class:`Ledger`, by ``sys.getsizeof``, object headers included): every object an event
owns, and each shared blob once, however many of them refer to it. A burst of 10,000
events of one bug then costs the blobs once and a few hundred bytes per event; 10,000
different tracebacks cost all of their bytes.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Union

    Payload = Union[bytes, "Spliced"]

_INT = sys.getsizeof(2**40)
_ALIGNMENT = 8
"""The allocator rounds every object up to 16 bytes: half of that, on average."""
_ITEM = sys.getsizeof((0, None)) + _INT + 8 + 2 * _ALIGNMENT
"""What the queue adds per event: its (sequence, payload) tuple, the number, a slot."""


class Spliced:
    """One event's JSON: its own bytes around the frames of each of its stacks.

    ``own[0]``, the frames of ``stacks[0]`` (comma-separated), ``own[1]``, ... ``own[-1]``.
    ``memory`` is what the event holds apart from the frame blobs, in bytes as
    ``sys.getsizeof`` counts them (the objects' headers included)."""

    __slots__ = ("memory", "own", "size", "stacks")

    def __init__(self, own: tuple[bytes, ...], stacks: tuple[tuple[bytes, ...], ...]) -> None:
        self.own = own
        self.stacks = stacks
        self.size = sum(map(len, own)) + sum(
            sum(map(len, blobs)) + max(len(blobs) - 1, 0) for blobs in stacks
        )
        getsizeof = sys.getsizeof
        self.memory = (
            _ITEM
            + getsizeof(self)
            + 2 * _INT  # size and memory themselves
            + getsizeof(own)
            + sum(map(getsizeof, own))
            + getsizeof(stacks)
            + sum(map(getsizeof, stacks))
            + _ALIGNMENT * (4 + len(own) + len(stacks))
        )

    def pieces(self) -> list[bytes]:
        out = [self.own[0]]
        for blobs, after in zip(self.stacks, self.own[1:]):
            for index, blob in enumerate(blobs):
                if index:
                    out.append(b",")
                out.append(blob)
            out.append(after)
        return out

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces())


def size(payload: Payload) -> int:
    """The length of the event's JSON."""
    return len(payload) if type(payload) is bytes else payload.size  # type: ignore[union-attr]


def to_bytes(payload: Payload) -> bytes:
    return payload if type(payload) is bytes else bytes(payload)


def parts(payload: Payload) -> list[bytes] | tuple[bytes]:
    """The pieces to write, in order, for the event's JSON."""
    return (payload,) if type(payload) is bytes else payload.pieces()  # type: ignore[union-attr]


class Ledger:
    """The queue's memory, in bytes: each event's own objects, and each shared frame blob
    once, however many queued events refer to it (``sys.getsizeof``, headers included).

    Not thread-safe: the queue calls it under its lock."""

    __slots__ = ("_blobs", "total")

    def __init__(self) -> None:
        self.total = 0
        self._blobs: dict[int, list[Any]] = {}  # id(blob) -> [references, blob]

    def add(self, payload: Payload) -> int:
        """Record ``payload`` as held; returns what that added to :attr:`total`."""
        if type(payload) is bytes:
            added = sys.getsizeof(payload) + _ITEM
        else:
            spliced: Spliced = payload  # type: ignore[assignment]
            added = spliced.memory
            blobs = self._blobs
            for group in spliced.stacks:
                for blob in group:
                    entry = blobs.get(id(blob))
                    if entry is None:
                        blobs[id(blob)] = [1, blob]
                        added += sys.getsizeof(blob)
                    else:
                        entry[0] += 1
        self.total += added
        return added

    def admit(self, payload: Payload, limit: int) -> bool:
        """:meth:`add` ``payload`` if :attr:`total` stays within ``limit``; one pass over
        its frames when it fits (the common case), a second to take it back when not."""
        self.add(payload)
        if self.total <= limit:
            return True
        self.remove(payload)
        return False

    def reserve(self, nbytes: int) -> None:
        """Hold ``nbytes`` more: the request body of a batch in flight."""
        self.total += nbytes

    def release(self, nbytes: int) -> None:
        """The bytes of a :meth:`reserve` are no longer held."""
        self.total -= nbytes

    def remove(self, payload: Payload) -> None:
        """``payload`` is no longer held (delivered, or given up)."""
        if type(payload) is bytes:
            self.total -= sys.getsizeof(payload) + _ITEM
            return
        spliced: Spliced = payload  # type: ignore[assignment]
        freed = spliced.memory
        blobs = self._blobs
        for group in spliced.stacks:
            for blob in group:
                entry = blobs.get(id(blob))
                if entry is None:  # not recorded (cannot happen): nothing to free
                    continue
                entry[0] -= 1
                if not entry[0]:
                    del blobs[id(blob)]
                    freed += sys.getsizeof(blob)
        self.total -= freed
