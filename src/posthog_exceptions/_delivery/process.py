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
import sys
import threading
import weakref

from posthog_exceptions._log import get_logger, internal_error
from posthog_exceptions._own import forget_locks

from .transport import import_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Protocol


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
    watch_children()
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


# ------------------------------------------------------------ multiprocessing children

_children_watched = False
_child_reporters: list[Callable[[BaseException], None]] = []


class _Marker:
    """What ``multiprocessing.util.register_after_fork`` keys our registration by."""


_MARKER = _Marker()


def watch_children() -> None:
    """Make every ``multiprocessing`` child deliver what it captured before it ends.

    A child ends with ``os._exit()``: no ``atexit`` handler runs there. But it runs the
    ``multiprocessing`` finalizers at the end of its target, inside the ``finally`` that
    the target's own exception (if one escapes) is passing through. Registered once per
    process (fork children inherit the registration; a spawned or forkserver child makes
    its own when it calls ``init()`` as it imports the main module), and only where the
    program has imported ``multiprocessing``."""
    global _children_watched
    if _children_watched or "multiprocessing" not in sys.modules:
        return
    _children_watched = True
    try:
        import multiprocessing.util

        # Fork and forkserver children clear the finalizers they inherit, then run these:
        multiprocessing.util.register_after_fork(_MARKER, _in_a_child)
        # a spawned child keeps what it registers while importing the main module.
        _in_a_child(_MARKER)
    except Exception:
        internal_error("could not watch multiprocessing children")


def before_child_exit(report: Callable[[BaseException], None]) -> None:
    """Call ``report(exception)`` with an exception escaping a child's target, before the
    child's events are delivered (the interpreter hooks report it: the child never
    reaches ``sys.excepthook``)."""
    if report not in _child_reporters:
        _child_reporters.append(report)


def _in_a_child(_marker: object) -> None:
    """Register the end-of-child delivery: in each fork or forkserver child as it starts
    (after ``multiprocessing`` cleared its finalizers), and once where watching begins
    (a spawned child; in the main process it runs at exit, alongside our own handler)."""
    import multiprocessing
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _child_ending, exitpriority=CHILD_EXIT_PRIORITY)
    if multiprocessing.parent_process() is not None:  # a child, its Process object set
        _report_what_escapes(multiprocessing.current_process())


def _report_what_escapes(process: Any) -> None:
    """Wrap this child's own ``run`` (on the instance, nothing else changes) so that an
    exception escaping the target is reported before ``multiprocessing`` prints it:
    Python 3.13 no longer runs the finalizers inside the ``finally`` it passes through."""
    run = process.run

    def run_and_report() -> Any:
        try:
            return run()
        except BaseException as exc:
            _report(exc)
            raise

    process.run = run_and_report


CHILD_EXIT_PRIORITY = 100
"""Before the other finalizers of ``multiprocessing`` (pools, managers) tear things down."""


def _child_ending() -> None:
    escaping = sys.exc_info()[1]  # up to 3.12: the target's exception, on its way out
    if escaping is not None:
        _report(escaping)  # (once: the wrapper of run() may have reported it already)
    _each(lambda w: w.at_exit())()


def _report(exc: BaseException) -> None:
    for report in list(_child_reporters):
        try:
            report(exc)
        except Exception:
            internal_error("reporting the exception of a multiprocessing child failed")
