"""Source lines for context lines, read so that a hostile file name cannot hang a capture.

A code object's ``co_filename`` is whatever its compiler was told — a template engine, a
notebook or ``exec`` pick names freely — and paths change under a running program.
``linecache`` opens whatever path it is given and reads it whole: a FIFO without a
writer blocks the capturing thread for good, ``/dev/zero`` is read until memory runs out.
So :func:`source_lines` reads only **regular files of at most** :data:`MAX_SOURCE_BYTES`:

- lines already in ``linecache.cache`` (read before, or registered there by ``exec``
  helpers, IPython and Jupyter) are used as they are;
- a file on disk — the path itself, or for a relative name the first ``sys.path`` entry
  holding it, as ``linecache`` would look — is opened without blocking
  (``O_NONBLOCK``), checked with ``fstat`` on the open descriptor (so no swap of the
  path after the check can fool it), read up to the bound, decoded as Python source
  (PEP 263 coding cookie, universal newlines) and put in ``linecache.cache`` for
  everyone (the ``traceback`` module included);
- a name with no file behind it (zip imports, frozen modules, ``<string>``) is left to
  ``linecache`` and the module's loader (``get_source``), which never opens a file.

Anything else — a FIFO, a device, a directory, a file over the bound, an unreadable or
undecodable one — gives a frame without context lines, at once.
"""

from __future__ import annotations

import linecache
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_SOURCE_BYTES = 4 * 1024 * 1024
"""Source files larger than this get no context lines."""
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def source_lines(filename: str, module_globals: dict[str, Any]) -> list[Any]:
    """The lines of ``filename`` (each ending in a newline), or ``[]``: see the module
    docstring. Never raises, never blocks on a file that is not a regular file."""
    entry: Any = linecache.cache.get(filename)
    if entry is not None and len(entry) == 4:
        cached = entry[2]
        return cached if type(cached) is list else []
    if not filename or (filename.startswith("<") and filename.endswith(">")):
        return _through_linecache(filename, module_globals)  # loader or nothing
    path = _file_for(filename)
    if path is None:
        return _through_linecache(filename, module_globals)  # no file: the loader may know
    found = _read(path)
    if found is None:
        return []
    lines, (size, mtime) = found
    try:
        linecache.cache[filename] = (size, mtime, lines, path)
    except Exception:
        pass  # a cache someone replaced with something odd: the lines still count
    return lines


def _file_for(filename: str) -> str | None:
    """The path ``linecache`` would read for ``filename``; ``None`` when there is none."""
    try:
        os.stat(filename)
        return filename
    except (OSError, ValueError):
        pass
    if os.path.isabs(filename):
        return None
    for directory in sys.path:
        try:
            candidate = os.path.join(directory, filename)
            os.stat(candidate)
        except (OSError, TypeError, ValueError):
            continue
        return candidate
    return None


def _read(path: str) -> tuple[list[str], tuple[int, float]] | None:
    """A regular file's lines (and its size and mtime, for ``linecache``), or ``None``."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
            return None
        chunks = []
        left = MAX_SOURCE_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            return None  # it grew past the bound while being read
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = _decode(b"".join(chunks))
    return None if lines is None else (lines, (info.st_size, info.st_mtime))


def _decode(data: bytes) -> list[str] | None:
    """Python source bytes as ``tokenize.open`` would give them, split into lines."""
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return None
    lines = io.StringIO(text, newline=None).readlines()
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _through_linecache(filename: str, module_globals: dict[str, Any]) -> list[Any]:
    try:
        lines: Any = linecache.getlines(filename, module_globals)
        return lines if type(lines) is list else list(lines)
    except Exception:
        return []
