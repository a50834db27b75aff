"""posthog-python (the real SDK from PyPI) against a real inbox on 127.0.0.1.

It must deliver every event and log nothing at WARNING or above: no lost events, no
"flags request failed" per flag call, no traceback for ``send_feature_flags``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posthog_exceptions.inbox import Inbox

if sys.version_info < (3, 10):
    pytest.skip(
        "posthog 7.91.1 needs Python 3.10+; the dev extras install it only there",
        allow_module_level=True,
    )

from posthog import Posthog

from .test_server import KEY


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def complaints(self) -> list[str]:
        return [
            f"{record.levelname}: {record.getMessage()}"
            for record in self.records
            if record.levelno >= logging.WARNING
        ]


@pytest.fixture
def sdk_log() -> Iterator[_Records]:
    logger = logging.getLogger("posthog")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(db=tmp_path / "inbox.sqlite3") as running:
        yield running


def _client(inbox: Inbox, **options: Any) -> Posthog:
    return Posthog(KEY, host=inbox.url, max_retries=0, **options)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_default_mode_delivers_to_batch(inbox: Inbox, sdk_log: _Records, gzip: bool) -> None:
    client = _client(inbox, gzip=gzip)
    try:
        client.capture("signed_up", distinct_id="user-1", properties={"plan": "pro"})
        client.capture("file_read", distinct_id="user-1", properties={"name": "caf\udce9.txt"})
        client.flush()
        rows = inbox.wait_for(2)
    finally:
        client.shutdown()
    assert [row["event"] for row in rows] == ["signed_up", "file_read"]
    assert rows[1]["properties"]["name"] == "caf\ufffd.txt"
    assert all(row["properties"]["$lib"] == "posthog-python" for row in rows)
    batches = [r for r in inbox.requests if r.path.startswith("/batch")]
    assert batches and {r.status for r in batches} == {200}
    assert all((r.headers.get("content-encoding") == "gzip") is gzip for r in batches)
    assert sdk_log.complaints() == []


@pytest.mark.parametrize("compression", [None, "gzip", "deflate"])
def test_capture_mode_v1_delivers(inbox: Inbox, sdk_log: _Records, compression: str | None) -> None:
    client = _client(inbox, capture_mode="v1", capture_compression=compression)
    try:
        client.capture(
            "$pageview",
            distinct_id="user-2",
            properties={"$session_id": "s-1", "$current_url": "http://localhost/"},
        )
        client.capture("signed_up", distinct_id="user-2")
        client.flush()
        rows = inbox.wait_for(2)
    finally:
        client.shutdown()
    assert [row["event"] for row in rows] == ["$pageview", "signed_up"]
    assert rows[0]["properties"]["$session_id"] == "s-1"
    assert rows[0]["properties"]["$lib"] == "posthog-python"
    assert all(row["uuid"] and row["api_key"] == KEY for row in rows)
    v1 = [r for r in inbox.requests if r.path == "/i/v1/analytics/events"]
    assert v1 and {r.status for r in v1} == {200}
    assert sdk_log.complaints() == []


def test_feature_flag_calls_get_no_flags_quietly(inbox: Inbox, sdk_log: _Records) -> None:
    client = _client(inbox)
    try:
        with warnings.catch_warnings():
            # These calls are deprecated in 7.x (posthog.evaluate_flags replaces them);
            # the DeprecationWarning is the SDK's own, not the inbox's.
            warnings.simplefilter("ignore", DeprecationWarning)
            assert client.get_feature_flag("new-checkout", "user-3") is None
            assert not client.feature_enabled("new-checkout", "user-3")
            assert client.get_all_flags("user-3") == {}
            client.capture("checked_out", distinct_id="user-3", send_feature_flags=True)
        assert not client.evaluate_flags("user-3").is_enabled("new-checkout")
        client.flush()
        [row] = inbox.wait_for(1, event="checked_out")
    finally:
        client.shutdown()
    assert row["distinct_id"] == "user-3"
    flag_requests = [r for r in inbox.requests if r.path.startswith("/flags")]
    assert flag_requests and {r.status for r in flag_requests} == {200}
    assert sdk_log.complaints() == []
