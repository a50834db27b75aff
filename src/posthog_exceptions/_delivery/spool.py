"""The disk spool (``spool_dir=``, off by default): events that could not be delivered
wait on disk for the next process, instead of being dropped.

What goes in: batches that exhausted their retries, and events still queued (or
given up in flight) when ``shutdown()`` or the exit-time flush ran out of time.
What takes them out: the delivery thread of the next client that uses the same
directory (it starts at once if the spool is not empty, and looks again after a
successful send, at most every few seconds), or
``python -m posthog_exceptions flush-spool``.

A spool file is ``<ns>-<pid>-<random>-<count>.batch``: one JSON header line
(``{"v": 1, "api_key", "host"}``) and one serialised event per line. It is
written to a temporary name, fsynced and renamed, so a reader never sees half a
file. A process takes a file by renaming it to ``….claimed-<pid>`` — renaming is
atomic, so two processes never send the same file; a claim left by a process
that died is taken back. Delivered files are deleted. The spool is bounded by
``spool_max_bytes``: the oldest files go first, and their events are counted
(dropped, ``spool_full``). A file that cannot be read is renamed ``….corrupt``,
reported and skipped — never a crash; set-aside files count toward the bound too, and
go oldest first with the rest.

The spool is private: events hold personal data. The directory is made 0700 and each
file 0600 whatever the umask (a directory that already exists and is open to the group
or to others is used as it is, with one warning). Files are created exclusively and
opened without following symbolic links (a link in the directory is set aside, never
followed); only regular files are read, and only up to ``spool_max_bytes`` — a larger
file is set aside unread.
"""

from __future__ import annotations

import os
import stat
import time

from posthog_exceptions._log import logger

SUFFIX = ".batch"
CLAIMED = ".claimed-"
CORRUPT = ".corrupt"
FORMAT_VERSION = 1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted in the directory must not block


class Corrupt(Exception):
    """A spool file that cannot be read."""


class SpoolFile:
    """What one spool file holds."""

    __slots__ = ("api_key", "host", "payloads")

    def __init__(self, api_key: str, host: str, payloads: list[bytes]) -> None:
        self.api_key = api_key
        self.host = host
        self.payloads = payloads


class Spool:
    """One spool directory (several processes may share it)."""

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._checked = False

    def _prepare_directory(self) -> None:
        """Create the directory 0700, or warn (once) when an existing one is not private."""
        try:
            os.mkdir(self.directory, 0o700)
        except FileExistsError:
            if not self._checked:
                self._checked = True
                _warn_if_shared(self.directory)
            return
        except FileNotFoundError:  # a missing parent: made with the umask, the leaf 0700
            os.makedirs(os.path.dirname(os.path.abspath(self.directory)), exist_ok=True)
            os.mkdir(self.directory, 0o700)
        os.chmod(self.directory, 0o700)  # mkdir's mode is masked by the umask
        self._checked = True

    # ------------------------------------------------------------------ writing

    def write(self, payloads: list[bytes], api_key: str, host: str) -> int:
        """Store events; returns how many older events were dropped to make room.

        Raises ``OSError`` when the events could not be written."""
        import json

        self._prepare_directory()
        header = json.dumps({"v": FORMAT_VERSION, "api_key": api_key, "host": host})
        body = b"\n".join([header.encode(), *payloads]) + b"\n"
        if len(body) > self.max_bytes:
            raise OSError(f"{len(body)} bytes do not fit in spool_max_bytes={self.max_bytes}")
        name = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}-{len(payloads)}"
        final = os.path.join(self.directory, name + SUFFIX)
        temporary = os.path.join(self.directory, f".{name}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                if hasattr(os, "fchmod"):  # POSIX: 0600 whatever the umask
                    os.fchmod(fd, 0o600)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            dropped = self._make_room(len(body))
            os.replace(temporary, final)
        except BaseException:
            _remove(temporary)
            raise
        _sync_directory(self.directory)
        return dropped

    def _make_room(self, size: int) -> int:
        """Delete the oldest files (waiting or set aside) until ``size`` more bytes fit;
        returns how many waiting events went."""
        files = sorted(self._files(SUFFIX) + self._files(CORRUPT), key=os.path.basename)
        total = sum(_size(path) for path in files)
        dropped = 0
        for path in files:  # oldest first: the names start with the time they were written
            if total + size <= self.max_bytes:
                break
            total -= _size(path)
            if _remove(path) and path.endswith(SUFFIX):
                dropped += event_count(path)
        return dropped

    # ------------------------------------------------------------------ reading

    def pending(self) -> list[str]:
        """Spool files waiting to be sent, oldest first (taking back dead processes' claims)."""
        self._reclaim_dead()
        return self._files(SUFFIX)

    def claim(self, path: str) -> str | None:
        """Take a file for this process; ``None`` if another process took it first."""
        claimed = f"{path}{CLAIMED}{os.getpid()}"
        try:
            os.rename(path, claimed)
        except OSError:
            return None
        return claimed

    def read(self, claimed: str) -> SpoolFile:
        import json

        try:
            lines = _read_bounded(claimed, self.max_bytes).splitlines()
            header = json.loads(lines[0])
            if header.get("v") != FORMAT_VERSION:
                raise ValueError(f"unknown spool format {header.get('v')!r}")
            payloads = [line for line in lines[1:] if line]
            for payload in payloads:
                if not isinstance(json.loads(payload), dict):
                    raise ValueError("an event is not a JSON object")
            return SpoolFile(str(header["api_key"]), str(header["host"]), payloads)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise Corrupt(f"{os.path.basename(claimed)}: {exc}") from None

    def done(self, claimed: str) -> None:
        _remove(claimed)

    def release(self, claimed: str) -> None:
        """Give a claimed file back, for a client with its key and host."""
        try:
            os.rename(claimed, claimed.rsplit(CLAIMED, 1)[0])
        except OSError:
            pass

    def quarantine(self, claimed: str) -> None:
        try:
            os.rename(claimed, claimed.rsplit(CLAIMED, 1)[0] + CORRUPT)
        except OSError:
            _remove(claimed)

    # ------------------------------------------------------------------ helpers

    def _files(self, suffix: str) -> list[str]:
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(suffix))
        except OSError:
            return []
        return [os.path.join(self.directory, name) for name in names]

    def _reclaim_dead(self) -> None:
        try:
            names = [n for n in os.listdir(self.directory) if CLAIMED in n]
        except OSError:
            return
        for name in names:
            owner = name.rsplit(CLAIMED, 1)[1]
            if owner.isdigit() and not _alive(int(owner)):
                path = os.path.join(self.directory, name)
                logger.info("taking back %s from process %s, which has ended", name, owner)
                self.release(path)


def event_count(path: str) -> int:
    """The number of events a spool file holds, from its name."""
    stem = os.path.basename(path).split(".", 1)[0]
    count = stem.rsplit("-", 1)[-1]
    return int(count) if count.isdigit() else 0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _read_bounded(path: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, never following a link.

    Raises ``OSError`` (a link, not a regular file, unreadable) or ``ValueError`` (too large)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes, over spool_max_bytes={limit}")
        data = handle.read(limit + 1)
    if len(data) > limit:  # grew after the check
        raise ValueError(f"over spool_max_bytes={limit}")
    return data


def _warn_if_shared(directory: str) -> None:
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return
    if mode & 0o077:
        logger.warning(
            "the spool directory %s is accessible to other users (mode %o); spooled events"
            " hold personal data: chmod 700 it",
            directory,
            stat.S_IMODE(mode),
        )


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _remove(path: str) -> bool:
    try:
        os.remove(path)
    except OSError:
        return False
    return True


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
