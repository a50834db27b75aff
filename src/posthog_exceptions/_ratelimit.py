"""A token bucket per grouping key: one bug raised in a tight loop cannot flood PostHog.

Each fingerprint has a bucket of ``burst`` tokens that refills at ``per_second``
tokens a second; an exception event takes one token or is suppressed. The check
runs after the cheap part of building an event (walking the exceptions and their
frames for the fingerprint) and before the expensive part (context lines, local
variables, serialisation), so a suppressed event costs little. The next event
of the group that passes carries ``$exception_suppressed_count``: how many were
suppressed since the last one sent.

At most :data:`MAX_KEYS` buckets are kept; when that many groups are active, the
buckets that are full again (idle groups) are forgotten first.
"""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

MAX_KEYS = 10_000


class RateLimiter:
    def __init__(
        self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = float(burst)
        self.per_second = per_second
        self._clock = clock
        self._lock = threading.Lock()
        # key -> [tokens, last refill time, suppressed since the last admitted event]
        self._buckets: dict[str, list[float]] = {}

    def admit(self, key: str) -> tuple[bool, int]:
        """Take a token for ``key``: (admitted, events suppressed before this one)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_KEYS:
                    self._forget_idle(now)
                bucket = self._buckets[key] = [self.burst, now, 0.0]
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.per_second)
            bucket[1] = now
            if tokens < 1.0:
                bucket[0] = tokens
                bucket[2] += 1
                return False, 0
            bucket[0] = tokens - 1.0
            suppressed, bucket[2] = int(bucket[2]), 0.0
            return True, suppressed

    def _forget_idle(self, now: float) -> None:
        full = [
            key
            for key, (tokens, last, suppressed) in self._buckets.items()
            if not suppressed and tokens + (now - last) * self.per_second >= self.burst
        ]
        for key in full or list(self._buckets)[: MAX_KEYS // 10]:
            del self._buckets[key]
