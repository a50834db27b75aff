"""``$exception_fingerprint``: the MD5 of a documented, versioned grouping key.

The key says *which bug* this is, so it leaves out everything that varies
between occurrences of one bug. Version 1, per exception in ``$exception_list``
order:

1. ``type:<module>.<qualname>`` of the exception class (``type:ValueError`` for builtins);
2. one ``frame:<module>:<function>`` part per in-app frame (every frame when
   none is in-app), where ``module`` is the frame's module name (for
   ``__main__``, its import-root-relative filename without ``.py``) and
   ``function`` the qualified name without any ``outer.<locals>.`` prefix.
   Never a line number or column, so edits elsewhere in a file keep the
   group. Comprehension frames are skipped (Python 3.12 inlines them, so they
   exist on some versions only), and repeats are collapsed — a run of the
   same frame, or of the same short cycle of up to four frames — so the
   recursion depth does not matter;
3. only for an exception without frames, or whose stack was synthesised
   because it was never raised (then the capture site is all the frames
   say): ``message:<text>`` with numbers,
   hex and addresses, UUIDs, quoted strings, e-mail addresses, URLs and paths
   masked, so ``user 42 not found`` and ``user 43 not found`` group together.

The parts, preceded by ``v1``, are joined with newlines and hashed with MD5
(32 lowercase hex characters, which the server uses as given). A
``fingerprint=`` given by the caller (a string or a list of strings, where
``"{{ default }}"`` stands for the automatic key) replaces the parts and is
hashed the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from .frames import Info

VERSION = "v1"
DEFAULT_PLACEHOLDER = "{{ default }}"
_MAX_CYCLE = 4

_MASKS = [
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+"), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"(?<!\w)'[^'\n]*'|(?<!\w)\"[^\"\n]*\""), "<str>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"(?<![\w/])(?:[A-Za-z]:\\|\.{1,2}/|/)[^\s'\",;:()<>]+"), "<path>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<num>"),
]


class ExceptionKey(Protocol):
    """The parts of one ``$exception_list`` entry that the grouping key looks at (a walked
    :class:`~posthog_exceptions._capture.exceptions.Node` has them)."""

    @property
    def qualified(self) -> str: ...  # module.qualname of the class (qualname for builtins)
    @property
    def value(self) -> str: ...  # the message
    @property
    def frames(self) -> Sequence[Info]: ...
    @property
    def synthetic(self) -> bool: ...
    @property
    def keys(
        self,
    ) -> tuple[str, ...] | None: ...  # the frames' keys, when the stack cache knew them


_frame_parts: dict[tuple[str, ...], tuple[str, ...]] = {}
_CACHE_SIZE = 1024


def default_parts(exceptions: Sequence[ExceptionKey]) -> list[str]:
    parts: list[str] = []
    for exc in exceptions:
        parts.append(f"type:{exc.qualified}")
        keys = exc.keys
        if keys is None:
            frames = [f for f in exc.frames if f.site.in_app] or list(exc.frames)
            keys = tuple([f.site.key for f in frames if f.site.key])
        found = _frame_parts.get(keys)
        if found is None:  # the same stacks come back: remember their parts
            found = tuple([f"frame:{key}" for key in collapse(list(keys))])
            if len(_frame_parts) >= _CACHE_SIZE:
                _frame_parts.clear()
            _frame_parts[keys] = found
        parts.extend(found)
        if reads_message(exc):
            parts.append(f"message:{normalize_message(exc.value)}")
    return parts


def reads_message(exc: ExceptionKey) -> bool:
    """Whether the key reads the exception's message: only when its frames say nothing
    of it (none, or the capture site's, synthesised)."""
    return exc.synthetic or not exc.frames


_fingerprints: dict[tuple[str, ...], str] = {}


def fingerprint(parts: Sequence[str]) -> str:
    """The MD5 of the parts; the same bug comes back, so keys are remembered by parts."""
    key = tuple(parts)
    found = _fingerprints.get(key)
    if found is None:
        text = "\n".join([VERSION, *parts])
        found = hashlib.md5(text.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
        if len(_fingerprints) >= _CACHE_SIZE:
            _fingerprints.clear()
        _fingerprints[key] = found
    return found


def custom_parts(custom: str | Sequence[str], default: Sequence[str]) -> list[str]:
    """The caller's ``fingerprint=``, with ``{{ default }}`` expanded to the automatic key."""
    items = [custom] if isinstance(custom, str) else list(custom)
    parts: list[str] = []
    for item in items:
        if item == DEFAULT_PLACEHOLDER:
            parts.extend(default)
        else:
            parts.append(f"custom:{item}")
    return parts


def collapse(keys: list[str]) -> list[str]:
    """Remove immediate repeats of one frame or of a cycle of up to four frames."""
    out: list[str] = []
    for key in keys:
        out.append(key)
        length = len(out)
        for size in range(1, min(_MAX_CYCLE, length // 2) + 1):
            # cheap test first: the newest key must repeat the one a cycle before it
            if out[-1] == out[-1 - size] and out[-size:] == out[-2 * size : -size]:
                del out[-size:]
                break
    return out


def normalize_message(message: str) -> str:
    text = message[:1000]
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text
