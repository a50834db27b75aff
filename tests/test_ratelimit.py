"""The per-fingerprint rate limit: a tight loop of one bug cannot flood PostHog."""

from __future__ import annotations

from typing import Any

from posthog_exceptions._ratelimit import MAX_KEYS, RateLimiter

from .exc_helpers import Captured


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(burst=3, per_second=2.0, clock=clock)
    assert [limiter.admit("a")[0] for _ in range(5)] == [True, True, True, False, False]
    clock.now = 0.5  # one token back
    assert limiter.admit("a") == (True, 2)  # carries the two suppressed before it
    assert limiter.admit("a") == (False, 0)
    clock.now = 100.0  # refills to the burst, not beyond
    assert [limiter.admit("a")[0] for _ in range(4)] == [True, True, True, False]


def test_groups_are_independent() -> None:
    limiter = RateLimiter(burst=1, per_second=0.0, clock=Clock())
    assert limiter.admit("a") == (True, 0)
    assert limiter.admit("a") == (False, 0)
    assert limiter.admit("b") == (True, 0)


def test_buckets_are_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(burst=1, per_second=1.0, clock=clock)
    for n in range(MAX_KEYS):
        limiter.admit(str(n))
    clock.now = 10.0  # every bucket is full again: all idle
    limiter.admit("new")
    assert len(limiter._buckets) <= MAX_KEYS


def _raise_same() -> None:
    raise ValueError("same bug")


def test_tight_loop_is_limited_before_the_expensive_part() -> None:
    reprs = 0

    class Counted:
        def __repr__(self) -> str:
            nonlocal reprs
            reprs += 1
            return "counted"

    cap = Captured(capture_locals=True, rate_limit_burst=5, rate_limit_per_second=0.0)

    def failing(marker: Any) -> None:
        _raise_same()

    for _ in range(1000):
        try:
            failing(Counted())
        except ValueError as exc:
            cap.client.capture_exception(exc)
    assert len(cap.exception_events) == 5
    assert cap.client.stats()["dropped"]["rate_limited"] == 995
    assert reprs == 5  # suppressed events never rendered their locals


def test_next_admitted_event_reports_the_suppressed() -> None:
    cap = Captured()
    clock = Clock()
    cap.client._rate_limiter = RateLimiter(burst=1, per_second=1.0, clock=clock)
    for _ in range(4):  # one sent, three suppressed
        try:
            _raise_same()
        except ValueError as exc:
            cap.client.capture_exception(exc)
    clock.now = 1.0  # a token is back
    try:
        _raise_same()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    first, second = cap.exception_events
    assert "$exception_suppressed_count" not in first["properties"]
    assert second["properties"]["$exception_suppressed_count"] == 3
    assert cap.client.stats()["dropped"]["rate_limited"] == 3


def test_rate_limit_can_be_switched_off() -> None:
    cap = Captured(rate_limit=False)
    for _ in range(200):
        try:
            _raise_same()
        except ValueError as exc:
            cap.client.capture_exception(exc)
    assert len(cap.exception_events) == 200
