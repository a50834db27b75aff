"""How the library recognises its own code and its own work: one place for both.

- **Its code**: :data:`PACKAGE` is the package's name and :data:`DIRECTORY` its folder.
  :func:`is_own_module` (a frame's ``__name__``) and :func:`is_own_file` (a code object's
  file) answer "is this the library?" — for leaving its frames out of events, for never
  cutting its code short in a time-bounded ``repr()``, for finding the caller of a
  logging call. Both come from this module's own location, so renaming or moving a
  module cannot make them silently wrong.
- **Its work**: :data:`work` is a thread-local flag pair, set while the library works on
  that thread — ``capturing`` while it builds and queues an exception event,
  ``delivering`` while it sends a batch. Whatever runs meanwhile on the same thread (a
  ``__repr__`` that captures, a ``before_send`` that logs, a custom transport's log
  line, a hook that fires) asks :data:`work` before it captures: that is how the library
  never captures itself, and never waits on itself.

Set the flags with save and restore (``previous = work.capturing; work.capturing = True;
try: ... finally: work.capturing = previous``), so nested uses compose.
"""

from __future__ import annotations

import os
import threading

PACKAGE = __name__.rpartition(".")[0]
"""The package's import name (``posthog_exceptions``)."""
DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")
"""The package's folder, with a trailing separator (so a sibling ``…_extra`` never matches)."""
_PREFIX = PACKAGE + "."


def is_own_module(name: object) -> bool:
    """Whether ``name`` (a module's ``__name__``) is the package or one of its modules."""
    return type(name) is str and (name == PACKAGE or name.startswith(_PREFIX))


def is_own_file(path: str) -> bool:
    """Whether ``path`` (a code object's ``co_filename``) is a file of the package."""
    return path.startswith(DIRECTORY)


class _Work(threading.local):
    """What the library is doing on the current thread."""

    capturing = False
    """Building and queueing an exception event (from any capture entry point)."""
    delivering = False
    """Sending a batch (the worker thread; the calling thread in sync mode and at exit)."""


work = _Work()
"""The current thread's flags (see the module docstring)."""


def busy() -> bool:
    """Whether the library is capturing or delivering on this thread."""
    return work.capturing or work.delivering
