"""The interpreter's official hooks for errors nobody caught.

- ``sys.excepthook``: an unhandled error in the main thread. Sent with
  ``handled: false`` and level ``fatal``; the previous hook prints the traceback,
  then the event is *delivered* (the fatal-error flush and the exit-time flush share
  one ``shutdown_timeout``), because the process is about to end.
- ``threading.excepthook``: an error that ended a thread. ``handled: false``,
  level ``error``, the thread's name in ``$thread_name``.
- ``sys.unraisablehook``: errors Python can only print — in ``__del__``,
  weakref callbacks, generator finalisers. ``handled: false``, level ``error``.

Etiquette: each hook captures inside a guard and then *always* calls the hook
it replaced, so the usual traceback is still printed and the exit status is
unchanged. Installing twice is harmless; the most recent client wins. Other
SDKs wrap these hooks too: installing does nothing when ours is already in the
chain (on top, or wrapped by a hook that still calls it), and where a wrapper
cannot be seen through and ours goes on top again, each call of ours hands on
to the hook beneath the right installation, so that every hook in the chain runs
once and no two wrappers call each other forever. Uninstalling restores a hook
only where ours is still the installed one (if someone wrapped ours since, it
stays in their chain and just passes calls through). ``sys.excepthook`` is left
alone in interactive sessions unless ``capture_interactive=True``: a typo at the
``>>>`` prompt is not a bug.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

from posthog_exceptions._capture.kinds import EXCEPTHOOK, MULTIPROCESSING, THREADING, UNRAISABLE
from posthog_exceptions._delivery import process as _process
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
_below: dict[str, list[Callable[..., None]]] = {}
"""Per hook: what was installed beneath ours, one entry per time ours was put on top."""
_active = threading.local()
"""Per thread and hook: how many calls of ours are under way (``getattr(_active, key)``)."""
_SEARCH_DEPTH = 6


def install(client: Client) -> None:
    global _client
    with _lock:
        _client = client
        interactive = hasattr(sys, "ps1") or bool(sys.flags.interactive)
        if not interactive or client.options.capture_interactive:
            _put_on_top(sys, "excepthook", _excepthook)
        _put_on_top(threading, "excepthook", _threading_excepthook)
        _put_on_top(sys, "unraisablehook", _unraisablehook)
    _process.before_child_exit(_report_child_exception)


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
            below = _below.get(f"{owner.__name__}.{name}")
            if getattr(owner, name) is ours and below:
                setattr(owner, name, below.pop())


def installed_client() -> Client | None:
    return _client


def _put_on_top(owner: Any, name: str, ours: Callable[..., None]) -> None:
    """Install ``ours`` unless it is already in the chain — on top, or wrapped by a hook
    that still calls it (another SDK's, an APM agent's, the application's)."""
    current = getattr(owner, name)
    if current is ours or _reaches(current, ours):
        return
    _below.setdefault(f"{owner.__name__}.{name}", []).append(current)
    setattr(owner, name, ours)


def _reaches(hook: object, target: object) -> bool:
    """Whether ``hook`` is a wrapper that calls ``target``, as far as one can tell without
    calling it: through ``__wrapped__``, bound methods, ``functools.partial`` and the
    variables its closure holds, a few levels deep."""
    seen: set[int] = set()
    todo = [(hook, 0)]
    while todo:
        candidate, depth = todo.pop()
        if candidate is target:
            return True
        if depth >= _SEARCH_DEPTH or id(candidate) in seen:
            continue
        seen.add(id(candidate))
        try:
            inner = [getattr(candidate, a, None) for a in ("__wrapped__", "__func__", "func")]
            function = getattr(candidate, "__func__", candidate)
            for cell in getattr(function, "__closure__", None) or ():
                try:
                    inner.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    continue
        except Exception:
            continue
        todo.extend((item, depth + 1) for item in inner if item is not None and callable(item))
    return False


def _call_previous(key: str, default: Callable[..., None], *args: Any) -> None:
    """Call what is beneath our hook. A call of ours under way on this thread already
    means the chain leads back to us (a hook that wrapped ours and was wrapped by ours in
    turn): each level of ours then hands on to the hook beneath the installation one
    further down, so that every hook of the chain runs once and the chain ends."""
    level = getattr(_active, key, 0)
    below = _below.get(key) or ()
    index = len(below) - 1 - level
    previous = below[index] if index >= 0 else default
    setattr(_active, key, level + 1)
    try:
        previous(*args)
    finally:
        setattr(_active, key, level)


def _first(key: str) -> bool:
    """Whether this is the outermost call of our ``key`` hook on this thread (only that
    one captures: a deeper one is the chain coming back to us)."""
    return not getattr(_active, key, 0)


def _report_child_exception(exc: BaseException) -> None:
    """An exception escaping a ``multiprocessing`` child's target: the child prints it and
    ends, never reaching ``sys.excepthook``."""
    client = _client
    if client is not None:
        client._capture(MULTIPROCESSING, exc)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    client = None
    try:
        client = _client if _first("sys.excepthook") else None
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
        client = _client if _first("threading.excepthook") else None
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
        client = _client if _first("sys.unraisablehook") else None
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
