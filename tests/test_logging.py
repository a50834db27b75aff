"""The logging integration: log records with an exception (and, optionally, error messages)
become ``$exception`` events, without loops, duplicates or errors of its own."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import posthog_exceptions
from posthog_exceptions import LoggingHandler, capture_logging, uncapture_logging
from posthog_exceptions._delivery.transport import TransportResponse
from posthog_exceptions.testing import MemoryTransport

from .exc_helpers import Captured, exceptions, frames


@pytest.fixture
def captured() -> Captured:
    return Captured()


@pytest.fixture
def log(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logger of the test's own that does not propagate (nothing else sees its records)."""
    logger = logging.getLogger(f"tests.logging.{request.node.name}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    uncapture_logging(logger)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


@pytest.fixture
def root_capture() -> Iterator[None]:
    """Whatever a test attaches to the root logger is taken off again."""
    yield
    uncapture_logging()


def charge(amount: int) -> None:
    raise ValueError(f"card declined for {amount}")


# ------------------------------------------------------------------ records with exceptions


def test_record_with_exc_info_is_sent(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logger=log, client=captured.client)
    try:
        charge(42)
    except ValueError:
        log.exception("charging order %s failed", "o-17")
    event = captured.only()
    props = event["properties"]
    assert props["$exception_source"] == "python.logging"
    assert props["$exception_level"] == "error"
    assert props["$logger_name"] == log.name
    assert props["$log_message"] == "charging order o-17 failed"
    assert props["$log_level"] == "ERROR"
    assert props["$log_location"].startswith(f"{__file__}:")
    assert props["$log_location"].endswith(" in test_record_with_exc_info_is_sent")
    (entry,) = exceptions(event)
    assert entry["type"] == "ValueError"
    assert entry["value"] == "card declined for 42"
    assert entry["mechanism"] == {
        "type": "logger",
        "handled": True,
        "synthetic": False,
        "exception_id": 0,
    }
    assert [f["function"] for f in frames(entry)][-2:] == [
        "test_record_with_exc_info_is_sent",
        "charge",
    ]


@pytest.mark.parametrize(
    ("levelno", "expected"),
    [
        (logging.CRITICAL, "fatal"),
        (logging.ERROR, "error"),
        (45, "error"),
        (logging.WARNING, "warning"),
        (logging.INFO, "info"),
        (logging.DEBUG, "debug"),
        (5, "debug"),
    ],
)
def test_levels_are_mapped(
    captured: Captured, log: logging.Logger, levelno: int, expected: str
) -> None:
    log.setLevel(1)
    capture_logging(1, logger=log, client=captured.client)
    try:
        charge(1)
    except ValueError:
        log.log(levelno, "something happened", exc_info=True)
    props = captured.only()["properties"]
    assert props["$exception_level"] == expected
    assert props["$log_level"] == logging.getLevelName(levelno)


def test_notset_level_maps_to_debug(captured: Captured) -> None:
    handler = LoggingHandler(logging.NOTSET, client=captured.client)
    try:
        charge(0)
    except ValueError:
        record = logging.LogRecord("made.by.hand", logging.NOTSET, __file__, 1, "m", (), None)
        record.exc_info = sys.exc_info()
    handler.handle(record)
    assert captured.only()["properties"]["$exception_level"] == "debug"


def test_records_below_the_handler_level_are_not_sent(
    captured: Captured, log: logging.Logger
) -> None:
    capture_logging(logger=log, client=captured.client)  # ERROR by default
    try:
        charge(3)
    except ValueError:
        log.warning("retrying", exc_info=True)
    assert captured.events == []


def test_flow_control_exceptions_are_not_sent(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logger=log, client=captured.client)
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        log.exception("interrupted")
    assert captured.events == []


# ------------------------------------------------------------------ messages


def test_messages_without_an_exception_are_not_sent_by_default(
    captured: Captured, log: logging.Logger
) -> None:
    capture_logging(logger=log, client=captured.client)
    log.error("disk full")
    log.critical("disk very full")
    assert captured.events == []


def test_capture_messages_sends_error_messages_with_the_call_site_stack(
    captured: Captured, log: logging.Logger
) -> None:
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    log.error("disk %s is full", "/var")
    line = sys._getframe().f_lineno - 1
    event = captured.only()
    props = event["properties"]
    assert props["$exception_level"] == "error"
    assert props["$log_message"] == "disk /var is full"
    (entry,) = exceptions(event)
    assert entry["type"] == "LoggedError"
    assert entry["module"] == "posthog_exceptions._logging"
    assert entry["value"] == "disk /var is full"
    assert entry["mechanism"] == {
        "type": "logger",
        "handled": True,
        "synthetic": True,
        "exception_id": 0,
    }
    stack = frames(entry)
    crash = stack[-1]
    assert (
        crash["function"]
        == test_capture_messages_sends_error_messages_with_the_call_site_stack.__name__
    )
    assert crash["lineno"] == line
    assert crash["context_line"].strip() == 'log.error("disk %s is full", "/var")'
    assert not [f for f in stack if f.get("module", "").split(".")[0] == "logging"]
    assert not [f for f in stack if f.get("module", "").startswith("posthog_exceptions")]


def _report(log: logging.Logger, message: str) -> None:
    log.error(message, stacklevel=2)  # a helper reports its caller's line, and so do we


def test_capture_messages_honours_stacklevel(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    _report(log, "reported by a helper")
    line = sys._getframe().f_lineno - 1
    crash = frames(exceptions(captured.only())[0])[-1]
    assert crash["function"] == "test_capture_messages_honours_stacklevel"
    assert crash["lineno"] == line


def test_capture_messages_only_from_error_up(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logging.DEBUG, logger=log, capture_messages=True, client=captured.client)
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.critical("c")
    assert [e["properties"]["$exception_level"] for e in captured.events] == ["fatal"]


def test_messages_from_one_call_site_group_together(
    captured: Captured, log: logging.Logger
) -> None:
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    for order in (1017, 2048):
        log.error("order %d could not be shipped", order)
    log.error("a different problem")
    prints = [e["properties"]["$exception_fingerprint"] for e in captured.events]
    assert len(prints) == 3
    assert prints[0] == prints[1] != prints[2]


def test_exc_info_true_outside_an_except_block_is_a_message(
    captured: Captured, log: logging.Logger
) -> None:
    capture_logging(logger=log, client=captured.client)
    log.error("no exception here", exc_info=True)
    assert captured.events == []
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    log.error("no exception here", exc_info=True)
    assert exceptions(captured.only())[0]["type"] == "LoggedError"


def test_long_messages_are_bounded(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    log.error("x" * 100_000)
    props = captured.only()["properties"]
    assert 100 < len(props["$log_message"]) <= 2000
    assert len(props["$exception_list"][0]["value"]) <= 2000


# ------------------------------------------------------------------ no loops, no duplicates


class LoggingTransport(MemoryTransport):
    """A transport that logs an error, with an exception, every time it sends."""

    def __init__(self, logger_name: str) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger_name)
        self.sends = 0

    def send(self, body: bytes, headers: Mapping[str, str]) -> TransportResponse:
        self.sends += 1
        try:
            raise ConnectionError("trouble while sending")
        except ConnectionError:
            self.logger.exception("the transport had trouble")
        return super().send(body, headers)


@pytest.mark.parametrize(
    "logger_name",
    [
        "posthog_exceptions",
        "posthog_exceptions.transport",
        "urllib3.connectionpool",
        "my.transport",
    ],
)
def test_transport_that_logs_while_sending_does_not_recurse(
    root_capture: None, logger_name: str
) -> None:
    transport = LoggingTransport(logger_name)
    client = posthog_exceptions.Client("phc_test", transport=transport, sync_mode=True)
    capture_logging(logging.DEBUG, capture_messages=True, client=client)
    app = logging.getLogger("app")
    try:
        charge(5)
    except ValueError:
        app.exception("charging failed")
    app.error("and a message")
    events = transport.events
    assert [exceptions(e)[0]["type"] for e in events] == ["ValueError", "LoggedError"]
    assert transport.sends == 2


@pytest.mark.parametrize("sync_mode", [True, False])
def test_records_logged_while_delivering_are_not_captured(
    root_capture: None, sync_mode: bool
) -> None:
    """Capturing inside a send would deliver from inside a delivery and wait on itself."""
    transport = LoggingTransport("my.transport")
    client = posthog_exceptions.Client("phc_test", transport=transport, sync_mode=sync_mode)
    try:
        capture_logging(capture_messages=True, client=client)
        client.capture("plain", distinct_id="u1")
        assert client.flush(timeout=10)
        assert [e["event"] for e in transport.events] == ["plain"]
        assert transport.sends == 1
    finally:
        client.shutdown(timeout=2)


@pytest.mark.parametrize(
    "logger_name",
    ["posthog_exceptions", "posthog_exceptions._worker", "urllib3", "urllib3.util", "requests"],
)
def test_library_and_http_loggers_are_never_captured(
    captured: Captured, root_capture: None, logger_name: str
) -> None:
    capture_logging(logging.DEBUG, capture_messages=True, client=captured.client)
    other = logging.getLogger(logger_name)
    try:
        charge(6)
    except ValueError:
        other.exception("sending failed")
    other.error("a message")
    assert captured.events == []


def test_a_lookalike_logger_name_is_captured(captured: Captured, log: logging.Logger) -> None:
    lookalike = logging.getLogger("posthog_exceptions_app")
    handler = capture_logging(logger=lookalike, client=captured.client)
    try:
        try:
            charge(7)
        except ValueError:
            lookalike.exception("failed")
        assert captured.only()["properties"]["$logger_name"] == "posthog_exceptions_app"
    finally:
        lookalike.removeHandler(handler)


def test_exception_the_decorator_sent_is_not_sent_again(
    captured: Captured, log: logging.Logger
) -> None:
    capture_logging(logger=log, client=captured.client)

    @posthog_exceptions.capture_exceptions(client=captured.client)
    def job() -> None:
        charge(8)

    try:
        job()
    except ValueError:
        log.exception("job failed")
    event = captured.only()
    assert event["properties"]["$exception_source"] == "python.decorator"


def test_exception_logged_twice_is_sent_once(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logger=log, client=captured.client)
    try:
        charge(9)
    except ValueError:
        log.exception("first")
        log.exception("second")
    assert captured.only()["properties"]["$log_message"] == "first"


# ------------------------------------------------------------------ attaching


def test_capture_logging_is_idempotent(captured: Captured, root_capture: None) -> None:
    first = capture_logging(client=captured.client)
    second = capture_logging(logging.WARNING, capture_messages=True, client=captured.client)
    assert first is second
    assert [h for h in logging.getLogger().handlers if isinstance(h, LoggingHandler)] == [first]
    assert first.level == logging.WARNING
    assert first.capture_messages is True
    assert capture_logging(logger=logging.getLogger(), client=captured.client) is first
    assert capture_logging(logger="", client=captured.client) is first
    assert uncapture_logging() is True
    assert uncapture_logging() is False
    assert not [h for h in logging.getLogger().handlers if isinstance(h, LoggingHandler)]


def test_capture_logging_by_logger_name(captured: Captured, log: logging.Logger) -> None:
    handler = capture_logging(logger=log.name, client=captured.client)
    assert handler in log.handlers
    assert uncapture_logging(log.name) is True


def test_bad_arguments_raise_at_once() -> None:
    with pytest.raises(TypeError, match="capture_messages"):
        capture_logging(capture_messages="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client"):
        LoggingHandler(client="phc_x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="logger"):
        capture_logging(logger=42)  # type: ignore[arg-type]
    assert not [h for h in logging.getLogger().handlers if isinstance(h, LoggingHandler)]


def test_default_client_is_looked_up_for_each_record(log: logging.Logger) -> None:
    capture_logging(logger=log)  # attached before init(): records before it go nowhere
    log.error("before init", exc_info=ValueError("early"))
    transport = MemoryTransport()
    posthog_exceptions.init("phc_test", transport=transport, sync_mode=True, install_hooks=False)
    try:
        charge(10)
    except ValueError:
        log.exception("after init")
    (event,) = transport.events
    assert event["properties"]["$log_message"] == "after init"


def test_disabled_client_sends_nothing(log: logging.Logger) -> None:
    transport = MemoryTransport()
    client = posthog_exceptions.Client(
        "phc_test", transport=transport, sync_mode=True, disabled=True
    )
    capture_logging(logger=log, capture_messages=True, client=client)
    log.error("nothing")
    assert transport.events == []


# ------------------------------------------------------------------ never raises


def test_broken_format_never_raises(
    captured: Captured, log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    log.error("%d items", "not a number")
    try:
        charge(11)
    except ValueError:
        log.exception("%s and %s", "only one")  # noqa: PLE1206 (the point of the test)
    messages = [e["properties"]["$log_message"] for e in captured.events]
    assert messages == [
        "%d items (unformattable; args: ('not a number',))",
        "%s and %s (unformattable; args: ('only one',))",
    ]
    assert capsys.readouterr().err == ""


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_hostile_message_object_never_raises(captured: Captured, log: logging.Logger) -> None:
    capture_logging(logger=log, capture_messages=True, client=captured.client)
    log.error(Unprintable())
    log.error(Unprintable(), Unprintable())
    assert [e["properties"]["$log_message"] for e in captured.events] == [
        "<Unprintable object (repr failed)> (unformattable; args: ())",
        "<Unprintable object (repr failed)> (unformattable; args: <tuple object (repr failed)>)",
    ]


def test_hostile_exc_info_never_raises(captured: Captured) -> None:
    handler = LoggingHandler(client=captured.client)
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "m", (), None)
    weird: Any = ("not", "an", "exc_info")
    record.exc_info = weird
    handler.handle(record)
    record.exc_info = None
    record.name = None  # type: ignore[assignment]
    handler.handle(record)
    assert captured.events == []


def test_the_integration_loads_on_first_use() -> None:
    from .test_process import run_python

    result = run_python(
        """
        import sys, posthog_exceptions
        assert "logging" not in sys.modules
        assert "posthog_exceptions.integrations.logging" not in sys.modules
        handler = posthog_exceptions.capture_logging()
        assert isinstance(handler, posthog_exceptions.LoggingHandler)
        assert handler is posthog_exceptions.capture_logging()
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
