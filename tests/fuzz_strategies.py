"""Hypothesis strategies for ``tests/test_fuzz.py``: exception trees and hostile values.

Strategies draw *specifications* (plain, printable data); the tests build the real
objects from them with :func:`build_tree` and :func:`materialize`. So every example
gets fresh objects (hostile ones included), a falsifying example prints readably (no
5 MB strings, no ``repr()`` that raises inside Hypothesis's report), and nothing is
raised while Hypothesis is drawing.

Hostile values are named (:data:`HOSTILE`) and tagged:

- ``SLOW``: a ``__repr__`` that runs for seconds: the locals renderer and the message of
  an exception (its arguments and notes) must cut it off. Elsewhere (properties, the
  log line about a bad ``level=``) the README promises nothing, so not drawn there;
- ``HUGE``: big enough that an event holding it as a property is over the size limit;
- ``UNHASHABLE``: cannot be a dict key or set member.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import pathlib
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

from hypothesis import strategies as st

HAS_GROUPS = sys.version_info >= (3, 11)

HUGE_TEXT = "x" * 5_000_000
"""5 MB of text, shared (building it per example would dominate the run time)."""

SLOW_SECONDS = 3.0
"""How long the ``__repr__`` of a ``SLOW`` value runs (a generous, finite 'forever')."""

# Text with lone surrogates mixed in (st.text() leaves them out by default).
CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]))
TEXT = st.text(CHARS, max_size=40)
ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


# --------------------------------------------------------------------------- hostile objects


class Boom(Exception):
    """What the hostile objects raise."""


def _boom(*_args: object, **_kwargs: object) -> Any:
    raise Boom("hostile")


class ReprRaises:
    def __repr__(self) -> str:
        raise Boom("repr")

    def __str__(self) -> str:
        raise Boom("str")


class ReprRecurses:
    def __repr__(self) -> str:
        return repr(self)

    def __str__(self) -> str:
        return str(self)


class ReprNonStr:
    def __repr__(self) -> Any:
        return 42

    def __str__(self) -> Any:
        return b"bytes"  # noqa: PLE0307


class ReprSlow:
    """A ``__repr__``/``__str__`` that runs for :data:`SLOW_SECONDS` (think: an ORM query)."""

    def __repr__(self) -> str:
        end = time.perf_counter() + SLOW_SECONDS
        while time.perf_counter() < end:
            pass
        return "finally"

    __str__ = __repr__


class GetattrRaises:
    def __getattr__(self, name: str) -> Any:
        raise Boom(name)


class GetattrRecurses:
    def __getattr__(self, name: str) -> Any:
        return getattr(self, name)


class DictRaises(dict):  # type: ignore[type-arg]
    """A dict whose Python-level methods all raise."""

    __iter__ = __len__ = __getitem__ = __contains__ = _boom
    keys = values = items = get = copy = __repr__ = __str__ = _boom


class ListRaises(list):  # type: ignore[type-arg]
    __iter__ = __len__ = __getitem__ = __contains__ = __repr__ = __str__ = _boom


class StrHostile(str):
    """A str subclass whose Python-level methods raise (the data is a normal string)."""

    __len__ = __eq__ = __ne__ = __iter__ = __getitem__ = __format__ = _boom
    __repr__ = __str__ = strip = lower = encode = replace = startswith = _boom
    __hash__ = str.__hash__


class FloatHostile(float):
    __float__ = __repr__ = __str__ = __eq__ = __lt__ = __gt__ = __le__ = __ge__ = _boom
    __hash__ = float.__hash__


class IntHostile(int):
    __int__ = __index__ = __float__ = __repr__ = __str__ = _boom
    __eq__ = __lt__ = __gt__ = __le__ = __ge__ = _boom
    __hash__ = int.__hash__


class DatetimeHostile(datetime.datetime):
    isoformat = __str__ = __repr__ = _boom


class HostileEnum(enum.Enum):
    MEMBER = 1

    @property
    def value(self) -> Any:
        raise Boom("value")


class Point(NamedTuple):
    x: object
    y: object


def _prop(getter: Callable[[Any], Any]) -> property:
    return property(getter)


# Built with type(): overriding __class__/__getattribute__ in a class body confuses mypy.
GetattributeRaises: type = type(
    "GetattributeRaises", (), {"__getattribute__": lambda self, name: _boom()}
)
ClassRaises: type = type("ClassRaises", (), {"__class__": _prop(_boom)})
"""Like Django's ``SimpleLazyObject`` whose setup fails: reading ``__class__`` raises."""
ClassRecurses: type = type("ClassRecurses", (), {"__class__": _prop(lambda self: self.__class__)})
ClassLiesStr: type = type("ClassLiesStr", (), {"__class__": _prop(lambda self: str)})


def _nested(kind: Callable[[object], object], depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = kind(value)
    return value


def _self_list() -> object:
    items: list[object] = [1]
    items.append(items)
    return items


def _self_dict() -> object:
    mapping: dict[str, object] = {}
    mapping["me"] = mapping
    mapping["list"] = [mapping, (mapping,)]
    return mapping


def _mutual() -> object:
    a: list[object] = []
    b: dict[str, object] = {"a": a}
    a.append(b)
    return a


def _numbers() -> Iterator[int]:
    yield 1


def _generator() -> Iterator[int]:
    """A suspended generator: the garbage collector may finalise it while the library
    bounds a repr's cost, and its cleanup must run whole (see ``test_fuzz.py``)."""
    numbers = _numbers()
    next(numbers)
    return numbers


SLOW = "slow"
HUGE = "huge"
UNHASHABLE = "unhashable"

_ENTRIES: list[tuple[str, Callable[[], object], list[str]]] = [
    (
        "odd_keys_dict",
        lambda: {1: "a", (1, 2): "b", None: "c", 1.5: "d", frozenset({1}): "e", b"k": "f"},
        [UNHASHABLE],
    ),
    ("bytes", lambda: b"\xff\xfe\x00 not utf-8 \x80", []),
    ("bytearray", lambda: bytearray(b"\xfe" * 1000), [UNHASHABLE]),
    ("memoryview", lambda: memoryview(b"abc"), [UNHASHABLE]),
    ("nan", lambda: float("nan"), []),
    ("inf", lambda: float("inf"), []),
    ("-inf", lambda: float("-inf"), []),
    ("-0.0", lambda: -0.0, []),
    ("complex", lambda: complex(float("nan"), float("inf")), []),
    ("decimal_nan", lambda: decimal.Decimal("NaN"), []),
    ("decimal_huge", lambda: decimal.Decimal("1e999999"), []),
    ("datetime_utc", lambda: datetime.datetime.now(datetime.timezone.utc), []),
    ("datetime_min", lambda: datetime.datetime.min, []),
    ("date", lambda: datetime.date(1, 1, 1), []),
    ("time", lambda: datetime.time(23, 59, 59, 999999), []),
    ("timedelta", lambda: datetime.timedelta(days=-999999999), []),
    ("set", lambda: {1, "a", None, (1, 2), b"x"}, [UNHASHABLE]),
    ("frozenset", lambda: frozenset({b"x", 2.5, frozenset()}), []),
    ("empty_set", set, [UNHASHABLE]),
    ("deep_list", lambda: _nested(lambda v: [v], 1000), [UNHASHABLE]),
    ("deep_dict", lambda: _nested(lambda v: {"k": v}, 1000), [UNHASHABLE]),
    ("deep_tuple", lambda: _nested(lambda v: (v,), 1000), []),
    ("big_int", lambda: 10**5000, []),
    ("negative_big_int", lambda: -(10**5000), []),
    ("int_2_64", lambda: 2**64, []),
    ("huge_str", lambda: HUGE_TEXT, [HUGE]),
    ("huge_surrogates", lambda: "\ud800" * 1_000_000, [HUGE]),
    ("surrogates", lambda: "a\ud800b\udfffc\udbff", []),
    ("nul_and_controls", lambda: "\x00\x1b[31m\r\n\u2028\ufeff", []),
    ("self_list", _self_list, [UNHASHABLE]),
    ("self_dict", _self_dict, [UNHASHABLE]),
    ("mutual_cycle", _mutual, [UNHASHABLE]),
    ("repr_raises", ReprRaises, []),
    ("repr_recurses", ReprRecurses, []),
    ("repr_non_str", ReprNonStr, []),
    ("getattr_raises", GetattrRaises, []),
    ("getattr_recurses", GetattrRecurses, []),
    ("dict_raises", lambda: DictRaises(a=1, b=[2]), [UNHASHABLE]),
    ("list_raises", lambda: ListRaises([1, "two"]), [UNHASHABLE]),
    ("str_hostile", lambda: StrHostile("hostile text"), []),
    ("deque", lambda: collections.deque(range(100_000)), [UNHASHABLE]),
    ("counter", lambda: collections.Counter("hostile"), [UNHASHABLE]),
    ("ordered_dict", lambda: collections.OrderedDict([(2, "b"), ("a", 1)]), [UNHASHABLE]),
    ("defaultdict", lambda: collections.defaultdict(list, {None: [1]}), [UNHASHABLE]),
    ("namedtuple", lambda: Point(ReprRaises(), float("nan")), []),
    ("class", lambda: ReprRaises, []),
    ("function", lambda: _boom, []),
    ("module", lambda: sys, []),
    ("generator", _generator, []),
    ("ellipsis", lambda: ..., []),
    ("object", object, []),
    ("uuid", uuid.uuid4, []),
    ("path", lambda: pathlib.PurePosixPath("/etc/passwd"), []),
    ("exception", lambda: ValueError("inner", ReprRaises()), []),
    ("range", lambda: range(10**18), []),
    ("getattribute_raises", GetattributeRaises, []),
    ("class_raises", ClassRaises, []),
    ("class_recurses", ClassRecurses, []),
    ("class_lies_str", ClassLiesStr, []),
    ("float_hostile", lambda: FloatHostile(0.123456789), []),
    ("int_hostile", lambda: IntHostile(1_234_567_891), []),
    ("datetime_hostile", lambda: DatetimeHostile(2020, 1, 1), []),
    ("enum_hostile", lambda: HostileEnum.MEMBER, []),
    ("repr_slow", ReprSlow, [SLOW]),
]
HOSTILE: dict[str, tuple[Callable[[], object], frozenset[str]]] = {
    name: (factory, frozenset(tags)) for name, factory, tags in _ENTRIES
}


def hostile_names(*, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Names of hostile values without any of the ``exclude`` tags, sorted."""
    return sorted(name for name, (_, tags) in HOSTILE.items() if not tags & exclude)


@dataclass(frozen=True)
class H:
    """A placeholder for the hostile value ``HOSTILE[name]``, built by :func:`materialize`."""

    name: str

    def __repr__(self) -> str:
        return f"H({self.name!r})"


def hostile(*, exclude: frozenset[str] = frozenset()) -> st.SearchStrategy[H]:
    return st.sampled_from(hostile_names(exclude=exclude)).map(H)


def materialize(spec: object) -> Any:
    """A fresh copy of ``spec`` with every :class:`H` replaced by a new hostile value."""
    if isinstance(spec, H):
        return HOSTILE[spec.name][0]()
    if type(spec) is list:
        return [materialize(item) for item in spec]
    if type(spec) is tuple:
        return tuple(materialize(item) for item in spec)
    if type(spec) is dict:
        return {materialize(key): materialize(value) for key, value in spec.items()}
    if type(spec) is frozenset:
        return frozenset(materialize(item) for item in spec)
    if type(spec) is set:
        return {materialize(item) for item in spec}
    return spec


def uses(spec: object, tag: str) -> bool:
    """Whether ``spec`` holds a hostile value tagged ``tag``."""
    if isinstance(spec, H):
        return tag in HOSTILE[spec.name][1]
    if isinstance(spec, dict):
        return any(uses(k, tag) or uses(v, tag) for k, v in spec.items())
    if isinstance(spec, (list, tuple, set, frozenset)):
        return any(uses(item, tag) for item in spec)
    return False


# --------------------------------------------------------------------------- JSON-ish values


def scalars(*, exclude: frozenset[str]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, 10**30]),
        st.floats(allow_nan=True, allow_infinity=True),
        TEXT,
        st.binary(max_size=20),
        hostile(exclude=exclude),
    )


def keys(*, exclude: frozenset[str]) -> st.SearchStrategy[object]:
    return st.one_of(
        TEXT,
        st.integers(),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True),
        st.binary(max_size=5),
        st.tuples(st.integers(), TEXT),
        st.frozensets(st.integers(), max_size=3),
        hostile(exclude=exclude | {UNHASHABLE}),
    )


def values(
    *, exclude: frozenset[str] = frozenset(), max_leaves: int = 20
) -> st.SearchStrategy[Any]:
    """Nested JSON-ish data with non-JSON and hostile leaves (as :class:`H` placeholders)."""
    hashable = st.one_of(st.integers(), TEXT, st.none(), st.floats(allow_nan=False))
    return st.recursive(
        scalars(exclude=exclude),
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.tuples(children, children),
            st.dictionaries(keys(exclude=exclude), children, max_size=5),
            st.sets(hashable, max_size=4),
            st.frozensets(hashable, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def str_keyed(*, exclude: frozenset[str] = frozenset()) -> st.SearchStrategy[dict[str, Any]]:
    """A properties mapping as the ``properties=`` option accepts it (str keys)."""
    return st.dictionaries(TEXT, values(exclude=exclude, max_leaves=10), max_size=6)


# --------------------------------------------------------------------------- exception trees


BUILTIN_EXCEPTIONS: tuple[type[BaseException], ...] = (
    BaseException,
    Exception,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    LookupError,
    RuntimeError,
    RecursionError,
    NotImplementedError,
    OSError,
    FileNotFoundError,
    PermissionError,
    TimeoutError,
    ConnectionResetError,
    ZeroDivisionError,
    ArithmeticError,
    AttributeError,
    AssertionError,
    StopIteration,
    StopAsyncIteration,
    MemoryError,
    UnicodeError,
    ImportError,
    ModuleNotFoundError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    UserWarning,
    DeprecationWarning,
)

STR_KINDS = ("inherited", "plain", "raises", "non_str", "recurses", "huge", "surrogates", "slow")
"""What a user-defined class's own ``__str__`` does ("inherited": it has none).
"slow" loops for a while: the library bounds the cost of an exception's own ``__str__``."""

GETATTR_KINDS = ("none", "raises", "recurses")
"""What a user-defined class's ``__getattr__`` does."""

OVERRIDABLE = (
    *("__cause__", "__context__", "__suppress_context__", "__notes__", "__dict__"),
    *("__traceback__", "args", "exceptions", "add_note", "with_traceback"),
)
"""Attributes a user-defined class shadows with a property."""
OVERRIDES = ("junk", "raises", "self", "none", "recurses")


@dataclass(frozen=True)
class ClassSpec:
    """A builtin exception class, or a user-defined one made with ``type()``."""

    builtin: Optional[type[BaseException]] = None
    name: str = "Custom"
    qualname: Optional[str] = None  # None: type() sets it to the name
    module: object = "tests.fuzz"  # odd values too: None, 42, "", "builtins", surrogates
    base: type[BaseException] = Exception
    str_kind: str = "inherited"
    getattr_kind: str = "none"
    # (attribute, what its property does): OVERRIDES, or "H:<name>" to return a hostile value
    overrides: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExcSpec:
    """One exception: its class, arguments, notes, how it is raised, and its links."""

    cls: ClassSpec
    args: tuple[object, ...] = ()
    notes: object = None  # None: no __notes__ attribute; else what __notes__ is set to
    raise_how: str = "never"  # never, raise, reraise
    depth: int = 0  # extra frames between the raise and the handler
    reraise_depth: int = 0
    cause: Optional[ExcSpec] = None
    context: Optional[ExcSpec] = None
    suppress_context: Optional[bool] = None  # None: leave what Python set
    members: Optional[tuple[ExcSpec, ...]] = None  # an exception group's members
    group: str = "ExceptionGroup"  # ExceptionGroup, BaseExceptionGroup, UserGroup


@dataclass(frozen=True)
class TreeSpec:
    root: ExcSpec
    chain: int = 0  # a linear __context__ chain hung below the last exception
    links: tuple[tuple[int, int, str], ...] = ()  # (from, to, attr): cycles, self-links
    capture_via: str = "instance"  # instance, exc_info, handled


# Hostile values an overridden attribute returns (bool() of some of them raises).
_OVERRIDE_VALUES = st.sampled_from(
    [f"H:{name}" for name in hostile_names(exclude=frozenset({SLOW}))]
)

QUALNAMES = st.one_of(
    st.sampled_from(
        ["", "Outer.Inner", "f.<locals>.Local", "<lambda>", "A.B.C.D.E", "Ошибка", "错误.内部"]
    ),
    ASCII.filter(bool),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=200, max_size=400),
    st.text(CHARS, min_size=1, max_size=60),
    st.text(CHARS, min_size=60, max_size=300),  # over 255 UTF-8 bytes: cut on a character
)

MODULES = st.one_of(
    st.sampled_from(["tests.fuzz", "builtins", "__main__", "", "a.b.c", "mod\ud800"]),
    st.none(),
    st.integers(),
    TEXT,
    st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=200, max_size=1000),
    st.just(H("huge_str")),  # 5 MB: cut, or the event would be too large to send
)


@st.composite
def class_specs(draw: st.DrawFn) -> ClassSpec:
    if draw(st.integers(0, 2)) == 0:
        return ClassSpec(builtin=draw(st.sampled_from(BUILTIN_EXCEPTIONS)))
    return ClassSpec(
        name=draw(st.sampled_from(["Custom", "Error", "E", "PaymentDeclined", "Ω"])),
        qualname=draw(st.none() | QUALNAMES),
        module=draw(MODULES),
        base=draw(st.sampled_from(BUILTIN_EXCEPTIONS)),
        str_kind=draw(st.sampled_from(STR_KINDS)),
        getattr_kind=draw(st.sampled_from(GETATTR_KINDS)),
        overrides=tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(OVERRIDABLE),
                        st.one_of(st.sampled_from(OVERRIDES), _OVERRIDE_VALUES),
                    ),
                    max_size=3,
                    unique_by=lambda pair: pair[0],
                )
            )
        ),
    )


# Arguments of an exception: str(exc) turns them into its message (a SLOW value is cut off).
_ARG_EXCLUDE: frozenset[str] = frozenset()
ARGS = st.one_of(
    st.just(()),
    st.tuples(TEXT),
    st.tuples(st.sampled_from(["", " ", "\n", "x" * 20_000])),
    st.tuples(st.just(H("huge_str"))),
    st.tuples(scalars(exclude=_ARG_EXCLUDE)),
    st.tuples(TEXT, st.integers()),
    st.lists(values(exclude=_ARG_EXCLUDE, max_leaves=5), max_size=3).map(tuple),
)

# __notes__: lists of notes of any type, and junk that is not a list or tuple (a list
# subclass whose __len__ raises, an object whose __class__ raises or reads as str, ...).
_NOTE_EXCLUDE: frozenset[str] = frozenset()
_NOTES_JUNK = [H(name) for name in hostile_names(exclude=frozenset({SLOW}))]
NOTES = st.one_of(
    st.none(),
    st.lists(TEXT, max_size=4),
    st.lists(st.just("n" * 20_000), max_size=3),
    st.lists(scalars(exclude=_NOTE_EXCLUDE), max_size=4),
    st.lists(scalars(exclude=_NOTE_EXCLUDE), max_size=4).map(tuple),
    st.sampled_from(_NOTES_JUNK),
    st.one_of(st.integers(), TEXT, st.binary(max_size=4), st.dictionaries(TEXT, TEXT, max_size=2)),
)


@st.composite
def exc_specs(draw: st.DrawFn, level: int = 0) -> ExcSpec:
    grow = level < 3 and draw(st.integers(0, 2 + level)) == 0

    def child() -> Optional[ExcSpec]:
        if level < 3 and draw(st.integers(0, 2 + 2 * level)) == 0:
            return draw(exc_specs(level + 1))
        return None

    members = None
    group = "ExceptionGroup"
    if HAS_GROUPS and grow:
        members = tuple(draw(st.lists(exc_specs(level + 1), min_size=1, max_size=4)))
        group = draw(st.sampled_from(["ExceptionGroup", "BaseExceptionGroup", "UserGroup"]))
    raise_how = draw(st.sampled_from(["never", "raise", "reraise"]))
    return ExcSpec(
        cls=draw(class_specs()),
        args=draw(ARGS),
        notes=draw(NOTES),
        raise_how=raise_how,
        depth=draw(st.integers(0, 300)) if raise_how != "never" else 0,
        reraise_depth=draw(st.integers(0, 30)) if raise_how == "reraise" else 0,
        cause=child(),
        context=child(),
        suppress_context=draw(st.none() | st.booleans()),
        members=members,
        group=group,
    )


@st.composite
def tree_specs(draw: st.DrawFn) -> TreeSpec:
    root = draw(exc_specs())
    size = sum(1 for _ in _walk_spec(root))
    chain = draw(st.sampled_from([0, 0, 0, 1, 2, 49, 50, 51, 120]))
    total = size + chain
    links = draw(
        st.lists(
            st.tuples(
                st.integers(0, total - 1),
                st.integers(0, total - 1),
                st.sampled_from(["__cause__", "__context__"]),
            ),
            max_size=4,
        )
    )
    via = draw(st.sampled_from(["instance", "exc_info", "handled"]))
    return TreeSpec(root, chain, tuple(links), via)


def _walk_spec(spec: ExcSpec) -> Iterator[ExcSpec]:
    yield spec
    for child in (*(spec.members or ()), spec.cause, spec.context):
        if child is not None:
            yield from _walk_spec(child)


# --------------------------------------------------------------------------- building


def make_class(spec: ClassSpec) -> type[BaseException]:
    if spec.builtin is not None:
        return spec.builtin
    namespace: dict[str, Any] = {"__module__": materialize(spec.module)}
    if spec.str_kind != "inherited":
        namespace["__str__"] = _STR_METHODS[spec.str_kind]
    if spec.getattr_kind == "raises":
        namespace["__getattr__"] = _boom
    elif spec.getattr_kind == "recurses":
        namespace["__getattr__"] = lambda self, name: getattr(self, name)
    for attr, behaviour in spec.overrides:
        namespace[attr] = property(_override_getter(behaviour))
    cls: type[BaseException] = type(spec.name, (spec.base,), namespace)
    if spec.qualname is not None:
        cls.__qualname__ = spec.qualname
    return cls


def _override_getter(behaviour: str) -> Callable[[BaseException], Any]:
    if behaviour.startswith("H:"):
        factory = HOSTILE[behaviour[2:]][0]
        return lambda self: factory()
    getters: dict[str, Callable[[BaseException], Any]] = {
        "junk": lambda self: 5,
        "raises": _boom,
        "self": lambda self: self,
        "none": lambda self: None,
        "recurses": lambda self: _recurse(self),
    }
    return getters[behaviour]


def _recurse(exc: BaseException) -> Any:
    return _recurse(exc)


_BASE: Any = vars(BaseException)


def set_link(exc: BaseException, attr: str, value: object) -> None:
    """``exc.<attr> = value`` through BaseException's own descriptors, which a subclass
    may have shadowed with a read-only property."""
    if attr == "__notes__":
        _BASE["__dict__"].__get__(exc)["__notes__"] = value
    else:
        _BASE[attr].__set__(exc, value)


def overrides_dict(exc: BaseException) -> bool:
    """Whether ``type(exc)`` shadows ``__dict__`` (then the library cannot mark it as sent)."""
    return "__dict__" in vars(type(exc))


def _slow_str(self: BaseException) -> str:
    end = time.perf_counter() + SLOW_SECONDS
    while time.perf_counter() < end:
        pass
    return "slow"


_STR_METHODS: dict[str, Callable[[BaseException], Any]] = {
    "plain": lambda self: "a message of my own",
    "raises": _boom,
    "non_str": lambda self: 42,
    "recurses": lambda self: str(self),
    "huge": lambda self: HUGE_TEXT,
    "surrogates": lambda self: "\ud800 lone \udfff",
    "slow": _slow_str,
}


def expected_type(cls: type[BaseException]) -> str:
    """The ``type`` of an entry: the class ``__qualname__`` (else ``__name__``), cut to
    255 UTF-8 bytes (with lone surrogates replaced by ``?`` when it is cut)."""
    name = str(vars(type)["__qualname__"].__get__(cls) or vars(type)["__name__"].__get__(cls))
    encoded = name.encode("utf-8", "replace")
    return name if len(encoded) <= 255 else encoded[:255].decode("utf-8", "ignore")


def matches_with_surrogates(expected: str, actual: str) -> bool:
    """``actual == expected``, except that each lone surrogate may have been replaced
    by one character (it cannot be sent as UTF-8)."""
    pattern = "".join("." if "\ud800" <= char <= "\udfff" else re.escape(char) for char in expected)
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def _construct(cls: type[BaseException], args: tuple[object, ...]) -> BaseException:
    try:
        return cls(*args)
    except Exception:
        return cls()


def _group(kind: str, message: str, members: list[BaseException]) -> BaseException:
    import builtins

    base_group: Any = builtins.BaseExceptionGroup  # type: ignore[attr-defined,unused-ignore]
    group: Any = builtins.ExceptionGroup  # type: ignore[attr-defined,unused-ignore]
    only_exceptions = all(isinstance(m, Exception) for m in members)
    if kind == "UserGroup" and only_exceptions:
        user: Any = type("UserGroup", (group,), {"__module__": "tests.fuzz"})
        return user(message, members)  # type: ignore[no-any-return]
    if kind == "ExceptionGroup" and only_exceptions:
        return group(message, members)  # type: ignore[no-any-return]
    return base_group(message, members)  # type: ignore[no-any-return]


def _raise_at(exc: BaseException, depth: int) -> None:
    if depth > 0:
        _raise_at(exc, depth - 1)
    else:
        raise exc


def _reraise_at(exc: BaseException, depth: int, handler_depth: int) -> None:
    if handler_depth > 0:
        _reraise_at(exc, depth, handler_depth - 1)
        return
    try:
        _raise_at(exc, depth)
    except BaseException:
        raise


def raise_and_catch(exc: BaseException, how: str, depth: int, reraise_depth: int) -> None:
    """Give ``exc`` a traceback: raised ``depth`` frames down (and re-raised), then caught."""
    if how == "never":
        return
    try:
        if how == "raise":
            _raise_at(exc, depth)
        else:
            _reraise_at(exc, depth, reraise_depth)
    except BaseException as caught:
        assert caught is exc


@dataclass
class Built:
    root: BaseException
    nodes: list[BaseException]  # pre-order, then the chain


def build_tree(spec: TreeSpec) -> Built:
    """Build and raise the exceptions of ``spec``, then link them (after raising, so
    that nothing Python does on ``raise`` undoes a cycle)."""
    nodes: list[BaseException] = []

    def build(node: ExcSpec) -> BaseException:
        members = [build(m) for m in node.members] if node.members else None
        cause = build(node.cause) if node.cause is not None else None
        context = build(node.context) if node.context is not None else None
        args = materialize(node.args)
        if members is not None:
            message = args[0] if args and type(args[0]) is str else "group"
            exc = _group(node.group, message, members)
        else:
            exc = _construct(make_class(node.cls), args)
        if node.notes is not None:
            set_link(exc, "__notes__", materialize(node.notes))
        raise_and_catch(exc, node.raise_how, node.depth, node.reraise_depth)
        if cause is not None:
            set_link(exc, "__cause__", cause)
        if context is not None:
            set_link(exc, "__context__", context)
        if node.suppress_context is not None:
            set_link(exc, "__suppress_context__", node.suppress_context)
        nodes.insert(0, exc)  # children were appended first: the root ends up first
        return exc

    root = build(spec.root)
    nodes.remove(root)
    nodes.insert(0, root)
    last: BaseException = nodes[-1]
    for i in range(spec.chain):
        link = RuntimeError(f"chained {i}")
        set_link(last, "__context__", link)
        nodes.append(link)
        last = link
    for source, target, attr in spec.links:
        set_link(nodes[source % len(nodes)], attr, nodes[target % len(nodes)])
    return Built(root, nodes)
