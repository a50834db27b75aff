"""One CaptureKind per entry point: what each says on the wire comes from its kind alone."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from posthog_exceptions import Client, capture_exceptions, capture_logging, uncapture_logging
from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._capture.kinds import CaptureKind
from posthog_exceptions.integrations.asyncio import AsyncioHandler
from posthog_exceptions.testing import MemoryTransport


@pytest.fixture
def memory() -> Iterator[tuple[Client, MemoryTransport]]:
    transport = MemoryTransport()
    client = Client("phc_test", transport=transport, sync_mode=True, rate_limit=False)
    yield client, transport
    client.shutdown(timeout=2)


def _manual(client: Client) -> None:
    try:
        raise ValueError("manual")
    except ValueError:
        client.capture_exception()


def _decorated(client: Client, reraise: bool) -> None:
    @capture_exceptions(client=client, reraise=reraise)
    def job() -> None:
        raise ValueError("decorated")

    try:
        job()
    except ValueError:
        pass


def _logged(client: Client) -> None:
    logger = logging.getLogger("tests.kinds")
    handler = capture_logging(logger=logger, client=client)
    try:
        try:
            raise ValueError("logged")
        except ValueError:
            logger.exception("it failed")
    finally:
        uncapture_logging(logger)
    assert handler is not None


def _in_thread(client: Client) -> None:
    from posthog_exceptions.integrations import hooks as _hooks

    previous = threading.excepthook
    _hooks.install(client)
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="kinds-test")
        thread.start()
        thread.join(10)
    finally:
        _hooks.uninstall(client)
    assert threading.excepthook is previous


def _unraisable(client: Client) -> None:
    from posthog_exceptions.integrations import hooks as _hooks

    class Leaky:
        def __del__(self) -> None:
            raise ValueError("in __del__")

    _hooks.install(client)
    try:
        leaky = Leaky()
        del leaky
    finally:
        _hooks.uninstall(client)


def _asyncio(client: Client) -> None:
    loop = asyncio.new_event_loop()
    try:
        handler = AsyncioHandler(lambda loop, context: None, client)
        handler(loop, {"message": "Task exception was never retrieved", "exception": OSError()})
    finally:
        loop.close()


ENTRY_POINTS: dict[str, tuple[Callable[[Client], None], CaptureKind]] = {
    "capture_exception": (_manual, _kinds.MANUAL),
    "decorator": (lambda c: _decorated(c, True), _kinds.DECORATOR),
    "decorator, reraise=False": (lambda c: _decorated(c, False), _kinds.DECORATOR_SWALLOWED),
    "logging": (_logged, _kinds.LOGGING),
    "threading.excepthook": (_in_thread, _kinds.THREADING),
    "sys.unraisablehook": (_unraisable, _kinds.UNRAISABLE),
    "asyncio": (_asyncio, _kinds.ASYNCIO),
}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_each_entry_point_sends_what_its_kind_says(
    entry: str, memory: tuple[Client, MemoryTransport]
) -> None:
    client, transport = memory
    trigger, kind = ENTRY_POINTS[entry]
    trigger(client)
    (event,) = transport.events
    props: dict[str, Any] = event["properties"]
    mechanism = props["$exception_list"][0]["mechanism"]
    assert mechanism["type"] == kind.mechanism
    assert mechanism.get("handled") == kind.handled
    assert ("handled" in mechanism) == (kind.handled is not None)
    assert props["$exception_level"] == kind.level
    assert props.get("$exception_source") == kind.source
    assert mechanism["synthetic"] is (entry == "asyncio")  # the one never raised


def test_kinds_are_distinct_per_entry_point() -> None:
    kinds = [value for value in vars(_kinds).values() if isinstance(value, CaptureKind)]
    assert len(kinds) >= 12
    assert len({(k.mechanism, k.handled, k.source) for k in kinds}) == len(kinds)
    # the contract's spelling, <technology>.<hook>; a manual capture sends no source
    assert [k for k in kinds if k.source is None] == [_kinds.MANUAL]
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", k.source) for k in kinds if k.source)
    assert [k for k in kinds if not k.automatic] == [_kinds.MANUAL]
    categories = {"generic", "logger", "middleware", "task", "onuncaughtexception"}
    categories |= {"onunhandledrejection", "decorator", "unraisablehook"}
    assert {k.mechanism for k in kinds} <= categories


def test_a_kind_is_immutable_and_checks_its_level() -> None:
    with pytest.raises(AttributeError):
        _kinds.MANUAL.level = "fatal"
    with pytest.raises(ValueError, match="level"):
        CaptureKind("x", handled=True, level="loud", source="python.x", automatic=True)


def test_the_call_level_overrides_the_kind_and_flow_control_follows_automatic(
    memory: tuple[Client, MemoryTransport],
) -> None:
    client, transport = memory
    client._capture(_kinds.THREADING, ValueError("x"), level="warning")
    assert transport.events[-1]["properties"]["$exception_level"] == "warning"
    assert client._capture(_kinds.THREADING, KeyboardInterrupt()) is None  # automatic
    assert client._capture(_kinds.MANUAL, KeyboardInterrupt()) is not None  # asked for
    assert len(transport.events) == 2
    assert sys.exc_info() == (None, None, None)
