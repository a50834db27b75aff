"""The in-memory transport users can test with."""

from __future__ import annotations

from posthog_exceptions import Client
from posthog_exceptions.testing import MemoryTransport


def test_memory_transport_keeps_events() -> None:
    transport = MemoryTransport()
    client = Client("phc_test", transport=transport, sync_mode=True)
    uid = client.capture("signed_up", distinct_id="u1")
    assert [e["uuid"] for e in transport.events] == [uid]
    assert transport.bodies[0]["api_key"] == "phc_test"


def test_memory_transport_can_fail_then_recover() -> None:
    transport = MemoryTransport()
    transport.fail_next(None)
    transport.fail_next(503)
    client = Client("phc_test", transport=transport)
    client.capture("x", distinct_id="u")
    assert client.flush(timeout=10)
    assert len(transport.events) == 1
    assert client.stats()["retried"] == 2
    client.shutdown()
