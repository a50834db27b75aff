"""Shared fixtures: a recording server, clients that are always shut down, an isolated
environment, and a guard that turns every error the library swallowed into a failure."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest

import posthog_exceptions
from posthog_exceptions import _default, _global
from posthog_exceptions._log import INTERNAL_ERROR_MARK, LOGGER_NAME

from .recording_server import RecordingServer

API_KEY = "phc_testkey"


class _InternalErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, INTERNAL_ERROR_MARK, False):
            self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_swallowed_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """An error the library swallowed to protect the host is a bug: fail the test."""
    handler = _InternalErrors()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.records and "allow_internal_errors" not in request.keywords:
        formatter = logging.Formatter()
        details = "\n".join(
            f"{r.getMessage()}\n{formatter.formatException(r.exc_info) if r.exc_info else ''}"
            for r in handler.records
        )
        pytest.fail(f"the library swallowed an internal error:\n{details}")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    names = ("POSTHOG_API_KEY", "POSTHOG_PROJECT_API_KEY", "POSTHOG_HOST", "POSTHOG_INBOX_DB")
    for var in (*names, "POSTHOG_RELEASE_ID"):
        monkeypatch.delenv(var, raising=False)
    yield
    client = _default.client
    _default.client = None
    _global._warned = False
    if client is not None:
        client.shutdown(timeout=2)


class _LogWaiter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.cond:
            self.messages.append(record.getMessage())
            self.cond.notify_all()


@pytest.fixture
def wait_for_log() -> Iterator[Callable[..., None]]:
    """Wait (with a deadline) until the library logs a message containing a text."""
    waiter = _LogWaiter()
    logger = logging.getLogger(LOGGER_NAME)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(waiter)

    def wait(text: str, timeout: float = 10.0) -> None:
        with waiter.cond:
            found = waiter.cond.wait_for(lambda: any(text in m for m in waiter.messages), timeout)
        assert found, f"no log message containing {text!r} within {timeout} s: {waiter.messages}"

    yield wait
    logger.removeHandler(waiter)
    logger.setLevel(previous)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as recording:
        yield recording
    assert recording.wire_problems == [], "the client sent events that break the wire format"


@pytest.fixture
def make_client() -> Iterator[Callable[..., posthog_exceptions.Client]]:
    """Build clients with the test key; every one is shut down after the test."""
    clients: list[posthog_exceptions.Client] = []

    def make(host: str, **options: Any) -> posthog_exceptions.Client:
        options.setdefault("api_key", API_KEY)
        client = posthog_exceptions.Client(host=host, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=2)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_internal_errors: the test provokes an error the library must swallow"
    )
