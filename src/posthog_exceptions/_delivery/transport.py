"""How a request body reaches the capture API.

A transport only carries bytes: it never retries, sleeps or decides what a
status means — that is :mod:`posthog_exceptions._delivery.retry`'s job. The default
:class:`HttpTransport` keeps one keep-alive ``requests.Session`` (one pooled
connection) per client and imports ``requests`` only when the first batch is
sent, so importing the library stays cheap.
"""

from __future__ import annotations

import threading
import time

from posthog_exceptions._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

USER_AGENT = f"posthog-exceptions/{__version__}"
import_lock = threading.Lock()
"""Held while a delivery thread imports what it needs, and by the before-fork handler.

A ``fork()`` in the middle of another thread's import would leave the child a
half-initialised module in ``sys.modules`` that can never finish (``gzip`` without
``compress``). Taking this lock before forking waits for such an import to end."""
BATCH_PATH = "/batch/"
MAX_REQUEST_BYTES = 5 * 1024 * 1024
"""A request carries at most this many bytes of events (before compression)."""


class TransportResponse:
    """What came back: an HTTP status, or ``status=None`` and ``error`` when no response did."""

    __slots__ = ("body", "error", "retry_after", "status")

    def __init__(
        self,
        status: int | None,
        body: str = "",
        retry_after: str | None = None,
        error: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        """The start of the response body, for log lines."""
        self.retry_after = retry_after
        """The ``Retry-After`` header, verbatim."""
        self.error = error
        """The network error (connection refused, timeout, reset, …) when there was no response."""

    def __repr__(self) -> str:
        return (
            f"TransportResponse(status={self.status!r}, body={self.body!r}, "
            f"retry_after={self.retry_after!r}, error={self.error!r})"
        )


class HttpTransport:
    """``POST <host>/batch/`` over one keep-alive ``requests.Session``."""

    def __init__(self, host: str, timeout: float) -> None:
        self.url = host + BATCH_PATH
        self.timeout = timeout
        self._session: Any = None

    def send(self, body: bytes, headers: Mapping[str, str]) -> TransportResponse:
        with import_lock:
            # Deferred: importing the library must not import requests. netrc is what
            # requests imports on its first request; load it here, under the lock, too.
            import netrc  # noqa: F401

            import requests

        if self._session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            self._session = session
        started = time.monotonic()
        try:
            response = self._session.post(
                self.url, data=body, headers=dict(headers), timeout=self.timeout, stream=True
            )
        except requests.RequestException as exc:
            return TransportResponse(status=None, error=_describe(exc))
        # The status has arrived. Read at most 500 bytes of the body, for log lines, and
        # stop at the timeout: requests' timeout bounds each read, not a body that trickles.
        excerpt = bytearray()
        try:
            for byte in response.iter_content(1):
                excerpt += byte
                if len(excerpt) >= 500 or time.monotonic() - started > self.timeout:
                    break
        except requests.RequestException:
            pass  # the body broke off; the status still says what the server did
        finally:
            response.close()
        return TransportResponse(
            status=response.status_code,
            body=excerpt.decode("utf-8", "replace"),
            retry_after=response.headers.get("Retry-After"),
        )

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def forget(self) -> None:
        """Drop the session unclosed: after ``fork()`` its sockets belong to the parent."""
        self._session = None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"
