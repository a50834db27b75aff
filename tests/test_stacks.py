"""A stack seen before is read from what was remembered of it (``_capture/stacks.py``): the
events are the same as a first sighting's, the variables are each capture's own, and a
function that may hide its frame from its locals is asked every time."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from posthog_exceptions import Client

from .recording_server import RecordingServer

MakeClient = Callable[..., Client]


def _dive(depth: int, label: int) -> None:
    here = f"label {label} depth {depth}"  # noqa: F841  (a variable the event shows)
    if depth:
        _dive(depth - 1, label)
    raise ValueError(f"failed {label}")


def _raised(label: int, depth: int = 14) -> ValueError:
    try:
        _dive(depth, label)
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def _again(label: int) -> ValueError:
    """One frame twice in the traceback (caught and raised again where it was raised)."""
    try:
        try:
            _dive(2, label)
        except ValueError as first:
            raise first
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


hide_next = False


def _maybe_hidden(label: int) -> None:
    __tracebackhide__ = hide_next
    _dive(1, label)


def _through_maybe_hidden(label: int) -> ValueError:
    try:
        _maybe_hidden(label)
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def _sent(server: RecordingServer, client: Client, excs: list[BaseException]) -> list[Any]:
    """The events of ``excs``, captured and delivered (after those the server had)."""
    before = len(server.events)
    for exc in excs:
        assert client.capture_exception(exc) is not None
    assert client.flush(10)
    events = server.events[before:]
    assert [e["event"] for e in events] == ["$exception"] * len(excs)
    return events


def _shape(event: dict[str, Any]) -> list[Any]:
    """What the stack cache could get wrong: every frame of every exception, and the key."""
    props = event["properties"]
    return [props["$exception_fingerprint"]] + [
        [(f["function"], f["lineno"], f.get("colno"), f["in_app"]) for f in _frames(entry)]
        for entry in props["$exception_list"]
    ]


def _frames(entry: dict[str, Any]) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = entry["stacktrace"]["frames"]
    return frames


@pytest.mark.parametrize("capture_locals", [False, True], ids=["no-locals", "locals"])
@pytest.mark.parametrize("max_frames", [250, 10], ids=["whole", "trimmed"])
def test_a_stack_seen_again_is_sent_as_when_first_seen(
    server: RecordingServer, make_client: MakeClient, capture_locals: bool, max_frames: int
) -> None:
    client = make_client(
        server.url, rate_limit=False, capture_locals=capture_locals, max_frames=max_frames
    )
    first, second, third = _sent(server, client, [_raised(1), _raised(2), _again(3)])
    assert _shape(first) == _shape(second)
    fresh = make_client(server.url, rate_limit=False, capture_locals=capture_locals,
                        max_frames=max_frames)  # fmt: skip
    (again,) = _sent(server, fresh, [_again(4)])
    assert _shape(again) == _shape(third)  # remembered (third) or not (fresh): the same
    frames = third["properties"]["$exception_list"][0]["stacktrace"]["frames"]
    assert [f["function"].rpartition(".")[2] for f in frames][:2] == ["_again", "_again"]
    assert frames[0]["lineno"] != frames[1]["lineno"]  # one frame, two entries, two lines
    if capture_locals:
        crash = first["properties"]["$exception_list"][0]["stacktrace"]["frames"][-1]
        crash_again = second["properties"]["$exception_list"][0]["stacktrace"]["frames"][-1]
        assert crash["code_variables"]["here"] == "label 1 depth 0"
        assert crash_again["code_variables"]["here"] == "label 2 depth 0"  # its own frame


def test_a_frame_that_may_hide_itself_is_asked_every_time(
    server: RecordingServer, make_client: MakeClient
) -> None:
    global hide_next
    client = make_client(server.url, rate_limit=False)
    names = []
    for hide in (False, True, False):
        hide_next = hide
        (event,) = _sent(server, client, [_through_maybe_hidden(0)])
        frames = event["properties"]["$exception_list"][0]["stacktrace"]["frames"]
        names.append("_maybe_hidden" in [f["function"].rpartition(".")[2] for f in frames])
    hide_next = False
    assert names == [True, False, True]


def test_an_edit_of_one_event_leaves_the_next_of_its_stack_alone(
    server: RecordingServer, make_client: MakeClient
) -> None:
    edits = iter([True, False])

    def edit_first(event: dict[str, Any]) -> dict[str, Any]:
        if next(edits):  # the first event's frames are emptied and added to
            frames = _frames(event["properties"]["$exception_list"][0])
            for frame in frames:
                frame.pop("context_line", None)
                frame["lineno"] = 1
            frames.append({**frames[-1], "function": "added"})
        return event

    plain = make_client(server.url, rate_limit=False, max_frames=10)
    (expected,) = _sent(server, plain, [_raised(1)])
    edited = make_client(server.url, rate_limit=False, max_frames=10, before_send=edit_first)
    first, second = _sent(server, edited, [_raised(2), _raised(3)])
    assert _frames(first["properties"]["$exception_list"][0])[-1]["function"] == "added"
    assert _shape(second) == _shape(expected)
    frames = _frames(second["properties"]["$exception_list"][0])
    assert frames == _frames(expected["properties"]["$exception_list"][0])
    assert all("context_line" in f for f in frames if not f.get("synthetic"))
