"""A serialised event, as the client hands it to delivery: a :data:`Payload`.

The hand-off between the two threads, so it belongs to neither subpackage: capture
produces payloads, delivery queues and sends them. An ``$exception`` event is mostly
frames, and the frames of one bug repeat from event to event: the frame reader keeps
each frame's JSON (same code, line and instruction) as one ``bytes`` object, and
:meth:`~posthog_exceptions._capture.exception_list.ExceptionList.encode` leaves the
event's JSON in pieces (a :class:`Spliced`) — its own bytes, and references to those
shared frame blobs — instead of copying every frame into one string per event. The
pieces are joined once, into the request body (:func:`parts`), or into one ``bytes``
when spooled.

The queue counts what these pieces hold in memory with
:class:`~posthog_exceptions._delivery.ledger.Ledger`.

An ``$exception`` event can also be queued before it is built: a :class:`Deferred`, the
snapshot the capture took (see :mod:`posthog_exceptions._capture.detached`) and a
function that builds the event from it. The thread that sends it builds it
(:meth:`Deferred.payload`); until then the queue counts it by the estimates it came with.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Union

    Payload = Union[bytes, "Spliced", "Deferred"]
    Built = Union[bytes, "Spliced"]

INT = sys.getsizeof(2**40)
ALIGNMENT = 8
"""The allocator rounds every object up to 16 bytes: half of that, on average."""
ITEM = sys.getsizeof((0, None)) + INT + 8 + 2 * ALIGNMENT
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
            ITEM
            + getsizeof(self)
            + 2 * INT  # size and memory themselves
            + getsizeof(own)
            + sum(map(getsizeof, own))
            + getsizeof(stacks)
            + sum(map(getsizeof, stacks))
            + ALIGNMENT * (4 + len(own) + len(stacks))
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


class Deferred:
    """An event captured and queued, to be built by the thread that sends it.

    ``build(*arguments)`` builds it; ``size`` and ``memory`` are estimates made at the
    capture (of its JSON, and of what the snapshot holds); the queue's bounds count them.
    :meth:`payload` builds the event once — ``None`` when it cannot be sent (too large,
    or the build failed: counted by the build itself)."""

    __slots__ = ("_arguments", "_build", "_built", "memory", "size")

    def __init__(
        self,
        build: Callable[..., Optional[Built]],
        arguments: tuple[Any, ...],
        size: int,
        memory: int,
    ) -> None:
        self._build: Callable[..., Optional[Built]] | None = build
        self._arguments = arguments
        self._built: Built | None = None
        self.size = size
        self.memory = memory

    def payload(self) -> Built | None:
        """Built once, by the one thread that took the event out of the queue (a batch,
        or what shutdown drains): no two threads ever build the same event."""
        build = self._build
        if build is not None:
            self._build = None  # built once, even if the build fails
            arguments, self._arguments = self._arguments, ()
            self._built = build(*arguments)
        return self._built


def size(payload: Payload) -> int:
    """The length of the event's JSON (estimated, for a :class:`Deferred`)."""
    return len(payload) if type(payload) is bytes else payload.size  # type: ignore[union-attr]


def built(payloads: list[Payload]) -> list[Built]:
    """The payloads ready to send: each :class:`Deferred` built, those that cannot be left out."""
    out: list[Built] = []
    for payload in payloads:
        if type(payload) is Deferred:
            ready = payload.payload()
            if ready is not None:
                out.append(ready)
        else:
            out.append(payload)  # type: ignore[arg-type]
    return out


def to_bytes(payload: Built) -> bytes:
    """One event's JSON as one ``bytes`` (a :class:`Deferred` is :func:`built` first)."""
    return payload if type(payload) is bytes else bytes(payload)


def parts(payload: Built) -> list[bytes] | tuple[bytes]:
    """The pieces to write, in order, for the event's JSON."""
    return (payload,) if type(payload) is bytes else payload.pieces()  # type: ignore[union-attr]
