"""The properties PostHog's server SDKs send about where they run, computed once per client.

The names and values are posthog-python's (``posthog/utils.py``, ``system_context``):
``$python_runtime`` (``CPython``), ``$python_version`` (``3.12.1``), ``$os`` (``Linux``,
``Mac OS X``, ``Windows``, ``FreeBSD``, else ``sys.platform``) and ``$os_version`` (the
distribution's version on Linux, from ``/etc/os-release`` — posthog-python asks the
``distro`` package, which reads the same file — the macOS or Windows version, else the
kernel release). An event's own properties win over them.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_OS_NAMES = (("win", "Windows"), ("darwin", "Mac OS X"), ("linux", "Linux"), ("freebsd", "FreeBSD"))


def runtime_properties() -> dict[str, Any]:
    import platform

    name = next((label for prefix, label in _OS_NAMES if sys.platform.startswith(prefix)), None)
    return {
        "$python_runtime": platform.python_implementation(),
        "$python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "$os": name or sys.platform,
        "$os_version": _os_version(name),
    }


def _os_version(name: str | None) -> str:
    import platform

    try:
        if name == "Windows":
            return platform.win32_ver()[0]
        if name == "Mac OS X":
            return platform.mac_ver()[0]
        if name == "Linux":
            return _linux_version() or platform.release()
        return platform.release()
    except Exception:
        return ""


def _linux_version() -> str:
    """``VERSION_ID`` of ``/etc/os-release`` (or ``/usr/lib/os-release``), else ``""``."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(65536)
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "VERSION_ID":
                return value.strip().strip("'\"")
        return ""
    return ""
