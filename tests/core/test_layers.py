"""The kernel's layers hold: every module imports only its own layer or lower ones.

The layers contract lives in the root `pyproject.toml` (`[tool.importlinter]`) and is
checked here with import-linter, which sees imports at the top, inside functions and under
`TYPE_CHECKING`. The other checks are what a layers contract cannot express: no import
cycle at all among kernel modules, every module inside some layer, internal modules that
import private modules rather than package faces, and lazy imports kept for heavy
third-party libraries. See docs/architecture.md, "Layers".
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "murmur-core" / "src"
KERNEL = SRC / "murmur"

EXCEPTION_EDGES = {
    ("murmur.agent", "murmur.registry._agent"),
    ("murmur.groups._group", "murmur.registry._group"),
}
"""The one allowed exception, named in the contract: `to_yaml` / `from_yaml` on the models."""

FACES_OUTSIDE_LAYERS = {"murmur", "murmur.groups"}
"""Package faces that re-export from more than one layer; only leaves and faces import them."""

LEAVES = ("murmur.cli", "murmur.interop", "murmur.testing")
"""Faces and leaves: free to import faces."""

LAZY_ALLOWED = {
    # PydanticAI takes over a second to import: only a run that uses it pays for it.
    ("murmur.backends._async", "murmur.backends._pydantic_ai"),
    ("murmur.backends._tool_provider", "murmur.backends._pydantic_ai"),
    ("murmur.processes._agent", "murmur.backends._pydantic_ai"),
}
"""Kernel imports inside a function, each for a heavy third-party library behind it."""


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    where: str  # "top", "function" or "type_checking"
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in KERNEL.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The kernel module an imported name lives in (`murmur.a.b.Name` -> `murmur.a.b`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> Iterator[Import]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, where: str) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = "function"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:
                    yield from one(stmt, "type_checking" if where == "top" else where)
                for stmt in child.orelse:
                    yield from one(stmt, where)
                continue
            yield from one(child, inner)

    def one(node: ast.AST, where: str) -> Iterator[Import]:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            yield from walk(node, where)
            return
        for name in names:
            target = resolve(name) if name.startswith("murmur.") or name == "murmur" else None
            if target is not None and target != module:
                yield Import(module, target, where, getattr(node, "lineno", 0))

    yield from walk(ast.parse(path.read_text()), "top")


ALL_IMPORTS = [i for m in sorted(MODULES) for i in imports_of(m)]


def is_face(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def is_leaf(module: str) -> bool:
    return any(module == leaf or module.startswith(leaf + ".") for leaf in LEAVES)


def contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = config["tool"]["importlinter"]["contracts"]
    return layers


def test_the_layers_contract_passes() -> None:
    """import-linter: no module imports a higher layer (top level, in functions, or for
    typing), with only the named exception ignored."""
    from importlinter.cli import lint_imports

    assert set(contract()["ignore_imports"]) == {f"{a} -> {b}" for a, b in EXCEPTION_EDGES}
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert code == 0, "a module imports a higher layer: see the report above"


def test_every_kernel_module_is_in_a_layer() -> None:
    """A new module cannot slip past the contract: each is in a layer, or is a face that
    re-exports from several layers."""
    layers = [
        name.strip()
        for layer in contract()["layers"]
        for name in str(layer).replace("|", ":").split(":")
    ]
    outside = [
        m
        for m in MODULES
        if m not in FACES_OUTSIDE_LAYERS
        and not any(m == layer or m.startswith(layer + ".") for layer in layers)
    ]
    assert outside == []


def test_no_import_cycles_among_kernel_modules() -> None:
    """Counting every import (top level, in functions, under TYPE_CHECKING), the kernel's
    module graph has no cycle but the named exception."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        if (imp.source, imp.target) not in EXCEPTION_EDGES:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


def test_internal_modules_import_private_modules_not_package_faces() -> None:
    """Faces only re-export; the modules behind them import each other directly, so a face
    that bundles a higher feature never drags it into a lower layer."""
    offenders = [
        f"{i.source}:{i.line} imports the face {i.target}"
        for i in ALL_IMPORTS
        if not is_face(i.source) and not is_leaf(i.source) and is_face(i.target)
    ]
    assert offenders == []


def test_faces_only_re_export() -> None:
    """A package `__init__` defines nothing of its own: no class, and no function but a
    module `__getattr__` / `__dir__` (a face may resolve names lazily, for import cost or
    for names that plugins provide)."""
    defining = [
        m
        for m in MODULES
        if is_face(m)
        and m != "murmur"  # the root face resolves names lazily with a module __getattr__
        and not is_leaf(m)
        and any(
            isinstance(node, ast.ClassDef)
            or (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name not in ("__getattr__", "__dir__")
            )
            for node in ast.parse(MODULES[m].read_text()).body
        )
    ]
    assert defining == []


def test_lazy_imports_are_only_for_heavy_libraries() -> None:
    """An import inside a function is there to defer a heavy third-party library, never to
    hide a cycle."""
    lazy = {
        (i.source, i.target)
        for i in ALL_IMPORTS
        if i.where == "function" and not is_leaf(i.source) and not is_face(i.source)
    }
    assert lazy - EXCEPTION_EDGES <= LAZY_ALLOWED, sorted(lazy - EXCEPTION_EDGES - LAZY_ALLOWED)


FIRST_IMPORT = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [k for k in sys.modules if k == "murmur" or k.startswith("murmur.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


def test_each_module_imports_first_on_its_own() -> None:
    """Imported first, with no other kernel module loaded, every kernel module loads: a
    cycle hidden behind a package face would fail here with a partially initialised module."""
    import subprocess

    modules = sorted(m for m in MODULES if m != "murmur.cli.__main__")
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORT, *modules], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ""
