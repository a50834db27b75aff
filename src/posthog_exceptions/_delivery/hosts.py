"""What the host process lets a delivery thread do.

uWSGI before 2.0.27 runs the application's Python without background threads unless it
is started with ``--enable-threads`` (or ``--threads N``, which implies it): a thread the
library starts there never gets to run, and its queue would only grow (from 2.0.27 on,
threads are always enabled and the option is a stub). :func:`threads_unavailable` says
so, and the worker then sends from the capturing thread, like ``sync_mode``.

The module ``uwsgi`` exists only inside a uWSGI process; its ``opt`` mapping holds the
options it was started with (``True`` for a bare flag, bytes for a value).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TRUE = ("1", "true", "yes", "on", "y")
THREADS_ALWAYS = (2, 0, 27)
"""The uWSGI release from which Python threads are always enabled."""


def threads_unavailable() -> str | None:
    """Why a background thread would never run in this process, or ``None`` if it would."""
    uwsgi: Any = sys.modules.get("uwsgi")
    if uwsgi is None:
        return None  # not a uWSGI process (it imports the module before the application)
    try:
        version = tuple(getattr(uwsgi, "version_info", (0,))[:3])
        options = dict(getattr(uwsgi, "opt", {}))
    except Exception:  # an unexpected shape: assume threads run
        return None
    if version >= THREADS_ALWAYS:
        return None
    if _flag(options.get("enable-threads")) or _number(options.get("threads")) > 1:
        return None
    return (
        "uWSGI runs this application without threads (start it with --enable-threads "
        "for background delivery)"
    )


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (list, tuple)) and value:  # an option given more than once
        return _text(value[-1])
    return str(value)


def _flag(value: object) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    return _text(value).strip().lower() in _TRUE


def _number(value: object) -> int:
    if value is None or isinstance(value, bool):
        return 0
    try:
        return int(_text(value).strip())
    except ValueError:
        return 0
