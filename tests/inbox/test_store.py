"""EventStore: sqlite storage of received events."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthog_exceptions.inbox import EventStore


def _event(name: str = "e", distinct_id: str = "user-1", **extra: object) -> dict[str, object]:
    return {"event": name, "distinct_id": distinct_id, "properties": {"n": 1}, **extra}


@pytest.fixture
def store() -> Iterator[EventStore]:
    with EventStore(None) as event_store:
        yield event_store


def test_add_returns_count_and_events_have_all_fields(store: EventStore) -> None:
    added = store.add(
        [_event(uuid="u-1", timestamp="2026-01-02T03:04:05Z"), _event("other")], "phc_k"
    )
    assert added == 2
    first, second = store.events()
    assert first["id"] < second["id"]
    assert first["uuid"] == "u-1"
    assert first["event"] == "e"
    assert first["distinct_id"] == "user-1"
    assert first["timestamp"] == "2026-01-02T03:04:05Z"
    assert first["api_key"] == "phc_k"
    assert first["properties"] == {"n": 1}
    assert first["received_at"].endswith("Z")
    assert second["uuid"] is None
    assert second["timestamp"] is None


def test_add_empty_list_stores_nothing(store: EventStore) -> None:
    assert store.add([], "phc_k") == 0
    assert store.count() == 0


def test_limit_keeps_most_recent_oldest_first(store: EventStore) -> None:
    store.add([_event(f"e{i}") for i in range(5)], "k")
    assert [row["event"] for row in store.events(limit=2)] == ["e3", "e4"]
    assert [row["event"] for row in store.events()] == [f"e{i}" for i in range(5)]
    assert store.events(limit=0) == []


def test_filter_by_event_and_count(store: EventStore) -> None:
    store.add([_event("a"), _event("b"), _event("a"), _event("b"), _event("a")], "k")
    assert store.count() == 5
    assert store.count("a") == 3
    assert store.count("missing") == 0
    rows = store.events(event="a", limit=2)
    assert [row["event"] for row in rows] == ["a", "a"]
    assert rows[0]["id"] < rows[1]["id"]
    assert len(store.events(event="b")) == 2


def test_duplicate_uuids_are_all_kept(store: EventStore) -> None:
    store.add([_event(uuid="same")], "k")
    store.add([_event(uuid="same")], "k")
    assert store.count() == 2
    assert [row["uuid"] for row in store.events()] == ["same", "same"]


def test_distinct_id_from_properties_and_truncated(store: EventStore) -> None:
    store.add([{"event": "e", "properties": {"distinct_id": "from-props"}}], "k")
    store.add([_event(distinct_id="x" * 250)], "k")
    first, second = store.events()
    assert first["distinct_id"] == "from-props"
    assert second["distinct_id"] == "x" * 200


def test_invalid_event_rolls_back_whole_add(store: EventStore) -> None:
    with pytest.raises(ValueError, match="distinct_id"):
        store.add([_event(), {"event": "e", "properties": {}}], "k")
    with pytest.raises(ValueError, match="event"):
        store.add([_event(), {"distinct_id": "d"}], "k")
    assert store.count() == 0


def test_clear(store: EventStore) -> None:
    store.add([_event(), _event()], "k")
    store.clear()
    assert store.count() == 0
    assert store.events() == []


def test_events_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    with EventStore(path) as first:
        first.add([_event(uuid="keep-me")], "phc_k")
    with EventStore(str(path)) as second:
        assert [row["uuid"] for row in second.events()] == ["keep-me"]
        second.add([_event()], "phc_k")
        assert second.count() == 2


def test_file_store_uses_wal_and_keeps_raw_event(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    raw = _event(uuid="u", extra={"nested": [1, 2]})
    with EventStore(path) as store:
        store.add([raw], "k")
    connection = sqlite3.connect(path)
    try:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        (data,) = connection.execute("SELECT data FROM events").fetchone()
    finally:
        connection.close()
    assert mode == "wal"
    assert '"extra":{"nested":[1,2]}' in data


def test_closed_store_raises_and_close_is_idempotent() -> None:
    store = EventStore()
    assert not store.closed
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(RuntimeError, match="closed"):
        store.count()
    with pytest.raises(RuntimeError, match="closed"):
        store.add([_event()], "k")


def test_concurrent_adds_from_many_threads(store: EventStore) -> None:
    start = threading.Barrier(8)

    def writer() -> None:
        start.wait()
        for _ in range(25):
            store.add([_event(), _event()], "k")

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count() == 8 * 25 * 2
