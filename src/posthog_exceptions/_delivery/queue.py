"""The worker's bounded queue: what waits, what is on the wire, and what it all holds.

:class:`EventQueue` keeps the events waiting (numbered in the order they came), the
batches taken from it and not yet settled (delivered or given up: ``flush()`` waits by
their numbers), and the :class:`~posthog_exceptions._delivery.ledger.Ledger` of the
memory both hold — for ``max_queue_size`` and ``max_queue_bytes``. It has no lock of its
own: the worker's lock guards every call (the methods say ``_locked`` where that matters
most), so that the worker can decide and wait on one condition.
"""

from __future__ import annotations

from posthog_exceptions._own import work
from posthog_exceptions._payload import built, size

from .ledger import Ledger
from .transport import MAX_REQUEST_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque

    from posthog_exceptions._payload import Built, Payload
    from posthog_exceptions._stats import Counters


class Batch:
    """Events taken from the queue together, and what the ledger holds for them."""

    __slots__ = ("first", "payloads", "reserved")

    def __init__(self, first: int, payloads: list[Payload], reserved: int) -> None:
        self.first = first
        """The sequence number of the first event (``flush()`` waits by these)."""
        self.payloads = payloads
        self.reserved = reserved
        """The bytes reserved in the ledger for the request body made of them."""


class EventQueue:
    """Events waiting, batches in flight, and their memory (see the module docstring)."""

    def __init__(self, max_events: int, max_bytes: int, counters: Counters) -> None:
        from collections import deque  # deferred: importing the library stays cheap

        self._max_events = max_events
        self._max_bytes = max_bytes
        self._counters = counters
        self.waiting: deque[tuple[int, Payload]] = deque()  # (sequence number, event)
        self.held = Ledger()
        self.last_seq = 0
        self.inflight: dict[int, int] = {}  # batches being delivered: first sequence -> size

    def __len__(self) -> int:
        return len(self.waiting)

    def admit_locked(self, payload: Payload, uuid: str | None) -> bool:
        """Queue ``payload`` if it fits both bounds; False (nothing changed) if it does not.

        Counted, then queued, then marked in ``work.queued`` — C calls only after the
        count — so that a capture that runs out of stack here either queued the event or
        did not."""
        if len(self.waiting) >= self._max_events or not self.held.admit(payload, self._max_bytes):
            return False
        self._counters.queued += 1  # (its one writer, under the worker's lock: no lock of its own)
        self.last_seq += 1
        self.waiting.append((self.last_seq, payload))
        work.queued = uuid
        return True

    def take_locked(self, batch_size: int) -> Batch | None:
        """The next batch (at most ``batch_size`` events and 5 MiB), now in flight."""
        queue = self.waiting
        if not queue:
            return None
        payloads: list[Payload] = []
        total = 0
        first = queue[0][0]
        while queue and len(payloads) < batch_size:
            item_size = size(queue[0][1])
            if payloads and total + item_size + len(payloads) > MAX_REQUEST_BYTES:
                break
            payloads.append(queue.popleft()[1])
            total += item_size
        self.inflight[first] = len(payloads)
        # Held in memory until delivered or given up, and so is the request body made of it.
        self.held.reserve(total)
        return Batch(first, payloads, total)

    def settle_locked(self, batch: Batch) -> None:
        """``batch`` is delivered or given up: no longer in flight, no longer held."""
        self.inflight.pop(batch.first, None)  # (gone already if the exit abandoned it)
        self.held.release(batch.reserved)
        for payload in batch.payloads:
            self.held.remove(payload)

    def settled_locked(self, target: int) -> bool:
        """Is every event up to sequence ``target`` delivered or given up?"""
        if self.waiting and self.waiting[0][0] <= target:
            return False
        return all(first > target for first in self.inflight)

    def drain_locked(self) -> list[Payload]:
        """Take every waiting event out (shutdown ran out of time: they are given up)."""
        leftover = [payload for _, payload in self.waiting]
        self.waiting.clear()
        for payload in leftover:
            self.held.remove(payload)
        return leftover

    def abandon_locked(self) -> int:
        """Forget the batches still in flight (the process is ending); how many events."""
        abandoned = sum(self.inflight.values())
        self.inflight.clear()
        return abandoned


def requests(payloads: list[Payload]) -> list[list[Built]]:
    """A batch's events built (those that cannot be sent left out), in requests of at most
    :data:`MAX_REQUEST_BYTES`: a batch of deferred events was sized by their estimates."""
    out: list[list[Built]] = []
    total = 0
    for payload in built(payloads):
        item_size = size(payload)
        if not out or (out[-1] and total + item_size + len(out[-1]) > MAX_REQUEST_BYTES):
            out.append([])
            total = 0
        out[-1].append(payload)
        total += item_size
    return out
