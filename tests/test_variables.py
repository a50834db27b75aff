"""Local variables: JSON-safe, bounded in size and cost, secrets scrubbed, never raising."""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
import time
import types
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthog_exceptions._capture.scrub import DEFAULT_SCRUB_NAMES, MASK, Scrubber
from posthog_exceptions._capture.values import VariableLimits
from posthog_exceptions._capture.variables import Budget, serialize_locals

QUICK = 0.5  # seconds: a generous cost bound, not a synchronisation


def render(variables: Mapping[str, object], **limits: Any) -> dict[str, object]:
    return serialize_locals(variables, Budget(VariableLimits(**limits)), Scrubber())


def one(value: object, **limits: Any) -> object:
    return render({"v": value}, **limits)["v"]


def assert_json_safe(out: object) -> None:
    json.dumps(out, allow_nan=False, ensure_ascii=False).encode("utf-8")


@pytest.fixture(autouse=True)
def _no_trace_left_behind() -> Iterator[None]:
    before = sys.gettrace()
    yield
    assert sys.gettrace() is before


# --- values -------------------------------------------------------------------------------


def test_primitives_are_kept() -> None:
    limit = 2**63 - 1
    values = {"n": None, "t": True, "f": False, "i": 42, "hi": limit, "lo": -limit, "x": 1.5}
    assert render(values) == values
    assert one("plain text") == "plain text"
    assert one(0.0) == 0.0


def test_numbers_json_cannot_carry_become_strings() -> None:
    assert one(2**63) == "9223372036854775808"
    assert one(-(2**63)) == "-9223372036854775808"
    assert one(float("nan")) == "nan"
    assert one(float("inf")) == "inf"
    assert one(float("-inf")) == "-inf"
    assert one([float("nan"), 2**64]) == "[nan, 18446744073709551616]"
    huge = one(10**5000)
    assert huge == "<int of 16610 bits>"


def test_strings_are_truncated_with_an_ellipsis() -> None:
    out = one("a" * 1000)
    assert isinstance(out, str)
    assert len(out) == 512
    assert out.endswith("...")
    assert one("abcdefghij", max_value_length=8) == "abcde..."
    assert one("abcdefgh", max_value_length=8) == "abcdefgh"


def test_lone_surrogates_are_replaced_in_names_and_values() -> None:
    out = render({"name\ud800": "a\udc80b", "nested": ["\udfff"]})
    assert_json_safe(out)
    assert out["name\ufffd"] == "a\ufffdb"
    assert out["nested"] == "['\\udfff']"


def test_huge_list_and_string_cost_little() -> None:
    big_list = [0] * 10_000_000
    big_text = "x" * 10_000_000
    start = time.perf_counter()
    out = render({"big_list": big_list, "big_text": big_text, "nested": [big_text, big_list]})
    assert time.perf_counter() - start < QUICK
    assert out["big_list"] == "[" + "0, " * 20 + "... <9999980 more>]"
    assert isinstance(out["big_text"], str)
    assert len(out["big_text"]) == 512
    assert isinstance(out["nested"], str)
    assert len(out["nested"]) <= 512
    assert out["nested"].startswith("['xxx")


def test_bytes_show_a_bounded_prefix() -> None:
    out = one(b"\x00" * 1_000_000, max_value_length=40)
    assert isinstance(out, str)
    assert out.startswith("b'\\x00") and out.endswith("...")
    assert len(out) == 40
    assert one(bytearray(b"ab")) == "bytearray(b'ab')"
    assert one([b"ab"]) == "[b'ab']"


def test_containers_are_rendered_like_repr() -> None:
    Point = collections.namedtuple("Point", "x y")
    assert one([1, "x", None, True, 2.5]) == "[1, 'x', None, True, 2.5]"
    assert one({"a": 1, 2: [3]}) == "{'a': 1, 2: [3]}"
    assert one((1,)) == "(1,)"
    assert one(()) == "()"
    assert one(set()) == "set()"
    assert one(frozenset({1})) == "frozenset({1})"
    assert one(collections.deque([1, 2])) == "deque([1, 2])"
    assert one(collections.Counter("aab")) == "Counter({'a': 2, 'b': 1})"
    assert one(Point(1, 2)) == "Point(x=1, y=2)"
    assert one([1, 2, 3, 4], max_items=2) == "[1, 2, ... <2 more>]"


def test_depth_is_bounded_and_cycles_are_marked() -> None:
    assert one([[[[1]]]]) == "[[[[...]]]]"
    assert one({"a": {"b": {"c": {"d": 1}}}}) == "{'a': {'b': {'c': {...}}}}"
    assert one([[1]], max_depth=0) == "[...]"
    loop: list[object] = [1]
    loop.append(loop)
    assert one(loop) == "[1, <cycle>]"
    mapping: dict[str, object] = {}
    mapping["self"] = mapping
    assert one(mapping) == "{'self': <cycle>}"
    shared = [1]
    assert one([shared, shared]) == "[[1], [1]]"  # seen twice is not a cycle


def test_container_subclasses_are_walked_without_their_methods() -> None:
    class Sneaky(list):  # type: ignore[type-arg]
        def __iter__(self) -> Iterator[object]:
            raise RuntimeError("no iteration")

        def __len__(self) -> int:
            raise RuntimeError("no len")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    class Text(str):
        def __getitem__(self, key: object) -> str:
            raise RuntimeError("no getitem")

        def lower(self) -> str:
            raise RuntimeError("no lower")

    out = render({"items": Sneaky([1, 2]), "text": Text("hello"), "keyed": {Text("k"): 1}})
    assert out == {"items": "Sneaky([1, 2])", "text": "hello", "keyed": "{'k': 1}"}


# --- the cost bound -----------------------------------------------------------------------


class Raises:
    def __repr__(self) -> str:
        raise ValueError("boom")


class NotAString:
    def __repr__(self) -> Any:
        return 42


class MissingAttribute:
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)

    def __repr__(self) -> str:
        return str(self.missing)


class Spins:
    def __repr__(self) -> str:
        while True:
            pass


# fmt: off
class SpinsOnOneLine:
    def __repr__(self) -> str:
        while True: pass  # noqa: E701  (jumps to itself: on 3.11 only opcode events see it)
# fmt: on


class SwallowsExceptions:
    def __repr__(self) -> str:
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass


class Recurses:
    def __repr__(self) -> str:
        return repr(self)


class Slow:
    def __repr__(self) -> str:
        end = time.perf_counter() + 10
        while time.perf_counter() < end:
            pass
        return "finally"


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        (Raises(), "<Raises object (repr failed)>"),
        (NotAString(), "<NotAString object (repr failed)>"),
        (MissingAttribute(), "<MissingAttribute object (repr failed)>"),
        (Recurses(), "<Recurses object (repr "),
        (Spins(), "<Spins object (repr too slow)>"),
        (SpinsOnOneLine(), "<SpinsOnOneLine object (repr too slow)>"),
        (SwallowsExceptions(), "<SwallowsExceptions object (repr too slow)>"),
        (Slow(), "<Slow object (repr too slow)>"),
    ],
)
def test_hostile_reprs_become_placeholders_quickly(value: object, placeholder: str) -> None:
    start = time.perf_counter()
    out = render({"v": value, "after": [value, 1]})
    assert time.perf_counter() - start < QUICK
    assert isinstance(out["v"], str)
    assert out["v"].startswith(placeholder)
    assert isinstance(out["after"], str)
    assert out["after"].startswith("[" + placeholder)


def test_the_previous_trace_function_is_restored() -> None:
    calls: list[str] = []

    def tracer(frame: types.FrameType, event: str, arg: object) -> None:
        calls.append(event)

    sys.settrace(tracer)
    try:
        out = render({"slow": Spins(), "bad": Raises(), "fine": object()})
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    assert out["slow"] == "<Spins object (repr too slow)>"
    assert calls  # the test's tracer kept working around the bounded calls


def test_keyboard_interrupt_in_a_repr_propagates() -> None:
    class Interrupted:
        def __repr__(self) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render({"v": Interrupted()})


def test_hostile_class_attributes_are_never_consulted() -> None:
    class Meta(type):
        def __getattribute__(cls, name: str) -> Any:
            raise RuntimeError("metaclass says no")

    class Guarded(metaclass=Meta):
        def __repr__(self) -> str:
            raise ValueError("nope")

    class Liar:
        @property  # type: ignore[misc]
        def __class__(self) -> type:
            raise RuntimeError("isinstance() would call this")

        def __repr__(self) -> str:
            return "Liar()"

    class HashlessMeta(type):
        def __hash__(cls) -> int:
            raise RuntimeError("no hashing")

        def __eq__(cls, other: object) -> bool:
            raise RuntimeError("no comparing")

    class Hashless(metaclass=HashlessMeta):
        pass

    out = render({"guarded": Guarded(), "liar": Liar(), "cls": Guarded, "hashless": Hashless})
    assert out["liar"] == "Liar()"
    assert str(out["guarded"]).endswith(".Guarded object (repr failed)>")
    assert str(out["cls"]).startswith("<class ") and str(out["cls"]).endswith(".Guarded'>")
    assert str(out["hashless"]).endswith(".Hashless'>")


def test_a_huge_repr_is_clipped() -> None:
    class Wordy:
        def __repr__(self) -> str:
            return "y" * 5_000_000

    out = one(Wordy())
    assert isinstance(out, str)
    assert len(out) == 512
    assert out.endswith("...")


# --- names and budget ---------------------------------------------------------------------


def test_dunder_names_are_skipped_and_frame_order_is_kept() -> None:
    out = render({"self": 1, "__name__": "m", "__builtins__": {}, "_private": 2, "__x": 3})
    assert list(out) == ["self", "_private", "__x"]


def test_at_most_max_variables_per_frame() -> None:
    out = render({f"v{i}": i for i in range(60)}, max_variables_per_frame=50)
    assert len(out) == 51
    assert out["v49"] == 49
    assert out["..."] == "<10 more>"


def test_the_byte_budget_is_shared_across_frames() -> None:
    budget = Budget(VariableLimits(max_bytes_per_event=300))
    scrubber = Scrubber()
    first = serialize_locals({"a": "x" * 200, "b": 1}, budget, scrubber)
    assert first == {"a": "x" * 200, "b": 1}
    assert not budget.exhausted
    second = serialize_locals({"c": "y" * 200, "d": 2, "e": 3}, budget, scrubber)
    assert second == {"c": "y" * 200, "...": "<budget exhausted>"}
    assert budget.exhausted
    assert serialize_locals({"f": 4}, budget, scrubber) == {}


def test_the_time_budget_is_shared_across_frames() -> None:
    limits = VariableLimits(max_seconds_per_value=1.0, max_seconds_per_event=0.02)
    budget = Budget(limits)
    start = time.perf_counter()
    out = serialize_locals({"slow": Spins(), "next": 1}, budget, Scrubber())
    assert time.perf_counter() - start < QUICK
    assert out == {"slow": "<Spins object (repr too slow)>", "...": "<budget exhausted>"}
    assert budget.exhausted
    assert serialize_locals({"x": 1}, budget, Scrubber()) == {}


def test_hostile_mappings_give_an_empty_frame() -> None:
    class Broken(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise RuntimeError("no items")

    class Endless(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            while True:
                pass

    start = time.perf_counter()
    assert render(Broken(a=1)) == {}
    assert render(Endless(a=1)) == {}
    assert time.perf_counter() - start < QUICK


def test_names_that_are_not_strings_are_rendered() -> None:
    variables: Any = {1: "a", (2, "b"): 3}
    assert serialize_locals(variables, Budget(), Scrubber()) == {"1": "a", "(2, 'b')": 3}


def test_a_real_frames_locals_are_only_read() -> None:
    def frame_locals() -> dict[str, object]:
        number, words = 7, ["a"]
        out = render(sys._getframe().f_locals)  # a write-through proxy on Python >= 3.13
        assert (number, words) == (7, ["a"])
        return out

    assert frame_locals() == {"number": 7, "words": "['a']"}


@pytest.mark.parametrize(
    "limits",
    [
        {"max_depth": -1},
        {"max_items": 1.5},
        {"max_seconds_per_value": 0},
        {"max_bytes_per_event": True},
    ],
)
def test_limits_are_validated(limits: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError), match=next(iter(limits))):
        VariableLimits(**limits)


# --- scrubbing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["password", "db_password", "apiKey", "API-KEY", "X-Auth-Token", "session_id", "csrftoken",
     "aws_secret_access_key", "stripe_signature", "credit_card_number", "Cookie"],
)  # fmt: skip
def test_sensitive_names_mask_the_value(name: str) -> None:
    scrubber = Scrubber()
    assert scrubber.name_is_sensitive(name)
    assert render({name: "hunter2", "ok": "fine"}) == {name: MASK, "ok": "fine"}


@pytest.mark.parametrize("name", ["user", "count", "request_path", "items"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert not Scrubber().name_is_sensitive(name)


def test_default_names_cover_the_documented_list() -> None:
    assert {"password", "token", "api_key", "session", "cvv", "dsn"} <= set(DEFAULT_SCRUB_NAMES)


def test_a_masked_value_is_never_rendered() -> None:
    class Tattle:
        rendered = False

        def __repr__(self) -> str:
            Tattle.rendered = True
            return "secret"

    assert render({"api_token": Tattle()}) == {"api_token": MASK}
    assert not Tattle.rendered


def test_sensitive_keys_are_masked_at_any_depth() -> None:
    Login = collections.namedtuple("Login", "user password")
    config = {"db": {"primary": {"db_password": "hunter2", "host": "h"}}, "ApiKey": 1}
    assert one(config) == (
        "{'db': {'primary': {'db_password': '[Filtered]', 'host': 'h'}}, 'ApiKey': '[Filtered]'}"
    )
    assert one([Login("bob", "hunter2")]) == "[Login(user='bob', password='[Filtered]')]"


def test_extra_names() -> None:
    scrubber = Scrubber(["internal_id", "pin"])
    out = serialize_locals({"internalId": 5, "PIN": 1234, "user": "bob"}, Budget(), scrubber)
    assert out == {"internalId": MASK, "PIN": MASK, "user": "bob"}
    with pytest.raises(TypeError):
        Scrubber("password")
    with pytest.raises(ValueError):
        Scrubber(["_-"])


JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"  # noqa: E501
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----"
GHP = "ghp_" + "A1b2" * 9


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (
            "postgres://admin:s3cret@db.internal:5432/app",
            "postgres://admin:[Filtered]@db.internal:5432/app",
        ),
        ("see https://user:pw@example.com/x and", "see https://user:[Filtered]@example.com/x and"),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [Filtered]"),
        ("header Basic dXNlcjpwYXNz", "header Basic [Filtered]"),
        ("Authorization: Token abc123", "Authorization: Token [Filtered]"),
        ("headers={'X-Api-Key': 'abc'}", "headers={'X-Api-Key': '[Filtered]'}"),
        ("AKIAIOSFODNN7EXAMPLE", MASK),
        (f"token is {GHP}!", "token is [Filtered]!"),
        ("slack xoxb-123456789012-abcdefgh", "slack [Filtered]"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", MASK),
        ("personal phx_abcdefghijklmnopqrstuv", "personal [Filtered]"),
        (f"jwt={JWT};", "jwt=[Filtered];"),
        (f"key:\n{PEM}\nrest", "key:\n[Filtered]\nrest"),
        ("host=db password=hunter2 user=bob", "host=db password=[Filtered] user=bob"),
        ("Settings(api_key='abc', debug=True)", "Settings(api_key='[Filtered]', debug=True)"),
    ],
)
def test_secret_looking_values_are_scrubbed(text: str, scrubbed: str) -> None:
    scrubber = Scrubber()
    assert scrubber.scrub_text(text) == scrubbed
    assert scrubber.value_is_sensitive(text)
    assert render({"value": text}) == {"value": scrubbed}


@pytest.mark.parametrize(
    "text",
    [
        "phc_abcdefghijklmnopqrstuvwxyz012345",  # PostHog project keys are public
        "pk_live_4eC39HqLyjWDarjtT1zdp7dc",  # publishable
        "https://example.com/path?page=1",
        "a basic sentence about high throughput",
        "user@example.com",
    ],
)
def test_public_values_are_kept(text: str) -> None:
    scrubber = Scrubber()
    assert scrubber.scrub_text(text) == text
    assert not scrubber.value_is_sensitive(text)


def test_secrets_inside_containers_and_reprs_are_scrubbed() -> None:
    @dataclasses.dataclass
    class Settings:
        dsn: str
        debug: bool = False

    class Row(NamedTuple):
        url: str

    out = render(
        {
            "urls": ["https://u:p@host/a", "AKIAIOSFODNN7EXAMPLE"],
            "settings": Settings("postgres://u:p@db/app"),
            "row": Row("redis://:pw@cache:6379"),
        }
    )
    assert out["urls"] == "['https://u:[Filtered]@host/a', '[Filtered]']"
    assert str(out["settings"]).endswith("Settings(dsn='[Filtered]', debug=False)")
    assert out["row"] == "Row(url='redis://:[Filtered]@cache:6379')"


def test_a_secret_at_the_cut_is_still_masked() -> None:
    text = "x" * 500 + " postgres://admin:longpassword@db/app"
    out = one(text)
    assert isinstance(out, str)
    assert "admin" not in out and "longpa" not in out


def test_value_scrubbing_can_be_turned_off() -> None:
    scrubber = Scrubber(scrub_values=False)
    url = "postgres://u:p@db/app"
    assert scrubber.scrub_text(url) == url
    assert not scrubber.value_is_sensitive(url)
    out = serialize_locals({"url": url, "password": "x"}, Budget(), scrubber)
    assert out == {"url": url, "password": MASK}


# --- property: always JSON ----------------------------------------------------------------

characters = st.characters() | st.characters(categories=["Cs"])
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 5, max_value=2**200)
    | st.integers(max_value=-(2**63) + 5, min_value=-(2**200))
    | st.floats()
    | st.text(characters)
    | st.binary()
)
keys = st.none() | st.booleans() | st.integers() | st.floats() | st.text(characters) | st.binary()
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=6)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=6)
        | st.sets(st.integers(), max_size=6)
        | st.frozensets(st.integers(), max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(characters), values, max_size=8))
def test_any_nested_value_gives_json(variables: dict[str, object]) -> None:
    out = serialize_locals(variables, Budget(VariableLimits(max_value_length=80)), Scrubber())
    assert_json_safe(out)
    for value in out.values():
        if isinstance(value, str):
            assert len(value) <= 80
