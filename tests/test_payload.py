"""Queued events as pieces sharing their frames' JSON, and the queue's byte accounting."""

from __future__ import annotations

import json
import sys
import tracemalloc
from typing import Any, Callable

from posthog_exceptions import Client
from posthog_exceptions._capture.kinds import MANUAL
from posthog_exceptions._delivery.ledger import Ledger
from posthog_exceptions._payload import Spliced, parts, size, to_bytes
from posthog_exceptions._serialize import dumps, dumps_made

from .exc_helpers import Captured
from .recording_server import RecordingServer

MakeClient = Callable[..., Client]


def _recurse(depth: int, label: int) -> None:
    if depth:
        _recurse(depth - 1, label)
    raise ValueError(f"bug {label}")


def _raised(label: int, depth: int = 20) -> ValueError:
    try:
        _recurse(depth, label)
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def _chained() -> BaseException:
    try:
        try:
            _recurse(3, 1)
        except ValueError as inner:
            raise KeyError("outer") from inner
    except KeyError as exc:
        return exc
    raise AssertionError("did not raise")


def _event(builder: Any, exc: BaseException, number: int = 0) -> dict[str, Any]:
    """An ``$exception`` event as the client builds it, its exception list not yet encoded."""
    walked = builder.walk(exc, exc.__traceback__, fingerprint=None, synthetic_stack=None)
    props = builder.properties(walked, MANUAL, None)
    return {"event": "$exception", "properties": props, "uuid": str(number)}


def test_spliced_pieces_are_exactly_the_plain_encoding() -> None:
    cap = Captured()
    cap.client.capture_exception(_raised(0))  # makes the builder
    builder = cap.client._exceptions
    for exc in (_raised(1), _chained()):
        event = _event(builder, exc)
        rendered = event["properties"]["$exception_list"]
        payload = rendered.encode(event)
        assert event["properties"]["$exception_list"] is rendered  # put back after encoding
        plain = dumps(
            {**event, "properties": {**event["properties"], "$exception_list": rendered.copy()}}
        )
        assert isinstance(payload, Spliced)
        assert to_bytes(payload) == b"".join(parts(payload)) == plain
        assert size(payload) == len(plain)
        # the frame blobs are the cache's, referenced rather than copied
        again = _event(builder, exc)["properties"]["$exception_list"].encode(event)
        assert isinstance(again, Spliced)
        held = [blob for group in payload.stacks for blob in group]
        assert all(a is b for a, b in zip(held, (b for g in again.stacks for b in g)))


def _spliced(name: bytes, *blobs: bytes) -> Spliced:
    return Spliced((b'{"' + name + b'":[', b"]}"), (blobs,))


def test_the_encoder_of_rendered_variables_writes_what_dumps_writes() -> None:
    rendered = {
        "n": 3,
        "x": 1.5,
        "ok": True,
        "none": None,
        "s": 'caf\u00e9 "q" \u2028',
        "...": "<2 more>",
    }
    assert dumps_made(rendered) == dumps(rendered)
    assert json.loads(dumps_made(rendered)) == rendered
    odd: dict[str, Any] = {"set": {1}, "nan": float("nan")}  # not JSON: the general path
    assert dumps_made(odd) == dumps(odd)
    loop: list[Any] = []
    loop.append(loop)  # a cycle cannot be made of rendered values; still no hang or raise
    assert dumps_made({"loop": loop}) == dumps({"loop": loop})


def test_the_ledger_counts_a_shared_blob_once() -> None:
    blob = b'{"frame":"' + b"x" * 1000 + b'"}'
    other = b'{"frame":"' + b"y" * 500 + b'"}'
    first = _spliced(b"a", blob, blob)
    second = _spliced(b"b", blob, other)
    assert bytes(first) == b'{"a":[' + blob + b"," + blob + b"]}"
    ledger = Ledger()
    cost_first = ledger.add(first)
    assert cost_first == first.memory + sys.getsizeof(blob)  # the repeated frame counts once
    cost_second = ledger.add(second)
    assert cost_second == second.memory + sys.getsizeof(other)  # blob is already held
    assert ledger.total == cost_first + cost_second
    ledger.remove(first)
    assert ledger.total == cost_second + sys.getsizeof(blob)  # blob is still held, by second
    ledger.remove(second)
    assert ledger.total == 0
    plain = b'{"event":"x"}'
    cost = ledger.add(plain)
    assert cost > sys.getsizeof(plain)
    ledger.remove(plain)
    assert ledger.total == 0
    assert ledger.admit(first, limit=cost_first)  # exactly fits
    assert not ledger.admit(second, limit=cost_first)  # refused, and nothing recorded
    assert ledger.total == cost_first
    ledger.remove(first)
    assert ledger.total == 0


def test_the_ledger_counts_at_least_what_queued_events_hold() -> None:
    """Measured with tracemalloc: the bound is on real memory, not on JSON length."""
    cap = Captured(rate_limit=False)
    for label in range(50):  # warm the frame cache: the blobs exist before measuring
        cap.client.capture_exception(_raised(label))
    exc_list = [_raised(label) for label in range(300)]
    builder = cap.client._exceptions
    assert builder is not None
    for exc in exc_list:  # the process-wide caches (scrubbed messages) may grow, not here
        _event(builder, exc)
    ledger = Ledger()
    held: list[tuple[int, Any]] = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number, exc in enumerate(exc_list):
            event = _event(builder, exc, number)
            payload = event["properties"]["$exception_list"].encode(event)
            ledger.add(payload)
            held.append((number + 10_000, payload))  # as the queue holds it
            del event, payload
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    real = after - before
    assert ledger.total >= 0.9 * real, (ledger.total, real)
    assert ledger.total <= 3 * real, (ledger.total, real)  # and not wildly more


def test_a_burst_of_one_bug_fits_where_full_copies_would_not(
    server: RecordingServer, make_client: MakeClient
) -> None:
    queue_bytes = 512 * 1024
    server.answer(200, delay=30)  # the first request hangs: everything after it queues
    client = make_client(server.url, rate_limit=False, max_queue_bytes=queue_bytes)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    uids = [client.capture_exception(_raised(i)) for i in range(200)]
    assert all(uids)
    assert client.stats()["dropped"]["queue_full"] == 0
    server.release()
    assert client.flush(timeout=10)
    received = [e for e in server.events if e["event"] == "$exception"]
    assert sorted(e["uuid"] for e in received) == sorted(uids)  # type: ignore[type-var]
    one = len(json.dumps(received[0], separators=(",", ":"), ensure_ascii=False).encode())
    assert 200 * one > 4 * queue_bytes  # as whole copies they would have overflowed it


def test_different_tracebacks_are_counted_in_full(
    server: RecordingServer, make_client: MakeClient
) -> None:
    """Events that share nothing cost the queue their whole size, as plain bytes do."""
    server.answer(200, delay=30)
    client = make_client(server.url, rate_limit=False, max_queue_bytes=64 * 1024)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    namespace: dict[str, Any] = {}
    accepted = 0
    for i in range(100):
        # a new function (code object) per event: no frame is shared with another event
        source = f"def fail_{i}():\n    raise ValueError('x' * 4000 + '{i}')\n"
        exec(compile(source, f"<generated {i}>", "exec"), namespace)
        try:
            namespace[f"fail_{i}"]()
        except ValueError as exc:
            accepted += client.capture_exception(exc) is not None
    assert 0 < accepted < 20  # about 4 KB each against a 64 KiB bound
    assert client.stats()["dropped"]["queue_full"] == 100 - accepted
    server.release()
