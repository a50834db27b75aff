"""The serverless wrapper, in real processes: what escapes a handler is delivered before
the handler returns — a process killed (SIGKILL) the moment it has returned has already
sent it — with the Lambda context's names as tags."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from posthog_exceptions.integrations.serverless import serverless

from .recording_server import RecordingServer
from .worker_models import program_env, run_program

PROGRAM = """
import asyncio, json, signal, sys
import posthog_exceptions
from posthog_exceptions.integrations.serverless import serverless

posthog_exceptions.init(rate_limit=False)

class LambdaContext:  # the shape the AWS Lambda runtime passes
    function_name = "checkout"
    function_version = "$LATEST"
    aws_request_id = "8f5e-request"
    def get_remaining_time_in_millis(self):
        return 30000

@serverless
def handler(event, context):
    posthog_exceptions.capture("invocation started", distinct_id=event["user"])
    raise RuntimeError(f"order {event['order']} failed")

@serverless(flush_timeout=5)
async def async_handler(event, context):
    raise LookupError(f"order {event['order']} not found")

kind = sys.argv[1]
try:
    if kind == "sync":
        handler({"order": 7, "user": "u-1"}, LambdaContext())
    else:
        asyncio.run(async_handler({"order": 8}, LambdaContext()))
except Exception as error:  # what the platform does with it
    print("returned", type(error).__name__, flush=True)
signal.pause()  # frozen until the platform kills the process: nothing more of ours runs
"""


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_error_is_delivered_before_the_handler_returns(
    server: RecordingServer, kind: str
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, kind],
        env=program_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the handler has returned
        process.send_signal(signal.SIGKILL)
        events = list(server.events)  # read at once: no waiting for anything more
    finally:
        process.kill()
        _, err = process.communicate(timeout=30)
    expected = "RuntimeError" if kind == "sync" else "LookupError"
    assert line.split() == ["returned", expected], err
    exceptions = [e for e in events if e["event"] == "$exception"]
    assert len(exceptions) == 1, events
    props = exceptions[0]["properties"]
    assert props["$exception_list"][0]["type"] == expected
    assert props["$exception_list"][0]["mechanism"]["type"] == "middleware"
    assert props["$exception_list"][0]["mechanism"]["handled"] is False
    assert props["$exception_source"] == "serverless.handler"
    assert props["lambda_function_name"] == "checkout"
    assert props["lambda_function_version"] == "$LATEST"
    assert props["lambda_request_id"] == "8f5e-request"
    frames = props["$exception_list"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"].endswith("handler")  # the crash frame is the handler's
    if kind == "sync":  # the event captured during the invocation went with the same flush
        started = [e for e in events if e["event"] == "invocation started"]
        assert len(started) == 1 and started[0]["distinct_id"] == "u-1"
        assert started[0]["properties"]["lambda_request_id"] == "8f5e-request"


def test_the_flush_is_bounded_by_the_time_the_invocation_has_left(
    server: RecordingServer,
) -> None:
    """A server that never answers in time: the handler still returns within what the
    platform's context says is left (less a margin), not after ``flush_timeout``."""
    server.answer(200, delay=5.0)
    code = """
import json, time
import posthog_exceptions
from posthog_exceptions.integrations.serverless import serverless
posthog_exceptions.init(rate_limit=False)
class Context:
    aws_request_id = "r"
    def get_remaining_time_in_millis(self):
        return 1000
@serverless(flush_timeout=30)
def handler(event, context):
    raise ValueError("x")
started = time.monotonic()
try:
    handler({}, Context())
except ValueError:
    pass
print(json.dumps({"took": time.monotonic() - started}))
"""
    result = run_program(code, server, timeout=60)
    took = json.loads(result.stdout.splitlines()[-1])["took"]
    assert took < 4.0  # about 0.75 s (the second left, less the margin); the answer takes 5 s


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flush_timeout": -1}, "'flush_timeout'"),
        ({"flush_timeout": "2"}, "'flush_timeout'"),
        ({"client": "nope"}, "'client'"),
    ],
)
def test_bad_options_raise_naming_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        serverless(**options)  # type: ignore[arg-type]


def test_a_handler_that_succeeds_returns_its_result_after_flushing(
    server: RecordingServer,
) -> None:
    code = """
import posthog_exceptions
from posthog_exceptions.integrations.serverless import serverless
client = posthog_exceptions.init(rate_limit=False)
@serverless
def handler(event, context):
    posthog_exceptions.capture("did it", distinct_id="u")
    return {"statusCode": 200}
assert handler({}, None) == {"statusCode": 200}
assert client.stats()["sent"] == 1, client.stats()
print("ok")
"""
    result = run_program(code, server, timeout=60)
    assert result.stdout.strip() == "ok"
