"""Celery: a task that fails is sent once, with the task's context and the producer's.

::

    from posthog_exceptions.integrations import celery as posthog_celery

    posthog_exceptions.init()
    posthog_celery.init_celery()   # in the module the worker imports (and the producer)

- **Failures.** An exception that ends a task (Celery's ``task_failure``) is sent once,
  ``mechanism.type`` ``task``, ``handled: false``, ``$exception_source``
  ``celery.task_failure``, with ``celery_task_name``, ``celery_task_id``,
  ``celery_retry_count`` and ``celery_queue`` (never the task's arguments); its last
  frame is the task function's. Exceptions listed in the task's ``throws`` (expected
  errors, which Celery logs at INFO) are not sent.
- **Retries.** ``Retry``, ``Ignore`` and ``Reject`` are Celery's control flow, never
  errors. An exception that makes a task retry (``self.retry(exc=…)``,
  ``autoretry_for``) is not sent by default — as posthog-python's integration does,
  and unlike sentry-sdk: a task that succeeds on its second try is not a bug, and one
  that keeps failing is sent once, when it gives up. ``capture_retries=True`` sends each
  retried exception too, ``handled: true`` at level ``warning``.
- **The duplicate log line.** Celery logs the failure with its traceback; the logging
  integration sees the exception already sent and sends nothing more.
- **Context.** Publishing a task from inside a context puts its distinct id, session id
  and tags in the message headers ``X-POSTHOG-DISTINCT-ID``, ``X-POSTHOG-SESSION-ID`` and
  ``X-POSTHOG-CONTEXT-TAGS`` (JSON) — the names posthog-python's Celery integration
  uses, so either library's producer works with either's worker. The worker runs each
  task in a fresh context made from them, with the task properties as tags too: every
  event captured while the task runs carries them.
- **Worker models.** The prefork pool (children forked after ``init()``), the threads
  pool and solo. Each pool process flushes, within ``shutdown_timeout``, when Celery
  ends it (``worker_process_shutdown``).
"""

from __future__ import annotations

import json

from posthog_exceptions._capture import kinds as _kinds
from posthog_exceptions._context import Context, current, enter, leave, remember
from posthog_exceptions._serialize import safe_str
from posthog_exceptions._validate import check_bool

from . import _common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from posthog_exceptions._client import Client

KIND = _kinds.CELERY
RETRY_KIND = _kinds.CELERY_RETRY
INTEGRATION = "celery"
DISTINCT_ID_HEADER = "X-POSTHOG-DISTINCT-ID"
SESSION_ID_HEADER = "X-POSTHOG-SESSION-ID"
TAGS_HEADER = "X-POSTHOG-CONTEXT-TAGS"
_TOKEN = "_posthog_exceptions_token"
_MAX_HEADER = 1000


class CeleryIntegration:
    """The signal receivers :func:`init_celery` connects (strongly referenced)."""

    def __init__(self, client: Client | None, propagate_context: bool, capture_retries: bool):
        self.client = client
        self.propagate_context = propagate_context
        self.capture_retries = capture_retries

    # ----------------------------------------------------------------- producer

    def before_publish(self, *args: Any, headers: Any = None, **kwargs: Any) -> None:
        try:
            scope = current()
            if not self.propagate_context or scope is None or not isinstance(headers, dict):
                return
            ours: dict[str, str] = {}
            distinct_id, session_id, tags = scope.distinct_id(), scope.session_id(), scope.tags()
            if distinct_id:
                ours[DISTINCT_ID_HEADER] = distinct_id
            if session_id:
                ours[SESSION_ID_HEADER] = session_id
            if tags:
                ours[TAGS_HEADER] = json.dumps(tags, default=str)
            if ours:
                headers.update(ours)
                # Celery's protocol 2 hands the worker only the nested "headers" dict
                # as task.request.headers (celery#4875): put them there too.
                nested = headers.setdefault("headers", {})
                if isinstance(nested, dict):
                    nested.update(ours)
        except Exception:
            _common.report_failure(INTEGRATION)

    # ------------------------------------------------------------------- worker

    def prerun(self, *args: Any, sender: Any = None, task_id: Any = None, **kwargs: Any) -> None:
        try:
            request = getattr(sender, "request", None)
            if request is None:
                return
            scope = Context(current(), fresh=True, capture_exceptions=False, client=self.client)
            headers = _headers(request)
            tags = _tags(headers.get(TAGS_HEADER))
            tags.update(task_properties(sender, task_id))
            scope.own_tags.update(tags)
            distinct_id = _text(headers.get(DISTINCT_ID_HEADER))
            session_id = _text(headers.get(SESSION_ID_HEADER))
            if distinct_id:
                scope.own_distinct_id = distinct_id
            if session_id:
                scope.own_session_id = session_id
            setattr(request, _TOKEN, enter(scope))
        except Exception:
            _common.report_failure(INTEGRATION)

    def postrun(self, *args: Any, sender: Any = None, **kwargs: Any) -> None:
        try:
            request = getattr(sender, "request", None)
            token = getattr(request, _TOKEN, None)
            if token is not None:
                setattr(request, _TOKEN, None)
                leave(token)
        except Exception:
            _common.report_failure(INTEGRATION)

    def failure(
        self, *args: Any, sender: Any = None, exception: Any = None, task_id: Any = None, **kw: Any
    ) -> None:
        try:
            if not isinstance(exception, BaseException) or _expected(sender, exception):
                return
            client = _common.get_client(self.client)
            if client is not None:
                remember(exception, current())
                client._capture(KIND, exception, properties=task_properties(sender, task_id))
        except Exception:
            _common.report_failure(INTEGRATION)

    def retry(self, *args: Any, sender: Any = None, reason: Any = None, **kwargs: Any) -> None:
        try:
            if not self.capture_retries or not isinstance(reason, BaseException):
                return
            client = _common.get_client(self.client)
            if client is not None:
                request = getattr(sender, "request", None)
                properties = task_properties(sender, getattr(request, "id", None))
                client._capture(RETRY_KIND, reason, properties=properties)
        except Exception:
            _common.report_failure(INTEGRATION)

    def process_shutdown(self, *args: Any, **kwargs: Any) -> None:
        try:
            client = _common.get_client(self.client)
            if client is not None:
                client.flush(client.options.shutdown_timeout)
        except Exception:
            _common.report_failure(INTEGRATION)


_installed: CeleryIntegration | None = None


def init_celery(
    *,
    client: Client | None = None,
    propagate_context: bool = True,
    capture_retries: bool = False,
) -> CeleryIntegration:
    """Connect to Celery's signals (once per process; a later call replaces the options).
    ``client`` defaults to the one :func:`~posthog_exceptions.init` installed."""
    global _installed
    _common.check_options(None, client)
    check_bool("propagate_context", propagate_context)
    check_bool("capture_retries", capture_retries)
    from celery import signals

    if _installed is not None:
        _installed.client = client
        _installed.propagate_context = propagate_context
        _installed.capture_retries = capture_retries
        return _installed
    integration = CeleryIntegration(client, propagate_context, capture_retries)
    signals.before_task_publish.connect(integration.before_publish, weak=False)
    signals.task_prerun.connect(integration.prerun, weak=False)
    signals.task_postrun.connect(integration.postrun, weak=False)
    signals.task_failure.connect(integration.failure, weak=False)
    signals.task_retry.connect(integration.retry, weak=False)
    signals.worker_process_shutdown.connect(integration.process_shutdown, weak=False)
    _installed = integration
    return integration


def task_properties(task: Any, task_id: Any) -> dict[str, Any]:
    """What an event says of the task: name, id, retries so far, queue; never arguments."""
    request = getattr(task, "request", None)
    props: dict[str, Any] = {}
    name = getattr(task, "name", None)
    if isinstance(name, str):
        props["celery_task_name"] = safe_str(name, 200)
    task_id = task_id if task_id is not None else getattr(request, "id", None)
    if isinstance(task_id, str):
        props["celery_task_id"] = safe_str(task_id, 200)
    retries = getattr(request, "retries", None)
    if isinstance(retries, int) and not isinstance(retries, bool):
        props["celery_retry_count"] = retries
    delivery = getattr(request, "delivery_info", None)
    if isinstance(delivery, dict):
        queue = delivery.get("routing_key") or delivery.get("queue")
        if isinstance(queue, str):
            props["celery_queue"] = safe_str(queue, 200)
    return props


def _expected(task: Any, exception: BaseException) -> bool:
    throws = getattr(task, "throws", None) or ()
    try:
        return bool(throws) and isinstance(exception, tuple(throws))
    except TypeError:
        return False


def _headers(request: Any) -> dict[str, Any]:
    headers = getattr(request, "headers", None)
    return headers if isinstance(headers, dict) else {}


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()[:_MAX_HEADER]
    return value or None


def _tags(value: object) -> dict[str, Any]:
    if not isinstance(value, str) or len(value) > 64 * 1024:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return dict(parsed) if isinstance(parsed, dict) else {}
