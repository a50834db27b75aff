"""Helpers for the worker-model tests: programs run in their own interpreter (or under
their own server) that capture a known number of exceptions, counted by uuid at the
recording server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import pytest

from .conftest import API_KEY
from .recording_server import RecordingServer


def require(module: str, why: str) -> None:
    """Skip (fail under ``CI=true``) when ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:  # found, not imported (no side effects here)
        require_part(module, why)


def require_part(name: str, why: str) -> None:
    """Skip (fail under ``CI=true``) for a missing program or server."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is needed ({why}) and is missing under CI")
    pytest.skip(f"{name} is not available ({why})")


def program_env(server: RecordingServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    env.update(POSTHOG_API_KEY=API_KEY, POSTHOG_HOST=server.url, **extra)
    return env


def exception_uuids(server: RecordingServer) -> Counter[str]:
    return Counter(e["uuid"] for e in server.events if e["event"] == "$exception")


def assert_all_once(server: RecordingServer, expected: int, timeout: float = 30.0) -> None:
    """Exactly ``expected`` distinct exception events arrived, none twice."""
    try:
        server.wait_for(lambda: len(exception_uuids(server)) >= expected, timeout=timeout)
    except TimeoutError:
        pass  # said below, with the count
    uuids = exception_uuids(server)
    assert len(uuids) == expected, f"{len(uuids)} of {expected} events arrived"
    twice = {uuid: n for uuid, n in uuids.items() if n > 1}
    assert not twice, f"{len(twice)} events arrived more than once"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_line(stream: IO[str], pattern: str, deadline: float, seen: list[str]) -> str:
    """Read ``stream`` until a line matches ``pattern`` (the match's first group)."""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match.group(1)
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def wait_until_serving(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not open yet (no event to wait on)
    raise AssertionError(f"nothing listens on port {port}")


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, str]:
    import requests

    response = requests.get(f"http://127.0.0.1:{port}{path}", timeout=timeout)
    return response.status_code, response.text


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 60) -> str:
    """Stop a server process gracefully; its output."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"did not stop within {timeout} s:\n{out}") from None
    return str(out or "")


def script(path: Path, text: str) -> Path:
    import textwrap

    path.write_text(textwrap.dedent(text))
    return path


def executable(name: str) -> str:
    """A console script of this interpreter's environment (gunicorn, uwsgi, celery, rq)."""
    found = Path(sys.executable).with_name(name)
    if found.exists():
        return str(found)
    return shutil.which(name) or name
