"""Fuzzing the capture path with Hypothesis: whatever the program hands the library —
random exception trees, hostile local variables, hostile properties and arguments —
capturing never raises, never logs an internal error, stays cheap, and every event it
sends is valid (``tests/wire_validator.py``), JSON without NaN, and below 1 MB.

Runs are reproducible (``derandomize=True``, no example database) and fast enough
for the normal suite. Strategies and the hostile values live in ``fuzz_strategies.py``.

Bugs found by fuzzing are pinned by the tests at the end, each with a minimal
reproducer; those not fixed yet are ``xfail(strict=True)``, and the values that trigger
them are kept out of the fuzzed strategies (see the tags there) until they are.
"""

from __future__ import annotations

import gc
import json
import linecache
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from posthog_exceptions import Client
from posthog_exceptions._log import INTERNAL_ERROR_MARK, LOGGER_NAME

from . import fuzz_strategies as fz
from .exc_helpers import Captured, exceptions, frames
from .wire_validator import EXCEPTION_LEVELS

COST_SECONDS = 2.0
"""A generous bound on one capture, whatever the values involved (not a benchmark)."""
MAX_EVENT_BYTES = 1_000_000

FUZZ = settings(
    deadline=None,  # timing is asserted explicitly, with a generous bound
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,
    print_blob=False,
    # No explain phase: it traces every line with sys.settrace, which is slow here and
    # changes what the library's own trace-based cost bound sees.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,  # building and raising deep trees is slow on purpose
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # conftest's autouse fixtures: per test is fine
    ],
)


# --------------------------------------------------------------------------- helpers


class _InternalErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, INTERNAL_ERROR_MARK, False):
            self.messages.append(f"{record.getMessage()}: {record.exc_info!r}")


@contextmanager
def no_internal_errors() -> Iterator[None]:
    """Fail the example (so that Hypothesis shrinks it) if the library swallowed an
    internal error: that is a lost event and a bug (conftest would fail the test anyway)."""
    handler = _InternalErrors()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    trace = sys.gettrace()
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.messages, f"internal errors: {handler.messages}"
    assert sys.gettrace() is trace, "the trace function was not restored"


def timed(call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    assert elapsed < COST_SECONDS, f"one capture took {elapsed:.2f} s"
    return result


def assert_event(captured: Captured, uid: object, name: str) -> dict[str, Any]:
    """``uid`` names the one event sent, which is valid, JSON without NaN, below 1 MB."""
    assert isinstance(uid, str), f"no uuid returned: {uid!r}"
    uuid.UUID(uid)
    events = captured.events  # validated on read
    assert len(events) == 1, f"expected one event, got {len(events)}"
    event = events[0]
    assert event["uuid"] == uid
    assert event["event"] == name
    text = json.dumps(event, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    assert len(text.encode("utf-8")) < MAX_EVENT_BYTES
    return event


def assert_exception_event(captured: Captured, uid: object) -> dict[str, Any]:
    event = assert_event(captured, uid, "$exception")
    entries = exceptions(event)
    assert 1 <= len(entries) <= 50
    return event


@st.composite
def capture_options(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "frame_format": draw(st.sampled_from(["python", "custom"])),
        "capture_locals": draw(st.booleans()),
        "max_frames": draw(st.sampled_from([10, 11, 25, 250])),
        "context_lines": draw(st.sampled_from([0, 1, 5, 12])),
    }


def raise_and_return(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


# --------------------------------------------------------------------------- 1. exception trees


def _capture(client: Client, root: BaseException, via: str) -> str | None:
    if via == "exc_info":  # BaseException's own __traceback__: a class may shadow it
        return client.capture_exception((type(root), root, fz._BASE["__traceback__"].__get__(root)))
    if via == "handled":
        try:
            raise root
        except BaseException:
            return client.capture_exception()
    return client.capture_exception(root)


@settings(FUZZ, max_examples=150)
@given(spec=fz.tree_specs(), options=capture_options())
def test_random_exception_trees(spec: fz.TreeSpec, options: dict[str, Any]) -> None:
    built = fz.build_tree(spec)
    captured = Captured(**options)
    with no_internal_errors():
        uid = timed(lambda: _capture(captured.client, built.root, spec.capture_via))
    event = assert_exception_event(captured, uid)
    first = exceptions(event)[0]
    expected = fz.expected_type(type(built.root))
    assert fz.matches_with_surrogates(expected, first["type"]), (expected, first["type"])
    if spec.root.raise_how == "never" and spec.capture_via != "handled":
        assert first["mechanism"].get("synthetic") is True
    # Once per exception object: capturing it again returns the uuid and sends nothing
    # (unless its class hides __dict__, where the library keeps the mark).
    if not fz.overrides_dict(built.root):
        with no_internal_errors():
            assert captured.client.capture_exception(built.root) == uid
        assert len(captured.transport.events) == 1


@pytest.mark.skipif(not fz.HAS_GROUPS, reason="exception groups need Python 3.11")
def test_nested_exception_group_members_come_depth_first() -> None:
    spec = fz.TreeSpec(
        fz.ExcSpec(
            fz.ClassSpec(ValueError),
            args=("outer",),
            raise_how="raise",
            members=(
                fz.ExcSpec(
                    fz.ClassSpec(KeyError),
                    raise_how="raise",
                    members=(fz.ExcSpec(fz.ClassSpec(TypeError), raise_how="raise"),),
                ),
                fz.ExcSpec(fz.ClassSpec(OSError), raise_how="reraise", depth=3),
            ),
        )
    )
    captured = Captured()
    uid = captured.client.capture_exception(fz.build_tree(spec).root)
    types = [entry["type"] for entry in exceptions(assert_exception_event(captured, uid))]
    assert types == ["ExceptionGroup", "ExceptionGroup", "TypeError", "OSError"]


def test_an_exception_that_is_its_own_context_and_cause() -> None:
    exc = raise_and_return(lambda: _raise(ValueError("me")))
    exc.__context__ = exc
    exc.__cause__ = exc
    captured = Captured()
    event = assert_exception_event(captured, captured.client.capture_exception(exc))
    assert [entry["type"] for entry in exceptions(event)] == ["ValueError"]


def test_a_long_loop_of_causes_stops_at_fifty() -> None:
    chain = [RuntimeError(f"link {i}") for i in range(200)]
    for exc, nxt in zip(chain, chain[1:] + chain[:1]):
        exc.__cause__ = nxt
    captured = Captured()
    event = assert_exception_event(captured, captured.client.capture_exception(chain[0]))
    assert len(exceptions(event)) == 50


def _raise(exc: BaseException) -> None:
    raise exc


# --------------------------------------------------------------------------- 2. hostile locals


def _hold_and_raise(held: list[object], mapping: dict[object, object], depth: int) -> None:
    first, second, third, *rest = [*held, None, None, None]
    nested = {"held": held, "mapping": mapping, "again": [held, (mapping,)]}
    if depth > 0:
        _hold_and_raise(held, mapping, depth - 1)
        return

    def explode(value: object, *others: object) -> None:  # a closure: not in globals
        raise ValueError("hostile locals", len(others))

    explode(first, second, third, rest, nested)


@settings(FUZZ, max_examples=150)
@given(
    held=st.lists(fz.hostile(), min_size=1, max_size=8),
    mapping=st.dictionaries(fz.keys(exclude=frozenset()), fz.hostile(), max_size=5),
    depth=st.integers(0, 40),
    frame_format=st.sampled_from(["python", "custom"]),
    max_frames=st.sampled_from([10, 250]),
)
def test_hostile_local_variables(
    held: list[fz.H],
    mapping: dict[object, fz.H],
    depth: int,
    frame_format: str,
    max_frames: int,
) -> None:
    values, hostile_mapping = fz.materialize(held), fz.materialize(mapping)
    exc = raise_and_return(lambda: _hold_and_raise(values, hostile_mapping, depth))
    captured = Captured(capture_locals=True, frame_format=frame_format, max_frames=max_frames)
    with no_internal_errors():
        uid = timed(lambda: captured.client.capture_exception(exc))
    event = assert_exception_event(captured, uid)
    stack = frames(exceptions(event)[0])
    assert stack[-1]["function"].endswith("explode")
    with_variables = [frame for frame in stack if "code_variables" in frame]
    if frame_format == "python":
        assert with_variables, "no frame carries its local variables"
    else:
        assert not with_variables


def test_every_hostile_value_as_a_local_variable_at_once() -> None:
    values = [fz.HOSTILE[name][0]() for name in fz.hostile_names()]
    exc = raise_and_return(lambda: _hold_and_raise(values, {}, 0))
    captured = Captured(capture_locals=True)
    with no_internal_errors():
        uid = timed(lambda: captured.client.capture_exception(exc))
    assert_exception_event(captured, uid)


# --------------------------------------------------------------------------- 3. hostile properties

# A SLOW value's cost is not bounded in properties (the README promises nothing there).
_PROPERTY_EXCLUDE = frozenset({fz.SLOW})


def _sent_or_too_large(captured: Captured, uid: object, spec: object, name: str) -> None:
    """The event was sent and is valid, or it is over the size limit (by a HUGE value)
    and was dropped and counted. Either way there is no internal error."""
    if uid is None and fz.uses(spec, fz.HUGE):
        assert captured.client.stats()["dropped"].get("too_large", 0) >= 1
        assert captured.transport.events == []
        return
    assert_event(captured, uid, name)


@settings(FUZZ, max_examples=80)
@given(
    super_properties=fz.str_keyed(exclude=_PROPERTY_EXCLUDE),
    properties=fz.values(exclude=_PROPERTY_EXCLUDE).map(lambda v: {"value": v}),
    more=st.dictionaries(fz.keys(exclude=_PROPERTY_EXCLUDE), fz.values(exclude=_PROPERTY_EXCLUDE)),
    set_once=st.dictionaries(fz.TEXT, fz.values(exclude=_PROPERTY_EXCLUDE)),
)
def test_hostile_properties(
    super_properties: dict[str, object],
    properties: dict[str, object],
    more: dict[object, object],
    set_once: dict[str, object],
) -> None:
    spec = [super_properties, properties, more, set_once]
    props: dict[Any, Any] = {**fz.materialize(properties), **fz.materialize(more)}

    def client() -> Captured:
        return Captured(properties=fz.materialize(super_properties))

    with no_internal_errors():
        captured = client()
        uid = timed(lambda: captured.client.capture("fuzzed", distinct_id="u1", properties=props))
        _sent_or_too_large(captured, uid, spec, "fuzzed")

        captured = client()
        exc = raise_and_return(lambda: _raise(KeyError("k")))
        uid = timed(lambda: captured.client.capture_exception(exc, properties=props))
        _sent_or_too_large(captured, uid, spec, "$exception")

        captured = client()
        once = fz.materialize(set_once)
        uid = timed(lambda: captured.client.identify("u1", props, set_once=once))
        _sent_or_too_large(captured, uid, spec, "$identify")


# --------------------------------------------------------------------------- 4. hostile arguments

# Junk for fingerprint=, level= and distinct_id=: str and list subclasses with hostile
# methods, objects whose __eq__ raises, ints too big for str(), ... Not distinct ids over
# 200 characters (sent as they are, which the validator refuses: a question of policy), nor
# SLOW values (the log line about a bad argument shows its repr, whose cost is not bounded).
_ARG_EXCLUDE = frozenset({fz.SLOW})
_ARG_NAMES = fz.hostile_names(exclude=_ARG_EXCLUDE)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**300), 10**300),
    st.floats(allow_nan=True),
    fz.TEXT,
    st.binary(max_size=10),
    st.lists(fz.TEXT, max_size=4),
    st.lists(st.sampled_from(["{{ default }}", "", "payments", "\ud800"]), max_size=3),
    st.lists(st.one_of(fz.TEXT, st.integers(), st.none()), max_size=3).map(tuple),
    st.dictionaries(fz.TEXT, fz.TEXT, max_size=2),
    st.sets(st.integers(), max_size=3),
    st.sampled_from(_ARG_NAMES).map(fz.H),
    st.sampled_from(list(EXCEPTION_LEVELS)),
)
DISTINCT_IDS = st.one_of(
    JUNK.filter(lambda v: not (isinstance(v, (str, int)) and len(str(v)) > 200)),
    st.text(fz.CHARS, min_size=150, max_size=200),
    st.uuids(),
)


def _expected_distinct_id(value: object) -> str | None:
    """The distinct_id sent for ``distinct_id=value`` (``None``: anonymous). Subclasses of
    str and int count by their data (read with the base type's methods: theirs may raise)."""
    kind = type(value)
    if value is None or kind is bool:
        return None
    if issubclass(kind, str):
        text = str.__str__(value)
        return text if text.strip() else None
    if issubclass(kind, int):
        try:
            return int.__repr__(value)
        except ValueError:  # more digits than str() allows: anonymous
            return None
    return str(value) if kind is uuid.UUID else None


def _custom_fingerprint(value: object) -> bool:
    """Whether ``fingerprint=value`` replaces the automatic grouping key entirely."""
    kind = type(value)
    if issubclass(kind, str):
        text = str.__str__(value)
        return bool(text) and text != "{{ default }}"
    if not issubclass(kind, (list, tuple)):
        return False
    base: Any = list if issubclass(kind, list) else tuple
    items = list(base.__iter__(value))
    return bool(items) and all(
        issubclass(type(item), str) and str.__str__(item) != "{{ default }}" for item in items
    )


@settings(FUZZ, max_examples=120)
@given(fingerprint=JUNK, level=JUNK, distinct_id=DISTINCT_IDS)
def test_hostile_fingerprint_level_and_distinct_id(
    fingerprint: object, level: object, distinct_id: object
) -> None:
    fp, lv, who = (fz.materialize(v) for v in (fingerprint, level, distinct_id))
    captured = Captured()
    exc = raise_and_return(lambda: _raise(ValueError("fuzzed arguments")))
    with no_internal_errors():
        uid = timed(
            lambda: captured.client.capture_exception(
                exc, fingerprint=fp, level=lv, distinct_id=who
            )
        )
    event = assert_exception_event(captured, uid)
    props = event["properties"]
    # A valid level is kept; anything else is logged and replaced by "error".
    valid_level = type(lv) is str and lv in EXCEPTION_LEVELS
    assert props["$exception_level"] == (lv if valid_level else "error")
    expected_id = _expected_distinct_id(who)
    if expected_id is not None:
        assert fz.matches_with_surrogates(expected_id, event["distinct_id"])
    else:
        assert props["$process_person_profile"] is False
    # A custom fingerprint replaces the key: another bug with the same one groups with it.
    if _custom_fingerprint(fp):
        other = Captured()
        again = other.client.capture_exception(
            raise_and_return(lambda: _raise(KeyError("elsewhere"))), fingerprint=fp
        )
        twin = assert_exception_event(other, again)
        assert twin["properties"]["$exception_fingerprint"] == props["$exception_fingerprint"]


# --------------------------------------------------------------------------- bugs found


def test_a_non_ascii_qualname_is_cut_to_255_utf8_bytes() -> None:
    cls = type("Ошибка", (Exception,), {})
    cls.__qualname__ = "Ошибка" * 30  # 180 characters, 360 UTF-8 bytes
    captured = Captured()
    uid = captured.client.capture_exception(cls("x"))
    sent = exceptions(assert_exception_event(captured, uid))[0]["type"]
    assert sent == "Ошибка" * 21 + "Ошибка"[0]  # 254 bytes: a character is never split


def test_a_huge_module_name_is_cut_and_the_event_sent() -> None:
    cls = type("E", (Exception,), {"__module__": "m" * 1_000_000})
    captured = Captured()
    uid = captured.client.capture_exception(cls("x"))
    assert exceptions(assert_exception_event(captured, uid))[0]["module"] == "m" * 255


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        (fz.H("class_raises"), "x"),
        (fz.H("getattribute_raises"), "x"),
        (fz.H("list_raises"), "x\n1\ntwo"),  # read with list's own methods
        ([fz.H("class_lies_str")], "x\n<tests.fuzz_strategies.ClassLiesStr object at "),
        ([fz.H("str_hostile")], "x\nhostile text"),  # a str subclass: its data
    ],
    ids=repr,
)
def test_hostile_notes_are_read_safely(notes: object, expected: str) -> None:
    exc = ValueError("x")
    exc.__notes__ = fz.materialize(notes)  # type: ignore[attr-defined,unused-ignore]
    captured = Captured()
    with no_internal_errors():  # isinstance(notes, (list, tuple)), `and notes`, len(note) raised
        uid = captured.client.capture_exception(exc)
    assert exceptions(assert_exception_event(captured, uid))[0]["value"].startswith(expected)


def _class_raises(self: object) -> Any:
    raise fz.Boom("__class__")


# Built with type(): a __class__ property in a class body confuses mypy.
_ClassRaisesError: type[Exception] = type(
    "_ClassRaisesError", (Exception,), {"__class__": property(_class_raises)}
)


class _GetattributeRaisesError(Exception):
    def __getattribute__(self, name: str) -> Any:
        raise fz.Boom(name)


class _TracebackJunkError(Exception):
    @property
    def __traceback__(self) -> Any:  # type: ignore[override]
        return 5


class _SuppressContextBoolRaisesError(Exception):
    @property
    def __suppress_context__(self) -> Any:  # type: ignore[override]
        return _BoolRaises()


class _BoolRaises:
    def __bool__(self) -> bool:
        raise fz.Boom("__bool__")


@pytest.mark.parametrize(
    "cls",
    [
        _ClassRaisesError,
        _GetattributeRaisesError,
        _TracebackJunkError,
        _SuppressContextBoolRaisesError,
    ],
)
def test_an_exception_with_hostile_attribute_access_is_sent(cls: type[Exception]) -> None:
    exc = raise_and_return(lambda: _raise(cls("x")))
    fz.set_link(exc, "__context__", KeyError("context"))
    captured = Captured()
    # isinstance(exc, BaseExceptionGroup), exc.__traceback__, not exc.__suppress_context__ raised
    with no_internal_errors():
        uid = captured.client.capture_exception(exc)
    first = exceptions(assert_exception_event(captured, uid))[0]
    assert frames(first)[-1]["function"] == "_raise"  # the real traceback, whatever the class says
    assert first["mechanism"]["synthetic"] is False


class _SlowStr:
    """Like :class:`fz.ReprSlow`, but only half a second, to keep the suite fast."""

    def __str__(self) -> str:
        end = time.perf_counter() + 0.5
        while time.perf_counter() < end:
            pass
        return "slow"


@pytest.mark.parametrize("where", ["argument", "note", "many notes", "many exceptions"])
def test_slow_str_of_an_argument_or_note_is_cut_off(where: str) -> None:
    exc = ValueError(_SlowStr()) if where == "argument" else ValueError("x")
    if where == "note":
        exc.__notes__ = [_SlowStr()]  # type: ignore[attr-defined,unused-ignore]
    elif where == "many notes":
        exc.__notes__ = [_SlowStr() for _ in range(20)]  # type: ignore[attr-defined,unused-ignore]
    elif where == "many exceptions":
        exc = ValueError(_SlowStr())
        for _ in range(20):
            exc.__context__, exc = exc, ValueError(_SlowStr())
    captured = Captured()
    start = time.perf_counter()
    uid = captured.client.capture_exception(exc)
    # 0.05 s for one exception's message and notes, 0.25 s for all of an event's.
    assert time.perf_counter() - start < 0.5
    assert "(str too slow)" in exceptions(assert_exception_event(captured, uid))[0]["value"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("class_raises", "<tests.fuzz_strategies.ClassRaises object at "),  # Django's
        ("class_recurses", "<tests.fuzz_strategies.ClassRecurses object at "),  # SimpleLazyObject
        ("class_lies_str", "<tests.fuzz_strategies.ClassLiesStr object at "),
        ("getattribute_raises", "<tests.fuzz_strategies.GetattributeRaises object at "),
        ("float_hostile", 0.123456789),  # subclasses: read with the base type's methods
        ("int_hostile", 1_234_567_891),
        ("datetime_hostile", "2020-01-01T00:00:00"),
        ("enum_hostile", "<HostileEnum.MEMBER: 1>"),
    ],
)
def test_hostile_property_values_are_converted(name: str, expected: object) -> None:
    captured = Captured()
    with no_internal_errors():
        uid = captured.client.capture("e", distinct_id="u", properties={"v": fz.HOSTILE[name][0]()})
    sent = assert_event(captured, uid, "e")["properties"]["v"]
    assert sent == expected or (isinstance(expected, str) and sent.startswith(expected))


def test_a_hostile_super_property_is_converted_when_the_client_is_made() -> None:
    captured = Captured(properties={"user": fz.ClassRaises()})
    uid = captured.client.capture("e", distinct_id="u")
    sent = assert_event(captured, uid, "e")["properties"]["user"]
    assert sent.startswith("<tests.fuzz_strategies.ClassRaises object at ")


@pytest.mark.parametrize(
    "argument",
    ["fingerprint", "fingerprint_list", "fingerprint_list_subclass", "level", "distinct_id"],
)
def test_str_and_list_subclass_arguments_are_read_as_their_data(argument: str) -> None:
    hostile = fz.StrHostile("error")
    arguments: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # (hostile, equivalent)
        "fingerprint": ({"fingerprint": hostile}, {"fingerprint": "error"}),
        "fingerprint_list": ({"fingerprint": [hostile]}, {"fingerprint": ["error"]}),
        "fingerprint_list_subclass": ({"fingerprint": fz.ListRaises(["a"])}, {"fingerprint": "a"}),
        "level": ({"level": hostile}, {}),  # not exactly a str: the default level
        "distinct_id": ({"distinct_id": hostile}, {"distinct_id": "error"}),
    }
    kwargs, plain = arguments[argument]
    sent = []
    for arguments_used in (kwargs, plain):
        captured = Captured()
        with no_internal_errors():
            uid = captured.client.capture_exception(ValueError("x"), **arguments_used)
        sent.append(assert_exception_event(captured, uid))
    assert sent[0]["distinct_id"] == sent[1]["distinct_id"] or argument != "distinct_id"
    for key in ("$exception_fingerprint", "$exception_level"):
        assert sent[0]["properties"][key] == sent[1]["properties"][key]


class _EqRaises:
    def __eq__(self, other: object) -> bool:
        raise fz.Boom("ambiguous truth value")  # like a numpy array

    __hash__ = object.__hash__


def test_a_level_whose_eq_raises_falls_back_to_error() -> None:
    captured = Captured()
    with no_internal_errors():
        uid = captured.client.capture_exception(ValueError("x"), level=_EqRaises())  # type: ignore[arg-type]
    assert assert_exception_event(captured, uid)["properties"]["$exception_level"] == "error"


class _EqualsAnything(str):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


def test_a_level_str_subclass_falls_back_to_error() -> None:
    captured = Captured()
    uid = captured.client.capture_exception(ValueError("x"), level=_EqualsAnything("nonsense"))
    assert assert_exception_event(captured, uid)["properties"]["$exception_level"] == "error"


class _IntStrRaises(int):
    def __str__(self) -> str:
        raise fz.Boom("str")

    __repr__ = __str__


@pytest.mark.parametrize(
    ("distinct_id", "expected"),
    [(10**5000, None), (_IntStrRaises(7), "7")],
    ids=["huge", "str_raises"],
)
def test_an_int_distinct_id_that_str_cannot_convert(distinct_id: int, expected: str | None) -> None:
    captured = Captured()
    with no_internal_errors():  # str(10**5000): exceeds the 4300-digit limit
        uid = captured.client.capture_exception(ValueError("x"), distinct_id=distinct_id)
    event = assert_exception_event(captured, uid)
    if expected is None:  # not an id this library can send: anonymous, not lost
        assert event["properties"]["$process_person_profile"] is False
    else:
        assert event["distinct_id"] == expected


class _MutatesContainer:
    def __init__(self, container: dict[object, object]) -> None:
        self.container = container

    def __repr__(self) -> str:
        self.container[len(self.container)] = "added while being rendered"
        return "mutator"


def _raise_with_mutating_local() -> None:
    mapping: dict[object, object] = {}
    mapping["m"] = _MutatesContainer(mapping)
    mapping["after"] = 1
    raise ValueError("x")


def test_a_repr_that_mutates_its_container_keeps_the_frames_locals() -> None:
    exc = raise_and_return(_raise_with_mutating_local)
    captured = Captured(capture_locals=True)
    with no_internal_errors():  # was: RuntimeError: dictionary changed size during iteration
        uid = captured.client.capture_exception(exc)
    crash_site = frames(exceptions(assert_exception_event(captured, uid))[0])[-1]
    variables = crash_site.get("code_variables", {})
    assert "'m': mutator" in variables["mapping"]
    assert "'after': 1" in variables["mapping"]


@pytest.mark.parametrize(("filename", "expected"), [("/", "<unknown>"), ("/srv/app/", "app")])
def test_a_code_filename_ending_in_a_slash(filename: str, expected: str) -> None:
    code = compile("raise ValueError('x')", filename, "exec")
    exc = raise_and_return(lambda: exec(code, {}))
    captured = Captured()
    event = assert_exception_event(captured, captured.client.capture_exception(exc))
    assert frames(exceptions(event)[0])[-1]["filename"] == expected


@pytest.mark.parametrize("case", ["tracebackhide", "linecache"])
def test_hostile_frame_metadata_is_tolerated(case: str) -> None:
    filename = "<fuzz: junk lines>"
    source = "def f():\n    raise ValueError('x')\nf()\n"
    namespace: dict[str, Any] = {"__name__": "fuzzed"}
    if case == "tracebackhide":
        namespace["__tracebackhide__"] = _BoolRaises()  # counts as false: the frames stay
    else:
        junk: Any = [None, 5, b"raise", "f()\n"]  # what a broken loader might register
        linecache.cache[filename] = (len(source), None, junk, filename)
    try:
        exc = raise_and_return(lambda: exec(compile(source, filename, "exec"), namespace))
        captured = Captured()
        with no_internal_errors():  # bool(__tracebackhide__) / None.rstrip() raised
            uid = captured.client.capture_exception(exc)
    finally:
        linecache.cache.pop(filename, None)
    crash_site = frames(exceptions(assert_exception_event(captured, uid))[0])[-1]
    assert crash_site["function"] == "f"
    if case == "linecache":  # line 2 is 5: left out; bytes are decoded
        assert crash_site["context_line"] == ""
        assert crash_site["post_context"][0] == "raise"


def test_the_repr_time_bound_spares_a_finalizer_run_by_the_gc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cleaned: list[bool] = []
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_type))

    def resource() -> Iterator[int]:
        try:
            yield 1
        finally:
            for _ in range(50):  # in-app cleanup: release a lock, close a file, ...
                pass
            cleaned.append(True)

    class SlowRepr:
        def __repr__(self) -> str:
            time.sleep(0.02)  # C code, no trace events: the 5 ms bound passes here
            gc.collect()  # what any allocation may trigger at this point
            return "slow"

    def explode(value: object) -> None:
        raise ValueError("x")

    enabled = gc.isenabled()
    gc.disable()  # so that only the collection inside __repr__ finalises the generator
    try:
        suspended = resource()
        next(suspended)
        garbage: list[object] = [suspended]
        garbage.append(garbage)  # a cycle: freed by the cyclic collector only
        del suspended, garbage
        exc = raise_and_return(lambda: explode(SlowRepr()))
        Captured(capture_locals=True).client.capture_exception(exc)
    finally:
        if enabled:
            gc.enable()
    assert unraisable == []  # [_Abort]
    assert cleaned == [True]  # []: the finally block was cut short
