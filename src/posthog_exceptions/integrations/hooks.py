"""The interpreter's official hooks for errors nobody caught.

- ``sys.excepthook``: an unhandled error in the main thread. Sent with
  ``handled: false`` and level ``fatal``, then *delivered* (a flush bounded by
  ``shutdown_timeout``) before the previous hook prints the traceback, because
  the process is about to end.
- ``threading.excepthook``: an error that ended a thread. ``handled: false``,
  level ``error``, the thread's name in ``$thread_name``.
- ``sys.unraisablehook``: errors Python can only print — in ``__del__``,
  weakref callbacks, generator finalisers. ``handled: false``, level ``error``.

Etiquette: each hook captures inside a guard and then *always* calls the hook
it replaced, so the usual traceback is still printed and the exit status is
unchanged. Installing twice is harmless; the most recent client wins.
Uninstalling restores a hook only where ours is still the installed one (if
someone wrapped ours since, it stays in their chain and just passes calls
through). ``sys.excepthook`` is left alone in interactive sessions unless
``capture_interactive=True``: a typo at the ``>>>`` prompt is not a bug.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

from posthog_exceptions._capture.kinds import EXCEPTHOOK, THREADING, UNRAISABLE
from posthog_exceptions._log import internal_error
from posthog_exceptions._serialize import safe_repr

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType
    from typing import Protocol

    from posthog_exceptions._capture.kinds import CaptureKind
    from posthog_exceptions._config import Options

    class Client(Protocol):
        """What the hooks use of a :class:`~posthog_exceptions.Client` (the client installs
        the hooks, so this module does not import the client's)."""

        options: Options

        def _capture(
            self,
            kind: CaptureKind,
            exception: Any,
            *,
            properties: Mapping[str, Any] | None = None,
        ) -> str | None: ...

        def _flush_for_exit(self) -> bool: ...


_lock = threading.Lock()
_THREAD_HOOK_DEFAULT = getattr(threading, "__excepthook__", threading.excepthook)  # 3.9 has none
_client: Client | None = None
_previous: dict[str, Any] = {}


def install(client: Client) -> None:
    global _client
    with _lock:
        _client = client
        interactive = hasattr(sys, "ps1") or bool(sys.flags.interactive)
        if not interactive or client.options.capture_interactive:
            _swap(sys, "excepthook", _excepthook)
        _swap(threading, "excepthook", _threading_excepthook)
        _swap(sys, "unraisablehook", _unraisablehook)


def uninstall(client: Client | None = None) -> None:
    """Restore the previous hooks (when ``client`` is given, only if it is the one installed)."""
    global _client
    with _lock:
        if client is not None and _client is not client:
            return
        _client = None
        for owner, name, ours in (
            (sys, "excepthook", _excepthook),
            (threading, "excepthook", _threading_excepthook),
            (sys, "unraisablehook", _unraisablehook),
        ):
            key = f"{owner.__name__}.{name}"
            if getattr(owner, name) is ours and key in _previous:
                setattr(owner, name, _previous.pop(key))


def installed_client() -> Client | None:
    return _client


def _swap(owner: Any, name: str, ours: Callable[..., None]) -> None:
    current = getattr(owner, name)
    if current is not ours:
        _previous[f"{owner.__name__}.{name}"] = current
        setattr(owner, name, ours)


def _call_previous(key: str, default: Callable[..., None], *args: Any) -> None:
    previous = _previous.get(key, default)
    previous(*args)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    client = None
    try:
        client = _client
        if client is not None:
            client._capture(EXCEPTHOOK, (exc_type, exc, tb))
    except Exception:
        internal_error("the sys.excepthook integration failed")
    finally:
        _call_previous("sys.excepthook", sys.__excepthook__, exc_type, exc, tb)
    if client is not None:  # the traceback is printed: now deliver, before the process ends
        try:
            client._flush_for_exit()
        except Exception:
            internal_error("the sys.excepthook integration failed")


def _threading_excepthook(args: threading.ExceptHookArgs) -> None:
    try:
        client = _client
        if client is not None and args.exc_value is not None:
            thread = args.thread
            client._capture(
                THREADING,
                (args.exc_type, args.exc_value, args.exc_traceback),
                properties={"$thread_name": thread.name if thread is not None else None},
            )
    except Exception:
        internal_error("the threading.excepthook integration failed")
    finally:
        _call_previous("threading.excepthook", _THREAD_HOOK_DEFAULT, args)


def _unraisablehook(unraisable: Any) -> None:
    try:
        client = _client
        exc = getattr(unraisable, "exc_value", None)
        if client is not None and exc is not None:
            client._capture(
                UNRAISABLE,
                (unraisable.exc_type, exc, unraisable.exc_traceback),
                properties={
                    "$unraisable_message": unraisable.err_msg or "Exception ignored in",
                    "$unraisable_object": safe_repr(unraisable.object, 200),
                },
            )
    except Exception:
        internal_error("the sys.unraisablehook integration failed")
    finally:
        _call_previous("sys.unraisablehook", sys.__unraisablehook__, unraisable)
