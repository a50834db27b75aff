"""The queue's memory, in bytes, for its byte bound (``max_queue_bytes``).

The queue's byte bound counts what the queued and in-flight events really hold
(:class:`Ledger`, by ``sys.getsizeof``, object headers included): every object an event
owns, and each shared blob once, however many of them refer to it. A burst of 10,000
events of one bug then costs the blobs once and a few hundred bytes per event; 10,000
different tracebacks cost all of their bytes.
"""

from __future__ import annotations

import sys

from posthog_exceptions._payload import ITEM, Deferred

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from posthog_exceptions._payload import Payload, Spliced


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
            added = sys.getsizeof(payload) + ITEM
        elif type(payload) is Deferred:  # not built yet: its estimate
            added = payload.memory
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
        if type(payload) is Deferred:  # (the common case, taken on the capturing thread)
            if self.total + payload.memory > limit:
                return False
            self.total += payload.memory
            return True
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
            self.total -= sys.getsizeof(payload) + ITEM
            return
        if type(payload) is Deferred:
            self.total -= payload.memory
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
