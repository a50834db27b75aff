"""Serverless handlers (AWS Lambda and its kind): report what escapes, deliver before
returning.

::

    from posthog_exceptions.integrations.serverless import serverless

    @serverless
    def handler(event, context):
        ...

A serverless platform freezes or ends the process the moment the handler returns: a
background thread's queue is not sent then, and may never be. :func:`serverless` runs
each invocation in a fresh context and, before the handler's result (or its exception)
goes back to the platform, flushes the client — bounded by ``flush_timeout`` and by the
time the invocation has left (``context.get_remaining_time_in_millis()``, less a margin).
An exception escaping the handler is sent first (``mechanism.type`` ``middleware``,
``handled: false``, ``$exception_source`` ``serverless.handler``) and then re-raised for
the platform to report. Events captured during the invocation by other means (logging,
``capture_exception()``) are delivered by the same flush.

When the handler's second argument is an AWS Lambda context, the invocation's context
carries ``lambda_function_name``, ``lambda_function_version`` and ``lambda_request_id``
as tags, on every event captured during it. Sync and ``async def`` handlers are both
supported; ``@serverless(flush_timeout=…, client=…)`` takes options.
"""

from __future__ import annotations

import functools
import inspect

from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._context import Context, current, enter, leave, remember
from posthog_exceptions._serialize import safe_str
from posthog_exceptions._validate import check_seconds

from . import _common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    from posthog_exceptions._client import Client

    F = TypeVar("F", bound=Callable[..., Any])

KIND = _kinds.SERVERLESS
INTEGRATION = "serverless"
MARGIN = 0.25
"""Seconds of the invocation's remaining time left to the handler's return."""
_TAGS = (
    ("lambda_function_name", "function_name"),
    ("lambda_function_version", "function_version"),
    ("lambda_request_id", "aws_request_id"),
)


def serverless(
    handler: Callable[..., Any] | None = None,
    *,
    flush_timeout: float = 2.0,
    client: Client | None = None,
) -> Any:
    """Wrap a serverless handler: see the module docstring."""
    _common.check_options(None, client)
    timeout = check_seconds("flush_timeout", flush_timeout, allow_zero=True)

    def wrap(function: F) -> F:
        if not callable(function):
            raise TypeError(f"serverless() wraps a handler function, got {function!r}")
        invocation = _Invocation(timeout, client)
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = invocation.start(args)
                try:
                    return await function(*args, **kwargs)
                except BaseException as exc:
                    invocation.failed(exc)
                    raise
                finally:
                    invocation.end(token, args)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = invocation.start(args)
            try:
                return function(*args, **kwargs)
            except BaseException as exc:
                invocation.failed(exc)
                raise
            finally:
                invocation.end(token, args)

        return run  # type: ignore[return-value]

    return wrap if handler is None else wrap(handler)


class _Invocation:
    """What one wrapped handler does around each call (never raises into it)."""

    def __init__(self, flush_timeout: float, client: Client | None) -> None:
        self.flush_timeout = flush_timeout
        self.client = client

    def start(self, args: tuple[Any, ...]) -> Any:
        scope = Context(current(), fresh=True, capture_exceptions=False, client=self.client)
        try:
            platform = args[1] if len(args) > 1 else None
            for tag, attribute in _TAGS:
                value = getattr(platform, attribute, None)
                if isinstance(value, str) and value:
                    scope.own_tags[tag] = safe_str(value, 200)
        except Exception:
            _common.report_failure(INTEGRATION)
        return enter(scope)

    def failed(self, exc: BaseException) -> None:
        try:
            if not isinstance(exc, Exception):
                return  # SystemExit, KeyboardInterrupt: the platform's, not a bug
            remember(exc, current())
            client = _common.get_client(self.client)
            if client is not None:
                client._capture(KIND, exc)
        except Exception:
            _common.report_failure(INTEGRATION)

    def end(self, token: Any, args: tuple[Any, ...]) -> None:
        try:
            leave(token)
            client = _common.get_client(self.client)
            if client is not None:
                client.flush(self._budget(args))
        except Exception:
            _common.report_failure(INTEGRATION)

    def _budget(self, args: tuple[Any, ...]) -> float:
        """``flush_timeout``, cut to what the invocation has left (less :data:`MARGIN`)."""
        budget = self.flush_timeout
        platform = args[1] if len(args) > 1 else None
        remaining = getattr(platform, "get_remaining_time_in_millis", None)
        if callable(remaining):
            try:
                left = float(remaining()) / 1000.0 - MARGIN
            except Exception:
                return budget
            budget = max(min(budget, left), 0.0)
        return budget
