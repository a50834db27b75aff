"""The ``inbox`` and ``events`` commands of ``python -m posthog_exceptions``."""

from __future__ import annotations

import http.client
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

import posthog_exceptions.inbox as inbox_package
from posthog_exceptions.__main__ import main
from posthog_exceptions.inbox import EventStore

KEY = "phc_cli_key"
EXCEPTION_EVENT: dict[str, Any] = {
    "event": "$exception",
    "distinct_id": "user-cli",
    "uuid": "0190e6a8-0000-7000-8000-000000000001",
    "properties": {
        "$exception_list": [{"type": "ValueError", "value": "boom\nsecond line"}],
        "$exception_level": "error",
    },
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _next_line_containing(lines: queue.Queue[str | None], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no line containing {text!r} within {timeout}s; got {seen}")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"output ended before {text!r}; got {seen}")
        if text in line:
            return line
        seen.append(line)


def _post(port: int, payload: object) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST", "/batch/", json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "posthog_exceptions", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is TerminateProcess on Windows")
def test_inbox_command_serves_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    port = _free_port()
    command = [sys.executable, "-m", "posthog_exceptions", "inbox", "--port", str(port)]
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(
        [*command, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        reader = threading.Thread(target=_pump, args=(process.stdout, lines))
        reader.start()
        try:
            page = _next_line_containing(lines, "to see the errors", timeout=30)
            assert page.strip() == f"open http://127.0.0.1:{port}/ to see the errors"
            line = _next_line_containing(lines, "listening on", timeout=30)
            assert line.strip() == (
                f"posthog-exceptions inbox listening on http://127.0.0.1:{port} (db: {db})"
            )
            assert _post(port, {"api_key": KEY, "batch": [EXCEPTION_EVENT]}) == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join()
    rest = []
    while (item := lines.get_nowait()) is not None:
        rest.append(item)
    assert rest == ["posthog-exceptions inbox stopped\n"]

    listing = _run("events", "--db", str(db))
    assert listing.returncode == 0, listing.stderr
    [row] = listing.stdout.splitlines()
    assert "$exception  user-cli  0190e6a8-0000-7000-8000-000000000001" in row
    assert row.endswith("ValueError: boom second line")

    as_json = _run("events", "--db", str(db), "--json")
    assert as_json.returncode == 0, as_json.stderr
    [obj] = [json.loads(text) for text in as_json.stdout.splitlines()]
    assert obj["event"] == "$exception"
    assert obj["uuid"] == EXCEPTION_EVENT["uuid"]
    assert obj["api_key"] == KEY
    assert obj["properties"] == EXCEPTION_EVENT["properties"]


def _fill(db: Path, events: list[dict[str, Any]]) -> None:
    with EventStore(db) as store:
        store.add(events, KEY)


def test_events_limit_filter_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "events.sqlite3"
    _fill(db, [{"event": f"e{i}", "distinct_id": "d"} for i in range(5)] + [EXCEPTION_EVENT])
    assert main(["events", "--db", str(db), "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[1] for line in out] == ["e4", "$exception"]
    assert main(["events", "--db", str(db), "--limit", "0", "--event", "e1", "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["event"] == "e1"


@pytest.mark.parametrize(
    ("properties", "summary"),
    [
        ({}, None),
        ({"$exception_list": []}, None),
        ({"$exception_list": "nope"}, None),
        ({"$exception_list": [None]}, None),
        ({"$exception_list": [{"value": "no type"}]}, "<unknown type>: no type"),
        ({"$exception_list": [{"type": "KeyError"}]}, "KeyError"),
        ({"$exception_list": [{"type": "E", "value": "v" * 500}]}, "E: " + "v" * 194 + "..."),
    ],
)
def test_events_guards_missing_exception_fields(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    properties: dict[str, Any],
    summary: str | None,
) -> None:
    db = tmp_path / "guard.sqlite3"
    _fill(db, [{"event": "$exception", "distinct_id": "d", "properties": properties}])
    assert main(["events", "--db", str(db)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    fields = line.split("  ")
    assert fields[1:4] == ["$exception", "d", "-"]
    assert fields[4:] == ([] if summary is None else [summary])


def test_events_default_db_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "env.sqlite3"
    _fill(db, [{"event": "from-env", "distinct_id": "d"}])
    monkeypatch.setenv("POSTHOG_INBOX_DB", str(db))
    default_db = inbox_package.DEFAULT_DB  # read at access time, not at import
    assert default_db == str(db)
    assert main(["events"]) == 0
    assert "from-env" in capsys.readouterr().out
    monkeypatch.delenv("POSTHOG_INBOX_DB")
    default_db = inbox_package.DEFAULT_DB
    assert default_db == "posthog-inbox.sqlite3"


def test_events_missing_or_broken_db_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.sqlite3"
    assert main(["events", "--db", str(missing)]) == 1
    captured = capsys.readouterr()
    assert str(missing) in captured.err
    assert captured.out == ""
    assert not missing.exists()
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a sqlite database at all" * 100)
    assert main(["events", "--db", str(broken)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_inbox_port_in_use_exits_1_and_restores_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = tmp_path / "unused.sqlite3"
        assert main(["inbox", "--port", str(port), "--db", str(db)]) == 1
    assert "cannot listen" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before


def test_no_command_prints_help_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "inbox" in err
    assert "events" in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from posthog_exceptions import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_module_is_runnable() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "inbox" in result.stdout
    assert "events" in result.stdout
