"""The one retry policy: what each response means, and how long to wait before trying again.

Following PostHog's capture API (wire-format §2):

==========================================  ==========================================
response                                    verdict
==========================================  ==========================================
2xx                                         ``SENT``
network error, timeout, 408, 5xx           ``RETRY`` after exponential backoff + jitter
429                                         ``PAUSE``: all sending waits for
                                            ``Retry-After`` (clamped to 60 s), and at
                                            least the backoff, then retries
413                                         ``SPLIT`` the batch in halves and resend;
                                            a single event is dropped as too large
400                                         ``ISOLATE``: split the batch in halves and
                                            resend, so that one malformed event never
                                            takes the others with it; a single event
                                            is dropped, logged and counted
401, other 4xx, 1xx                         ``REJECT``: drop the batch, log once, count
3xx                                         ``REJECT`` too: a redirect is never followed
                                            (``requests`` would resend a ``POST`` as a
                                            body-less ``GET``); the log names ``Location``
==========================================  ==========================================

Backoff: 0.5 s doubling to a 10 s cap, plus up to 25 % jitter so that many
processes recovering together do not stampede. With the default ten retries a
batch rides out at least 65 s of server trouble before it is given up.
"""

from __future__ import annotations

import math
import time

from .transport import TransportResponse

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random

BACKOFF_BASE = 0.5
BACKOFF_CAP = 10.0
JITTER = 0.25
RETRY_AFTER_CAP = 60.0


class Verdict:
    """What to do after a response (plain strings: an Enum would cost ``enum`` at import)."""

    SENT = "sent"
    RETRY = "retry"
    PAUSE = "pause"
    SPLIT = "split"
    ISOLATE = "isolate"
    REJECT = "reject"


def judge(response: TransportResponse) -> str:
    status = response.status
    if status is None or status == 408 or status >= 500:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.SENT
    if status == 429:
        return Verdict.PAUSE
    if status == 413:
        return Verdict.SPLIT
    if status == 400:
        return Verdict.ISOLATE
    return Verdict.REJECT


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    import random  # deferred: needed only once a request has failed

    base = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(max(attempt - 1, 0), 30))
    return base * (1.0 + JITTER * (rng or random).random())


def retry_after_seconds(header: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` (delta-seconds or an HTTP date) in seconds, clamped to [0, 60]."""
    if not header:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        import email.utils  # deferred: rarely needed, and costly to import

        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def pause_seconds(response: TransportResponse, attempt: int) -> float:
    """How long a 429 stops all sending: ``Retry-After`` as a minimum, never less than backoff."""
    return max(backoff(attempt), retry_after_seconds(response.retry_after) or 0.0)
