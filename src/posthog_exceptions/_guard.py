"""The never-raise boundary of the public entry points.

:func:`never_raise` turns any ``Exception`` inside a call into a log line on the
``posthog_exceptions`` logger, a count (``internal_error``) and a fallback value. It
catches ``Exception`` only, so ``KeyboardInterrupt`` and ``SystemExit`` still reach the
program. The boundary holds where the interpreter itself is short of something:

- its own error handling is guarded too — at the recursion limit, logging the error
  needs frames there are none of; under ``MemoryError`` it needs memory; and a signal
  handler can run while ``logging`` is half imported. Whatever fails there is given up
  silently, and the call returns its fallback;
- a ``RecursionError`` goes up to the outermost boundary on the thread, which has the
  most stack left. With ``headroom=True`` (the exception capture path), a call that ran
  out of stack before its event was queued (``work.queued``) is tried once more with the
  recursion limit raised by :data:`HEADROOM` frames, so that an error caught deep in a
  recursion can still be reported; one whose event was queued returns its uuid and never
  sends twice. The outermost boundary puts the limit back as it returns — or, when it is
  itself deeper than the old limit allows, the next one that returns higher up.
"""

from __future__ import annotations

import sys

from ._log import internal_error
from ._own import reentered, work

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

HEADROOM = 256
"""Frames added to the recursion limit for the second try of a capture that ran out."""
_raised_from: int | None = None
"""The recursion limit before a second try raised it, until it is put back."""


def never_raise(fallback: Any, *, headroom: bool = False) -> Callable[[F], F]:
    """Decorate ``method`` so that it returns ``fallback`` instead of raising ``Exception``.

    Boundaries nest (a module function calls a client method, which calls another): a
    ``RecursionError`` goes up to the outermost one on the thread, which has the most
    stack left to handle it with, and which tries once more with more room when
    ``headroom`` is set."""

    def decorate(method: F) -> F:
        name = method.__name__

        def guarded(*args: Any, **kwargs: Any) -> Any:
            state = work
            outermost = not state.guards
            if outermost:
                state.queued = None
            state.guards += 1
            try:
                try:
                    return method(*args, **kwargs)
                except RecursionError:
                    if not outermost:
                        raise  # to the outermost boundary, which has more stack
                except Exception:
                    try:
                        _swallow(name, args)
                    except Exception:
                        pass  # not even the stack to log it with
                    return fallback
                # Out of the except clause, so that sys.exc_info() is the caller's again
                # (a second try of capture_exception() must see the caller's exception).
                if state.queued is not None:
                    return state.queued  # the event is queued: only the way back failed
                if headroom and _raised_from is None:
                    try:
                        _raise_limit()
                        return method(*args, **kwargs)
                    except Exception:
                        pass
                try:
                    _swallow(name, args)
                except Exception:
                    pass
                return fallback
            finally:
                state.guards -= 1
                if outermost and _raised_from is not None:
                    try:
                        _put_back()
                    except Exception:
                        pass  # still deeper than the old limit: a later boundary will

        guarded.__name__ = name
        guarded.__qualname__ = method.__qualname__
        guarded.__doc__ = method.__doc__
        guarded.__wrapped__ = method  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def _raise_limit() -> None:
    global _raised_from
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + HEADROOM)
    _raised_from = limit


def _put_back() -> None:
    """Lower the recursion limit again (unless another thread changed it meanwhile);
    raises ``RecursionError`` while the stack is still deeper than the old limit."""
    global _raised_from
    limit = _raised_from
    if limit is not None:
        if sys.getrecursionlimit() == limit + HEADROOM:
            sys.setrecursionlimit(limit)
        _raised_from = None


def _swallow(name: str, args: tuple[Any, ...]) -> None:
    """Log and count an error swallowed by the boundary of ``name`` (the caller guards the
    call: at the recursion limit, or without memory, even this may fail)."""
    internal_error("posthog_exceptions: %s() failed", name)
    counters = getattr(args[0], "_counters", None) if args else None
    drop = getattr(counters, "drop", None)
    if drop is not None:
        drop("internal_error")


def capture_entry(method: F) -> F:
    """A client method that captures (used under :func:`never_raise`): it refuses to
    re-enter, and does nothing for a disabled client.

    A capture that starts on a thread where another is building its event — a signal
    handler or a finaliser interrupting it, a ``__repr__``, ``before_send`` or logging
    handler that captures — or where the library holds a lock, is dropped and counted
    (``dropped["reentrant"]``), never waited for: waiting there could only deadlock. (One
    that starts while a request is on the wire is queued: see ``_own.reentered``.)"""

    def entry(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._enabled:
            return None
        if reentered():
            self._counters.drop("reentrant")
            return None
        state = work
        previous, state.capturing = state.capturing, True
        try:
            return method(self, *args, **kwargs)
        finally:
            state.capturing = previous

    entry.__name__ = method.__name__
    entry.__qualname__ = method.__qualname__
    entry.__doc__ = method.__doc__
    return entry  # type: ignore[return-value]
