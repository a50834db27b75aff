"""capture_exceptions over every kind of callable, and as (async) context managers."""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any, Callable

import pytest

from posthog_exceptions import capture_exceptions

from .exc_helpers import Captured, exceptions, frames


@pytest.fixture
def cap() -> Captured:
    return Captured()


def only_entry(cap: Captured) -> dict[str, Any]:
    event = cap.only()
    assert event["properties"]["$exception_source"] == "python.decorator"
    return exceptions(event)[0]


# ------------------------------------------------------------------ plain functions


def test_bare_decorator_reraises_and_sends(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    def divide(a: int, b: int) -> float:
        """Divide."""
        return a / b

    assert divide(6, 3) == 2
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    entry = only_entry(cap)
    assert entry["mechanism"] == {  # handled unknown
        "type": "decorator",
        "synthetic": False,
        "exception_id": 0,
    }
    assert frames(entry)[-1]["function"].endswith("divide")
    assert divide.__name__ == "divide"
    assert divide.__doc__ == "Divide."
    assert str(inspect.signature(divide)) == "(a: 'int', b: 'int') -> 'float'"
    assert divide.__wrapped__(6, 2) == 3  # type: ignore[attr-defined]


def test_every_kind_of_parameter_is_forwarded_as_given(cap: Captured) -> None:
    def target(
        a: Any,
        b: Any = [],  # noqa: B006 (the default object must reach the function)
        /,
        c: Any = 3,
        *args: Any,
        d: Any,
        e: Any = None,
        **kw: Any,
    ) -> Any:
        return (a, b, c, args, d, e, kw)

    wrapped: Any = capture_exceptions(client=cap.client)(target)
    assert inspect.signature(wrapped) == inspect.signature(target)
    assert wrapped(1, d=4) == target(1, d=4)
    assert wrapped(1, d=4)[1] is (target.__defaults__ or ())[0]  # the same default object
    assert wrapped(1, 2, 3, 4, 5, d=6, e=7, z=8) == (1, 2, 3, (4, 5), 6, 7, {"z": 8})
    assert wrapped(1, c=9, d=0) == target(1, c=9, d=0)
    with pytest.raises(TypeError):
        wrapped(a=1, d=4)  # positional-only stays positional-only
    with pytest.raises(TypeError):
        wrapped(1, 2)  # d is still required
    assert cap.transport.events == []  # argument errors raised by the call are not sent

    def only_keywords(*, key: str) -> str:
        return key

    assert capture_exceptions(client=cap.client)(only_keywords)(key="k") == "k"

    def clashing(_posthog_exceptions_function: int) -> int:
        return _posthog_exceptions_function + 1

    assert capture_exceptions(client=cap.client)(clashing)(1) == 2


def test_the_wrapper_frame_is_not_in_the_event(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    def fails(n: int) -> None:
        raise ValueError(n)

    with pytest.raises(ValueError) as info:
        fails(1)
    functions = [frame["function"] for frame in frames(only_entry(cap))]
    assert functions[-1].endswith("fails")
    assert not any("capture_exceptions" in name for name in functions)
    names = [entry.filename for entry in traceback.extract_tb(info.tb)]
    assert "<posthog_exceptions.capture_exceptions>" in names  # Python's own traceback


def test_without_parentheses_uses_the_default_client() -> None:
    from posthog_exceptions import init
    from posthog_exceptions.testing import MemoryTransport

    transport = MemoryTransport()
    init("phc_test", transport=transport, sync_mode=True, install_hooks=False)

    @capture_exceptions
    def broken() -> None:
        raise ValueError("bare")

    with pytest.raises(ValueError):
        broken()
    (event,) = transport.events
    assert event["properties"]["$exception_list"][0]["value"] == "bare"


def test_reraise_false_swallows_and_marks_handled(cap: Captured) -> None:
    @capture_exceptions(reraise=False, client=cap.client, level="warning", properties={"job": 1})
    def broken() -> int:
        raise ValueError("swallowed")

    assert broken() is None
    event = cap.only()
    assert event["properties"]["$exception_level"] == "warning"
    assert event["properties"]["job"] == 1
    assert exceptions(event)[0]["mechanism"]["handled"] is True


def test_ignored_types_propagate_unsent(cap: Captured) -> None:
    @capture_exceptions(reraise=False, ignore=(KeyError,), client=cap.client)
    def lookup() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        lookup()

    @capture_exceptions(reraise=False, client=cap.client)
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert cap.events == []


def test_distinct_id_callable(cap: Captured) -> None:
    @capture_exceptions(client=cap.client, distinct_id=lambda: "user-9")
    def broken() -> None:
        raise ValueError

    with pytest.raises(ValueError):
        broken()
    assert cap.only()["distinct_id"] == "user-9"


def test_a_distinct_id_callable_that_raises_never_replaces_the_programs_exception(
    cap: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    def who() -> str:
        raise LookupError("no user in this context")

    @capture_exceptions(client=cap.client, distinct_id=who)
    def broken() -> None:
        raise ValueError("the program's own error")

    with pytest.raises(ValueError, match="the program's own error"):
        broken()
    event = cap.only()
    assert event["properties"]["$process_person_profile"] is False
    assert "distinct_id callable raised" in caplog.text


def test_nested_decorators_send_once(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    def inner() -> None:
        raise ValueError("once")

    @capture_exceptions(client=cap.client)
    def outer() -> None:
        inner()

    with pytest.raises(ValueError):
        outer()
    assert len(cap.exception_events) == 1


def test_bad_decorator_arguments_raise_at_decoration() -> None:
    with pytest.raises(TypeError, match="reraise"):
        capture_exceptions(reraise="yes")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="ignore"):
        capture_exceptions(ignore=(int,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        capture_exceptions(level="loud")


# ------------------------------------------------------------------ methods


def test_methods_classmethods_staticmethods(cap: Captured) -> None:
    client = cap.client

    class Service:
        factor = 2

        @capture_exceptions(client=client)
        def method(self, x: int) -> int:
            return self.factor * 10 // x

        @capture_exceptions(client=client)
        @classmethod
        def klass(cls, x: int) -> int:
            return cls.factor * 10 // x

        @classmethod
        @capture_exceptions(client=client)
        def klass_inner(cls, x: int) -> int:
            return cls.factor * 10 // x

        @capture_exceptions(client=client)
        @staticmethod
        def static(x: int) -> int:
            return 10 // x

    service = Service()
    assert service.method(5) == 4
    assert Service.klass(5) == 4
    assert Service.klass_inner(5) == 4
    assert Service.static(5) == 2
    for call in (service.method, Service.klass, Service.klass_inner, Service.static):
        with pytest.raises(ZeroDivisionError):
            call(0)
    assert len(cap.exception_events) == 4
    for event in cap.exception_events:
        assert frames(exceptions(event)[0])[-1]["context_line"].strip().startswith("return")


# ------------------------------------------------------------------ generators and async


def test_generator_body_errors_are_caught(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    def numbers() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("after two")

    assert inspect.isgeneratorfunction(numbers)
    seen = []
    with pytest.raises(ValueError):
        for n in numbers():
            seen.append(n)
    assert seen == [1, 2]
    assert frames(only_entry(cap))[-1]["function"].endswith("numbers")


def test_generator_send_and_close_are_forwarded(cap: Captured) -> None:
    closed = []

    @capture_exceptions(client=cap.client)
    def echo() -> Generator[str, Any, None]:
        try:
            received = yield "ready"
            while True:
                received = yield f"got {received}"
        finally:
            closed.append(True)

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "got a"
    gen.close()
    assert closed == [True]
    assert cap.events == []  # GeneratorExit is not an error


def test_generator_return_value_is_kept(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    def gen() -> Generator[int, None, int]:
        yield 1
        return 5

    def consume() -> Iterator[int]:
        result = yield from gen()
        yield result

    assert list(consume()) == [1, 5]


def test_coroutine_errors_are_caught_at_await(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return 10 // x

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(5)) == 2
    with pytest.raises(ZeroDivisionError):
        asyncio.run(fetch(0))
    assert frames(only_entry(cap))[-1]["function"].endswith("fetch")


def test_cancelled_coroutine_is_not_an_error(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    async def forever() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.ensure_future(forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cap.events == []


def test_async_generator_errors_and_protocol(cap: Captured) -> None:
    @capture_exceptions(client=cap.client)
    async def ticks() -> AsyncGenerator[int, Any]:
        for i in range(3):
            got = yield i
            if got == "stop":
                raise ValueError("stopped")

    assert inspect.isasyncgenfunction(ticks)

    async def main() -> list[int]:
        seen = [i async for i in ticks()]
        agen = ticks()
        assert await agen.__anext__() == 0
        with pytest.raises(ValueError):
            await agen.asend("stop")
        return seen

    assert asyncio.run(main()) == [0, 1, 2]
    assert exceptions(cap.only())[0]["value"] == "stopped"


def test_async_generator_aclose_is_forwarded(cap: Captured) -> None:
    closed = []

    @capture_exceptions(client=cap.client)
    async def stream() -> AsyncGenerator[int, None]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def main() -> None:
        agen = stream()
        assert await agen.__anext__() == 1
        await agen.aclose()

    asyncio.run(main())
    assert closed == [True]
    assert cap.events == []


def test_partial_and_callable_objects(cap: Captured) -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    wrapped: Callable[..., Any] = capture_exceptions(client=cap.client)(functools.partial(add, 1))
    assert asyncio.run(wrapped(2)) == 3


# ------------------------------------------------------------------ context managers


def test_context_manager(cap: Captured) -> None:
    with pytest.raises(ValueError), capture_exceptions(client=cap.client):
        raise ValueError("in block")
    assert exceptions(cap.only())[0]["value"] == "in block"


def test_context_manager_without_reraise(cap: Captured) -> None:
    with capture_exceptions(reraise=False, client=cap.client):
        raise ValueError("swallowed")
    assert exceptions(cap.only())[0]["mechanism"]["handled"] is True


def test_async_context_manager(cap: Captured) -> None:
    async def main() -> None:
        async with capture_exceptions(reraise=False, client=cap.client):
            await asyncio.sleep(0)
            raise ValueError("async block")

    asyncio.run(main())
    assert exceptions(cap.only())[0]["value"] == "async block"
