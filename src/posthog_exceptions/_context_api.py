"""Context: whose events a block of code sends, in which session, with which tags.

The names are posthog-python's, so that code written against it keeps working::

    with posthog_exceptions.new_context():
        posthog_exceptions.identify_context(user.id)
        posthog_exceptions.set_context_session(session_id)
        posthog_exceptions.tag("plan", "pro")
        ...  # every event sent here carries them

- :class:`new_context` is a context manager (``with`` and ``async with``) and a decorator
  (of plain and ``async`` functions). A context inherits its parent's distinct id,
  session id and tags unless ``fresh=True``; its own tags win over its parent's. With
  ``capture_exceptions=True`` (the default) an exception escaping the block is sent
  (then re-raised), with ``mechanism.type`` ``generic`` and ``$exception_source``
  ``python.new_context``.
- :func:`tag`, :func:`identify_context` and :func:`set_context_session` change the
  innermost context; outside any context they do nothing (as in posthog-python).
- The state (:mod:`posthog_exceptions._context`) lives in a
  :class:`contextvars.ContextVar`: each thread and each asyncio task has its own, and
  a task starts with the context it was created in. A new thread starts with none:
  :func:`bind_context` carries the current one into a thread or an executor. A forked
  child starts with none.

What the events get (see :mod:`posthog_exceptions._assemble`): the tags as properties
(explicit properties win), ``$session_id`` and ``$window_id`` unless given, and the
distinct id by this precedence — the call's own ``distinct_id``, the context's
(:func:`identify_context`), an integration's ``distinct_id`` callable, the
``X-POSTHOG-DISTINCT-ID`` header a web integration read, the client's ``distinct_id``
option, and else an anonymous one.
"""

from __future__ import annotations

from ._context import Context, current, enter, leave, remember

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextvars import Token
    from types import TracebackType
    from typing import Any, Callable, TypeVar

    from ._client import Client

    F = TypeVar("F", bound=Callable[..., Any])
    T = TypeVar("T")


class new_context:  # posthog-python's name, used as a function
    """A new context: ``with new_context(): ...``, ``async with``, or ``@new_context()``.

    ``fresh=True`` starts empty instead of inheriting the parent's distinct id, session
    and tags; ``capture_exceptions`` sends an exception escaping the block (and re-raises
    it); ``client`` (default: the one :func:`~posthog_exceptions.init` installed) is the
    client that sends it."""

    def __init__(
        self, fresh: bool = False, capture_exceptions: bool = True, *, client: Client | None = None
    ) -> None:
        if not isinstance(fresh, bool) or not isinstance(capture_exceptions, bool):
            raise TypeError(
                "new_context: 'fresh' and 'capture_exceptions' must be True or False, got "
                f"{fresh!r} and {capture_exceptions!r}"
            )
        self.fresh = fresh
        self.capture_exceptions = capture_exceptions
        self.client = client
        self._tokens: list[Token[Context | None]] = []

    def __enter__(self) -> Context:
        scope = Context(
            current(),
            fresh=self.fresh,
            capture_exceptions=self.capture_exceptions,
            client=self.client,
        )
        self._tokens.append(enter(scope))
        return scope

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                remember(exc, current())
                if self.capture_exceptions:
                    _send_escaping(exc, self.client)
        finally:
            leave(self._tokens.pop())

    async def __aenter__(self) -> Context:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, function: F) -> F:
        import functools
        import inspect

        settings = (self.fresh, self.capture_exceptions, self.client)
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with new_context(settings[0], settings[1], client=settings[2]):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with new_context(settings[0], settings[1], client=settings[2]):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]


def scoped(fresh: bool = False, capture_exceptions: bool = True) -> Callable[[F], F]:
    """posthog-python's decorator form of :class:`new_context`."""
    return new_context(fresh, capture_exceptions)


def tag(name: str, value: Any) -> None:
    """Add a tag (an event property) to the current context; nothing outside one."""
    scope = current()
    if scope is not None and isinstance(name, str) and name:
        scope.own_tags[name] = value


def get_tags() -> dict[str, Any]:
    """A copy of the current context's tags (its parents' included)."""
    scope = current()
    return {} if scope is None else dict(scope.tags())


def identify_context(distinct_id: str) -> None:
    """Send the current context's events as ``distinct_id`` (unless a call names its own)."""
    scope = current()
    if scope is not None:
        from ._event import normalize_distinct_id

        scope.own_distinct_id = normalize_distinct_id(distinct_id)


def set_context_session(session_id: str) -> None:
    """Attach the current context's events to a session (``$session_id``): the session
    replay of the browser that made the request, say."""
    scope = current()
    if scope is not None and isinstance(session_id, str) and session_id.strip():
        scope.own_session_id = session_id.strip()


def bind_context(function: Callable[..., T]) -> Callable[..., T]:
    """``function``, to run in (a copy of) the context current now — for a thread's target
    or an executor's task, which would otherwise start without one::

        threading.Thread(target=posthog_exceptions.bind_context(work)).start()
        executor.submit(posthog_exceptions.bind_context(work), item)
    """
    import contextvars
    import functools

    captured = contextvars.copy_context()

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> T:
        return captured.copy().run(_remembering, function, args, kwargs)

    return run


def _remembering(function: Callable[..., T], args: Any, kwargs: Any) -> T:
    try:
        return function(*args, **kwargs)
    except BaseException as exc:  # the thread's hook sends it after the context ended
        remember(exc, current())
        raise


def _send_escaping(exc: BaseException, client: Client | None) -> None:
    from ._capture.kinds import NEW_CONTEXT

    if client is None:
        from ._default import get_client

        client = get_client()
    if client is not None:
        client._capture(NEW_CONTEXT, exc)
