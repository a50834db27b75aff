"""The ``asyncio`` integration: what an event loop would otherwise only print.

An event loop hands errors nobody can receive to its *exception handler*:
"Task exception was never retrieved" (a task that failed and was never awaited,
reported when it is garbage-collected), exceptions in ``call_soon``/``call_later``
callbacks and protocol methods, errors while shutting down ``asyncio.run()``.
:func:`install_asyncio_handler` sets a handler that sends the ``exception`` of
such a context with ``mechanism.type: onunhandledrejection``, ``handled: false``, level
``error``, ``$exception_source: python.asyncio``, ``$asyncio_message``, and the task's name
(``$asyncio_task_name``) or the callback (``$asyncio_handle``) when there is one,
then *always* calls the handler it replaced (or the loop's default handler, which
logs the usual message). Contexts without an exception (say, "Unclosed client
session" style warnings) are passed on and not sent. ``asyncio.CancelledError``
is not an error and is never sent.

The event carries the failing task's context (its ``new_context()`` tags, person and
session; see :mod:`posthog_exceptions._context`), or the failing callback's. Python 3.12
and later give the handler the task's own context. Before 3.12 a C task hides it, so
installing the handler also wraps the loop's task factory (keeping the one already set):
a task created while a context is active remembers that context, and hands it to its
exception when it fails (a task created outside any context costs one lookup more).

An exception that escapes ``asyncio.run(main())`` is not the loop's business: it
reaches ``sys.excepthook`` like any other, and is sent once.

This module never imports :mod:`asyncio` at import time; the package exports it lazily.
"""

from __future__ import annotations

import sys

from posthog_exceptions import _context
from posthog_exceptions._capture.kinds import ASYNCIO
from posthog_exceptions._log import internal_error
from posthog_exceptions._serialize import safe_repr, safe_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from typing import Any, Callable, Dict, Optional

    from posthog_exceptions._client import Client

    Context = Dict[str, Any]
    PreviousHandler = Optional[Callable[[AbstractEventLoop, Context], object]]


class AsyncioHandler:
    """An event-loop exception handler that sends the context's exception, then chains."""

    __slots__ = ("client", "previous")

    def __init__(self, previous: PreviousHandler, client: Client | None) -> None:
        self.previous = previous
        self.client = client

    def __call__(self, loop: AbstractEventLoop, context: Context) -> None:
        try:
            self._capture(context)
        except Exception:
            internal_error("the asyncio integration failed")
        finally:
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)

    def _capture(self, context: Context) -> None:
        exception = context.get("exception")
        if not isinstance(exception, BaseException):
            return
        client = self.client
        if client is None:
            from posthog_exceptions._default import get_client

            client = get_client()
        if client is None:
            return
        properties: dict[str, Any] = {
            "$asyncio_message": safe_str(context.get("message") or "Unhandled exception", 1000)
        }
        task = context.get("task") or context.get("future")
        get_name = getattr(task, "get_name", None)
        if callable(get_name):
            properties["$asyncio_task_name"] = safe_str(get_name(), 200)
        handle = context.get("handle")
        if handle is not None:
            properties["$asyncio_handle"] = safe_repr(handle, 500)
        scope = _failing_scope(task, handle, exception)
        # (CancelledError is skipped by the kind)
        _context.run_in(scope, client._capture, ASYNCIO, exception, properties=properties)


def _failing_scope(task: object, handle: object, exception: BaseException) -> Any:
    """The library context of the failing task (or callback), or ``None``."""
    get_context = getattr(task, "get_context", None)  # Python 3.12+
    ctx = get_context() if callable(get_context) else getattr(task, "_context", None)
    if ctx is None and handle is not None:
        ctx = getattr(handle, "_context", None)
    if ctx is not None:
        try:
            return ctx.get(_context.VARIABLE)
        except Exception:
            return None
    return _context.remembered(exception)  # what the task factory kept (3.9-3.11)


class _RememberingFactory:
    """A loop's task factory (before Python 3.12) that keeps, for a task created while a
    library context is active, that context, and gives it to the task's exception."""

    __slots__ = ("previous",)

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, loop: AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        if self.previous is not None:
            task = self.previous(loop, coro, **kwargs)
        else:
            import asyncio

            task = asyncio.Task(coro, loop=loop, **kwargs)
        scope = _context.current()
        if scope is not None:
            import functools

            task.add_done_callback(functools.partial(_remember, scope))
        return task


def _remember(scope: Any, task: Any) -> None:
    try:
        exception = None if task.cancelled() else task._exception  # (exception() retrieves)
        if exception is not None:
            _context.remember(exception, scope)
    except Exception:
        pass


def install_asyncio_handler(
    loop: AbstractEventLoop | None = None, *, client: Client | None = None
) -> None:
    """Send what the event loop ``loop`` (by default the running one) can only print.

    ``client`` defaults to the one :func:`init` installed, looked up for each error.
    Idempotent: installing again on the same loop only switches the client. Raises
    ``RuntimeError`` when no loop is given and none is running."""
    if client is not None:
        from posthog_exceptions._client import Client

        if not isinstance(client, Client):
            raise TypeError(f"'client' must be a posthog_exceptions.Client or None, got {client!r}")
    if loop is None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "install_asyncio_handler() needs an event loop: call it inside a coroutine "
                "(a running loop) or pass loop="
            ) from None
    _install(loop, client, replace=True)


def install_in_running_loop() -> None:
    """What :func:`init` does: install a handler (following the default client) in the
    running loop, if any, leaving one that is already there alone."""
    import sys

    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return  # a program that never imported asyncio has no loop
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    _install(loop, None, replace=False)


def _install(loop: AbstractEventLoop, client: Client | None, *, replace: bool) -> None:
    if sys.version_info < (3, 12):
        factory = loop.get_task_factory()
        if not isinstance(factory, _RememberingFactory):
            loop.set_task_factory(_RememberingFactory(factory))
    current = loop.get_exception_handler()
    if isinstance(current, AsyncioHandler):
        if replace:
            current.client = client
        return
    loop.set_exception_handler(AsyncioHandler(current, client))
