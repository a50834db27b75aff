"""The one retry policy, as pure functions."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from posthog_exceptions._config import Options
from posthog_exceptions._delivery.retry import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Verdict,
    backoff,
    judge,
    pause_seconds,
    retry_after_seconds,
)
from posthog_exceptions._delivery.transport import TransportResponse


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.SENT),
        (204, Verdict.SENT),
        (None, Verdict.RETRY),
        (408, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (504, Verdict.RETRY),
        (429, Verdict.PAUSE),
        (413, Verdict.SPLIT),
        (400, Verdict.ISOLATE),
        (401, Verdict.REJECT),
        (403, Verdict.REJECT),
        (404, Verdict.REJECT),
        (302, Verdict.REJECT),
    ],
)
def test_each_status_has_one_verdict(status: int | None, verdict: str) -> None:
    assert judge(TransportResponse(status)) == verdict


def test_backoff_doubles_to_a_cap_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (60, 10.0)]:
        for _ in range(50):
            assert base <= backoff(attempt, rng) <= base * 1.25
    assert max(backoff(100, rng) for _ in range(100)) <= BACKOFF_CAP * 1.25


def test_default_retries_ride_out_a_minute_of_trouble() -> None:
    retries = Options(api_key="phc_x", host="http://h").max_retries
    shortest = sum(min(BACKOFF_CAP, 0.5 * 2 ** (attempt - 1)) for attempt in range(1, retries + 1))
    assert shortest >= 60


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("3600", RETRY_AFTER_CAP),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 20, usegmt=True)
    seconds = retry_after_seconds(header, now=now)
    assert seconds is not None
    assert 18 <= seconds <= 21


def test_pause_is_at_least_retry_after_and_at_least_backoff() -> None:
    assert pause_seconds(TransportResponse(429, retry_after="7"), attempt=1) >= 7
    assert pause_seconds(TransportResponse(429), attempt=3) >= 2.0
    assert pause_seconds(TransportResponse(429, retry_after="0"), attempt=1) >= 0.5
