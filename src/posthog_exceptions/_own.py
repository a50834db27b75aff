"""How the library recognises its own code and its own work: one place for both.

- **Its code**: :data:`PACKAGE` is the package's name and :data:`DIRECTORY` its folder.
  :func:`is_own_module` (a frame's ``__name__``) and :func:`is_own_file` (a code object's
  file) answer "is this the library?" — for leaving its frames out of events, for never
  cutting its code short in a time-bounded ``repr()``, for finding the caller of a
  logging call. Both come from this module's own location, so renaming or moving a
  module cannot make them silently wrong.
- **Its work**: :data:`work` holds thread-local flags, set while the library works on
  that thread — ``capturing`` while a capture builds and queues an event,
  ``delivering`` while it sends a batch, ``holding`` while it holds one of its locks
  (:class:`OwnLock`), ``counting`` while it updates its counters. Whatever runs
  meanwhile on the same thread — a signal handler, a finaliser the garbage collector
  calls, a ``__repr__`` that captures, a ``before_send`` or an application's logging
  handler that logs — asks :data:`work` before it captures or waits: that is how the
  library never captures itself, and never waits on itself (a lock a nested call
  waited for would be held by the very thread waiting: a deadlock).

A flag is raised *before* the work it covers starts and lowered *after* it ends, so a
signal that lands between the two sees it raised: the window errs on the safe side.
"""

from __future__ import annotations

import os
import threading

PACKAGE = __name__.rpartition(".")[0]
"""The package's import name (``posthog_exceptions``)."""
DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")
"""The package's folder, with a trailing separator (so a sibling ``…_extra`` never matches)."""
_PREFIX = PACKAGE + "."
_get_ident = threading.get_ident


def is_own_module(name: object) -> bool:
    """Whether ``name`` (a module's ``__name__``) is the package or one of its modules."""
    return type(name) is str and (name == PACKAGE or name.startswith(_PREFIX))


def is_own_file(path: str) -> bool:
    """Whether ``path`` (a code object's ``co_filename``) is a file of the package."""
    return path.startswith(DIRECTORY)


class _Work(threading.local):
    """What the library is doing on the current thread."""

    capturing = False
    """A capture entry point is building or queueing an event."""
    delivering = False
    """Sending a batch (the worker thread; the calling thread in sync mode and at exit)."""
    holding = 0
    """How many of the library's locks (:class:`OwnLock`) this thread holds, or is taking."""
    counting = False
    """Updating the counters (``_stats.Counters``)."""
    guards = 0
    """How many never-raise boundaries (``_guard.never_raise``) this thread is inside."""
    queued: str | None = None
    """The uuid of the event the current capture put in the queue, once it is there."""


work = _Work()
"""The current thread's flags (see the module docstring)."""

_FLAGS = ("capturing", "delivering", "holding", "counting", "guards", "queued")


def renew_work() -> None:
    """``threading`` was monkey-patched after the library was imported (gevent, eventlet:
    gunicorn ``--preload`` with gevent workers): make :data:`work` per greenlet.

    The flags were per OS thread, which every greenlet shares: one greenlet that yields
    mid-capture would make every other one's capture look re-entrant. A new object of a
    class on the patched ``threading.local`` takes over in every module of the library
    that imported :data:`work`. Called at the top of ``Worker.put``, where no lock of the
    library's is held: the capture under way restores its flags on the old object (its
    frames hold it), so the new one starts from the defaults for every greenlet."""
    global work
    old = work
    if isinstance(old, threading.local):
        return  # made on the patched class already
    defaults = {name: getattr(_Work, name) for name in _FLAGS}
    new = type("_Work", (threading.local,), {"__doc__": _Work.__doc__, **defaults})()
    import sys

    for name, module in list(sys.modules.items()):
        if (name == PACKAGE or name.startswith(_PREFIX)) and getattr(module, "work", None) is old:
            module.work = new
    work = new


def busy() -> bool:
    """Whether the library is capturing or delivering on this thread, or holds a lock."""
    return work.capturing or work.delivering or bool(work.holding)


def reentered() -> bool:
    """Whether a capture starting now would re-enter one that is building its event on
    this thread, or run while this thread holds a lock of the library's (which the capture
    might wait for). During delivery proper — a request on the wire — a capture is safe:
    it is queued, and the delivery under way sends it."""
    state = work
    return bool(state.holding) or (state.capturing and not state.delivering)


class OwnLock:
    """A lock of the library's that records, in ``work.holding``, that this thread holds it.

    Works with :class:`threading.Condition`. ``holding`` is raised before the lock is
    taken and lowered after it is released (see the module docstring)."""

    __slots__ = ("_lock", "_owner")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = 0  # the holder's thread id (for Condition: _is_owned)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        state = work
        state.holding += 1
        try:
            taken = self._lock.acquire(blocking, timeout)
        except BaseException:
            state.holding -= 1
            raise
        if taken:
            self._owner = _get_ident()
        else:
            state.holding -= 1
        return taken

    def release(self) -> None:
        self._owner = 0
        self._lock.release()
        work.holding -= 1

    def locked(self) -> bool:
        return self._lock.locked()

    def renew(self) -> None:
        """Take a new lock from what ``threading.Lock`` is now (monkey-patched since this
        one was made); only while nobody holds or waits for it."""
        self._lock = threading.Lock()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:  # release(), inline
        self._owner = 0
        self._lock.release()
        work.holding -= 1

    # What threading.Condition asks of its lock, answered directly (its fallbacks would
    # take and release the lock once more on every notify).
    def _is_owned(self) -> bool:
        return self._owner == _get_ident()

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, _state: object) -> None:
        self.acquire()


def forget_locks() -> None:
    """In a forked child: the locks the forking thread held are the parent's (the child
    makes its own), so this thread holds none of the library's."""
    work.holding = 0
    work.counting = False
