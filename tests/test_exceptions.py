"""capture_exception() and the $exception event it builds: chains, groups, notes, frames,
synthetic stacks, deep recursion, hostile objects and the size cap."""

from __future__ import annotations

import builtins
import gc
import json
import os
import sys
import threading
import time
import weakref
from typing import Any, NoReturn

import pytest

import posthog_exceptions

from .exc_helpers import Captured, exceptions, frames

HERE = os.path.basename(__file__)


def fail(message: str = "boom") -> NoReturn:
    raise ValueError(message)


def line_of(text: str) -> int:
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if text in line and "line_of" not in line:
                return number
    raise AssertionError(text)


# ------------------------------------------------------------------ the ways in


def test_capture_exception_instance_returns_uuid() -> None:
    cap = Captured()
    try:
        fail("bad value")
    except ValueError as exc:
        uid = cap.client.capture_exception(exc, distinct_id="u1", properties={"order": 7})
    event = cap.only()
    assert event["uuid"] == uid
    assert event["distinct_id"] == "u1"
    props = event["properties"]
    assert props["order"] == 7
    assert props["$exception_level"] == "error"
    assert "$exception_source" not in props  # a manual capture names none
    assert len(props["$exception_fingerprint"]) == 32
    (entry,) = exceptions(event)
    assert entry["type"] == "ValueError"
    assert entry["value"] == "bad value"
    assert "module" not in entry  # builtins
    assert entry["mechanism"] == {
        "type": "generic",
        "handled": True,
        "synthetic": False,
        "exception_id": 0,
    }


def test_capture_exception_defaults_to_the_exception_being_handled() -> None:
    cap = Captured()
    try:
        fail()
    except ValueError:
        assert cap.client.capture_exception() is not None
    assert exceptions(cap.only())[0]["type"] == "ValueError"


def test_exc_info_tuple_is_accepted() -> None:
    cap = Captured()
    try:
        fail()
    except ValueError:
        cap.client.capture_exception(sys.exc_info())
    assert frames(exceptions(cap.only())[0])[-1]["function"] == "fail"


def test_nothing_being_handled_sends_nothing() -> None:
    cap = Captured()
    assert cap.client.capture_exception() is None
    assert cap.events == []


def test_module_function_uses_the_default_client() -> None:
    transport = posthog_exceptions.testing.MemoryTransport()
    posthog_exceptions.init("phc_test", transport=transport, sync_mode=True, install_hooks=False)
    try:
        fail()
    except ValueError:
        uid = posthog_exceptions.capture_exception(level="warning")
    (event,) = transport.events
    assert event["uuid"] == uid
    assert event["properties"]["$exception_level"] == "warning"


def test_same_exception_is_sent_once_and_not_kept_alive() -> None:
    cap = Captured()

    class Tracked(Exception):
        pass

    def capture_twice() -> tuple[str | None, str | None, weakref.ref[Tracked]]:
        try:
            raise Tracked("x")
        except Tracked as exc:
            return (
                cap.client.capture_exception(exc),
                cap.client.capture_exception(exc),
                weakref.ref(exc),
            )

    first, second, ref = capture_twice()
    assert first is not None
    assert second == first
    assert len(cap.exception_events) == 1
    gc.collect()
    assert ref() is None, "the library kept the exception alive"


def test_custom_fingerprint_and_default_placeholder() -> None:
    cap = Captured()
    for fingerprint in (None, "payments", ["payments", "{{ default }}"], ["payments"]):
        try:
            fail()
        except ValueError as exc:
            cap.client.capture_exception(exc, fingerprint=fingerprint)
    default, plain, combined, as_list = (
        e["properties"]["$exception_fingerprint"] for e in cap.exception_events
    )
    assert len({default, plain, combined}) == 3
    assert plain == as_list  # a string and a one-item list are the same key


def test_bad_level_and_fingerprint_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    cap = Captured()
    try:
        fail()
    except ValueError as exc:
        cap.client.capture_exception(exc, level="loud", fingerprint=42)  # type: ignore[arg-type]
    props = cap.only()["properties"]
    assert props["$exception_level"] == "error"
    assert "level 'loud'" in caplog.text
    assert "fingerprint 42" in caplog.text


def test_ignore_option_applies_to_manual_capture() -> None:
    cap = Captured(ignore=(KeyError,))
    try:
        {"present": 1}["missing"]
    except KeyError as exc:
        assert cap.client.capture_exception(exc) is None
    assert cap.events == []


# ------------------------------------------------------------------ the exception list


def test_chain_order_cause_first_is_caught_last_is_root() -> None:
    cap = Captured()
    try:
        try:
            try:
                fail("root")
            except ValueError as root:
                raise KeyError("middle") from root
        except KeyError:
            raise RuntimeError("top")  # noqa: B904 - implicit context on purpose
    except RuntimeError as exc:
        cap.client.capture_exception(exc)
    top, middle, root_entry = exceptions(cap.only())
    assert [top["type"], middle["type"], root_entry["type"]] == [
        "RuntimeError",
        "KeyError",
        "ValueError",
    ]
    assert middle["mechanism"] == {
        "type": "chained",
        "source": "context",
        "synthetic": False,
        "exception_id": 1,
        "parent_id": 0,
    }
    assert root_entry["mechanism"]["source"] == "cause"
    assert root_entry["mechanism"]["parent_id"] == 1


def test_suppressed_context_is_left_out() -> None:
    cap = Captured()
    try:
        try:
            fail()
        except ValueError:
            raise KeyError("clean") from None
    except KeyError as exc:
        cap.client.capture_exception(exc)
    assert [e["type"] for e in exceptions(cap.only())] == ["KeyError"]


def test_cyclic_chain_terminates() -> None:
    cap = Captured()
    first, second = ValueError("a"), KeyError("b")
    first.__context__ = second
    second.__context__ = first
    cap.client.capture_exception(first)
    assert [e["type"] for e in exceptions(cap.only())] == ["ValueError", "KeyError"]


def test_chain_is_capped_at_fifty() -> None:
    cap = Captured()
    exc: BaseException = ValueError("0")
    for i in range(1, 80):
        wrapper = ValueError(str(i))
        wrapper.__cause__ = exc
        exc = wrapper
    cap.client.capture_exception(exc)
    assert len(exceptions(cap.only())) == 50


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in 3.11")
def test_exception_groups_depth_first_with_members() -> None:
    cap = Captured()
    group: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009 - not in 3.9's stubs
    inner = group("inner", [KeyError("k")])
    try:
        raise group("outer", [ValueError("v"), inner])
    except Exception as exc:
        cap.client.capture_exception(exc)
    entries = exceptions(cap.only())
    assert [e["type"] for e in entries] == [
        "ExceptionGroup",
        "ValueError",
        "ExceptionGroup",
        "KeyError",
    ]
    assert [e["mechanism"].get("source") for e in entries] == [None, "member", "member", "member"]
    assert [e["mechanism"].get("parent_id") for e in entries] == [None, 0, 0, 2]


def test_notes_are_appended_to_the_value() -> None:
    cap = Captured()
    exc = ValueError("main message")
    setattr(exc, "__notes__", ["first note", "second note"])  # noqa: B010 - add_note() is 3.11+
    cap.client.capture_exception(exc)
    assert exceptions(cap.only())[0]["value"] == "main message\nfirst note\nsecond note"


def test_module_and_qualname_of_user_exceptions() -> None:
    class Outer:
        class PaymentError(Exception):
            pass

    cap = Captured()
    cap.client.capture_exception(Outer.PaymentError("declined"))
    entry = exceptions(cap.only())[0]
    assert entry["type"].endswith("Outer.PaymentError")
    assert entry["module"] == __name__


# ------------------------------------------------------------------ frames


def test_frames_entry_first_crash_site_last() -> None:
    cap = Captured()

    def outer() -> None:
        fail()

    try:
        outer()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    stack = frames(exceptions(cap.only())[0])
    assert [f["function"].rpartition(".")[2] for f in stack] == [
        "test_frames_entry_first_crash_site_last",
        "outer",
        "fail",
    ]
    crash = stack[-1]
    assert crash["platform"] == "python"
    assert crash["lineno"] == line_of("raise ValueError(message)")
    assert crash["context_line"] == "    raise ValueError(message)"
    assert crash["filename"] == f"tests/{HERE}"
    assert crash["abs_path"] == os.path.abspath(__file__)
    assert crash["module"] == __name__
    assert crash["in_app"] is True
    assert len(crash["pre_context"]) == 5
    assert crash["pre_context"][-1].startswith("def fail(")
    assert crash["post_context"][:2] == ["", ""]
    if sys.version_info >= (3, 11):
        assert crash["function"] == "fail"
        assert crash["colno"] == 5
    assert "code_variables" not in crash


def test_qualified_function_names() -> None:
    class Service:
        def charge(self) -> None:
            fail()

    cap = Captured()
    try:
        Service().charge()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    stack = frames(exceptions(cap.only())[0])
    assert stack[-2]["function"].endswith("Service.charge")


def test_standard_library_frames_are_not_in_app() -> None:
    cap = Captured()
    try:
        json.loads("{not json")
    except ValueError as exc:
        cap.client.capture_exception(exc)
    stack = frames(exceptions(cap.only())[0])
    assert stack[0]["in_app"] is True
    library = [f for f in stack if f["module"].startswith("json")]
    assert library
    assert all(f["in_app"] is False for f in library)
    assert all(f["filename"].startswith("json/") for f in library)


def test_in_app_include_exclude_and_project_root() -> None:
    def in_app(**options: Any) -> bool:
        cap = Captured(**options)
        try:
            fail()
        except ValueError as exc:
            cap.client.capture_exception(exc)
        return bool(frames(exceptions(cap.only())[0])[-1]["in_app"])

    assert in_app() is True
    assert in_app(in_app_exclude=["tests"]) is False
    assert in_app(in_app_exclude=["tests"], in_app_include=[__name__]) is True
    assert in_app(project_root="/nowhere") is False
    assert in_app(project_root=os.path.dirname(os.path.dirname(__file__))) is True


def test_hidden_frames_and_library_frames_are_left_out() -> None:
    def helper() -> None:
        __tracebackhide__ = True
        fail()

    cap = Captured()
    try:
        helper()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    names = [f["function"].rpartition(".")[2] for f in frames(exceptions(cap.only())[0])]
    assert "helper" not in names
    assert "fail" in names
    assert not any(
        f.get("module", "").startswith("posthog_exceptions")
        for f in frames(exceptions(cap.only())[0])
    )


def test_never_raised_exception_gets_a_synthetic_stack() -> None:
    cap = Captured()
    cap.client.capture_exception(ValueError("never raised"))  # the synthetic stack ends here
    entry = exceptions(cap.only())[0]
    assert entry["mechanism"]["synthetic"] is True
    last = frames(entry)[-1]
    assert last["lineno"] == line_of("the synthetic stack ends here")
    assert last["function"].endswith("test_never_raised_exception_gets_a_synthetic_stack")


def test_custom_frame_format() -> None:
    cap = Captured(frame_format="custom")
    try:
        fail()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    crash = frames(exceptions(cap.only())[0])[-1]
    assert crash["platform"] == "custom"
    assert crash["lang"] == "python"
    assert crash["resolved"] is True
    assert "abs_path" not in crash
    with open(__file__, encoding="utf-8") as source:
        lines = source.read().splitlines()
    above = crash["lineno"] - 2  # 0-based index of the line just above
    assert crash["pre_context"][0] == lines[above]  # reversed: nearest line first
    assert crash["pre_context"][1] == lines[above - 1]


def test_context_lines_option() -> None:
    cap = Captured(context_lines=0)
    try:
        fail()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    crash = frames(exceptions(cap.only())[0])[-1]
    assert "context_line" not in crash
    assert "pre_context" not in crash


def _recurse(depth: int) -> None:
    if depth <= 0:
        raise RecursionError("deep")
    _recurse(depth - 1)


def test_deep_stacks_are_trimmed_from_the_middle() -> None:
    cap = Captured()
    try:
        _recurse(600)
    except RecursionError as exc:
        cap.client.capture_exception(exc)
    stack = frames(exceptions(cap.only())[0])
    assert len(stack) == 251  # 250 kept + the gap marker
    marker = stack[50]
    assert marker["synthetic"] is True
    assert marker["function"] == "<352 frames omitted>"
    assert stack[0]["function"].endswith("test_deep_stacks_are_trimmed_from_the_middle")
    assert stack[-1]["context_line"].strip() == 'raise RecursionError("deep")'


def test_real_recursion_error_five_thousand_deep_is_quick() -> None:
    cap = Captured()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(5200)
    try:

        def down(n: int) -> int:
            return down(n + 1) + 1

        try:
            down(0)
        except RecursionError as exc:
            error = exc
    finally:
        sys.setrecursionlimit(limit)
    started = time.perf_counter()
    cap.client.capture_exception(error)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"capturing a {5000}-frame RecursionError took {elapsed:.3f} s"
    assert len(frames(exceptions(cap.only())[0])) == 251


# ------------------------------------------------------------------ hostile objects


class _BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class _LoopingStr(Exception):
    def __str__(self) -> str:
        while self is not None:
            pass
        return "never"


class _BadGetattr(Exception):
    def __getattribute__(self, name: str) -> Any:
        if name in ("__notes__", "__cause__", "__context__", "__suppress_context__"):
            raise RuntimeError(name)
        return super().__getattribute__(name)


@pytest.mark.parametrize(
    "exc",
    [
        _BadStr(),
        _BadGetattr("x"),
        ValueError("x" * 10_000_000),
        ValueError(b"\xff\xfe undecodable"),
        ValueError("lone \udc80 surrogate"),
        ValueError({"recursive": None}),
    ],
    ids=["str-raises", "getattr-raises", "10MB-message", "bytes", "surrogate", "dict-arg"],
)
def test_hostile_exceptions_still_make_valid_events(exc: BaseException) -> None:
    cap = Captured()
    try:
        raise exc
    except BaseException as caught:
        assert cap.client.capture_exception(caught) is not None
    entry = exceptions(cap.only())[0]
    assert len(entry["value"]) <= 10_000


def test_str_that_loops_forever_is_cut_short() -> None:
    cap = Captured()
    started = time.perf_counter()
    cap.client.capture_exception(_LoopingStr())
    assert time.perf_counter() - started < 2.0
    assert "too slow" in exceptions(cap.only())[0]["value"]


def test_capture_from_many_threads_at_once() -> None:
    cap = Captured(sync_mode=False, rate_limit=False)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                try:
                    fail(f"thread {n} item {i}")
                except ValueError as exc:
                    cap.client.capture_exception(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cap.client.flush(timeout=30)
    assert errors == []
    assert len(cap.exception_events) == 400
    assert len({e["properties"]["$exception_fingerprint"] for e in cap.exception_events}) == 1
    cap.client.shutdown()


# ------------------------------------------------------------------ size


def test_oversize_event_is_trimmed_to_fit() -> None:
    cap = Captured(capture_locals=True)

    def heavy(depth: int) -> None:
        padding = ["x" * 500 for _ in range(20)]  # noqa: F841
        if depth:
            heavy(depth - 1)
        fail("z" * 9000)

    try:
        heavy(240)
    except ValueError as exc:
        cap.client.capture_exception(exc)
    event = cap.only()
    assert len(json.dumps(event).encode()) < 900 * 1024
    assert frames(exceptions(event)[0])[-1]["function"] == "fail"


# ------------------------------------------------------------------ local variables


def test_capture_locals_on_in_app_frames_with_secrets_masked() -> None:
    cap = Captured(capture_locals=True, scrub_names=["pin"])

    def login(user: str, password: str) -> None:
        db_password = "hunter2"  # noqa: F841
        card_pin = "1234"  # noqa: F841
        url = "https://admin:s3cret@db.internal/app"  # noqa: F841
        attempts = 3  # noqa: F841
        json.loads("{broken")

    try:
        login("ada", "correct horse")
    except ValueError as exc:
        cap.client.capture_exception(exc)
    stack = frames(exceptions(cap.only())[0])
    (login_frame,) = [f for f in stack if f["function"].endswith("login")]
    variables = login_frame["code_variables"]
    assert variables["user"] == "ada"
    assert variables["attempts"] == 3
    assert variables["password"] == "[Filtered]"
    assert variables["db_password"] == "[Filtered]"
    assert variables["card_pin"] == "[Filtered]"
    assert variables["url"] == "https://admin:[Filtered]@db.internal/app"
    assert all("code_variables" not in f for f in stack if not f["in_app"])


def test_locals_are_off_by_default() -> None:
    cap = Captured()
    try:
        fail()
    except ValueError as exc:
        cap.client.capture_exception(exc)
    assert all("code_variables" not in f for f in frames(exceptions(cap.only())[0]))


# ------------------------------------------------------------------ the frame cache


def test_spliced_serialisation_equals_plain_serialisation() -> None:
    """What the client sends (frames spliced in from the cache) is what a plain encoding
    of the event would be: compared through a before_send, which gets a plain copy."""
    seen: list[bytes] = []

    def keep(event: dict[str, Any]) -> dict[str, Any]:
        from posthog_exceptions._serialize import dumps

        seen.append(dumps(event))
        return event

    spliced, plain = Captured(rate_limit=False), Captured(rate_limit=False, before_send=keep)
    for cap in (spliced, plain):
        try:
            _recurse(30)
        except RecursionError as exc:
            cap.client.capture_exception(exc)
            cap.client.capture_exception(ValueError("again"))
    for sent, copied in zip(spliced.exception_events, plain.exception_events):
        for key in ("uuid", "timestamp", "distinct_id"):
            sent.pop(key), copied.pop(key)
        assert sent == copied
    assert len(seen) == 2


def test_before_send_edits_do_not_leak_into_later_events() -> None:
    def strip_context(event: dict[str, Any]) -> dict[str, Any]:
        for entry in event["properties"]["$exception_list"]:
            for frame in entry.get("stacktrace", {}).get("frames", []):
                frame.pop("context_line", None)
                frame.get("pre_context", []).append("tampered")
        return event

    editing = Captured(before_send=strip_context, rate_limit=False)
    plain = editing.client._exceptions  # shares nothing with the next client
    assert plain is None
    for _ in range(2):
        try:
            fail()
        except ValueError as exc:
            editing.client.capture_exception(exc)
    untouched = Captured(rate_limit=False)
    untouched.client._exceptions = editing.client._exceptions  # the same frame cache
    try:
        fail()
    except ValueError as exc:
        untouched.client.capture_exception(exc)
    crash = frames(exceptions(untouched.only())[0])[-1]
    assert crash["context_line"] == "    raise ValueError(message)"
    assert "tampered" not in crash["pre_context"]
    edited = frames(exceptions(editing.exception_events[1])[0])[-1]
    assert "context_line" not in edited
    assert edited["pre_context"].count("tampered") == 1  # each event got its own copy


def _long_lines_crash(width: int) -> None:
    padding = "x" * width  # the source lines around the crash are long  # noqa: F841
    padding2 = "y" * width  # ... and so are these, which context lines carry  # noqa: F841
    raise ValueError("oversize")


def test_shrinking_one_event_never_changes_another_events_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event over the size limit loses its context lines and frames — in its own copy:
    the next event from the same code location (the same cached frames) keeps them."""
    from posthog_exceptions import _client

    cap = Captured(rate_limit=False, context_lines=5, max_frames=250)
    with monkeypatch.context() as patched:
        patched.setattr(_client, "MAX_EVENT_BYTES", 8_000)  # 120 frames are over it
        try:
            _recurse_then(120, lambda: _long_lines_crash(10))
        except ValueError as exc:
            cap.client.capture_exception(exc)
    try:
        _recurse_then(120, lambda: _long_lines_crash(10))
    except ValueError as exc:
        cap.client.capture_exception(exc)
    shrunk, whole = cap.exception_events
    assert all("pre_context" not in f for f in frames(exceptions(shrunk)[0]))
    crash = frames(exceptions(whole)[0])[-1]
    assert crash["function"].endswith("_long_lines_crash")
    assert crash["context_line"].strip() == 'raise ValueError("oversize")'
    assert len(crash["pre_context"]) == 5
    assert len(frames(exceptions(whole)[0])) > len(frames(exceptions(shrunk)[0]))


def _recurse_then(depth: int, then: Any) -> None:
    if depth <= 0:
        then()
        return
    _recurse_then(depth - 1, then)


def test_cached_frames_are_read_only_and_copies_are_the_events_own() -> None:
    cap = Captured(rate_limit=False)
    try:
        fail()
    except ValueError as exc:
        cap.client.capture_exception(exc)
        builder = cap.client._exceptions
        assert builder is not None
        walked = builder.walk(exc, exc.__traceback__, fingerprint=None, synthetic_stack=None)
    from posthog_exceptions._capture.kinds import MANUAL

    rendered = builder.properties(walked, MANUAL, None)["$exception_list"]
    shared = rendered._stacks[0][0][-1]  # the crash frame, as the cache holds it
    with pytest.raises(TypeError):
        shared["lineno"] = 0
    assert isinstance(shared["pre_context"], tuple)
    first, second = rendered.copy(), rendered.copy()
    frame = frames(first[0])[-1]
    frame["lineno"] = 0
    frame["pre_context"].append("edited")
    assert frames(second[0])[-1]["lineno"] == shared["lineno"] != 0
    assert "edited" not in frames(second[0])[-1]["pre_context"]
    assert isinstance(frames(second[0])[-1]["pre_context"], list)


def test_identical_code_in_two_files_keeps_each_its_own_frames(tmp_path: Any) -> None:
    """Code objects compare equal by their contents, not their file: the frame cache keys
    them by identity, so two copies of one function never share a description."""
    source = "def handler():\n    raise ValueError('same code')\n"
    cap = Captured(rate_limit=False)
    paths = []
    for name in ("app_one.py", "app_two.py"):
        path = tmp_path / name
        path.write_text(source, encoding="utf-8")
        paths.append(str(path))
        namespace: dict[str, Any] = {"__name__": name[:-3]}
        exec(compile(source, str(path), "exec"), namespace)
        try:
            namespace["handler"]()
        except ValueError as exc:
            cap.client.capture_exception(exc)
    crashes = [frames(exceptions(e)[0])[-1] for e in cap.exception_events]
    assert [c["abs_path"] for c in crashes] == paths
    assert [c["module"] for c in crashes] == ["app_one", "app_two"]
    assert len({e["properties"]["$exception_fingerprint"] for e in cap.exception_events}) == 2
