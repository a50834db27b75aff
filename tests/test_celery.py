"""Celery, with a real ``celery worker`` process (prefork, threads and solo pools) on
kombu's filesystem transport, and a real producer process that publishes from inside a
context: each failing task is one ``$exception`` with the task's properties and the
producer's person, session and tags; a retried-then-succeeding task, ``Retry`` and
``Ignore`` send none; Celery's own log line of the failure is not sent a second time."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .recording_server import RecordingServer
from .worker_models import (
    executable,
    program_env,
    redis_server,
    require,
    script,
    start_server,
    stop,
)

TASKS = """
import logging, os
import posthog_exceptions
from celery import Celery
from celery.exceptions import Ignore
from posthog_exceptions.integrations import celery as posthog_celery

posthog_exceptions.init(rate_limit=False)
posthog_exceptions.capture_logging()  # Celery's failure log line must not send twice
posthog_celery.init_celery()

folder = os.environ["BROKER_FOLDER"]
app = Celery("tasks", broker=os.environ.get("BROKER_URL", "filesystem://"))
app.conf.update(
    broker_transport_options={
        "data_folder_in": folder, "data_folder_out": folder, "processed_folder": folder,
        "store_processed": False,
    },
    task_default_queue="orders",
    worker_hijack_root_logger=False,
)


class OrderFailed(Exception):
    pass


@app.task(name="tasks.charge")
def charge(order):
    raise OrderFailed(f"card declined for order {order}")


@app.task(name="tasks.flaky", bind=True, max_retries=3, default_retry_delay=0.05)
def flaky(self, order):
    if self.request.retries < 1:
        raise self.retry(exc=ConnectionError(f"gateway busy for order {order}"))
    posthog_exceptions.capture("flaky task succeeded", distinct_id="worker")


@app.task(name="tasks.skipped")
def skipped(order):
    posthog_exceptions.capture("skipped task ran", distinct_id="worker")
    raise Ignore()
"""

PRODUCER = """
import posthog_exceptions
from posthog_exceptions import new_context, identify_context, set_context_session, tag
from tasks import charge, flaky, skipped

with new_context():
    identify_context("user-42")
    set_context_session("session-42")
    tag("plan", "pro")
    charge.delay(1001)
    flaky.delay(1002)
    skipped.delay(1003)
posthog_exceptions.flush(10)
"""


@pytest.mark.parametrize(
    ("pool", "broker"),
    [
        ("prefork", "redis"),
        ("solo", "redis"),
        ("prefork", "filesystem"),
        ("threads", "filesystem"),
        ("solo", "filesystem"),
    ],
)
def test_a_failing_task_is_one_event_with_the_producers_context(
    server: RecordingServer, tmp_path: Path, pool: str, broker: str
) -> None:
    """``redis``: a real redis-server as the broker; ``filesystem``: kombu's filesystem
    transport, which needs no server (so a real worker test always runs)."""
    require("celery", "the Celery integration tests")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_server(tmp_path)) if broker == "redis" else None
        _run_tasks(server, tmp_path, pool, url)


def _run_tasks(server: RecordingServer, tmp_path: Path, pool: str, url: str | None) -> None:
    script(tmp_path / "tasks.py", TASKS)
    script(tmp_path / "producer.py", PRODUCER)
    broker = tmp_path / "broker"
    broker.mkdir()
    env = program_env(
        server, BROKER_FOLDER=str(broker), PYTHONPATH=str(tmp_path), PYTHONWARNINGS="ignore"
    )
    if url is not None:
        env["BROKER_URL"] = url
    worker, output = start_server(
        [
            executable("celery"),
            "-A",
            "tasks",
            "worker",
            f"--pool={pool}",
            "--concurrency=2",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        tmp_path,
        env,
    )
    try:
        produced = subprocess.run(
            [sys.executable, "producer.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert produced.returncode == 0, produced.stderr
        server.wait_for(
            lambda: {"flaky task succeeded", "skipped task ran"} <= _names(server)
            and "$exception" in _names(server),
            timeout=60,
        )
    finally:
        text = stop(worker, output)
    exceptions = [e for e in server.events if e["event"] == "$exception"]
    assert len(exceptions) == 1, (json.dumps(exceptions, indent=1)[:3000], text[-3000:])
    event = exceptions[0]
    props = event["properties"]
    first = props["$exception_list"][0]
    assert first["type"] == "OrderFailed"
    assert first["mechanism"]["type"] == "task" and first["mechanism"]["handled"] is False
    assert props["$exception_source"] == "celery.task_failure"
    assert first["stacktrace"]["frames"][-1]["function"] == "charge"
    assert props["celery_task_name"] == "tasks.charge"
    assert props["celery_queue"] == "orders"
    assert props["celery_retry_count"] == 0
    assert isinstance(props["celery_task_id"], str) and props["celery_task_id"]
    assert event["distinct_id"] == "user-42"
    assert props["$session_id"] == "session-42"
    assert props["plan"] == "pro"
    assert "1001" not in json.dumps({k: v for k, v in props.items() if k != "$exception_list"})
    succeeded = [e for e in server.events if e["event"] == "flaky task succeeded"]
    assert succeeded[0]["properties"]["celery_retry_count"] == 1  # the task's tags, on its events
    assert succeeded[0]["properties"]["$session_id"] == "session-42"


def _names(server: RecordingServer) -> set[str]:
    return {e["event"] for e in server.events}


def test_init_celery_rejects_bad_options() -> None:
    require("celery", "the Celery integration tests")
    from posthog_exceptions.integrations import celery as posthog_celery

    with pytest.raises(TypeError, match="'capture_retries'"):
        posthog_celery.init_celery(capture_retries="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'client'"):
        posthog_celery.init_celery(client="nope")  # type: ignore[arg-type]
