"""The interpreter hooks, in real subprocesses against a real local server."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import posthog_exceptions
from posthog_exceptions.integrations import hooks as _hooks

from .conftest import API_KEY
from .exc_helpers import Captured, exceptions, frames
from .recording_server import RecordingServer
from .test_process import run_python

PRELUDE = f"""
import sys, threading, posthog_exceptions
posthog_exceptions.init({API_KEY!r}, host=sys.argv[1])
"""


def run(server: RecordingServer, body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE + body as a script file (so frames have source lines)."""
    script = tmp_path / "app.py"
    script.write_text(PRELUDE + body, encoding="utf-8")
    return run_python(script, server.url)


def exception_events(server: RecordingServer) -> list[dict[str, Any]]:
    return [e for e in server.events if e["event"] == "$exception"]


def test_unhandled_error_in_main_thread(server: RecordingServer, tmp_path: Path) -> None:
    result = run(
        server,
        """
def charge(amount):
    raise ValueError(f"card declined for {amount}")
charge(42)
""",
        tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: card declined for 42" in result.stderr
    (event,) = exception_events(server)
    props = event["properties"]
    assert props["$exception_level"] == "fatal"
    assert props["$exception_source"] == "python.sys_excepthook"
    (entry,) = props["$exception_list"]
    assert entry["mechanism"]["type"] == "onuncaughtexception"
    assert entry["mechanism"]["handled"] is False
    crash = entry["stacktrace"]["frames"][-1]
    assert crash["function"] == "charge"
    assert crash["context_line"] == '    raise ValueError(f"card declined for {amount}")'
    assert crash["lineno"] == 6  # line 3 of the body, after the three-line prelude


def test_unhandled_error_is_delivered_even_from_a_slow_server(
    server: RecordingServer, tmp_path: Path
) -> None:
    server.answer(200, delay=1.0)
    result = run(server, "raise RuntimeError('late')\n", tmp_path)
    assert result.returncode == 1
    assert len(exception_events(server)) == 1


def test_keyboard_interrupt_sends_nothing(server: RecordingServer, tmp_path: Path) -> None:
    result = run(server, "raise KeyboardInterrupt\n", tmp_path)
    assert result.returncode != 0
    assert "KeyboardInterrupt" in result.stderr
    assert exception_events(server) == []


def test_system_exit_sends_nothing(server: RecordingServer, tmp_path: Path) -> None:
    result = run(server, "raise SystemExit(3)\n", tmp_path)
    assert result.returncode == 3
    assert exception_events(server) == []


def test_crashing_thread(server: RecordingServer, tmp_path: Path) -> None:
    result = run(
        server,
        """
def work():
    raise KeyError("missing")
thread = threading.Thread(target=work, name="billing-worker")
thread.start()
thread.join()
print("main thread carried on")
""",
        tmp_path,
    )
    assert result.returncode == 0
    assert "main thread carried on" in result.stdout
    assert "Exception in thread billing-worker" in result.stderr
    (event,) = exception_events(server)
    props = event["properties"]
    assert props["$exception_level"] == "error"
    assert props["$exception_source"] == "python.threading_excepthook"
    assert props["$thread_name"] == "billing-worker"
    entry = props["$exception_list"][0]
    assert entry["mechanism"] == {
        "type": "onuncaughtexception",
        "handled": False,
        "synthetic": False,
        "exception_id": 0,
    }
    assert entry["stacktrace"]["frames"][-1]["function"] == "work"


def test_error_in_del(server: RecordingServer, tmp_path: Path) -> None:
    result = run(
        server,
        """
class Resource:
    def __del__(self):
        raise OSError("could not release")
Resource()
import gc; gc.collect()
""",
        tmp_path,
    )
    assert result.returncode == 0
    assert "Exception ignored in" in result.stderr
    (event,) = exception_events(server)
    props = event["properties"]
    assert props["$exception_source"] == "python.unraisablehook"
    assert "Resource.__del__" in props["$unraisable_object"]
    assert props["$exception_list"][0]["type"] == "OSError"


def test_decorator_and_hook_send_one_event(server: RecordingServer, tmp_path: Path) -> None:
    result = run(
        server,
        """
@posthog_exceptions.capture_exceptions
def job():
    raise ValueError("once")
job()
""",
        tmp_path,
    )
    assert result.returncode == 1
    assert "ValueError: once" in result.stderr
    (event,) = exception_events(server)
    assert event["properties"]["$exception_source"] == "python.decorator"


def test_previous_hook_is_chained(server: RecordingServer) -> None:
    result = run_python(
        f"""
import sys, posthog_exceptions
def mine(*args):
    print("previous hook ran", args[0].__name__)
sys.excepthook = mine
posthog_exceptions.init({API_KEY!r}, host=sys.argv[1])
raise LookupError("x")
""",
        server.url,
    )
    assert "previous hook ran LookupError" in result.stdout
    assert len(exception_events(server)) == 1


def test_install_hooks_false_leaves_the_interpreter_alone(server: RecordingServer) -> None:
    result = run_python(
        f"""
import sys, posthog_exceptions
posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], install_hooks=False)
assert sys.excepthook is sys.__excepthook__
raise LookupError("x")
""",
        server.url,
    )
    assert result.returncode == 1
    assert exception_events(server) == []


@pytest.mark.parametrize(("capture_interactive", "expected"), [(False, 0), (True, 1)])
def test_interactive_sessions_are_skipped_unless_asked(
    server: RecordingServer, capture_interactive: bool, expected: int
) -> None:
    result = run_python(
        f"""
import sys
sys.ps1 = ">>> "  # what an interactive session looks like
import posthog_exceptions
posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], capture_interactive={capture_interactive})
raise LookupError("typo")
""",
        server.url,
    )
    assert result.returncode == 1
    assert len(exception_events(server)) == expected


# ------------------------------------------------------------------ in-process etiquette


@pytest.fixture
def restore_hooks() -> Any:
    saved = (sys.excepthook, threading.excepthook, sys.unraisablehook)
    yield
    _hooks.uninstall()
    sys.excepthook, threading.excepthook, sys.unraisablehook = saved


@pytest.mark.usefixtures("restore_hooks")
def test_install_is_idempotent_and_uninstall_restores() -> None:
    original = sys.excepthook
    cap = Captured()
    cap.client.install_hooks()
    cap.client.install_hooks()
    assert sys.excepthook is _hooks._excepthook
    assert threading.excepthook is _hooks._threading_excepthook
    assert sys.unraisablehook is _hooks._unraisablehook
    cap.client.uninstall_hooks()
    assert sys.excepthook is original


@pytest.mark.usefixtures("restore_hooks")
def test_uninstall_leaves_a_hook_installed_on_top_of_ours() -> None:
    cap = Captured()
    cap.client.install_hooks()

    def theirs(*args: Any) -> None:
        pass

    sys.excepthook = theirs
    posthog_exceptions.uninstall_hooks()
    assert sys.excepthook is theirs
    assert threading.excepthook is not _hooks._threading_excepthook


@pytest.mark.usefixtures("restore_hooks")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_thread_hook_in_process() -> None:
    cap = Captured()
    cap.client.install_hooks()

    def work() -> None:
        raise KeyError("in thread")

    thread = threading.Thread(target=work, name="t-1")
    thread.start()
    thread.join()
    event = cap.only()
    assert event["properties"]["$thread_name"] == "t-1"
    assert frames(exceptions(event)[0])[-1]["function"].endswith("work")


WRAPPED_AGAIN = """
import sys, threading, posthog_exceptions
posthog_exceptions.init(KEY, host=sys.argv[1])
saved = {"sys": sys.excepthook, "thread": threading.excepthook, "raw": sys.unraisablehook}
# An application (or an APM agent) wraps the hooks after init(), calling what it found
# through module globals, which no one can see through.
def app_excepthook(*args):
    print("app excepthook ran", file=sys.stderr)
    saved["sys"](*args)
def app_thread_hook(args):
    print("app thread hook ran", file=sys.stderr)
    saved["thread"](args)
def app_unraisable_hook(unraisable):
    print("app unraisable hook ran", file=sys.stderr)
    saved["raw"](unraisable)
sys.excepthook, threading.excepthook = app_excepthook, app_thread_hook
sys.unraisablehook = app_unraisable_hook
posthog_exceptions.init(KEY, host=sys.argv[1])  # and init() runs again
thread = threading.Thread(target=lambda: 1 / 0)
thread.start()
thread.join()
class Leaky:
    def __del__(self):
        raise ValueError("in __del__")
Leaky()
raise RuntimeError("the program dies")
"""


def test_hooks_wrapped_by_the_application_then_installed_again_run_once_each(
    server: RecordingServer, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(WRAPPED_AGAIN.replace("KEY", repr(API_KEY)), encoding="utf-8")
    result = run_python(script, server.url)
    assert result.returncode == 1
    for hook in ("excepthook", "thread hook", "unraisable hook"):
        assert result.stderr.count(f"app {hook} ran") == 1, result.stderr[-2000:]
    assert result.stderr.count("RuntimeError: the program dies") == 1
    sources = sorted(e["properties"]["$exception_source"] for e in exception_events(server))
    assert sources == [
        "python.sys_excepthook",
        "python.threading_excepthook",
        "python.unraisablehook",
    ]


SENTRY_AFTER_US = """
import sys, warnings
# sentry-sdk imports eventlet (a dev dependency here) to ask whether it patched anything:
warnings.filterwarnings("ignore", "\\nEventlet is deprecated", DeprecationWarning)
import posthog_exceptions, sentry_sdk
from sentry_sdk.integrations.unraisablehook import UnraisablehookIntegration
def app_excepthook(*args):  # the application's own hook, installed before both SDKs
    print("app excepthook ran", file=sys.stderr)
    sys.__excepthook__(*args)
sys.excepthook = app_excepthook
posthog_exceptions.init(KEY, host=sys.argv[1])
sentry_sdk.init(dsn=sys.argv[2], integrations=[UnraisablehookIntegration()],
                default_integrations=True, shutdown_timeout=5)
posthog_exceptions.init(KEY, host=sys.argv[1])
class Leaky:
    def __del__(self):
        raise ValueError("in __del__")
Leaky()
raise RuntimeError("the program dies")
"""


def test_with_sentry_initialised_after_us_and_init_again_each_sdk_sends_once(
    server: RecordingServer, tmp_path: Path
) -> None:
    import gzip

    pytest.importorskip("sentry_sdk")
    with RecordingServer() as sentry:
        dsn = f"http://publickey@127.0.0.1:{sentry.port}/1"
        script = tmp_path / "app.py"
        script.write_text(SENTRY_AFTER_US.replace("KEY", repr(API_KEY)), encoding="utf-8")
        result = run_python(script, server.url, dsn)
        envelopes = [
            gzip.decompress(r.raw) if r.raw[:2] == b"\x1f\x8b" else r.raw
            for r in sentry.requests
            if r.path.endswith("/envelope/")
        ]
    assert result.returncode == 1
    assert result.stderr.count("app excepthook ran") == 1, result.stderr[-2000:]
    assert result.stderr.count("RuntimeError: the program dies") == 1
    sources = sorted(e["properties"]["$exception_source"] for e in exception_events(server))
    assert sources == ["python.sys_excepthook", "python.unraisablehook"]
    sent_by_sentry = b"\n".join(envelopes)
    assert sent_by_sentry.count(b'"type":"RuntimeError"') == 1
    assert sent_by_sentry.count(b'"type":"ValueError"') == 1
