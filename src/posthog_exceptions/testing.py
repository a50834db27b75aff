"""Helpers for testing code that reports through posthog-exceptions.

:class:`MemoryTransport` replaces the HTTP transport and keeps what would have
been sent, so a test can assert on events without any server::

    from posthog_exceptions import Client
    from posthog_exceptions.testing import MemoryTransport

    transport = MemoryTransport()
    client = Client("phc_test", transport=transport, sync_mode=True)
    client.capture("signed_up", distinct_id="u1")
    assert transport.events[0]["event"] == "signed_up"

It answers every request with 200 unless told otherwise with :meth:`fail_next`.
(To run against a real local server instead, see :mod:`posthog_exceptions.inbox`.)
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from ._delivery.transport import TransportResponse

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """A transport that stores decoded request bodies in memory (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: deque[TransportResponse] = deque()
        self.bodies: list[dict[str, Any]] = []
        """Every request body received, decoded (``{"api_key", "batch", "sent_at"}``)."""

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event delivered, oldest first."""
        with self._lock:
            return [event for body in self.bodies for event in body.get("batch", [])]

    def fail_next(
        self, status: int | None = 503, *, times: int = 1, retry_after: str | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (``None``: a network error)."""
        error = "ConnectionError: simulated" if status is None else None
        with self._lock:
            for _ in range(times):
                self._answers.append(TransportResponse(status, "simulated", retry_after, error))

    def send(self, body: bytes, headers: Mapping[str, str]) -> TransportResponse:
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self._lock:
            if self._answers:
                return self._answers.popleft()
            self.bodies.append(json.loads(body))
        return TransportResponse(200, '{"status": 1}')

    def close(self) -> None:
        pass
