"""``$exception`` events are built by the sending thread: the capture keeps no exception,
traceback, frame or local variable once it returns, and the event it queued unbuilt is
the same event, in the same order, pending for ``flush()`` until it is sent."""

from __future__ import annotations

import gc
import weakref
from typing import Any, Callable

import pytest

from posthog_exceptions import Client

from .recording_server import RecordingServer

MakeClient = Callable[..., Client]


class Marker:
    """A local variable whose life shows whether a frame is still alive."""

    def __repr__(self) -> str:
        return "Marker()"


class Failure(Exception):
    """An exception class of our own: instances can be weakly referenced."""


def _fail(marker: Marker, depth: int) -> None:
    if depth:
        _fail(marker, depth - 1)
    secret_token = "zq-never-sent"  # noqa: F841  (a local the event masks)
    raise Failure(f"failed with {marker!r}")


def _capture(client: Client) -> tuple[str | None, weakref.ref[Any], weakref.ref[Any]]:
    marker = Marker()
    try:
        _fail(marker, 3)
    except Failure as exc:
        uid = client.capture_exception(exc)
        refs = weakref.ref(exc), weakref.ref(marker)
    return uid, *refs


@pytest.mark.parametrize("capture_locals", [False, True], ids=["no-locals", "locals"])
def test_nothing_is_held_once_the_capture_returns(
    server: RecordingServer, make_client: MakeClient, capture_locals: bool
) -> None:
    server.answer(200, delay=30)  # the first request hangs: what follows waits unbuilt
    client = make_client(server.url, rate_limit=False, capture_locals=capture_locals)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    was_enabled = gc.isenabled()
    gc.disable()  # collected by reference counting alone, as a host program may rely on
    try:
        uid, exc_ref, marker_ref = _capture(client)
        assert uid is not None
        assert client.stats()["pending"] == 1  # queued, not built: the sender is busy
        assert exc_ref() is None, "the exception (and its traceback) outlived the capture"
        assert marker_ref() is None, "a frame (and its locals) outlived the capture"
    finally:
        if was_enabled:
            gc.enable()
    server.release()
    assert client.flush(timeout=10)
    (event,) = [e for e in server.events if e["event"] == "$exception"]
    assert event["uuid"] == uid
    entry = event["properties"]["$exception_list"][0]
    assert entry["value"] == "failed with Marker()"
    frames = entry["stacktrace"]["frames"]
    assert [f["function"] for f in frames[-4:]] == ["_fail"] * 4
    assert frames[-1]["context_line"].strip() == 'raise Failure(f"failed with {marker!r}")'
    if capture_locals:
        assert frames[-1]["code_variables"]["marker"] == "Marker()"
        assert frames[-1]["code_variables"]["secret_token"] == "[Filtered]"
    else:
        assert "code_variables" not in frames[-1]


def test_variables_are_read_at_the_capture_not_when_built(
    server: RecordingServer, make_client: MakeClient
) -> None:
    server.answer(200, delay=30)
    client = make_client(server.url, rate_limit=False, capture_locals=True)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    state = {"step": "at the capture"}
    try:
        raise Failure("boom")
    except Failure:
        client.capture_exception()
    state["step"] = "changed afterwards"
    server.release()
    assert client.flush(timeout=10)
    (event,) = [e for e in server.events if e["event"] == "$exception"]
    variables = event["properties"]["$exception_list"][0]["stacktrace"]["frames"][-1][
        "code_variables"
    ]
    assert variables["state"] == "{'step': 'at the capture'}"


def test_events_keep_their_order_and_count_as_pending(
    server: RecordingServer, make_client: MakeClient
) -> None:
    server.answer(200, delay=30)
    client = make_client(server.url, rate_limit=False, batch_size=100)
    client.capture("in-flight", distinct_id="u")
    server.wait_for_arrivals(1)
    order = []
    for n in range(5):
        client.capture(f"before-{n}", distinct_id="u")
        try:
            raise Failure(f"error {n}")
        except Failure:
            client.capture_exception(distinct_id="u")
        order += [f"before-{n}", "$exception"]
    assert client.stats()["pending"] == 10
    server.release()
    assert client.flush(timeout=10)
    names = [e["event"] for e in server.events[1:]]
    assert names == order
    values = [
        e["properties"]["$exception_list"][0]["value"]
        for e in server.events
        if e["event"] == "$exception"
    ]
    assert values == [f"error {n}" for n in range(5)]


def test_an_event_too_large_once_built_is_dropped_and_counted(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, rate_limit=False)
    huge = {f"k{n}": "v" * 1000 for n in range(1500)}  # 1.5 MB of properties: nothing shrinks
    try:
        raise Failure("big")
    except Failure:
        uid = client.capture_exception(properties=huge)
    assert uid is not None  # queued unbuilt: its size is known only once built
    assert client.flush(timeout=10)
    assert client.stats()["dropped"]["too_large"] == 1
    assert not [e for e in server.events if e["event"] == "$exception"]


def test_sync_mode_and_before_send_build_on_the_calling_thread(
    server: RecordingServer, make_client: MakeClient
) -> None:
    seen: list[str] = []

    def before_send(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event["properties"]["$exception_list"][0]["value"])
        return event

    client = make_client(server.url, before_send=before_send)
    try:
        raise Failure("seen by before_send")
    except Failure:
        client.capture_exception()
    assert seen == ["seen by before_send"]  # before the call returned
    sync = make_client(server.url, sync_mode=True)
    try:
        raise Failure("sent before returning")
    except Failure:
        sync.capture_exception()
    values = [
        e["properties"]["$exception_list"][0]["value"]
        for e in server.events
        if e["event"] == "$exception"
    ]
    assert "sent before returning" in values  # at the server when the call returned


def _kinds_of_exceptions() -> list[BaseException]:
    """One of each shape the grouping key reads differently: a raised one, one whose
    cause was never raised (the key reads that message), one never raised at all."""
    raised: list[BaseException] = []
    try:
        _fail(Marker(), 2)
    except Failure as exc:
        raised.append(exc)
    try:
        raise Failure("wrapped") from Failure("cause 17 with password=hunter2")
    except Failure as exc:
        raised.append(exc)
    raised.append(Failure("never raised 42"))
    return raised


def test_the_grouping_key_left_to_the_build_is_the_one_the_rate_limit_reads(
    server: RecordingServer, make_client: MakeClient
) -> None:
    limited = make_client(server.url)  # the key is made on the calling thread
    unlimited = make_client(server.url, rate_limit=False)  # left to the build
    for client in (limited, unlimited):
        for exc in _kinds_of_exceptions():
            assert client.capture_exception(exc) is not None
        assert client.flush(timeout=10)
    events = server.wait_for_events(6)
    keys = [e["properties"]["$exception_fingerprint"] for e in events]
    assert keys[:3] == keys[3:]
    assert len(set(keys[:3])) == 3
    values = [[x["value"] for x in e["properties"]["$exception_list"]] for e in events]
    assert values[:3] == values[3:]
    assert "hunter2" not in str(values)
