"""The shape of the package: no import cycles, rooms that keep to their rules, small
modules and functions, and one way to recognise the library's own code.

The import graph is read from the source with ``ast``: every ``import`` counts, at module
level, inside functions and under ``TYPE_CHECKING`` alike (a cycle there is still two
modules that cannot be understood one without the other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import posthog_exceptions
from posthog_exceptions import _own

PACKAGE = "posthog_exceptions"
ROOT = Path(posthog_exceptions.__file__).resolve().parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_REASON = "Long on purpose:"
"""How a function over the limit says why (one line of its docstring starts with it)."""


def _modules() -> dict[str, tuple[Path, bool]]:
    """``{module name: (file, is a package)}`` for every module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its source."""
    path, is_package = MODULES[module]
    base = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = base
                for _ in range(node.level - 1):
                    target = target.rpartition(".")[0]
                target = f"{target}.{node.module}" if node.module else target
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif target in MODULES:
                    found.add(target)
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_import_graph_has_no_cycle() -> None:
    assert len(GRAPH) > 50
    assert _cycles(GRAPH) == []


def _under(module: str, *rooms: str) -> bool:
    return any(module == f"{PACKAGE}.{r}" or module.startswith(f"{PACKAGE}.{r}.") for r in rooms)


# What each room may import from the rest of the package (its own modules always).
ALLOWED = {
    "_capture": ("_config", "_log", "_own", "_payload", "_serialize"),
    "_delivery": ("_config", "_event", "_log", "_own", "_payload", "_stats", "_types", "_version"),
    "inbox": (),
}


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_each_room_imports_only_what_its_rules_allow(room: str) -> None:
    """Capture knows nothing of threads, queues, HTTP or the client; delivery nothing of
    exceptions or the client; the inbox is the standard library alone."""
    for module, targets in GRAPH.items():
        if not _under(module, room):
            continue
        for target in targets:
            assert _under(target, room, *ALLOWED[room]), f"{module} imports {target}"


def test_the_bottom_modules_import_at_most_each_other() -> None:
    """What everything else may use, and which uses nothing of the rest: the logger, the
    own-code mechanism, serialisation, the payload type, the version, the capture kinds."""
    bottom = {f"{PACKAGE}.{name}" for name in ("_log", "_own", "_version")}
    for leaf in ("_own", "_log", "_serialize", "_payload", "_version", "_capture.kinds"):
        assert GRAPH[f"{PACKAGE}.{leaf}"] <= bottom, leaf


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_small(module: str) -> None:
    path, _ = MODULES[module]
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{module} is over the limit"
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        assert node.end_lineno is not None
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            doc = ast.get_docstring(node) or ""
            reasons = [line for line in doc.splitlines() if line.strip().startswith(LONG_REASON)]
            assert reasons, f"{module}.{node.name} is {length} lines, with no reason given"


def test_the_library_recognises_every_file_and_module_of_its_own() -> None:
    assert _own.PACKAGE == PACKAGE
    for module, (path, _) in MODULES.items():
        assert _own.is_own_module(module), module
        assert _own.is_own_file(str(path)), path
    assert not _own.is_own_module("posthog_exceptions_extra")
    assert not _own.is_own_module("posthog")
    assert not _own.is_own_file(str(ROOT.parent / "posthog_exceptions_extra" / "x.py"))
    assert not _own.is_own_file(pytest.__file__)


def test_importing_the_package_loads_neither_delivery_nor_the_event_builders() -> None:
    """The façade loads with the package; delivery with the first client; the event
    builders with the first exception."""
    from .test_process import run_python

    result = run_python(
        """
        import sys, posthog_exceptions
        print(" ".join(sorted(m for m in sys.modules if m.startswith("posthog_exceptions"))))
        posthog_exceptions.Client("phc_k", host="http://127.0.0.1:9")
        print(" ".join(sorted(m for m in sys.modules if m.startswith("posthog_exceptions"))))
        """
    )
    assert result.returncode == 0, result.stderr
    at_import, with_a_client = (set(line.split()) for line in result.stdout.splitlines())
    assert f"{PACKAGE}._client" in at_import
    for later in ("_delivery.worker", "_capture.builder", "_capture.frames", "integrations.hooks"):
        assert f"{PACKAGE}.{later}" not in at_import, later
    assert f"{PACKAGE}._delivery.worker" in with_a_client
    assert f"{PACKAGE}._capture.builder" not in with_a_client
