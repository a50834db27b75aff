"""Worker models, each in real processes: gevent's and eventlet's monkey-patching, a fork
that bypasses ``os.register_at_fork``, a starved delivery thread (the stall watchdog),
gunicorn with ``--preload`` (sync and gevent workers) and uWSGI with and without threads.

Every program captures a known number of distinct exceptions — some delivered by
``flush()``, the rest by exit-time delivery — and the recording server counts them by
uuid: all of them, none twice."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .recording_server import RecordingServer
from .worker_models import (
    assert_all_once,
    executable,
    free_port,
    get,
    program_env,
    require,
    require_part,
    run_program,
    script,
    start_server,
    stop,
)

PATCH = {
    "gevent": "from gevent import monkey; monkey.patch_all()",
    "eventlet": "import eventlet; eventlet.monkey_patch()",
}
SPAWN = {
    "gevent": "import gevent\nspawn, yield_, join = gevent.spawn, gevent.sleep, lambda g: g.join()",
    "eventlet": (
        "import eventlet\nspawn, yield_, join = eventlet.spawn, eventlet.sleep, lambda g: g.wait()"
    ),
}


LOGGED = """
import logging, threading
class Said(logging.Handler):  # sets an event when the library logs a line containing a text
    def __init__(self, text):
        super().__init__(logging.INFO)
        self.text, self.event = text, threading.Event()
    def emit(self, record):
        if self.text in record.getMessage():
            self.event.set()
def said(text):
    handler = Said(text)
    library = logging.getLogger("posthog_exceptions")
    library.setLevel(logging.INFO)
    library.addHandler(handler)
    return handler.event
"""


def run(code: str, server: RecordingServer, timeout: float = 90) -> dict[str, object]:
    """Run a program; it prints its stats as JSON on its last line."""
    result = run_program(code, server, timeout=timeout, PYTHONWARNINGS="ignore::DeprecationWarning")
    stats: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return stats


@pytest.mark.parametrize("order", ["patched-first", "patched-after-init"])
@pytest.mark.parametrize("library", ["gevent", "eventlet"])
def test_greenlets_deliver_every_capture_with_flush_and_at_exit(
    server: RecordingServer, library: str, order: str
) -> None:
    """1,000 captures from ten greenlets that yield between them: 980 flushed, 20 left
    to exit-time delivery. ``patched-after-init``: the client exists before the patch
    (gunicorn ``--preload`` with gevent workers does this) and must not block the hub."""
    require(library, "the gevent/eventlet worker-model tests")
    patch = PATCH[library]
    code = f"""
{patch if order == "patched-first" else ""}
import json, logging, sys
logging.basicConfig(level=logging.WARNING)
import posthog_exceptions
client = posthog_exceptions.init(rate_limit=False)
{patch if order == "patched-after-init" else ""}
{SPAWN[library]}

def work(k, count):
    for i in range(count):
        try:
            raise ValueError(f"greenlet {{k}} capture {{i}}")
        except ValueError:
            client.capture_exception()
        yield_(0)

greenlets = [spawn(work, k, 98) for k in range(10)]
for g in greenlets:
    join(g)
assert client.flush(30), client.stats()
flushed = client.stats()
for i in range(20):  # left to the exit
    try:
        raise KeyError(i)
    except KeyError:
        client.capture_exception()
print(json.dumps(flushed))
"""
    stats = run(code, server)
    assert stats["sent"] == 980 and stats["pending"] == 0
    dropped = stats["dropped"]
    assert isinstance(dropped, dict) and not any(dropped.values()), dropped
    assert_all_once(server, 1000)


def test_a_fork_that_skips_the_fork_handlers_starts_afresh(server: RecordingServer) -> None:
    """``fork()`` called in C (as uWSGI forks its workers) runs none of the handlers of
    ``os.register_at_fork``: the child notices the new pid, sends its own events and
    never the parent's — here one the parent's thread is waiting to retry at the fork."""
    server.answer(503)  # the parent's "before the fork" waits in a backoff
    code = (
        LOGGED
        + """
import ctypes, json, os, sys
import posthog_exceptions
client = posthog_exceptions.init(rate_limit=False)
def capture(text):
    try:
        raise ValueError(text)
    except ValueError:
        client.capture_exception()
retrying = said("retrying in")
client.capture("before the fork", distinct_id="parent")
assert retrying.wait(20)  # the 503 came back; the thread now waits to retry
assert client.stats()["retried"] == 1 and client.stats()["pending"] == 0
pid = ctypes.PyDLL(None).fork()  # the GIL held across it, as a C caller holds it
if pid == 0:
    for i in range(50):
        capture(f"child {i}")
    ok = client.flush(30)
    stats = client.stats()
    os.write(1, (json.dumps({"ok": ok, "sent": stats["sent"]}) + "\\n").encode())
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
for i in range(50):
    capture(f"parent {i}")
assert client.flush(30)
print(json.dumps(client.stats()))
"""
    )
    result = run_program(code, server)
    child = json.loads(result.stdout.splitlines()[0])
    assert child == {"ok": True, "sent": 50}, result.stdout  # its own 50, counted afresh
    assert_all_once(server, 100)
    assert [e["event"] for e in server.events].count("before the fork") == 1


def test_the_watchdog_sends_from_the_caller_when_the_thread_is_starved(
    server: RecordingServer,
) -> None:
    """A host that never lets the delivery thread run: the GIL's switch interval raised
    so far that a busy main thread is never interrupted. Captures keep being queued for
    nobody — until ``stall_timeout`` passes, the stall is logged and counted, and the
    captures are sent from the capturing thread."""
    code = """
import json, logging, sys, time
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("posthog_exceptions").addHandler(Keep())
import posthog_exceptions
client = posthog_exceptions.init(rate_limit=False, stall_timeout=0.5)
client.capture("warm up", distinct_id="x")  # the thread starts, imports, sends
assert client.flush(30)
sys.setswitchinterval(1000.0)  # from now on the main thread keeps the GIL while it runs
deadline = time.monotonic() + 20
i = 0
while client.stats()["stalls"] == 0 and time.monotonic() < deadline:
    try:
        raise ValueError(f"capture {i}")
    except ValueError:
        client.capture_exception()
    i += 1
    end = time.monotonic() + 0.01
    while time.monotonic() < end:  # busy: never blocks, never gives the GIL up
        pass
sys.setswitchinterval(0.005)
stats = client.stats()
assert stats["stalls"] == 1, stats
assert any("no sign of the delivery thread" in r for r in records), records
print(json.dumps({"captured": i, **stats}))
"""
    stats = run(code, server, timeout=60)
    captured = stats["captured"]
    assert isinstance(captured, int) and captured > 1
    assert_all_once(server, captured)


def test_a_thread_waiting_out_a_pause_is_not_a_stall(server: RecordingServer) -> None:
    """A 429 with Retry-After holds every send back: the thread waits on purpose, and
    captures meanwhile are queued, not sent from the caller."""
    server.answer(429, retry_after="3")
    code = (
        LOGGED
        + """
import json, threading, time
import posthog_exceptions
client = posthog_exceptions.init(rate_limit=False, stall_timeout=0.3)
paused = said("rate limited (429)")
client.capture("first", distinct_id="x")
assert paused.wait(20)  # the 429 came back; the thread pauses for 3 s
# More than stall_timeout passes with the thread waiting on purpose (the time itself is
# what is tested, so this wait is on the clock):
threading.Event().wait(0.5)
started = time.monotonic()
for i in range(20):  # sent from here, each would wait about 2.5 s for the pause's end
    try:
        raise ValueError(f"capture {i}")
    except ValueError:
        client.capture_exception()
took = time.monotonic() - started
assert client.flush(30)
print(json.dumps({"took": took, **client.stats()}))
"""
    )
    stats = run(code, server, timeout=60)
    assert stats["stalls"] == 0
    took = stats["took"]
    assert isinstance(took, float) and took < 1.9  # nothing waited for the pause's end
    assert_all_once(server, 20)


GUNICORN_APP = """
import os
import posthog_exceptions

client = posthog_exceptions.init(rate_limit=False)  # with --preload: in the master


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/flush":
        body = str(client.flush(30)).encode()
    elif path == "/pid":
        body = str(os.getpid()).encode()
    else:
        request, count = path.strip("/").split("-")
        for i in range(int(count)):
            try:
                raise ValueError(f"request {request} capture {i} in {os.getpid()}")
            except ValueError:
                client.capture_exception()
        body = b"captured"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


@pytest.mark.parametrize("worker_class", ["sync", "gevent"])
def test_gunicorn_preload_delivers_every_capture(
    server: RecordingServer, tmp_path: object, worker_class: str
) -> None:
    """``init()`` in the master (``--preload``), two forked workers: 100 requests of 10
    captures; half flushed by a request, the rest sent at the workers' graceful exit."""
    require("gunicorn", "the gunicorn worker-model tests")
    if worker_class == "gevent":
        require("gevent", "gunicorn's gevent workers")
    folder = Path(str(tmp_path))
    script(folder / "app.py", GUNICORN_APP)
    command = [
        executable("gunicorn"),
        "--preload",
        "--workers=2",
        f"--worker-class={worker_class}",
        "--graceful-timeout=30",
        "app:app",
    ]
    status, output = serve_and_capture(command, "--bind=127.0.0.1:{port}", folder, server)
    assert status == 0, output
    try:
        assert_all_once(server, 1000, timeout=10)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{output}") from None


def serve_and_capture(
    command: list[str],
    bind: str,
    folder: Path,
    server: RecordingServer,
    direct: bool | None = None,
) -> tuple[int, str]:
    """Run a server (``bind`` takes the port) with the app in ``folder``: 100 requests of
    10 captures each, eight ``/flush`` requests between the halves (each lands on one
    worker or another), then a graceful stop. ``direct``: what ``/direct`` must answer
    (whether captures send from the calling thread). Returns the exit status and what
    the server printed."""
    port = free_port()
    env = program_env(server, PYTHONWARNINGS="ignore::DeprecationWarning")
    process, output = start_server([*command, bind.format(port=port)], folder, env)
    try:
        output.wait_for(r"Listening at: |bound to TCP address")  # the socket is open
        for request in range(50):
            assert get(port, f"/{request}-10") == (200, "captured")
        if direct is not None:
            assert get(port, "/direct") == (200, str(direct))
        for _ in range(8):
            assert get(port, "/flush") == (200, "True")
        for request in range(50, 100):
            assert get(port, f"/{request}-10") == (200, "captured")
    finally:
        text = stop(process, output)
    return process.returncode, text


UWSGI_APP = """
import logging
import os
import posthog_exceptions

logging.basicConfig(level=logging.WARNING)  # the library's warning, in uWSGI's log
client = posthog_exceptions.init(rate_limit=False)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/flush":
        body = str(client.flush(30)).encode()
    elif path == "/direct":
        body = str(client._worker._direct).encode()
    else:
        request, count = path.strip("/").split("-")
        for i in range(int(count)):
            try:
                raise ValueError(f"request {request} capture {i} in {os.getpid()}")
            except ValueError:
                client.capture_exception()
        body = b"captured"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


@pytest.mark.parametrize("threads", [False, True])
def test_uwsgi_delivers_every_capture(
    server: RecordingServer, tmp_path: object, threads: bool
) -> None:
    """uWSGI with two preforked workers (the master loads the app and forks in C).
    Without ``--enable-threads`` a background thread never runs there: the library says
    so once and sends from the capturing thread; with it, delivery is in the background."""
    if not Path(executable("uwsgi")).exists():
        require_part("uwsgi", "uWSGI (pip install uwsgi; it compiles with the machine's gcc)")

    version = subprocess.run(
        [executable("uwsgi"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not threads and tuple(int(part) for part in version.split(".")[:3]) >= (2, 0, 27):
        pytest.skip(f"uWSGI {version} always runs threads (2.0.26 is pinned below Python 3.13)")
    folder = Path(str(tmp_path))
    script(folder / "app.py", UWSGI_APP)
    command = [
        executable("uwsgi"),
        "--master",
        "--processes=2",
        "--wsgi-file=app.py",
        "--die-on-term",
        *(["--enable-threads"] if threads else []),
    ]
    _, output = serve_and_capture(
        command, "--http-socket=127.0.0.1:{port}", folder, server, direct=not threads
    )
    if not threads:
        assert "Python threads support is disabled" in output  # uWSGI's own word for it
        assert "uWSGI runs this application without threads" in output, output
    assert_all_once(server, 1000)
