"""The asyncio integration: what an event loop can only print is sent, once, and the
handler it replaced still runs."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import posthog_exceptions
from posthog_exceptions import capture_logging, install_asyncio_handler, uncapture_logging
from posthog_exceptions.integrations.asyncio import AsyncioHandler
from posthog_exceptions.testing import MemoryTransport

from .conftest import API_KEY
from .exc_helpers import Captured, exceptions, frames
from .recording_server import RecordingServer
from .test_process import run_python

Context = dict[str, Any]


@pytest.fixture
def captured() -> Captured:
    return Captured()


class Previous:
    """An exception handler that was there first: records what it is given."""

    def __init__(self) -> None:
        self.contexts: list[Context] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: Context) -> None:
        self.contexts.append(context)


async def fail() -> None:
    raise ValueError("nobody awaited me")


def explode() -> None:
    raise KeyError("in a callback")


async def run_callbacks(loop: asyncio.AbstractEventLoop, *callbacks: Any) -> None:
    """Schedule the callbacks and return once they ran (call_soon keeps their order)."""
    done = loop.create_future()
    for callback in callbacks:
        loop.call_soon(callback)
    loop.call_soon(done.set_result, None)
    await done


def test_task_exception_never_retrieved_is_sent_once(
    captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        install_asyncio_handler(client=captured.client)
        task = asyncio.get_running_loop().create_task(fail(), name="billing-task")
        await asyncio.wait({task})  # finished, its exception never retrieved
        del task
        gc.collect()
        gc.collect()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
    event = captured.only()
    props = event["properties"]
    assert props["$exception_source"] == "python.asyncio"
    assert props["$exception_level"] == "error"
    assert props["$asyncio_message"] == "Task exception was never retrieved"
    assert props["$asyncio_task_name"] == "billing-task"
    (entry,) = exceptions(event)
    assert entry["type"] == "ValueError"
    assert entry["mechanism"] == {
        "type": "onunhandledrejection",
        "handled": False,
        "synthetic": False,
        "exception_id": 0,
    }
    assert frames(entry)[-1]["function"] == "fail"
    # No previous handler: the loop's default one still logged the usual message.
    assert "Task exception was never retrieved" in caplog.text


def test_cancelled_task_is_not_an_error(captured: Captured) -> None:
    previous = Previous()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        install_asyncio_handler(client=captured.client)
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.Event().wait()

        task = loop.create_task(forever())
        await started.wait()
        task.cancel()
        await asyncio.wait({task})
        assert task.cancelled()
        del task
        gc.collect()
        # Even handed a CancelledError explicitly, the handler does not send it.
        loop.call_exception_handler({"message": "cancelled", "exception": asyncio.CancelledError()})

    asyncio.run(main())
    assert captured.events == []
    assert [c["message"] for c in previous.contexts] == ["cancelled"]


def test_exception_in_a_callback_is_sent_and_the_previous_handler_chained(
    captured: Captured,
) -> None:
    previous = Previous()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        install_asyncio_handler(client=captured.client)
        await run_callbacks(loop, explode)

    asyncio.run(main())
    props = captured.only()["properties"]
    assert props["$asyncio_message"].startswith("Exception in callback")
    assert "explode" in props["$asyncio_handle"]
    assert "$asyncio_task_name" not in props
    (entry,) = props["$exception_list"]
    assert entry["type"] == "KeyError"
    assert entry["stacktrace"]["frames"][-1]["function"] == "explode"
    (context,) = previous.contexts
    assert isinstance(context["exception"], KeyError)
    assert context["message"].startswith("Exception in callback")


def test_contexts_without_an_exception_are_passed_on_but_not_sent(captured: Captured) -> None:
    previous = Previous()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        install_asyncio_handler(client=captured.client)
        loop.call_exception_handler({"message": "something odd, no exception"})

    asyncio.run(main())
    assert captured.events == []
    assert [c["message"] for c in previous.contexts] == ["something odd, no exception"]


def test_installing_twice_keeps_one_handler(captured: Captured) -> None:
    previous = Previous()
    other = Captured()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        install_asyncio_handler(client=other.client)
        first = loop.get_exception_handler()
        install_asyncio_handler(client=captured.client)  # the most recent client wins
        assert loop.get_exception_handler() is first
        assert isinstance(first, AsyncioHandler)
        await run_callbacks(loop, explode)

    asyncio.run(main())
    captured.only()
    assert other.events == []
    assert len(previous.contexts) == 1


def test_explicit_loop(captured: Captured) -> None:
    loop = asyncio.new_event_loop()
    previous = Previous()
    try:
        loop.set_exception_handler(previous)
        install_asyncio_handler(loop, client=captured.client)
        loop.call_soon(explode)
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert exceptions(captured.only())[0]["type"] == "KeyError"
    assert len(previous.contexts) == 1


def test_no_running_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="needs an event loop"):
        install_asyncio_handler()


def test_bad_client_is_a_type_error() -> None:
    async def main() -> None:
        install_asyncio_handler(client="phc_x")  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="client"):
        asyncio.run(main())


def test_a_failing_previous_handler_is_the_loops_business(captured: Captured) -> None:
    """The previous handler still runs after ours sent the event; what it raises is
    handled by asyncio itself (logged), as it would be without us."""

    def broken(loop: asyncio.AbstractEventLoop, context: Context) -> None:
        raise RuntimeError("a broken previous handler")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(broken)
        install_asyncio_handler(client=captured.client)
        await run_callbacks(loop, explode)

    asyncio.run(main())
    assert exceptions(captured.only())[0]["type"] == "KeyError"


def test_init_inside_a_running_loop_installs_the_handler() -> None:
    transport = MemoryTransport()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        previous = Previous()
        loop.set_exception_handler(previous)
        posthog_exceptions.init("phc_test", transport=transport, sync_mode=True)
        handler = loop.get_exception_handler()
        assert isinstance(handler, AsyncioHandler)
        assert handler.client is None  # follows the default client
        posthog_exceptions.init("phc_test", transport=transport, sync_mode=True)
        assert loop.get_exception_handler() is handler
        await run_callbacks(loop, explode)
        assert len(previous.contexts) == 1

    try:
        asyncio.run(main())
    finally:
        posthog_exceptions.shutdown()
    (event,) = transport.events
    assert event["properties"]["$exception_source"] == "python.asyncio"


def test_init_install_hooks_false_leaves_the_loop_alone() -> None:
    async def main() -> None:
        posthog_exceptions.init(
            "phc_test", transport=MemoryTransport(), sync_mode=True, install_hooks=False
        )
        assert asyncio.get_running_loop().get_exception_handler() is None

    asyncio.run(main())


@pytest.fixture
def root_capture() -> Iterator[None]:
    yield
    uncapture_logging()


def test_with_logging_captured_too_the_error_is_sent_once(
    captured: Captured, root_capture: None
) -> None:
    """The default handler logs the exception: the logging integration sees it already sent."""
    capture_logging(client=captured.client)

    async def main() -> None:
        install_asyncio_handler(client=captured.client)
        await run_callbacks(asyncio.get_running_loop(), explode)

    asyncio.run(main())
    assert captured.only()["properties"]["$exception_source"] == "python.asyncio"


def test_logging_alone_captures_what_asyncio_logs(captured: Captured, root_capture: None) -> None:
    capture_logging(logger="asyncio", client=captured.client)
    try:

        async def main() -> None:
            await run_callbacks(asyncio.get_running_loop(), explode)

        asyncio.run(main())
    finally:
        uncapture_logging("asyncio")
    props = captured.only()["properties"]
    assert props["$exception_source"] == "python.logging"
    assert props["$logger_name"] == "asyncio"


# ------------------------------------------------------------------ whole programs

PROGRAMS = {
    "main_raises": """
async def main():
    posthog_exceptions.init(KEY, host=sys.argv[1])
    raise ValueError("from main")
asyncio.run(main())
""",
    "awaited_task_raises": """
async def work():
    raise ValueError("from a task")
async def main():
    posthog_exceptions.init(KEY, host=sys.argv[1])
    await asyncio.get_running_loop().create_task(work())
asyncio.run(main())
""",
    "gathered_tasks_raise": """
async def work():
    raise ValueError("from a gathered task")
async def main():
    posthog_exceptions.init(KEY, host=sys.argv[1])
    await asyncio.gather(work())
asyncio.run(main())
""",
    "init_before_the_loop": """
posthog_exceptions.init(KEY, host=sys.argv[1])
async def main():
    raise ValueError("from main, init outside")
asyncio.run(main())
""",
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_asyncio_run_raising_sends_one_event(
    server: RecordingServer, tmp_path: Path, program: str
) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        f"import asyncio, sys, posthog_exceptions\nKEY = {API_KEY!r}\n{PROGRAMS[program]}",
        encoding="utf-8",
    )
    result = run_python(script, server.url)
    assert result.returncode == 1
    assert "ValueError" in result.stderr
    (event,) = [e for e in server.events if e["event"] == "$exception"]
    props = event["properties"]
    assert props["$exception_source"] == "python.sys_excepthook"
    assert props["$exception_level"] == "fatal"


def test_task_never_retrieved_in_a_whole_program(server: RecordingServer, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        f"""import asyncio, gc, sys, posthog_exceptions
async def work():
    raise ValueError("lost")
async def main():
    posthog_exceptions.init({API_KEY!r}, host=sys.argv[1])
    task = asyncio.get_running_loop().create_task(work())
    await asyncio.wait({{task}})
    del task
    gc.collect()
asyncio.run(main())
print("finished")
""",
        encoding="utf-8",
    )
    result = run_python(script, server.url)
    assert result.returncode == 0, result.stderr
    assert "finished" in result.stdout
    assert "Task exception was never retrieved" in result.stderr
    (event,) = [e for e in server.events if e["event"] == "$exception"]
    assert event["properties"]["$exception_source"] == "python.asyncio"


def test_init_outside_a_loop_does_not_import_asyncio() -> None:
    result = run_python(
        """
        import sys, posthog_exceptions
        posthog_exceptions.init("phc_test", host="http://127.0.0.1:9")
        assert "asyncio" not in sys.modules, "init imported asyncio"
        assert "posthog_exceptions.integrations.asyncio" not in sys.modules
        posthog_exceptions.shutdown(timeout=0)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
