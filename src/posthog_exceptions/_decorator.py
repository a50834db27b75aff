"""``capture_exceptions``: a decorator and context manager that sends what escapes a block.

Usable bare (``@capture_exceptions``), with options
(``@capture_exceptions(reraise=False, ignore=(KeyError,), level="warning")``),
and as a context manager (``with capture_exceptions():`` / ``async with``).

The wrapper is chosen when decorating: a plain wrapper would return a
coroutine or generator object before its body ran and never see the exception,
so ``async def`` functions, generators and async generators each get a wrapper
of their own kind that catches what their *body* raises, forwarding
``send``/``throw``/``close`` (and their async forms). ``inspect.signature``,
``__wrapped__``, ``__name__``, ``__doc__``, ``inspect.iscoroutinefunction`` and
friends stay true.

A plain function (which is also what a method is when its class body is run)
gets a plain function of the same kind, made with ``functools.wraps``: on the
happy path it costs what a hand-written ``try``/``except`` does. Everything
else — ``classmethod`` and ``staticmethod`` objects, partials, callable objects
— is wrapped with wrapt's ``FunctionWrapper``, which binds descriptors
correctly at the price of about 0.4 µs a call.

By default the exception is re-raised (``mechanism.handled`` is then omitted:
the decorator cannot know whether something above handles it); with
``reraise=False`` it is swallowed (``handled: true``) and the function returns
``None``. ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit`` and
``asyncio.CancelledError`` are never captured and always propagate. An
exception captured here and re-raised to the global hook is sent only once.
"""

from __future__ import annotations

from _collections_abc import Mapping  # collections.abc, without importing collections

from ._capture import LEVELS, is_flow_control

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator, Sequence
    from types import TracebackType
    from typing import Any, Callable, TypeVar, Union, overload

    from ._client import Client

    F = TypeVar("F", bound=Callable[..., Any])
    DistinctId = Union[str, Callable[[], Union[str, None]], None]


class CaptureExceptions:
    """The object ``capture_exceptions(...)`` returns: a decorator and a context manager."""

    def __init__(
        self,
        *,
        reraise: bool = True,
        ignore: Sequence[type[BaseException]] | type[BaseException] = (),
        properties: Mapping[str, Any] | None = None,
        distinct_id: DistinctId = None,
        level: str | None = None,
        fingerprint: str | Sequence[str] | None = None,
        client: Client | None = None,
    ) -> None:
        if not isinstance(reraise, bool):
            raise TypeError(f"capture_exceptions: 'reraise' must be True or False, got {reraise!r}")
        types = (ignore,) if isinstance(ignore, type) else tuple(ignore)
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
            raise TypeError(f"capture_exceptions: 'ignore' must be exception types, got {ignore!r}")
        if level is not None and level not in LEVELS:
            raise ValueError(f"capture_exceptions: 'level' must be one of {LEVELS}, got {level!r}")
        if properties is not None and not isinstance(properties, Mapping):
            raise TypeError(
                f"capture_exceptions: 'properties' must be a mapping, got {properties!r}"
            )
        self.reraise = reraise
        self.ignore = types
        self.properties = properties
        self.distinct_id = distinct_id
        self.level = level
        self.fingerprint = fingerprint
        self.client = client

    # ---------------------------------------------------------------- decorator

    def __call__(self, wrapped: F) -> F:
        import functools  # deferred: costly imports, needed only when decorating
        import inspect

        target = _unwrap(wrapped)
        if inspect.isasyncgenfunction(target):
            make: Callable[..., Any] = _async_generator_wrapper
        elif inspect.iscoroutinefunction(target):
            make = _coroutine_wrapper
        elif inspect.isgeneratorfunction(target):
            make = _generator_wrapper
        else:
            make = _function_wrapper
        handle = self._handle
        if inspect.isfunction(wrapped):
            # A plain function gets a plain function of the same kind: wrapt's proxy would
            # cost about 0.4 µs a call, three times a hand-written try/except.
            return functools.wraps(wrapped)(make(wrapped, handle))  # type: ignore[return-value]
        import wrapt

        def wrapper(bound: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            return make(bound, handle)(*args, **kwargs)

        # wrapt's stubs declare nothing for Python 3.9, the version mypy checks against.
        return wrapt.FunctionWrapper(wrapped, wrapper)  # type: ignore[attr-defined,no-any-return]

    # ---------------------------------------------------------------- context manager

    def __enter__(self) -> CaptureExceptions:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return exc is not None and not self._handle(exc)

    async def __aenter__(self) -> CaptureExceptions:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return exc is not None and not self._handle(exc)

    # ---------------------------------------------------------------- capture

    def _handle(self, exc: BaseException) -> bool:
        """Send ``exc`` unless ignored; return whether it must propagate."""
        if is_flow_control(exc) or isinstance(exc, self.ignore):
            return True
        client = self.client
        if client is None:
            from ._global import get_client

            client = get_client()
        if client is not None:
            client._capture_exception(
                exc,
                mechanism="decorator",
                handled=None if self.reraise else True,
                level=self.level,
                source="python.decorator",
                distinct_id=self.distinct_id() if callable(self.distinct_id) else self.distinct_id,
                properties=self.properties,
                fingerprint=self.fingerprint,
                automatic=True,
            )
        return self.reraise


def _function_wrapper(function: Callable[..., Any], handle: Callable[[BaseException], bool]) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            if handle(exc):
                raise
            return None

    return call


def _coroutine_wrapper(
    function: Callable[..., Any], handle: Callable[[BaseException], bool]
) -> Any:
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await function(*args, **kwargs)
        except BaseException as exc:
            if handle(exc):
                raise
            return None

    return call


def _generator_wrapper(
    function: Callable[..., Any], handle: Callable[[BaseException], bool]
) -> Any:
    def call(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        try:
            return (yield from function(*args, **kwargs))  # forwards send/throw/close
        except BaseException as exc:
            if handle(exc):
                raise
            return None

    return call


def _async_generator_wrapper(
    function: Callable[..., Any], handle: Callable[[BaseException], bool]
) -> Any:
    async def call(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        try:
            inner = function(*args, **kwargs)
            value: Any = None
            throwing = False
            while True:  # async generators have no "yield from": forward by hand
                try:
                    item = await (inner.athrow(value) if throwing else inner.asend(value))
                except StopAsyncIteration:
                    return
                try:
                    value, throwing = (yield item), False
                except GeneratorExit:
                    await inner.aclose()
                    raise
                except BaseException as thrown:  # athrow() on us: pass it on
                    value, throwing = thrown, True
        except BaseException as exc:
            if handle(exc):
                raise

    return call


def _unwrap(wrapped: Any) -> Any:
    """The function whose kind decides the wrapper: through classmethod, staticmethod,
    partial and callable objects."""
    import functools
    import inspect

    for _ in range(10):
        if isinstance(wrapped, (classmethod, staticmethod)):
            wrapped = wrapped.__func__
        elif isinstance(wrapped, functools.partial):
            wrapped = wrapped.func
        else:
            break
    if not inspect.isfunction(wrapped) and not inspect.ismethod(wrapped) and callable(wrapped):
        call = getattr(type(wrapped), "__call__", None)  # noqa: B004
        if inspect.isfunction(call):
            return call
    return wrapped


if TYPE_CHECKING:

    @overload
    def capture_exceptions(wrapped: F) -> F: ...

    @overload
    def capture_exceptions(
        wrapped: None = None,
        *,
        reraise: bool = True,
        ignore: Sequence[type[BaseException]] | type[BaseException] = (),
        properties: Mapping[str, Any] | None = None,
        distinct_id: DistinctId = None,
        level: str | None = None,
        fingerprint: str | Sequence[str] | None = None,
        client: Client | None = None,
    ) -> CaptureExceptions: ...


def capture_exceptions(
    wrapped: Callable[..., Any] | None = None,
    *,
    reraise: bool = True,
    ignore: Sequence[type[BaseException]] | type[BaseException] = (),
    properties: Mapping[str, Any] | None = None,
    distinct_id: DistinctId = None,
    level: str | None = None,
    fingerprint: str | Sequence[str] | None = None,
    client: Client | None = None,
) -> Any:
    """Send exceptions that escape the decorated callable or the ``with`` block.

    ``client`` defaults to the one :func:`~posthog_exceptions.init` installed, looked up
    when an exception happens. ``distinct_id`` may be a callable, called at that moment.
    """
    capturer = CaptureExceptions(
        reraise=reraise,
        ignore=ignore,
        properties=properties,
        distinct_id=distinct_id,
        level=level,
        fingerprint=fingerprint,
        client=client,
    )
    return capturer if wrapped is None else capturer(wrapped)
