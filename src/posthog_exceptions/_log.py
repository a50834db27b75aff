"""The library's logger.

Everything the library has to say goes to the ``posthog_exceptions`` logger,
which carries only a :class:`logging.NullHandler` until the application
configures logging or passes ``debug=True`` (urllib3's habit). The logger is
created when first used, so importing the library does not import ``logging``.
Errors the library swallowed to protect the host program are logged through
:func:`internal_error`, which marks the record so the test suite can turn every
swallowed error into a failure.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

LOGGER_NAME = "posthog_exceptions"
INTERNAL_ERROR_MARK = "posthog_exceptions_internal_error"

_logger: logging.Logger | None = None
_debug_handler: logging.Handler | None = None


def get_logger() -> logging.Logger:
    global _logger
    if _logger is None:
        import logging

        found = logging.getLogger(LOGGER_NAME)
        found.addHandler(logging.NullHandler())
        _logger = found
    return _logger


class _LazyLogger:
    """Stands for the ``posthog_exceptions`` logger until something is logged."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(get_logger(), name)


if TYPE_CHECKING:
    logger: logging.Logger
else:
    logger = _LazyLogger()


def internal_error(message: str, *args: object) -> None:
    """Log an unexpected error that the library swallowed, with its traceback.

    Never raises: where logging itself fails (no stack left at the recursion limit, no
    memory, ``logging`` half imported when a signal handler runs) the line is lost."""
    try:
        get_logger().error(message, *args, exc_info=True, extra={INTERNAL_ERROR_MARK: True})
    except Exception:
        pass


def enable_debug() -> None:
    """Send the library's own log, DEBUG and up, to stderr (the ``debug=True`` option)."""
    global _debug_handler
    import logging

    if _debug_handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[posthog_exceptions] %(levelname)s %(message)s"))
        _debug_handler = handler
        get_logger().addHandler(handler)
    get_logger().setLevel(logging.DEBUG)
