"""Chaos delivery: no event is lost through the failures real networks produce.

The long run is ``bench/chaos.py``; here a seeded schedule of every failure the
chaos server knows, plus an outage, against 2,000 events from four threads. Then
a few fast checks that the chaos server itself misbehaves as it claims.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import uuid
from typing import Callable

import pytest

from posthog_exceptions import Client

from .chaos_server import (
    BEHAVIOURS,
    ERROR_500,
    ERROR_503,
    LOST_AFTER_STORE,
    OK,
    OUTAGE,
    RATE_LIMITED,
    RATE_LIMITED_RETRY_AFTER,
    RESET,
    TOO_LARGE,
    TOO_LARGE_BODY,
    ChaosServer,
    behaviour_table,
    only,
    produce,
)

MakeClient = Callable[..., Client]

SEED = 20261127
EVENTS = 2000
THREADS = 4
PRODUCE_SECONDS = 15.0  # the events are spread over this long, so failures meet captures
CLIENT_TIMEOUT = 1.0
STALL_SECONDS = 2.0  # longer than CLIENT_TIMEOUT: a stall is a client timeout
FLUSH_DEADLINE = 180.0  # generous: the run takes ~40 s, and must never fail for lack of time
MAX_CALLER_PAUSE = 0.5  # a bound on what a caller may wait, not a synchronisation


@pytest.mark.timeout(FLUSH_DEADLINE + 60)
def test_no_event_is_lost_through_chaos(make_client: MakeClient) -> None:
    """Every failure mode and an outage, while four threads capture: every event arrives,
    duplicates come only from responses lost after the store, no caller waits on the
    network, and the client's counters agree with the server."""
    with ChaosServer(
        seed=SEED,
        weights={OK: 8},  # a deck: 8 ok, and one of each of the 8 failures
        max_batch_events=20,
        stall_seconds=STALL_SECONDS,
        outage_every=(10, 20),
        outage_duration=(2.0, 3.0),
        max_outages=1,
    ) as server:
        client = make_client(
            server.url,
            timeout=CLIENT_TIMEOUT,
            max_retries=30,  # far more than a ~3 s outage and the failure streaks need
            rate_limit=False,  # one fingerprint for every exception: not what this is about
        )
        load = produce(client, events=EVENTS, threads=THREADS, seconds=PRODUCE_SECONDS)
        delivered = client.flush(timeout=FLUSH_DEADLINE)
        stats = client.stats()
        assert client.shutdown(timeout=5)
    history = " ".join(f"{h.number}:{h.behaviour}/{h.events}" for h in server.history)
    report = (
        f"{behaviour_table(server.counts)}; {server.outages} outages "
        f"({server.down_seconds:.1f} s); stats {stats}; requests (behaviour/events): {history}"
    )

    assert load.failures == [], load.failures[0]
    assert load.not_queued == 0
    assert load.calls == EVENTS
    assert load.exceptions == EVENTS // 5
    sent = set(load.sent)
    assert len(sent) == EVENTS
    assert delivered, f"flush() ran out of time; {report}"
    received = server.received
    assert sent - received == set(), f"{len(sent - received)} events lost; {report}"
    assert received == sent
    assert server.duplicates <= server.lost_after_store_events, report
    assert load.longest_pause < MAX_CALLER_PAUSE, f"a caller waited {load.longest_pause:.3f} s"

    assert stats["sent"] == len(received) == stats["queued"], report
    assert stats["pending"] == 0
    assert {reason: n for reason, n in stats["dropped"].items() if n} == {}, report
    assert stats["retried"] > 0

    counts = server.counts
    assert all(counts[name] >= 1 for name in BEHAVIOURS), report
    assert counts[OUTAGE] == server.outages == 1, report
    assert server.down_seconds >= 2.0
    assert server.handler_errors == []


# ----------------------------------------------------------- the chaos server itself


def _batch(uuids: list[str]) -> bytes:
    events = [{"event": "e", "distinct_id": "u", "uuid": u, "properties": {}} for u in uuids]
    return gzip.compress(json.dumps({"api_key": "phc_chaos", "batch": events}).encode())


def _post(server: ChaosServer, uuids: list[str]) -> tuple[int, str | None, bytes]:
    """POST a batch; returns the status, the Retry-After header and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(
            "POST",
            "/batch/",
            body=_batch(uuids),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        response = conn.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()
    finally:
        conn.close()


def _post_expecting_reset(server: ChaosServer, uuids: list[str]) -> None:
    """POST a batch over a raw socket and expect an RST: an error, not an orderly close."""
    body = _batch(uuids)
    head = (
        f"POST /batch/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)


def _uuids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def test_a_reset_resets_without_storing() -> None:
    with ChaosServer(weights=only(RESET)) as server:
        _post_expecting_reset(server, _uuids(2))
        assert server.counts[RESET] == 1
        assert server.received == set()


def test_duplicates_are_counted_and_bounded_by_lost_responses() -> None:
    with ChaosServer(weights=only(LOST_AFTER_STORE)) as server:
        first, second, third = _uuids(3)
        _post_expecting_reset(server, [first, second])  # stored, answer lost
        server.set_weights(only(OK))
        assert _post(server, [first, second, third])[0] == 200  # the client's resend
        assert server.received == {first, second, third}
        assert (server.duplicates, server.lost_after_store_events, server.stored) == (2, 2, 5)
        assert server.counts[LOST_AFTER_STORE] == server.counts[OK] == 1


def test_an_outage_refuses_connections_then_serves_on_the_same_port() -> None:
    with ChaosServer(
        weights=only(OK), outage_every=(2, 2), outage_duration=(0.5, 0.5), max_outages=1
    ) as server:
        url = server.url
        assert _post(server, _uuids(1))[0] == 200
        _post_expecting_reset(server, _uuids(1))  # the second request starts the outage
        assert server.wait_for(lambda: server.is_down, timeout=5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        assert server.wait_for(lambda: not server.is_down, timeout=10)
        assert _post(server, _uuids(1))[0] == 200
        assert server.url == url
        assert (server.outages, server.counts[OUTAGE], server.unique) == (1, 1, 2)
        assert server.down_seconds >= 0.5

        server.down()  # on demand, too
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        server.up()
        assert _post(server, _uuids(1))[0] == 200


@pytest.mark.parametrize(
    ("behaviour", "status", "retry_after", "body"),
    [
        (ERROR_500, 500, None, None),
        (ERROR_503, 503, None, None),
        (RATE_LIMITED_RETRY_AFTER, 429, "1", None),
        (RATE_LIMITED, 429, None, None),
        (TOO_LARGE, 413, None, TOO_LARGE_BODY),
    ],
)
def test_error_answers(behaviour: str, status: int, retry_after: str | None, body: bytes) -> None:
    with ChaosServer(weights=only(behaviour), max_batch_events=2) as server:
        answer = _post(server, _uuids(3))
        assert answer[:2] == (status, retry_after)
        if body is not None:
            assert answer[2] == body
        assert server.received == set()
        if behaviour == TOO_LARGE:  # a batch small enough gets another card: here, ok
            assert _post(server, _uuids(2))[0] == 200
