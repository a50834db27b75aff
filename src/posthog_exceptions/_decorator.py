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
gets a plain function of the same kind, made with ``functools.wraps`` — for a
plain (non-async, non-generator) function one compiled with the same parameters,
so that the call is forwarded without packing ``*args, **kwargs``: on the happy
path it costs what a hand-written ``try``/``except`` does. (An argument error is
then raised by the wrapper itself, as by the function, and not captured: it is the
caller's mistake and surfaces at the call.) Everything
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

from ._capture.kinds import DECORATOR, DECORATOR_SWALLOWED, LEVELS
from ._capture.rules import is_flow_control
from ._default import get_client
from ._log import logger

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
            if make is _function_wrapper:
                make = _exact_function_wrapper
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
        """Send ``exc`` unless ignored; return whether it must propagate. Never raises, so
        the program's own exception always goes on as it would have."""
        if is_flow_control(exc) or issubclass(type(exc), self.ignore):
            return True
        try:
            self._send(exc)
        except Exception:
            pass  # out of stack or memory where even the client's boundary could not run
        return self.reraise

    def _send(self, exc: BaseException) -> None:
        client = self.client if self.client is not None else get_client()
        if client is None:
            return
        distinct_id = self.distinct_id
        if callable(distinct_id):
            try:
                distinct_id = distinct_id()
            except Exception:
                logger.warning(
                    "the capture_exceptions distinct_id callable raised; the exception is sent "
                    "without a person",
                    exc_info=True,
                )
                distinct_id = None
        client._capture(
            DECORATOR if self.reraise else DECORATOR_SWALLOWED,
            exc,
            distinct_id=distinct_id,
            properties=self.properties,
            fingerprint=self.fingerprint,
            level=self.level,
        )


def _function_wrapper(function: Callable[..., Any], handle: Callable[[BaseException], bool]) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            if handle(exc):
                raise
            return None

    return call


_WRAPPER_FILENAME = "<posthog_exceptions.capture_exceptions>"
_FUNCTION = "_posthog_exceptions_function"
_HANDLE = "_posthog_exceptions_handle"


def _exact_function_wrapper(
    function: Callable[..., Any], handle: Callable[[BaseException], bool]
) -> Any:
    """:func:`_function_wrapper` with the parameters of ``function`` instead of
    ``*args, **kwargs``: packing and unpacking those cost more than the ``try`` itself.

    The wrapper is compiled from a few generated lines that only forward the arguments
    (positional parameters by position, keyword-only ones by name), its defaults are
    ``function``'s own objects, and it runs in a namespace named after this module, so
    its frame is left out of events like the library's other frames. A signature it
    cannot reproduce falls back to :func:`_function_wrapper`."""
    forwarding = _forwarding(function)
    if forwarding is None:
        return _function_wrapper(function, handle)
    declared, passed = forwarding
    source = (
        f"def call({', '.join(declared)}):\n"
        f"    try:\n"
        f"        return {_FUNCTION}({', '.join(passed)})\n"
        f"    except BaseException as exc:\n"
        f"        if {_HANDLE}(exc):\n"
        f"            raise\n"
        f"        return None\n"
    )
    namespace: dict[str, Any] = {"__name__": __name__, _FUNCTION: function, _HANDLE: handle}
    try:
        exec(compile(source, _WRAPPER_FILENAME, "exec"), namespace)
    except SyntaxError:
        return _function_wrapper(function, handle)
    call = namespace["call"]
    call.__defaults__ = getattr(function, "__defaults__", None)
    call.__kwdefaults__ = getattr(function, "__kwdefaults__", None)
    return call


def _forwarding(function: Callable[..., Any]) -> tuple[list[str], list[str]] | None:
    """The parameter list of a wrapper with ``function``'s parameters, and the arguments
    it passes on; ``None`` when the signature cannot be reproduced."""
    import inspect

    try:
        parameters = inspect.signature(function, follow_wrapped=False).parameters.values()
    except (TypeError, ValueError):
        return None
    declared: list[str] = []
    passed: list[str] = []
    kind = inspect.Parameter
    slash = star = False
    for parameter in parameters:
        name = parameter.name
        if name in (_FUNCTION, _HANDLE) or not name.isidentifier():
            return None
        default = "" if parameter.default is kind.empty else "=None"
        if parameter.kind is kind.POSITIONAL_ONLY:
            slash = True
        elif slash:
            declared.append("/")
            slash = False
        if parameter.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD):
            declared.append(name + default)
            passed.append(name)
        elif parameter.kind is kind.VAR_POSITIONAL:
            declared.append("*" + name)
            passed.append("*" + name)
            star = True
        elif parameter.kind is kind.KEYWORD_ONLY:
            if not star:
                declared.append("*")
                star = True
            declared.append(name + default)
            passed.append(f"{name}={name}")
        else:  # VAR_KEYWORD
            declared.append("**" + name)
            passed.append("**" + name)
    if slash:
        declared.append("/")
    return declared, passed


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
