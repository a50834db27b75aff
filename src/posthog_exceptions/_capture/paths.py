"""Names and paths of stack frames: qualified function names, import-root-relative
file names, and whether a file is the program's own (``in_app``) or a library's.

Split out of :mod:`posthog_exceptions._capture.frames`, which describes frames with these
(see its docstring for the rules); nothing here is cached, the callers cache per code
object.
"""

from __future__ import annotations

import os
import sys
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posthog_exceptions._config import Options

_HAS_QUALNAME = sys.version_info >= (3, 11)


def qualname(frame: FrameType, code: CodeType) -> str:
    if _HAS_QUALNAME:
        return code.co_qualname  # type: ignore[attr-defined,no-any-return]
    try:
        found = _find_qualname(frame, code)
    except Exception:
        found = None
    return code.co_name if found is None else found


def _find_qualname(frame: FrameType, code: CodeType) -> str | None:
    """Python < 3.11: the defining function's ``__qualname__``, from the module globals
    or from the class of the first argument (``self``/``cls``)."""
    name = code.co_name
    candidate: Any = frame.f_globals.get(name)
    if getattr(candidate, "__code__", None) is code:
        return str(candidate.__qualname__)
    if not code.co_argcount:
        return None
    first = frame.f_locals.get(code.co_varnames[0])
    owner = first if isinstance(first, type) else type(first)
    for klass in owner.__mro__:
        attr: Any = klass.__dict__.get(name)
        func = getattr(attr, "__func__", attr)  # classmethod, staticmethod
        func = getattr(func, "fget", func)  # property
        if getattr(func, "__code__", None) is code:
            return str(func.__qualname__)
    return None


def absolute(path: str) -> str:
    if not path or path.startswith("<") or os.path.isabs(path):
        return path
    return os.path.abspath(path)


def relative(abs_path: str, module: str) -> str:
    """The path below the import root: ``pkg/sub/mod.py`` for module ``pkg.sub.mod``."""
    if not abs_path or abs_path.startswith("<"):
        return abs_path or "<unknown>"
    parts = abs_path.replace("\\", "/").split("/")
    if module and module != "__main__":
        depth = module.count(".") + 1
        if parts[-1].startswith("__init__."):
            depth += 1
        if len(parts) > depth and _matches_module(parts[-depth:], module):
            return "/".join(parts[-depth:])
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or ".")
        if abs_path.startswith(root.rstrip(os.sep) + os.sep) and len(root) > len(best):
            best = root
    if best:
        return os.path.relpath(abs_path, best).replace("\\", "/")
    # Outside every import root: the file name is all that is portable (a name ending in
    # "/" — compile() takes any string — gives its last non-empty part, if any).
    return parts[-1] or next((part for part in reversed(parts) if part), "<unknown>")


def _matches_module(tail: list[str], module: str) -> bool:
    names = [os.path.splitext(part)[0] for part in tail]
    if names[-1] == "__init__":
        names.pop()
    return names == module.split(".")


def in_app(abs_path: str, module: str, options: Options) -> bool:
    if module and any(_under(module, prefix) for prefix in options.in_app_include):
        return True
    if module and any(_under(module, prefix) for prefix in options.in_app_exclude):
        return False
    if not abs_path or is_library_path(abs_path):
        return False
    if options.project_root is not None:
        root = os.path.abspath(options.project_root).rstrip(os.sep) + os.sep
        return abs_path.startswith(root)
    return True


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


_library_roots: tuple[str, ...] | None = None


def is_library_path(abs_path: str) -> bool:
    """Standard library (frozen modules included), site-packages or dist-packages."""
    global _library_roots
    if abs_path.startswith("<frozen"):
        return True
    parts = abs_path.replace("\\", "/").split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    if _library_roots is None:
        import sysconfig

        roots = set()
        for name in ("stdlib", "platstdlib"):
            path = sysconfig.get_paths().get(name)
            if path:
                roots.add(os.path.abspath(path).rstrip(os.sep) + os.sep)
                roots.add(os.path.realpath(path).rstrip(os.sep) + os.sep)
        _library_roots = tuple(roots)
    return abs_path.startswith(_library_roots)
