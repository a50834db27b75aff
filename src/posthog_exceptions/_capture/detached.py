"""What an event keeps of its frames once ``capture_exception()`` has returned.

A frame keeps its locals alive (and a host program may rely on refcounting to close a
file or a socket they hold), so no frame, traceback or exception outlives the call: the
capture reads what may change — the variables — and keeps a :class:`Detached` in its
place; the rest of the event is built from the code object later, on the delivery
thread (:mod:`posthog_exceptions._capture.deferred`).
"""

from __future__ import annotations

from types import CodeType
from typing import Any

SOURCE_GLOBALS = ("__name__", "__loader__", "__spec__", "__file__")
"""What ``linecache`` reads of a module's globals to find a source a loader holds."""


class Detached:
    """What an event keeps of a frame once the capture has returned (the frame itself
    would keep its locals alive): the code, what reading its source needs of the
    module's globals (``None`` when its wire form is cached already), and its variables
    as read at the capture (``None``: none were)."""

    __slots__ = ("f_code", "f_globals", "values")

    def __init__(self, code: CodeType, f_globals: Any, values: dict[str, object] | None) -> None:
        self.f_code = code
        self.f_globals = f_globals
        self.values = values


def gap_marker(omitted: int, custom: bool) -> dict[str, Any]:
    """A synthetic frame standing for the frames trimmed out of a deep stack."""
    text = f"<{omitted} frames omitted>"
    head: dict[str, Any] = (
        {"platform": "custom", "lang": "python"} if custom else {"platform": "python"}
    )
    return {
        **head,
        "filename": text,
        "function": text,
        "lineno": 0,
        "in_app": False,
        "synthetic": True,
    }
