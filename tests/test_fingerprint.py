"""The grouping key, proved with real code run from different directories, edited copies,
virtualenv-like layouts and every Python this machine has."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from posthog_exceptions._capture.fingerprint import collapse, normalize_message

SRC = str(Path(__file__).resolve().parent.parent / "src")

BILLING = """\
class Declined(Exception):
    pass


def charge(user_id):
    raise Declined(f"card for user {user_id} declined")


def refund(order):
    raise Declined(f"refund of {order} failed")


def checkout(user_id):
    return charge(user_id)


def express_checkout(user_id):
    return charge(user_id)


def fail(kind):
    raise {"key": KeyError, "value": ValueError}[kind]("x")


def recurse(n):
    if n == 0:
        raise Declined("bottom")
    return recurse(n - 1)


def in_comprehension():
    return [charge(n) for n in range(1)]


class Account:
    def close(self):
        raise Declined("account")


class Card:
    def close(self):
        raise Declined("card")
"""

RUNNER = """\
import json, sys
from posthog_exceptions import Client
from posthog_exceptions.testing import MemoryTransport
import myapp.billing as billing

transport = MemoryTransport()
client = Client("phc_test", transport=transport, sync_mode=True)
sys.setrecursionlimit(10000)


def fingerprint(call, *args):
    try:
        call(*args)
    except BaseException as exc:
        client.capture_exception(exc)
    return transport.events[-1]["properties"]["$exception_fingerprint"]


def unraised(message):
    client.capture_exception(billing.Declined(message))
    return transport.events[-1]["properties"]["$exception_fingerprint"]


print(json.dumps({
    "charge_42": fingerprint(billing.charge, 42),
    "charge_43": fingerprint(billing.charge, 43),
    "refund": fingerprint(billing.refund, "o-1"),
    "checkout": fingerprint(billing.checkout, 1),
    "express_checkout": fingerprint(billing.express_checkout, 1),
    "fail_key": fingerprint(billing.fail, "key"),
    "fail_value": fingerprint(billing.fail, "value"),
    "recurse_10": fingerprint(billing.recurse, 10),
    "recurse_60": fingerprint(billing.recurse, 60),
    "recurse_3000": fingerprint(billing.recurse, 3000),
    "comprehension": fingerprint(billing.in_comprehension),
    "account_close": fingerprint(billing.Account().close),
    "card_close": fingerprint(billing.Card().close),
    "unraised_a": unraised("order 1234 for bob@example.com failed at 0x7f3a2c"),
    "unraised_b": unraised("order 98 for eve@example.org failed at 0x11ff00"),
    "unraised_other": unraised("payment provider unreachable"),
}))
"""


def make_app(root: Path, *, shift: int = 0, layout: str = "src") -> Path:
    """Write the app under root; return the directory to put on sys.path."""
    venv = layout == "venv"
    import_root = root / "lib" / "python3" / "site-packages" if venv else root / "app"
    package = import_root / "myapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    header = "".join(f"# a comment added later, line {i}\n" for i in range(shift))
    (package / "billing.py").write_text(header + BILLING, encoding="utf-8")
    runner_dir = root / "bin"
    runner_dir.mkdir()
    (runner_dir / "runner.py").write_text(RUNNER, encoding="utf-8")
    return import_root


def fingerprints(root: Path, python: str = sys.executable, **layout: object) -> dict[str, str]:
    import_root = make_app(root, **layout)  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(import_root), SRC])
    result = subprocess.run(
        [python, str(root / "bin" / "runner.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return fingerprints(tmp_path_factory.mktemp("one"))


def test_message_data_does_not_split_a_group(base: dict[str, str]) -> None:
    assert base["charge_42"] == base["charge_43"]


def test_recursion_depth_does_not_split_a_group(base: dict[str, str]) -> None:
    assert base["recurse_10"] == base["recurse_60"] == base["recurse_3000"]


def test_message_without_frames_is_normalised(base: dict[str, str]) -> None:
    assert base["unraised_a"] == base["unraised_b"]
    assert base["unraised_a"] != base["unraised_other"]


def test_different_types_get_different_groups(base: dict[str, str]) -> None:
    assert base["fail_key"] != base["fail_value"]


def test_different_raising_functions_get_different_groups(base: dict[str, str]) -> None:
    assert base["charge_42"] != base["refund"]
    assert base["account_close"] != base["card_close"]  # same name, different classes


def test_different_call_paths_get_different_groups(base: dict[str, str]) -> None:
    assert base["checkout"] != base["express_checkout"]
    assert base["checkout"] != base["charge_42"]


def test_same_bug_from_another_directory(base: dict[str, str], tmp_path: Path) -> None:
    assert fingerprints(tmp_path / "elsewhere" / "deeper") == base


def test_edits_that_shift_line_numbers_keep_the_group(base: dict[str, str], tmp_path: Path) -> None:
    assert fingerprints(tmp_path, shift=17) == base


def test_installed_in_two_virtualenvs(tmp_path: Path) -> None:
    first = fingerprints(tmp_path / "venv-a", layout="venv")
    second = fingerprints(tmp_path / "venv-b", layout="venv", shift=3)
    assert first == second
    # Installed packages are not in-app: only the caller's frames and the type count.
    assert first["charge_42"] == first["refund"]
    assert first["fail_key"] != first["fail_value"]


def _other_pythons() -> list[str]:
    found = []
    roots = [os.path.expanduser("~/.pyenv/versions")]
    for minor in range(9, 14):
        if minor == sys.version_info[1]:
            continue
        for root in roots:
            candidates = sorted(
                glob.glob(os.path.join(root, f"3.{minor}.*", "bin", f"python3.{minor}"))
            )
            if candidates:
                found.append(candidates[-1])
                break
        else:
            path = shutil.which(f"python3.{minor}")
            if path:
                found.append(path)
    return found


def test_same_group_on_every_python_version(base: dict[str, str], tmp_path: Path) -> None:
    pythons = _other_pythons()
    if not pythons:
        pytest.skip("no other CPython 3.9-3.13 on this machine")
    for number, python in enumerate(pythons):
        assert fingerprints(tmp_path / str(number), python=python) == base, python


# ------------------------------------------------------------------ the pieces


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["main", "f", "f", "f", "g"], ["main", "f", "g"]),
        (["main", "a", "b", "a", "b", "a", "b", "crash"], ["main", "a", "b", "crash"]),
        (["a", "b", "c", "a", "b", "c"], ["a", "b", "c"]),
        (["a", "b", "a"], ["a", "b", "a"]),
    ],
)
def test_collapse(keys: list[str], expected: list[str]) -> None:
    assert collapse(keys) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("user 42 not found", "user <num> not found"),
        ("bad id 3fa85f64-5717-4562-b3fc-2c963f66afa6", "bad id <uuid>"),
        ("object at 0x7f00deadbeef", "object at <hex>"),
        ("no such key 'alice'", "no such key <str>"),
        ("can't open /var/data/file.txt", "can't open <path>"),
        ("mail bob@example.com bounced", "mail <email> bounced"),
        ("GET https://api.example.com/v1/x?y=1 failed", "GET <url> failed"),
        ("user42 stays", "user42 stays"),
    ],
)
def test_normalize_message(message: str, expected: str) -> None:
    assert normalize_message(message) == expected
