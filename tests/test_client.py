"""Events as PostHog's capture tutorial describes them, checked on a real local server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from decimal import Decimal
from typing import Any, Callable

import pytest

import posthog_exceptions
from posthog_exceptions import Client

from .conftest import API_KEY
from .recording_server import RecordingServer

MakeClient = Callable[..., Client]


def _one_event(server: RecordingServer, client: Client) -> dict[str, Any]:
    assert client.flush(timeout=10)
    (event,) = server.wait_for_events(1)
    return event


def test_capture_sends_a_complete_event(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url)
    event_uuid = client.capture("signed_up", distinct_id="user-42", properties={"plan": "pro"})
    event = _one_event(server, client)
    assert event["uuid"] == event_uuid
    assert uuid.UUID(event_uuid).version == 7
    assert event["event"] == "signed_up"
    assert event["distinct_id"] == "user-42"
    props = event["properties"]
    assert props["plan"] == "pro"
    assert props["$lib"] == "posthog-exceptions"
    assert props["$lib_version"] == posthog_exceptions.__version__
    assert "$process_person_profile" not in props
    sent = dt.datetime.fromisoformat(event["timestamp"])
    assert sent.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.timezone.utc) - sent) < dt.timedelta(minutes=1)
    assert server.requests[0].payload["api_key"] == API_KEY


def test_event_without_distinct_id_is_anonymous(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    client.capture("page_viewed")
    client.capture("page_viewed")
    assert client.flush(timeout=10)
    first, second = server.wait_for_events(2)
    assert first["properties"]["$process_person_profile"] is False
    assert first["distinct_id"] and second["distinct_id"]
    assert first["distinct_id"] != second["distinct_id"]


def test_a_distinct_id_over_200_characters_is_cut_with_a_warning(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server.url)
    long_id = "user-" + "x" * 300
    with caplog.at_level(logging.WARNING, logger="posthog_exceptions"):
        client.capture("x", distinct_id=long_id)
        client.capture_exception(ValueError("boom"), distinct_id=long_id)
    assert client.flush(timeout=10)
    events = server.wait_for_events(2)
    assert [e["distinct_id"] for e in events] == [long_id[:200]] * 2
    assert any("305 characters long" in r.getMessage() for r in caplog.records)


def test_default_distinct_id_string_and_callable(
    server: RecordingServer, make_client: MakeClient
) -> None:
    users = iter(["from-callable", None])
    make_client(server.url, distinct_id="fixed").capture("a")
    by_callable = make_client(server.url, distinct_id=lambda: next(users))
    by_callable.capture("b")
    by_callable.capture("c")  # the callable returns None: anonymous
    events = {e["event"]: e for e in server.wait_for_events(3)}
    assert events["a"]["distinct_id"] == "fixed"
    assert events["b"]["distinct_id"] == "from-callable"
    assert events["c"]["properties"]["$process_person_profile"] is False


def test_super_properties_release_environment(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(
        server.url,
        properties={"team": "core", "tier": "free"},
        release="1.2.3",
        environment="staging",
    )
    client.capture("x", distinct_id="u", properties={"tier": "pro", "$lib": "posthog-python"})
    props = _one_event(server, client)["properties"]
    assert props["team"] == "core"
    assert props["tier"] == "pro"  # the call's properties win over super properties
    assert props["release"] == "1.2.3"
    assert props["environment"] == "staging"
    assert props["$lib"] == "posthog-exceptions"  # never overridden: the server keys on it


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (dt.datetime(2026, 1, 2, 3, 4, 5, 678900), "2026-01-02T03:04:05.678900+00:00"),
        (
            dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-01-02T01:04:05.000000+00:00",
        ),
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000000+00:00"),
        ("2026-01-02T03:04:05.1234567+01:00", "2026-01-02T02:04:05.123456+00:00"),
        ("2026-01-02T03:04:05.12", "2026-01-02T03:04:05.120000+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02T00:00:00.000000+00:00"),
        (0, "1970-01-01T00:00:00.000000+00:00"),
    ],
)
def test_timestamps_are_normalised_to_utc(
    server: RecordingServer, make_client: MakeClient, given: Any, expected: str
) -> None:
    client = make_client(server.url)
    client.capture("x", distinct_id="u", timestamp=given)
    assert _one_event(server, client)["timestamp"] == expected


def test_unreadable_timestamp_and_uuid_are_replaced(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server.url)
    with caplog.at_level(logging.WARNING, logger="posthog_exceptions"):
        returned = client.capture("x", distinct_id="u", timestamp="yesterday", uuid="nope")
    event = _one_event(server, client)
    assert returned == event["uuid"]
    assert uuid.UUID(event["uuid"])
    assert dt.datetime.fromisoformat(event["timestamp"]).year >= 2026
    assert "timestamp 'yesterday'" in caplog.text
    assert "uuid 'nope'" in caplog.text


def test_given_uuid_is_kept(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url)
    given = uuid.uuid4()
    assert client.capture("x", distinct_id="u", uuid=given) == str(given)
    assert _one_event(server, client)["uuid"] == str(given)


def test_identify_sets_person_properties(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url)
    client.identify("user-42", {"email": "a@example.com"}, set_once={"first_seen": "today"})
    event = _one_event(server, client)
    assert event["event"] == "$identify"
    assert event["distinct_id"] == "user-42"
    assert event["properties"]["$set"] == {"email": "a@example.com"}
    assert event["properties"]["$set_once"] == {"first_seen": "today"}


def test_alias_follows_the_tutorial(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url)
    client.alias("anon-1", "user-42")
    event = _one_event(server, client)
    assert event["event"] == "$create_alias"
    assert event["distinct_id"] == "anon-1"
    assert event["properties"]["distinct_id"] == "anon-1"
    assert event["properties"]["alias"] == "user-42"


@pytest.mark.parametrize("name", ["$ai_generation", "$ai_span", "$ai_trace", "$ai_embedding"])
def test_llm_analytics_events_pass_through_unchanged(
    server: RecordingServer, make_client: MakeClient, name: str
) -> None:
    client = make_client(server.url)
    props = {"$ai_model": "gpt-x", "$ai_input_tokens": 12, "$ai_trace_id": "t1", "$ai_latency": 0.5}
    client.capture(name, distinct_id="u", properties=props)
    event = _one_event(server, client)
    assert event["event"] == name
    assert {k: event["properties"][k] for k in props} == props


def test_hostile_property_values_become_valid_json(
    server: RecordingServer, make_client: MakeClient
) -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    loop: list[Any] = []
    loop.append(loop)
    client = make_client(server.url)
    client.capture(
        "x",
        distinct_id="u",
        properties={
            "nan": math.nan,
            "inf": -math.inf,
            "big": 2**80,
            "bytes": b"\xff\xfeok",
            "when": dt.datetime(2026, 1, 1),
            "money": Decimal("1.10"),
            "set": {1},
            "surrogate": "a\udc80b",
            "loop": loop,
            "hostile": Hostile(),
            "tuple_keys": {(1, 2): "x"},
        },
    )
    props = _one_event(server, client)["properties"]
    assert props["nan"] == "nan"
    assert props["inf"] == "-inf"
    assert props["big"] == str(2**80)
    assert props["bytes"] == "\ufffd\ufffdok"
    assert props["when"] == "2026-01-01T00:00:00"
    assert props["money"] == "1.10"
    assert props["set"] == [1]
    assert props["surrogate"] == "a?b"
    assert props["loop"] == ["<cycle>"]
    assert "repr failed" in props["hostile"]
    assert props["tuple_keys"] == {"(1, 2)": "x"}


def test_properties_are_snapshotted_at_capture(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    props = {"step": 1}
    client.capture("x", distinct_id="u", properties=props)
    props["step"] = 2
    assert _one_event(server, client)["properties"]["step"] == 1


def test_before_send_edits_and_drops(server: RecordingServer, make_client: MakeClient) -> None:
    def scrub(event: dict[str, Any]) -> dict[str, Any] | None:
        if event["event"] == "secret":
            return None
        event["properties"]["email"] = "[redacted]"
        return event

    client = make_client(server.url, before_send=scrub)
    assert client.capture("secret", distinct_id="u") is None
    client.capture("kept", distinct_id="u", properties={"email": "a@example.com"})
    event = _one_event(server, client)
    assert event["event"] == "kept"
    assert event["properties"]["email"] == "[redacted]"
    assert client.stats()["dropped"]["before_send"] == 1


def test_before_send_that_raises_drops_the_event(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("oops")

    client = make_client(server.url, before_send=broken)
    with caplog.at_level(logging.WARNING, logger="posthog_exceptions"):
        assert client.capture("x", distinct_id="u") is None
    assert client.stats()["dropped"]["before_send_error"] == 1
    assert "before_send raised" in caplog.text


@pytest.mark.parametrize("bad", [None, "", 42])
def test_bad_event_name_is_dropped_not_raised(
    server: RecordingServer, make_client: MakeClient, bad: Any
) -> None:
    client = make_client(server.url)
    assert client.capture(bad) is None
    assert client.stats()["dropped"]["invalid"] == 1
    assert client.stats()["queued"] == 0


def test_bad_identify_and_alias_calls_are_dropped(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    assert client.identify("") is None
    assert client.alias(None, "x") is None
    assert client.stats()["dropped"]["invalid"] == 2


def test_disabled_client_sends_nothing(server: RecordingServer, make_client: MakeClient) -> None:
    client = make_client(server.url, disabled=True)
    assert client.capture("x", distinct_id="u") is None
    assert client.identify("u", {"a": 1}) is None
    assert client.flush(timeout=1)
    assert client.stats()["queued"] == 0
    assert server.requests == []


def test_oversize_event_is_dropped_and_counted(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    assert client.capture("big", distinct_id="u", properties={"blob": "x" * 1_000_000}) is None
    client.capture("small", distinct_id="u")
    assert _one_event(server, client)["event"] == "small"
    assert client.stats()["dropped"]["too_large"] == 1


def test_module_functions_use_the_default_client(server: RecordingServer) -> None:
    assert posthog_exceptions.capture("before-init") is None
    client = posthog_exceptions.init(API_KEY, host=server.url)
    assert posthog_exceptions.get_client() is client
    posthog_exceptions.capture("c", distinct_id="u")
    posthog_exceptions.identify("u", {"a": 1})
    posthog_exceptions.alias("u", "v")
    assert posthog_exceptions.flush(timeout=10)
    names = [e["event"] for e in server.wait_for_events(3)]
    assert names == ["c", "$identify", "$create_alias"]
    stats = posthog_exceptions.stats()
    assert stats is not None
    assert stats["sent"] == 3
    assert posthog_exceptions.shutdown(timeout=5)
    assert posthog_exceptions.get_client() is None


def test_wire_body_is_a_batch_with_sent_at(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    client.capture("x", distinct_id="u")
    assert client.flush(timeout=10)
    (request,) = server.wait_for_requests(1)
    assert request.path == "/batch/"
    assert set(request.payload) == {"api_key", "batch", "sent_at"}
    assert dt.datetime.fromisoformat(request.payload["sent_at"]).utcoffset() == dt.timedelta(0)
    json.dumps(request.payload, allow_nan=False)


def test_a_huge_property_costs_about_its_bound_and_is_cut_visibly(
    server: RecordingServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    from posthog_exceptions._serialize import MAX_ITEMS

    pulled = []

    class Counted(list):  # type: ignore[type-arg]
        """A list that counts the items taken from it."""

        def __iter__(self) -> Any:
            for item in list.__iter__(self):
                pulled.append(1)
                yield item

    client = make_client(server.url)
    huge = Counted(range(5_000_000))
    nested = {"rows": [[i] * 20 for i in range(10_000)]}  # 210,000 values in all
    client.capture("big", distinct_id="u", properties={"ids": huge, "small": [1, 2]})
    client.capture("nested", distinct_id="u", properties=nested)
    assert client.flush(timeout=10)
    assert len(pulled) == MAX_ITEMS  # (all five million were copied before)
    big, deep = (e["properties"] for e in server.events)
    assert big["ids"][:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert big["ids"][MAX_ITEMS:] == [f"<{5_000_000 - MAX_ITEMS} more items cut>"]
    assert big["small"] == [1, 2]  # the bound is per container...
    rows = deep["rows"]  # ...and on the values of one property in all
    assert rows[0] == [0] * 20
    assert rows[-1] == ["<20 more items cut>"]
    assert "were cut" in caplog.text
