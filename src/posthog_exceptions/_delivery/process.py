"""Process-wide hooks for the delivery workers: the exit-time flush and fork safety.

Registered once, when the first worker thread starts (importing the library
registers nothing):

- an ``atexit`` handler that runs every live worker's exit-time flush;
- ``os.register_at_fork`` handlers. Before the fork, they take
  :data:`~posthog_exceptions._delivery.transport.import_lock` (so no delivery thread is
  half-way through importing ``gzip`` or ``requests``, which would leave the
  child a module that can never finish initialising) and every worker's lock
  (so no queue is caught mid-update). The child then gives every worker fresh
  state; the parent just releases the locks.

Workers are held weakly: a client that is garbage-collected drops out.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref

from posthog_exceptions._log import get_logger, internal_error
from posthog_exceptions._own import forget_locks

from .transport import import_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Protocol


if TYPE_CHECKING:

    class ProcessAware(Protocol):
        def at_exit(self) -> None: ...

        def before_fork(self) -> None: ...

        def after_fork_in_parent(self) -> None: ...

        def after_fork_in_child(self) -> None: ...


_tracked: weakref.WeakSet[ProcessAware] = weakref.WeakSet()
_installed = False
_lock = threading.Lock()


def track(worker: ProcessAware) -> None:
    _tracked.add(worker)


def install_hooks() -> None:
    """Register the exit and fork handlers, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(_each(lambda w: w.at_exit()))
    if hasattr(os, "register_at_fork"):
        # logging registers a before/after pair of fork handlers when imported. Were it
        # imported while our before-fork handler waits for a delivery thread's import
        # (requests imports logging), its after-handler would run without its before.
        get_logger()
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )


def _each(method: Callable[[ProcessAware], None]) -> Callable[[], None]:
    def run() -> None:
        for worker in list(_tracked):
            try:
                method(worker)
            except Exception:
                internal_error("a process hook failed")

    return run


_lock_workers = _each(lambda w: w.before_fork())
_unlock_workers = _each(lambda w: w.after_fork_in_parent())
_reset_workers = _each(lambda w: w.after_fork_in_child())


def _before_fork() -> None:
    import_lock.acquire()  # wait for a delivery thread's import to finish
    _lock_workers()


def _after_fork_in_parent() -> None:
    _unlock_workers()
    import_lock.release()


def _after_fork_in_child() -> None:
    import_lock.release()
    forget_locks()  # the workers' locks, taken before the fork, are replaced, not released
    _reset_workers()
