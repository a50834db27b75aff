"""RQ, with a real ``redis-server`` and a real ``rq worker`` (forking a work horse per
job, which ends with ``os._exit``): each job that fails for good is one ``$exception``
with the job's properties and the producer's context; a failure that RQ retries is not
sent, and a job that succeeds on its retry sends none."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .recording_server import RecordingServer
from .worker_models import executable, program_env, redis_server, require, run_program, script

JOBS = """
import os
import posthog_exceptions

posthog_exceptions.init(rate_limit=False)


class OrderFailed(Exception):
    pass


def charge(order):
    raise OrderFailed(f"card declined for order {order}")


def flaky(order):
    marker = os.path.join(os.environ["MARKERS"], f"flaky-{order}")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ConnectionError(f"gateway busy for order {order}")
    posthog_exceptions.capture("flaky job succeeded", distinct_id="worker")


def always_fails(order):
    raise TimeoutError(f"gateway down for order {order}")
"""

PRODUCER = """
import sys
from redis import Redis
from rq import Queue, Retry
from posthog_exceptions import identify_context, new_context, set_context_session, tag
from posthog_exceptions.integrations.rq import context_meta
from jobs import always_fails, charge, flaky

queue = Queue("orders", connection=Redis.from_url(sys.argv[1]))
with new_context():
    identify_context("user-7")
    set_context_session("session-7")
    tag("plan", "team")
    queue.enqueue(charge, 2001, meta=context_meta())
    queue.enqueue(flaky, 2002, retry=Retry(max=2), meta=context_meta())
    queue.enqueue(always_fails, 2003, retry=Retry(max=1), meta=context_meta())
"""


@pytest.mark.parametrize("setup", ["worker-class", "exception-handler"])
def test_jobs_that_fail_for_good_are_sent_once_with_the_producers_context(
    server: RecordingServer, tmp_path: Path, setup: str
) -> None:
    """``worker-class``: our ``Worker``; ``exception-handler``: RQ's own worker with the
    handler, which delivers the failures but not what a successful job captured."""
    require("rq", "the RQ integration tests")
    script(tmp_path / "jobs.py", JOBS)
    markers = tmp_path / "markers"
    markers.mkdir()
    with redis_server(tmp_path) as url:
        run_program(PRODUCER, server, url, PYTHONPATH=str(tmp_path))
        worker = subprocess.run(
            [
                executable("rq"),
                "worker",
                "--burst",
                "--url",
                url,
                *(
                    ["--worker-class", "posthog_exceptions.integrations.rq.Worker"]
                    if setup == "worker-class"
                    else [
                        "--exception-handler",
                        "posthog_exceptions.integrations.rq.exception_handler",
                    ]
                ),
                "orders",
            ],
            cwd=tmp_path,
            env=program_env(server, MARKERS=str(markers), PYTHONPATH=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert worker.returncode == 0, worker.stderr[-3000:]
    # --burst: the worker has ended, and each work horse flushed before it did
    exceptions = [e for e in server.events if e["event"] == "$exception"]
    by_type = {e["properties"]["$exception_list"][0]["type"]: e for e in exceptions}
    assert len(exceptions) == 2, (json.dumps(exceptions)[:3000], worker.stderr[-3000:])
    assert set(by_type) == {"OrderFailed", "TimeoutError"}
    charged = by_type["OrderFailed"]
    props = charged["properties"]
    first = props["$exception_list"][0]
    assert first["mechanism"]["type"] == "task" and first["mechanism"]["handled"] is False
    assert props["$exception_source"] == "rq.exception_handler"
    assert first["stacktrace"]["frames"][-1]["function"] == "charge"
    assert props["rq_job_func_name"] == "jobs.charge"
    assert props["rq_queue"] == "orders"
    assert isinstance(props["rq_job_id"], str) and props["rq_job_id"]
    assert charged["distinct_id"] == "user-7"
    assert props["$session_id"] == "session-7"
    assert props["plan"] == "team"
    assert "2001" not in json.dumps({k: v for k, v in props.items() if k != "$exception_list"})
    assert by_type["TimeoutError"]["properties"]["rq_retries_left"] == 0  # its last try
    succeeded = [e for e in server.events if e["event"] == "flaky job succeeded"]
    assert len(succeeded) == (1 if setup == "worker-class" else 0)  # as the docstring says


def test_make_exception_handler_rejects_bad_options() -> None:
    from posthog_exceptions.integrations import rq as posthog_rq

    with pytest.raises(TypeError, match="'capture_retries'"):
        posthog_rq.make_exception_handler(capture_retries=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'client'"):
        posthog_rq.make_exception_handler(client=object())  # type: ignore[arg-type]
