"""Reading a frame's local variables (``capture_locals``), on the calling thread."""

from __future__ import annotations

import sys
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Callable

from .detached import Detached

if TYPE_CHECKING:
    from .scrub import Scrubber
    from .variables import Budget

_serialize_locals: Callable[..., dict[str, object]] | None = None
_SNAPSHOTS = sys.version_info < (3, 13)  # f_locals of a function frame: a cached dict
_CO_OPTIMIZED = 0x1
_HOLDERS = (BaseException, TracebackType, FrameType)
_PLAIN = frozenset({int, str, float, bool, bytes, dict, list, set, type(None)})
"""Exact types that hold no exception, traceback or frame directly (tuples may)."""


def read_variables(frame: FrameType, variables: tuple[Budget, Scrubber]) -> dict[str, object]:
    global _serialize_locals
    if type(frame) is Detached:  # type: ignore[comparison-overlap]  # read at the capture
        return frame.values or {}
    if _serialize_locals is None:  # imported with the first capture_locals event
        from .variables import serialize_locals

        _serialize_locals = serialize_locals
    budget, scrubber = variables
    try:
        local_vars = frame.f_locals
    except Exception:
        local_vars = {}
    values = _serialize_locals(local_vars, budget, scrubber)
    if _SNAPSHOTS and type(local_vars) is dict and frame.f_code.co_flags & _CO_OPTIMIZED:
        _forget_exceptions(local_vars)
    return values


def _forget_exceptions(snapshot: dict[str, Any]) -> None:
    """Before Python 3.13, reading a function frame's ``f_locals`` leaves a snapshot dict
    on the frame; the frame that caught the exception holds it in a local, and the
    exception's traceback holds that frame: a cycle only the garbage collector would
    break, keeping every frame and local alive until then. Drop such references from
    the snapshot (the next ``locals()`` or ``f_locals`` fills it again from the frame)."""
    try:
        for name, value in list(dict.items(snapshot)):
            kind = type(value)
            if kind in _PLAIN:
                continue
            if issubclass(kind, _HOLDERS) or (
                kind is tuple and any(issubclass(type(item), _HOLDERS) for item in value)
            ):
                dict.pop(snapshot, name, None)
    except Exception:
        pass
