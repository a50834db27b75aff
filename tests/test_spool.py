"""The disk spool: undeliverable events wait on disk and are sent once by the next process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from posthog_exceptions import Client
from posthog_exceptions._delivery.spool import Corrupt, Spool, event_count

from .conftest import API_KEY
from .recording_server import Answer, RecordingServer, refusing_socket
from .test_process import run_python

MakeClient = Callable[..., Client]


def uid(number: int) -> str:
    return str(uuid.UUID(int=number))


def payloads(count: int, start: int = 0) -> list[bytes]:
    """Serialised events as the client queues them, numbered by their uuid."""
    return [
        json.dumps({"event": "e", "distinct_id": "u", "uuid": uid(i)}).encode()
        for i in range(start, start + count)
    ]


# ------------------------------------------------------------------ the spool itself


def test_write_claim_read_done(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=1 << 20)
    spool.write(payloads(3), "phc_k", "http://h")
    (path,) = spool.pending()
    assert event_count(path) == 3
    claimed = spool.claim(path)
    assert claimed is not None
    assert spool.claim(path) is None  # a second claimant loses
    stored = spool.read(claimed)
    assert (stored.api_key, stored.host, stored.payloads) == ("phc_k", "http://h", payloads(3))
    spool.done(claimed)
    assert spool.pending() == []
    assert os.listdir(tmp_path) == []


def test_written_atomically_no_temp_files_left(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=1 << 20)
    for _ in range(5):
        spool.write(payloads(2), "phc_k", "http://h")
    assert all(name.endswith(".batch") for name in os.listdir(tmp_path))


def test_bounded_oldest_dropped_and_counted(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=2000)
    dropped = [spool.write(payloads(10, start=10 * n), "phc_k", "http://h") for n in range(6)]
    assert sum(dropped) > 0
    remaining = spool.pending()
    total = sum(os.path.getsize(p) for p in remaining)
    assert total <= 2000
    kept = [
        int(uuid.UUID(json.loads(line)["uuid"]))
        for p in remaining
        for line in Path(p).read_bytes().splitlines()[1:]
    ]
    assert kept[-1] == 59  # the newest survive
    assert sum(dropped) + len(kept) == 60


def test_corrupt_file_is_reported_not_raised(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=1 << 20)
    (tmp_path / "00000000000000000001-1-abcd-3.batch").write_bytes(b"\x00garbage\n")
    (path,) = spool.pending()
    claimed = spool.claim(path)
    assert claimed is not None
    with pytest.raises(Corrupt, match=r"garbage|Expecting|JSON"):
        spool.read(claimed)
    spool.quarantine(claimed)
    assert spool.pending() == []
    assert os.listdir(tmp_path) == ["00000000000000000001-1-abcd-3.batch.corrupt"]


def test_claims_of_dead_processes_are_taken_back(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=1 << 20)
    spool.write(payloads(2), "phc_k", "http://h")
    (path,) = spool.pending()
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    os.rename(path, f"{path}.claimed-{dead_pid}")
    assert spool.pending() == [path]


# ------------------------------------------------------------------ with a client


def test_exhausted_retries_go_to_the_spool_and_the_next_client_sends_them(
    server: RecordingServer, make_client: MakeClient, tmp_path: Path
) -> None:
    server.responder = lambda request: Answer(500)
    failing = make_client(server.url, spool_dir=tmp_path, max_retries=0)
    uids = [failing.capture("e", distinct_id="u", properties={"i": i}) for i in range(5)]
    assert failing.flush(timeout=10)
    stats = failing.stats()
    assert stats["spooled"] == 5
    assert sum(stats["dropped"].values()) == 0
    assert failing.shutdown(timeout=5)

    server.responder = None
    server.requests.clear()
    recovered = make_client(server.url, spool_dir=tmp_path)  # starts sending at once
    server.wait_for_events(5)
    assert sorted(e["uuid"] for e in server.events) == sorted(u for u in uids if u)
    assert recovered.shutdown(timeout=10)  # waits for the replay to finish
    assert Spool(str(tmp_path), 1 << 20).pending() == []


def test_spool_for_another_project_is_left_alone(
    server: RecordingServer, make_client: MakeClient, tmp_path: Path
) -> None:
    Spool(str(tmp_path), 1 << 20).write(payloads(2), "phc_other", server.url)
    client = make_client(server.url, spool_dir=tmp_path)
    client.capture("mine", distinct_id="u")
    assert client.flush(timeout=10)
    assert [e["event"] for e in server.events] == ["mine"]
    assert len(Spool(str(tmp_path), 1 << 20).pending()) == 1


def test_corrupt_spool_file_is_skipped_and_counted(
    server: RecordingServer,
    make_client: MakeClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool = Spool(str(tmp_path), 1 << 20)
    (tmp_path / "00000000000000000001-1-abcd-4.batch").write_text("not json\n")
    spool.write(payloads(2), API_KEY, server.url)
    client = make_client(server.url, spool_dir=tmp_path)
    server.wait_for_events(2)
    client.shutdown(timeout=10)  # waits for the replay to finish
    assert client.stats()["dropped"]["spool_corrupt"] == 4
    assert "unreadable spool file" in caplog.text
    assert sorted(os.listdir(tmp_path)) == ["00000000000000000001-1-abcd-4.batch.corrupt"]


def test_two_clients_never_send_a_spooled_batch_twice(
    server: RecordingServer, make_client: MakeClient, tmp_path: Path
) -> None:
    spool = Spool(str(tmp_path), 1 << 30)
    for n in range(40):
        spool.write(payloads(5, start=5 * n), API_KEY, server.url)
    start = threading.Barrier(2)
    clients: list[Client] = []

    def open_client() -> None:
        start.wait()
        clients.append(make_client(server.url, spool_dir=tmp_path))

    threads = [threading.Thread(target=open_client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.wait_for_events(200, timeout=30)
    seen = Counter(e["uuid"] for e in server.events)
    assert len(seen) == 200
    assert max(seen.values()) == 1


# ------------------------------------------------------------------ across processes


PROGRAM = f"""
import sys, posthog_exceptions
client = posthog_exceptions.init({API_KEY!r}, host=sys.argv[1], spool_dir=sys.argv[2],
                                 shutdown_timeout=1, max_retries=2)
for i in range(int(sys.argv[3])):
    posthog_exceptions.capture("offline", distinct_id="u", properties={{"i": i}})
print(client.stats()["queued"])
"""


def test_server_down_program_exits_server_up_next_program_delivers_once(tmp_path: Path) -> None:
    spool_dir = str(tmp_path / "spool")
    sock = refusing_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    first = run_python(PROGRAM, url, spool_dir, "20")
    assert first.returncode == 0, first.stderr
    assert (
        "spooled 20" in first.stderr
        or sum(event_count(p) for p in Spool(spool_dir, 1 << 30).pending()) == 20
    )
    assert sum(event_count(p) for p in Spool(spool_dir, 1 << 30).pending()) == 20

    server = RecordingServer().start(sock)  # the server comes back on the same port
    try:
        second = run_python(PROGRAM, url, spool_dir, "0")
        assert second.returncode == 0, second.stderr
        received = Counter(e["properties"]["i"] for e in server.events)
        assert received == Counter(range(20))  # every spooled event, once
        assert server.wire_problems == []
    finally:
        server.stop()
    assert Spool(spool_dir, 1 << 30).pending() == []


def test_flush_spool_command(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), 1 << 30)
    with RecordingServer() as server:
        spool.write(payloads(3), API_KEY, server.url)
        spool.write(payloads(2, start=3), API_KEY, server.url)
        result = subprocess.run(
            [sys.executable, "-m", "posthog_exceptions", "flush-spool", "--dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert sorted(e["uuid"] for e in server.events) == [uid(i) for i in range(5)]
        assert "the spool is empty" in result.stdout
    assert spool.pending() == []


def test_flush_spool_with_the_server_down_keeps_the_events(tmp_path: Path) -> None:
    sock = refusing_socket()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        Spool(str(tmp_path), 1 << 30).write(payloads(3), API_KEY, url)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "posthog_exceptions",
                "flush-spool",
                "--dir",
                str(tmp_path),
                "--timeout",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert sum(event_count(p) for p in Spool(str(tmp_path), 1 << 30).pending()) == 3
    finally:
        sock.close()


# ------------------------------------------------------------------ the worker's replay


def test_flush_does_not_wait_for_an_earlier_process_spool_but_shutdown_does(
    server: RecordingServer, make_client: MakeClient, tmp_path: Path
) -> None:
    """Spooled batches never enter the queue's register: ``flush()`` covers the events
    queued before it (none here), while ``shutdown()`` waits for the replay."""
    Spool(str(tmp_path), 1 << 20).write(payloads(3), API_KEY, server.url)
    server.answer(200, delay=30)  # the replay's request stalls until released
    client = make_client(server.url, spool_dir=tmp_path)
    server.wait_for_arrivals(1)
    assert client.flush(timeout=5)  # nothing of this process's is waiting
    assert client.stats()["pending"] == 0
    assert not client.shutdown(timeout=0.2)  # the replay is still on the wire
    server.release()
    server.wait_for_events(3)
    assert sorted(e["uuid"] for e in server.events) == [uid(i) for i in range(3)]


def test_losses_go_to_the_spool_or_are_counted_by_reason(tmp_path: Path) -> None:
    from posthog_exceptions._config import build_options
    from posthog_exceptions._delivery.replay import Replay
    from posthog_exceptions._delivery.sender import Pacing
    from posthog_exceptions._stats import Counters

    options = build_options(API_KEY, "http://127.0.0.1:9")
    counters = Counters()
    Replay(options, counters, None, Pacing()).lose(list(payloads(2)), "shutdown")
    assert counters.dropped["shutdown"] == 2
    assert counters.spooled == 0

    spooling = Replay(options, counters, Spool(str(tmp_path), 1 << 20), Pacing())
    spooling.lose(list(payloads(3)), "retries_exhausted")
    assert counters.spooled == 3
    assert counters.dropped["retries_exhausted"] == 0
    (path,) = Spool(str(tmp_path), 1 << 20).pending()
    assert event_count(path) == 3


def test_an_unwritable_spool_counts_the_loss(tmp_path: Path) -> None:
    from posthog_exceptions._config import build_options
    from posthog_exceptions._delivery.replay import Replay
    from posthog_exceptions._delivery.sender import Pacing
    from posthog_exceptions._stats import Counters

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    counters = Counters()
    replay = Replay(
        build_options(API_KEY, "http://127.0.0.1:9"),
        counters,
        Spool(str(blocker / "spool"), 1 << 20),
        Pacing(),
    )
    replay.lose(list(payloads(2)), "shutdown")
    assert counters.spooled == 0
    assert counters.dropped["shutdown"] == 2


# ------------------------------------------------------------------ privacy and bounds


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
def test_directory_and_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    previous = os.umask(0o022)
    try:
        Spool(str(directory), max_bytes=1 << 20).write(payloads(2), "phc_k", "http://h")
    finally:
        os.umask(previous)
    assert _mode(directory) == 0o700
    (batch,) = directory.iterdir()
    assert _mode(batch) == 0o600


def test_an_existing_shared_directory_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o755)
    spool = Spool(str(directory), max_bytes=1 << 20)
    with caplog.at_level("WARNING", logger="posthog_exceptions"):
        spool.write(payloads(1), "phc_k", "http://h")
        spool.write(payloads(1, start=1), "phc_k", "http://h")
    warnings = [r for r in caplog.records if "accessible to other users" in r.getMessage()]
    assert len(warnings) == 1
    assert "755" in warnings[0].getMessage()
    assert _mode(directory) == 0o755  # the user's directory is left as it is


def test_a_symlink_in_the_spool_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = Spool(str(elsewhere), max_bytes=1 << 20)
    outside.write(payloads(3), "phc_k", "http://h")
    (target,) = elsewhere.iterdir()
    directory = tmp_path / "spool"
    spool = Spool(str(directory), max_bytes=1 << 20)
    spool.write(payloads(1, start=10), "phc_k", "http://h")
    link = directory / "00000000000000000001-1-abcd-3.batch"
    link.symlink_to(target)
    sent: list[bytes] = []
    corrupt = 0
    for path in spool.pending():
        claimed = spool.claim(path)
        assert claimed is not None
        try:
            sent.extend(spool.read(claimed).payloads)
        except Corrupt:
            corrupt += 1
            spool.quarantine(claimed)
        else:
            spool.done(claimed)
    assert sent == payloads(1, start=10)
    assert corrupt == 1
    assert target.exists() and target.read_bytes().count(b"\n") == 4  # untouched


def test_a_huge_sparse_file_is_set_aside_unread(tmp_path: Path) -> None:
    """A 1 GiB (sparse) file is refused from its size, in a child whose peak memory is read."""
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    huge = directory / "00000000000000000001-1-abcd-5.batch"
    with open(huge, "wb") as handle:
        handle.truncate(1 << 30)
    program = f"""
import resource, sys
from posthog_exceptions._delivery.spool import Corrupt, Spool
spool = Spool({str(directory)!r}, max_bytes=1 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
(path,) = spool.pending()
claimed = spool.claim(path)
try:
    spool.read(claimed)
except Corrupt as exc:
    print("corrupt:", exc)
spool.quarantine(claimed)
spool.write([b'{{"event": "e", "distinct_id": "u"}}'], "phc_k", "http://h")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("grew_kib", after - before)
"""
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert "corrupt:" in finished.stdout and "spool_max_bytes" in finished.stdout
    grew = int(finished.stdout.split("grew_kib")[1])
    assert grew < 16 * 1024, finished.stdout  # KiB on Linux: far below the file's 1 GiB
    # The set-aside file counted toward the bound, so writing made room by deleting it.
    assert [p.name.endswith(".batch") for p in directory.iterdir()] == [True]


def test_set_aside_files_count_toward_the_bound(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=20_000)
    for n in range(50):
        (tmp_path / f"{n:020d}-1-abcd-1.batch.corrupt").write_bytes(b"x" * 2_000)
    spool.write(payloads(3), "phc_k", "http://h")
    names = sorted(os.listdir(tmp_path))
    total = sum(os.path.getsize(tmp_path / name) for name in names)
    assert total <= 20_000
    corrupt = [name for name in names if name.endswith(".corrupt")]
    assert corrupt and corrupt[0] > f"{40:020d}"  # the oldest went first
    assert sum(name.endswith(".batch") for name in names) == 1


def test_a_batch_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=500)
    with pytest.raises(OSError, match="spool_max_bytes"):
        spool.write(payloads(20), "phc_k", "http://h")
    assert os.listdir(tmp_path) == []
