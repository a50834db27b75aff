"""Delivery against a real local server that misbehaves on cue: batching, compression,
the retry policy, deadlines, concurrency and the bounded queue."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
from typing import Any, Callable

import pytest

from posthog_exceptions import Client

from .recording_server import Answer, RecordingServer, Request, refusing_socket

MakeClient = Callable[..., Client]


def test_events_are_batched(server: RecordingServer, make_client: MakeClient) -> None:
    server.answer(200, delay=0.5)  # hold the first request so the rest accumulate
    client = make_client(server.url, batch_size=10)
    client.capture("first", distinct_id="u")
    server.wait_for_arrivals(1)
    for i in range(25):
        client.capture("e", distinct_id="u", properties={"i": i})
    assert client.flush(timeout=10)
    sizes = [len(r.events) for r in server.requests]
    assert sizes == [1, 10, 10, 5]
    assert [e["properties"].get("i") for e in server.events[1:]] == list(range(25))
    assert client.stats()["sent"] == 26


def test_requests_are_gzipped(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url)
    client.capture("x", distinct_id="u")
    assert client.flush(timeout=10)
    (request,) = server.wait_for_requests(1)
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("posthog-exceptions/")
    assert request.raw[:3] == b"\x1f\x8b\x08"
    assert json.loads(gzip.decompress(request.raw))["batch"][0]["event"] == "x"


def test_one_keep_alive_connection_per_client(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    for i in range(3):
        client.capture("x", distinct_id="u", properties={"i": i})
        assert client.flush(timeout=10)
    assert len(server.requests) == 3
    assert len({r.peer for r in server.requests}) == 1


def test_gzip_can_be_switched_off(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url, gzip=False)
    client.capture("x", distinct_id="u")
    assert client.flush(timeout=10)
    (request,) = server.wait_for_requests(1)
    assert "content-encoding" not in request.headers
    assert json.loads(request.raw)["batch"][0]["event"] == "x"


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_transient_errors_are_retried(
    server: RecordingServer, make_client: MakeClient, status: int
) -> None:
    server.answer(status, times=2)
    client = make_client(server.url)
    uid = client.capture("x", distinct_id="u")
    assert client.flush(timeout=15)
    assert [r.status for r in server.requests] == [status, status, 200]
    assert [e["uuid"] for e in server.events] == [uid]
    stats = client.stats()
    assert (stats["sent"], stats["retried"]) == (1, 2)


def test_backoff_grows_between_retries(server: RecordingServer, make_client: MakeClient) -> None:
    server.answer(503, times=2)
    client = make_client(server.url)
    client.capture("x", distinct_id="u")
    server.wait_for_requests(3, timeout=15)
    first, second, third = (r.at for r in server.requests)
    assert second - first >= 0.5  # base backoff
    assert third - second >= 1.0  # doubled


def test_server_started_late_gets_the_events(
    make_client: MakeClient, wait_for_log: Callable[[str], None]
) -> None:
    sock = refusing_socket()
    client = make_client(f"http://127.0.0.1:{sock.getsockname()[1]}")
    uid = client.capture("x", distinct_id="u")
    wait_for_log("retrying in")  # the connection was refused at least once
    late = RecordingServer().start(sock)
    try:
        assert client.flush(timeout=15)
        assert [e["uuid"] for e in late.events] == [uid]
    finally:
        late.stop()


def test_429_pauses_all_sending_for_retry_after(
    server: RecordingServer, make_client: MakeClient
) -> None:
    server.answer(429, retry_after="2")
    client = make_client(server.url)
    client.capture("x", distinct_id="u")
    client.flush(timeout=0.1)  # flush must not cut a rate-limit pause short
    client.capture("y", distinct_id="u")
    assert client.flush(timeout=15)
    limited, *later = server.requests
    assert limited.status == 429
    assert later
    assert all(request.at - limited.at >= 2.0 for request in later)
    assert sorted(e["event"] for e in server.events) == ["x", "y"]


def test_413_splits_the_batch(server: RecordingServer, make_client: MakeClient) -> None:
    def too_large_above_two(request: Request) -> Answer:
        return (
            Answer(413, body="maximum event size exceeded") if len(request.events) > 2 else Answer()
        )

    server.responder = too_large_above_two
    server.answer(200, delay=0.5)
    client = make_client(server.url)
    client.capture("hold", distinct_id="u")
    server.wait_for_arrivals(1)
    uids = [client.capture("e", distinct_id="u", properties={"i": i}) for i in range(7)]
    assert client.flush(timeout=10)
    delivered = [e["uuid"] for e in server.events[1:]]
    assert delivered == uids  # every event once, in order
    assert all(len(r.events) <= 2 for r in server.requests if r.status == 200)
    assert client.stats()["dropped"]["too_large"] == 0


def test_413_on_a_single_event_drops_it(server: RecordingServer, make_client: MakeClient) -> None:
    def refuse_big(request: Request) -> Answer | None:
        if any(e["event"] == "big" for e in request.events):
            return Answer(413, body="maximum event size exceeded")
        return None

    server.responder = refuse_big
    server.answer(200, delay=0.5)
    client = make_client(server.url)
    client.capture("hold", distinct_id="u")
    server.wait_for_arrivals(1)
    for name in ("a", "big", "b"):
        client.capture(name, distinct_id="u")
    assert client.flush(timeout=10)
    assert [e["event"] for e in server.events] == ["hold", "a", "b"]
    stats = client.stats()
    assert (stats["sent"], stats["dropped"]["too_large"]) == (3, 1)


@pytest.mark.parametrize(("status", "body"), [(400, "missing distinct_id"), (401, "bad api key")])
def test_client_errors_drop_the_batch_with_one_log_line(
    server: RecordingServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: str,
) -> None:
    server.answer(status, body=body)
    client = make_client(server.url)
    with caplog.at_level(logging.WARNING, logger="posthog_exceptions"):
        client.capture("x", distinct_id="u")
        assert client.flush(timeout=10)
    assert len(server.requests) == 1  # not retried
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(lines) == 1
    assert str(status) in lines[0]
    assert body in lines[0]
    assert client.stats()["dropped"]["rejected"] == 1


def test_retries_are_bounded(server: RecordingServer, make_client: MakeClient) -> None:
    server.responder = lambda request: Answer(500)
    client = make_client(server.url, max_retries=2)
    client.capture("x", distinct_id="u")
    assert client.flush(timeout=15)
    assert len(server.requests) == 3
    assert client.stats()["dropped"]["retries_exhausted"] == 1


def test_flush_returns_false_at_its_deadline(
    server: RecordingServer, make_client: MakeClient
) -> None:
    server.answer(200, delay=5)
    client = make_client(server.url)
    client.capture("x", distinct_id="u")
    started = time.monotonic()
    assert client.flush(timeout=0.3) is False
    assert 0.3 <= time.monotonic() - started < 3
    server.release()
    assert client.flush(timeout=10)


def test_flush_cuts_a_backoff_short(server: RecordingServer, make_client: MakeClient) -> None:
    server.responder = lambda request: Answer(503) if len(server.requests) < 4 else None
    client = make_client(server.url)
    client.capture("x", distinct_id="u")
    server.wait_for_requests(4, timeout=30)  # the worker is now in a backoff of 4 to 5 s
    started = time.monotonic()
    assert client.flush(timeout=10)
    assert time.monotonic() - started < 3
    assert len(server.requests) == 5


def test_shutdown_meets_its_deadline_and_counts_the_rest(
    server: RecordingServer, make_client: MakeClient
) -> None:
    server.responder = lambda request: Answer(503)
    client = make_client(server.url)
    for _ in range(3):
        client.capture("x", distinct_id="u")
    started = time.monotonic()
    assert client.shutdown(timeout=1) is False
    assert time.monotonic() - started < 3
    stats = client.stats()
    assert stats["dropped"]["shutdown"] == 3
    assert stats["pending"] == 0
    assert client.capture("late", distinct_id="u") is None


def test_shutdown_delivers_what_is_queued(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url)
    for i in range(50):
        client.capture("x", distinct_id="u", properties={"i": i})
    assert client.shutdown(timeout=10) is True
    assert len(server.events) == 50


def test_many_threads_each_event_exactly_once(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    uids: list[list[str | None]] = [[] for _ in range(16)]

    def produce(slot: int) -> None:
        for i in range(500):
            uids[slot].append(
                client.capture("t", distinct_id=f"thread-{slot}", properties={"i": i})
            )

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(timeout=60)
    sent = [uid for slot in uids for uid in slot if uid is not None]
    received = [e["uuid"] for e in server.events]
    assert len(sent) == 8000
    assert len(received) == 8000
    assert sorted(received) == sorted(sent)  # exactly once each
    for slot in range(16):  # each thread's events keep their order
        mine = [e["properties"]["i"] for e in server.events if e["distinct_id"] == f"thread-{slot}"]
        assert mine == list(range(500))
    assert client.stats()["sent"] == 8000


def test_full_queue_drops_and_counts_without_blocking(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.answer(200, delay=30)  # a hung endpoint
    client = make_client(server.url, max_queue_size=10)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    with caplog.at_level(logging.WARNING, logger="posthog_exceptions"):
        started = time.monotonic()
        results = [client.capture("x", distinct_id="u") for _ in range(100)]
        elapsed = time.monotonic() - started
    assert elapsed < 1.0  # the caller never waited on the hung request
    assert sum(r is not None for r in results) == 10
    stats = client.stats()
    assert stats["dropped"]["queue_full"] == 90
    assert stats["pending"] == 10
    assert sum("queue is full" in r.getMessage() for r in caplog.records) == 1
    server.release()
    assert client.flush(timeout=10)
    assert len(server.events) == 11


def test_queue_is_bounded_by_bytes(server: RecordingServer, make_client: MakeClient) -> None:
    server.answer(200, delay=30)
    client = make_client(server.url, max_queue_bytes=20_000)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    accepted = sum(
        client.capture("x", distinct_id="u", properties={"pad": "p" * 1000}) is not None
        for _ in range(100)
    )
    assert 10 <= accepted < 20
    assert client.stats()["dropped"]["queue_full"] == 100 - accepted
    server.release()


def test_sync_mode_sends_before_returning(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url, sync_mode=True)
    uid = client.capture("x", distinct_id="u")
    assert [e["uuid"] for e in server.events] == [uid]  # no flush needed
    assert not any(t.name == "posthog-exceptions-worker" for t in threading.enumerate())


def test_worker_thread_is_named_and_started_lazily(
    server: RecordingServer, make_client: MakeClient
) -> None:
    def workers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "posthog-exceptions-worker"]

    before = len(workers())
    client = make_client(server.url)
    assert len(workers()) == before
    client.capture("x", distinct_id="u")
    (thread,) = [t for t in workers()][before:]
    assert thread.daemon
    assert client.flush(timeout=10)


def test_batches_stay_under_the_request_size_cap(
    server: RecordingServer, make_client: MakeClient
) -> None:
    server.answer(200, delay=0.5)
    client = make_client(server.url, batch_size=1000)
    client.capture("hold", distinct_id="u")
    server.wait_for_arrivals(1)
    for _ in range(14):  # 14 x 800 KB > 5 MiB: must take at least three requests
        client.capture("big", distinct_id="u", properties={"blob": "b" * 800_000})
    assert client.flush(timeout=20)
    sizes: list[Any] = [len(gzip.decompress(r.raw)) for r in server.requests]
    assert max(sizes) <= 5 * 1024 * 1024
    assert len(server.events) == 15


def test_a_trickling_response_body_is_cut_off_at_the_timeout(make_client: MakeClient) -> None:
    """requests' timeout bounds each read; the transport bounds the body as a whole."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n")
            for byte in b'{"status": 1}':
                if stop.wait(0.5):  # a byte every half second: each read is within timeout
                    return
                conn.sendall(bytes([byte]))

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    try:
        client = make_client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1.0)
        client.capture("x", distinct_id="u")
        started = time.monotonic()
        assert client.flush(timeout=30)
        assert time.monotonic() - started < 4  # not the 6.5 s the whole body takes
        assert client.stats()["sent"] == 1
    finally:
        stop.set()
        server.join(10)
        listener.close()


def test_an_event_captured_while_sending_does_not_deadlock() -> None:
    """A transport (or a logging handler it triggers) may capture while a batch is sent."""
    from posthog_exceptions.testing import MemoryTransport

    class Reentrant(MemoryTransport):
        client: Client | None = None

        def send(self, body: bytes, headers: Any) -> Any:
            if self.client is not None and len(self.bodies) == 0:
                self.client.capture("from-inside-send", distinct_id="u")
            return super().send(body, headers)

    for sync in (True, False):
        transport = Reentrant()
        client = Client("phc_test", transport=transport, sync_mode=sync)
        transport.client = client
        finished = threading.Event()

        def capture(c: Client = client, finished: threading.Event = finished) -> None:
            c.capture("outer", distinct_id="u")
            c.flush(timeout=10)  # the inner event is queued during this flush's send...
            c.flush(timeout=10)  # ...so this one covers it
            finished.set()

        worker = threading.Thread(target=capture, daemon=True)
        worker.start()
        assert finished.wait(10), f"capture deadlocked (sync_mode={sync})"
        assert sorted(e["event"] for e in transport.events) == ["from-inside-send", "outer"]
        client.shutdown(timeout=5)


def test_the_queue_memory_returns_to_zero_once_batches_settle(
    server: RecordingServer, make_client: MakeClient
) -> None:
    """What a batch in flight reserves in the ledger (its events and its request body) is
    given back whether the batch is sent, split, rejected or given up."""
    client = make_client(server.url, max_retries=1)
    worker: Any = client._worker
    for answers in ([413], [401], [500, 500], []):
        for status in answers:
            server.answer(status)
        for _ in range(3):
            client.capture_exception(ValueError("boom"))  # events sharing frame blobs
        client.capture("e", distinct_id="u")
        assert client.flush(timeout=20)
        assert worker._queue.held.total == 0
    dropped = client.stats()["dropped"]
    assert dropped["rejected"] and dropped["retries_exhausted"]
    assert client.stats()["sent"] >= 4


def test_a_batch_the_server_refuses_with_400_loses_only_its_bad_event(
    server: RecordingServer, make_client: MakeClient
) -> None:
    """The server refuses a whole request for one bad event: the batch is split until
    the bad event is alone, and only it is dropped."""

    def refuse_poison(request: Request) -> Answer | None:
        if any(e.get("properties", {}).get("poison") for e in request.events):
            return Answer(400, body="invalid event")
        return None

    server.answer(200, delay=0.5)  # the first request holds the rest back: one batch
    client = make_client(server.url)
    client.capture("hold", distinct_id="u")
    server.wait_for_arrivals(1)
    server.responder = refuse_poison
    for i in range(120):
        client.capture("e", distinct_id="u", properties={"i": i, "poison": i == 57})
    assert client.flush(timeout=20)
    delivered = sorted(e["properties"]["i"] for e in server.events if e["event"] == "e")
    assert delivered == [i for i in range(120) if i != 57]
    assert client.stats()["dropped"]["rejected"] == 1


def test_an_event_before_send_breaks_is_dropped_alone_as_invalid(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def break_some(event: dict[str, Any]) -> dict[str, Any]:
        i = event["properties"].get("i")
        if i == 3:
            del event["distinct_id"]
        elif i == 4:
            event["timestamp"] = "yesterday at noon"
        elif i == 5:
            event["uuid"] = "not-a-uuid"
        return event

    client = make_client(server.url, before_send=break_some)
    for i in range(10):
        client.capture("e", distinct_id="u", properties={"i": i})
    assert client.flush(timeout=10)
    assert sorted(e["properties"]["i"] for e in server.events) == [0, 1, 2, 6, 7, 8, 9]
    assert client.stats()["dropped"]["invalid"] == 3
    assert all(r.status == 200 for r in server.requests)  # no request was refused
    assert "before_send returned an event PostHog would refuse" in caplog.text


def test_a_redirect_is_not_followed_and_says_where_it_points(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def redirect(request: Request) -> Answer:
        return Answer(302, body="", headers={"Location": "https://eu.i.posthog.com/batch/"})

    server.responder = redirect
    client = make_client(server.url)
    for i in range(5):
        client.capture("e", distinct_id="u", properties={"i": i})
    assert client.flush(timeout=10)
    assert [r.path for r in server.requests] == ["/batch/"] * len(server.requests)
    assert all(r.payload for r in server.requests)  # every request a POST with its body
    stats = client.stats()
    assert stats["sent"] == 0
    assert stats["dropped"]["rejected"] == 5
    assert "https://eu.i.posthog.com/batch/" in caplog.text


def test_a_server_that_trickles_its_headers_cannot_hold_a_request_past_the_timeout(
    make_client: MakeClient,
) -> None:
    """One header line a second, each within the socket timeout: the request as a whole
    still ends at ``timeout``; the retry is answered properly and delivers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    delivered = []

    def serve() -> None:
        for attempt in range(2):
            conn, _ = listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(rest) < length:
                    rest += conn.recv(65536)
                if attempt == 0:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for n in range(30):  # thirty header lines, one every 0.4 s
                        if stop.wait(0.4):
                            return
                        try:
                            conn.sendall(b"X-Slow-%d: 1\r\n" % n)
                        except OSError:
                            break  # the client gave up: good
                    continue
                delivered.append(json.loads(gzip.decompress(rest)))
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"status": 1}')

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        client = make_client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1.0)
        client.capture("x", distinct_id="u")
        started = time.monotonic()
        assert client.flush(timeout=30)
        assert time.monotonic() - started < 6  # the trickle alone would take 12 s
        assert client.stats()["sent"] == 1
        assert client.stats()["retried"] == 1
        assert [e["event"] for body in delivered for e in body["batch"]] == ["x"]
    finally:
        stop.set()
        server.join(10)
        listener.close()
