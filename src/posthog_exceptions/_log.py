"""The library's logger.

Everything the library has to say goes to the ``posthog_exceptions`` logger,
which carries only a :class:`logging.NullHandler` until the application
configures logging or passes ``debug=True`` (urllib3's habit). Errors the
library swallowed to protect the host program are logged through
:func:`internal_error`, which marks the record so the test suite can turn
every swallowed error into a failure.
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "posthog_exceptions"
INTERNAL_ERROR_MARK = "posthog_exceptions_internal_error"

logger = logging.getLogger(LOGGER_NAME)
logger.addHandler(logging.NullHandler())

_debug_handler: logging.Handler | None = None


def internal_error(message: str, *args: object) -> None:
    """Log an unexpected error that the library swallowed, with its traceback."""
    logger.error(message, *args, exc_info=True, extra={INTERNAL_ERROR_MARK: True})


def enable_debug() -> None:
    """Send the library's own log, DEBUG and up, to stderr (the ``debug=True`` option)."""
    global _debug_handler
    if _debug_handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[posthog_exceptions] %(levelname)s %(message)s"))
        _debug_handler = handler
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
