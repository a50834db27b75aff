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

    __slots__ = ("body", "error", "location", "retry_after", "status")

    def __init__(
        self,
        status: int | None,
        body: str = "",
        retry_after: str | None = None,
        error: str | None = None,
        location: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        """The start of the response body, for log lines."""
        self.retry_after = retry_after
        """The ``Retry-After`` header, verbatim."""
        self.error = error
        """The network error (connection refused, timeout, reset, …) when there was no response."""
        self.location = location
        """The ``Location`` header of a redirect (which is never followed)."""

    def __repr__(self) -> str:
        return (
            f"TransportResponse(status={self.status!r}, body={self.body!r}, "
            f"retry_after={self.retry_after!r}, error={self.error!r}, location={self.location!r})"
        )


class HttpTransport:
    """``POST <host>/batch/`` over one keep-alive ``requests.Session``.

    Each request is bounded in all — connecting, sending, the status line, the headers
    and the answer's body — by ``timeout`` seconds, or by the deadline the sender gives
    (:meth:`send_by`), whichever comes first (see :mod:`posthog_exceptions._delivery.deadline`).
    Redirects are never followed: ``requests`` would resend a ``POST`` after a 301 or 302
    as a body-less ``GET``, and the events would be counted sent while arriving nowhere."""

    def __init__(self, host: str, timeout: float) -> None:
        self.url = host + BATCH_PATH
        self.timeout = timeout
        self._session: Any = None
        self._deadline: Any = None

    def send(self, body: bytes, headers: Mapping[str, str]) -> TransportResponse:
        return self.send_by(body, headers, None)

    def send_by(
        self, body: bytes, headers: Mapping[str, str], deadline: float | None
    ) -> TransportResponse:
        """:meth:`send`, over by ``deadline`` (``time.monotonic()``) if that comes before
        ``timeout``."""
        with import_lock:
            # Deferred: importing the library must not import requests. netrc is what
            # requests imports on its first request; load it here, under the lock, too.
            import netrc  # noqa: F401

            import requests

            from . import deadline as _deadline

        if self._session is None:
            self._deadline = _deadline.Deadline(self.timeout)
            self._session = _deadline.session(self._deadline, USER_AGENT)
        end = time.monotonic() + self.timeout
        if deadline is not None:
            end = min(end, deadline)
        left = max(end - time.monotonic(), 0.001)
        self._deadline.at = end
        try:
            return self._post(requests, body, headers, left)
        finally:
            self._deadline.at = None

    def _post(
        self, requests: Any, body: bytes, headers: Mapping[str, str], left: float
    ) -> TransportResponse:
        try:
            response = self._session.post(
                self.url,
                data=body,
                headers=dict(headers),
                timeout=left,
                stream=True,
                allow_redirects=False,
            )
        except (requests.RequestException, OSError) as exc:
            return TransportResponse(status=None, error=_describe(exc))
        # The status has arrived. Read at most 500 bytes of the body, for log lines (the
        # deadline bounds a body that trickles).
        excerpt = bytearray()
        try:
            for chunk in response.iter_content(500):
                excerpt += chunk
                if len(excerpt) >= 500:
                    break
        except (requests.RequestException, OSError):
            pass  # the body broke off or ran out of time; the status says what the server did
        finally:
            response.close()
        return TransportResponse(
            status=response.status_code,
            body=excerpt[:500].decode("utf-8", "replace"),
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
        )

    def abort(self) -> None:
        """End the request under way now (called from another thread)."""
        if self._deadline is not None:
            self._deadline.abort()

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
