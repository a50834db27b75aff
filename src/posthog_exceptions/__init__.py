"""posthog-exceptions: every error a Python program meets, in PostHog error tracking.

Quick start::

    import posthog_exceptions

    posthog_exceptions.init("phc_...", host="eu")
    posthog_exceptions.capture("signed_up", distinct_id="user-42")

Importing this package starts no thread, installs no hook and does not import
``requests``; :func:`init` and the first event do that work.
"""

from ._client import Client
from ._config import Options
from ._context_api import (
    bind_context,
    get_tags,
    identify_context,
    new_context,
    scoped,
    set_context_session,
    tag,
)
from ._decorator import CaptureExceptions, capture_exceptions
from ._delivery.transport import TransportResponse
from ._global import (
    alias,
    capture,
    capture_exception,
    flush,
    get_client,
    identify,
    init,
    install_hooks,
    shutdown,
    stats,
    uninstall_hooks,
)
from ._stats import DROP_REASONS
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._types import Stats, Transport
    from .integrations.asyncio import install_asyncio_handler
    from .integrations.logging import LoggingHandler, capture_logging, uncapture_logging

__all__ = [
    "DROP_REASONS",
    "CaptureExceptions",
    "Client",
    "LoggingHandler",
    "Options",
    "Stats",
    "Transport",
    "TransportResponse",
    "__version__",
    "alias",
    "bind_context",
    "capture",
    "capture_exception",
    "capture_exceptions",
    "capture_logging",
    "flush",
    "get_client",
    "get_tags",
    "identify",
    "identify_context",
    "init",
    "install_asyncio_handler",
    "install_hooks",
    "new_context",
    "scoped",
    "set_context_session",
    "shutdown",
    "stats",
    "tag",
    "uncapture_logging",
    "uninstall_hooks",
]


def __getattr__(name: str) -> object:
    """``Stats`` and ``Transport`` are for type checkers; loading them costs ``typing``.
    The integrations load on first use (the logging one imports ``logging``)."""
    if name in ("Stats", "Transport"):
        from . import _types

        return getattr(_types, name)
    if name in ("LoggingHandler", "capture_logging", "uncapture_logging"):
        from .integrations import logging as _logging

        return getattr(_logging, name)
    if name == "install_asyncio_handler":
        from .integrations import asyncio as _asyncio

        return _asyncio.install_asyncio_handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
