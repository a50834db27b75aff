"""A cap on the request-body bytes all of the inbox's connections hold at once.

Each request reserves the bytes it is about to keep in memory (its body as read, and
room for what decompressing it may produce) before reading or decoding them, and
gives them back when it has been answered. A request that cannot get its bytes
before a deadline is answered 503 with ``Retry-After`` instead of growing the
process: many large uploads at once take turns rather than adding up.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Callable


class BudgetExhausted(Exception):
    """No room freed up before the deadline."""


class ByteBudget:
    """``capacity`` bytes shared by every request; :meth:`reserve` waits for room."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._in_use = 0
        self._peak = 0
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        """Bytes reserved right now."""
        with self._changed:
            return self._in_use

    @property
    def peak(self) -> int:
        """The most bytes ever reserved at once."""
        with self._changed:
            return self._peak

    def wait(self, until: Callable[[int], bool], timeout: float) -> bool:
        """Wait until ``until(bytes in use)`` holds (at most ``timeout`` s); whether it does."""
        with self._changed:
            return self._changed.wait_for(lambda: until(self._in_use), timeout)

    def reserve(self, amount: int, deadline: float) -> Reservation:
        """A reservation of ``amount`` bytes (``deadline`` is a ``time.monotonic()`` value)."""
        reservation = Reservation(self, deadline)
        reservation.grow(amount)
        return reservation

    def _take(self, amount: int, deadline: float) -> None:
        if amount > self.capacity:
            raise BudgetExhausted(f"{amount} bytes is more than the whole budget")
        with self._changed:
            while self._in_use + amount > self.capacity:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BudgetExhausted(
                        f"{self._in_use} of {self.capacity} bytes are held by other requests"
                    )
                self._changed.wait(remaining)
            self._in_use += amount
            self._peak = max(self._peak, self._in_use)
            self._changed.notify_all()

    def _give_back(self, amount: int) -> None:
        if amount:
            with self._changed:
                self._in_use -= amount
                self._changed.notify_all()


class Reservation:
    """Bytes held by one request, grown as needed and released once."""

    def __init__(self, budget: ByteBudget, deadline: float) -> None:
        self._budget = budget
        self._deadline = deadline
        self.held = 0

    def grow(self, amount: int) -> None:
        """Hold ``amount`` more bytes, waiting until the deadline; else BudgetExhausted."""
        if amount > 0:
            self._budget._take(amount, self._deadline)
            self.held += amount

    def release(self) -> None:
        """Give every held byte back (safe to call twice)."""
        held, self.held = self.held, 0
        self._budget._give_back(held)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
