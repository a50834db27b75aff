"""Reading request bodies within limits: ``Content-Length`` and ``Transfer-Encoding: chunked``.

A chunked body is read a piece at a time and checked against the size limit as each
chunk's size line arrives, so one huge chunk is refused before any of it is kept; a
chunk size beyond any body the inbox would read (``7fffffffffffffff``) is a 400.
What a refused body still holds is read and dropped (up to :data:`DRAIN_LIMIT`), so
the client, which may be busy sending, gets to read the answer.
"""

from __future__ import annotations

from io import BufferedIOBase
from typing import Callable

DRAIN_LIMIT = 256 * 1024 * 1024
"""Bytes of a refused body read and dropped so the client sees the answer, not a reset."""

MAX_CHUNK_SIZE = 1 << 40
"""A chunk size above this (1 TiB) is malformed, not merely too large."""

_PIECE = 64 * 1024


class BadBody(Exception):
    """The body is malformed (400)."""


class BodyTooLarge(Exception):
    """The body reaches the size limit (413); ``size`` is how large it was seen to be."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def discard(rfile: BufferedIOBase, length: int) -> bool:
    """Read and drop ``length`` bytes (at most the drain limit); whether all were read."""
    remaining = min(length, DRAIN_LIMIT)
    while remaining > 0:
        piece = rfile.read(min(remaining, _PIECE))
        if not piece:
            return False
        remaining -= len(piece)
    return length <= DRAIN_LIMIT


class ChunkedReader:
    """One ``Transfer-Encoding: chunked`` body on ``rfile``.

    :meth:`read` returns the body, or raises :class:`BadBody`, :class:`BodyTooLarge`
    or whatever ``before_keeping`` raises (called once, before the first byte is
    kept); after any of those :meth:`drain` reads the rest of the body.
    """

    def __init__(self, rfile: BufferedIOBase, limit: int) -> None:
        self._rfile = rfile
        self._limit = limit
        self._pending = 0  # bytes of the current chunk not read yet
        self._done = False
        self.size = 0

    def _next_chunk(self) -> int:
        """Read a chunk-size line (and the trailers after the last chunk)."""
        line = self._rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise BadBody("malformed chunked body: truncated chunk-size line")
        digits = line.split(b";", 1)[0].strip()
        try:
            size = int(digits, 16)
        except ValueError:
            raise BadBody("malformed chunked body: bad chunk size") from None
        if size < 0 or size > MAX_CHUNK_SIZE or len(digits) > 16:
            raise BadBody(f"malformed chunked body: chunk size out of range ({digits!r:.40})")
        if size == 0:
            while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self._done = True
        self._pending = size
        return size

    def _end_of_chunk(self) -> None:
        if self._rfile.readline(1024) not in (b"\r\n", b"\n"):
            raise BadBody("malformed chunked body: no CRLF after a chunk")

    def read(self, before_keeping: Callable[[], None]) -> bytes:
        """The whole body, read piece by piece and checked against the limit."""
        parts: list[bytes] = []
        kept_any = False
        while self._next_chunk():
            if self.size + self._pending >= self._limit:
                raise BodyTooLarge(self.size + self._pending)
            if not kept_any:
                before_keeping()
                kept_any = True
            while self._pending:
                piece = self._rfile.read(min(self._pending, _PIECE))
                if not piece:
                    raise BadBody("malformed chunked body: truncated")
                self._pending -= len(piece)
                self.size += len(piece)
                parts.append(piece)
            self._end_of_chunk()
        return b"".join(parts)

    def drain(self) -> bool:
        """Read and drop the rest of the body (up to the drain limit); whether it ended."""
        budget = DRAIN_LIMIT
        try:
            while not self._done:
                if self._pending:
                    if self._pending > budget:
                        discard(self._rfile, budget)
                        return False
                    if not discard(self._rfile, self._pending):
                        return False
                    budget -= self._pending
                    self._pending = 0
                    self._end_of_chunk()
                self._next_chunk()
        except (BadBody, OSError):
            return False
        return True
