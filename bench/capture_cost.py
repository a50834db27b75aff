"""Cost of capture_exception() on the calling thread, by stack depth (ours only).

    .venv/bin/python bench/capture_cost.py

Raises an exception through stacks 10, 100 and 1,000 frames deep, then times
capture_exception() on each (context lines on, locals off). The transport
accepts every request without reading it, so neither network time nor a test
transport's decoding competes with the capturing thread (the delivery thread
still batches and compresses); prints the median of five rounds.
Side-by-side figures against posthog and sentry-sdk belong to `make bench`.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Mapping

from posthog_exceptions import Client, TransportResponse


class AcceptAll:
    """A transport that answers 200 to everything and keeps nothing."""

    def send(self, body: bytes, headers: Mapping[str, str]) -> TransportResponse:
        return TransportResponse(200)

    def close(self) -> None:
        pass


def _raise_at(depth: int) -> None:
    if depth == 0:
        raise ValueError("order 42 failed")
    _raise_at(depth - 1)


def _exceptions(depth: int, count: int) -> list[BaseException]:
    caught: list[BaseException] = []
    for _ in range(count):
        try:
            _raise_at(depth)
        except ValueError as exc:
            caught.append(exc)
    return caught


def main() -> None:
    sys.setrecursionlimit(5000)
    client = Client(
        "phc_bench",
        transport=AcceptAll(),
        max_queue_size=10**6,
        max_queue_bytes=2**31,
        rate_limit=False,  # every capture here is the same bug: measure them all
    )
    print(f"Python {sys.version.split()[0]}; microseconds per capture_exception() call")
    for depth, count in ((10, 1000), (100, 300), (1000, 40)):
        rounds = []
        for _ in range(5):
            batch = _exceptions(depth, count)
            started = time.perf_counter()
            for exc in batch:
                client.capture_exception(exc)
            rounds.append((time.perf_counter() - started) / count * 1e6)
            client.flush(timeout=60)
        print(
            f"depth {depth:>5}: median {statistics.median(rounds):8.0f} us  (min {min(rounds):.0f})"
        )
    client.shutdown()


if __name__ == "__main__":
    main()
