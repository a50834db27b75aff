"""The state of the context: whose events a block of code sends, in which session, with
which tags (the public functions are in :mod:`posthog_exceptions._context_api`).

The state lives in a :class:`contextvars.ContextVar`: each thread and each asyncio task
has its own, and a task starts with the context it was created in; a new thread starts
with none, and so does a forked child.

What the events get (see :mod:`posthog_exceptions._assemble`): the tags as properties
(explicit properties win), ``$session_id`` and ``$window_id`` unless given, and the
distinct id by this precedence — the call's own ``distinct_id``, the context's
(``identify_context``), an integration's ``distinct_id`` callable, the
``X-POSTHOG-DISTINCT-ID`` header a web integration read, the client's ``distinct_id``
option, and else an anonymous one.
"""

from __future__ import annotations

from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextvars import Token
    from typing import Any, Callable, TypeVar

    T = TypeVar("T")


class Context:
    """One scope of context (see the module docstring); :class:`new_context` makes them."""

    __slots__ = (
        "capture_exceptions",
        "client",
        "fresh",
        "header_distinct_id",
        "own_distinct_id",
        "own_session_id",
        "own_tags",
        "own_window_id",
        "parent",
    )

    def __init__(
        self,
        parent: Context | None,
        *,
        fresh: bool = False,
        capture_exceptions: bool = True,
        client: Any = None,
    ) -> None:
        self.parent = None if fresh else parent
        self.fresh = fresh
        self.capture_exceptions = capture_exceptions
        self.client = client
        self.own_distinct_id: str | None = None
        self.own_session_id: str | None = None
        self.own_window_id: str | None = None
        self.header_distinct_id: str | None = None
        """What the browser said in ``X-POSTHOG-DISTINCT-ID`` (below an integration's callable)."""
        self.own_tags: dict[str, Any] = {}

    def distinct_id(self) -> str | None:
        scope: Context | None = self
        while scope is not None:
            if scope.own_distinct_id is not None:
                return scope.own_distinct_id
            scope = scope.parent
        return None

    def header_person(self) -> str | None:
        scope: Context | None = self
        while scope is not None:
            if scope.header_distinct_id is not None:
                return scope.header_distinct_id
            scope = scope.parent
        return None

    def session_id(self) -> str | None:
        scope: Context | None = self
        while scope is not None:
            if scope.own_session_id is not None:
                return scope.own_session_id
            scope = scope.parent
        return None

    def window_id(self) -> str | None:
        scope: Context | None = self
        while scope is not None:
            if scope.own_window_id is not None:
                return scope.own_window_id
            scope = scope.parent
        return None

    def tags(self) -> dict[str, Any]:
        """The tags of this scope and its parents, the innermost winning."""
        if self.parent is None:
            return self.own_tags
        merged = dict(self.parent.tags())
        merged.update(self.own_tags)
        return merged


_current: ContextVar[Context | None] = ContextVar("posthog_exceptions_context", default=None)
VARIABLE = _current
"""The variable itself, for reading it from another :class:`contextvars.Context`."""
_fork_handler_registered = False


def current() -> Context | None:
    """The innermost context of this thread or task, or ``None``."""
    return _current.get()


def enter(scope: Context) -> Token[Context | None]:
    """Make ``scope`` the current context; :func:`leave` with the token puts it back."""
    _forget_in_forked_children()
    return _current.set(scope)


def leave(token: Token[Context | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # a token of another context (a generator resumed elsewhere)
        _current.set(None)


def run_in(scope: Context | None, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` with ``scope`` as the current context (an integration
    that sends for a request after its handler returned: a WSGI body being iterated)."""
    token = _current.set(scope)
    try:
        return function(*args, **kwargs)
    finally:
        leave(token)


REMEMBERED = "__posthog_exceptions_context__"
"""The attribute where an exception keeps the context it escaped from."""


class _Kept:
    """A context kept on an exception; pickled (the exception sent to another process)
    as ``None``."""

    __slots__ = ("scope",)

    def __init__(self, scope: Context) -> None:
        self.scope = scope

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(None), ())


def remember(exc: BaseException, scope: Context | None) -> None:
    """Keep on ``exc`` the context it escapes from (the innermost one wins), for a hook
    that sends it after the context has ended: ``threading.excepthook`` once the thread's
    target (run by :func:`bind_context`) has returned, the asyncio handler."""
    if scope is None or isinstance(getattr(exc, REMEMBERED, None), _Kept):
        return
    try:
        setattr(exc, REMEMBERED, _Kept(scope))
    except Exception:
        pass  # an exception without a __dict__: sent with the context current then


def remembered(exc: BaseException) -> Context | None:
    """The context ``exc`` escaped from (see :func:`remember`), or ``None``."""
    try:
        kept = getattr(exc, REMEMBERED, None)
    except Exception:
        return None
    return kept.scope if isinstance(kept, _Kept) else None


def _forget_in_forked_children() -> None:
    """A forked child starts with no context (the fork may happen inside a request)."""
    global _fork_handler_registered
    if not _fork_handler_registered:
        _fork_handler_registered = True
        import os

        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _current.set(None))
