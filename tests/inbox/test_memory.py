"""The inbox's memory bound, measured on a real inbox in a subprocess, and its chunked-body limits.

The bound is the one the README and ``inbox/_server.py`` state: with the default limits
the inbox process stays under 250 MB however many clients send at once. Clients are
real threads with socket timeouts; the inbox's peak RSS is its own ``VmHWM``.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, NamedTuple
from urllib.parse import urlsplit

import pytest

from posthog_exceptions.inbox import EventStore, Inbox
from posthog_exceptions.inbox._server import CaptureServer

from .test_server import KEY, event

BOUND_MB = 250
"""The documented bound."""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)"
)

CHILD = textwrap.dedent(
    """
    import sys
    from posthog_exceptions.inbox import Inbox
    from posthog_exceptions.inbox._server import CaptureServer

    # Requests take turns; on a slow machine the last may wait longer than the default.
    CaptureServer.budget_wait = 120.0

    def peak_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    with Inbox(db=sys.argv[1]) as inbox:
        print(inbox.url, flush=True)
        sys.stdin.read()  # until the test is done sending
        print(peak_kb(), inbox.store.count(), flush=True)
    """
)


class Child(NamedTuple):
    url: str
    finish: Callable[[], tuple[int, int]]
    """Ends the inbox; returns its peak RSS in MB and how many events it stored."""


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "inbox.sqlite3")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url

        def finish() -> tuple[int, int]:
            out, _ = process.communicate("", timeout=60)
            peak_kb, count = (int(word) for word in out.split())
            return peak_kb // 1024, count

        yield Child(url, finish)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(work())
        except Exception as exc:  # reported by the assertion on results
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _batch_of(size: int) -> tuple[bytes, int]:
    """A ``/batch/`` body just under ``size`` bytes of ``$exception`` events, and its count."""
    frames = [
        {"filename": f"app/m{i}.py", "function": f"f{i}", "lineno": i, "context_line": "y" * 80}
        for i in range(40)
    ]
    one = event(
        event="$exception",
        properties={"$exception_list": [{"type": "E", "value": "x" * 200, "frames": frames}]},
    )
    count = size // (len(json.dumps(one)) + 2)
    return json.dumps({"api_key": KEY, "batch": [one] * count}).encode(), count


def test_four_concurrent_19_mb_batches_stay_under_the_bound(child: Child) -> None:
    body, count = _batch_of(19_000_000)
    assert 18_000_000 < len(body) < 19_000_000
    parts = urlsplit(child.url)

    def send() -> int:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        try:
            conn.request("POST", "/batch/", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    assert _in_threads(4, send) == [200] * 4
    peak_mb, stored = child.finish()
    assert stored == 4 * count
    assert peak_mb < BOUND_MB, f"peak RSS {peak_mb} MB"


def _chunked_request(url: str, head: bytes, chunk_size: int, send_bytes: int) -> bytes:
    """Send ``head`` (a chunk-size line for ``chunk_size``) and ``send_bytes`` of data;
    return the status line and headers of the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=60) as sock:
        sock.sendall(
            b"POST /batch/ HTTP/1.1\r\nHost: inbox\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + head
        )
        piece = b" " * (1 << 20)
        sent = 0
        try:
            while sent < send_bytes:
                part = piece[: send_bytes - sent]
                sock.sendall(part)
                sent += len(part)
            if send_bytes == chunk_size:
                sock.sendall(b"\r\n0\r\n\r\n")
        except OSError:
            pass  # the inbox may stop reading; its answer is what counts
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_eight_concurrent_100_mb_chunks_get_413_without_growing(child: Child) -> None:
    size = 100_000_000

    def send() -> bytes:
        return _chunked_request(child.url, b"%x\r\n" % size, size, size)

    answers = _in_threads(8, send)
    assert all(isinstance(a, bytes) and a.startswith(b"HTTP/1.1 413 ") for a in answers), answers
    peak_mb, stored = child.finish()
    assert stored == 0
    assert peak_mb < BOUND_MB, f"peak RSS {peak_mb} MB"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with Inbox() as running:
        yield running


@pytest.mark.parametrize("line", [b"7fffffffffffffff", b"ffffffffffffffffffff", b"zz", b"-5"])
def test_an_absurd_or_malformed_chunk_size_is_400(inbox: Inbox, line: bytes) -> None:
    answer = _chunked_request(inbox.url, line + b"\r\n", 0, 1000)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"Connection: close" in answer


def _held_upload(url: str, length: int) -> socket.socket:
    """A POST whose headers promise ``length`` bytes, of which only a few are sent."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=30)
    sock.sendall(
        b"POST /batch/ HTTP/1.1\r\nHost: inbox\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n[" % length
    )
    return sock


def test_requests_beyond_the_budget_wait_then_get_503_with_retry_after() -> None:
    store = EventStore()
    server = CaptureServer(("127.0.0.1", 0), store, max_request_bytes=1000)
    server.budget_wait = 0.5
    thread = threading.Thread(target=server.serve_until_stopped, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        payload = [{"api_key": KEY, **event()}]
        body = json.dumps(payload).encode()
        body = body[:-1] + b" " * (900 - len(body)) + b"]"
        second = json.dumps(payload).encode()
        assert len(second) > 1000 - 900
        holder = _held_upload(url, len(body))  # reserves 900 of the 1000 bytes
        try:
            assert server.budget.wait(lambda used: used == 900, timeout=10)
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
            conn.request("POST", "/batch/", second)
            busy = conn.getresponse()
            assert (busy.status, busy.getheader("Retry-After")) == (503, "1")
            assert b"busy" in busy.read()
            conn.close()
            holder.sendall(body[1:])
            answer = holder.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
        finally:
            holder.close()
        assert server.budget.wait(lambda used: used == 0, timeout=10)
        assert store.count() == 1
        assert server.budget.peak == 900
    finally:
        server.stop_serving()
        thread.join(timeout=10)
        server.close_connections()
        server.server_close()
        store.close()
