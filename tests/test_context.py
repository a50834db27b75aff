"""Context: tags, person and session reach the events of every capture path."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import posthog_exceptions
from posthog_exceptions import (
    _context,
    bind_context,
    capture_exceptions,
    capture_logging,
    get_tags,
    identify_context,
    new_context,
    set_context_session,
    tag,
    uncapture_logging,
)
from posthog_exceptions.integrations import hooks as _hooks
from posthog_exceptions.integrations.asyncio import install_asyncio_handler

from .conftest import API_KEY
from .exc_helpers import Captured
from .recording_server import RecordingServer
from .test_process import run_python


@pytest.fixture
def cap() -> Iterator[Captured]:
    captured = Captured(rate_limit=False)
    yield captured
    captured.client.shutdown(timeout=2)


def _in_request_context(cap: Captured) -> Any:
    """A context as every test here sets it: person, session, two tags."""
    scope = new_context(client=cap.client)
    scope.__enter__()
    identify_context("user-7")
    set_context_session("session-7")
    tag("plan", "pro")
    tag("order", 17)
    return scope


def _assert_context(event: dict[str, Any]) -> None:
    props = event["properties"]
    assert event["distinct_id"] == "user-7"
    assert props["$session_id"] == "session-7"
    assert props["plan"] == "pro" and props["order"] == 17
    assert "$process_person_profile" not in props


def test_posthog_python_code_runs_unchanged(server: RecordingServer) -> None:
    """The usage posthog-python's docs show, with only the import changed."""
    from posthog_exceptions import identify_context, new_context, scoped, set_context_session, tag

    client = posthog_exceptions.init(API_KEY, host=server.url, install_hooks=False)

    with new_context():
        tag("transaction_id", "abc123")
        tag("payment_method", "credit_card")
        identify_context("user_123")
        set_context_session("session_456")
        posthog_exceptions.capture("payment_started")
        try:
            raise ValueError("card declined")
        except ValueError as error:
            posthog_exceptions.capture_exception(error)

    @scoped()
    def process_order(order_id: str) -> None:
        tag("order_id", order_id)
        posthog_exceptions.capture("order_processed")
        raise RuntimeError("out of stock")  # sent by the context, then re-raised

    with pytest.raises(RuntimeError):
        process_order("o-1")

    with new_context(fresh=True, capture_exceptions=False), pytest.raises(KeyError):
        raise KeyError("not sent: capture_exceptions=False")

    assert client.flush(10)
    by_name = {
        (e["event"], e["properties"].get("$exception_list", [{}])[0].get("type")): e
        for e in server.events
    }
    started = by_name[("payment_started", None)]
    assert started["distinct_id"] == "user_123"
    assert started["properties"]["transaction_id"] == "abc123"
    assert started["properties"]["$session_id"] == "session_456"
    declined = by_name[("$exception", "ValueError")]
    assert declined["distinct_id"] == "user_123"
    assert declined["properties"]["payment_method"] == "credit_card"
    processed = by_name[("order_processed", None)]
    assert processed["properties"]["order_id"] == "o-1"
    assert "$session_id" not in processed["properties"]  # a new context, outside the first
    escaped = by_name[("$exception", "RuntimeError")]
    assert escaped["properties"]["order_id"] == "o-1"
    assert escaped["properties"]["$exception_source"] == "python.new_context"
    assert escaped["properties"]["$exception_list"][0]["mechanism"]["type"] == "generic"
    assert ("$exception", "KeyError") not in by_name
    assert len(server.events) == 4


def test_nested_contexts_inherit_unless_fresh_and_end_with_their_block(cap: Captured) -> None:
    with new_context():
        tag("outer", 1)
        tag("shared", "outer")
        identify_context("outer-user")
        with new_context():
            tag("shared", "inner")
            assert get_tags() == {"outer": 1, "shared": "inner"}
            cap.client.capture("inner")
        with new_context(fresh=True):
            assert get_tags() == {}
            cap.client.capture("fresh")
        assert get_tags() == {"outer": 1, "shared": "outer"}
        cap.client.capture("outer")
    assert get_tags() == {}
    cap.client.capture("outside")
    inner, fresh, outer, outside = cap.events
    assert inner["distinct_id"] == "outer-user"
    assert (inner["properties"]["outer"], inner["properties"]["shared"]) == (1, "inner")
    assert fresh["properties"]["$process_person_profile"] is False  # no person: anonymous
    assert "outer" not in fresh["properties"]
    assert outer["properties"]["shared"] == "outer"
    assert "outer" not in outside["properties"] and outside["distinct_id"] != "outer-user"


def test_outside_a_context_the_setters_do_nothing(cap: Captured) -> None:
    tag("lost", 1)
    identify_context("nobody")
    set_context_session("no-session")
    cap.client.capture("plain")
    (event,) = cap.events
    assert "lost" not in event["properties"] and "$session_id" not in event["properties"]
    assert event["distinct_id"] != "nobody"


def test_precedence_argument_context_integration_header_client_default() -> None:
    cap = Captured(distinct_id="client-default")
    scope = _context.Context(None, fresh=True)
    token = _context.enter(scope)
    try:
        cap.client.capture("a")  # nothing in the context: the client's default
        scope.header_distinct_id = "from-header"
        cap.client.capture("b")
        try:
            raise ValueError("c")
        except ValueError as exc:  # an integration's callable beats the header
            cap.client._capture(
                posthog_exceptions._capture.kinds.WSGI, exc, fallback_distinct_id="from-callable"
            )
        identify_context("from-context")
        try:
            raise ValueError("d")
        except ValueError as exc:  # the context beats the integration's callable
            cap.client._capture(
                posthog_exceptions._capture.kinds.WSGI, exc, fallback_distinct_id="from-callable"
            )
        cap.client.capture("e", distinct_id="from-argument", properties={"$session_id": "mine"})
        set_context_session("context-session")
        cap.client.capture("f", properties={"$session_id": "mine"})
    finally:
        _context.leave(token)
        cap.client.shutdown(timeout=2)
    people = [e["distinct_id"] for e in cap.events]
    assert people == [
        "client-default",
        "from-header",
        "from-callable",
        "from-context",
        "from-argument",
        "from-context",
    ]
    assert cap.events[-1]["properties"]["$session_id"] == "mine"  # explicit properties win


def test_identify_and_alias_are_about_the_person_they_name(cap: Captured) -> None:
    with new_context():
        identify_context("context-user")
        set_context_session("s-1")
        tag("plan", "pro")
        cap.client.identify("someone-else", {"email": "x@example.com"})
        cap.client.alias("old-id", "someone-else")
    identify, alias = cap.events
    assert identify["distinct_id"] == "someone-else"
    assert alias["distinct_id"] == "old-id"
    for event in (identify, alias):
        assert "plan" not in event["properties"] and "$session_id" not in event["properties"]


def test_capture_exception_and_the_decorator_carry_the_context(cap: Captured) -> None:
    scope = _in_request_context(cap)
    try:
        try:
            raise ValueError("manual")
        except ValueError:
            cap.client.capture_exception()

        @capture_exceptions(client=cap.client)
        def job() -> None:
            raise KeyError("decorated")

        with pytest.raises(KeyError):
            job()
        cap.client.capture_exception(ValueError("explicit"), distinct_id="someone")
    finally:
        scope.__exit__(None, None, None)
    manual, decorated, explicit = cap.exception_events
    _assert_context(manual)
    _assert_context(decorated)
    assert explicit["distinct_id"] == "someone"  # the argument wins
    assert explicit["properties"]["$session_id"] == "session-7"


def test_the_logging_handler_carries_the_context_of_the_logging_code(cap: Captured) -> None:
    log = logging.getLogger("tests.context")
    capture_logging(logger=log, client=cap.client)
    try:
        scope = _in_request_context(cap)
        try:
            try:
                raise ValueError("logged")
            except ValueError:
                log.exception("charging failed")
        finally:
            scope.__exit__(None, None, None)
    finally:
        uncapture_logging(log)
    _assert_context(cap.only())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_threads_have_their_own_context_and_bind_context_carries_one(cap: Captured) -> None:
    _hooks.install(cap.client)
    try:
        scope = _in_request_context(cap)
        try:

            def fails_in_own_context() -> None:
                with new_context(client=cap.client):  # sends what escapes; the hook: not again
                    identify_context("thread-user")
                    tag("plan", "thread")
                    raise LookupError("ended the thread")

            def fails_in_bound_context() -> None:
                raise ValueError("ended a bound thread")

            def unbound() -> None:
                raise OSError("ended an unbound thread")

            for target in (fails_in_own_context, bind_context(fails_in_bound_context), unbound):
                thread = threading.Thread(target=target)
                thread.start()
                thread.join(10)
            with ThreadPoolExecutor(1) as pool:
                pool.submit(bind_context(cap.client.capture), "in-executor").result(10)
                pool.submit(cap.client.capture, "unbound-executor").result(10)
        finally:
            scope.__exit__(None, None, None)
    finally:
        _hooks.uninstall(cap.client)
    types = [e["properties"]["$exception_list"][0]["type"] for e in cap.exception_events]
    assert sorted(types) == ["LookupError", "OSError", "ValueError"]  # each sent once
    by_type = dict(zip(types, cap.exception_events))
    own = by_type["LookupError"]
    assert own["distinct_id"] == "thread-user" and own["properties"]["plan"] == "thread"
    assert "$session_id" not in own["properties"]  # a thread starts with no context
    _assert_context(by_type["ValueError"])
    assert "plan" not in by_type["OSError"]["properties"]
    by_name = {e["event"]: e for e in cap.events}
    _assert_context(by_name["in-executor"])
    assert "plan" not in by_name["unbound-executor"]["properties"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_asyncio_tasks_inherit_and_the_handler_sends_with_the_failing_tasks_context(
    cap: Captured,
) -> None:
    async def fails(order: int) -> None:
        tag("order", order)  # the task's inherited scope, shared with its creator
        await asyncio.sleep(0)
        raise RuntimeError(f"order {order} failed")

    async def request(order: int) -> None:
        with new_context(fresh=True):
            identify_context(f"user-{order}")
            set_context_session(f"session-{order}")
            task = asyncio.ensure_future(fails(order))  # never awaited: nobody retrieves it
            while not task.done():
                await asyncio.sleep(0)
            del task

    async def main() -> None:
        install_asyncio_handler(client=cap.client)
        await asyncio.gather(request(1), request(2))
        gc.collect()  # the tasks are garbage: "Task exception was never retrieved"

    logging.getLogger("asyncio").disabled = True
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("asyncio").disabled = False
    events = sorted(cap.exception_events, key=lambda e: e["distinct_id"])
    assert [e["distinct_id"] for e in events] == ["user-1", "user-2"]
    for order, event in enumerate(events, start=1):
        assert event["properties"]["$session_id"] == f"session-{order}"
        assert event["properties"]["order"] == order
        assert event["properties"]["$exception_source"] == "python.asyncio"


def test_an_asyncio_task_changing_its_context_leaves_its_creators_alone(cap: Captured) -> None:
    async def child() -> None:
        with new_context(fresh=True):
            identify_context("child")
            cap.client.capture("from-child")

    async def main() -> None:
        with new_context():
            identify_context("parent")
            await asyncio.create_task(child())
            cap.client.capture("from-parent")

    asyncio.run(main())
    assert [(e["event"], e["distinct_id"]) for e in cap.events] == [
        ("from-child", "child"),
        ("from-parent", "parent"),
    ]


def test_an_async_function_decorated_with_new_context(cap: Captured) -> None:
    @new_context(client=cap.client)
    async def handler(user: str) -> None:
        identify_context(user)
        await asyncio.sleep(0)
        raise ValueError(f"failed for {user}")

    async def main() -> None:
        results = await asyncio.gather(handler("a"), handler("b"), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)

    asyncio.run(main())
    assert sorted(e["distinct_id"] for e in cap.exception_events) == ["a", "b"]


def test_tags_are_cleaned_like_properties_and_bad_arguments_are_refused(cap: Captured) -> None:
    with new_context():
        tag("when", object())
        tag("", "ignored: no name")
        cap.client.capture("tagged")
    (event,) = cap.events
    assert isinstance(event["properties"]["when"], str)
    assert "" not in event["properties"]
    with pytest.raises(TypeError, match="fresh"):
        new_context(fresh="yes")  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_no_context(server: RecordingServer) -> None:
    result = run_python(
        f"""
import json, os, sys, warnings, posthog_exceptions
from posthog_exceptions import new_context, identify_context, set_context_session, tag
warnings.simplefilter("ignore", DeprecationWarning)  # "fork() in a threaded process"
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], install_hooks=False)
with new_context():
    identify_context("parent-user")
    set_context_session("parent-session")
    tag("where", "parent")
    pid = os.fork()
    if pid == 0:
        tags = posthog_exceptions.get_tags()
        posthog_exceptions.capture("in-child")
        ok = posthog_exceptions.flush(10)
        os._exit(0 if ok and tags == {{}} else 3)
    _, status = os.waitpid(pid, 0)
    posthog_exceptions.capture("in-parent")
print(json.dumps(os.WEXITSTATUS(status)))
""",
        server.url,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == 0, "the child saw the parent's context"
    by_name = {e["event"]: e for e in server.wait_for_events(2)}
    child = by_name["in-child"]
    assert child["distinct_id"] != "parent-user"
    assert "$session_id" not in child["properties"] and "where" not in child["properties"]
    assert by_name["in-parent"]["distinct_id"] == "parent-user"
