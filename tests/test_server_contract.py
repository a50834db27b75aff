"""PostHog's contract for server SDKs, on the wire: geoip, release id, runtime, grouping."""

from __future__ import annotations

import platform
import sys
from typing import Any, Callable

import pytest

from posthog_exceptions import Client

from .recording_server import RecordingServer

MakeClient = Callable[..., Client]


def _raise_and_capture(client: Client, **kwargs: Any) -> None:
    try:
        raise ValueError("card declined")
    except ValueError:
        client.capture_exception(**kwargs)


def _delivered(client: Client, server: RecordingServer) -> list[dict[str, Any]]:
    assert client.flush(10)
    return server.events


def test_every_event_says_where_it_runs_and_asks_not_to_be_geolocated(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    client.capture("signed_up", distinct_id="u")
    client.identify("u", {"plan": "pro"})
    _raise_and_capture(client)
    events = _delivered(client, server)
    assert [e["event"] for e in events] == ["signed_up", "$identify", "$exception"]
    for event in events:
        props = event["properties"]
        assert props["$geoip_disable"] is True
        assert props["$python_runtime"] == platform.python_implementation()
        assert props["$python_version"] == ".".join(map(str, sys.version_info[:3]))
        assert props["$os"] == ("Linux" if sys.platform.startswith("linux") else props["$os"])
        assert isinstance(props["$os_version"], str)
        assert "$release_id" not in props


def test_geolocation_can_be_allowed_and_explicit_properties_win(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, disable_geoip=False)
    client.capture("a", distinct_id="u")
    client.capture("b", distinct_id="u", properties={"$geoip_disable": True, "$os": "mine"})
    first, second = _delivered(client, server)
    assert "$geoip_disable" not in first["properties"]
    assert second["properties"]["$geoip_disable"] is True
    assert second["properties"]["$os"] == "mine"


@pytest.mark.parametrize(
    ("environ", "option", "expected"),
    [
        ("rel-from-env", None, "rel-from-env"),
        ("  rel-padded  ", None, "rel-padded"),
        ("rel-from-env", "rel-from-option", "rel-from-option"),
        ("", None, None),
        ("   ", None, None),
        ("rel-from-env", "", None),  # an explicit blank turns it off
    ],
)
def test_release_id_comes_from_posthog_release_id_or_the_option(
    server: RecordingServer,
    make_client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
    environ: str,
    option: str | None,
    expected: str | None,
) -> None:
    monkeypatch.setenv("POSTHOG_RELEASE_ID", environ)
    options = {} if option is None else {"release_id": option}
    client = make_client(server.url, release="1.2.3", **options)
    _raise_and_capture(client)
    client.capture("deployed", distinct_id="u", properties={"x": 1})
    for event in _delivered(client, server):
        assert event["properties"].get("$release_id") == expected
        assert event["properties"]["release"] == "1.2.3"  # the plain property stays


def test_an_explicit_release_id_property_wins(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, release_id="from-option")
    client.capture("e", distinct_id="u", properties={"$release_id": "from-call"})
    (event,) = _delivered(client, server)
    assert event["properties"]["$release_id"] == "from-call"


def test_bad_new_options_raise_naming_the_option() -> None:
    with pytest.raises(ValueError, match="grouping"):
        Client("phc_k", grouping="server")
    with pytest.raises(TypeError, match="disable_geoip"):
        Client("phc_k", disable_geoip="no")
    with pytest.raises(TypeError, match="release_id"):
        Client("phc_k", release_id=42)
    with pytest.raises(TypeError, match="capture_tracing_headers"):
        Client("phc_k", capture_tracing_headers=None)


def test_grouping_by_posthog_sends_no_fingerprint_unless_one_is_asked_for(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, grouping="posthog", rate_limit_burst=2)
    for _ in range(3):
        _raise_and_capture(client)  # one group, by the local key: the third is rate-limited
    _raise_and_capture(client, fingerprint="checkout-declines")
    events = _delivered(client, server)
    assert len(events) == 3
    assert client.stats()["dropped"]["rate_limited"] == 1
    assert all("$exception_fingerprint" not in e["properties"] for e in events[:2])
    local = {e["properties"]["$exception_client_fingerprint"] for e in events[:2]}
    assert len(local) == 1 and len(local.pop()) == 32  # the key, for reading (and the inbox)
    asked = events[2]["properties"]["$exception_fingerprint"]
    assert isinstance(asked, str) and len(asked) == 32
    assert "$exception_client_fingerprint" not in events[2]["properties"]


def test_grouping_by_the_client_sends_the_md5_fingerprint(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    _raise_and_capture(client)
    _raise_and_capture(client)
    first, second = _delivered(client, server)
    fingerprint = first["properties"]["$exception_fingerprint"]
    assert len(fingerprint) == 32 and fingerprint == second["properties"]["$exception_fingerprint"]


def test_issue_name_and_description_name_a_new_issue(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    _raise_and_capture(
        client, issue_name="Card declined at checkout", issue_description="Stripe said no"
    )
    _raise_and_capture(client)
    named, plain = _delivered(client, server)
    assert named["properties"]["$issue_name"] == "Card declined at checkout"
    assert named["properties"]["$issue_description"] == "Stripe said no"
    assert "$issue_name" not in plain["properties"]


def test_a_manual_capture_names_no_source_and_says_it_was_not_synthetic(
    server: RecordingServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    _raise_and_capture(client)
    client.capture_exception(RuntimeError("never raised"))
    raised, synthesised = _delivered(client, server)
    assert "$exception_source" not in raised["properties"]
    mechanism = raised["properties"]["$exception_list"][0]["mechanism"]
    assert mechanism == {"type": "generic", "handled": True, "synthetic": False, "exception_id": 0}
    assert synthesised["properties"]["$exception_list"][0]["mechanism"]["synthetic"] is True
