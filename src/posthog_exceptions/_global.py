"""The default client behind ``init()`` and the module-level functions.

The module-level functions are thin conveniences over the client that
:func:`init` installs. Before ``init()`` they do nothing (the first call logs
one warning) and return ``None``/``False``, so library code may call them
whether or not the application set PostHog up.
"""

from __future__ import annotations

import sys
import threading

from . import _default
from ._client import Client
from ._guard import never_raise
from ._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from ._capture.rules import ExceptionArg
    from ._types import Stats

_lock = threading.Lock()
_warned = False


def init(
    api_key: str | None = None,
    host: str | None = None,
    *,
    install_hooks: bool = True,
    **options: Any,
) -> Client:
    """Create the default client from these options (see :class:`Client`) and install it.

    Unless ``install_hooks=False``, unhandled exceptions (main thread, other threads,
    ``__del__`` and friends) are sent through it from now on — and, when called inside a
    running asyncio event loop, what that loop can only print (see
    :func:`install_asyncio_handler`). A previous default client
    is shut down (its queue flushed for up to its ``shutdown_timeout``).
    """
    if not isinstance(install_hooks, bool):
        raise TypeError(f"option 'install_hooks' must be True or False, got {install_hooks!r}")
    client = Client(api_key, host, **options)
    with _lock:
        previous, _default.client = _default.client, client
    if previous is not None and previous is not client:
        previous.uninstall_hooks()
        previous.shutdown()
    if install_hooks and client.enabled:
        client.install_hooks()
        if "asyncio" in sys.modules:  # no loop can be running otherwise: never import it
            from .integrations.asyncio import install_in_running_loop

            install_in_running_loop()
    return client


get_client = _default.get_client


def _current() -> Client | None:
    global _warned
    client = _default.client
    if client is None and not _warned:
        _warned = True
        logger.warning("posthog_exceptions.init() has not been called; nothing is sent")
    return client


@never_raise(None)
def capture(
    event: str,
    *,
    distinct_id: Any = None,
    properties: Mapping[str, Any] | None = None,
    timestamp: Any = None,
    uuid: Any = None,
) -> str | None:
    """:meth:`Client.capture` on the default client."""
    client = _current()
    if client is None:
        return None
    return client.capture(
        event, distinct_id=distinct_id, properties=properties, timestamp=timestamp, uuid=uuid
    )


@never_raise(None)
def identify(
    distinct_id: Any,
    properties: Mapping[str, Any] | None = None,
    *,
    set_once: Mapping[str, Any] | None = None,
) -> str | None:
    """:meth:`Client.identify` on the default client."""
    client = _current()
    return None if client is None else client.identify(distinct_id, properties, set_once=set_once)


@never_raise(None)
def alias(previous_id: Any, distinct_id: Any) -> str | None:
    """:meth:`Client.alias` on the default client."""
    client = _current()
    return None if client is None else client.alias(previous_id, distinct_id)


@never_raise(None, headroom=True)
def capture_exception(
    exception: ExceptionArg = None,
    *,
    distinct_id: Any = None,
    properties: Mapping[str, Any] | None = None,
    fingerprint: str | Sequence[str] | None = None,
    level: str | None = None,
    issue_name: str | None = None,
    issue_description: str | None = None,
) -> str | None:
    """:meth:`Client.capture_exception` on the default client."""
    client = _current()
    if client is None:
        return None
    return client.capture_exception(
        exception,
        distinct_id=distinct_id,
        properties=properties,
        fingerprint=fingerprint,
        level=level,
        issue_name=issue_name,
        issue_description=issue_description,
    )


@never_raise(None)
def install_hooks() -> None:
    """:meth:`Client.install_hooks` on the default client."""
    client = _current()
    if client is not None:
        client.install_hooks()


@never_raise(None)
def uninstall_hooks() -> None:
    """Put back the interpreter hooks that were replaced (see :meth:`Client.uninstall_hooks`)."""
    from .integrations import hooks as _hooks

    _hooks.uninstall()


@never_raise(False)
def flush(timeout: float | None = None) -> bool:
    """:meth:`Client.flush` on the default client."""
    client = _current()
    return False if client is None else client.flush(timeout)


@never_raise(False)
def shutdown(timeout: float | None = None) -> bool:
    """:meth:`Client.shutdown` on the default client, which is then uninstalled."""
    with _lock:
        client, _default.client = _default.client, None
    if client is None:
        return False
    client.uninstall_hooks()
    return client.shutdown(timeout)


@never_raise(None)
def stats() -> Stats | None:
    """:meth:`Client.stats` of the default client, or ``None`` before ``init()``."""
    client = _default.client
    return None if client is None else client.stats()
