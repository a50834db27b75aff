"""Helpers for the worker-model tests: programs run in their own interpreter (or under
their own server) that capture a known number of exceptions, counted by uuid at the
recording server."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

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


class Output:
    """A server process's output, read line by line on a thread of its own (its pipe
    never fills), that a test can wait on."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._lines.append("")  # the end
            self._changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60.0) -> None:
        """Wait until ``count`` lines match ``pattern``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(1 for line in self._lines if re.search(pattern, line)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._lines and self._lines[-1] == ""):
                    raise AssertionError(f"no line matching {pattern!r} in:\n{self.text}")
                self._changed.wait(remaining)

    @property
    def text(self) -> str:
        return "".join(self._lines)

    def finish(self, timeout: float = 30.0) -> str:
        """Once the process has ended: the whole output, the pipe closed."""
        self._reader.join(timeout)
        self._stream.close()
        return self.text


def start_server(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[Any, Output]:
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return process, Output(process)


def run_program(
    code: str, server: RecordingServer, *args: str, timeout: float = 90, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter pointed at ``server``; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=program_env(server, **env),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, str]:
    import requests

    response = requests.get(f"http://127.0.0.1:{port}{path}", timeout=timeout)
    return response.status_code, response.text


def stop(process: subprocess.Popen[Any], output: Output, timeout: float = 60) -> str:
    """Stop a server process gracefully (SIGTERM); all it printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"did not stop within {timeout} s:\n{output.finish()}") from None
    return output.finish()


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


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port, persistence off; its URL.

    Skips (fails under ``CI=true``, where ``.ci/run`` installs Debian's package) when
    the machine has none."""
    binary = shutil.which("redis-server")
    if binary is None:
        require_part("redis-server", "a real Redis for the RQ and Celery-on-Redis tests")
    port = free_port()
    process, output = start_server(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        folder,
        dict(os.environ),
    )
    try:
        output.wait_for(r"Ready to accept connections", timeout=30)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process, output)
