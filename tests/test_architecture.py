"""The package's shape: a core without I/O, twin facades that cannot drift, a tidy front door."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import chutes

CORE = Path(chutes.__file__).parent / "_core"
CORE_FILES = sorted(CORE.rglob("*.py"))
BANNED_MODULES = frozenset({"httpx", "httpx_sse", "asyncio", "anyio", "socket"})

# The async twin of a sync name, where the two differ.
ASYNC_NAME = {
    "close": "aclose",
    "__enter__": "__aenter__",
    "__exit__": "__aexit__",
    "__iter__": "__aiter__",
    "__next__": "__anext__",
}
SHARED_DUNDERS = ("__init__", *ASYNC_NAME)
# Every Async* name in chutes.__all__ and its sync twin (Client/AsyncClient, Chute/AsyncChute,
# EventStream/AsyncEventStream and whatever else the package pairs up).
TWINS = [
    pytest.param(getattr(chutes, name.removeprefix("Async")), getattr(chutes, name), id=name)
    for name in chutes.__all__
    if name.startswith("Async")
]


# What the async twin must await: every verb that does I/O.
AWAITED = [
    pytest.param(chutes.AsyncClient, "aclose", id="AsyncClient.aclose"),
    pytest.param(chutes.AsyncClient, "__aenter__", id="AsyncClient.__aenter__"),
    pytest.param(chutes.AsyncClient, "__aexit__", id="AsyncClient.__aexit__"),
    pytest.param(chutes.AsyncChute, "request", id="AsyncChute.request"),
    pytest.param(chutes.AsyncChute, "get", id="AsyncChute.get"),
    pytest.param(chutes.AsyncChute, "post", id="AsyncChute.post"),
    pytest.param(chutes.AsyncEventStream, "aclose", id="AsyncEventStream.aclose"),
    pytest.param(chutes.AsyncEventStream, "__aenter__", id="AsyncEventStream.__aenter__"),
    pytest.param(chutes.AsyncEventStream, "__aexit__", id="AsyncEventStream.__aexit__"),
    pytest.param(chutes.AsyncEventStream, "__anext__", id="AsyncEventStream.__anext__"),
    pytest.param(chutes.AsyncBatch, "run", id="AsyncBatch.run"),
    pytest.param(chutes.AsyncBatchStream, "aclose", id="AsyncBatchStream.aclose"),
    pytest.param(chutes.AsyncBatchStream, "__aenter__", id="AsyncBatchStream.__aenter__"),
    pytest.param(chutes.AsyncBatchStream, "__aexit__", id="AsyncBatchStream.__aexit__"),
    pytest.param(chutes.AsyncBatchStream, "__anext__", id="AsyncBatchStream.__anext__"),
]


# --- the core does no I/O -------------------------------------------------------------------


def io_violations(source: str) -> list[str]:
    """What in ``source`` imports an I/O library or sleeps, one line per finding."""
    tree = ast.parse(source)
    # Every name the time module is bound to, so ``import time as t; t.sleep()`` is caught.
    time_names = {"time"} | {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "time" and alias.asname
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in BANNED_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in BANNED_MODULES:
                found.append(f"line {node.lineno}: from {node.module} import ...")
            elif root == "time" and any(alias.name == "sleep" for alias in node.names):
                found.append(f"line {node.lineno}: from time import sleep")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "sleep"
            and isinstance(node.value, ast.Name)
            and node.value.id in time_names
        ):
            found.append(f"line {node.lineno}: time.sleep")
    return found


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import httpx", id="import-httpx"),
        pytest.param("import httpx_sse as sse", id="import-httpx-sse"),
        pytest.param("def f():\n    import asyncio", id="nested-import-asyncio"),
        pytest.param("from anyio import sleep", id="from-anyio"),
        pytest.param("import socket", id="import-socket"),
        pytest.param("from asyncio.tasks import gather", id="from-asyncio-submodule"),
        pytest.param("import time\ntime.sleep(1)", id="time-sleep"),
        pytest.param("import time as clock\nclock.sleep(1)", id="aliased-time-sleep"),
        pytest.param("from time import sleep", id="from-time-import-sleep"),
        pytest.param("from time import monotonic, sleep as nap", id="from-time-import-sleep-as"),
    ],
)
def test_io_checker_catches_violation(source: str) -> None:
    """The checker below flags every banned import form and time.sleep."""
    assert io_violations(source) != []


def test_io_checker_allows_pure_code() -> None:
    """The checker accepts stdlib, attrs, relative imports and time without sleep."""
    source = "import json, time\nimport attrs\nfrom . import errors\nt = time.monotonic()"
    assert io_violations(source) == []


def test_core_files_found() -> None:
    """The core package holds the modules the checks below read."""
    assert {"retry.py", "targets.py", "errors.py"} <= {path.name for path in CORE_FILES}


@pytest.mark.parametrize(
    "path", CORE_FILES, ids=[path.relative_to(CORE).as_posix() for path in CORE_FILES]
)
def test_core_module_does_no_io(path: Path) -> None:
    """chutes/_core never imports httpx, httpx_sse, asyncio, anyio, socket nor sleeps."""
    assert io_violations(path.read_text(encoding="utf-8")) == []


# --- the facades are twins ------------------------------------------------------------------


def public_names(cls: type) -> set[str]:
    """The names a user reaches on ``cls``: no leading underscore, plus the protocol dunders."""
    names = {name for name in dir(cls) if not name.startswith("_")}
    return names | {name for name in (*SHARED_DUNDERS, *ASYNC_NAME.values()) if hasattr(cls, name)}


def as_sync_name(name: str) -> str:
    """The sync twin's name for an async facade's ``name``."""
    return {v: k for k, v in ASYNC_NAME.items()}.get(name, name)


def shape(function: Any) -> list[tuple[str, Any, Any]]:
    """A function's parameters as (name, kind, default), annotations ignored."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def shared_methods(sync_cls: type, async_cls: type) -> list[tuple[str, str]]:
    """(sync name, async name) for every method the two classes share."""
    pairs = []
    for name in sorted(public_names(sync_cls)):
        twin = ASYNC_NAME.get(name, name)
        member = inspect.getattr_static(sync_cls, name, None)
        if isinstance(member, (types.FunctionType, staticmethod, classmethod)):
            pairs.append((name, twin))
    return pairs


def test_twins_include_the_facades() -> None:
    """The twin checks cover the clients, the chute handles, the event streams and batches."""
    twins = {p.id for p in TWINS}
    assert {"AsyncClient", "AsyncChute", "AsyncEventStream", "AsyncBatch"} <= twins


@pytest.mark.parametrize(("sync_cls", "async_cls"), TWINS)
def test_twins_expose_same_names(sync_cls: type, async_cls: type) -> None:
    """The sync and async twins expose the same public names (close <-> aclose and so on)."""
    sync_names = public_names(sync_cls)
    async_names = {as_sync_name(name) for name in public_names(async_cls)}
    assert sorted(sync_names ^ async_names) == []


@pytest.mark.parametrize(("sync_cls", "async_cls"), TWINS)
def test_twins_share_signatures(sync_cls: type, async_cls: type) -> None:
    """Every shared method takes the same parameters: names, kinds and defaults."""
    pairs = shared_methods(sync_cls, async_cls)
    assert pairs, "no shared methods found"
    differ = {}
    for name, twin in pairs:
        sync_shape = shape(getattr(sync_cls, name))
        async_member = getattr(async_cls, twin, None)
        async_shape = shape(async_member) if async_member is not None else "missing"
        if sync_shape != async_shape:
            differ[name] = (sync_shape, async_shape)
    assert differ == {}


@pytest.mark.parametrize(("sync_cls", "async_cls"), TWINS)
def test_twins_agree_on_properties(sync_cls: type, async_cls: type) -> None:
    """A name that is a property on one twin is a property on the other."""
    sync_props = {
        n
        for n in public_names(sync_cls)
        if isinstance(inspect.getattr_static(sync_cls, n), property)
    }
    async_props = {
        n
        for n in public_names(async_cls)
        if isinstance(inspect.getattr_static(async_cls, n), property)
    }
    assert sync_props == async_props


@pytest.mark.parametrize(("owner", "name"), AWAITED)
def test_async_io_verbs_are_coroutines(owner: type, name: str) -> None:
    """The async facade's I/O verbs are coroutine functions."""
    assert inspect.iscoroutinefunction(getattr(owner, name))


@pytest.mark.parametrize(("owner", "name"), AWAITED)
def test_sync_io_verbs_are_plain(owner: type, name: str) -> None:
    """The sync twin of each async I/O verb is a plain function."""
    sync_owner = getattr(chutes, owner.__name__.removeprefix("Async"))
    assert not inspect.iscoroutinefunction(getattr(sync_owner, as_sync_name(name)))


# --- the front door -------------------------------------------------------------------------


def exported_objects() -> list[Any]:
    return [pytest.param(name, id=name) for name in chutes.__all__ if name != "__version__"]


@pytest.mark.parametrize("name", exported_objects())
def test_public_name_has_docstring(name: str) -> None:
    """Every name in chutes.__all__ has a docstring of its own."""
    obj = getattr(chutes, name)
    if isinstance(obj, type):
        doc = vars(obj).get("__doc__")
    elif isinstance(obj, chutes.NotGiven):  # an enum member: its class documents it
        doc = type(obj).__doc__
    else:
        doc = obj.__doc__
    assert (doc or "").strip()


def facade_methods() -> list[Any]:
    params = []
    classes = [cls for twin in TWINS for cls in twin.values]
    for cls in classes:
        for name in sorted(public_names(cls)):
            member = inspect.getattr_static(cls, name)
            if not name.startswith("_") and isinstance(member, (types.FunctionType, property)):
                params.append(pytest.param(cls, name, id=f"{cls.__name__}.{name}"))
    return params


@pytest.mark.parametrize(("cls", "name"), facade_methods())
def test_facade_method_has_docstring(cls: type, name: str) -> None:
    """Every public method and property of the facades has a docstring."""
    member = inspect.getattr_static(cls, name)
    assert (member.__doc__ or "").strip()


def test_all_matches_public_names() -> None:
    """chutes.__all__ lists exactly the public names the package exports, each once."""
    # The package loads its names lazily; these are the loader's own module-level helpers.
    helpers = {"TYPE_CHECKING", "Any", "annotations"}
    public = {
        name
        for name in dir(chutes)
        if not name.startswith("_") and not isinstance(getattr(chutes, name), types.ModuleType)
    } - helpers
    assert (len(chutes.__all__), set(chutes.__all__) - {"__version__"}) == (
        len(set(chutes.__all__)),
        public,
    )


@pytest.mark.parametrize("name", chutes.__all__)
def test_exported_name_resolves(name: str) -> None:
    """Every name in chutes.__all__ resolves to an attribute of the package."""
    assert hasattr(chutes, name)


def test_all_is_sorted_isort_style() -> None:
    """chutes.__all__ is sorted isort-style: constants, then classes, then the rest."""

    def key(name: str) -> tuple[int, str]:
        if re.fullmatch(r"[A-Z0-9_]+", name):
            return (0, name)
        return (1, name) if name[:1].isupper() else (2, name)

    assert chutes.__all__ == sorted(chutes.__all__, key=key)


def test_version_is_a_string() -> None:
    """chutes.__version__ is a non-empty version string."""
    assert isinstance(chutes.__version__, str)
    assert re.match(r"^\d+\.\d+", chutes.__version__)


# --- one source for the twins ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chutes"


def _unasync(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, run with this interpreter
        [sys.executable, str(root / "scripts" / "unasync.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_generated_sync_code_is_up_to_date() -> None:
    """chutes/_sync/ is exactly what scripts/unasync.py makes of chutes/_async/."""
    result = _unasync(ROOT, "--check")
    assert (result.returncode, result.stdout) == (0, "")


def test_a_hand_edited_generated_file_fails_the_check(tmp_path: Path) -> None:
    """Editing a generated file by hand makes the check fail, naming the file."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copytree(PACKAGE, tmp_path / "chutes", ignore=shutil.ignore_patterns("__pycache__"))
    edited = tmp_path / "chutes" / "_sync" / "client.py"
    edited.write_text(edited.read_text() + "\n# a hand edit\n")
    result = _unasync(tmp_path, "--check")
    assert result.returncode == 1
    assert "chutes/_sync/client.py" in result.stderr
    assert "-# a hand edit" in result.stdout


def test_generated_files_say_so() -> None:
    """Every generated file starts by naming its source and saying not to edit it."""
    for path in sorted((PACKAGE / "_sync").glob("*.py")):
        first = path.read_text().splitlines()[0]
        source = f"chutes/_async/{path.name}"
        assert first == f"# Generated from {source} by scripts/unasync.py: do not edit."


# --- no import cycles, no reach-ins --------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The chutes modules ``name`` imports anywhere in its file, TYPE_CHECKING blocks and
    function bodies included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            candidates = [f"{module}.{alias.name}" for alias in node.names] + [module]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in MODULES and c != name}
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the chutes modules it imports (a package's __init__ is not an edge: Python
    runs it first whichever submodule is imported)."""
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    return {name: edges - packages for name, edges in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (as a path that returns to its start), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The checker below reports a cycle hidden two modules deep."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_no_module_imports_another_in_a_cycle() -> None:
    """No chutes module reaches itself through imports, TYPE_CHECKING ones included."""
    graph = import_graph()
    assert graph["chutes._sync.client"] >= {"chutes._sync.caller", "chutes._sync.streams"}
    assert find_cycle(graph) == []


def private_reach_ins(source: str) -> list[str]:
    """Uses of another object's private attribute (``x._y`` where x is not self or cls)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and (
            owner.id in {"self", "cls"} or (owner.id in {"client", "clone"} and attr == "_caller")
        ):
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_reach_in_checker_finds_one() -> None:
    """The checker flags ``chute._client._spec`` but not ``self._caller``."""
    assert private_reach_ins("chute._client._spec\nself._caller.spec") == [
        "line 1: chute._client._spec",
        "line 1: chute._client",
    ]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.relative_to(PACKAGE).as_posix()
)
def test_no_private_reach_ins(path: Path) -> None:
    """Handles, helpers, streams and the testing kit use the caller's public members only;
    a client sets its own caller up (on itself or on the copy it makes)."""
    assert private_reach_ins(path.read_text()) == []


CLASSES = [n for n in chutes.__all__ if isinstance(getattr(chutes, n), type)]


@pytest.mark.parametrize("name", CLASSES)
def test_public_classes_say_chutes_is_their_module(name: str) -> None:
    """Tracebacks and reprs name chutes.X, not the private module that defines it."""
    assert getattr(chutes, name).__module__ == "chutes"


def test_a_public_error_is_shown_as_chutes() -> None:
    """An error's class shows as chutes.ConfigurationError."""
    assert repr(chutes.ConfigurationError) == "<class 'chutes.ConfigurationError'>"
